"""The TAP-Vid benchmark with its videos spread over an engine (``python -m studio bench --workers N / --ray``).

The main process reads the dataset one video at a time, exactly as
``studio.benchmark.runner.evaluate`` does, and hands each video (stored frames,
ground truth) to a slot; the slot poses, tracks and scores it with
``runner.track_and_score``, the same function the one-process run uses, and
sends back only the scores. The engine holds one video per slot in flight, so
memory stays bounded on a 1,144-video Kinetics run. Scores are put back in
dataset order, so the result equals the one-process result number for number.
"""

from __future__ import annotations

import time
from typing import Any

from studio.batch.engine import Engine, WorkerSpec
from studio.benchmark.datasets.tapvid import TapVidDataset, TapVidVideo, open_dataset
from studio.benchmark.metrics.tapvid import QUERY_MODES
from studio.benchmark.protocol import METRIC_SIZE, QUERY_STRIDE
from studio.benchmark.runner import NO_QUERIES, BenchmarkResult, VideoScore, track_and_score
from studio.progress import ProgressFn, no_progress
from studio.results import InputError


class BenchWorker:
    """Builds the tracker once; ``worker(video)`` gives its ``VideoScore`` (None: no query to score)."""

    def __init__(self, model: str, query_mode: str, resolution: tuple[int, int] | None, stride: int,
                 checkpoint: str | None = None):
        from studio.registry import create_tracker

        self.tracker = create_tracker(model, checkpoint=checkpoint)
        self.query_mode, self.resolution, self.stride = query_mode, resolution, stride

    def __call__(self, video: TapVidVideo) -> VideoScore | None:
        scored = track_and_score(self.tracker, video, self.query_mode, self.resolution, self.stride)
        return None if scored is None else scored[2]


def evaluate_on(
    engine: Engine,
    model: str,
    dataset: str | Any,
    query_mode: str = "strided",
    resolution: tuple[int, int] | None = METRIC_SIZE,
    max_videos: int | None = None,
    progress: ProgressFn | None = None,
    stride: int = QUERY_STRIDE,
    checkpoint: str | None = None,
) -> BenchmarkResult:
    """``runner.evaluate`` with the videos tracked and scored on ``engine``'s slots.

    Args:
      engine: a ``LocalPool`` or ``RayEngine`` (not closed here).
      model: registry name (each slot builds it once).
      dataset, query_mode, resolution, max_videos, stride: as for ``runner.evaluate``.
      progress: ``ProgressFn`` over the whole run, advanced as videos finish.
      checkpoint: the model's checkpoint file (a path every worker can read), else the usual lookup.

    Returns:
      ``BenchmarkResult`` with videos in dataset order.

    Raises:
      ValueError: unknown query mode. DatasetError / InputError: a video that cannot be read
        (the one-process run stops there too). EngineError: the workers cannot start.
    """
    if query_mode not in QUERY_MODES:
        raise ValueError(f"Unknown query mode {query_mode!r}; expected one of {QUERY_MODES}")
    progress = progress or no_progress
    ds = dataset if isinstance(dataset, TapVidDataset) else open_dataset(dataset)
    out = BenchmarkResult(model=model, dataset=ds.name, query_mode=query_mode, resolution=resolution)
    names: list[str] = []
    spans: list[float] = []

    def videos():
        for item in ds.items(max_videos):
            names.append(item.video.name)
            spans.append(item.span[1] - item.span[0])
            yield item.video

    start = time.perf_counter()
    progress(0.0, f"starting {model} on {engine.slots} worker(s)")
    scores: dict[int, VideoScore | None] = {}
    done = 0.0
    spec = WorkerSpec(BenchWorker, (model, query_mode, resolution, stride, checkpoint))
    for outcome in engine.map(spec, videos()):
        if not outcome.ok:
            raise InputError(outcome.error)
        scores[outcome.index] = outcome.value
        done += spans[outcome.index]
        progress(done, f"{names[outcome.index]}: scored")
    for i, name in enumerate(names):
        if scores[i] is None:
            out.skipped.append((name, NO_QUERIES))
        else:
            out.videos.append(scores[i])
    out.seconds = time.perf_counter() - start
    progress(1.0, "done")
    return out
