"""Track a video file of any length frame by frame: decode, track, draw and write as it goes.

Memory does not grow with the video's length: a frame is decoded, fed to an online tracker,
drawn once its tracks are final and written, then dropped. Only the tracks themselves
(``[T, N, 2]`` and ``[T, N]``, small) and the frames a windowed model has not settled yet
(at most a window, 16 frames for CoTracker) are held. ``python -m studio track --stream``
and the app's long-video path use it.

A point queried on a frame past the first is also tracked backwards from its frame, as the
whole-clip ``lk`` does: after the forward pass, the frames before the latest query frame are
decoded again in reverse, a chunk at a time (``studio.io.video.backward``), and fed to a fresh
session of the same model; with a video to draw, a third pass decodes it forwards again and
draws it once every frame's tracks are final.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from contextlib import closing
from pathlib import Path

import numpy as np

from studio.conventions import rescale_pixels
from studio.io.video import VideoFrames, VideoWriter
from studio.io.video.backward import frames_backward
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
    chunk: int = 32,
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
      progress: optional ``ProgressFn`` over all passes (fraction of the frames the file lists, tracked
        forwards, then backwards, then drawn again), with what is being done ("tracking backwards, frame 12/40").
      chunk: frames decoded and held at a time by the backward pass.

    When a query's frame ``t`` is past 0, its frames before ``t`` are filled as the whole-clip ``lk``
    fills them: a fresh session of the same causal model over frames ``t_max .. 0`` in reverse (decoded
    backwards ``chunk`` frames at a time, ``studio.io.video.backward``), query times mirrored
    (``t' = t_max - t``). ``render`` then needs every frame final first, so the video is decoded a third
    time, forwards, to draw it. With every query on frame 0 there is one pass, drawing as it tracks.

    Returns:
      ``TrackRun`` whose result holds every frame's tracks in source pixels; its notices say what was
      resized or found damaged.

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

    if names is not None and len(names) != len(queries):
        raise InputError(f"names must hold one name per point ({len(queries)}), got {len(names)}")
    starts = work_q[:, 0].astype(int)
    # A point whose query frame is t > 0 is filled on frames before t by a backward pass, as the
    # whole-clip ``lk`` does; the drawing then waits for a third pass, once every frame is final.
    back_to = int(starts.max())
    passes = _Passes(progress, source.expected, back_to, third=bool(render) and back_to > 0)

    started = time.perf_counter()
    painter = _Painter(online.final, render, source.fps, tail, names, labels) if render and not back_to else None
    try:
        for t, frame in enumerate(itertools.chain([first], frames)):
            online.step(frame[None])
            if painter is not None:
                painter.add(frame, online.settled)
            passes.forward(t)
        tracks, visible = online.finish()
        if painter is not None:
            painter.close(len(tracks))
    except BaseException:
        frames.close()  # stops the decoding thread now rather than when the generator is collected
        if painter is not None:
            painter.abort()
        raise
    t_len = tracks.shape[0]
    check_queries(queries, (t_len, *source.source_size))
    if back_to:
        tracks, visible = tracks.copy(), visible.copy()
        _fill_backwards(online, source, work_q, size, tracks, visible, passes, chunk)
    seconds = time.perf_counter() - started
    if back_to and render:
        _render_again(path, max_side, t_len, tracks, visible, render, source.fps, tail, names, labels, passes)
        seconds = time.perf_counter() - started
    if scale:
        tracks = rescale_pixels(tracks, size, source.source_size)
    result = TrackResult(tracks=np.asarray(tracks, np.float32), visible=np.asarray(visible, bool), queries=queries,
                         fps=source.fps, size=tuple(source.source_size), model=online.name,
                         names=None if names is None else list(names))
    return TrackRun(result=result, seconds=seconds, notices=list(source.notices))


def _fill_backwards(online: OnlineTracker, source: VideoFrames, queries: np.ndarray, size: tuple[int, int],
                    tracks: np.ndarray, visible: np.ndarray, passes: "_Passes", chunk: int) -> None:
    """Fill each point's frames before its query frame, in place: a fresh session of the same causal
    model run over frames ``t_max .. 0`` (decoded backwards in chunks), query times mirrored
    (``t' = t_max - t``), its results taken where the frame comes before the query's.

    ``tracks`` [T, N, 2] and ``visible`` [T, N] in working pixels; ``queries`` [N, 3] likewise.
    """
    starts = queries[:, 0].astype(int)
    t_max = int(starts.max())
    mirrored = queries.copy()
    mirrored[:, 0] = t_max - starts
    online.start(mirrored, size)
    with closing(frames_backward(source, t_max + 1, chunk)) as backwards:  # closes the file on an error too
        for i, frame in enumerate(backwards):
            online.step(frame[None])
            passes.backward(i)
    b_tracks, b_visible = online.finish()
    b_tracks, b_visible = b_tracks[::-1], b_visible[::-1]  # back in forward time: [t_max + 1, N]
    earlier = np.arange(t_max + 1)[:, None] < starts[None, :]
    tracks[: t_max + 1][earlier] = b_tracks[earlier]
    visible[: t_max + 1][earlier] = b_visible[earlier]


def _render_again(path, max_side, t_len, tracks, visible, render, fps, tail, names, labels, passes) -> None:
    """Third pass: decode the video forwards again and draw every frame with its final tracks."""
    painter = _Painter(lambda a, b: (tracks[a:b], visible[a:b]), render, fps, tail, names, labels)
    again = iter(VideoFrames(path, max_frames=t_len, max_side=max_side, ahead=4))
    try:
        for t, frame in enumerate(again):
            painter.add(frame, t + 1)
            passes.render(t)
        painter.close(painter.drawn)
    except BaseException:
        again.close()
        painter.abort()
        raise


class _Passes:
    """Progress over the passes a stream takes: tracking forwards (``expected`` frames, when the
    file lists them), tracking backwards (``back_to + 1`` frames) and drawing again (forwards)."""

    def __init__(self, progress: ProgressFn, expected: int | None, back_to: int, third: bool):
        self.progress, self.expected = progress, expected
        self.back = back_to + 1 if back_to else 0
        self.third = third
        self.total = (expected or 0) * (2 if third else 1) + self.back

    def forward(self, t: int) -> None:
        if not self.expected:
            self.progress(0.0, f"tracking frame {t + 1}")
            return
        self.progress(min((t + 1) / self.total, 1.0), f"tracking frame {t + 1}/{self.expected}")

    def backward(self, i: int) -> None:
        done = (self.expected or 0) + i + 1
        self.progress(min(done / self.total, 1.0) if self.expected else 0.0,
                      f"tracking backwards, frame {i + 1}/{self.back}")

    def render(self, t: int) -> None:
        done = (self.expected or 0) + self.back + t + 1
        of = f"/{self.expected}" if self.expected else ""
        self.progress(min(done / self.total, 1.0) if self.expected else 0.0, f"drawing frame {t + 1}{of}")


class _Painter:
    """Draws and writes frames once their tracks are final; holds only the frames not yet final.

    ``final(start, stop)`` gives the final tracks [F, N, 2] and visible [F, N] of frames ``[start, stop)``.
    """

    def __init__(self, final, path, fps: float, tail: int, names=None, labels: bool = False):
        self.final = final
        self.names, self.labels = names, labels
        self.tail = max(int(tail), 0)
        self.writer = VideoWriter(path, fps)
        self.pending: deque[np.ndarray] = deque()
        self.drawn = 0

    def add(self, frame: np.ndarray, settled: int) -> None:
        """Take the next frame; draw every held frame below ``settled`` (frames with final tracks)."""
        self.pending.append(frame)
        self._draw(settled)

    def close(self, settled: int) -> None:
        self._draw(settled)
        self.writer.close()

    def abort(self) -> None:
        self.writer.abort()

    def _draw(self, settled: int) -> None:
        settled = min(settled, self.drawn + len(self.pending))
        if settled <= self.drawn:
            return
        k = settled - self.drawn
        context = min(self.tail, self.drawn)
        tracks, visible = self.final(self.drawn - context, settled)
        chunk = np.stack([self.pending.popleft() for _ in range(k)])
        # Markers sized as pipeline.render_tracks sizes them, so a streamed drawing is the whole-clip one.
        radius = marker_radius(chunk.shape[1], chunk.shape[2], tracks.shape[1])
        for image in draw_points(chunk, tracks, visible, tail=self.tail, radius=radius, first=context,
                                 names=self.names, labels=self.labels):
            self.writer.write(image)
        self.drawn = settled
