"""Fair use of the shared queue: a cap on each client's requests, and work stopped when its client is gone.

Gradio runs each heavy request in one shared queue. Two things it does not do
on its own, done here:

* **A cap per client** (``install_client_cap``): a client (one address; behind a
  proxy, the address the proxy reports last in ``X-Forwarded-For``) may have at most
  ``Limits.max_client_requests`` requests waiting or running. One more is refused
  when it asks to join the queue, with a sentence saying why, so one client cannot
  fill the queue that everybody shares.
* **Cancelling abandoned work** (``client_gone``, used by ``common.progress_adapter``):
  when the browser tab closes or an API client disconnects or cancels, Gradio drops the
  request from its queue, but a request already running keeps its worker thread. Every
  long computation reports progress; once its client is gone the next report raises
  ``studio.progress.Cancelled``, so the work stops there and writes no output files.

Both read Gradio's queue (``Blocks._queue``), which has no public API for this;
if its shape changes they do nothing and log a warning, never break a request.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def gradio_cache_dir() -> Path:
    """Where Gradio keeps uploads and outputs (``GRADIO_TEMP_DIR``, else ``<tempdir>/gradio``)."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


def client_key(request: Any) -> str:
    """The address a request comes from: the peer, or behind a proxy on a private address the last
    address in ``X-Forwarded-For`` (the one the proxy saw; earlier entries are the client's own claim)."""
    peer = getattr(getattr(request, "client", None), "host", None) or "unknown"
    forwarded = ""
    try:
        forwarded = request.headers.get("x-forwarded-for", "") or ""
    except AttributeError:
        pass
    if forwarded:
        try:
            behind_proxy = ipaddress.ip_address(peer).is_private
        except ValueError:
            behind_proxy = False
        if behind_proxy:
            last = forwarded.split(",")[-1].strip()
            if last:
                return last
    return peer


def _cap_message(count: int, limit: int) -> str:
    from studio.limits import setting

    return (f"this client already has {count} request{'s' if count != 1 else ''} waiting or running, the most "
            f"one client may have ({setting('max_client_requests')} = {limit}); wait for one to finish and try again")


def install_client_cap(demo: Any, limit: int) -> bool:
    """Refuse a client's request to join the queue while it has ``limit`` requests waiting or running.

    The refusal is a validation error of the request (HTTP 422), which ``gradio_client``
    raises as ``ValidationError`` with the sentence and the browser shows as an error.

    Returns:
      True when installed; False (with a warning) when this Gradio's queue has another shape.
    """
    queue = getattr(demo, "_queue", None)
    events = getattr(queue, "event_ids_to_events", None)
    push = getattr(queue, "push", None)
    if queue is None or not isinstance(events, dict) or push is None:
        log.warning("per-client request cap not installed: this Gradio's queue has no event table")
        return False

    async def capped_push(body, request, username):
        key = client_key(request)
        count = sum(1 for e in list(events.values()) if getattr(e, "request", None) is not None
                    and client_key(e.request) == key)
        if count >= limit:
            detail = [{"__type__": "validate", "is_valid": False, "message": _cap_message(count, limit),
                       "parameter_name": "request"}]
            return False, detail, "validator_error"
        return await push(body, request, username)

    queue.push = capped_push
    demo.client_cap = limit
    return True


def client_gone() -> bool:
    """True when the queued request running in this thread lost its client (closed, disconnected or cancelled).

    Outside a queued Gradio request (tests, the CLI, a ``queue=False`` handler) it is always False.
    """
    try:
        from gradio.context import LocalContext

        blocks = LocalContext.blocks.get(None)
        event_id = LocalContext.event_id.get(None)
    except (ImportError, LookupError):
        return False
    events = getattr(getattr(blocks, "_queue", None), "event_ids_to_events", None)
    if not event_id or not isinstance(events, dict):
        return False
    event = events.get(event_id)
    # Gradio drops a cancelled request from its table at once and marks a disconnected one dead.
    return event is None or not getattr(event, "alive", True)
