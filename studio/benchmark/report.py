"""Benchmark runs and their reports: tables, CSV/JSON, published numbers, plots, GT-vs-prediction views.

Shared by ``python -m studio bench`` (``studio.cli.bench``) and the app's Benchmark
tab (``studio.ui.tab_benchmark``), so both show the same numbers from the same
code. No gradio here.

A tab run (``run_benchmark``) scores several models on one dataset with
``studio.benchmark.runner.evaluate`` (one decoded video in memory at a time) and writes,
in its output folder:

* ``results.csv`` and ``results.json``: the CLI's ``--csv`` / ``--json`` formats;
* ``pred/<model>/<index>.npz`` per video: the queries, the prediction and the
  ground truth in working-video pixels (a few kB each; no frames). The viewer
  re-reads only the chosen video's frames from the dataset files when asked
  (``load_view``), so a run never keeps decoded videos around.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.benchmark.datasets.tapvid import (
    METRIC_SIZE,
    DatasetError,
    PreparedVideo,
    TapVidDataset,
    dataset_files,
    prepare_video,
)
from studio.benchmark.metrics.published import DATASETS as PUBLISHED_DATASETS
from studio.benchmark.metrics.published import PublishedResult, published
from studio.benchmark.metrics.tapvid import METRIC_KEYS, QUERY_MODES, THRESHOLDS
from studio.conventions import tapvid_to_pixels
from studio.progress import ProgressFn
from studio.results import InputError, TrackResult

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "tapvid_sample" / "tapvid_sample.pkl"
"""The bundled 5-clip sample (TAP-Vid-DAVIS pickle layout)."""

# ----------------------------------------------------------------------------- tables

COLUMNS: tuple[tuple[str, str], ...] = (
    ("AJ", "average_jaccard"),
    ("<d_avg", "average_pts_within_thresh"),
    ("OA", "occlusion_accuracy"),
    *((f"<{d}", f"pts_within_{d}") for d in THRESHOLDS),
    *((f"J{d}", f"jaccard_{d}") for d in THRESHOLDS),
)
"""(CLI header, metric key) of the table columns, headline numbers first."""

UI_HEADERS: tuple[str, ...] = ("AJ", "δavg", "OA", *(f"δ<{d}" for d in THRESHOLDS), *(f"J{d}" for d in THRESHOLDS))
"""The same columns as ``COLUMNS`` with typeset names, for the app."""


def fmt_metric(x: float | None) -> str:
    """A metric already x 100 as printed: one decimal, ``-`` when undefined."""
    return "-" if x is None or not math.isfinite(x) else f"{x:.1f}"


def table_rows(result) -> tuple[list[str], list[list[str]]]:
    """A ``BenchmarkResult`` as ``(header, rows)`` of strings: one row per video, then the mean (x 100)."""
    header = ["video", "queries"] + [h for h, _ in COLUMNS]
    rows = [
        [v.name, str(v.num_queries)] + [fmt_metric(v.metrics[k] * 100) for _, k in COLUMNS] for v in result.videos
    ]
    mean = result.mean()
    rows.append([f"mean ({len(result.videos)} videos)", str(sum(v.num_queries for v in result.videos))]
                + [fmt_metric(mean[k]) for _, k in COLUMNS])
    return header, rows


def format_table(result) -> str:
    """A ``BenchmarkResult`` as a plain-text table: one row per video, then the mean (x 100)."""
    header, rows = table_rows(result)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    res = "x".join(map(str, result.resolution)) if result.resolution else "full resolution"
    title = f"{result.model} on {result.dataset}: query mode {result.query_mode}, tracked at {res}"
    title += f", {result.seconds:.1f} s"
    out = [title, line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows[:-1]] + [line(["-" * w for w in widths]), line(rows[-1])]
    for name, reason in result.skipped:
        out.append(f"skipped {name}: {reason}")
    return "\n".join(out)


def results_table(results: Sequence) -> tuple[list[str], list[list[str]]]:
    """All models in one table for the app: ``(headers, rows)``.

    Rows are model x video, then each model's mean row (video ``mean (N videos)``),
    with the same numbers and rounding as ``table_rows`` (the CLI), plus tracking seconds.
    """
    headers = ["model", "video", "queries", *UI_HEADERS, "sec"]
    rows: list[list[str]] = []
    for r in results:
        _, body = table_rows(r)
        secs = [f"{v.seconds:.2f}" for v in r.videos] + [f"{sum(v.seconds for v in r.videos):.2f}"]
        rows += [[r.model, *row, s] for row, s in zip(body, secs)]
    return headers, rows


def write_csv(path: str | Path, results: Sequence) -> Path:
    """One row per (model, video) and a ``mean`` row per model; metrics x 100."""
    p = Path(path)
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "dataset", "query_mode", "video", "num_queries", "num_frames", *METRIC_KEYS])
        for r in results:
            for v in r.videos:
                w.writerow([r.model, r.dataset, r.query_mode, v.name, v.num_queries, v.num_frames,
                            *(f"{v.metrics[k] * 100:.4f}" for k in METRIC_KEYS)])
            mean = r.mean()
            w.writerow([r.model, r.dataset, r.query_mode, "mean", sum(v.num_queries for v in r.videos), "",
                        *(f"{mean[k]:.4f}" for k in METRIC_KEYS)])
    return p


def results_document(results: Sequence, dataset: str, query_mode: str, full_resolution: bool) -> dict[str, Any]:
    """The ``--json`` document: the run's settings and each model's ``BenchmarkResult.to_dict()``."""
    return {
        "dataset": str(dataset),
        "query_mode": query_mode,
        "resolution": "full" if full_resolution else list(METRIC_SIZE),
        "results": [r.to_dict() for r in results],
    }


def write_json(path: str | Path, doc: dict[str, Any]) -> Path:
    p = Path(path)
    p.write_text(json.dumps(doc, indent=2))
    return p


# ----------------------------------------------------------------------------- published numbers

PUBLISHED_NAMES: dict[str, tuple[str, Callable[[PublishedResult], bool]]] = {
    "cotracker1": ("CoTracker", lambda r: True),
    "cotracker2": ("CoTracker2", lambda r: True),
    "cotracker2_online": ("CoTracker2", lambda r: True),
    "cotracker2v1": ("CoTracker2.1", lambda r: True),
    "cotracker2v1_online": ("CoTracker2.1", lambda r: True),
    "cotracker3_offline": ("CoTracker3 offline", lambda r: "Kubric only" not in r.note),
    "cotracker3_online": ("CoTracker3 online", lambda r: "Kubric only" not in r.note),
    "cotracker3_online_baseline": ("CoTracker3 online", lambda r: "Kubric only" in r.note),
}
"""Registry name -> (method name in ``studio.benchmark.metrics.published``, which of its rows fit the checkpoint)."""

PUBLISHED_HEADERS = ["model", "published as", "AJ", "δavg", "OA", "resolution", "source", "note"]

_BENCHMARK_WORDS = (
    ("rgb_stacking", ("rgb_stacking", "rgbstacking", "stacking")),
    ("robotap", ("robotap",)),
    ("kinetics", ("kinetics",)),
    ("davis", ("davis",)),
)


def guess_benchmark(name: str) -> str | None:
    """The published benchmark a dataset name refers to (``tapvid_davis`` -> ``davis``), or None."""
    n = re.sub(r"[-\s]+", "_", name.lower())
    for key, words in _BENCHMARK_WORDS:
        if any(w in n for w in words):
            return key
    return None


def published_for(model: str, benchmark: str | None, query_mode: str) -> list[PublishedResult]:
    """Published rows for a registry model on a benchmark and query mode (empty when none)."""
    if benchmark not in PUBLISHED_DATASETS or model not in PUBLISHED_NAMES:
        return []
    method, fits = PUBLISHED_NAMES[model]
    return [r for r in published(benchmark, query_mode) if r.model == method and fits(r)]


def _dash(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}"


def published_table(models: Sequence[str], benchmark: str | None, query_mode: str) -> list[list[str]]:
    """Rows under ``PUBLISHED_HEADERS``: every published number for each model, or one row of ``—``."""
    rows = []
    for model in models:
        found = published_for(model, benchmark, query_mode)
        if not found:
            why = (
                "not a published benchmark" if benchmark is None
                else "no published number for this model" if model in PUBLISHED_NAMES
                else "no published checkpoint of this model"
            )
            rows.append([model, "—", "—", "—", "—", "—", "—", why])
        for r in found:
            rows.append([model, r.model, _dash(r.aj), _dash(r.delta_avg), _dash(r.oa), r.resolution,
                         f"[{r.tag}] {r.source}", r.note])
    return rows


# ----------------------------------------------------------------------------- plots


def delta_figure(results: Sequence):
    """δ<d (points within d pixels at 256x256) per threshold, one line per model (mean over videos)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    for r in results:
        mean = r.mean()
        ys = [mean[f"pts_within_{d}"] for d in THRESHOLDS]
        ax.plot(THRESHOLDS, ys, marker="o", lw=1.8,
                label=f"{r.model} (δavg {fmt_metric(mean['average_pts_within_thresh'])})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(THRESHOLDS, [str(d) for d in THRESHOLDS])
    ax.set_ylim(0, 102)
    ax.set_xlabel("threshold d (pixels at 256×256)")
    ax.set_ylabel("δ<d: points within d (%)")
    ax.set_title("Position accuracy by threshold", fontsize=10)
    ax.grid(alpha=0.3)
    if results:
        ax.legend(loc="lower right", fontsize=8)
    return fig


def aj_figure(results: Sequence):
    """Average Jaccard per video, grouped bars with one colour per model."""
    from matplotlib.figure import Figure

    names: list[str] = []
    for r in results:
        names += [v.name for v in r.videos if v.name not in names]
    fig = Figure(figsize=(6, 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    n = max(len(results), 1)
    width = 0.8 / n
    x = np.arange(len(names))
    for i, r in enumerate(results):
        by_name = {v.name: v.metrics["average_jaccard"] * 100 for v in r.videos}
        ys = [by_name.get(name, np.nan) for name in names]
        ax.bar(x + (i - (n - 1) / 2) * width, ys, width, label=f"{r.model} (mean {fmt_metric(r.mean()['average_jaccard'])})")
    ax.set_xticks(x, names, rotation=30 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center",
                  fontsize=8 if len(names) <= 20 else 6)
    ax.set_ylim(0, 122)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("AJ (%)")
    ax.set_title("Average Jaccard per video", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    if results:
        ax.legend(loc="upper center", fontsize=8, ncol=min(n, 3), frameon=False)
    return fig


# ----------------------------------------------------------------------------- datasets


def open_files(paths: Sequence[str | os.PathLike]) -> TapVidDataset:
    """A dataset from uploaded files (or a folder): one or more .pkl/.pickle/.npz, read in name order.

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
        return TapVidDataset(files[0], files)
    stems = [f.stem for f in files]
    prefix = os.path.commonprefix(stems).rstrip("_-. 0123456789")
    name = prefix if len(prefix) >= 3 else f"{stems[0]}+{len(stems) - 1}"
    return TapVidDataset(files[0].parent / name, files)


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
            )
            for name, reason in r.skipped:
                lines.append(f"  skipped {name}: {reason}")
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
) -> BenchRun:
    """Score each model on ``dataset``; models whose weights cannot be had are reported and skipped.

    Args:
      get_tracker: ``name -> PointTracker`` (e.g. ``TrackingService.tracker``, which caches models).
      dataset: from ``open_files``.
      models: registry names, each run once in the order given.
      query_mode: ``"first"`` or ``"strided"``.
      resolution: ``(256, 256)`` (reference protocol) or None (each video's own size).
      max_videos: score only the first N videos (None = all).
      out_dir: folder for the CSV, JSON and per-video predictions.
      progress: ``ProgressFn`` over the whole run.

    Returns:
      ``BenchRun``.

    Raises:
      InputError: no model, bad query mode or video cap, or no model could be loaded (all messages).
      DatasetError: the dataset cannot be read (hostile or malformed pickle, wrong schema).
    """
    from studio.benchmark.runner import evaluate

    models = list(dict.fromkeys(m for m in models if m))
    if not models:
        raise InputError("choose at least one tracker")
    if query_mode not in QUERY_MODES:
        raise InputError(f"unknown query mode {query_mode!r}; choose one of {', '.join(QUERY_MODES)}")
    if max_videos is not None and max_videos < 1:
        raise InputError(f"the video cap must be at least 1, got {max_videos}")
    out = Path(out_dir)
    run = BenchRun(dataset.name, [str(f) for f in dataset.files], query_mode, resolution, out_dir=out)
    n = len(models)
    for i, model in enumerate(models):
        lo, hi = i / n, (i + 1) / n

        def sub(fraction: float, desc: str = "", _lo=lo, _hi=hi, _m=model) -> None:
            if progress is not None:
                progress(_lo + (_hi - _lo) * min(max(fraction, 0.0), 1.0), f"{_m}: {desc}" if desc else _m)

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

        result = evaluate(tracker, dataset, query_mode, resolution, max_videos, sub, on_video=keep)
        result.model = model  # the registry name, as the CLI reports it
        run.results.append(result)
        run.predictions[model] = saved
    if not run.results:
        raise InputError("no tracker could be run: " + " | ".join(f"{m}: {msg}" for m, msg in run.failures))
    run.csv = write_csv(out / "results.csv", run.results)
    label = ", ".join(Path(f).name for f in dataset.files)
    run.json = write_json(out / "results.json", results_document(run.results, label, query_mode, resolution is None))
    if progress is not None:
        progress(1.0, "done")
    return run


# ----------------------------------------------------------------------------- viewer


def parse_point_selection(text: str, count: int, default: int = 10) -> np.ndarray:
    """Query indices from text: ``first 10``, ``all``, ``3, 5, 8-12`` (empty = the first ``default``).

    Raises:
      InputError: unreadable text or an index outside ``0..count-1``.
    """
    t = (text or "").strip().lower()
    if count <= 0:
        raise InputError("this video has no queries")
    if not t:
        return np.arange(min(default, count))
    if t == "all":
        return np.arange(count)
    m = re.fullmatch(r"first\s*(\d+)", t)
    if m:
        k = int(m.group(1))
        if k < 1:
            raise InputError("choose at least one point")
        return np.arange(min(k, count))
    out: list[int] = []
    for part in re.split(r"[,\s]+", t):
        if not part:
            continue
        r = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not r:
            raise InputError(
                f"cannot read {part!r} as point indices; write e.g. 'first 10', 'all' or '0, 3, 5-8'"
            )
        a, b = int(r.group(1)), int(r.group(2) or r.group(1))
        if b < a:
            a, b = b, a
        if b >= count:
            raise InputError(f"point {b} does not exist: this video has queries 0..{count - 1}")
        out += range(a, b + 1)
    return np.array(list(dict.fromkeys(out)), dtype=int)


@dataclass
class ViewData:
    """One video of a run, ready to draw: frames and tracks in working-video pixels."""

    name: str
    model: str
    frames: np.ndarray
    queries: np.ndarray
    pred_tracks: np.ndarray
    pred_visible: np.ndarray
    gt_tracks: np.ndarray
    gt_visible: np.ndarray


_VIEW_CACHE: dict[tuple, PreparedVideo] = {}


def load_view(state: dict[str, Any], model: str, video: str) -> ViewData:
    """The frames and tracks of one video of a run; only that video is decoded (the last one is cached).

    Raises:
      InputError: no run, or a model/video not in it. DatasetError: the dataset files are gone.
    """
    if not state or not state.get("predictions"):
        raise InputError("run a benchmark first")
    preds = state["predictions"].get(model)
    if preds is None:
        raise InputError(f"{model!r} is not in the last run; choose one of {', '.join(state['predictions'])}")
    if video not in preds:
        raise InputError(f"video {video!r} was not scored for {model} in the last run")
    npz_path = Path(preds[video])
    if not npz_path.is_file():
        raise InputError("the last run's files were cleaned up; run the benchmark again")
    res = tuple(state["resolution"]) if state.get("resolution") else None
    key = (tuple(state["files"]), video, state["query_mode"], res)
    prepared = _VIEW_CACHE.get(key)
    if prepared is None:
        files = [Path(f) for f in state["files"]]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise InputError(f"the dataset files are gone ({', '.join(missing)}); upload them and run again")
        ds = TapVidDataset(files[0], files)
        for item in ds.items():
            if item.video.name == video:
                prepared = prepare_video(item.video, state["query_mode"], res)
                break
        if prepared is None:
            raise DatasetError(f"video {video!r} is no longer in the dataset files")
        _VIEW_CACHE.clear()
        _VIEW_CACHE[key] = prepared
    with np.load(npz_path) as z:
        data = {k: z[k] for k in z.files}
    if len(data["queries"]) != len(prepared.queries):
        raise InputError("the saved predictions do not match the dataset files; run the benchmark again")
    return ViewData(video, model, prepared.video, data["queries"], data["pred_tracks"], data["pred_visible"],
                    data["gt_tracks"], data["gt_visible"])


def comparison_frames(view: ViewData, indices: np.ndarray, min_side: int = 256, tail: int = 4) -> np.ndarray:
    """Side-by-side frames: ground truth (left) and prediction (right) for the chosen queries.

    Both panels use the studio's point renderer with one colour per query: a filled
    disc where the point is visible, a ring where it is occluded. On the prediction
    panel a thin white line joins each point to its ground-truth position (where the
    ground truth is visible), so the error shows as a line's length.

    Returns:
      uint8 [T, H', 2 W' + gap, 3], frames upscaled so the shorter side is at least ``min_side``.
    """
    import cv2

    from studio.render.points import draw_points, point_colors

    frames = view.frames
    t_len, h, w, _ = frames.shape
    scale = max(1, math.ceil(min_side / min(h, w)))
    if scale > 1:
        frames = np.stack([cv2.resize(f, (w * scale, h * scale), interpolation=cv2.INTER_LINEAR) for f in frames])

    def up(xy: np.ndarray) -> np.ndarray:
        # Pixel centres: x_up = (x + 0.5) * s - 0.5.
        return (xy[:, indices].astype(np.float64) + 0.5) * scale - 0.5

    gt, pred = up(view.gt_tracks), up(view.pred_tracks)
    gt_vis, pred_vis = view.gt_visible[:, indices], view.pred_visible[:, indices]
    colors = point_colors(len(indices))
    radius = max(3.0, min(frames.shape[1:3]) / 80)
    left = draw_points(frames, gt, gt_vis, tail=tail, radius=radius, colors=colors)
    right = frames.copy()
    shift = 4
    for t in range(t_len):
        for j in np.flatnonzero(gt_vis[t]):
            a = tuple(round(v * (1 << shift)) for v in gt[t, j])
            b = tuple(round(v * (1 << shift)) for v in pred[t, j])
            cv2.line(right[t], a, b, (255, 255, 255), 1, cv2.LINE_AA, shift)
    right = draw_points(right, pred, pred_vis, tail=tail, radius=radius, colors=colors)
    base = left.shape[1] - 8  # captions at the bottom: players put their own labels at the top
    for panel, text in ((left, "ground truth"), (right, f"prediction: {view.model}")):
        for t, f in enumerate(panel):
            for txt, org in ((text, (6, base)), (f"{t}", (f.shape[1] - 8 - 9 * len(str(t)), base))):
                cv2.putText(f, txt, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(f, txt, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    gap = np.full((t_len, left.shape[1], 8, 3), 255, np.uint8)
    return np.concatenate([left, gap, right], axis=2)


def view_summary(view: ViewData, indices: np.ndarray) -> str:
    """Markdown: which points are shown and their error (working pixels) where the ground truth is visible."""
    gt_vis = view.gt_visible[:, indices]
    err = np.linalg.norm(view.pred_tracks[:, indices] - view.gt_tracks[:, indices], axis=-1)
    err = err[gt_vis & np.isfinite(err)]
    agree = (view.pred_visible[:, indices] == gt_vis).mean() * 100 if gt_vis.size else math.nan
    h, w = view.frames.shape[1:3]
    shown = ", ".join(str(i) for i in indices[:20]) + (f", … ({len(indices)} in all)" if len(indices) > 20 else "")
    text = (f"**{view.name}**, {view.model}: queries {shown} of {len(view.queries)}; "
            f"{view.frames.shape[0]} frames at {w}×{h}. ")
    if err.size:
        text += (f"Error where the point is visible: median {np.median(err):.2f} px, "
                 f"mean {err.mean():.2f} px; visibility agrees on {agree:.0f}% of frames.")
    return text


def render_comparison(view: ViewData, indices: np.ndarray, out_dir: str | os.PathLike, frame: int | None = None,
                      fps: float = 8.0) -> tuple[Path, np.ndarray]:
    """The side-by-side view as an MP4 in ``out_dir`` and one still frame (default: the middle one)."""
    from studio.io.video import write_video

    frames = comparison_frames(view, indices)
    t = frames.shape[0] // 2 if frame is None else int(np.clip(frame, 0, frames.shape[0] - 1))
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{view.model}_{view.name}")[:80]
    path = Path(write_video(Path(out_dir) / f"{stem}_gt_vs_pred.mp4", frames, fps))
    return path, frames[t]
