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
from studio.reliability import ReliabilityCheck, check_tracks, reliability_line
from studio.render import draw_points
from studio.render.markers import marker_radius
from studio.render.options import RELIABILITY_CMAP
from studio.render.tracksets import colormap_colors
from studio.results import InputError, TrackResult, percent_text
from studio.progress import ProgressFn
from studio.io.video import Video


@dataclass
class TrackRun:
    """One tracking run: the result in source pixels and what it cost.

    Attributes:
      result: tracks in source-video pixels (with ``reliability`` / ``cycle_error`` when checked).
      seconds: tracking time.
      notices: what was changed on the input.
      check: the reliability check (engine, seconds, tolerance in working pixels), or None.
    """

    result: TrackResult
    seconds: float
    notices: list[str]
    check: ReliabilityCheck | None = None

    def summary(self) -> str:
        r = self.result
        vis = float(r.visible.mean()) if r.visible.size else 0.0
        line = (
            f"{r.model}: {r.num_points} points x {r.num_frames} frames in {self.seconds:.2f} s "
            f"({r.num_frames / max(self.seconds, 1e-9):.1f} frames/s); visible {percent_text(vis)} of the time"
        )
        if self.check is not None and r.reliability is not None:
            line += (f" | reliability ({self.check.engine} check, +{self.check.seconds:.2f} s): "
                     f"{reliability_line(r.reliability, r.visible)}")
        return line


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
    reliability: bool = False,
    engine: str = "auto",
    names: list[str] | None = None,
) -> TrackRun:
    """Track source-pixel ``queries`` [N,3] ``(t,x,y)`` through ``video`` with a registry model.

    Args:
      video: a decoded ``Video`` (possibly shrunk to limits).
      queries: float [N, 3] in source-video pixels.
      model: registry name of a point tracker or a dense model (``QUERY_KINDS``).
      tracker: an already built tracker to reuse (the app caches them); built here if None.
      progress: optional ``ProgressFn``.
      reliability: also check every position by its return trip (``studio.reliability``):
        the result gets ``reliability`` and ``cycle_error`` (source pixels).
      engine: the reliability engine (``studio.reliability.ENGINES``).
      names: optional N point names, kept with the result (saved with the tracks, drawn as labels).

    Returns:
      ``TrackRun`` whose result is in source-video pixels, with fps, size (and names) set.
    """
    entry = tracker_info(model)
    if entry.kind not in QUERY_KINDS:
        raise InputError(f"'{model}' is a {entry.kind} model; choose a point tracker or a dense model")
    tracker = tracker if tracker is not None else create_tracker(model)
    share = 0.6 if reliability else 1.0
    start = time.perf_counter()
    result = tracker.track(video.frames, to_working(queries, video), progress=_part(progress, 0.0, share))
    seconds = time.perf_counter() - start
    check = None
    if reliability:
        check = check_tracks(tracker, video.frames, result, engine, model, progress=_part(progress, share, 1.0))
        # Cycle errors go to source pixels with the tracks (the mean of the two axes' scale).
        scale = float(np.mean(np.asarray(video.source_size, float) / np.asarray(working_size(video), float)))
        result = check.apply(result, scale)
    result = replace(
        result,
        tracks=to_source(result.tracks, video),
        queries=np.asarray(queries, dtype=np.float32),
        fps=video.fps,
        size=tuple(video.source_size),
        model=model,
        names=list(names) if names is not None else result.names,
    )
    return TrackRun(result=result, seconds=seconds, notices=list(video.notices), check=check)


def _part(progress: ProgressFn | None, start: float, stop: float) -> ProgressFn | None:
    """``progress`` for one part of a job: ``[0, 1]`` maps onto ``[start, stop]``."""
    if progress is None or (start, stop) == (0.0, 1.0):
        return progress
    return lambda fraction, desc="": progress(start + (stop - start) * min(max(float(fraction), 0.0), 1.0), desc)


COLOURINGS = ("query", "reliability")
"""How ``render_tracks`` colours points: one colour per point in query order, or by reliability."""


def save_outputs(
    video: Video,
    result: TrackResult,
    tracks_path: str | Path | None = None,
    render_path: str | Path | None = None,
    tail: int = 8,
    color_by: str = "query",
    hide_below: float = 0.0,
    labels: bool = False,
    progress: ProgressFn | None = None,
) -> tuple[Path | None, Path | None]:
    """Write the tracks (``.npz``/``.csv``/``.json``) and/or the video with them drawn (``.mp4``;
    ``progress`` follows the writing).

    ``tail``, ``color_by`` and ``hide_below`` are ``render_tracks``'s.

    Returns:
      ``(tracks file, rendered video)``, None for each one not asked for.
    """
    from studio.io.trackfile import save_tracks
    from studio.io.video import write_video

    saved = save_tracks(result, tracks_path) if tracks_path else None
    rendered = None
    if render_path:
        frames = render_tracks(video, result, tail=tail, color_by=color_by, hide_below=hide_below, labels=labels)
        rendered = write_video(render_path, frames, video.fps, progress=progress)
    return saved, (Path(rendered) if rendered else None)


def render_tracks(
    video: Video, result: TrackResult, tail: int = 8, color_by: str = "query", hide_below: float = 0.0,
    labels: bool = False,
) -> np.ndarray:
    """Points with tails drawn on the working frames: uint8 [T, H, W, 3].

    Named COCO-17 keypoints get their skeleton.

    Args:
      video: the decoded video (working frames).
      result: tracks in ``result.size`` pixels.
      tail: trail length in frames.
      color_by: ``"query"`` (rainbow in query order) or ``"reliability"`` (each position by its
        reliability, red..green; needs ``result.reliability``).
      hide_below: positions with reliability below this are not drawn (0 = all).
      labels: write each point's name beside it.

    Markers are sized like the app's click markers (``studio.render.markers.marker_radius``):
    readable when the video is shown fitted on screen, whatever its size.
    """
    if color_by not in COLOURINGS:
        raise InputError(f"color_by must be one of {', '.join(COLOURINGS)}, got {color_by!r}")
    if (color_by == "reliability" or hide_below > 0) and result.reliability is None:
        raise InputError("these tracks have no reliability: track them with the reliability check on")
    tracks = result.tracks
    if tuple(result.size) != working_size(video) and min(result.size) > 0:
        tracks = rescale_pixels(tracks, tuple(result.size), working_size(video))
    h, w = working_size(video)
    radius = marker_radius(h, w, result.num_points)
    colors = None
    if color_by == "reliability":
        colors = colormap_colors(result.reliability, RELIABILITY_CMAP)
    if hide_below > 0:
        tracks = np.where((result.reliability < hide_below)[..., None], np.float32(np.nan), tracks)
    return draw_points(video.frames, tracks, result.visible, tail=tail, radius=radius, colors=colors, names=result.names,
                       labels=labels)
