"""Benchmark reports: tables, CSV/JSON, published numbers and plots.

Shared by ``python -m studio bench`` (``studio.cli.bench``) and the app's Benchmark
tab (``studio.ui.tab_benchmark``, through ``studio.service.bench_job``), so both show
the same numbers from the same code. No gradio here.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio.benchmark.metrics.published import DATASETS as PUBLISHED_DATASETS
from studio.benchmark.metrics.published import PublishedResult, published
from studio.benchmark.metrics.pose import PCK_ALPHAS, PERCENT_KEYS, POSE_KEYS
from studio.benchmark.metrics.tapvid import METRIC_KEYS, THRESHOLDS
from studio.benchmark.protocol import METRIC_SIZE

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

POSE_COLUMNS: tuple[tuple[str, str], ...] = (
    *((f"PCK@{a:g}", f"pck@{a:g}") for a in PCK_ALPHAS),
    ("OKS", "oks"),
    ("jitter", "jitter"),
    ("jitter_gt", "jitter_gt"),
)
"""(header, key) of the pose columns, added when a dataset's tracks are named COCO-17 keypoints
(PCK and OKS x 100; jitter in % of the person's box per frame^2, prediction and ground truth)."""


def fmt_metric(x: float | None) -> str:
    """A metric already x 100 as printed: one decimal, ``-`` when undefined."""
    return "-" if x is None or not math.isfinite(x) else f"{x:.1f}"


def _fmt_key(key: str, value: float | None) -> str:
    """A reported value (already scaled): jitter with two decimals, everything else with one."""
    if key in PERCENT_KEYS and value is not None and math.isfinite(value):
        return f"{value:.2f}"
    return fmt_metric(value)


def _scaled(key: str, fraction: float) -> float:
    return fraction if key in PERCENT_KEYS else fraction * 100


def columns_of(results: Sequence) -> tuple[tuple[str, str], ...]:
    """The table columns for these results: ``COLUMNS``, plus ``POSE_COLUMNS`` when any has pose metrics."""
    return COLUMNS + (POSE_COLUMNS if any(getattr(r, "has_pose", False) for r in results) else ())


def table_rows(result, columns: Sequence[tuple[str, str]] | None = None) -> tuple[list[str], list[list[str]]]:
    """A ``BenchmarkResult`` as ``(header, rows)`` of strings: one row per video, then the mean (x 100)."""
    columns = columns_of([result]) if columns is None else columns
    header = ["video", "queries"] + [h for h, _ in columns]
    rows = [
        [v.name, str(v.num_queries)]
        + [_fmt_key(k, _scaled(k, v.metrics[k]) if k in v.metrics else None) for _, k in columns]
        for v in result.videos
    ]
    mean = result.mean()
    rows.append([f"mean ({len(result.videos)} videos)", str(sum(v.num_queries for v in result.videos))]
                + [_fmt_key(k, mean.get(k)) for _, k in columns])
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
    columns = columns_of(results)
    headers = ["model", "video", "queries", *UI_HEADERS, *(h for h, _ in columns[len(COLUMNS):]), "sec"]
    rows: list[list[str]] = []
    for r in results:
        _, body = table_rows(r, columns)
        secs = [f"{v.seconds:.2f}" for v in r.videos] + [f"{sum(v.seconds for v in r.videos):.2f}"]
        rows += [[r.model, *row, s] for row, s in zip(body, secs)]
    return headers, rows


def write_csv(path: str | Path, results: Sequence) -> Path:
    """One row per (model, video) and a ``mean`` row per model; metrics x 100."""
    p = Path(path)
    keys = METRIC_KEYS + (POSE_KEYS if any(getattr(r, "has_pose", False) for r in results) else ())

    def cell(key: str, value: float | None) -> str:
        return "" if value is None or not math.isfinite(value) else f"{value:.4f}"

    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "dataset", "query_mode", "video", "num_queries", "num_frames", *keys])
        for r in results:
            for v in r.videos:
                w.writerow([r.model, r.dataset, r.query_mode, v.name, v.num_queries, v.num_frames,
                            *(cell(k, _scaled(k, v.metrics[k]) if k in v.metrics else None) for k in keys)])
            mean = r.mean()
            w.writerow([r.model, r.dataset, r.query_mode, "mean", sum(v.num_queries for v in r.videos), "",
                        *(cell(k, mean.get(k)) for k in keys)])
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
    "track_on": ("Track-On", lambda r: True),
    "track_on2": ("Track-On2", lambda r: True),  # the README's Track-On2 is the DINOv3 release
    "track_on2_dinov2": ("Track-On2 (DINOv2)", lambda r: True),
    "track_on_r": ("Track-On-R", lambda r: True),
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


def jitter_figure(results: Sequence):
    """Pose jitter per video: one bar per model (prediction) and a black tick for the ground truth's own.

    Jitter is the mean second difference of each keypoint's position over three
    consecutive scored frames, in % of the person's box (``studio.benchmark.metrics.pose``).
    Results without pose metrics are left out; the figure says so when none has them.
    """
    from matplotlib.figure import Figure

    posed = [r for r in results if getattr(r, "has_pose", False)]
    fig = Figure(figsize=(6, 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    if not posed:
        ax.text(0.5, 0.5, "no pose metrics: the tracks are not named COCO-17 keypoints", ha="center", va="center",
                fontsize=9, transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    names: list[str] = []
    for r in posed:
        names += [v.name for v in r.videos if v.name not in names]
    n = len(posed)
    width = 0.8 / n
    x = np.arange(len(names))
    gt: dict[str, float] = {}
    for i, r in enumerate(posed):
        by_name = {v.name: v.metrics.get("jitter", np.nan) for v in r.videos}
        for v in r.videos:
            gt.setdefault(v.name, v.metrics.get("jitter_gt", np.nan))
        ys = [by_name.get(name, np.nan) for name in names]
        ax.bar(x + (i - (n - 1) / 2) * width, ys, width, label=f"{r.model} (mean {_fmt_key('jitter', r.mean()['jitter'])})")
    ax.scatter(x, [gt.get(name, np.nan) for name in names], marker="_", s=900, color="black", lw=2,
               label="ground truth", zorder=3)
    ax.set_xticks(x, names, rotation=30 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center",
                  fontsize=8 if len(names) <= 20 else 6)
    ax.set_ylabel("jitter (% of the person's box / frame²)")
    ax.set_title("Keypoint jitter: prediction vs ground truth", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    return fig
