"""Motion boundaries: where the optical flow changes abruptly (DOT's sampling recipe).

Recipe (for one frame ``t``): flow from ``t`` to ``t - 1`` (to ``t + 1`` for
``t = 0``) from any ``FlowModel``; each channel divided by ``(W - 1, H - 1)``;
3x3 derivative kernels whose taps weigh ``offset / |offset|^2`` with reflection
padding; gradient magnitude per channel, averaged over the two channels;
dilated by an 8x8 max filter (the last H x W of its output); min-max normalised; ``> 0.025`` is a boundary.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

THRESHOLD = 0.025
DILATION = 8


def _kernels() -> torch.Tensor:
    """[2, 1, 3, 3] derivative kernels along x and y, tap weight = offset / |offset|^2."""
    k = torch.zeros(2, 1, 3, 3, dtype=torch.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dx or dy:
                n2 = float(dx * dx + dy * dy)
                k[0, 0, dy + 1, dx + 1] = dx / n2
                k[1, 0, dy + 1, dx + 1] = dy / n2
    return k


def boundary_strength(flow: np.ndarray) -> np.ndarray:
    """Dilated, min-max normalised flow-gradient magnitude.

    Args:
      flow: [H, W, 2] float ``(dx, dy)`` pixels.

    Returns:
      [H, W] float32 in [0, 1] (all zeros for a constant flow).
    """
    h, w = flow.shape[:2]
    f = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)).permute(2, 0, 1)  # [2, H, W]
    f = f / torch.tensor([max(w - 1, 1), max(h - 1, 1)], dtype=torch.float32).view(2, 1, 1)
    pad = "reflect" if min(h, w) > 1 else "replicate"
    f = F.pad(f[:, None], (1, 1, 1, 1), mode=pad)  # [2 channels, 1, H+2, W+2]
    grad = F.conv2d(f, _kernels())  # [2 channels, 2 directions, H, W]
    mag = grad.pow(2).sum(1).sqrt().mean(0)  # [H, W]
    # An even window over a padded map gives H+1 x W+1 values; DOT keeps the last H x W.
    mag = F.max_pool2d(mag[None, None], DILATION, stride=1, padding=DILATION // 2)[0, 0, -h:, -w:]
    lo, hi = mag.min(), mag.max()
    if float(hi - lo) <= 0:
        return np.zeros((h, w), np.float32)
    return ((mag - lo) / (hi - lo)).numpy().astype(np.float32)


def motion_boundaries(flow: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """[H, W] bool: True on (dilated) motion boundaries of ``flow`` [H, W, 2]."""
    return boundary_strength(flow) > threshold


def frame_boundaries(video: np.ndarray, t: int, flow_model, threshold: float = THRESHOLD) -> np.ndarray:
    """Motion boundaries of frame ``t`` of ``video`` [T, H, W, 3] uint8 from ``flow_model``.

    Uses the flow from ``t`` to ``t - 1`` (``t + 1`` for ``t = 0``); a one-frame
    video has no motion, so no boundary.

    Returns:
      [H, W] bool.
    """
    if video.shape[0] < 2:
        return np.zeros(video.shape[1:3], bool)
    other = t - 1 if t > 0 else t + 1
    return motion_boundaries(flow_model.flow(video[t], video[other]), threshold)
