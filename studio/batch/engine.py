"""What both engines share: the worker recipe, the outcome of a task, the slot-side wrapper.

An engine runs *tasks* on *slots*. Each slot builds one worker from a
``WorkerSpec`` when it starts (so a model loads once per slot, not once per
task) and then calls it on one task at a time. Whatever a task raises becomes
an error message in its ``Outcome``; only a slot that cannot build its worker
stops the whole run (``EngineError``), since every task would fail the same way.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_MAX_ATTEMPTS = 3
"""Tries per task when its worker process dies under it (a crash, the OOM killer, a kill)."""


class EngineError(RuntimeError):
    """The engine cannot run the tasks at all (a worker cannot start, Ray is missing)."""


@dataclass(frozen=True)
class WorkerSpec:
    """How a slot builds its worker: ``factory(*args)`` must return ``worker(task) -> value``.

    ``factory`` and ``args`` must pickle (worker processes and Ray actors receive them),
    so ``factory`` is a module-level class or function.
    """

    factory: Callable[..., Callable[[Any], Any]]
    args: tuple = ()


@dataclass
class Outcome:
    """What became of one task.

    Attributes:
      index: position of the task in the input order.
      value: the worker's return value (None when it failed).
      error: one sentence when the task failed, else None.
      seconds: time the worker spent on it (the last attempt).
      attempts: tries it took; None where the engine retries on its own (Ray).
      worker: ``host:pid`` of the process that finished it.
    """

    index: int
    value: Any = None
    error: str | None = None
    seconds: float = 0.0
    attempts: int | None = 1
    worker: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


class Engine(Protocol):
    """A way to run tasks on slots; see ``LocalPool`` and ``RayEngine``."""

    slots: int

    def map(self, spec: WorkerSpec, tasks: Iterable[Any]) -> Iterator[Outcome]:
        """Run every task, yielding outcomes as they finish (any order), exactly one per task."""
        ...

    def busy(self) -> dict[int, int]:
        """``{worker pid: task index}`` for the tasks running now."""
        ...

    def describe(self) -> str:
        """One line: where the tasks run (engine, workers, threads / resources)."""
        ...

    def close(self) -> None:
        ...


def error_text(exc: BaseException) -> str:
    """One line for a failed task: the message of the errors meant for users, else type and message."""
    from studio.results import InputError

    if isinstance(exc, (InputError, OSError)) and str(exc):
        return str(exc)
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return f"{type(exc).__name__}: {exc}"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def limit_threads(threads: int | None) -> None:
    """Keep a worker's torch and OpenCV to ``threads`` threads, so N workers share the cores instead of fighting.

    torch is not imported for this (weight-free trackers never load it): ``OMP_NUM_THREADS``
    sets its pool when something imports it later.
    """
    if not threads:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(int(threads))
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads))
    try:
        import cv2

        cv2.setNumThreads(int(threads))
    except ImportError:
        pass


@dataclass
class SlotWorker:
    """The slot-side half: builds the worker once and runs tasks, turning exceptions into messages."""

    spec: WorkerSpec
    threads: int | None = None
    worker: Any = field(default=None, init=False)

    def start(self) -> None:
        limit_threads(self.threads)
        self.worker = self.spec.factory(*self.spec.args)

    def run(self, task: Any) -> tuple[Any, str | None, float, str]:
        """``(value, error, seconds, worker name)`` for one task; never raises for the task's own errors."""
        t0 = time.perf_counter()
        try:
            value, error = self.worker(task), None
        except Exception as exc:  # one bad task must not take the slot down
            value, error = None, error_text(exc)
        return value, error, time.perf_counter() - t0, worker_name()
