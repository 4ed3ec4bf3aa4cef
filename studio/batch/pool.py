"""The default engine: a pool of local worker processes that survives a worker's death.

Each slot is one ``spawn``-ed process (no fork: torch and CUDA do not survive a
fork) that builds its worker once, then takes one task at a time over a pipe.
The parent always knows which task each process holds, so when a process dies
(a decoder crash, the OOM killer, ``kill -9``) it starts a new one in that slot
and gives the task again, up to ``max_attempts`` tries; the other slots keep
working. (``concurrent.futures.ProcessPoolExecutor`` instead breaks for good
when one worker dies, and ``multiprocessing.Pool`` loses the task it held.)

Spawned processes import the caller's main module, so a script that runs a pool
must keep its work under ``if __name__ == "__main__":`` (as with any ``spawn`` pool);
otherwise the workers die while starting and the pool says so (``EngineError``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from studio.batch.engine import (
    DEFAULT_MAX_ATTEMPTS,
    EngineError,
    Outcome,
    SlotWorker,
    WorkerSpec,
    error_text,
    worker_name,
)


def _slot_main(conn: Connection, spec: WorkerSpec, threads: int | None) -> None:
    """A worker process: build the worker, say so, then answer tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers
    slot = SlotWorker(spec, threads)
    try:
        slot.start()
    except BaseException as exc:  # the parent reports it and stops the run
        conn.send(("init-error", error_text(exc)))
        return
    conn.send(("ready", worker_name()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        index, task = msg
        conn.send(("done", index, *slot.run(task)))


@dataclass
class _Slot:
    process: Any
    conn: Connection
    ready: bool = False
    task: tuple[int, Any, int] | None = None  # (index, payload, attempt)


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"exit code {code}"


class LocalPool:
    """``workers`` local processes, each loading the model once (see the module doc).

    Args:
      workers: number of worker processes (slots).
      max_attempts: tries per task when its process dies under it.
      threads: torch / OpenCV threads per worker; default the cores divided among the workers.
    """

    def __init__(self, workers: int = 1, max_attempts: int = DEFAULT_MAX_ATTEMPTS, threads: int | None = None):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.slots = int(workers)
        self.max_attempts = int(max_attempts)
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.slots)
        self._slots: list[_Slot] = []
        self._ctx = mp.get_context("spawn")

    def describe(self) -> str:
        return f"local pool, {self.slots} worker process(es), {self.threads} thread(s) each"

    def busy(self) -> dict[int, int]:
        return {s.process.pid: s.task[0] for s in self._slots if s.task is not None and s.process.pid}

    def close(self) -> None:
        for s in self._slots:
            try:
                s.conn.send(None)
            except (OSError, ValueError):
                pass
        for s in self._slots:
            s.process.join(timeout=5)
            if s.process.is_alive():
                s.process.terminate()
                s.process.join(timeout=5)
            s.conn.close()
        self._slots = []

    def _start_slot(self, spec: WorkerSpec) -> _Slot:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_slot_main, args=(child, spec, self.threads), daemon=True)
        proc.start()
        child.close()
        return _Slot(proc, parent)

    def map(self, spec: WorkerSpec, tasks: Iterable[Any]) -> Iterator[Outcome]:
        source = enumerate(tasks)
        retry: deque[tuple[int, Any, int]] = deque()
        exhausted = False
        start_failures = 0

        def next_task() -> tuple[int, Any, int] | None:
            nonlocal exhausted
            if retry:
                return retry.popleft()
            if not exhausted:
                try:
                    index, task = next(source)
                    return index, task, 1
                except StopIteration:
                    exhausted = True
            return None

        def give(slot: _Slot) -> None:
            item = next_task()
            if item is None:
                return
            slot.task = item
            try:
                slot.conn.send((item[0], item[1]))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the process is gone; its sentinel reports it and the task is given again

        self._slots = [self._start_slot(spec) for _ in range(self.slots)]
        finished = False
        try:
            while True:
                if exhausted and not retry and all(s.task is None for s in self._slots):
                    finished = True
                    return
                waitables = [s.conn for s in self._slots] + [s.process.sentinel for s in self._slots]
                ready = set(wait(waitables))
                for i, slot in enumerate(list(self._slots)):
                    msg = None
                    dead = False
                    if slot.conn in ready or slot.process.sentinel in ready:
                        # Read what a process sent before dying first: a finished task is not lost.
                        try:
                            if slot.conn.poll():
                                msg = slot.conn.recv()
                            elif slot.process.sentinel in ready:
                                dead = True
                        except (EOFError, OSError):
                            dead = True
                    if msg is not None:
                        kind = msg[0]
                        if kind == "init-error":
                            raise EngineError(f"a worker could not start: {msg[1]}")
                        if kind == "ready":
                            slot.ready = True
                            give(slot)
                        elif kind == "done":
                            _, index, value, error, seconds, name = msg
                            attempts = slot.task[2] if slot.task else 1
                            slot.task = None
                            give(slot)
                            yield Outcome(index, value, error, seconds, attempts, name)
                    elif dead:
                        slot.process.join(timeout=5)
                        reason = _exit_text(slot.process.exitcode)
                        slot.conn.close()
                        if not slot.ready:
                            start_failures += 1
                            if start_failures > self.max_attempts:
                                raise EngineError(f"worker processes keep dying while they start ({reason})")
                        lost = slot.task
                        self._slots[i] = self._start_slot(spec)
                        if lost is not None:
                            index, task, attempt = lost
                            if attempt < self.max_attempts:
                                retry.appendleft((index, task, attempt + 1))
                            else:
                                yield Outcome(
                                    index,
                                    error=f"the worker process died on this item {attempt} times ({reason})",
                                    attempts=attempt,
                                )
        finally:
            if not finished:
                for s in self._slots:  # stopped early (an error, Ctrl-C): do not wait for running tasks
                    s.process.terminate()
            self.close()
