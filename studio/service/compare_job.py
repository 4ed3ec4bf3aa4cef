"""One Compare request: the same queries through 2-4 trackers -> two videos, a plot, a table and files.

Each model is tracked by the Track job's GPU step (``track_job._track_on_device``: one
reservation per model on ZeroGPU, the model from the service's cache), with the
reliability check when asked. Drawing, encoding and the report run outside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.compare import (
    Comparison, check_models, compare_runs, disagreement_figure, load_truth, overlay, save_report, side_by_side,
)
from studio.compare.views import working_tracks
from studio.io.trackfile import save_tracks
from studio.io.video import write_video
from studio.progress import ProgressFn
from studio.results import InputError
from studio.service.outputs import safe_stem
from studio.service.track_job import _scaled, _track_on_device
from studio.service.zerogpu import on_zero_gpu


@dataclass
class CompareOutput:
    """What one Compare request produced.

    Attributes:
      comparison: the ``Comparison`` (runs in source pixels, disagreement, table rows).
      side_by_side: H.264 MP4, one panel per model.
      overlay: H.264 MP4, all models on the same frames, one marker shape per model.
      plot: the disagreement plot as a PNG.
      report: the JSON report.
      tracks: ``{model: npz path}``.
      notices: what was changed on the input.
    """

    comparison: Comparison
    side_by_side: Path
    overlay: Path
    plot: Path
    report: Path
    tracks: dict[str, Path]
    notices: list[str] = field(default_factory=list)

    def files(self) -> list[Path]:
        """Every file to offer for download: the report, the tracks, the plot and both videos."""
        return [self.report, *self.tracks.values(), self.plot, self.side_by_side, self.overlay]

    def status(self) -> str:
        line = self.comparison.status()
        if self.notices:
            line += " | note: " + "; ".join(self.notices)
        return line


def run_compare(
    service: Any,
    path: str,
    queries: np.ndarray | None,
    models: list[str],
    reliability: bool = True,
    truth_path: str | None = None,
    truth_video: str | None = None,
    tail: int = 8,
    progress: ProgressFn | None = None,
) -> CompareOutput:
    """Track the same queries with each model and compare them.

    Args:
      service: the ``TrackingService``.
      path: the video file.
      queries: [N, 3] ``(t, x, y)`` source pixels; ignored (may be None) when ``truth_path`` is given.
      models: 2-4 registry names of query trackers.
      reliability: check every model's positions (``studio.reliability``); the table's mean
        reliability needs it.
      truth_path: optional ground truth for the clip (TAP-Vid file or track file): its queries
        are tracked and the table adds AJ, delta_avg and OA.
      truth_video: which video of a TAP-Vid file holding several.
      tail: trail length in the videos.
      progress: ``ProgressFn`` over the request.

    Raises:
      InputError / VideoError: bad video, queries, truth file or model list (one sentence).
      KeyError: unknown model. WeightsUnavailable: weights that cannot be had.
    """
    models = check_models(models)
    video = service.load_video(path, progress=_scaled(progress, 0.0, 0.05))
    truth = None
    if truth_path:
        truth = load_truth(truth_path, tuple(video.source_size), video.num_frames, truth_video or None,
                           service.limits)
        queries = truth.queries
    if queries is None:
        raise InputError("no queries: give points, a grid or a ground-truth file")
    q = service.check_queries(path, queries)
    runs = {}
    span = 0.75 / len(models)
    for k, name in enumerate(models):
        if progress is not None:
            progress(0.05 + k * span, f"loading {name}")
        service.tracker(name)  # load in this process, before any GPU worker is forked
        part = None if on_zero_gpu() else _scaled(progress, 0.05 + k * span, 0.05 + (k + 1) * span)
        if part is not None:
            part = _named(part, name)
        runs[name] = _track_on_device(id(service), os.path.abspath(path), q, name, part, bool(reliability))
    comparison = compare_runs(runs, truth)

    out_dir = service.new_output_dir()
    stem = safe_stem(path)
    if progress is not None:
        progress(0.8, "drawing the views")
    tracks = working_tracks(comparison, video.size)
    side = Path(write_video(out_dir / f"{stem}_compare.mp4", side_by_side(video.frames, tracks, int(tail)), video.fps))
    if progress is not None:
        progress(0.9, "drawing the overlay")
    over = Path(write_video(out_dir / f"{stem}_compare_overlay.mp4", overlay(video.frames, tracks), video.fps))
    plot = out_dir / f"{stem}_disagreement.png"
    disagreement_figure(comparison).savefig(plot)
    report = save_report(comparison, out_dir / f"{stem}_compare.json")
    files = {name: save_tracks(run.result, out_dir / f"{stem}_{name}.npz") for name, run in comparison.runs.items()}
    if progress is not None:
        progress(1.0, "done")
    return CompareOutput(comparison, side, over, plot, report, files, list(video.notices))


def _named(progress: ProgressFn, name: str) -> ProgressFn:
    return lambda fraction, desc="": progress(fraction, f"{name}: {desc}" if desc else name)
