"""Point names and pose skeletons drawn with the points (frame-space modes: points and overlay).

* Labels: each visible point's name beside it, in its colour with a dark outline,
  drawn on top of everything (``label_stream``).
* Skeleton: when the names are COCO-17 keypoints (``studio.pose``), the limbs of
  each person are drawn under the points, a limb only on frames where both its
  ends are visible (``draw_skeleton``); left limbs orange, right limbs blue, the
  rest green.

OpenCV draws here; its pixel convention is the studio's (integer = pixel centre),
and sub-pixel positions are kept with ``shift`` bits.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from studio.pose import limb_sides, pose_limbs
from studio.render._splat import FrameStream
from studio.results import InputError

SIDE_COLORS = np.array([[255, 140, 0], [30, 144, 255], [60, 200, 90]], np.uint8)
"""RGB of left, right and middle limbs."""

_SHIFT = 4  # OpenCV fixed-point bits: coordinates in 1/16 px


def _fixed(xy: np.ndarray) -> tuple[int, int]:
    return int(round(float(xy[0]) * (1 << _SHIFT))), int(round(float(xy[1]) * (1 << _SHIFT)))


def named_tracks(opts, ts) -> list[str] | None:
    """The names of the kept sparse tracks of ``ts`` (None for dense tracks or unnamed ones).

    Raises:
      InputError: ``opts.names`` does not hold one name per track.
    """
    if opts.names is None or ts.dense:
        return None
    if ts.index.size and ts.index.max() >= len(opts.names):
        raise InputError(f"names must hold one name per track ({int(ts.index.max()) + 1}+), got {len(opts.names)}")
    return [opts.names[i] for i in ts.index]


def has_skeleton(names: Sequence[str] | None) -> bool:
    """True when ``names`` hold at least one COCO limb (both ends named)."""
    return bool(names) and len(pose_limbs(names)) > 0


def draw_skeleton(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    names: Sequence[str],
    thickness: float | None = None,
) -> np.ndarray:
    """The video with every person's COCO limbs drawn (a limb only while both ends are visible).

    Args:
      video: uint8 [T, H, W, 3] RGB.
      tracks: float [T, N, 2] ``(x, y)`` pixels of ``video``, integer = pixel centre.
      visible: bool [T, N].
      names: N point names (``studio.pose``).
      thickness: line width in pixels (default grows with the frame size).

    Returns:
      A new uint8 [T, H, W, 3] array (``video`` itself when no limb is named).
    """
    limbs = pose_limbs(names)
    if len(limbs) == 0:
        return video
    t_len, h, w = video.shape[:3]
    width = max(1, int(round(thickness if thickness is not None else max(2.0, min(h, w) / 160))))
    colors = SIDE_COLORS[limb_sides(names, limbs)]
    out = np.array(video, copy=True)
    ok = visible & np.isfinite(tracks).all(axis=-1)
    for t in range(t_len):
        frame = out[t]
        both = ok[t, limbs[:, 0]] & ok[t, limbs[:, 1]]
        for (a, b), color, on in zip(limbs, colors, both):
            if on:
                cv2.line(frame, _fixed(tracks[t, a]), _fixed(tracks[t, b]), tuple(int(c) for c in color),
                         width, cv2.LINE_AA, _SHIFT)
    return out


def draw_labels(
    frame: np.ndarray, xy: np.ndarray, names: Sequence[str], colors: np.ndarray, radius: float
) -> None:
    """Write each name beside its point, in place.

    Args:
      frame: uint8 [H, W, 3] RGB, C-contiguous (drawn into).
      xy: float [M, 2] ``(x, y)`` of the points to label.
      names: M names (empty names are skipped).
      colors: uint8 [M, 3] RGB text colours.
      radius: the points' radius, to keep the text clear of the disc.
    """
    h, w = frame.shape[:2]
    scale = max(0.35, min(h, w) / 800)
    thick = max(1, int(round(scale * 1.5)))
    for (x, y), name, color in zip(xy, names, colors):
        if not name or not (np.isfinite(x) and np.isfinite(y)):
            continue
        (tw, th), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        # Right of the point and a little above it; flipped to the left near the right edge.
        tx = x + radius + 2 if x + radius + 2 + tw < w else x - radius - 2 - tw
        ty = min(max(y - radius, th + 1), h - 2)
        org = (int(round(tx)), int(round(ty)))
        cv2.putText(frame, name, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(frame, name, org, cv2.FONT_HERSHEY_SIMPLEX, scale, tuple(int(c) for c in color), thick,
                    cv2.LINE_AA)


class _Labelled:
    """A canvas whose ``store`` also writes the labels of frame ``t``."""

    def __init__(self, canvas, draw):
        self.canvas, self.draw = canvas, draw

    def store(self, out: np.ndarray) -> None:
        self.canvas.store(out)
        self.draw(out)


def label_stream(
    stream: FrameStream,
    tracks: np.ndarray,
    visible: np.ndarray,
    names: Sequence[str],
    colors: np.ndarray,
    radius: float,
) -> FrameStream:
    """``stream`` with each visible point's name written beside it on every frame.

    Args:
      stream: a frame-space renderer's stream (points, overlay): output pixels = ``tracks`` pixels.
      tracks: float [T, M, 2]; visible: bool [T, M]; names: M names; colors: uint8 [M, 3].
      radius: the points' radius in pixels.
    """
    names = list(names)
    colors = np.asarray(colors, np.uint8)
    ok = np.asarray(visible, bool) & np.isfinite(tracks).all(axis=-1)

    def canvases():
        for t, canvas in enumerate(stream.canvases):
            shown = np.flatnonzero(ok[t])

            def draw(out, _t=t, _shown=shown):
                draw_labels(out, tracks[_t, _shown], [names[i] for i in _shown], colors[_shown], radius)

            yield _Labelled(canvas, draw)

    return FrameStream(canvases(), stream.shape, stream.text)
