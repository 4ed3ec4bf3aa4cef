"""The same queries through 2-4 trackers, and what their answers say together.

``compare_runs`` takes finished runs (``studio.pipeline.TrackRun``, tracks in source
pixels, one per model, same queries) and measures:

* **disagreement** [T, N]: the largest distance between any two models' positions of a
  point on a frame (pixels); where all models agree it is near 0;
* **consensus** [T, N, 2]: the per-coordinate median of the models' positions;
* per model: seconds, share of positions shown visible, mean reliability (when checked),
  **agreement**: the share of its visible positions within the tolerance of the consensus,
  and, with ground truth (``studio.compare.truth``), AJ / delta_avg / OA.

``compare_models`` runs the trackers first (``track_video``), for scripts and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from studio.io.video import Video
from studio.pipeline import TrackRun, track_video
from studio.progress import ProgressFn, no_progress
from studio.reliability import tolerance_px
from studio.results import InputError

MIN_MODELS, MAX_MODELS = 2, 4


def check_models(models: list[str]) -> list[str]:
    """2-4 distinct registry names of query trackers, in order; InputError otherwise."""
    from studio.registry import QUERY_KINDS, tracker_info

    names = [m.strip() for m in models if m and m.strip()]
    if len(set(names)) != len(names):
        raise InputError(f"a model is named twice: {', '.join(names)}")
    if not MIN_MODELS <= len(names) <= MAX_MODELS:
        raise InputError(f"compare {MIN_MODELS} to {MAX_MODELS} models, got {len(names)}: {', '.join(names) or 'none'}")
    for name in names:
        if tracker_info(name).kind not in QUERY_KINDS:
            raise InputError(f"'{name}' is a {tracker_info(name).kind} model; choose point trackers or dense models")
    return names


@dataclass
class ModelRow:
    """One model's line of the comparison table (fractions in [0, 1], None = not measured)."""

    model: str
    seconds: float
    check_seconds: float | None
    visible: float
    reliability: float | None
    agreement: float
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {
            "model": self.model,
            "seconds": round(self.seconds, 3),
            "reliability_seconds": None if self.check_seconds is None else round(self.check_seconds, 3),
            "visible": round(self.visible, 4),
            "mean_reliability": None if self.reliability is None else round(self.reliability, 4),
            "agreement": round(self.agreement, 4),
        }
        out.update({k: (None if not np.isfinite(v) else round(v, 4)) for k, v in self.metrics.items()})
        return out


@dataclass
class Comparison:
    """Several models' tracks for the same queries, compared.

    Attributes:
      runs: ``{model: TrackRun}`` in the order given (tracks in source pixels).
      queries: [N, 3] ``(t, x, y)`` source pixels.
      size: source ``(H, W)``.
      consensus: [T, N, 2] float32 per-coordinate median of the models' positions.
      disagreement: [T, N] float32 pixels: the largest distance between two models' positions.
      tolerance: pixels within which a position agrees with the consensus (``tolerance_px``).
      rows: one ``ModelRow`` per model.
      truth: the ``Truth`` scored against, or None.
    """

    runs: dict[str, TrackRun]
    queries: np.ndarray
    size: tuple[int, int]
    consensus: np.ndarray
    disagreement: np.ndarray
    tolerance: float
    rows: list[ModelRow]
    truth: object | None = None

    @property
    def models(self) -> list[str]:
        return list(self.runs)

    def status(self) -> str:
        """One line: the models, the points, where they disagree most."""
        t_len, n = self.disagreement.shape
        # Judged where every model shows the point (a hidden point's position is only a guess).
        shown = np.logical_and.reduce([run.result.visible for run in self.runs.values()])
        shown[self.queries[:, 0].astype(int), np.arange(n)] = False
        apart = (self.disagreement > self.tolerance) & shown
        share = apart.sum() / max(shown.sum(), 1)
        # One decimal below 10% so that a few positions do not read as "0%".
        percent = f"{100 * share:.1f}%" if share < 0.1 else f"{share:.0%}"
        line = (f"{len(self.runs)} models, {n} points x {t_len} frames; where all show a point they are more than "
                f"{self.tolerance:.1f} px apart on {percent} of the positions")
        if n and apart.any():
            most = int(np.argmax(apart.sum(axis=0)))
            frames = int(apart[:, most].sum())
            line += f" (most on point {most}: {frames} frame{'s' if frames != 1 else ''})"
        best = max(self.rows, key=lambda r: r.agreement)
        line += f"; closest to the consensus: {best.model} ({best.agreement:.0%})"
        if self.truth is not None and all("average_jaccard" in r.metrics for r in self.rows):
            top = max(self.rows, key=lambda r: np.nan_to_num(r.metrics["average_jaccard"], nan=-1))
            line += f"; best AJ: {top.model} ({100 * top.metrics['average_jaccard']:.1f})"
        return line

    def to_dict(self) -> dict:
        """The JSON report: table, tolerance, disagreement over time per point, truth source."""
        t_len, n = self.disagreement.shape
        return {
            "format": "tracking-studio/compare",
            "version": 1,
            "models": self.models,
            "points": n,
            "frames": t_len,
            "size": list(self.size),
            "queries": np.round(self.queries, 3).tolist(),
            "tolerance_px": round(self.tolerance, 3),
            "table": [r.to_dict() for r in self.rows],
            "truth": None if self.truth is None else {"source": self.truth.source, "query_mode": self.truth.query_mode},
            "disagreement_px": {
                "median_per_frame": np.round(np.median(self.disagreement, axis=1), 3).tolist() if n else [],
                "per_frame_and_point": np.round(self.disagreement, 2).tolist(),
            },
        }


def compare_runs(runs: dict[str, TrackRun], truth=None) -> Comparison:
    """Compare finished runs of the same queries (see the module docstring).

    Args:
      runs: ``{model: TrackRun}``, 2-4 of them, tracks [T, N, 2] in the same source pixels.
      truth: optional ``studio.compare.truth.Truth`` for these queries.

    Raises:
      InputError: runs of different shapes or queries.
    """
    results = [r.result for r in runs.values()]
    first = results[0]
    for name, r in zip(runs, results):
        if r.tracks.shape != first.tracks.shape or not np.allclose(r.queries, first.queries, atol=1e-3):
            raise InputError(f"{name} tracked other queries or frames than {next(iter(runs))}")
    stack = np.stack([r.tracks for r in results])  # [M, T, N, 2]
    consensus = np.median(stack, axis=0).astype(np.float32)
    # Largest distance between any two models' positions, [T, N] (pair by pair: no [M, M, T, N] array).
    disagreement = np.zeros(first.visible.shape, np.float32)
    for i in range(len(stack)):
        for j in range(i + 1, len(stack)):
            np.maximum(disagreement, np.linalg.norm(stack[i] - stack[j], axis=-1), out=disagreement)
    size = tuple(int(v) for v in first.size)
    tol = tolerance_px(size)
    t_len, n = first.visible.shape
    judged = np.ones((t_len, n), bool)
    judged[first.queries[:, 0].astype(int), np.arange(n)] = False
    rows = []
    for (name, run), r, tracks in zip(runs.items(), results, stack):
        shown = r.visible & judged
        close = np.linalg.norm(tracks - consensus, axis=-1) <= tol
        rel = None
        if r.reliability is not None:
            rel = float(r.reliability[r.visible].mean()) if r.visible.any() else float("nan")
        metrics = truth.score(r, size) if truth is not None else {}
        rows.append(ModelRow(
            model=name,
            seconds=run.seconds,
            check_seconds=None if run.check is None else run.check.seconds,
            visible=float(r.visible.mean()),
            reliability=rel,
            agreement=float(close[shown].mean()) if shown.any() else float("nan"),
            metrics=metrics,
        ))
    return Comparison(runs, first.queries, size, consensus, disagreement, tol, rows, truth)


def compare_models(
    video: Video,
    queries: np.ndarray,
    models: list[str],
    reliability: bool = True,
    truth=None,
    trackers: dict | None = None,
    progress: ProgressFn | None = None,
) -> Comparison:
    """Track ``queries`` (source pixels) through ``video`` with each model, then ``compare_runs``.

    Args:
      video: the decoded video.
      queries: [N, 3] ``(t, x, y)`` source pixels (with ``truth``, its queries).
      models: 2-4 registry names.
      reliability: also check each model's positions (``studio.reliability``).
      truth: optional ground truth for the queries.
      trackers: optional ``{name: built tracker}`` to reuse.
      progress: ``ProgressFn`` over all models.
    """
    models = check_models(models)
    progress = progress or no_progress
    runs = {}
    for k, name in enumerate(models):
        def part(f, d="", _k=k, _name=name):
            progress((_k + min(max(f, 0.0), 1.0)) / len(models), f"{_name}: {d}" if d else _name)

        runs[name] = track_video(video, queries, name, tracker=(trackers or {}).get(name), progress=part,
                                 reliability=reliability)
    return compare_runs(runs, truth)
