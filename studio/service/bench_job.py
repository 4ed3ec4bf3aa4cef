"""One Benchmark tab run: uploaded TAP-Vid files -> scores of several models -> tables, files and viewer data.

A run (``run_benchmark``) scores each model on one dataset with
``studio.benchmark.runner.evaluate`` (one decoded video in memory at a time) and
writes, in its output folder:

* ``results.csv`` and ``results.json``: the CLI's ``--csv`` / ``--json`` formats
  (``studio.benchmark.report``);
* ``pred/<model>/<index>.npz`` per video: the queries, the prediction and the
  ground truth in working-video pixels (a few kB each; no frames). The viewer
  (``studio.service.bench_view``) re-reads only the chosen video's frames from the
  dataset files when asked, so a run never keeps decoded videos around.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.benchmark.datasets.make_sample import SAMPLE_PICKLE
from studio.benchmark.datasets.tapvid import DatasetError, TapVidDataset, dataset_files
from studio.benchmark.metrics.tapvid import QUERY_MODES
from studio.benchmark.protocol import METRIC_SIZE, PreparedVideo
from studio.benchmark.report import fmt_metric, results_document, write_csv, write_json
from studio.conventions import tapvid_to_pixels
from studio.limits import Limits, setting
from studio.progress import ProgressFn
from studio.registry import query_trackers, tracker_info
from studio.results import InputError, TrackResult

SAMPLE = SAMPLE_PICKLE
"""The bundled 5-clip sample (TAP-Vid-DAVIS pickle layout), written by ``studio.benchmark.datasets.make_sample``."""


def check_models(models: Sequence[str]) -> list[str]:
    """Registry names that can be scored (point trackers and dense models), each once, in order.

    Raises:
      InputError: none given, an unknown name, or a model that takes no query points
        (a flow model such as ``dis``), naming the models that can be scored.
    """
    names = list(dict.fromkeys(m for m in models if m))
    if not names:
        raise InputError("choose at least one tracker")
    allowed = query_trackers()
    for name in names:
        if name in allowed:
            continue
        try:
            kind = tracker_info(name).kind
        except KeyError:
            raise InputError(f"unknown model {name!r}; the benchmark scores {', '.join(allowed)}") from None
        raise InputError(f"'{name}' is a {kind} model, which tracks no query points; the benchmark scores "
                         f"{', '.join(allowed)}")
    return names


def open_files(paths: Sequence[str | os.PathLike], limits: Limits | None = None) -> TapVidDataset:
    """A dataset from uploaded files (or a folder): one or more .pkl/.pickle/.npz, read in name order.

    Args:
      limits: what the files may declare (``studio.limits.Limits``; default from the environment).

    Raises:
      InputError: nothing given. DatasetError: a missing file or wrong suffix.
    """
    paths = [Path(p) for p in paths if p]
    if not paths:
        raise InputError("no dataset: upload TAP-Vid .pkl/.npz files or press “Try the bundled sample”")
    files: list[Path] = []
    for p in paths:
        files += dataset_files(p)
    files = sorted(dict.fromkeys(files), key=lambda f: f.name)
    for f in files:
        if f.stat().st_size == 0:
            raise DatasetError(f"{f.name}: the file is empty")
    if len(files) == 1:
        return TapVidDataset(files[0], files, limits)
    stems = [f.stem for f in files]
    prefix = os.path.commonprefix(stems).rstrip("_-. 0123456789")
    name = prefix if len(prefix) >= 3 else f"{stems[0]}+{len(stems) - 1}"
    return TapVidDataset(files[0].parent / name, files, limits)


# ----------------------------------------------------------------------------- runs


@dataclass
class BenchRun:
    """What one ``run_benchmark`` call produced.

    Attributes:
      dataset: name of the dataset.
      files: the dataset files, in reading order.
      query_mode, resolution: the protocol used (resolution None = full).
      results: ``BenchmarkResult`` per model that ran, in the order asked.
      failures: ``(model, message)`` for models that could not be loaded.
      out_dir: the run's folder.
      csv, json: the downloads.
      predictions: ``{model: {video: npz path}}``.
    """

    dataset: str
    files: list[str]
    query_mode: str
    resolution: tuple[int, int] | None
    results: list = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    out_dir: Path = Path(".")
    csv: Path | None = None
    json: Path | None = None
    predictions: dict[str, dict[str, str]] = field(default_factory=dict)

    def state(self) -> dict[str, Any]:
        """JSON-ready summary for the viewer (kept in the browser session)."""
        return {
            "dataset": self.dataset,
            "files": list(self.files),
            "query_mode": self.query_mode,
            "resolution": list(self.resolution) if self.resolution else None,
            "models": [r.model for r in self.results],
            "videos": {r.model: [v.name for v in r.videos] for r in self.results},
            "num_frames": {v.name: v.num_frames for r in self.results for v in r.videos},
            "out_dir": str(self.out_dir),
            "predictions": self.predictions,
        }

    def status(self) -> str:
        """A few lines for the user: what ran, the means, what failed."""
        res = "x".join(map(str, self.resolution)) if self.resolution else "full resolution"
        lines = [(f"{self.dataset} ({len(self.files)} file{'s' if len(self.files) != 1 else ''}), "
                 f"query mode {self.query_mode}, tracked at {res}")]
        for r in self.results:
            m = r.mean()
            lines.append(
                f"{r.model}: AJ {fmt_metric(m['average_jaccard'])}, δavg {fmt_metric(m['average_pts_within_thresh'])}, "
                f"OA {fmt_metric(m['occlusion_accuracy'])} over {len(r.videos)} videos in {r.seconds:.1f} s"
                + (f"; pose: PCK@0.2 {fmt_metric(m['pck@0.2'])}, OKS {fmt_metric(m['oks'])}, jitter "
                   f"{m['jitter']:.2f} (ground truth {m['jitter_gt']:.2f})" if r.has_pose else "")
            )
            for name, reason in r.skipped:
                lines.append(f"  skipped {name}: {reason}")
            if r.stopped:
                lines.append(f"  {r.stopped}")
        for model, message in self.failures:
            lines.append(f"{model}: not run: {message}")
        return "\n".join(lines)


def _load_errors() -> tuple[type[BaseException], ...]:
    from studio.hub import CheckpointMismatch, WeightsUnavailable

    return (WeightsUnavailable, CheckpointMismatch, KeyError)


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc) or type(exc).__name__


def save_prediction(path: Path, prepared: PreparedVideo, result: TrackResult) -> Path:
    """The viewer's data for one video: queries, prediction and ground truth in working-video pixels."""
    size = prepared.size
    gt_norm = np.swapaxes(prepared.gt_tracks, 0, 1) / np.array(METRIC_SIZE[::-1], dtype=np.float64)
    np.savez_compressed(
        path,
        queries=prepared.queries,
        pred_tracks=np.asarray(result.tracks, np.float32),
        pred_visible=np.asarray(result.visible, bool),
        gt_tracks=tapvid_to_pixels(gt_norm, size).astype(np.float32),
        gt_visible=~np.swapaxes(prepared.gt_occluded, 0, 1),
        track_index=prepared.track_index,
        size=np.array(size),
    )
    return path


def run_benchmark(
    get_tracker: Callable[[str], Any],
    dataset: TapVidDataset,
    models: Sequence[str],
    query_mode: str,
    resolution: tuple[int, int] | None,
    max_videos: int | None,
    out_dir: str | os.PathLike,
    progress: ProgressFn | None = None,
    limits: Limits | None = None,
) -> BenchRun:
    """Score each model on ``dataset``; models whose weights cannot be had are reported and skipped.

    The run has a budget from ``limits``: ``bench_max_seconds`` of wall time for all
    models together (the run stops inside the video that crosses it and reports what
    was scored) and ``max_points`` queries per video (videos with more are skipped).

    Args:
      get_tracker: ``name -> PointTracker`` (e.g. ``TrackingService.tracker``, which caches models).
      dataset: from ``open_files``.
      models: registry names, each run once in the order given.
      query_mode: ``"first"`` or ``"strided"``.
      resolution: ``(256, 256)`` (reference protocol) or None (each video's own size).
      max_videos: score only the first N videos (None = all).
      out_dir: folder for the CSV, JSON and per-video predictions.
      progress: ``ProgressFn`` over the whole run.
      limits: the run's budget (default ``Limits.from_env()``).

    Returns:
      ``BenchRun``.

    Raises:
      InputError: no model, a model that tracks no queries, bad query mode or video cap,
        no model could be loaded (all messages), or nothing could be scored.
      DatasetError: the dataset cannot be read (hostile or malformed pickle, wrong schema,
        sizes beyond the limits, no videos).
    """
    from studio.benchmark.runner import Budget, NothingScored, evaluate

    models = check_models(models)
    limits = limits or Limits.from_env()
    budget = Budget(seconds=limits.bench_max_seconds, max_queries=limits.max_points,
                    time_setting=setting("bench_max_seconds"), queries_setting=setting("max_points"))
    if query_mode not in QUERY_MODES:
        raise InputError(f"unknown query mode {query_mode!r}; choose one of {', '.join(QUERY_MODES)}")
    if max_videos is not None and max_videos < 1:
        raise InputError(f"the video cap must be at least 1, got {max_videos}")
    out = Path(out_dir)
    run = BenchRun(dataset.name, [str(f) for f in dataset.files], query_mode, resolution, out_dir=out)
    n = len(models)
    nothing_scored: list[str] = []
    for i, model in enumerate(models):
        lo, hi = i / n, (i + 1) / n

        def sub(fraction: float, desc: str = "", _lo=lo, _hi=hi, _m=model) -> None:
            if progress is not None:
                progress(_lo + (_hi - _lo) * min(max(fraction, 0.0), 1.0), f"{_m}: {desc}" if desc else _m)

        if budget.over():
            run.failures.append((model, f"not started: the run's {limits.bench_max_seconds} s budget "
                                        f"({setting('bench_max_seconds')}) was spent"))
            continue
        sub(0.0, "loading the model")
        try:
            tracker = get_tracker(model)
        except _load_errors() as exc:
            run.failures.append((model, _message(exc)))
            continue
        pred_dir = out / "pred" / re.sub(r"[^A-Za-z0-9_.-]+", "_", model)
        pred_dir.mkdir(parents=True, exist_ok=True)
        saved: dict[str, str] = {}

        def keep(prepared, result, score, _dir=pred_dir, _saved=saved) -> None:
            _saved[prepared.name] = str(save_prediction(_dir / f"{len(_saved):04d}.npz", prepared, result))

        try:
            result = evaluate(tracker, dataset, query_mode, resolution, max_videos, sub, on_video=keep,
                              budget=budget)
        except NothingScored as exc:
            run.failures.append((model, str(exc)))
            nothing_scored.append(str(exc))
            continue
        result.model = model  # the registry name, as the CLI reports it
        run.results.append(result)
        run.predictions[model] = saved
    if not run.results:
        if len(nothing_scored) == len(run.failures):  # the dataset, not the models: say it once per model
            raise NothingScored(" | ".join(nothing_scored))
        raise InputError("no tracker could be run: " + " | ".join(f"{m}: {msg}" for m, msg in run.failures))
    run.csv = write_csv(out / "results.csv", run.results)
    label = ", ".join(Path(f).name for f in dataset.files)
    run.json = write_json(out / "results.json", results_document(run.results, label, query_mode, resolution is None))
    if progress is not None:
        progress(1.0, "done")
    return run
