"""``check_tracks``: the reliability of a ``TrackResult`` from its return trips (``returns``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from studio.progress import ProgressFn, no_progress
from studio.reliability import returns
from studio.reliability.score import reliability_from_error, tolerance_px
from studio.results import InputError, TrackResult, check_video

ENGINES = ("auto", "jump", "model")
"""``jump``: one jump per frame back to the query frame, by template matching (cheap, weight-free); ``model``: the
tracker itself once more on the backward queries (dense trackers: their field from each frame);
``auto``: ``jump`` for weight-free models, ``model`` for neural ones."""


@dataclass
class ReliabilityCheck:
    """Reliability of one result and what it cost.

    Attributes:
      reliability: [T, N] float32 in [0, 1] (1 = trustworthy).
      cycle_error: [T, N] float32 pixels of the checked video: how far each prediction lands
        from its query when tracked back to the query frame.
      tolerance: pixels where the cycle term of reliability is 0.5.
      engine: ``"jump"`` or ``"model"``.
      seconds: time the check took.
    """

    reliability: np.ndarray
    cycle_error: np.ndarray
    tolerance: float
    engine: str
    seconds: float

    def apply(self, result: TrackResult, scale: float = 1.0) -> TrackResult:
        """``result`` with ``reliability`` and ``cycle_error`` (multiplied by ``scale``, e.g. to source pixels)."""
        return replace(result, reliability=self.reliability, cycle_error=self.cycle_error * np.float32(scale))


def choose_engine(tracker, engine: str = "auto", model: str | None = None) -> str:
    """The engine ``check_tracks`` uses: ``jump`` or ``model``.

    ``auto`` picks ``jump`` for registry models without weights (their own second pass would be
    LK or DIS again, at a far higher price), ``model`` for everything else.
    """
    if engine not in ENGINES:
        raise InputError(f"unknown reliability engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    from studio.registry import tracker_info

    name = model or getattr(tracker, "name", "")
    try:
        weight_free = tracker_info(name).checkpoint is None
    except KeyError:
        weight_free = False
    return "jump" if weight_free else "model"


def cycle_errors(back: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Distance [T, N] float32 from each return position [T, N, 2] to its query ``(x, y)``."""
    return np.linalg.norm(back - queries[None, :, 1:], axis=-1).astype(np.float32)


def check_tracks(
    tracker,
    video: np.ndarray,
    result: TrackResult,
    engine: str = "auto",
    model: str | None = None,
    max_queries: int = 20000,
    progress: ProgressFn | None = None,
) -> ReliabilityCheck:
    """How far each position of ``result`` can be trusted, without ground truth.

    Every prediction is tracked back to its query frame (``studio.reliability.returns``);
    the distance to the query is the cycle error, which becomes reliability on the scale of
    ``tolerance_px`` and is multiplied by the model's own confidence where it gives one.

    Args:
      tracker: the tracker that made ``result`` (used by the ``model`` engine).
      video: [T, H, W, 3] uint8: the frames ``result`` was tracked on (its pixels).
      result: tracks [T, N, 2] and queries [N, 3] in ``video``'s pixels.
      engine: one of ``ENGINES``.
      model: registry name, when ``tracker.name`` is not it.
      max_queries: ``model`` engine: cap on backward queries (see ``returns.model_returns``).
      progress: ``ProgressFn``.

    Returns:
      ``ReliabilityCheck``.
    """
    progress = progress or no_progress
    video = check_video(video)
    if result.tracks.shape[0] != video.shape[0]:
        raise InputError(f"the tracks have {result.tracks.shape[0]} frames but the video has {video.shape[0]}")
    engine = choose_engine(tracker, engine, model)
    start = time.perf_counter()
    tracks, queries = result.tracks, result.queries
    if engine == "jump":
        helpers = None
        if tracks.shape[1] - 1 < returns.MIN_NEIGHBOURS:
            from studio.registry import create_tracker

            lk = tracker if getattr(tracker, "name", "") == "lk" else create_tracker("lk")
            helpers = returns.helper_tracks(lk, video, queries, progress=lambda f, d: progress(0.5 * f, d))
        back, floor = returns.jump_returns(video, tracks, queries, helpers, progress=progress)
    elif hasattr(tracker, "field") and hasattr(tracker, "prepare"):
        back, floor = returns.dense_returns(tracker, video, tracks, queries, progress=progress), 0.0
    else:
        back, floor = returns.model_returns(tracker, video, tracks, queries, max_queries, progress=progress)[0], 0.0
    error = np.maximum(cycle_errors(back, queries), floor)
    error[queries[:, 0].astype(int), np.arange(len(queries))] = 0.0
    tol = tolerance_px(video.shape[1:3])
    rel = reliability_from_error(error, tol, result.confidence)
    return ReliabilityCheck(rel, error, tol, engine, time.perf_counter() - start)
