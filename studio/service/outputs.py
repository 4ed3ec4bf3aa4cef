"""Per-request output folders (pruned by age) and safe file names for what goes in them."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path


def safe_stem(path: str | os.PathLike) -> str:
    """File-name stem that is safe in a URL and a download (letters, digits, ``-_.``)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem).strip("._") or "video"
    return stem[:60]


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
