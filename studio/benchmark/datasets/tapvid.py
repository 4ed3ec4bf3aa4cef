"""TAP-Vid style datasets: safe reading, schema checks, writing.

Formats read (see ``docs``: evaluation-and-data notes, section 1):

* **DAVIS / RoboTAP pickles**: ``dict[name] -> {"video", "points", "occluded"}``.
* **RGB-Stacking / Kinetics pickles**: a ``list`` of those dicts (unnamed; named
  ``<file stem>-<index>`` here). Kinetics stores ``video`` as a numpy bytes array
  of JPEG frames, decoded only when the video is used.
* **npz**: the same content without pickle: ``__videos__`` (names) and
  ``<name>/video``, ``<name>/points``, ``<name>/occluded`` per video; or a
  single video as top-level ``video``, ``points``, ``occluded``.
* A **folder** of such files (Kinetics shards ``*_of_0010.pkl``, RoboTAP
  splits): files in name order, one loaded at a time.

Per video:

* ``video``: uint8 [T, H, W, 3] RGB, or T encoded frames (JPEG/PNG bytes).
* ``points``: float [N, T, 2] ``(x, y)`` normalised: ``(0, 0)`` is the top-left
  corner of the top-left pixel, ``(1, 1)`` the bottom-right corner of the last.
* ``occluded``: bool [N, T], True = hidden.
* ``names`` (optional, ours): N point names, a 1-D string array (or a list of
  strings in a pickle). Names that are COCO-17 keypoints (``studio.pose``) make the
  benchmark add pose metrics (PCK, OKS, jitter).
* ``keyframes`` (optional, ours): int8 [N, T], how each position was made in the
  Annotate tab: 0 proposed by a tracker, 1 placed by hand, 2 marked hidden by hand.

Readers of the original format ignore the two optional fields.

Pickles are read with ``studio.benchmark.datasets.safe_pickle`` only: a file that names
anything but numpy arrays and plain containers is refused and nothing in it runs.

Every size a file declares is checked against ``studio.limits.Limits`` before it is
allocated: npz arrays by their ``.npy`` headers (``studio.io.guards.NpzFile``), the
number of videos, frames and tracks, the pixels of encoded frames by their image
headers, and a decoded video's bytes (``max_array_bytes``).

How a video is posed and scored (resolution, query sampling) is
``studio.benchmark.protocol``.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.benchmark.datasets.safe_pickle import UnsafePickleError, safe_load
from studio.io.guards import LimitExceeded, NpzFile, check_array, decode_image, image_size
from studio.limits import Limits, format_size, setting
from studio.results import InputError

PICKLE_SUFFIXES = (".pkl", ".pickle")
DATASET_SUFFIXES = PICKLE_SUFFIXES + (".npz",)
_FIELDS = ("video", "points", "occluded")
OPTIONAL_FIELDS = ("names", "keyframes")
"""Our additions to a video's record (module doc); files without them are plain TAP-Vid."""

KEYFRAME_PROPOSED, KEYFRAME_PLACED, KEYFRAME_HIDDEN = 0, 1, 2


class DatasetError(InputError):
    """A dataset file that cannot be read or does not follow the TAP-Vid schema.

    The message names the file, and where it applies the video and the field.
    """


@dataclass
class TapVidVideo:
    """One annotated video as stored in the file (frames not decoded yet).

    Attributes:
      name: video name (dict key, or ``<file stem>-<index>`` for list layouts).
      points: [N, T, 2] float ``(x, y)`` normalised to the image (see module doc).
      occluded: [N, T] bool, True = hidden.
      raw_video: uint8 [T, H, W, 3], or a length-T sequence of encoded frames.
      source: file the video came from.
      limits: what decoding the frames may cost (default: from the environment).
      names: optional N point names.
      keyframes: optional int8 [N, T] (``KEYFRAME_*``: proposed, placed, marked hidden).
    """

    name: str
    points: np.ndarray
    occluded: np.ndarray
    raw_video: Any
    source: str = ""
    limits: Limits | None = None
    names: list[str] | None = None
    keyframes: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.occluded.shape[1])

    @property
    def num_tracks(self) -> int:
        return int(self.occluded.shape[0])

    @property
    def encoded(self) -> bool:
        """True when frames are stored as encoded images (Kinetics layout)."""
        return not (isinstance(self.raw_video, np.ndarray) and self.raw_video.dtype == np.uint8)

    def frames(self) -> np.ndarray:
        """The decoded video, uint8 [T, H, W, 3] RGB.

        Raises:
          DatasetError: a frame that is not a readable image, frames of different sizes, or
            frames larger than ``max_image_pixels`` / ``max_array_bytes`` (from their headers,
            before decoding).
        """
        if not self.encoded:
            return self.raw_video
        return _decode_frames(self.raw_video, self.name, self.source, self.limits or Limits.from_env())


def _where(source: str, name: str, key: str | None = None) -> str:
    where = f"{os.path.basename(source)}: video {name!r}" if source else f"video {name!r}"
    return f"{where}, field {key!r}" if key else where


def _decode_frames(raw: Sequence[bytes], name: str, source: str, limits: Limits) -> np.ndarray:
    where = _where(source, name, "video")
    if len(raw) == 0:
        raise DatasetError(f"{where}: has no frames")
    try:
        # Frame 0's header sets the size of the whole video: check it before decoding anything.
        w, h = image_size(bytes(raw[0]), f"{where}: frame 0", limits)
        check_array((len(raw), h, w, 3), np.uint8, f"{where}: {len(raw)} decoded frames", limits)
        out = np.empty((len(raw), h, w, 3), np.uint8)
        for i, blob in enumerate(raw):
            frame = decode_image(bytes(blob), f"{where}: frame {i}", limits)
            if frame.shape != out.shape[1:]:
                raise DatasetError(f"{where}: frame {i} is {frame.shape[1]}x{frame.shape[0]}, frame 0 is {w}x{h}")
            out[i] = frame
    except DatasetError:
        raise
    except InputError as exc:
        raise DatasetError(str(exc)) from None
    return out


def _declared(record: Mapping, key: str) -> tuple[tuple[int, ...], np.dtype] | None:
    """``(shape, dtype)`` of a record's array without reading it (npz: from its header); None if not an array."""
    if isinstance(record, _LazyRecord):
        return record.declared(key)
    value = record[key]
    return (value.shape, value.dtype) if isinstance(value, np.ndarray) else None


def check_declared_sizes(name: str, record: Mapping, source: str, limits: Limits) -> None:
    """Refuse a record whose declared sizes exceed the limits, before its arrays are read.

    Tracks (``points`` N) within ``max_tracks``, frames (T) within ``max_video_frames``,
    each stored frame within ``max_image_pixels`` and each array within ``max_array_bytes``.
    """
    points = _declared(record, "points")
    if points is not None and len(points[0]) == 3:
        n, t_len = points[0][:2]
        if n > limits.max_tracks:
            raise LimitExceeded(
                f"{_where(source, name, 'points')}: {n} tracks, more than the {limits.max_tracks} a video may have "
                f"({setting('max_tracks')}); refused before reading them"
            )
        if t_len > limits.max_video_frames:
            raise LimitExceeded(
                f"{_where(source, name, 'points')}: {t_len} frames, more than the {limits.max_video_frames} a video "
                f"may have ({setting('max_video_frames')}); refused before reading them"
            )
    video = _declared(record, "video")
    if video is not None and len(video[0]) == 4:
        t_len, h, w = video[0][:3]
        if h * w > limits.max_image_pixels:
            raise LimitExceeded(
                f"{_where(source, name, 'video')}: {w}x{h} frames, more than the {limits.max_image_pixels} pixels "
                f"a frame may have ({setting('max_image_pixels')}); refused before reading them"
            )
    elif video is not None and len(video[0]) == 1 and video[0][0] > limits.max_video_frames:
        raise LimitExceeded(
            f"{_where(source, name, 'video')}: {video[0][0]} encoded frames, more than the "
            f"{limits.max_video_frames} a video may have ({setting('max_video_frames')}); refused"
        )
    for key in _FIELDS:
        found = _declared(record, key)
        if found is not None:
            check_array(found[0], found[1], _where(source, name, key), limits)


def validate_video(name: str, record: Any, source: str = "", limits: Limits | None = None) -> TapVidVideo:
    """Check one ``{"video", "points", "occluded"}`` record and wrap it.

    Args:
      name: video name, used in messages.
      record: the dict read from the file.
      source: file name, used in messages.
      limits: size limits (``check_declared_sizes``), checked before any array of an
        npz record is read; default from the environment.

    Returns:
      ``TapVidVideo`` with ``occluded`` as bool.

    Raises:
      DatasetError: naming the video and field: a missing field, a wrong type,
        dtype or shape, frame counts that disagree, non-finite coordinates on
        frames where the point is visible, or sizes beyond the limits.
    """
    limits = limits or Limits.from_env()
    if not isinstance(record, Mapping):
        raise DatasetError(
            f"{_where(source, name)}: expected a dict with fields {list(_FIELDS)}, got {type(record).__name__}"
        )
    for key in _FIELDS:
        if key not in record:
            raise DatasetError(f"{_where(source, name, key)}: missing (a video needs {', '.join(_FIELDS)})")
    try:
        check_declared_sizes(name, record, source, limits)
    except DatasetError:
        raise
    except InputError as exc:
        raise DatasetError(str(exc)) from None
    points, occluded, video = record["points"], record["occluded"], record["video"]

    if not isinstance(points, np.ndarray) or points.dtype.kind not in "fiu":
        raise DatasetError(f"{_where(source, name, 'points')}: expected a float array, got {_describe(points)}")
    if points.ndim != 3 or points.shape[2] != 2:
        raise DatasetError(
            f"{_where(source, name, 'points')}: expected shape [N, T, 2] (x, y), got {list(points.shape)}"
        )
    n, t_len = points.shape[:2]
    if t_len == 0:
        raise DatasetError(f"{_where(source, name, 'points')}: the tracks have no frames (shape {list(points.shape)})")

    if not isinstance(occluded, np.ndarray) or occluded.dtype.kind not in "biu":
        raise DatasetError(f"{_where(source, name, 'occluded')}: expected a bool array, got {_describe(occluded)}")
    if occluded.shape != (n, t_len):
        raise DatasetError(
            f"{_where(source, name, 'occluded')}: expected shape [N, T] = {[n, t_len]} to match points, "
            f"got {list(occluded.shape)}"
        )
    if occluded.dtype != bool:
        if occluded.size and not np.isin(occluded, (0, 1)).all():
            raise DatasetError(f"{_where(source, name, 'occluded')}: values must be True/False (or 0/1)")
        occluded = occluded.astype(bool)

    bad = ~np.isfinite(points).all(axis=-1) & ~occluded
    if bad.any():
        i, t = np.argwhere(bad)[0]
        raise DatasetError(
            f"{_where(source, name, 'points')}: {int(bad.sum())} non-finite coordinates on visible frames "
            f"(first: track {i}, frame {t})"
        )

    if isinstance(video, np.ndarray) and video.dtype == np.uint8:
        if video.ndim != 4 or video.shape[3] != 3:
            raise DatasetError(
                f"{_where(source, name, 'video')}: expected uint8 [T, H, W, 3] RGB, got shape {list(video.shape)}"
            )
        if min(video.shape[1:3]) == 0:
            raise DatasetError(f"{_where(source, name, 'video')}: empty frames (shape {list(video.shape)})")
    elif isinstance(video, np.ndarray) and video.dtype.kind == "S" and video.ndim == 1:
        pass  # Kinetics: np.array(tuple of JPEG bytes)
    elif isinstance(video, (list, tuple)) and all(isinstance(f, (bytes, bytearray)) for f in video):
        pass
    else:
        raise DatasetError(
            f"{_where(source, name, 'video')}: expected uint8 [T, H, W, 3] frames or a list of encoded "
            f"(JPEG/PNG) frames, got {_describe(video)}"
        )
    if len(video) != t_len:
        raise DatasetError(
            f"{_where(source, name, 'video')}: has {len(video)} frames but points/occluded have {t_len}"
        )
    names = _names(record.get("names"), n, source, name) if "names" in record else None
    keyframes = _keyframes(record.get("keyframes"), (n, t_len), source, name) if "keyframes" in record else None
    return TapVidVideo(name=str(name), points=points, occluded=occluded, raw_video=video, source=source,
                       limits=limits, names=names, keyframes=keyframes)


def _names(raw: Any, n: int, source: str, name: str) -> list[str] | None:
    from studio.results import MAX_NAME_CHARS

    if raw is None:
        return None
    if isinstance(raw, np.ndarray) and raw.ndim == 1 and raw.dtype.kind in "US":
        raw = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in raw.tolist()]
    if not isinstance(raw, (list, tuple)) or not all(isinstance(v, str) for v in raw):
        raise DatasetError(f"{_where(source, name, 'names')}: expected a 1-D array of strings, got {_describe(raw)}")
    if len(raw) != n:
        raise DatasetError(f"{_where(source, name, 'names')}: {len(raw)} names for {n} tracks")
    if any(len(v) > MAX_NAME_CHARS for v in raw):
        raise DatasetError(f"{_where(source, name, 'names')}: a name is longer than {MAX_NAME_CHARS} characters")
    return [str(v) for v in raw]


def _keyframes(raw: Any, shape: tuple[int, int], source: str, name: str) -> np.ndarray | None:
    if raw is None:
        return None
    if not isinstance(raw, np.ndarray) or raw.dtype.kind not in "iub" or raw.shape != shape:
        raise DatasetError(
            f"{_where(source, name, 'keyframes')}: expected an integer array of shape {list(shape)}, got {_describe(raw)}"
        )
    if raw.size and not np.isin(raw, (KEYFRAME_PROPOSED, KEYFRAME_PLACED, KEYFRAME_HIDDEN)).all():
        raise DatasetError(f"{_where(source, name, 'keyframes')}: values must be 0 (proposed), 1 (placed), 2 (hidden)")
    return raw.astype(np.int8)


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {list(x.shape)}"
    return type(x).__name__


def _check_count(path: Path, count: int, limits: Limits) -> None:
    if count > limits.max_videos:
        raise DatasetError(
            f"{path.name}: holds {count} videos, more than the {limits.max_videos} a dataset file may have "
            f"({setting('max_videos')}); refused"
        )


def _read_pickle(path: Path, limits: Limits) -> list[tuple[str, Any]]:
    try:
        data = safe_load(path, limits)
    except UnsafePickleError as exc:
        raise DatasetError(f"{path.name}: {exc}") from None
    except MemoryError:
        raise DatasetError(
            f"{path.name}: needs more memory than this machine has to load ({format_size(path.stat().st_size)} "
            "of pickle); refused"
        ) from None
    except RecursionError:
        raise DatasetError(f"{path.name}: nests containers too deeply to be a TAP-Vid pickle; refused") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path.name}: not a readable pickle ({type(exc).__name__}: {exc})") from None
    if isinstance(data, Mapping):
        _check_count(path, len(data), limits)
        return [(str(k), v) for k, v in data.items()]
    if isinstance(data, (list, tuple)):
        _check_count(path, len(data), limits)
        return [(f"{path.stem}-{i:04d}", v) for i, v in enumerate(data)]
    raise DatasetError(
        f"{path.name}: expected a dict of videos (DAVIS, RoboTAP) or a list of videos (RGB-Stacking, "
        f"Kinetics), got {type(data).__name__}"
    )


def _read_npz(path: Path, limits: Limits) -> list[tuple[str, Any]]:
    try:
        npz = NpzFile(path, limits)
        keys = set(npz.files)
        if "__videos__" not in keys:
            if set(_FIELDS) <= keys:
                return [(path.stem, _LazyRecord(npz, ""))]
            raise DatasetError(
                f"{path.name}: expected '__videos__' with '<name>/video', '<name>/points', '<name>/occluded' per "
                f"video (or top-level 'video', 'points', 'occluded'); found keys {sorted(keys)[:8]}"
            )
        shape, dtype = npz.shape("__videos__"), npz.dtype("__videos__")
        if len(shape) != 1 or dtype.kind not in "US":
            raise DatasetError(f"{path.name}: '__videos__' must be a 1-D array of names, got {dtype} {list(shape)}")
        _check_count(path, shape[0], limits)
        names = npz["__videos__"]
    except DatasetError:
        raise
    except InputError as exc:
        raise DatasetError(str(exc)) from None
    out = []
    for name in names.tolist():
        name = name.decode() if isinstance(name, bytes) else str(name)
        out.append((name, _LazyRecord(npz, f"{name}/")))
    return out


class _LazyRecord(Mapping):
    """One video of an npz file; arrays are read from the zip only when accessed, after their headers."""

    def __init__(self, npz: NpzFile, prefix: str):
        self._npz, self._prefix = npz, prefix

    def declared(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """``(shape, dtype)`` of ``key`` from its ``.npy`` header (nothing is read)."""
        full = self._prefix + key
        try:
            return self._npz.shape(full), self._npz.dtype(full)
        except InputError as exc:
            raise DatasetError(f"field {key!r}: {exc}") from None

    def __getitem__(self, key: str) -> Any:
        full = self._prefix + key
        if full not in self._npz.files:
            raise KeyError(key)
        try:
            return self._npz[full]
        except InputError as exc:  # an object array (needs pickle), too large, damaged
            raise DatasetError(f"field {key!r}: {exc}") from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._prefix + key in self._npz.files

    def __iter__(self) -> Iterator[str]:
        return (k[len(self._prefix):] for k in self._npz.files if k.startswith(self._prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def dataset_files(path: str | os.PathLike) -> list[Path]:
    """The dataset files at ``path``: the file itself, or the .pkl/.npz files of a folder in name order."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in DATASET_SUFFIXES)
        if not files:
            raise DatasetError(f"{p}: the folder holds no {'/'.join(DATASET_SUFFIXES)} files")
        # "x.pkl" and "x.npz" side by side are one dataset in two formats (as the bundled
        # sample ships): score it once, from the pickle-free .npz.
        stems = {f.stem for f in files if f.suffix.lower() == ".npz"}
        return [f for f in files if f.suffix.lower() == ".npz" or f.stem not in stems]
    if not p.is_file():
        raise DatasetError(f"{p}: no such file or folder")
    if p.suffix.lower() not in DATASET_SUFFIXES:
        raise DatasetError(f"{p.name}: expected a {', '.join(DATASET_SUFFIXES)} file or a folder of them")
    return [p]


@dataclass
class DatasetItem:
    """A video and where it lies in the whole dataset, for progress bars.

    Attributes:
      video: the video.
      span: ``(start, end)`` share of the dataset this video covers, in [0, 1].
    """

    video: TapVidVideo
    span: tuple[float, float]


@dataclass
class TapVidDataset:
    """A TAP-Vid dataset on disk, read one file at a time and one video at a time.

    Iterating yields ``TapVidVideo``; frames are decoded only by ``frames()``, so a
    Kinetics shard never holds more than one decoded video.

    Attributes:
      path: the file or folder.
      files: the dataset files, in reading order.
    """

    path: Path
    files: list[Path] = field(default_factory=list)
    limits: Limits | None = None

    @classmethod
    def open(cls, path: str | os.PathLike, limits: Limits | None = None) -> TapVidDataset:
        return cls(Path(path), dataset_files(path), limits)

    @property
    def name(self) -> str:
        return self.path.stem if self.path.is_file() else self.path.name

    def items(self, max_videos: int | None = None) -> Iterator[DatasetItem]:
        """Validated videos with their progress span; stops after ``max_videos``."""
        count = 0
        limits = self.limits or Limits.from_env()
        for f_index, path in enumerate(self.files):
            read = _read_pickle if path.suffix.lower() in PICKLE_SUFFIXES else _read_npz
            records = read(path, limits)
            total = len(records) if max_videos is None else min(len(records), max_videos - count)
            seen: set[str] = set()
            for i, (name, record) in enumerate(records):
                if max_videos is not None and count >= max_videos:
                    return
                if name in seen:
                    raise DatasetError(f"{path.name}: video name {name!r} appears twice")
                seen.add(name)
                try:
                    video = validate_video(name, record, str(path), limits)
                except DatasetError as exc:
                    if str(exc).startswith(path.name):
                        raise
                    raise DatasetError(f"{_where(str(path), name)}: {exc}") from None
                files = len(self.files)
                lo = (f_index + i / max(total, 1)) / files
                hi = (f_index + (i + 1) / max(total, 1)) / files
                count += 1
                yield DatasetItem(video, (lo, min(hi, 1.0)))
            del records  # let this file go before the next one is read

    def __iter__(self) -> Iterator[TapVidVideo]:
        return (item.video for item in self.items())


def open_dataset(path: str | os.PathLike, limits: Limits | None = None) -> TapVidDataset:
    """Open a TAP-Vid ``.pkl``/``.npz`` file or a folder of them (nothing is read yet).

    Args:
      limits: what its files may declare (default: from the environment).

    Raises:
      DatasetError: the path does not exist or has no dataset files.
    """
    return TapVidDataset.open(path, limits)


def load_videos(path: str | os.PathLike, max_videos: int | None = None, limits: Limits | None = None
                ) -> list[TapVidVideo]:
    """All (or the first ``max_videos``) validated videos of a dataset, frames not decoded."""
    return [item.video for item in open_dataset(path, limits).items(max_videos)]


# ---------------------------------------------------------------------------- writing


def _record(video: TapVidVideo | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(video, TapVidVideo):
        rec = {"video": video.raw_video, "points": video.points, "occluded": video.occluded,
               "names": video.names, "keyframes": video.keyframes}
    else:
        rec = {k: video[k] for k in _FIELDS} | {k: video.get(k) for k in OPTIONAL_FIELDS}
    if rec["names"] is not None:
        rec["names"] = np.asarray(list(rec["names"]), dtype=np.str_).reshape(-1)
    if rec["keyframes"] is not None:
        rec["keyframes"] = np.asarray(rec["keyframes"], dtype=np.int8)
    return {k: v for k, v in rec.items() if v is not None}


def save_pickle(path: str | os.PathLike, videos: Mapping[str, Any] | Sequence[Any], protocol: int = 4) -> Path:
    """Write videos as a TAP-Vid pickle.

    Args:
      path: output ``.pkl``.
      videos: ``{name: TapVidVideo | {"video", "points", "occluded"}}`` for the DAVIS
        layout, or a list of them for the RGB-Stacking/Kinetics layout.
      protocol: pickle protocol (4 reads in every Python 3 and numpy).

    Returns:
      The path written.
    """
    if isinstance(videos, Mapping):
        data: Any = {str(k): _record(v) for k, v in videos.items()}
    else:
        data = [_record(v) for v in videos]
    p = Path(path)
    with open(p, "wb") as f:
        pickle.dump(data, f, protocol=protocol)
    return p


def save_npz(path: str | os.PathLike, videos: Mapping[str, Any], compress: bool = True) -> Path:
    """Write ``{name: TapVidVideo | record}`` as the pickle-free ``.npz`` layout (see module doc)."""
    arrays: dict[str, np.ndarray] = {"__videos__": np.array([str(k) for k in videos], dtype=np.str_)}
    for name, video in videos.items():
        rec = _record(video)
        for key in _FIELDS + OPTIONAL_FIELDS:
            if key not in rec:
                continue
            value = rec[key]
            if key == "video" and isinstance(value, (list, tuple)):
                value = np.array([bytes(b) for b in value])
            arrays[f"{name}/{key}"] = np.asarray(value)
    p = Path(path)
    (np.savez_compressed if compress else np.savez)(p, **arrays)
    return p
