"""Save and load tracks: ``.npz`` (complete), long-format ``.csv`` and ``.json``.

All three use the studio convention (``studio.conventions``): ``(x, y)`` pixels of
the input video, integer = pixel centre; queries ``(t, x, y)``.

* npz keys: ``tracks`` [T,N,2] float32, ``visible`` [T,N] bool, ``queries`` [N,3]
  float32, optional ``confidence`` [T,N] float32, ``fps`` float, ``size`` [2] int
  ``(H, W)``, ``model`` str, ``convention`` str, optional ``names`` [N] unicode
  strings (a plain string array: no pickle needed to read it).
* csv: one row per point and frame, columns ``point,frame,x,y,visible`` (plus
  ``confidence`` when present, and ``name`` after ``point`` when the points are
  named). It carries no other metadata; a loaded CSV gets each point's query from
  its first visible frame.
* json: an object with the npz fields as nested lists (``names`` a list of
  strings) plus ``format`` and ``version``.

Loading never unpickles and checks every shape and type. Sizes are checked before they
cost memory (``studio.io.guards``, ``studio.limits.Limits``): npz arrays by their headers
(``max_array_bytes``, ``max_video_frames`` frames, ``max_tracks`` tracks), JSON and CSV
by their file size (``max_text_bytes``: parsed text takes many times its size); a
stated ``fps`` must be within ``MAX_FPS``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np

from studio.conventions import CONVENTION
from studio.io.atomic import atomic_path
from studio.io.guards import LimitExceeded, NpzFile, check_text_file, parse_json
from studio.limits import MAX_FPS, Limits, setting
from studio.results import InputError, TrackResult, check_names

FORMATS = ("npz", "csv", "json")
JSON_FORMAT = "tracking-studio/tracks"
MAX_FILE_BYTES = 512 * 1024 * 1024
_NPZ_KEYS = ("tracks", "visible", "queries", "confidence", "fps", "size", "model", "convention", "names")


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
    with atomic_path(path) as tmp:  # a killed save leaves no half file under ``path``
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
            if result.names is not None:
                arrays["names"] = np.asarray(result.names, dtype=np.str_).reshape(-1)
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)
        elif fmt == "csv":
            with open(tmp, "w", newline="") as f:
                f.write(tracks_to_csv(result))
        else:
            with open(tmp, "w") as f:
                json.dump(_to_json(result), f, separators=(",", ":"))
    return path


def tracks_to_csv(result: TrackResult) -> str:
    """The long-format CSV text of ``result`` (``point[,name],frame,x,y,visible[,confidence]``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    has_conf = result.confidence is not None
    names = result.names
    w.writerow(["point"] + (["name"] if names is not None else []) + ["frame", "x", "y", "visible"]
               + (["confidence"] if has_conf else []))
    t_len, n = result.visible.shape
    for i in range(n):
        named = [names[i]] if names is not None else []
        for t in range(t_len):
            x, y = result.tracks[t, i]
            row = [i, *named, t, repr(float(x)), repr(float(y)), int(result.visible[t, i])]
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
    if result.names is not None:
        out["names"] = list(result.names)
    return out


def load_tracks(path: str | os.PathLike, limits: Limits | None = None) -> TrackResult:
    """Read a track file written by ``save_tracks`` (or by hand in the same layout).

    Args:
      limits: what the file may declare (default: from the environment; see the module doc).

    Raises:
      InputError: a clear sentence for any missing field, wrong shape or type, a
        file that is not what its extension says, or sizes beyond the limits.
    """
    path = Path(path)
    fmt = format_of(path)
    limits = limits or Limits.from_env()
    if not path.is_file():
        raise InputError(f"track file {path.name!r} does not exist")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(f"track file {path.name!r} is larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        if fmt == "npz":
            return _load_npz(path, limits)
        check_text_file(path, f"track file {path.name!r}", limits)
        if fmt == "csv":
            return _load_csv(path, limits)
        return _load_json(path, limits)
    except InputError:
        raise
    except MemoryError:
        raise InputError(f"track file {path.name!r} needs more memory than this machine has to read") from None
    except Exception as exc:  # a damaged file must become a message, never a crash
        raise InputError(f"could not read {path.name!r} as a {fmt} track file: {type(exc).__name__}: {exc}") from exc


def check_track_count(t_len: int, n: int, name: str, limits: Limits) -> None:
    """Refuse tracks of more than ``max_video_frames`` frames or ``max_tracks`` tracks."""
    if t_len > limits.max_video_frames:
        raise LimitExceeded(f"{name} has tracks through {t_len} frames, more than the {limits.max_video_frames} "
                            f"allowed ({setting('max_video_frames')}); refused")
    if n > limits.max_tracks:
        raise LimitExceeded(f"{name} has {n} tracks, more than the {limits.max_tracks} allowed "
                            f"({setting('max_tracks')}); refused")


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


def _result(d, name: str, limits: Limits) -> TrackResult:
    tracks = _array(d, "tracks", np.float32, 3, name)
    check_track_count(tracks.shape[0], tracks.shape[1], name, limits)
    visible = _array(d, "visible", bool, 2, name)
    queries = _array(d, "queries", np.float32, 2, name)
    confidence = _array(d, "confidence", np.float32, 2, name, required=False)
    size = _array(d, "size", np.int64, 1, name, required=False)
    fps = float(np.asarray(d.get("fps", 0.0)).item()) if "fps" in d else 0.0
    if size is not None and size.shape != (2,):
        raise InputError(f"'size' in {name} must be (H, W)")
    if not math.isfinite(fps) or not 0 <= fps <= MAX_FPS:
        raise InputError(f"'fps' in {name} must be a number of frames per second in 0..{MAX_FPS:g}, got {fps:g}")
    model = str(np.asarray(d.get("model", "")).item()) if "model" in d else ""
    convention = str(np.asarray(d.get("convention", CONVENTION)).item()) if "convention" in d else CONVENTION
    if convention != CONVENTION:
        raise InputError(f"{name} uses coordinate convention {convention!r}; this studio reads {CONVENTION!r}")
    if not np.isfinite(tracks).all():
        raise InputError(f"'tracks' in {name} contains NaN or infinite values")
    names = _names(d, name, tracks.shape[1])
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
            names=names,
        )
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None


def _names(d, name: str, n: int) -> list[str] | None:
    """Optional point names: a 1-D string array (npz) or a list of strings (json)."""
    if "names" not in d or d["names"] is None:
        return None
    raw = d["names"]
    if isinstance(raw, np.ndarray):
        if raw.ndim != 1 or raw.dtype.kind not in "US":
            raise InputError(f"'names' in {name} must be a 1-D array of strings, got {raw.dtype} {list(raw.shape)}")
        raw = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in raw.tolist()]
    try:
        return check_names(raw, n)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None


def _load_npz(path: Path, limits: Limits) -> TrackResult:
    with NpzFile(path, limits) as z:
        if "tracks" in z and len(z.shape("tracks")) == 3:  # sizes from the header, before any data is read
            check_track_count(z.shape("tracks")[0], z.shape("tracks")[1], path.name, limits)
        d = z.load_all(list(_NPZ_KEYS), what="track arrays")
    return _result(d, path.name, limits)


def _load_json(path: Path, limits: Limits) -> TrackResult:
    with open(path, encoding="utf-8") as f:
        d = parse_json(f.read(), path.name, limits.max_text_bytes)
    if not isinstance(d, dict):
        raise InputError(f"{path.name} must hold a JSON object with tracks, visible and queries")
    if d.get("format", JSON_FORMAT) != JSON_FORMAT:
        raise InputError(f"{path.name} is a {d.get('format')!r} file, not {JSON_FORMAT!r}")
    return _result(d, path.name, limits)


def _csv_table(f, cols: list[str], name: str) -> tuple[np.ndarray, list[str] | None]:
    """The numeric columns of the rows after the header as one float64 array [rows, columns],
    and the ``name`` column's values when there is one (None otherwise)."""
    try:
        if "name" not in cols:
            # numpy parses the rows straight into one float array: a few bytes per value,
            # where a list of row dicts costs hundreds.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "input contained no data": said below
                return np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2, comments=None), None
        # A name may hold quoted commas, so the csv module splits the rows; the text is
        # already capped (max_text_bytes), which bounds these lists.
        k = cols.index("name")
        labels, values = [], []
        for row in csv.reader(f):
            if not row:
                continue
            if len(row) != len(cols):
                raise InputError(f"{name} has {len(row)} values in a row but {len(cols)} columns in its header")
            labels.append(row.pop(k))
            values.append(row)
        return np.array(values, dtype=np.float64).reshape(len(values), len(cols) - 1), labels
    except ValueError as exc:
        raise InputError(f"{name} has a row that is not numbers: {exc}") from None


def _csv_names(labels: list[str], pts: np.ndarray, name: str) -> dict[int, str]:
    """``{point: name}`` from the ``name`` column; every row of a point must carry the same name."""
    out: dict[int, str] = {}
    for value, p in zip(labels, pts.tolist()):
        if out.setdefault(p, value) != value:
            raise InputError(f"{name}: point {p} has two names, {out[p]!r} and {value!r}")
    return out


def _load_csv(path: Path, limits: Limits) -> TrackResult:
    need = ["point", "frame", "x", "y", "visible"]
    with open(path, newline="", encoding="utf-8") as f:
        cols = [c.strip() for c in next(csv.reader([f.readline()]), [])]
        if any(c not in cols for c in need):
            raise InputError(f"{path.name} needs the columns {','.join(need)}; it has {','.join(cols) or 'none'}")
        table, labels = _csv_table(f, cols, path.name)
        if labels is not None:
            cols = [c for c in cols if c != "name"]
    if table.size == 0:
        raise InputError(f"{path.name} has a header but no rows")
    if table.shape[1] != len(cols):
        raise InputError(f"{path.name} has {table.shape[1]} values per row but {len(cols)} columns in its header")
    col = {c: table[:, i] for i, c in enumerate(cols)}
    integers = np.stack([col["point"], col["frame"], col["visible"]])
    if not np.isfinite(integers).all() or (integers != np.round(integers)).any():
        raise InputError(f"{path.name} has a row whose point, frame or visible is not a whole number")
    pts, frames, vis = (col[c].astype(np.int64) for c in ("point", "frame", "visible"))
    xy = np.stack([col["x"], col["y"]], axis=-1).astype(np.float32)
    conf = col["confidence"].astype(np.float32) if "confidence" in cols else None
    rows = table.shape[0]
    del table, col, integers
    if pts.min() < 0 or frames.min() < 0:
        raise InputError(f"{path.name} has negative point or frame numbers")
    names_of = _csv_names(labels, pts, path.name) if labels is not None else None
    n, t_len = int(pts.max()) + 1, int(frames.max()) + 1
    if rows != n * t_len or len(np.unique(pts * t_len + frames)) != rows:
        raise InputError(f"{path.name} must have exactly one row per point and frame ({n} points x {t_len} frames)")
    check_track_count(t_len, n, path.name, limits)
    tracks = np.zeros((t_len, n, 2), np.float32)
    visible = np.zeros((t_len, n), np.int64)
    tracks[frames, pts] = xy
    visible[frames, pts] = vis
    d = {"tracks": tracks, "visible": visible}
    if names_of is not None:
        d["names"] = [names_of.get(i, "") for i in range(n)]
    if conf is not None:
        c = np.zeros((t_len, n), np.float32)
        c[frames, pts] = conf
        d["confidence"] = c
    # No metadata in CSV: a point's query is its first visible position (frame 0 if never visible).
    first = np.where(visible.any(axis=0), np.argmax(visible > 0, axis=0), 0)
    d["queries"] = np.concatenate([first[:, None], tracks[first, np.arange(n)]], axis=1).astype(np.float32)
    return _result(d, path.name, limits)
