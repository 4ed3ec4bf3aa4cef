"""What a comparison shows besides the videos: the table and the disagreement plot (no gradio)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from studio.compare.run import Comparison
from studio.compare.truth import METRICS_SHOWN


TABLE_HEADERS = ("model", "seconds", "reliability check s", "visible %", "mean reliability", "agreement %")
"""The table's columns without ground truth (with it, ``METRICS_SHOWN`` follow)."""


def table(comparison: Comparison) -> tuple[list[str], list[list]]:
    """Column names and one row per model (percentages x100, seconds, NaN as empty)."""
    headers = list(TABLE_HEADERS)
    with_truth = comparison.truth is not None
    if with_truth:
        headers += [name for _, name in METRICS_SHOWN]
    rows = []
    for r in comparison.rows:
        row = [
            r.model,
            round(r.seconds, 2),
            "" if r.check_seconds is None else round(r.check_seconds, 2),
            round(100 * r.visible, 1),
            "" if r.reliability is None or not np.isfinite(r.reliability) else round(r.reliability, 3),
            "" if not np.isfinite(r.agreement) else round(100 * r.agreement, 1),
        ]
        if with_truth:
            row += ["" if not np.isfinite(r.metrics.get(k, np.nan)) else round(100 * r.metrics[k], 1)
                    for k, _ in METRICS_SHOWN]
        rows.append(row)
    return headers, rows


def markdown_table(comparison: Comparison) -> str:
    """The table as Markdown (for the CLI and the README)."""
    headers, rows = table(comparison)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def disagreement_figure(comparison: Comparison, max_rows: int = 400) -> Figure:
    """Per point, how far apart the models are over time.

    Top: the median and the 90th percentile over points of the disagreement per frame, and each
    model's mean distance to the consensus. Bottom: one row per point, coloured by its
    disagreement in pixels (dark = the models agree, bright = they are far apart).

    Returns:
      A matplotlib ``Figure`` (no pyplot state, safe in worker threads).
    """
    d = comparison.disagreement
    t_len, n = d.shape
    # Positions no model shows are guesses on every side: left out (grey).
    shown = np.logical_or.reduce([run.result.visible for run in comparison.runs.values()])
    d_shown = np.where(shown, d, np.nan)
    fig = Figure(figsize=(8, 4.6), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1.2, 2])
    frames = np.arange(t_len)
    if n and shown.any():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # frames where no point is shown
            top.plot(frames, np.nanmedian(d_shown, axis=1), color="black", lw=1.6, label="median over points")
            top.plot(frames, np.nanpercentile(d_shown, 90, axis=1), color="black", lw=1, ls="--",
                     label="90th percentile")
            for run_name, run in comparison.runs.items():
                dist = np.linalg.norm(run.result.tracks - comparison.consensus, axis=-1)
                top.plot(frames, np.nanmean(np.where(shown, dist, np.nan), axis=1), lw=1, alpha=0.8,
                         label=f"{run_name} to consensus")
    top.axhline(comparison.tolerance, color="#dc2626", lw=0.8, ls=":", label=f"tolerance {comparison.tolerance:.1f} px")
    top.set_ylabel("pixels")
    top.grid(alpha=0.3)
    top.legend(fontsize=7, ncol=2, loc="upper left", framealpha=0.8)
    top.set_title(f"Disagreement between {', '.join(comparison.models)} ({n} points)", fontsize=10)
    rows = np.arange(n) if n <= max_rows else np.linspace(0, n - 1, max_rows).round().astype(int)
    vmax = max(4 * comparison.tolerance, 1.0)
    from matplotlib import colormaps

    cmap = colormaps["magma"].with_extremes(bad="#d4d4d4")
    im = bottom.imshow(np.ma.masked_invalid(d_shown[:, rows].T), aspect="auto", interpolation="nearest", cmap=cmap,
                       vmin=0, vmax=vmax,
                       extent=(-0.5, t_len - 0.5, len(rows) - 0.5, -0.5))
    fig.colorbar(im, ax=bottom, label="largest distance between models (px)", shrink=0.9)
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
    bottom.set_ylabel("point" if n <= max_rows else f"point (every {n / len(rows):.1f}th)")
    bottom.set_xlabel("frame")
    return fig


def save_report(comparison: Comparison, path: str | os.PathLike) -> Path:
    """Write ``comparison.to_dict()`` as JSON (NaN as null); returns the path."""
    path = Path(path)

    def clean(x):
        if isinstance(x, float) and not np.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w") as f:
        json.dump(clean(comparison.to_dict()), f, separators=(",", ":"))
    os.replace(tmp, path)
    return path
