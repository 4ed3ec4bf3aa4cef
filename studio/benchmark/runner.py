"""Run a registry point tracker over a TAP-Vid dataset and score it (no gradio here).

Videos are read, decoded, tracked and scored one at a time, so a Kinetics shard
never has more than one decoded video in memory. Per-video metrics are the
reference's (``studio.benchmark.metrics.compute_tapvid_metrics``, fractions in [0, 1]);
the benchmark number is their plain mean over videos, x 100, as papers report.

A ``Budget`` (the app sets one, the CLI none) bounds a run's wall time and the queries
of one video: a video with more queries is skipped with the reason, and a run that
runs out of time stops inside the current video and reports what it scored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.benchmark.datasets.tapvid import DatasetError, TapVidDataset, TapVidVideo, open_dataset
from studio.benchmark.metrics.pose import PERCENT_KEYS, POSE_KEYS, pose_metrics
from studio.benchmark.metrics.tapvid import METRIC_KEYS, QUERY_MODES, compute_tapvid_metrics
from studio.benchmark.protocol import METRIC_SIZE, QUERY_STRIDE, PreparedVideo, prepare_video, tracks_to_metric_space
from studio.conventions import pixels_to_tapvid, tapvid_to_pixels
from studio.progress import ProgressFn, no_progress
from studio.results import InputError, TrackResult


@dataclass
class Budget:
    """What a benchmark run may spend; shared by the models of one run.

    Attributes:
      seconds: wall time from ``started``; None = no limit.
      max_queries: queries one video may pose; videos with more are skipped. None = no limit.
      started: ``time.monotonic()`` when the run began.
      time_setting, queries_setting: the environment variables behind the limits, named in messages.
    """

    seconds: float | None = None
    max_queries: int | None = None
    started: float = field(default_factory=time.monotonic)
    time_setting: str = ""
    queries_setting: str = ""

    def spent(self) -> float:
        return time.monotonic() - self.started

    def over(self) -> bool:
        return self.seconds is not None and self.spent() > self.seconds

    def stop_note(self, done: int, model: str) -> str:
        where = f" ({self.time_setting})" if self.time_setting else ""
        return (f"stopped after {self.spent():.0f} s: the run's time budget is {self.seconds:.0f} s{where}; "
                f"{model} scored {done} video{'s' if done != 1 else ''} before it, and the means cover only those")


class _OutOfTime(Exception):
    """Raised from a progress call once the budget's time is spent; ``evaluate`` stops there."""


class NothingScored(InputError):
    """No video of the dataset could be scored with a model (all skipped, or out of time); says why."""


@dataclass
class VideoScore:
    """Metrics of one video.

    Attributes:
      name: video name.
      metrics: ``{key: fraction in [0, 1]}`` for every key of ``METRIC_KEYS`` (NaN when undefined).
      num_queries: queries sampled from the ground truth.
      num_frames: T.
      source_size: ``(H, W)`` of the stored video.
      seconds: tracking time (decoding and scoring excluded).
    """

    name: str
    metrics: dict[str, float]
    num_queries: int
    num_frames: int
    source_size: tuple[int, int]
    seconds: float


@dataclass
class BenchmarkResult:
    """A tracker's scores on a dataset.

    Attributes:
      model: registry name of the tracker.
      dataset: dataset name (file stem or folder name).
      query_mode: ``"first"`` or ``"strided"``.
      resolution: ``(H, W)`` the tracker worked at, None = each video's own size.
      videos: per-video scores in dataset order.
      skipped: ``(video, reason)`` for videos that could not be scored (no visible point,
        more queries than the budget allows).
      seconds: wall time of the whole run.
      stopped: why the run stopped before the end of the dataset (the time budget), else "".
    """

    model: str
    dataset: str
    query_mode: str
    resolution: tuple[int, int] | None
    videos: list[VideoScore] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str = ""

    def mean(self) -> dict[str, float]:
        """Benchmark numbers x 100: the mean over videos of each metric.

        Videos where a metric is undefined (NaN: nothing visible to score) are left
        out of that metric's mean; NaN when no video has it. Pose keys appear when a
        video had them (``has_pose``); jitter is already in percent and is not scaled.
        """
        out = {}
        for key in METRIC_KEYS + (POSE_KEYS if self.has_pose else ()):
            vals = np.array([v.metrics.get(key, math.nan) for v in self.videos], dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            scale = 1 if key in PERCENT_KEYS else 100
            out[key] = float(vals.mean() * scale) if vals.size else math.nan
        return out

    @property
    def has_pose(self) -> bool:
        """True when some video was scored with pose metrics (named COCO-17 keypoints)."""
        return any(POSE_KEYS[0] in v.metrics for v in self.videos)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (per-video values x 100, like the mean)."""
        return {
            "model": self.model,
            "dataset": self.dataset,
            "query_mode": self.query_mode,
            "resolution": list(self.resolution) if self.resolution else "full",
            "metric_space": list(METRIC_SIZE),
            "mean": _json_floats(self.mean()),
            "videos": [
                {
                    "name": v.name,
                    "num_queries": v.num_queries,
                    "num_frames": v.num_frames,
                    "source_size": list(v.source_size),
                    "seconds": round(v.seconds, 4),
                    **_json_floats({k: x * (1 if k in PERCENT_KEYS else 100) for k, x in v.metrics.items()}),
                }
                for v in self.videos
            ],
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
            "seconds": round(self.seconds, 3),
            **({"stopped": self.stopped} if self.stopped else {}),
        }


def _json_floats(d: dict[str, float]) -> dict[str, float | None]:
    # JSON has no NaN; None reads as "undefined".
    return {k: (None if not math.isfinite(x) else round(float(x), 6)) for k, x in d.items()}


def score_tracks(prepared: PreparedVideo, result: TrackResult, query_mode: str) -> dict[str, float]:
    """TAP-Vid metrics of a tracker's output on a prepared video (plus pose metrics for named keypoints).

    Args:
      prepared: from ``studio.benchmark.protocol.prepare_video``.
      result: tracks for ``prepared.queries`` in ``prepared.video`` pixels.
      query_mode: the mode the queries were sampled with.

    Returns:
      ``{key: fraction in [0, 1]}`` for every key of ``METRIC_KEYS``; when the dataset's
      tracks are named COCO-17 keypoints, also the keys of ``POSE_KEYS``
      (``studio.benchmark.metrics.pose``).
    """
    pred_tracks = tracks_to_metric_space(result.tracks, prepared.size)
    pred_occluded = ~np.asarray(result.visible, dtype=bool).T
    m = compute_tapvid_metrics(
        prepared.query_points[None],
        prepared.gt_occluded[None],
        prepared.gt_tracks[None],
        pred_occluded[None],
        pred_tracks[None],
        query_mode,
    )
    out = {k: float(m[k][0]) for k in METRIC_KEYS}
    pose = score_pose(prepared, result, query_mode)
    if pose is not None:
        out.update(pose)
    return out


def score_pose(prepared: PreparedVideo, result: TrackResult, query_mode: str) -> dict[str, float] | None:
    """PCK, OKS and jitter in source-video pixels, or None when the tracks are not named COCO keypoints."""
    if prepared.names is None or prepared.truth_points is None:
        return None
    size = prepared.source_size
    truth = tapvid_to_pixels(prepared.truth_points, size)
    pred = tapvid_to_pixels(pixels_to_tapvid(result.tracks, prepared.size), size)
    return pose_metrics(
        prepared.names,
        truth,
        ~prepared.truth_occluded,
        prepared.track_index,
        np.round(prepared.query_points[:, 0]).astype(np.int64),
        np.swapaxes(pred, 0, 1),
        query_mode,
    )


NO_QUERIES = "no point is visible at a query frame"
"""Why a video is skipped: its ground truth gives no query in the chosen mode."""


def track_and_score(
    tracker: Any,
    video: TapVidVideo,
    query_mode: str,
    resolution: tuple[int, int] | None = METRIC_SIZE,
    stride: int = QUERY_STRIDE,
    progress: ProgressFn | None = None,
) -> tuple[PreparedVideo, TrackResult, VideoScore] | None:
    """Pose one dataset video (``prepare_video``), track its queries and score the result.

    Args:
      tracker: a built tracker (``PointTracker``).
      video: a validated dataset video (frames decoded here).
      query_mode, resolution, stride: as for ``evaluate``.
      progress: ``ProgressFn`` over the tracking of this video.

    Returns:
      ``(prepared, result, score)``, or None when the video has no query (``NO_QUERIES``).
    """
    prepared = prepare_video(video, query_mode, resolution, stride)
    if len(prepared.queries) == 0:
        return None
    t0 = time.perf_counter()
    result = tracker.track(prepared.video, prepared.queries, progress=progress or no_progress)
    seconds = time.perf_counter() - t0
    score = VideoScore(
        name=video.name,
        metrics=score_tracks(prepared, result, query_mode),
        num_queries=len(prepared.queries),
        num_frames=int(prepared.video.shape[0]),
        source_size=prepared.source_size,
        seconds=seconds,
    )
    return prepared, result, score


def evaluate(
    model: str | Any,
    dataset: str | Path | TapVidDataset,
    query_mode: str = "strided",
    resolution: tuple[int, int] | None = METRIC_SIZE,
    max_videos: int | None = None,
    progress: ProgressFn | None = None,
    stride: int = QUERY_STRIDE,
    on_video: Callable[[PreparedVideo, TrackResult, VideoScore], None] | None = None,
    budget: Budget | None = None,
) -> BenchmarkResult:
    """Track every video of a dataset with one model and score it.

    Args:
      model: registry name of a point tracker, or a built tracker (``PointTracker``).
      dataset: a ``.pkl``/``.npz`` file, a folder of them, or an open ``TapVidDataset``.
      query_mode: ``"first"`` or ``"strided"``.
      resolution: ``(H, W)`` the tracker works at; default 256x256 (the standard
        protocol); None = each video's stored size (full resolution).
      max_videos: stop after this many videos.
      progress: ``ProgressFn`` over the whole run.
      stride: strided-mode frame step (5 in the protocol).
      on_video: optional ``on_video(prepared, result, score)`` called after each video
        is scored (e.g. to save its predictions); the prepared video is dropped after it.
      budget: optional time and size ``Budget`` (see the module doc).

    Returns:
      ``BenchmarkResult`` (``stopped`` says why when the budget ended it early).

    Raises:
      ValueError: unknown query mode.
      DatasetError: the dataset cannot be read, breaks the schema (names video and
        field) or holds no videos.
      NothingScored: no video could be scored (each skipped video and why), or the time
        budget ran out before the first video was scored.
      KeyError: unknown model name.
    """
    if query_mode not in QUERY_MODES:
        raise ValueError(f"Unknown query mode {query_mode!r}; expected one of {QUERY_MODES}")
    progress = progress or no_progress
    ds = dataset if isinstance(dataset, TapVidDataset) else open_dataset(dataset)
    if isinstance(model, str):
        from studio.registry import create_tracker

        progress(0.0, f"loading {model}")
        tracker = create_tracker(model)
    else:
        tracker = model
    name = getattr(tracker, "name", "") or type(tracker).__name__
    out = BenchmarkResult(model=name, dataset=ds.name, query_mode=query_mode, resolution=resolution)
    budget = budget or Budget()
    start = time.perf_counter()
    seen = 0
    for item in ds.items(max_videos):
        seen += 1
        lo, hi = item.span
        if budget.over():
            out.stopped = budget.stop_note(len(out.videos), name)
            break
        progress(lo, f"{item.video.name}: reading")
        if budget.max_queries is not None:
            # Queries are known from the ground truth before a frame is decoded.
            count = _count_queries(item.video.occluded, query_mode, stride)
            if count > budget.max_queries:
                where = f" ({budget.queries_setting})" if budget.queries_setting else ""
                out.skipped.append((item.video.name, f"{count} queries, more than the {budget.max_queries} a video "
                                    f"may pose here{where}"))
                continue

        def sub(fraction: float, desc: str = "", _lo=lo, _hi=hi, _name=item.video.name) -> None:
            if budget.over():
                raise _OutOfTime
            progress(_lo + (_hi - _lo) * min(max(fraction, 0.0), 1.0), f"{_name}: {desc}" if desc else _name)

        try:
            scored = track_and_score(tracker, item.video, query_mode, resolution, stride, sub)
        except _OutOfTime:
            out.stopped = budget.stop_note(len(out.videos), name)
            break
        if scored is None:
            out.skipped.append((item.video.name, NO_QUERIES))
            continue
        prepared, result, score = scored
        out.videos.append(score)
        if on_video is not None:
            on_video(prepared, result, score)
        progress(hi, f"{item.video.name}: scored")
    out.seconds = time.perf_counter() - start
    if not out.videos:
        if out.stopped:
            raise NothingScored(f"{name}: {out.stopped.replace(', and the means cover only those', '')}; "
                                "nothing to report: cap the number of videos or run `python -m studio bench`")
        if seen == 0:
            raise DatasetError(f"{ds.name}: the dataset holds no videos")
        reasons = "; ".join(f"{v}: {r}" for v, r in out.skipped[:5])
        more = f" (+{len(out.skipped) - 5} more)" if len(out.skipped) > 5 else ""
        raise NothingScored(f"no video of {ds.name} could be scored with {name}: {reasons}{more}")
    progress(1.0, "done")
    return out


def _count_queries(occluded: np.ndarray, query_mode: str, stride: int) -> int:
    """How many queries ``prepare_video`` would sample, from the ground truth alone."""
    visible = ~np.asarray(occluded, dtype=bool)
    if query_mode == "first":
        return int(visible.any(axis=1).sum())
    return int(visible[:, ::stride].sum())
