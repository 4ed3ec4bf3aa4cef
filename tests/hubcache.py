"""Hugging Face cache layouts made by hand, so the real hub-cache loading path runs with files we make."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def put_in_cache(cache: Path, repo_id: str, filename: str, payload: Path, revision: str, branch: str = "main") -> None:
    """Lay ``payload`` out the way huggingface_hub's cache does.

    ``blobs/<name>``, ``snapshots/<revision>/<filename>`` -> the blob, and
    ``refs/<branch>`` holding ``revision`` (so a file pinned to a branch name is found too).
    """
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / branch).write_text(revision)
    blob = repo / "blobs" / f"blob-{filename.replace('/', '_')}"
    shutil.copy(payload, blob)
    snap = repo / "snapshots" / revision
    snap.mkdir(parents=True, exist_ok=True)
    os.symlink(blob, snap / filename)
