"""Models built once and kept loaded: a small thread-safe LRU cache keyed by registry name."""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from studio.registry import tracker_info

log = logging.getLogger(__name__)


class ModelCache:
    """At most ``size`` models, least recently used evicted first; thread-safe.

    Concurrent first requests for a model build it once: each name has its own
    build lock, and the cache lock is never held while building (a download can
    take minutes).

    Args:
      size: models kept loaded.
      create: model factory ``create(name, device=...)``.
      device: torch device for neural models; None = ``studio.device.pick_device()``
        on first use (honours ``STUDIO_DEVICE`` and ``STUDIO_FORCE_CPU``).
    """

    def __init__(self, size: int, create: Callable[..., Any], device: Any = None):
        self.size = size
        self._create = create
        self._device = device
        self._models: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()  # guards the cache and the per-model locks
        self._model_locks: dict[str, threading.Lock] = {}
        self.loads: dict[str, int] = {}  # builds per model name, for tests and logs

    @property
    def device(self):
        """The torch device neural models are built on (chosen on first use)."""
        if self._device is None:
            from studio.device import pick_device

            self._device = pick_device()
        return self._device

    def get(self, name: str) -> Any:
        """The model ``name``, built on first use and kept in the LRU cache.

        Raises:
          KeyError: unknown name (the message lists the known ones).
          WeightsUnavailable / CheckpointMismatch: from ``create``.
        """
        entry = tracker_info(name)
        with self._lock:
            if name in self._models:
                self._models.move_to_end(name)
                return self._models[name]
            lock = self._model_locks.setdefault(name, threading.Lock())
        # Build outside the cache lock (a download can take minutes) but under the
        # model's own lock, so concurrent first requests build it once.
        with lock:
            with self._lock:
                if name in self._models:
                    self._models.move_to_end(name)
                    return self._models[name]
            device = self.device if entry.needs_weights else None
            log.info("loading model %s on %s", name, device or "cpu")
            model = self._create(name, device=device)
            with self._lock:
                self.loads[name] = self.loads.get(name, 0) + 1
                self._models[name] = model
                evicted = []
                while len(self._models) > self.size:
                    evicted.append(self._models.popitem(last=False))
        if evicted:
            self._free(evicted)
        return model

    def forget(self, names: list[str]) -> None:
        """Drop these models if loaded (their weights changed); their next ``get`` builds them again."""
        with self._lock:
            evicted = [(n, self._models.pop(n)) for n in names if n in self._models]
        if evicted:
            self._free(evicted)

    def names(self) -> list[str]:
        """Names of the cached models, least recently used first."""
        with self._lock:
            return list(self._models)

    def _free(self, evicted: list) -> None:
        names = [name for name, _ in evicted]
        log.info("unloading models %s", ", ".join(names))
        evicted.clear()
        gc.collect()
        torch = sys.modules.get("torch")  # only if some model already imported it
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
