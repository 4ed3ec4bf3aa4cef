"""Track many videos: plan (inputs, outputs, what is already done), run on an engine, keep the manifest.

``run_batch`` is what ``python -m studio batch`` calls. Items an earlier run
finished with the same settings (and whose files are still there) are recorded
as ``skipped`` and not run; everything else, earlier failures included, runs.
A video that cannot be read or tracked is recorded as ``failed`` with its
reason and the batch goes on.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.batch.engine import Engine, Outcome, WorkerSpec
from studio.batch.inputs import VideoInput, expand_inputs, find_labelme, labelme_index
from studio.batch.manifest import MANIFEST_NAME, ManifestWriter, read_manifest
from studio.batch.track_jobs import TrackSettings, TrackTask, TrackWorker
from studio.results import InputError

RENDER_SUFFIX = "_tracked.mp4"
NAMES_SUFFIX = ".names.json"


@dataclass
class BatchSummary:
    """What a batch run did: every manifest record it wrote, in the order written."""

    records: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    manifest: Path | None = None
    engine: str = ""

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.records)

    @property
    def failed(self) -> int:
        return self.count("failed")

    def line(self) -> str:
        done = self.count("done")
        rate = f", {60 * done / self.seconds:.1f} videos/min" if done and self.seconds > 0 else ""
        return (f"{self.count('done')} done, {self.failed} failed, {self.count('skipped')} skipped "
                f"in {self.seconds:.1f} s{rate}")


@dataclass
class _Item:
    video: VideoInput
    task: TrackTask | None
    key: dict[str, Any]
    error: str | None = None


def _rel(path: str | Path | None, out_dir: Path) -> str | None:
    if not path:
        return None
    return Path(path).relative_to(out_dir).as_posix()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _finished_before(prev: dict[str, Any] | None, key: dict[str, Any], out_dir: Path, render: bool) -> bool:
    if not prev or prev.get("status") not in ("done", "skipped") or prev.get("settings") != key:
        return False
    files = [prev.get("output")] + ([prev.get("video")] if render else [])
    return all(f and (out_dir / f).is_file() for f in files)


def plan(inputs: list[str], settings: TrackSettings, out_dir: Path, render: bool) -> list[_Item]:
    """Every video of ``inputs`` with its task (or the reason it cannot run) and its settings key."""
    videos = expand_inputs(inputs, exclude=out_dir)
    index = labelme_index(settings.labelme_dir) if settings.labelme_dir else None
    items = []
    for v in videos:
        key = settings.key()
        labelme = None
        error = None
        if index is not None:
            try:
                labelme = find_labelme(v, settings.labelme_dir, index)
                key = {**key, "labelme": _sha(labelme)}
            except InputError as exc:
                error = str(exc)
        task = TrackTask(
            input=str(v.path),
            output=str(v.output(out_dir, "." + settings.fmt)),
            video=str(v.output(out_dir, RENDER_SUFFIX)) if render else None,
            names=str(v.output(out_dir, NAMES_SUFFIX)) if labelme else None,
            labelme=str(labelme) if labelme else None,
        )
        items.append(_Item(v, None if error else task, key, error))
    return items


def run_batch(
    inputs: list[str],
    settings: TrackSettings,
    out_dir: str | Path,
    make_engine: Callable[[], Engine],
    render: bool = False,
    on_record: Callable[[dict[str, Any], Engine | None], None] | None = None,
    show_progress: bool = True,
) -> BatchSummary:
    """Track every video of ``inputs`` into ``out_dir``; see the module doc.

    Args:
      inputs: files, folders, globs (``studio.batch.inputs``).
      settings: model, queries and limits shared by all items.
      out_dir: output folder (made if missing); holds ``manifest.jsonl``.
      make_engine: builds the engine, called only when something is left to run.
      render: also write ``<name>_tracked.mp4`` with the tracks drawn.
      on_record: called with each record as it is written (and the engine).
      show_progress: a progress bar on stderr (items, time left).

    Returns:
      ``BatchSummary``; its ``failed`` count decides the exit status.

    Raises:
      InputError: no videos, clashing outputs, a bad option. ``EngineError``: the workers cannot start.
    """
    out_dir = Path(out_dir).resolve()
    start = time.perf_counter()
    items = plan(inputs, settings, out_dir, render)  # before anything is made: bad inputs leave no folder
    manifest = out_dir / MANIFEST_NAME
    previous = read_manifest(manifest)
    summary = BatchSummary(manifest=manifest)
    engine: Engine | None = None

    def base(item: _Item) -> dict[str, Any]:
        return {"input": str(item.video.path), "output": None, "status": "failed", "seconds": 0.0, "error": None,
                "video": None, "names": None, "model": settings.model, "settings": item.key}

    with ManifestWriter(manifest) as writer:  # makes DIR
        bar = None

        def record(rec: dict[str, Any]) -> None:
            rec = writer.write(rec)
            summary.records.append(rec)
            if rec["status"] == "failed" and show_progress:
                line = f"failed: {rec['input']}: {rec['error']}"
                if bar is not None:
                    bar.write(line, file=sys.stderr)
                else:
                    print(line, file=sys.stderr)
            if bar is not None:
                bar.set_postfix(failed=summary.failed, refresh=False)
                bar.update(1)
            if on_record is not None:
                on_record(rec, engine)

        todo: list[_Item] = []
        for item in items:
            prev = previous.get(str(item.video.path))
            if item.task is not None and _finished_before(prev, item.key, out_dir, render):
                record({**base(item), **{k: prev.get(k) for k in ("output", "video", "names", "frames", "points")},
                        "status": "skipped"})
            elif item.task is None:
                record({**base(item), "error": item.error})
            else:
                todo.append(item)
        if todo:
            engine = make_engine()
            summary.engine = engine.describe()
            bar = _progress_bar(len(todo), settings.model, show_progress)
            try:
                for outcome in engine.map(WorkerSpec(TrackWorker, (settings,)), (i.task for i in todo)):
                    item = todo[outcome.index]
                    record(_record(base(item), item.task, outcome, out_dir))
            finally:
                if bar is not None:
                    bar.close()
                engine.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _record(rec: dict[str, Any], task: TrackTask, outcome: Outcome, out_dir: Path) -> dict[str, Any]:
    rec.update(seconds=round(outcome.seconds, 3), worker=outcome.worker, attempts=outcome.attempts)
    if not outcome.ok:
        rec.update(status="failed", error=outcome.error)
        return rec
    value = outcome.value
    rec.update(
        status="done",
        output=_rel(task.output, out_dir),
        video=_rel(task.video, out_dir),
        names=_rel(task.names, out_dir),
        frames=value["frames"],
        points=value["points"],
        notices=value["notices"],
    )
    return rec


def _progress_bar(total: int, model: str, show: bool):
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"batch {model}", unit="video", file=sys.stderr, dynamic_ncols=True)
