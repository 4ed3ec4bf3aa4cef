"""3 x 3 convolution by Winograd's minimal filtering, F(2 x 2, 3 x 3), for wide inputs on the CPU.

Each 2 x 2 block of outputs is computed from the 4 x 4 input tile around it as

    Y = A^T [ (G g G^T) * (B^T d B) ] A        (* elementwise, summed over input channels)

with the constant matrices below (Lavin & Gray, "Fast Algorithms for Convolutional Neural
Networks", CVPR 2016). It is an algebraic identity: the same sums as the direct convolution,
only in another order, so results differ by float rounding alone (measured here: about 2e-6
from a float64 reference on BootsTAPIR's 1024 -> 256 layer, where the direct kernel is about
2e-5 off). The 16 products over channels are one batched matrix product with 16 / 36 of the
direct convolution's multiply-adds; the transforms are a few passes over the tiles. On this
CPU (one thread, oneDNN's direct kernels near their peak) that is 15-20% less time for
BootsTAPIR's 256 <-> 1024 layers at 32 x 32; on narrow, large maps (the ResNet's 64 channels at
128 x 128) the transforms cost more than the products save.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FRAMES_PER_PASS = 2
"""Frames transformed at a time: keeps the [16, tiles, channels] transform of the input small."""


def _rows(a, b, c, d, out=None):
    """B^T applied along one axis to the 4 rows (or columns) of each input tile (into ``out`` if given)."""
    if out is None:
        return a - c, b + c, c - b, b - d
    torch.sub(a, c, out=out[0])
    torch.add(b, c, out=out[1])
    torch.sub(c, b, out=out[2])
    torch.sub(b, d, out=out[3])
    return out


def _filter_transform(weight: torch.Tensor) -> torch.Tensor:
    """G g G^T for every filter: [O, C, 3, 3] -> [16, C, O] (tile position, input, output)."""
    out = []
    g = weight
    rows = [g[..., 0, :], (g[..., 0, :] + g[..., 1, :] + g[..., 2, :]) * 0.5, (g[..., 0, :] - g[..., 1, :] + g[..., 2, :]) * 0.5, g[..., 2, :]]
    for r in rows:
        out += [r[..., 0], (r[..., 0] + r[..., 1] + r[..., 2]) * 0.5, (r[..., 0] - r[..., 1] + r[..., 2]) * 0.5, r[..., 2]]
    return torch.stack(out).transpose(1, 2).contiguous()


def _conv_frames(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x [B, H, W, C] (H, W even), u from ``_filter_transform`` -> [B, H, W, O]."""
    b, h, w, c = x.shape
    xp = F.pad(x, (0, 0, 1, 1, 1, 1))
    h2, w2 = h // 2, w // 2
    # Tile (i, j) starts at padded pixel (2i, 2j); row k of every tile is xp[:, 2i + k].
    v = x.new_empty(16, b, h2, w2, c)
    for i, t in enumerate(_rows(*(xp[:, k : k + h : 2] for k in range(4)))):
        _rows(*(t[:, :, k : k + w : 2] for k in range(4)), out=v[4 * i : 4 * i + 4])
    m = torch.bmm(v.view(16, -1, c), u).view(4, 4, b, h2, w2, -1)
    # A^T = [[1, 1, 1, 0], [0, 1, -1, -1]] along the tile's rows, then its columns.
    out = x.new_empty(b, h2, 2, w2, 2, u.shape[-1])
    for r, s in enumerate((m[0] + m[1] + m[2], m[1] - m[2] - m[3])):
        torch.add(s[0] + s[1], s[2], out=out[:, :, r, :, 0])
        torch.sub(s[1] - s[2], s[3], out=out[:, :, r, :, 1])
    out = out.view(b, h, w, -1)
    return out if bias is None else out.add_(bias)


def conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=1)`` (stride 1) by F(2 x 2, 3 x 3).

    Args:
      x: [B, C, H, W] float; fastest in channels-last memory (``[B, H, W, C]`` permuted).
      weight: [O, C, 3, 3]. bias: [O] or None.

    Returns:
      [B, O, H, W] in channels-last memory. Odd H or W go to ``F.conv2d``.
    """
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        return F.conv2d(x, weight, bias, padding=1)
    u = _filter_transform(weight)
    xl = x.permute(0, 2, 3, 1)
    outs = [_conv_frames(xl[i : i + FRAMES_PER_PASS], u, bias) for i in range(0, x.shape[0], FRAMES_PER_PASS)]
    return torch.cat(outs).permute(0, 3, 1, 2)
