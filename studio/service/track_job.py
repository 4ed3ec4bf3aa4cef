"""One Track request: validated queries -> tracks (on the GPU where there is one) -> a rendering and track files.

The tracking step is a module-level ``gpu``-decorated function with light,
picklable arguments (ZeroGPU runs it in a forked worker): the video is found by
path in the service's cache, the model by name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.io.guards import parse_json
from studio.io.trackfile import save_tracks
from studio.io.video import write_video
from studio.limits import Limits
from studio.pipeline import TrackRun, render_tracks, track_video
from studio.progress import ProgressFn
from studio.queries import check_point_count
from studio.registry import QUERY_KINDS, tracker_info
from studio.results import InputError, TrackResult
from studio.service.outputs import safe_stem
from studio.service.zerogpu import SERVICES, estimate_gpu_seconds, gpu, on_zero_gpu


@dataclass
class TrackOutput:
    """What one Track request produced.

    Attributes:
      run: the tracks (source-video pixels) and timing.
      rendered: path of the H.264 MP4 with the points drawn on the working frames.
      files: ``{"npz" | "csv" | "json": path}`` of the saved tracks.
      source: path of the input video.
      notices: what was changed on the input (cut, resized, rotated), as sentences.
    """

    run: TrackRun
    rendered: Path
    files: dict[str, Path]
    source: str
    notices: list[str] = field(default_factory=list)

    @property
    def result(self) -> TrackResult:
        return self.run.result

    def status(self) -> str:
        """One line for the user: model, points, frames, time, then the notices."""
        line = self.run.summary()
        if self.notices:
            line += " | note: " + "; ".join(self.notices)
        return line


def parse_queries_json(text: str, limits: Limits | None = None) -> np.ndarray:
    """Queries from JSON text: ``[[t, x, y], ...]`` (or ``{"queries": [...]}``) in source pixels.

    The text's length is checked before it is parsed (``Limits.max_queries_chars``: room
    for ``max_points`` triples), and the number of triples before they are read.

    Args:
      text: JSON; ``t`` an integer frame index, ``x``/``y`` pixels, integer = pixel centre.
      limits: default from the environment.

    Returns:
      float32 [N, 3] ``(t, x, y)``; not yet checked against a video.

    Raises:
      InputError: too long, not JSON, nested too deeply, not a list of three-number
        lists, empty, or more points than ``max_points``.
    """
    limits = limits or Limits.from_env()
    if not isinstance(text, str) or not text.strip():
        raise InputError("no queries given: pass JSON like [[0, 120, 80], [0, 200, 90]] as (t, x, y)")
    data = parse_json(text, "the query text", limits.max_queries_chars,
                      example="write them like [[0, 120, 80], [0, 200, 90]] as (t, x, y)")
    if isinstance(data, dict) and "queries" in data:
        data = data["queries"]
    if not isinstance(data, list) or not data:
        raise InputError("queries must be a non-empty JSON list of [t, x, y] triples, e.g. [[0, 120, 80]]")
    check_point_count(len(data), limits.max_points)
    rows = []
    for i, item in enumerate(data):
        ok = (
            isinstance(item, list)
            and len(item) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in item)
        )
        if not ok:
            raise InputError(f"query {i} is {json.dumps(item)[:60]}, not a [t, x, y] triple of numbers")
        rows.append([float(v) for v in item])
    return np.asarray(rows, dtype=np.float32)


def check_track_model(name: str) -> str:
    """``name`` when it is a model that tracks query points (a point tracker or a dense model).

    Raises:
      KeyError: an unknown name. InputError: a model of another kind (e.g. optical flow).
    """
    entry = tracker_info(name)
    if entry.kind not in QUERY_KINDS:
        raise InputError(f"'{name}' is a {entry.kind} model; choose a point tracker or a dense model")
    return name


def _track_duration(
    service_key: int, path: str, queries: np.ndarray, model: str, progress=None, reliability: bool = False
) -> int:
    """``spaces.GPU`` duration callable: same arguments as ``_track_on_device``."""
    service = SERVICES.get(service_key)
    frames = service.limits.max_frames if service is None else service.load_video(path).num_frames
    # The reliability check is about one more pass.
    return estimate_gpu_seconds(frames, len(queries)) * (2 if reliability else 1)


@gpu(duration=_track_duration)
def _track_on_device(
    service_key: int, path: str, queries: np.ndarray, model: str, progress: ProgressFn | None = None,
    reliability: bool = False,
) -> TrackRun:
    """Run one tracker on one video: the only step that needs the GPU.

    Arguments are light and picklable (ZeroGPU sends them to a worker process):
    the video is found by path in the service's cache, the model by name.

    Args:
      service_key: ``id`` of the ``TrackingService`` whose caches to use.
      path: the video file.
      queries: float32 [N, 3] ``(t, x, y)`` source pixels, already validated.
      model: registry name of a point tracker.
      progress: optional ``ProgressFn`` (None on ZeroGPU: closures do not pickle).
      reliability: also run the reliability check (``studio.reliability``).

    Returns:
      ``TrackRun`` in source-video pixels.
    """
    service = SERVICES[service_key]
    video = service.load_video(path)
    tracker = service.tracker(model)
    return track_video(video, queries, model, tracker=tracker, progress=progress, reliability=reliability)


def _scaled(progress: ProgressFn | None, start: float, stop: float) -> ProgressFn | None:
    """A ``ProgressFn`` mapping ``[0, 1]`` onto ``[start, stop]`` of ``progress``."""
    if progress is None:
        return None

    def report(fraction: float, desc: str = "") -> None:
        progress(start + (stop - start) * min(max(float(fraction), 0.0), 1.0), desc)

    return report


def run_track(
    service: Any,
    path: str,
    queries: np.ndarray,
    model: str | None = None,
    tail: int = 8,
    formats: tuple[str, ...] = ("npz", "csv", "json"),
    progress: ProgressFn | None = None,
    reliability: bool = False,
    color_by: str = "query",
    hide_below: float = 0.0,
    notices: list[str] | None = None,
    names: list[str] | None = None,
    labels: bool = False,
) -> TrackOutput:
    """Track ``queries`` through the video at ``path``, render them and save the tracks.

    Args:
      service: the ``TrackingService`` whose caches, limits and output folders to use.
      path: the video file.
      queries: [N, 3] ``(t, x, y)`` in source-video pixels (integer = pixel centre).
      model: registry name of a point tracker; None = ``default_model()``.
      tail: trail length in frames in the rendered video.
      formats: track files to write, any of ``"npz"``, ``"csv"``, ``"json"``.
      progress: optional ``ProgressFn`` over the whole request.
      reliability: check every position by its return trip (``studio.reliability``): the files
        carry ``reliability`` and ``cycle_error``, the status line says which tracks become unreliable.
      color_by, hide_below: how the rendering colours points and which it leaves out
        (``studio.pipeline.render_tracks``; reliability only with ``reliability``).
      notices: what the caller already changed on the input (e.g. a resized mask), for the status line.
      names: optional N point names (from a labelme / COCO file), saved with the tracks;
        COCO-17 keypoint names get their skeleton drawn.
      labels: write each point's name beside it in the rendered video.

    Returns:
      ``TrackOutput`` with the run, the rendered MP4 and the track files, all in a
      fresh folder under ``service.output_root``.

    Raises:
      InputError / VideoError: bad video or queries (one sentence).
      KeyError: unknown model. WeightsUnavailable: the model's weights cannot be had.
    """
    model = check_track_model(model or service.default_model())
    entry = tracker_info(model)
    # Over the frame cap an online model tracks the whole file frame by frame (``_stream_whole``).
    video = service.load_video(path, progress=_scaled(progress, 0.0, 0.1))
    q = service.check_queries(path, queries)
    if progress is not None:
        progress(0.1, f"loading {model}")
    service.tracker(model)  # load in this process, before any GPU worker is forked
    # The reliability check needs the clip at once: with it, a long video is tracked up to the frame cap.
    if (entry.kind == "point" and entry.online and not reliability
            and streams_whole(path, video, service.limits.max_frames)):
        return _stream_whole(service, path, q, model, tail, formats, progress, notices, names, labels)
    # ZeroGPU pickles the arguments; a progress closure does not pickle.
    track_progress = None if on_zero_gpu() else _scaled(progress, 0.1, 0.8)
    if (color_by == "reliability" or hide_below > 0) and not reliability:
        color_by, hide_below = "query", 0.0  # nothing to colour or hide by without the check
    run = _track_on_device(id(service), os.path.abspath(path), q, model, track_progress, bool(reliability))
    if hasattr(service, "estimates") and not reliability:  # later estimates follow this machine's speed (tracking alone)
        service.estimates.observe(model, service.workload(path, q), run.seconds)
    if names is not None:
        run = replace(run, result=replace(run.result, names=list(names)))

    out_dir = service.new_output_dir()
    stem = safe_stem(path)
    if progress is not None:
        progress(0.8, "drawing the tracks")
    frames = render_tracks(video, run.result, tail=int(tail), color_by=color_by, hide_below=float(hide_below),
                           labels=bool(labels))
    rendered = Path(
        write_video(out_dir / f"{stem}_tracked.mp4", frames, video.fps, progress=_scaled(progress, 0.85, 0.97))
    )
    files = {fmt: save_tracks(run.result, out_dir / f"{stem}_tracks.{fmt}") for fmt in formats}
    if progress is not None:
        progress(1.0, "done")
    return TrackOutput(run=run, rendered=rendered, files=files, source=str(path),
                       notices=list(video.notices) + list(notices or []))


def redraw_track(
    service: Any, path: str, tracks_path: str, tail: int = 8, color_by: str = "query", hide_below: float = 0.0,
    labels: bool = False,
) -> Path:
    """Draw saved tracks again over the video at ``path`` (no tracking): another colouring or cut-off.

    Args:
      service: the ``TrackingService``.
      path: the source video the tracks were made on.
      tracks_path: their track file (``.npz`` from ``run_track``).
      tail, color_by, hide_below, labels: as in ``studio.pipeline.render_tracks``.

    Returns:
      Path of the new H.264 MP4 in a fresh output folder.
    """
    from studio.io.trackfile import load_tracks

    video = service.load_video(path)
    result = load_tracks(tracks_path, service.limits)
    if result.num_frames != video.num_frames:
        raise InputError(f"the tracks have {result.num_frames} frames but the video has {video.num_frames}")
    frames = render_tracks(video, result, tail=int(tail), color_by=color_by, hide_below=float(hide_below),
                           labels=bool(labels))
    out = service.new_output_dir() / f"{safe_stem(path)}_tracked.mp4"
    return Path(write_video(out, frames, video.fps))
def is_cut(video, max_frames: int) -> bool:
    """Whether the frame cap cut ``video`` short (the file has, or may have, more frames)."""
    return video.num_frames >= max_frames and (video.source_frames is None or video.source_frames > video.num_frames)


def streams_whole(path: str, video, max_frames: int) -> bool:
    """Whether an online model tracks all of ``path`` frame by frame: a plain video file (not a log
    camera or a dataset video) that the frame cap cut short."""
    from studio.io.h5log import is_log
    from studio.io.sources import split_source

    return is_cut(video, max_frames) and split_source(path)[1] is None and not is_log(path)


def _stream_whole(service: Any, path: str, queries: np.ndarray, model: str, tail: int, formats: tuple[str, ...],
                  progress: ProgressFn | None, notices: list[str] | None, names: list[str] | None,
                  labels: bool) -> TrackOutput:
    """A video longer than the frame cap, with an online model: track, draw and write every frame
    of the file in bounded memory (``studio.online.stream``) instead of the first ``max_frames``."""
    from studio.online import OnlineTracker
    from studio.online.stream import stream_track

    out_dir = service.new_output_dir()
    stem = safe_stem(path)
    rendered = out_dir / f"{stem}_tracked.mp4"
    # The cached adapter holds one stream at a time; the model cache's lock is not held while streaming.
    online = OnlineTracker(model, service.tracker(model))
    run = stream_track(path, model, points=queries, render=rendered, tail=int(tail), max_side=service.limits.max_side,
                       tracker=online, names=names, labels=labels, progress=_scaled(progress, 0.1, 0.97))
    files = {fmt: save_tracks(run.result, out_dir / f"{stem}_tracks.{fmt}") for fmt in formats}
    if progress is not None:
        progress(1.0, "done")
    said = [f"longer than the {service.limits.max_frames}-frame cap: {model} is online, so all "
            f"{run.result.num_frames} frames were streamed"
            + (" (and backwards to frame 0 from points placed later)" if (queries[:, 0] > 0).any() else ""),
            *run.notices, *(notices or [])]
    return TrackOutput(run=run, rendered=rendered, files=files, source=str(path), notices=said)
