"""Video file -> tracks -> files, shared by the CLI and the app (no gradio here).

Query points and saved tracks are in the pixels of the *source* video; when a
video is shrunk to fit the limits, the tracker works on the smaller frames and
this layer converts queries in and tracks out, so files stay true to the source.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from studio.conventions import rescale_pixels
from studio.queries import grid_queries
from studio.registry import QUERY_KINDS, create_tracker, tracker_info
from studio.render import draw_points
from studio.results import InputError, TrackResult
from studio.progress import ProgressFn
from studio.io.video import Video


@dataclass
class TrackRun:
    """One tracking run: the result in source pixels and what it cost."""

    result: TrackResult
    seconds: float
    notices: list[str]

    def summary(self) -> str:
        r = self.result
        vis = float(r.visible.mean()) if r.visible.size else 0.0
        return (
            f"{r.model}: {r.num_points} points x {r.num_frames} frames in {self.seconds:.2f} s "
            f"({r.num_frames / max(self.seconds, 1e-9):.1f} frames/s); visible {vis:.0%} of the time"
        )


def working_size(video: Video) -> tuple[int, int]:
    return int(video.frames.shape[1]), int(video.frames.shape[2])


def to_working(queries: np.ndarray, video: Video) -> np.ndarray:
    """Source-pixel queries [N,3] -> working-frame pixels."""
    q = np.array(queries, dtype=np.float32, copy=True)
    if tuple(video.source_size) != working_size(video):
        q[:, 1:] = rescale_pixels(q[:, 1:], video.source_size, working_size(video))
    return q


def to_source(tracks: np.ndarray, video: Video) -> np.ndarray:
    """Working-frame tracks [..., 2] -> source pixels."""
    if tuple(video.source_size) == working_size(video):
        return np.asarray(tracks, dtype=np.float32)
    return rescale_pixels(tracks, working_size(video), video.source_size)


def grid_for(video: Video, n: int, frame: int = 0) -> np.ndarray:
    """An n x n grid of queries on ``frame``, in source pixels."""
    if not 0 <= frame < video.frames.shape[0]:
        raise InputError(f"grid frame {frame} is outside the video's frames 0..{video.frames.shape[0] - 1}")
    return grid_queries(tuple(video.source_size), n, frame)


def track_video(
    video: Video,
    queries: np.ndarray,
    model: str = "lk",
    tracker=None,
    progress: ProgressFn | None = None,
    names: list[str] | None = None,
) -> TrackRun:
    """Track source-pixel ``queries`` [N,3] ``(t,x,y)`` through ``video`` with a registry model.

    Args:
      video: a decoded ``Video`` (possibly shrunk to limits).
      queries: float [N, 3] in source-video pixels.
      model: registry name of a point tracker or a dense model (``QUERY_KINDS``).
      tracker: an already built tracker to reuse (the app caches them); built here if None.
      progress: optional ``ProgressFn``.
      names: optional N point names, kept with the result (saved with the tracks, drawn as labels).

    Returns:
      ``TrackRun`` whose result is in source-video pixels, with fps, size (and names) set.
    """
    entry = tracker_info(model)
    if entry.kind not in QUERY_KINDS:
        raise InputError(f"'{model}' is a {entry.kind} model; choose a point tracker or a dense model")
    tracker = tracker if tracker is not None else create_tracker(model)
    start = time.perf_counter()
    result = tracker.track(video.frames, to_working(queries, video), progress=progress)
    seconds = time.perf_counter() - start
    result = replace(
        result,
        tracks=to_source(result.tracks, video),
        queries=np.asarray(queries, dtype=np.float32),
        fps=video.fps,
        size=tuple(video.source_size),
        model=model,
        names=list(names) if names is not None else result.names,
    )
    return TrackRun(result=result, seconds=seconds, notices=list(video.notices))


def save_outputs(
    video: Video,
    result: TrackResult,
    tracks_path: str | Path | None = None,
    render_path: str | Path | None = None,
    tail: int = 8,
    labels: bool = False,
    progress: ProgressFn | None = None,
) -> tuple[Path | None, Path | None]:
    """Write the tracks (``.npz``/``.csv``/``.json``) and/or the video with them drawn (``.mp4``;
    ``progress`` follows the writing).

    Returns:
      ``(tracks file, rendered video)``, None for each one not asked for.
    """
    from studio.io.trackfile import save_tracks
    from studio.io.video import write_video

    saved = save_tracks(result, tracks_path) if tracks_path else None
    rendered = None
    if render_path:
        rendered = write_video(render_path, render_tracks(video, result, tail=tail, labels=labels), video.fps,
                               progress=progress)
    return saved, (Path(rendered) if rendered else None)


def render_tracks(video: Video, result: TrackResult, tail: int = 8, labels: bool = False) -> np.ndarray:
    """Points with tails drawn on the working frames: uint8 [T, H, W, 3].

    Named COCO-17 keypoints get their skeleton; ``labels`` writes each point's name beside it.
    """
    tracks = result.tracks
    if tuple(result.size) != working_size(video) and min(result.size) > 0:
        tracks = rescale_pixels(tracks, tuple(result.size), working_size(video))
    return draw_points(video.frames, tracks, result.visible, tail=tail, names=result.names, labels=labels)
