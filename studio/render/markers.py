"""Query markers: points drawn on one frame with a halo and a label, sized to stay readable on screen.

The app shows a frame fitted into a box about ``DISPLAY_SIDE`` CSS pixels wide, so a
marker drawn at a fixed number of video pixels is a speck on a 4K frame and a blob on
a thumbnail. ``marker_radius`` sizes markers for that box (about ``SCREEN_RADIUS`` px
on screen, whatever the video's size), and shrinks them when many points crowd the frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from studio.render.points import draw_points

DISPLAY_SIDE = 640
"""Longer side, in CSS pixels, of the box the app shows a frame in (scaled down to fit, never up)."""

SCREEN_RADIUS = 6.0
"""Marker radius wanted on screen, in CSS pixels."""

MIN_RADIUS = 3.0


def marker_radius(height: int, width: int, num_points: int = 1) -> float:
    """Radius in frame pixels of a point marker that shows about ``SCREEN_RADIUS`` px on screen.

    Args:
      height, width: the frame's size in pixels.
      num_points: points on the frame; with many, the radius stays under a third of their
        spacing (``sqrt(H * W / N)``) so a dense grid does not turn into one blob.

    Returns:
      The radius in pixels, at least ``MIN_RADIUS``.
    """
    shown = min(1.0, DISPLAY_SIDE / max(height, width, 1))  # the frame is scaled down to fit, never up
    radius = SCREEN_RADIUS / shown
    if num_points > 1:
        radius = min(radius, math.sqrt(height * width / num_points) / 3)
    return max(MIN_RADIUS, radius)


def draw_markers(
    frame: np.ndarray,
    xy: np.ndarray,
    colors: np.ndarray,
    labels: list[str] | None = None,
    radius: float | None = None,
    highlight: int | None = None,
) -> np.ndarray:
    """Filled discs with a white halo and a label beside each, on a copy of ``frame``.

    Args:
      frame: uint8 [H, W, 3] RGB.
      xy: float [N, 2] ``(x, y)`` pixels, integer = pixel centre.
      colors: uint8 [N, 3] RGB per marker.
      labels: optional text per marker (drawn up and right of it, white on a dark outline).
      radius: disc radius in pixels (default ``marker_radius``).
      highlight: index of a marker to ring (the selected point).

    Returns:
      uint8 [H, W, 3] RGB, a new array.
    """
    h, w = frame.shape[:2]
    n = len(xy)
    if n == 0:
        return frame.copy()
    r = marker_radius(h, w, n) if radius is None else float(radius)
    halo = max(1.5, r / 4)
    xy = np.asarray(xy, np.float32)[None]
    shown = np.ones((1, n), bool)
    white = np.full((n, 3), 255, np.uint8)
    image = draw_points(frame[None], xy, shown, tail=0, radius=r + halo, colors=white)
    image = draw_points(image, xy, shown, tail=0, radius=r, colors=np.asarray(colors, np.uint8))[0]
    if highlight is not None and 0 <= highlight < n:
        x, y = xy[0, highlight]
        thick = max(2, int(round(halo)))
        centre = (int(round(x * 16)), int(round(y * 16)))
        cv2.circle(image, centre, int(round((r * 2.2) * 16)), (0, 0, 0), thick + 2, cv2.LINE_AA, shift=4)
        cv2.circle(image, centre, int(round((r * 2.2) * 16)), (255, 255, 0), thick, cv2.LINE_AA, shift=4)
    if labels:
        scale = max(0.4, r / 9)
        thick = max(1, int(round(r / 6)))
        for (x, y), text in zip(xy[0], labels):
            if not text:
                continue
            org = (int(round(x + r + halo)), int(round(y - r * 0.6)))
            cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
            cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return image
