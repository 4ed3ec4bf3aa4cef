"""The Ray engine: one actor per slot, each loading the model once; Ray restarts dead actors and retries.

Ray is optional (``pip install -r requirements-ray.txt``). ``RayEngine()`` starts a
local Ray instance (loopback only, no dashboard, no usage report) and stops it when
closed; ``RayEngine("auto")`` or ``RayEngine("HOST:6379")`` joins a running cluster
(from a machine in it, e.g. the head node) and ships the ``studio`` package to the
workers as a runtime-env module, so the nodes need only the requirements installed.

Actors ask for ``cpus_per_worker`` CPUs and, when the cluster has GPUs, a GPU each
(a share when there are more workers than GPUs); the model then runs on the GPU
Ray assigns (``studio.device.pick_device`` sees it through ``CUDA_VISIBLE_DEVICES``).
An actor whose process dies is restarted (its model loads again) and the task it
held runs again, up to ``max_attempts`` times (Ray's ``max_restarts`` /
``max_task_retries``); a task that still fails is reported, not fatal.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from studio.batch.engine import DEFAULT_MAX_ATTEMPTS, EngineError, Outcome, SlotWorker, WorkerSpec

INSTALL_HINT = "pip install -r requirements-ray.txt (or: pip install 'ray>=2.40,<3')"


class _RaySlot:
    """The actor: builds the worker in its constructor (once per start or restart of the process)."""

    def __init__(self, spec: WorkerSpec, threads: int):
        from studio.batch.engine import error_text, worker_name

        self._name = worker_name()
        self._slot = SlotWorker(spec, threads)
        self._init_error = None
        try:
            self._slot.start()
        except Exception as exc:  # reported by name() as a sentence, not as a dead actor's traceback
            self._init_error = error_text(exc)

    def name(self) -> tuple[str, str | None]:
        return self._name, self._init_error

    def run(self, task: Any) -> tuple[Any, str | None, float, str]:
        return self._slot.run(task)


def import_ray(local: bool = True):
    """Import Ray, or raise ``EngineError`` saying how to install it.

    For a local instance the node advertises 127.0.0.1, so Ray's servers listen on
    loopback only (as Ray does by itself on macOS); this must be set before Ray is
    imported. Ray's anonymous usage report is switched off. To join a cluster, Ray's token
    authentication is switched on when a token is at hand.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if local:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    elif "RAY_AUTH_MODE" not in os.environ and _has_auth_token():
        # A cluster started with a token wants it; Ray 2.60 sends it for "auto" but not for HOST:PORT.
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
    except ImportError:
        raise EngineError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def start_ray(address: str | None = None, local_cpus: int | None = None) -> bool:
    """Start a local Ray instance (``address`` None) or join a cluster, unless Ray already runs here.

    Returns:
      True when this call started or joined Ray (the caller shuts it down), False when it was running.

    Raises:
      EngineError: Ray is missing, or the cluster cannot be reached.
    """
    ray = import_ray(local=address is None)
    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        ray.init(num_cpus=local_cpus, **kw)
        return True
    import studio

    # The workers import this very code, whatever the nodes have installed.
    modules = [str(Path(studio.__file__).resolve().parent)]
    try:
        ray.init(address=address, runtime_env={"py_modules": modules}, **kw)
    except ConnectionError as exc:
        raise EngineError(f"cannot reach the Ray cluster at {address!r}: {exc}") from None
    return True


def _has_auth_token() -> bool:
    """Whether Ray would find a cluster token here (its environment variables or ``~/.ray/auth_token``)."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return True
    return (Path.home() / ".ray" / "auth_token").is_file()


def _pid(name: str) -> int:
    try:
        return int(name.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return 0


class RayEngine:
    """Run tasks on Ray actors.

    Args:
      address: None starts a local Ray instance; ``"auto"`` or ``"HOST:PORT"`` joins a cluster.
        If Ray is already initialised in this process it is used as it is (and left running).
      workers: actors (slots); default one per GPU when the cluster has GPUs, else one per
        ``cpus_per_worker`` CPUs.
      cpus_per_worker: CPUs each actor reserves (and torch / OpenCV threads it uses).
      gpus_per_worker: GPUs each actor reserves; default 1 (or an equal share when there are
        more workers than GPUs) when the cluster has GPUs, else 0.
      max_attempts: tries per task when its actor's process dies.
      local_cpus: CPUs of a local instance (default all).
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_worker: float = 1,
        gpus_per_worker: float | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        local_cpus: int | None = None,
    ):
        ray = import_ray(local=address is None)
        self._ray = ray
        self._owns = start_ray(address, local_cpus)
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
        if workers is None:
            workers = int(gpus) if gpus >= 1 else max(1, int(cpus // max(cpus_per_worker, 1e-9)))
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if cpus and workers * cpus_per_worker > cpus:
            cpus_per_worker = cpus / workers  # more actors than CPUs: share them, never wait forever
        if gpus_per_worker is None:
            gpus_per_worker = min(1.0, gpus / workers) if gpus > 0 else 0.0
        self.slots = int(workers)
        self.cpus_per_worker = float(cpus_per_worker)
        self.gpus_per_worker = float(gpus_per_worker)
        self.max_attempts = int(max_attempts)
        self.cluster = {"CPU": cpus, "GPU": gpus, "nodes": sum(bool(n.get("Alive")) for n in ray.nodes())}
        self._busy: dict[int, tuple[int, Any]] = {}  # worker pid -> (task index, result ref)

    def describe(self) -> str:
        where = "this machine" if self.cluster["nodes"] == 1 else f"{self.cluster['nodes']} nodes"
        gpu = f", {self.gpus_per_worker:g} GPU" if self.gpus_per_worker else ""
        return (f"Ray on {where} ({self.cluster['CPU']:g} CPUs, {self.cluster['GPU']:g} GPUs), "
                f"{self.slots} actor(s) with {self.cpus_per_worker:g} CPU{gpu} each")

    def busy(self) -> dict[int, int]:
        # A task whose result is already in the object store is finished even though map() has not
        # collected it yet; only the ones still computing count as busy.
        running = dict(self._busy)
        if not running:
            return {}
        refs = [ref for _, ref in running.values()]
        _, not_ready = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        still = set(not_ready)
        return {pid: index for pid, (index, ref) in running.items() if ref in still}

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()  # stops a local instance; only disconnects from a cluster
        self._owns = False

    def _actor(self, spec: WorkerSpec):
        cls = self._ray.remote(_RaySlot).options(
            num_cpus=self.cpus_per_worker,
            num_gpus=self.gpus_per_worker,
            max_restarts=self.max_attempts,
            max_task_retries=self.max_attempts,
        )
        return cls.remote(spec, max(1, int(self.cpus_per_worker)))

    def _started(self, actors: list) -> list[str]:
        names = []
        for name, error in self._ray.get([a.name.remote() for a in actors]):
            if error is not None:
                raise EngineError(f"a worker could not start: {error}")
            names.append(name)
        return names

    def map(self, spec: WorkerSpec, tasks: Iterable[Any]) -> Iterator[Outcome]:
        ray = self._ray
        actors = [self._actor(spec) for _ in range(self.slots)]
        pids = [_pid(n) for n in self._started(actors)]
        source = enumerate(tasks)
        pending: dict[Any, tuple[int, int]] = {}  # ref -> (slot, task index)
        idle = list(range(self.slots))
        exhausted = False
        try:
            while True:
                while idle and not exhausted:
                    try:
                        index, task = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    slot = idle.pop()
                    ref = actors[slot].run.remote(task)
                    pending[ref] = (slot, index)
                    self._busy[pids[slot]] = (index, ref)
                if not pending:
                    return
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                slot, index = pending.pop(ref)
                self._busy.pop(pids[slot], None)
                try:
                    value, error, seconds, name = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    # Restarts and retries are spent: report the task and put a fresh actor in the slot.
                    ray.kill(actors[slot], no_restart=True)
                    actors[slot] = self._actor(spec)
                    pids[slot] = _pid(self._started([actors[slot]])[0])
                    idle.append(slot)
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    yield Outcome(index, error=f"the worker died on this item after {self.max_attempts} retries "
                                  f"({first})", attempts=None)
                    continue
                pids[slot] = _pid(name)  # a restarted actor has a new process
                idle.append(slot)
                yield Outcome(index, value, error, seconds, None, name)
        finally:
            for a in actors:
                ray.kill(a, no_restart=True)
            self._busy.clear()
