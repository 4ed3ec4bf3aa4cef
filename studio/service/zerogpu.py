"""GPU entry points: ``spaces.GPU`` (Hugging Face ZeroGPU) when installed, plain calls elsewhere.

``spaces`` is imported here, first, because on ZeroGPU it must patch torch before
CUDA is initialised; ``studio.service`` imports this module before anything else,
and ``app.py`` imports ``studio.service`` before anything else.

A function decorated with ``gpu(duration=...)`` runs in a forked worker on ZeroGPU,
which pickles its arguments: entry points take light, picklable arguments and find
the caller's ``TrackingService`` (its caches) by id in ``SERVICES``. Reservations
grow with frames x points (``estimate_gpu_seconds``).
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

try:  # Before torch: on ZeroGPU, `spaces` must patch torch before CUDA is initialised.
    import spaces
except ImportError:  # Not installed (a plain local install): GPU entry points run as they are.
    spaces = None

from studio.progress import ProgressFn
from studio.results import TrackResult

GPU_SECONDS_BASE = 20.0
"""Fixed part of a GPU reservation: moving weights and the clip to the device, warm-up."""

GPU_SECONDS_PER_POINT_FRAME = 2e-3
"""Extra reservation per (frame x point): a 300-frame clip with 900 points adds 540 s."""

GPU_SECONDS_PER_FRAME = 0.05
"""Extra reservation per frame (feature extraction does not depend on the point count)."""

GPU_SECONDS_MAX = 300
"""Longest reservation asked for; ZeroGPU favours short ones in its queue."""


def on_zero_gpu() -> bool:
    """True on a Hugging Face ZeroGPU Space (``spaces.GPU`` then really reserves a GPU)."""
    return spaces is not None and os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in {"1", "t", "true"}


def gpu(duration: Callable[..., float] | float):
    """``spaces.GPU(duration=...)`` when ``spaces`` is installed, else a decorator that changes nothing.

    Args:
      duration: seconds, or a callable taking the decorated function's arguments
        and returning seconds.
    """
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


# Services by id, so that a GPU entry point (a module-level function: ZeroGPU pickles its
# arguments into a forked worker, and a service with locks does not pickle) can find
# the caller's caches. The forked worker sees the models loaded before it was forked.
SERVICES: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
"""``id(service) -> TrackingService`` for every live service."""


def estimate_gpu_seconds(num_frames: int, num_points: int) -> int:
    """Seconds of GPU to reserve for tracking ``num_points`` through ``num_frames``.

    Grows linearly with frames x points (the cost of point trackers' correlation
    and update steps) and is capped at ``GPU_SECONDS_MAX``.
    """
    seconds = GPU_SECONDS_BASE + GPU_SECONDS_PER_FRAME * num_frames
    seconds += GPU_SECONDS_PER_POINT_FRAME * num_frames * num_points
    return int(min(GPU_SECONDS_MAX, math.ceil(seconds)))


def _arrays_duration(service_key: int, model: str, video: np.ndarray, queries: np.ndarray) -> int:
    """``spaces.GPU`` duration callable for ``track_arrays_on_device``."""
    return estimate_gpu_seconds(int(np.shape(video)[0]), int(np.shape(queries)[0]))


@gpu(duration=_arrays_duration)
def track_arrays_on_device(service_key: int, model: str, video: np.ndarray, queries: np.ndarray) -> TrackResult:
    """Track decoded frames with a cached model: one GPU reservation per call (e.g. per benchmark video).

    Args:
      service_key: ``id`` of the ``TrackingService`` whose model cache to use.
      model: registry name of a model that tracks queries.
      video: uint8 [T, H, W, 3]; queries: float32 [N, 3] ``(t, x, y)`` pixels of ``video``.

    Returns:
      The model's ``TrackResult`` (no progress: ZeroGPU pickles the arguments).
    """
    return SERVICES[service_key].tracker(model).track(video, queries)


class DeviceTracker:
    """A tracker whose ``track`` runs through ``track_arrays_on_device`` (a GPU reservation on ZeroGPU).

    Used where the app tracks many clips in a row (the Benchmark tab), so that each
    video gets its own reservation instead of one long one for the whole dataset.
    """

    def __init__(self, service: Any, name: str):
        self.service_key = id(service)
        self.name = name
        service.tracker(name)  # load in this process, before any GPU worker is forked

    def track(self, video: np.ndarray, queries: np.ndarray, progress: ProgressFn | None = None) -> TrackResult:
        return track_arrays_on_device(self.service_key, self.name, video, queries)
