"""The registry's models as this machine offers them: the Models table, the default model, dropdown choices.

A model's weight status (``studio.registry.weight_status``: built-in, local file,
cached, downloadable, unavailable, needs a file) decides the default and is shown
next to every name.
"""

from __future__ import annotations

import os

from studio.registry import NOT_USABLE, list_trackers, query_trackers, tracker_info, weight_status, where_to_get
from studio.results import InputError

STATUS_ORDER = ("local file", "cached", "built-in", "downloadable", "unavailable", "needs a file")
"""Weight states, best first, for choosing the default model."""


def checkpoint_uploads_allowed() -> bool:
    """Whether the Models tab may keep uploaded checkpoints (``STUDIO_CHECKPOINT_UPLOAD``, default on).

    A kept file serves every visitor of the server, so a public deployment may switch it off.
    """
    return os.environ.get("STUDIO_CHECKPOINT_UPLOAD", "1").strip().lower() not in {"0", "false", "no", "off"}

PREFERRED_MODELS = (
    "cotracker3_offline",
    "cotracker3",
    "track_on2",
    "trackon2",
    "track_on",
    "trackon",
    "bootstapir",
    "tapir.bootstap",
    "tapnext",
    "tapir",
    "locotrack",
    "cotracker2",
    "cotracker",
)
"""Name prefixes of neural point trackers, most accurate first (ties: registry order)."""


def models_table() -> list[dict]:
    """One row per registry model: what it is, where its weights are, and their status here.

    Returns:
      dicts with ``name, kind, title, online, input_resolution, license, paper,
      checkpoint, checkpoint_url, repo_id, filename, revision, files, status, where_to_get, notes``
      (``files``: every file of the model, the checkpoint first, each with ``gated``)
      (``repo_id`` and ``revision`` empty for files published outside the hub);
      strings and booleans only, JSON-ready.
    """
    rows = []
    for name in list_trackers():
        e = tracker_info(name)
        res = e.input_resolution
        rows.append(
            {
                "name": name,
                "kind": e.kind,
                "title": e.title,
                "online": bool(e.online),
                "input_resolution": f"{res[0]}x{res[1]}" if res else "native",
                "license": e.license,
                "paper": e.paper,
                "checkpoint": " + ".join(str(f) for f in e.files) if e.checkpoint else "none (weight-free)",
                "checkpoint_url": e.checkpoint.url if e.checkpoint else "",
                "repo_id": getattr(e.checkpoint, "repo_id", ""),
                "filename": e.checkpoint.filename if e.checkpoint else "",
                "revision": getattr(e.checkpoint, "revision", ""),
                "files": [{"repo_id": getattr(f, "repo_id", ""), "filename": f.filename,
                           "revision": getattr(f, "revision", ""), "gated": getattr(f, "gated", False),
                           "url": f.url} for f in e.files],
                "status": weight_status(name),
                "where_to_get": where_to_get(name),
                "notes": e.notes,
            }
        )
    return rows


def default_model() -> str:
    """The best point tracker usable here.

    Order: ``STUDIO_DEFAULT_MODEL`` if set and usable; else by weight status
    (cached neural model, then a weight-free one, then a downloadable one), then
    by ``PREFERRED_MODELS``, then registry order. A model whose weights are
    ``"unavailable"`` or ``"needs a file"`` is never the default.
    """
    names = list_trackers("point")
    if not names:
        raise InputError("no point tracker is registered")
    status = {n: weight_status(n) for n in names}
    wanted = os.environ.get("STUDIO_DEFAULT_MODEL", "").strip()
    if wanted in status and status[wanted] not in NOT_USABLE:
        return wanted

    def preference(name: str) -> int:
        for rank, prefix in enumerate(PREFERRED_MODELS):
            if name.startswith(prefix):
                return rank
        return len(PREFERRED_MODELS)

    usable = [n for n in names if status[n] not in NOT_USABLE]
    if not usable:
        return names[0]  # nothing works; the first one's error will say why
    return min(usable, key=lambda n: (STATUS_ORDER.index(status[n]), preference(n), names.index(n)))


def model_choices(dense: bool = False) -> list[tuple[str, str]]:
    """``(label, name)`` pairs for a dropdown; the label shows weight status.

    Args:
      dense: also list the dense models, which track queries too (after the point trackers).
    """
    out = []
    for name in query_trackers() if dense else list_trackers("point"):
        e = tracker_info(name)
        out.append((f"{name} · {e.title} · {weight_status(name)}", name))
    return out
