"""Many videos at once: batch tracking and sharded benchmarks on a local process pool or on Ray.

* ``engine.py``: what engines share (``WorkerSpec``, ``Outcome``, the slot-side wrapper);
* ``pool.py``: ``LocalPool``, spawned worker processes that are restarted when they die;
* ``ray_engine.py``: ``RayEngine``, one Ray actor per slot (optional dependency);
* ``inputs.py``: INPUTS (files, folders, globs) -> videos and their mirrored outputs, labelme matching;
* ``manifest.py``: ``manifest.jsonl``, appended one line per finished item;
* ``track_jobs.py``: one item through the ``track`` command's pipeline;
* ``run.py``: ``run_batch``, planning, skipping finished items, running, recording;
* ``bench.py``: the TAP-Vid benchmark with its videos spread over an engine.

Every engine builds one worker per slot (the model loads once per slot) and gives
it one task at a time; results are identical whichever engine runs them.
"""

from __future__ import annotations

import os


def default_workers() -> int:
    """Local worker processes when ``--workers`` is not given: one with a CUDA GPU, else up to 4 cores."""
    try:
        import torch

        if torch.cuda.is_available():
            return 1
    except ImportError:
        pass
    return max(1, min(os.cpu_count() or 1, 4))


def open_engine(workers: int | None = None, ray: bool = False, address: str | None = None, **ray_options):
    """A ``LocalPool`` (default) or, with ``ray=True``, a ``RayEngine`` (``address`` None = local instance)."""
    if ray:
        from studio.batch.ray_engine import RayEngine

        return RayEngine(address=address, workers=workers, **ray_options)
    from studio.batch.pool import LocalPool

    return LocalPool(workers or default_workers())
