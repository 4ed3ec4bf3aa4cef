"""Run a registry point tracker over a TAP-Vid dataset and score it (no gradio here).

Videos are read, decoded, tracked and scored one at a time, so a Kinetics shard
never has more than one decoded video in memory. Per-video metrics are the
reference's (``studio.benchmark.metrics.compute_tapvid_metrics``, fractions in [0, 1]);
the benchmark number is their plain mean over videos, x 100, as papers report.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.benchmark.datasets.tapvid import TapVidDataset, open_dataset
from studio.benchmark.metrics.tapvid import METRIC_KEYS, QUERY_MODES, compute_tapvid_metrics
from studio.benchmark.protocol import METRIC_SIZE, QUERY_STRIDE, PreparedVideo, prepare_video, tracks_to_metric_space
from studio.progress import ProgressFn, no_progress
from studio.results import TrackResult


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
      skipped: ``(video, reason)`` for videos that could not be scored (no visible point).
      seconds: wall time of the whole run.
    """

    model: str
    dataset: str
    query_mode: str
    resolution: tuple[int, int] | None
    videos: list[VideoScore] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def mean(self) -> dict[str, float]:
        """Benchmark numbers x 100: the mean over videos of each metric.

        Videos where a metric is undefined (NaN: nothing visible to score) are left
        out of that metric's mean; NaN when no video has it.
        """
        out = {}
        for key in METRIC_KEYS:
            vals = np.array([v.metrics[key] for v in self.videos], dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            out[key] = float(vals.mean() * 100) if vals.size else math.nan
        return out

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
                    **_json_floats({k: x * 100 for k, x in v.metrics.items()}),
                }
                for v in self.videos
            ],
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
            "seconds": round(self.seconds, 3),
        }


def _json_floats(d: dict[str, float]) -> dict[str, float | None]:
    # JSON has no NaN; None reads as "undefined".
    return {k: (None if not math.isfinite(x) else round(float(x), 6)) for k, x in d.items()}


def score_tracks(prepared: PreparedVideo, result: TrackResult, query_mode: str) -> dict[str, float]:
    """TAP-Vid metrics of a tracker's output on a prepared video.

    Args:
      prepared: from ``studio.benchmark.protocol.prepare_video``.
      result: tracks for ``prepared.queries`` in ``prepared.video`` pixels.
      query_mode: the mode the queries were sampled with.

    Returns:
      ``{key: fraction in [0, 1]}`` for every key of ``METRIC_KEYS``.
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
    return {k: float(m[k][0]) for k in METRIC_KEYS}


def evaluate(
    model: str | Any,
    dataset: str | Path | TapVidDataset,
    query_mode: str = "strided",
    resolution: tuple[int, int] | None = METRIC_SIZE,
    max_videos: int | None = None,
    progress: ProgressFn | None = None,
    stride: int = QUERY_STRIDE,
    on_video: Callable[[PreparedVideo, TrackResult, VideoScore], None] | None = None,
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

    Returns:
      ``BenchmarkResult``.

    Raises:
      ValueError: unknown query mode.
      DatasetError: the dataset cannot be read or breaks the schema (names video and field).
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
    start = time.perf_counter()
    for item in ds.items(max_videos):
        lo, hi = item.span
        progress(lo, f"{item.video.name}: reading")
        prepared = prepare_video(item.video, query_mode, resolution, stride)
        if len(prepared.queries) == 0:
            out.skipped.append((item.video.name, "no point is visible at a query frame"))
            continue

        def sub(fraction: float, desc: str = "", _lo=lo, _hi=hi, _name=item.video.name) -> None:
            progress(_lo + (_hi - _lo) * min(max(fraction, 0.0), 1.0), f"{_name}: {desc}" if desc else _name)

        t0 = time.perf_counter()
        result = tracker.track(prepared.video, prepared.queries, progress=sub)
        seconds = time.perf_counter() - t0
        score = VideoScore(
            name=item.video.name,
            metrics=score_tracks(prepared, result, query_mode),
            num_queries=len(prepared.queries),
            num_frames=int(prepared.video.shape[0]),
            source_size=prepared.source_size,
            seconds=seconds,
        )
        out.videos.append(score)
        if on_video is not None:
            on_video(prepared, result, score)
        progress(hi, f"{item.video.name}: scored")
    out.seconds = time.perf_counter() - start
    progress(1.0, "done")
    return out
