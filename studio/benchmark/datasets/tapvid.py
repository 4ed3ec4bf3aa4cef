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

Pickles are read with ``studio.benchmark.datasets.safe_pickle`` only: a file that names
anything but numpy arrays and plain containers is refused and nothing in it runs.

How a video is posed and scored (resolution, query sampling) is
``studio.benchmark.protocol``.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.benchmark.datasets.safe_pickle import UnsafePickleError, safe_load
from studio.results import InputError

PICKLE_SUFFIXES = (".pkl", ".pickle")
DATASET_SUFFIXES = PICKLE_SUFFIXES + (".npz",)
_FIELDS = ("video", "points", "occluded")


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
    """

    name: str
    points: np.ndarray
    occluded: np.ndarray
    raw_video: Any
    source: str = ""

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
          DatasetError: a frame that is not a readable image, or frames of different sizes.
        """
        if not self.encoded:
            return self.raw_video
        return _decode_frames(self.raw_video, self.name, self.source)


def _where(source: str, name: str, key: str | None = None) -> str:
    where = f"{os.path.basename(source)}: video {name!r}" if source else f"video {name!r}"
    return f"{where}, field {key!r}" if key else where


def _decode_frames(raw: Sequence[bytes], name: str, source: str) -> np.ndarray:
    from PIL import Image

    frames = []
    for i, blob in enumerate(raw):
        try:
            with Image.open(io.BytesIO(bytes(blob))) as img:
                frame = np.asarray(img.convert("RGB"))
        except Exception as exc:  # noqa: BLE001 -- PIL raises many kinds for broken data
            raise DatasetError(f"{_where(source, name, 'video')}: frame {i} is not a readable image ({exc})") from None
        if frames and frame.shape != frames[0].shape:
            raise DatasetError(
                f"{_where(source, name, 'video')}: frame {i} is {frame.shape[1]}x{frame.shape[0]}, "
                f"frame 0 is {frames[0].shape[1]}x{frames[0].shape[0]}"
            )
        frames.append(frame)
    return np.stack(frames)


def validate_video(name: str, record: Any, source: str = "") -> TapVidVideo:
    """Check one ``{"video", "points", "occluded"}`` record and wrap it.

    Args:
      name: video name, used in messages.
      record: the dict read from the file.
      source: file name, used in messages.

    Returns:
      ``TapVidVideo`` with ``occluded`` as bool.

    Raises:
      DatasetError: naming the video and field: a missing field, a wrong type,
        dtype or shape, frame counts that disagree, or non-finite coordinates on
        frames where the point is visible.
    """
    if not isinstance(record, Mapping):
        raise DatasetError(
            f"{_where(source, name)}: expected a dict with fields {list(_FIELDS)}, got {type(record).__name__}"
        )
    for key in _FIELDS:
        if key not in record:
            raise DatasetError(f"{_where(source, name, key)}: missing (a video needs {', '.join(_FIELDS)})")
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
    return TapVidVideo(name=str(name), points=points, occluded=occluded, raw_video=video, source=source)


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {list(x.shape)}"
    return type(x).__name__


def _read_pickle(path: Path) -> list[tuple[str, Any]]:
    try:
        data = safe_load(path)
    except UnsafePickleError as exc:
        raise DatasetError(f"{path.name}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, RecursionError, MemoryError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path.name}: not a readable pickle ({type(exc).__name__}: {exc})") from None
    if isinstance(data, Mapping):
        return [(str(k), v) for k, v in data.items()]
    if isinstance(data, (list, tuple)):
        return [(f"{path.stem}-{i:04d}", v) for i, v in enumerate(data)]
    raise DatasetError(
        f"{path.name}: expected a dict of videos (DAVIS, RoboTAP) or a list of videos (RGB-Stacking, "
        f"Kinetics), got {type(data).__name__}"
    )


def _read_npz(path: Path) -> list[tuple[str, Any]]:
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path.name}: not a readable .npz file ({exc})") from None
    keys = set(npz.files)
    if "__videos__" not in keys:
        if set(_FIELDS) <= keys:
            return [(path.stem, _LazyRecord(npz, ""))]
        raise DatasetError(
            f"{path.name}: expected '__videos__' with '<name>/video', '<name>/points', '<name>/occluded' per video "
            f"(or top-level 'video', 'points', 'occluded'); found keys {sorted(keys)[:8]}"
        )
    try:
        names = npz["__videos__"]
    except ValueError as exc:
        raise DatasetError(f"{path.name}: '__videos__' must be an array of names ({exc})") from None
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise DatasetError(f"{path.name}: '__videos__' must be a 1-D array of names, got {_describe(names)}")
    out = []
    for name in names.tolist():
        name = name.decode() if isinstance(name, bytes) else str(name)
        out.append((name, _LazyRecord(npz, f"{name}/")))
    return out


class _LazyRecord(Mapping):
    """One video of an npz file; arrays are read from the zip only when accessed."""

    def __init__(self, npz: Any, prefix: str):
        self._npz, self._prefix = npz, prefix

    def __getitem__(self, key: str) -> Any:
        full = self._prefix + key
        if full not in self._npz.files:
            raise KeyError(key)
        try:
            return self._npz[full]
        except ValueError as exc:  # e.g. an object array, which needs pickle
            raise DatasetError(f"field {key!r}: cannot be read without pickle ({exc})") from None

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

    @classmethod
    def open(cls, path: str | os.PathLike) -> TapVidDataset:
        return cls(Path(path), dataset_files(path))

    @property
    def name(self) -> str:
        return self.path.stem if self.path.is_file() else self.path.name

    def items(self, max_videos: int | None = None) -> Iterator[DatasetItem]:
        """Validated videos with their progress span; stops after ``max_videos``."""
        count = 0
        for f_index, path in enumerate(self.files):
            records = _read_pickle(path) if path.suffix.lower() in PICKLE_SUFFIXES else _read_npz(path)
            total = len(records) if max_videos is None else min(len(records), max_videos - count)
            seen: set[str] = set()
            for i, (name, record) in enumerate(records):
                if max_videos is not None and count >= max_videos:
                    return
                if name in seen:
                    raise DatasetError(f"{path.name}: video name {name!r} appears twice")
                seen.add(name)
                try:
                    video = validate_video(name, record, str(path))
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


def open_dataset(path: str | os.PathLike) -> TapVidDataset:
    """Open a TAP-Vid ``.pkl``/``.npz`` file or a folder of them (nothing is read yet).

    Raises:
      DatasetError: the path does not exist or has no dataset files.
    """
    return TapVidDataset.open(path)


def load_videos(path: str | os.PathLike, max_videos: int | None = None) -> list[TapVidVideo]:
    """All (or the first ``max_videos``) validated videos of a dataset, frames not decoded."""
    return [item.video for item in open_dataset(path).items(max_videos)]


# ---------------------------------------------------------------------------- writing


def _record(video: TapVidVideo | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(video, TapVidVideo):
        return {"video": video.raw_video, "points": video.points, "occluded": video.occluded}
    return {k: video[k] for k in _FIELDS}


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
        for key in _FIELDS:
            value = rec[key]
            if key == "video" and isinstance(value, (list, tuple)):
                value = np.array([bytes(b) for b in value])
            arrays[f"{name}/{key}"] = np.asarray(value)
    p = Path(path)
    (np.savez_compressed if compress else np.savez)(p, **arrays)
    return p
