"""Motion boundaries: where the optical flow changes abruptly (DOT's sampling recipe).

Recipe (for one frame ``t``): flow from ``t`` to ``t - 1`` (to ``t + 1`` for
``t = 0``) from any ``FlowModel``; each channel divided by ``(W - 1, H - 1)``;
3x3 derivative kernels whose taps weigh ``offset / |offset|^2`` with reflection
padding; gradient magnitude per channel, averaged over the two channels;
dilated by an 8x8 max filter (the last H x W of its output); min-max normalised; ``> 0.025`` is a boundary.
"""

from __future__ import annotations

import cv2
import numpy as np

THRESHOLD = 0.025
DILATION = 8


def _kernels() -> np.ndarray:
    """[2, 3, 3] float32 derivative kernels along x and y, tap weight = offset / |offset|^2."""
    k = np.zeros((2, 3, 3), np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dx or dy:
                n2 = float(dx * dx + dy * dy)
                k[0, dy + 1, dx + 1] = dx / n2
                k[1, dy + 1, dx + 1] = dy / n2
    return k


def boundary_strength(flow: np.ndarray) -> np.ndarray:
    """Dilated, min-max normalised flow-gradient magnitude.

    Args:
      flow: [H, W, 2] float ``(dx, dy)`` pixels.

    Returns:
      [H, W] float32 in [0, 1] (all zeros for a constant flow).
    """
    h, w = flow.shape[:2]
    flow = np.asarray(flow, dtype=np.float32) / np.array([max(w - 1, 1), max(h - 1, 1)], np.float32)
    # Correlation with reflection padding (the edge pixel not repeated), as DOT's padded conv2d.
    border = cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE
    kx, ky = _kernels()
    mag = np.zeros((h, w), np.float32)
    for c in range(2):
        channel = np.ascontiguousarray(flow[..., c])
        gx = cv2.filter2D(channel, cv2.CV_32F, kx, borderType=border)
        gy = cv2.filter2D(channel, cv2.CV_32F, ky, borderType=border)
        mag += np.sqrt(gx * gx + gy * gy) / 2
    # DOT max-pools with an even window (padding DILATION // 2) and keeps the last H x W values,
    # so output pixel y takes the maximum over input rows y - DILATION//2 + 1 .. y + DILATION//2
    # (likewise for columns): a dilation with the anchor one short of the centre. OpenCV gives
    # the same numbers many times faster than torch's padding, convolution and pooling on a CPU.
    anchor = DILATION // 2 - 1
    mag = cv2.dilate(mag, np.ones((DILATION, DILATION), np.uint8), anchor=(anchor, anchor))
    lo, hi = float(mag.min()), float(mag.max())
    if hi - lo <= 0:
        return np.zeros((h, w), np.float32)
    return ((mag - lo) / (hi - lo)).astype(np.float32)


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
