"""``DIR/manifest.jsonl``: one JSON object per line, one line per item as it finishes.

The file is only ever appended to (a crash or Ctrl-C loses nothing already
written); the last line about an input is its current state. Each line has:

* ``input``: the video, absolute path;
* ``output``: its track file, relative to DIR (null when the item failed);
* ``status``: ``done``, ``failed`` or ``skipped`` (done by an earlier run with the same settings);
* ``seconds``: time spent on it (reading, tracking, writing), 0 when skipped;
* ``error``: one sentence when it failed, else null;

and also ``video`` / ``names`` (the rendered video and the point-name file, relative
to DIR, or null), ``frames``, ``points``, ``notices``, ``worker`` (``host:pid``),
``attempts`` (tries, when the engine counts them), ``settings`` (what decides
whether a re-run may skip it) and ``finished`` (UTC time).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.jsonl"
STATUSES = ("done", "failed", "skipped")


def read_manifest(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """``{input: its last record}`` from a manifest; an absent file is empty, unreadable lines are passed over."""
    path = Path(path)
    latest: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return latest
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
            if isinstance(rec, dict) and isinstance(rec.get("input"), str) and rec.get("status") in STATUSES:
                latest[rec["input"]] = rec
    return latest


class ManifestWriter:
    """Appends records to a manifest, one flushed line each."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        record = {**record, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self._f.write(json.dumps(record, separators=(", ", ": ")) + "\n")
        self._f.flush()
        return record

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
