"""Reading a JSON object from an untrusted file: size checked first, one clear sentence on any error."""

from __future__ import annotations

import json
import os
from pathlib import Path

from studio.results import InputError


def read_json_object(path: str | os.PathLike, what: str, max_bytes: int) -> dict:
    """The JSON object in ``path``.

    Args:
      path: the file.
      what: what the file should be, for messages (e.g. ``"COCO keypoint file"``).
      max_bytes: refuse larger files before reading them.

    Raises:
      InputError: missing, larger than ``max_bytes``, not UTF-8 JSON (or nested too deeply),
        or not an object at the top.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {p.name!r} does not exist")
    if p.stat().st_size > max_bytes:
        raise InputError(f"{what} {p.name!r} is larger than {max_bytes // 2**20} MiB")
    try:
        with open(p, encoding="utf-8") as f:
            doc = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{p.name} is not a JSON file ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{p.name} is not a {what}: it holds a JSON {type(doc).__name__}, not an object")
    return doc
