"""Small video trees for the batch tests, and helpers that compare outputs and kill workers."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import numpy as np

from studio.io.video import write_video
from studio.synthetic import make_clip

SIZE = (96, 128)


def make_tree(root: Path, frames: int = 16) -> dict[str, Path]:
    """``root/a.mp4``, ``root/sub/b.mp4``, ``root/sub/deeper/c.mov``, a truncated ``root/sub/broken.mp4``,
    plus things a folder search must pass over (``notes.txt``, ``.hidden/h.mp4``)."""
    paths = {
        "a": root / "a.mp4",
        "b": root / "sub" / "b.mp4",
        "c": root / "sub" / "deeper" / "c.mov",
        "broken": root / "sub" / "broken.mp4",
    }
    for i, (key, motion) in enumerate([("a", "translate"), ("b", "mixed"), ("c", "rotate")]):
        paths[key].parent.mkdir(parents=True, exist_ok=True)
        write_video(paths[key], make_clip(motion, num_frames=frames, size=SIZE, seed=i).video, 12.0)
    paths["broken"].write_bytes(paths["a"].read_bytes()[:3000])
    (root / "notes.txt").write_text("not a video")
    (root / ".hidden").mkdir()
    shutil.copy(paths["a"], root / ".hidden" / "h.mp4")
    return paths


def make_many(root: Path, copies: int) -> Path:
    """A tree of good 40-frame clips (``make_tree`` without the broken one) plus ``copies`` copies of ``a.mp4``:
    long enough that a worker is still busy with one when another finishes."""
    make_tree(root, frames=40)
    (root / "sub" / "broken.mp4").unlink()
    for i in range(copies):
        shutil.copy(root / "a.mp4", root / f"copy{i}.mp4")
    return root


def same_tracks(a: Path, b: Path) -> bool:
    """Two npz track files hold identical arrays and metadata."""
    with np.load(a) as x, np.load(b) as y:
        return sorted(x.files) == sorted(y.files) and all(np.array_equal(x[k], y[k]) for k in x.files)


class KillOneBusyWorker:
    """An ``on_record`` callback: at the first finished item, SIGKILL a worker that is busy with another item."""

    def __init__(self):
        self.killed: tuple[int, int] | None = None

    def __call__(self, record, engine) -> None:
        if self.killed is not None or engine is None or record["status"] != "done":
            return
        busy = engine.busy()
        assert busy, "no worker was busy when the first item finished"
        pid, index = next(iter(busy.items()))
        os.kill(pid, signal.SIGKILL)
        self.killed = (pid, index)
