"""Files that appear whole or not at all: write to a hidden temporary name, then rename.

A request killed mid-save (a crash, a stop, a client gone) must not leave a
half-written file under the real name for the app to offer later; ``os.replace``
within one folder is atomic. Leftover temporary names (``.<name>.<random>.part``)
are what ``studio.service.outputs.sweep_stale`` removes at start-up.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PART_SUFFIX = ".part"
"""Suffix of the temporary names (hidden: they start with a dot)."""


def temporary_name(path: str | os.PathLike) -> Path:
    """A hidden, unique name beside ``path`` for writing it: ``.<name>.<8 hex>.part``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{PART_SUFFIX}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to ``path``, on failure removed.

    The temporary name keeps ``path``'s folder (so the rename is atomic) but not its
    suffix, so writers that pick a format by extension must be told the format.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
