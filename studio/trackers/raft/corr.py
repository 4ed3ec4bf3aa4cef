"""All-pairs correlation volume and its windowed lookup (RAFT's cost volume).

The volume compares every coarse pixel of the source with every coarse pixel of the
target, so it costs ``(h*w)^2`` floats: about 0.07 GB for a 256x256 pair at P = 4,
2.6 GB at 480x856. Tracking code that cannot afford that must use smaller frames.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from studio.trackers.raft.blocks import CORR_LEVELS, CORR_RADIUS


class CorrPyramid:
    """Correlation of two feature maps, average-pooled into ``levels`` target resolutions.

    Args:
      src, tgt: [B, C, h, w] feature maps (same shape).
      levels: pyramid levels; level ``i`` halves the *target* side ``i`` times
        (floor division, as ``avg_pool2d`` does), the source side stays at h x w.
      radius: the lookup window is (2r+1) x (2r+1) target pixels at every level.
    """

    def __init__(self, src: torch.Tensor, tgt: torch.Tensor, levels: int = CORR_LEVELS, radius: int = CORR_RADIUS):
        b, c, h, w = src.shape
        self.shape = (b, h, w)
        self.radius = radius
        # Scaled dot products; each source pixel becomes one "image" of target-sized scores.
        vol = torch.matmul(src.reshape(b, c, h * w).transpose(1, 2), tgt.reshape(b, c, h * w)) / math.sqrt(c)
        vol = vol.reshape(b * h * w, 1, h, w)
        self.levels = [vol]
        for _ in range(levels - 1):
            vol = F.avg_pool2d(vol, 2, stride=2)
            self.levels.append(vol)
        offsets = torch.linspace(-radius, radius, 2 * radius + 1, device=src.device, dtype=src.dtype)
        # Window offsets [K, K, 2] added to (x, y). The first window axis moves x and the second y
        # (the transposed layout of the trained network), so channel = level*81 + ix*9 + iy.
        self.offsets = torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), dim=-1)

    def __call__(self, coords: torch.Tensor) -> torch.Tensor:
        """Look up the volume around ``coords``.

        Args:
          coords: [B, 2, h, w] target positions ``(x, y)`` in coarse pixels of level 0.

        Returns:
          [B, levels * (2r+1)^2, h, w] correlations; outside the target they are 0.
        """
        b, h, w = self.shape
        k = 2 * self.radius + 1
        centre = coords.permute(0, 2, 3, 1).reshape(b * h * w, 1, 1, 2)
        out = []
        for i, vol in enumerate(self.levels):
            pts = centre / 2**i + self.offsets.to(coords.dtype)
            out.append(sample_pixels(vol, pts).reshape(b, h, w, k * k))
        return torch.cat(out, dim=-1).permute(0, 3, 1, 2).contiguous()


def sample_pixels(img: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup at pixel coordinates (integer = pixel centre), zeros outside.

    Args:
      img: [N, C, H, W]; pts: [N, h', w', 2] ``(x, y)`` pixels.

    Returns:
      [N, C, h', w'].

    The normalisation ``2 x / (W - 1) - 1`` with ``align_corners=True`` reproduces the
    trained network's lookup exactly (a 1-pixel-wide level therefore divides by zero,
    as the original does; inputs should keep every pyramid level at least 2 wide).
    """
    hgt, wid = img.shape[-2:]
    gx = 2 * pts[..., 0:1] / (wid - 1) - 1
    gy = 2 * pts[..., 1:2] / (hgt - 1) - 1
    return F.grid_sample(img, torch.cat([gx, gy], dim=-1), align_corners=True)
