"""Track a video file of any length frame by frame: decode, track, draw and write as it goes.

Memory does not grow with the video's length: a frame is decoded, fed to an online tracker,
drawn once its tracks are final and written, then dropped. Only the tracks themselves
(``[T, N, 2]`` and ``[T, N]``, small) and the frames a windowed model has not settled yet
(at most a window, 16 frames for CoTracker) are held. ``python -m studio track --stream``
and the app's long-video path use it.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from pathlib import Path

import numpy as np

from studio.conventions import rescale_pixels
from studio.io.video import VideoFrames, VideoWriter
from studio.online.tracker import OnlineTracker, open_online
from studio.pipeline import TrackRun
from studio.progress import ProgressFn, no_progress
from studio.queries import grid_queries
from studio.render import draw_points
from studio.render.markers import marker_radius
from studio.results import InputError, TrackResult, check_queries


def stream_track(
    path: str | Path,
    model: str = "lk",
    *,
    points: np.ndarray | None = None,
    grid: int | None = None,
    grid_frame: int = 0,
    render: str | Path | None = None,
    tail: int = 8,
    max_side: int | None = None,
    max_frames: int | None = None,
    tracker: OnlineTracker | None = None,
    names: list[str] | None = None,
    labels: bool = False,
    progress: ProgressFn | None = None,
) -> TrackRun:
    """Track points through the whole video at ``path`` without holding it in memory.

    Args:
      path: the video file.
      model: registry name of an online point tracker (``studio.online.online_names()``).
      points: float [N, 3] ``(t, x, y)`` queries in source-video pixels; or
      grid: an ``grid x grid`` grid of queries on frame ``grid_frame``.
      render: optional .mp4 to write the video with the tracks drawn (points with tails).
      tail: tail length in frames for ``render``.
      max_side: shrink frames so the longer side is at most this (tracks stay in source pixels).
      max_frames: stop after this many frames (None: the whole video).
      tracker: an ``OnlineTracker`` to use (built from ``model`` when None).
      names: optional N point names, kept with the tracks (COCO-17 keypoints get their skeleton drawn);
      labels: write each point's name beside it in ``render``.
      progress: optional ``ProgressFn`` (fraction of the frames the file lists).

    Returns:
      ``TrackRun`` whose result holds every frame's tracks in source pixels (before its query frame a
      point is at its query position, not visible); its notices say what was resized or found damaged.

    Raises:
      NotOnline: ``model`` needs the whole clip (the message says to use ``--max-frames``).
      InputError / VideoError: bad queries or an unreadable video; a query on a frame past the
        end is refused before tracking when the file lists its frame count.
    """
    if (points is None) == (grid is None):
        raise InputError("give either query points or a grid size")
    progress = progress or no_progress
    # Decoding runs a few frames ahead in its own thread, overlapping the tracking (both release the GIL).
    source = VideoFrames(path, max_frames=max_frames, max_side=max_side, ahead=4)
    frames = iter(source)
    try:
        first = next(frames)
    except StopIteration:  # pragma: no cover - VideoFrames raises VideoError for frameless files
        raise InputError(f"{source.name} has no frames") from None
    size = first.shape[:2]
    if points is not None:
        queries = np.asarray(points, np.float32)
    else:
        queries = grid_queries(tuple(source.source_size), int(grid), int(grid_frame))
    if source.expected:
        check_queries(queries, (source.expected, *source.source_size))
    online = tracker if tracker is not None else open_online(model)
    scale = tuple(source.source_size) != tuple(size)
    work_q = queries.copy()
    if scale:
        work_q[:, 1:] = rescale_pixels(work_q[:, 1:], source.source_size, size)
    online.start(work_q, size)

    started = time.perf_counter()
    if names is not None and len(names) != len(queries):
        raise InputError(f"names must hold one name per point ({len(queries)}), got {len(names)}")
    painter = _Painter(online, render, source.fps, tail, names, labels) if render else None
    try:
        for t, frame in enumerate(itertools.chain([first], frames)):
            online.step(frame[None])
            if painter is not None:
                painter.add(frame)
            if source.expected:
                progress(min((t + 1) / source.expected, 1.0), f"tracking frame {t + 1}/{source.expected}")
            else:
                progress(0.0, f"tracking frame {t + 1}")
        tracks, visible = online.finish()
        if painter is not None:
            painter.close()
    except BaseException:
        frames.close()  # stops the decoding thread now rather than when the generator is collected
        if painter is not None:
            painter.abort()
        raise
    seconds = time.perf_counter() - started
    t_len = tracks.shape[0]
    check_queries(queries, (t_len, *source.source_size))
    if scale:
        tracks = rescale_pixels(tracks, size, source.source_size)
    result = TrackResult(tracks=np.asarray(tracks, np.float32), visible=np.asarray(visible, bool), queries=queries,
                         fps=source.fps, size=tuple(source.source_size), model=online.name,
                         names=None if names is None else list(names))
    return TrackRun(result=result, seconds=seconds, notices=list(source.notices))


class _Painter:
    """Draws and writes frames once their tracks are final; holds only the frames not yet final."""

    def __init__(self, online: OnlineTracker, path, fps: float, tail: int, names=None, labels: bool = False):
        self.online = online
        self.names, self.labels = names, labels
        self.tail = max(int(tail), 0)
        self.writer = VideoWriter(path, fps)
        self.pending: deque[np.ndarray] = deque()
        self.drawn = 0

    def add(self, frame: np.ndarray) -> None:
        self.pending.append(frame)
        self._draw(self.online.settled)

    def close(self) -> None:
        self._draw(self.online.settled)
        self.writer.close()

    def abort(self) -> None:
        self.writer.abort()

    def _draw(self, settled: int) -> None:
        if settled <= self.drawn:
            return
        k = settled - self.drawn
        context = min(self.tail, self.drawn)
        tracks, visible = self.online.final(self.drawn - context, settled)
        chunk = np.stack([self.pending.popleft() for _ in range(k)])
        # Markers sized as pipeline.render_tracks sizes them, so a streamed drawing is the whole-clip one.
        radius = marker_radius(chunk.shape[1], chunk.shape[2], tracks.shape[1])
        for image in draw_points(chunk, tracks, visible, tail=self.tail, radius=radius, first=context,
                                 names=self.names, labels=self.labels):
            self.writer.write(image)
        self.drawn = settled
