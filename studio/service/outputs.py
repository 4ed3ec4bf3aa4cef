"""Per-request output folders (pruned by age), safe file names, and sweeping what a crash left behind."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

from studio.io.atomic import PART_SUFFIX

STALE_EMPTY_S = 60.0
"""An empty file or a temporary ``.part`` name this old is a leftover: uploads and saves take less."""

SWEEP_EVERY_S = 60.0
"""Folders swept while the app runs are swept at most this often."""

_last_sweep: dict[str, float] = {}
_sweep_lock = threading.Lock()


def safe_stem(path: str | os.PathLike) -> str:
    """File-name stem that is safe in a URL and a download (letters, digits, ``-_.``)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem).strip("._") or "video"
    return stem[:60]


def _remove(entry: Path) -> bool:
    try:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink()
        return True
    except OSError:
        return False  # another request or process removed it first


def sweep_stale(folder: str | os.PathLike, max_age_s: float | None = None,
                empty_age_s: float = STALE_EMPTY_S) -> int:
    """Remove what crashes, stops and half-done saves left in ``folder``.

    * top-level entries (files or folders) older than ``max_age_s`` (None: keep them);
    * anywhere below, files that are empty or carry a temporary ``.part`` name
      (``studio.io.atomic``) and are older than ``empty_age_s`` (Gradio leaves an empty
      ``tmp*`` file per upload; a killed save leaves a ``.part``).

    Returns:
      How many entries were removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    now = time.time()
    removed = 0
    for entry in list(folder.iterdir()):
        try:
            age = now - entry.lstat().st_mtime
        except OSError:
            continue
        if max_age_s is not None and age > max_age_s:
            removed += _remove(entry)
    for base, _, names in os.walk(folder):
        for name in names:
            path = Path(base) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            leftover = st.st_size == 0 or name.endswith(PART_SUFFIX)
            if leftover and now - st.st_mtime > empty_age_s:
                removed += _remove(path)
    return removed


def sweep_now_and_then(folder: str | os.PathLike, max_age_s: float | None = None) -> int:
    """``sweep_stale(folder, max_age_s)``, at most once every ``SWEEP_EVERY_S`` per folder (cheap to call often)."""
    key = os.fspath(folder)
    now = time.monotonic()
    with _sweep_lock:
        if now - _last_sweep.get(key, -SWEEP_EVERY_S - 1) < SWEEP_EVERY_S:
            return 0
        _last_sweep[key] = now
    return sweep_stale(folder, max_age_s)


def new_output_dir(root: str | os.PathLike, ttl_s: float) -> Path:
    """A fresh folder under ``root`` for one request's files; folders older than ``ttl_s`` seconds are removed."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        try:
            if old.is_dir() and now - old.stat().st_mtime > ttl_s:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass  # another request removed it first
    return Path(tempfile.mkdtemp(prefix="run-", dir=root))
