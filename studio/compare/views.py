"""The two videos of a comparison: models side by side, and all models over one frame.

* ``side_by_side``: one panel per model (1x2, 1x3 or 2x2), each the video with that model's
  points drawn as the Track tab draws them (filled = visible, ring = hidden, fading tails);
  a point has the same colour in every panel, and each panel is labelled with its model.
* ``overlay``: every model on the same frames, one marker shape per model (disc, square,
  triangle, diamond; filled = visible, outline = hidden), the same colour per point as in
  the side-by-side view, and a legend of the shapes.

Both take working frames [T, h, w, 3] and tracks already in their pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from studio.render import draw_points, point_colors
from studio.results import InputError

SHAPES = ("disc", "square", "triangle", "diamond")
"""Marker shape of each model in the overlay view, in model order."""
MAX_WIDTH = 1920
"""Widest side-by-side video; panels are shrunk to fit."""
_SHIFT = 4  # OpenCV drawing with 1/16 px positions


def _label(image: np.ndarray, text: str, origin=(8, 8), indent: int = 0) -> tuple[int, int]:
    """White text on a dark box at ``origin`` of ``image`` (in place), ``indent`` px of room before it.

    Returns:
      ``(x, y)`` of the middle of the room left before the text.
    """
    scale = max(0.45, image.shape[0] / 700)
    thick = max(1, int(round(scale * 1.6)))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x, y = origin
    cv2.rectangle(image, (x - 4, y - 4), (x + indent + w + 4, y + h + base + 4), (20, 20, 20), -1)
    cv2.putText(image, text, (x + indent, y + h), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                cv2.LINE_AA)
    return x + indent // 2, y + (h + base) // 2


def grid_shape(count: int) -> tuple[int, int]:
    """Rows and columns of the panel grid: 1x2, 1x3 or 2x2."""
    if not 1 <= count <= 4:
        raise InputError(f"side-by-side views hold 1 to 4 panels, got {count}")
    return (2, 2) if count == 4 else (1, count)


def side_by_side(
    frames: np.ndarray,
    tracks: dict[str, tuple[np.ndarray, np.ndarray]],
    tail: int = 8,
    max_width: int = MAX_WIDTH,
) -> np.ndarray:
    """One panel per model, synchronised frame by frame.

    Args:
      frames: [T, h, w, 3] uint8 RGB.
      tracks: ``{model: (tracks [T, N, 2] (x, y) in the frames' pixels, visible [T, N] bool)}``.
      tail: trail length in frames.
      max_width: panels are shrunk (area filter) so the whole video is at most this wide.

    Returns:
      [T, rows*h', cols*w', 3] uint8.
    """
    rows, cols = grid_shape(len(tracks))
    t_len, h, w, _ = frames.shape
    n = next(iter(tracks.values()))[0].shape[1]
    colors = point_colors(n)
    panels = []
    for name, (tr, vis) in tracks.items():
        drawn = draw_points(frames, tr, vis, tail=tail, colors=colors)
        for t in range(t_len):
            _label(drawn[t], name)
        panels.append(drawn)
    scale = min(1.0, max_width / (cols * w))
    if scale < 1.0:
        pw, ph = max(2, int(w * scale)), max(2, int(h * scale))
        panels = [np.stack([cv2.resize(f, (pw, ph), interpolation=cv2.INTER_AREA) for f in p]) for p in panels]
    blank = np.zeros_like(panels[0])
    panels += [blank] * (rows * cols - len(panels))
    lines = [np.concatenate(panels[r * cols : (r + 1) * cols], axis=2) for r in range(rows)]
    return np.ascontiguousarray(np.concatenate(lines, axis=1))


def _marker(image: np.ndarray, shape: str, xy: np.ndarray, size: float, colour, filled: bool) -> None:
    x, y = float(xy[0]), float(xy[1])
    k = 1 << _SHIFT
    line = cv2.LINE_AA
    thick = -1 if filled else max(1, int(round(size / 3)))
    colour = tuple(int(c) for c in colour)
    if shape == "disc":
        cv2.circle(image, (int(round(x * k)), int(round(y * k))), int(round(size * k)), colour, thick, line, _SHIFT)
        return
    if shape == "square":
        r = size * 0.9
        corners = [(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)]
    elif shape == "triangle":
        r = size * 1.25
        corners = [(x, y - r), (x + 0.87 * r, y + 0.5 * r), (x - 0.87 * r, y + 0.5 * r)]
    else:  # diamond
        r = size * 1.25
        corners = [(x, y - r), (x + r, y), (x, y + r), (x - r, y)]
    pts = np.round(np.asarray(corners) * k).astype(np.int32).reshape(-1, 1, 2)
    if filled:
        cv2.fillPoly(image, [pts], colour, line, _SHIFT)
    else:
        cv2.polylines(image, [pts], True, colour, thick, line, _SHIFT)


def overlay(
    frames: np.ndarray, tracks: dict[str, tuple[np.ndarray, np.ndarray]], size: float | None = None
) -> np.ndarray:
    """All models over the same frames, one marker shape per model.

    Args:
      frames: [T, h, w, 3] uint8 RGB.
      tracks: ``{model: (tracks [T, N, 2], visible [T, N])}``, at most ``len(SHAPES)`` models.
      size: marker radius in pixels (default by frame size).

    Returns:
      [T, h, w, 3] uint8, a new array.
    """
    if len(tracks) > len(SHAPES):
        raise InputError(f"the overlay view draws at most {len(SHAPES)} models")
    t_len, h, w, _ = frames.shape
    size = max(3.0, min(h, w) / 100) if size is None else float(size)
    n = next(iter(tracks.values()))[0].shape[1]
    colors = point_colors(n)
    out = frames.copy()
    for t in range(t_len):
        image = out[t]
        for shape, (tr, vis) in zip(SHAPES, tracks.values()):
            for i in range(n):
                xy = tr[t, i]
                if not np.isfinite(xy).all() or not (-size <= xy[0] <= w + size and -size <= xy[1] <= h + size):
                    continue
                # A dark edge first, so a marker reads on any background.
                _marker(image, shape, xy, size + 1.0, (0, 0, 0), bool(vis[t, i]))
                _marker(image, shape, xy, size, colors[i], bool(vis[t, i]))
        # Legend: each model's shape, drawn in white, before its name.
        step = int(max(22, h / 18))
        for k, (shape, name) in enumerate(zip(SHAPES, tracks)):
            mark = _label(image, name, (8, 8 + k * step), indent=int(2 * size + 10))
            _marker(image, shape, np.array(mark, float), size, (255, 255, 255), True)
    return out


def working_tracks(comparison, size: tuple[int, int]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{model: (tracks, visible)}`` of a ``Comparison`` in pixels of frames of ``size = (h, w)``."""
    from studio.conventions import rescale_pixels

    out = {}
    for name, run in comparison.runs.items():
        tracks = run.result.tracks
        if tuple(comparison.size) != tuple(size):
            tracks = rescale_pixels(tracks, tuple(comparison.size), tuple(size))
        out[name] = (tracks, run.result.visible)
    return out
