"""Save and load tracks: ``.npz`` (complete), long-format ``.csv`` and ``.json``.

All three use the studio convention (``studio.conventions``): ``(x, y)`` pixels of
the input video, integer = pixel centre; queries ``(t, x, y)``.

* npz keys: ``tracks`` [T,N,2] float32, ``visible`` [T,N] bool, ``queries`` [N,3]
  float32, optional ``confidence`` [T,N] float32, ``fps`` float, ``size`` [2] int
  ``(H, W)``, ``model`` str, ``convention`` str.
* csv: one row per point and frame, columns ``point,frame,x,y,visible`` (plus
  ``confidence`` when present). It carries no metadata; a loaded CSV gets each
  point's query from its first visible frame.
* json: an object with the npz fields as nested lists plus ``format`` and ``version``.

Loading never unpickles (``allow_pickle=False``) and checks every shape and type.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from studio.conventions import CONVENTION
from studio.results import InputError, TrackResult

FORMATS = ("npz", "csv", "json")
JSON_FORMAT = "tracking-studio/tracks"
MAX_FILE_BYTES = 512 * 1024 * 1024


def format_of(path: str | os.PathLike) -> str:
    """``"npz"``, ``"csv"`` or ``"json"`` from the file extension; InputError otherwise."""
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise InputError(f"unsupported track file type {Path(path).suffix or '(none)'!r}; use .npz, .csv or .json")
    return ext


def save_tracks(result: TrackResult, path: str | os.PathLike) -> Path:
    """Write ``result`` to ``path`` in the format its extension names; returns the path."""
    path = Path(path)
    fmt = format_of(path)
    result.validate()
    tmp = path.with_name(path.name + ".part")
    if fmt == "npz":
        arrays = {
            "tracks": result.tracks,
            "visible": result.visible,
            "queries": result.queries,
            "fps": np.float64(result.fps),
            "size": np.asarray(result.size, dtype=np.int64),
            "model": np.str_(result.model),
            "convention": np.str_(result.convention),
        }
        if result.confidence is not None:
            arrays["confidence"] = result.confidence
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    elif fmt == "csv":
        with open(tmp, "w", newline="") as f:
            f.write(tracks_to_csv(result))
    else:
        with open(tmp, "w") as f:
            json.dump(_to_json(result), f, separators=(",", ":"))
    os.replace(tmp, path)
    return path


def tracks_to_csv(result: TrackResult) -> str:
    """The long-format CSV text of ``result`` (``point,frame,x,y,visible[,confidence]``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    has_conf = result.confidence is not None
    w.writerow(["point", "frame", "x", "y", "visible"] + (["confidence"] if has_conf else []))
    t_len, n = result.visible.shape
    for i in range(n):
        for t in range(t_len):
            x, y = result.tracks[t, i]
            row = [i, t, repr(float(x)), repr(float(y)), int(result.visible[t, i])]
            if has_conf:
                row.append(repr(float(result.confidence[t, i])))
            w.writerow(row)
    return buf.getvalue()


def _to_json(result: TrackResult) -> dict:
    out = {
        "format": JSON_FORMAT,
        "version": 1,
        "convention": result.convention,
        "model": result.model,
        "fps": result.fps,
        "size": list(result.size),
        # float32 -> float is exact, so these lists load back bit for bit.
        "queries": result.queries.tolist(),
        "tracks": result.tracks.tolist(),
        "visible": result.visible.tolist(),
    }
    if result.confidence is not None:
        out["confidence"] = result.confidence.tolist()
    return out


def load_tracks(path: str | os.PathLike) -> TrackResult:
    """Read a track file written by ``save_tracks`` (or by hand in the same layout).

    Raises:
      InputError: a clear sentence for any missing field, wrong shape or type, or a
        file that is not what its extension says.
    """
    path = Path(path)
    fmt = format_of(path)
    if not path.is_file():
        raise InputError(f"track file {path.name!r} does not exist")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(f"track file {path.name!r} is larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        if fmt == "npz":
            return _load_npz(path)
        if fmt == "csv":
            return _load_csv(path)
        return _load_json(path)
    except InputError:
        raise
    except Exception as exc:  # a damaged file must become a message, never a crash
        raise InputError(f"could not read {path.name!r} as a {fmt} track file: {type(exc).__name__}: {exc}") from exc


def _array(d, key: str, dtype, ndim: int, name: str, required: bool = True):
    if key not in d:
        if required:
            raise InputError(f"{name} has no '{key}' field")
        return None
    a = np.asarray(d[key])
    if a.dtype == object or a.ndim != ndim:
        raise InputError(f"'{key}' in {name} must be a {ndim}-D numeric array, got shape {list(a.shape)}")
    if dtype is bool:
        if a.dtype != bool and not np.issubdtype(a.dtype, np.integer):
            raise InputError(f"'{key}' in {name} must be boolean, got {a.dtype}")
        if np.issubdtype(a.dtype, np.integer) and a.size and not np.isin(a, (0, 1)).all():
            raise InputError(f"'{key}' in {name} must hold only 0/1 or true/false")
        return a.astype(bool)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)) and a.size:
        raise InputError(f"'{key}' in {name} must be numeric, got {a.dtype}")
    return a.astype(dtype)


def _result(d, name: str) -> TrackResult:
    tracks = _array(d, "tracks", np.float32, 3, name)
    visible = _array(d, "visible", bool, 2, name)
    queries = _array(d, "queries", np.float32, 2, name)
    confidence = _array(d, "confidence", np.float32, 2, name, required=False)
    size = _array(d, "size", np.int64, 1, name, required=False)
    fps = float(np.asarray(d.get("fps", 0.0)).item()) if "fps" in d else 0.0
    if size is not None and size.shape != (2,):
        raise InputError(f"'size' in {name} must be (H, W)")
    if not math.isfinite(fps) or fps < 0:
        raise InputError(f"'fps' in {name} must be a non-negative number")
    model = str(np.asarray(d.get("model", "")).item()) if "model" in d else ""
    convention = str(np.asarray(d.get("convention", CONVENTION)).item()) if "convention" in d else CONVENTION
    if convention != CONVENTION:
        raise InputError(f"{name} uses coordinate convention {convention!r}; this studio reads {CONVENTION!r}")
    if not np.isfinite(tracks).all():
        raise InputError(f"'tracks' in {name} contains NaN or infinite values")
    try:
        return TrackResult(
            tracks=tracks,
            visible=visible,
            queries=queries,
            confidence=confidence,
            fps=fps,
            size=tuple(int(v) for v in size) if size is not None else (0, 0),
            model=model,
            convention=convention,
        )
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None


def _load_npz(path: Path) -> TrackResult:
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    return _result(d, path.name)


def _load_json(path: Path) -> TrackResult:
    with open(path) as f:
        d = json.load(f)
    if not isinstance(d, dict):
        raise InputError(f"{path.name} must hold a JSON object with tracks, visible and queries")
    if d.get("format", JSON_FORMAT) != JSON_FORMAT:
        raise InputError(f"{path.name} is a {d.get('format')!r} file, not {JSON_FORMAT!r}")
    return _result(d, path.name)


def _load_csv(path: Path) -> TrackResult:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        need = ["point", "frame", "x", "y", "visible"]
        if any(c not in cols for c in need):
            raise InputError(f"{path.name} needs the columns {','.join(need)}; it has {','.join(cols) or 'none'}")
        rows = list(reader)
    if not rows:
        raise InputError(f"{path.name} has a header but no rows")
    try:
        pts = np.array([int(r["point"]) for r in rows])
        frames = np.array([int(r["frame"]) for r in rows])
        xy = np.array([[float(r["x"]), float(r["y"])] for r in rows], dtype=np.float32)
        vis = np.array([int(r["visible"]) for r in rows])
        conf = np.array([float(r["confidence"]) for r in rows], np.float32) if "confidence" in cols else None
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path.name} has a row that is not numbers: {exc}") from None
    if pts.min() < 0 or frames.min() < 0:
        raise InputError(f"{path.name} has negative point or frame numbers")
    n, t_len = int(pts.max()) + 1, int(frames.max()) + 1
    if len(rows) != n * t_len or len(set(zip(pts.tolist(), frames.tolist()))) != len(rows):
        raise InputError(f"{path.name} must have exactly one row per point and frame ({n} points x {t_len} frames)")
    tracks = np.zeros((t_len, n, 2), np.float32)
    visible = np.zeros((t_len, n), np.int64)
    tracks[frames, pts] = xy
    visible[frames, pts] = vis
    d = {"tracks": tracks, "visible": visible}
    if conf is not None:
        c = np.zeros((t_len, n), np.float32)
        c[frames, pts] = conf
        d["confidence"] = c
    # No metadata in CSV: a point's query is its first visible position (frame 0 if never visible).
    first = np.where(visible.any(axis=0), np.argmax(visible > 0, axis=0), 0)
    d["queries"] = np.concatenate([first[:, None], tracks[first, np.arange(n)]], axis=1).astype(np.float32)
    return _result(d, path.name)
