"""Open a live session for the Live tab: an online model, a fresh output folder, the live limits.

Each live session builds its own tracker (``studio.online.open_online``): an online
tracker carries the stream's state, so two browsers cannot share one model object
the way offline requests share the model cache. ``lk`` costs nothing to build; a
neural model loads its (cached) weights once per session.
"""

from __future__ import annotations

import base64
import binascii
import json

import numpy as np

from studio.io.guards import decode_image
from studio.live import LiveSession
from studio.online import NotOnline, online_names, open_online
from studio.registry import NOT_USABLE, tracker_info, weight_status, where_to_get
from studio.results import InputError

LIVE_DEFAULT_MODEL = "lk"
"""Weight-free, causal and fast enough for a CPU webcam stream."""


def live_limits(limits) -> dict:
    """``LiveSession`` keyword limits from ``studio.limits.Limits`` (``live_max_side``, ``live_max_frames``,
    ``live_max_points``: ``STUDIO_LIVE_MAX_SIDE`` 640, ``STUDIO_LIVE_MAX_FRAMES`` 9000 = 10 min at 15
    frames/s, ``STUDIO_LIVE_MAX_POINTS`` 1000)."""
    return {"max_side": limits.live_max_side, "max_frames": limits.live_max_frames, "max_points": limits.live_max_points}


def live_model_choices() -> list[tuple[str, str]]:
    """``(label, name)`` for every online point tracker; a model that cannot run here says why in its label."""
    out = []
    for name in online_names():
        status = weight_status(name)
        label = f"{name} · {tracker_info(name).title} · {status}"
        if status in NOT_USABLE:
            label += " — weights missing (choose it to see where to get them)"
        out.append((label, name))
    return out


def open_live_session(service, model: str | None = None) -> LiveSession:
    """A new ``LiveSession`` for ``model`` (default ``lk``) writing into a fresh output folder.

    Raises:
      InputError: the model is unknown or offline, or its weights are missing here (the
        message says where to get them).
    """
    name = model or LIVE_DEFAULT_MODEL
    try:
        tracker_info(name)
    except KeyError:
        raise InputError(f"unknown model {name!r}; live models: {', '.join(online_names())}") from None
    if name in online_names() and weight_status(name) in NOT_USABLE:
        raise InputError(f"{name} cannot run here: {where_to_get(name)}")
    try:
        tracker = open_online(name, device=service.device)
    except NotOnline as exc:  # an offline model: the message names the online ones
        raise InputError(str(exc)) from exc
    return LiveSession(tracker, service.new_output_dir(), model=name, **live_limits(service.limits))


def parse_points_json(text: str, max_points: int = 1000) -> np.ndarray:
    """Points for a live frame from JSON text ``[[x, y], ...]`` (pixels of that frame); empty text = none.

    Text longer than room for ``max_points`` points is refused before it is parsed.

    Returns:
      float32 [M, 2] ``(x, y)``; checked against the frame by ``LiveSession.add_points``.

    Raises:
      InputError: not JSON, or not a list of two-number lists.
    """
    if not isinstance(text, str) or not text.strip():
        return np.zeros((0, 2), np.float32)
    if len(text) > 48 * max_points + 1024:
        raise InputError(f"points text is too long: at most {max_points} points in a live session")
    try:
        data = json.loads(text)
    except RecursionError:
        raise InputError("points JSON is nested too deeply; write them like [[120, 80], [200, 90]]") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"points are not valid JSON ({exc.msg}); write them like [[120, 80], [200, 90]] as (x, y)") from None
    ok = isinstance(data, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
        for p in data
    )
    if not ok:
        raise InputError("points must be a JSON list of [x, y] pairs, e.g. [[120, 80], [200, 90]]")
    return np.asarray(data, np.float32).reshape(-1, 2)


def points_rows(tracks: np.ndarray, visible: np.ndarray, digits: int = 3) -> list:
    """``[[x, y, visible], ...]`` of every point on one frame (x, y None for a point not started yet)."""
    rows = []
    for (x, y), v in zip(np.asarray(tracks, float), np.asarray(visible, bool)):
        finite = bool(np.isfinite(x) and np.isfinite(y))
        rows.append([round(float(x), digits) if finite else None, round(float(y), digits) if finite else None, bool(v)])
    return rows


def points_json(tracks: np.ndarray, visible: np.ndarray) -> str:
    """``points_rows`` as JSON text."""
    return json.dumps(points_rows(tracks, visible))


FRAME_URL_FORMATS = ("jpeg", "png", "webp")
MAX_FRAME_URL_CHARS = 16_000_000
"""A camera frame sent by the Live tab's page: a 640x480 JPEG is ~40-80 kB of base64; 16 MB is room for a
large PNG and still refuses a flood before it is decoded."""


def decode_frame_url(url, limits=None) -> np.ndarray:
    """A camera frame sent by the page as ``data:image/{jpeg,png,webp};base64,...`` -> uint8 [H, W, 3] RGB.

    Raises:
      InputError: not such a data URL, too long, not base64, or not a readable image;
      LimitExceeded: more pixels than ``max_image_pixels`` (checked from the header, before decoding).
    """
    if not isinstance(url, str) or not url.startswith("data:image/"):
        raise InputError("a live frame must be a data:image/jpeg (or png, webp) URL")
    if len(url) > MAX_FRAME_URL_CHARS:
        raise InputError(f"a live frame may be at most {MAX_FRAME_URL_CHARS // 1_000_000} MB of text")
    head, _, body = url.partition(",")
    kind = head[len("data:image/"):]
    if not kind.endswith(";base64") or kind[: -len(";base64")] not in FRAME_URL_FORMATS:
        raise InputError(f"a live frame must be a base64 {'/'.join(FRAME_URL_FORMATS)} data URL, got {head[:40]!r}")
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("a live frame's data URL is not valid base64") from None
    return decode_image(blob, "the camera frame", limits)
