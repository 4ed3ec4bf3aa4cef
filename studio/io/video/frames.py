"""``video_from_frames``: frames that come one by one from anywhere (an HDF5 log, a dataset file) -> ``Video``.

The same limits as ``read_video``: at most ``max_frames`` frames, the longer side
shrunk to ``max_side`` (area filter, even sizes), and a memory cap checked before
anything is allocated. Every change becomes a notice.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from studio.io.video.base import ThrottledProgress, Video
from studio.io.video.limits import DEFAULT_MAX_BYTES, check_side, refuse_size, target_size
from studio.progress import ProgressFn


def video_from_frames(
    frame: Callable[[int], np.ndarray],
    count: int,
    size: tuple[int, int],
    name: str,
    fps: float,
    max_frames: int | None = None,
    max_side: int | None = None,
    progress: ProgressFn | None = None,
    notices: list[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Video:
    """Collect ``count`` frames of ``size = (H, W)`` into a ``Video`` within the limits.

    Args:
      frame: ``frame(i)`` -> uint8 [H, W, 3] RGB for ``i`` in ``0..count-1`` (called once per kept frame).
      count: frames available.
      size: ``(H, W)`` of every frame.
      name: file name for messages.
      fps: frame rate to record.
      max_frames, max_side, max_bytes: as for ``read_video``.
      progress: optional ``ProgressFn``.
      notices: sentences already known (e.g. an assumed frame rate); the limits' are added.

    Returns:
      ``Video`` (``source_size = size``, ``source_frames = count``).

    Raises:
      VideoError: a side over the decoder's limit, or more than ``max_bytes`` to keep.
    """
    h, w = size
    check_side(w, h, name)
    notices = list(notices or [])
    n = count if max_frames is None else min(count, max_frames)
    out_h, out_w = target_size(h, w, max_side)
    frame_bytes = out_h * out_w * 3
    if n * frame_bytes > max_bytes:
        refuse_size(name, n, out_h, out_w, frame_bytes, max_bytes)
    frames = np.empty((n, out_h, out_w, 3), np.uint8)
    report = ThrottledProgress(progress, f"reading {name}")
    for i in range(n):
        image = frame(i)
        if (out_h, out_w) != (h, w):
            image = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_AREA)
        frames[i] = image
        report((i + 1) / max(n, 1))
    if n < count:
        notices.insert(0, f"kept frames 0–{n - 1} of {count}")
    if (out_h, out_w) != (h, w):
        notices.append(f"resized {w}×{h} → {out_w}×{out_h}")
    report.done(f"read {name}")
    return Video(frames=frames, fps=float(fps), notices=notices, source_size=(h, w), source_frames=count, codec="")
