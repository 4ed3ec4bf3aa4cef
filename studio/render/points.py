"""Coloured points with fading tails, drawn on the video frames.

Visible points are filled discs; hidden points are hollow rings (or left out).
"""

from __future__ import annotations

import cv2
import numpy as np

_SHIFT = 4  # OpenCV's fixed-point bits: draws at 1/16 px so sub-pixel tracks are not snapped
_ONE = 1 << _SHIFT


def point_colors(n: int, cmap: str = "gist_rainbow") -> np.ndarray:
    """Distinct colours for ``n`` points in query order.

    Returns:
      uint8 [n, 3] RGB.
    """
    from matplotlib import colormaps

    if n == 0:
        return np.zeros((0, 3), np.uint8)
    values = colormaps[cmap](np.linspace(0.0, 1.0, n, endpoint=False) if n > 1 else np.array([0.0]))
    return np.round(values[:, :3] * 255).astype(np.uint8)


def _fixed(xy: np.ndarray) -> tuple[int, int]:
    return int(round(float(xy[0]) * _ONE)), int(round(float(xy[1]) * _ONE))


def draw_points(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    tail: int = 8,
    radius: float | None = None,
    colors: np.ndarray | None = None,
    hide_occluded: bool = False,
) -> np.ndarray:
    """Draw tracked points with tails of their last ``tail`` positions.

    Args:
      video: [T, H, W, 3] uint8 RGB.
      tracks: [T, N, 2] float ``(x, y)`` pixels, integer = pixel centre.
      visible: [T, N] bool.
      tail: frames of trail behind each point (0 = none); older parts fade out.
      radius: disc radius in pixels (default scales with the frame size).
      colors: optional uint8 [N, 3] RGB per point (default: rainbow by query order).
      hide_occluded: leave hidden points out instead of drawing rings.

    Returns:
      [T, H, W, 3] uint8 RGB, a new array.
    """
    t_len, h, w, _ = video.shape
    n = tracks.shape[1]
    colors = point_colors(n) if colors is None else np.asarray(colors, np.uint8)
    radius = max(2.0, min(h, w) / 120) if radius is None else float(radius)
    r_fixed = max(1, int(round(radius * _ONE)))
    line = max(1, int(round(radius / 2)))
    out = video.copy()
    finite = np.isfinite(tracks).all(axis=-1)
    cols = [tuple(int(c) for c in colors[i]) for i in range(n)]
    for t in range(t_len):
        frame = out[t]
        # Tails: draw the oldest segments first, each blended more faintly.
        for age in range(min(tail, t), 0, -1):
            a, b = t - age, t - age + 1
            seg = np.nonzero(visible[a] & visible[b] & finite[a] & finite[b])[0]
            if seg.size == 0:
                continue
            layer = frame.copy()
            for i in seg:
                cv2.line(layer, _fixed(tracks[a, i]), _fixed(tracks[b, i]), cols[i], line, cv2.LINE_AA, _SHIFT)
            alpha = 1.0 - (age - 1) / max(tail, 1)
            cv2.addWeighted(layer, alpha, frame, 1.0 - alpha, 0.0, dst=frame)
        for i in np.nonzero(finite[t])[0]:
            centre = _fixed(tracks[t, i])
            if visible[t, i]:
                cv2.circle(frame, centre, r_fixed, cols[i], -1, cv2.LINE_AA, _SHIFT)
            elif not hide_occluded:
                cv2.circle(frame, centre, r_fixed, cols[i], max(1, line // 2 + 1), cv2.LINE_AA, _SHIFT)
    return out
