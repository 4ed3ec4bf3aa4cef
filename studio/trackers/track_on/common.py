"""Small pieces both Track-On generations use: normalisation, patch centres, memory time embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F

STRIDE = 4  # feature-map stride of every Track-On head
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def prepare_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8-valued ``[B, 3, H, W]`` (0..255, any float dtype) -> ``[B, 3, *size]`` ImageNet-normalised.

    ``/255``, bilinear resize without antialiasing (``align_corners=False``), then
    ``(x - mean) / std`` per channel, in that order, as both upstream versions do.
    """
    x = F.interpolate(frames / 255.0, size=size, mode="bilinear", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def patch_centres(indices: torch.Tensor, grid_width: int) -> torch.Tensor:
    """Flat indices into a ``(h, w)`` feature grid -> ``(x, y)`` centres in model pixels (``4*i + 2``)."""
    rows = torch.div(indices, grid_width, rounding_mode="floor")
    cols = indices % grid_width
    return torch.stack((cols * STRIDE + 0.5 * STRIDE, rows * STRIDE + 0.5 * STRIDE), dim=-1)


def stretch_time_embedding(emb: torch.Tensor, memory: int) -> torch.Tensor:
    """A ``[1, M_train + 1, D]`` memory time embedding for ``memory`` slots.

    The ``M_train`` slot rows are linearly interpolated (``align_corners=True``) to ``memory``
    rows; the last row (the current frame) is kept as is.
    """
    past = emb[:, :-1].permute(0, 2, 1)
    past = F.interpolate(past, size=memory, mode="linear", align_corners=True).permute(0, 2, 1)
    return torch.cat([past, emb[:, -1:]], dim=1)


def clamp_unit(points: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Model pixels ``(x, y)`` -> ``[0, 1]`` of the ``(H, W)`` model frame, clamped (reference points)."""
    return torch.clamp(points / torch.tensor([size[1], size[0]], device=points.device), 0, 1)


def sample_features(fmap: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``fmap`` ``[1, D, h, w]`` at ``grid`` ``[N, 2]`` in ``[-1, 1]`` (border padding) -> ``[N, D]``."""
    out = F.grid_sample(fmap, grid[None, :, None, :], mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, :, 0].transpose(0, 1)


def multiscale_correlation(q: torch.Tensor, units: list[torch.Tensor], shapes: list[tuple[int, int]],
                           conv: torch.nn.Conv2d, spec: str) -> torch.Tensor:
    """Cosine similarity of queries with each level of a feature pyramid, upsampled to the finest level
    (bilinear, ``align_corners=False``) and combined by a 1x1 convolution.

    Args:
      q: ``[1, N, D]`` queries (normalised here).
      units: per level, unit-norm features ``[1, P_l, D]`` or ``[1, D, P_l]``, matching ``spec``.
      shapes: ``(h, w)`` per level, the finest first.
      conv: the 4 -> 1 channel 1x1 convolution of the checkpoint.
      spec: the ``einsum`` upstream uses for this layout (kept for identical rounding).

    Returns:
      ``[1, N, h0*w0]``.
    """
    n = q.shape[1]
    qn = F.normalize(q, p=2, dim=-1)
    maps = []
    for (h, w), unit in zip(shapes, units):
        c = torch.einsum(spec, qn, unit).view(1, n, h, w)
        if (h, w) != shapes[0]:
            c = F.interpolate(c, size=shapes[0], mode="bilinear", align_corners=False)
        maps.append(c[0])
    return combine_levels(conv, maps).view(1, n, -1)


def combine_levels(conv: torch.nn.Conv2d, maps: list[torch.Tensor]) -> torch.Tensor:
    """A 1x1 convolution from ``len(maps)`` channels to one, as a weighted sum of ``[N, h, w]`` maps.

    Same values as ``conv(torch.stack(maps, 1))`` (up to float rounding) without the
    4-channel stack; a one-output-channel convolution is slow on CPUs.
    """
    w = conv.weight.view(-1)
    out = maps[0] * w[0]
    for i in range(1, len(maps)):
        out = out.add_(maps[i] * w[i])
    return out + conv.bias[0] if conv.bias is not None else out
