"""Robot logs in HDF5: camera images as videos, tracked keypoints written back.

Layout read (one group per time step, numbered from 0)::

    step_0/obs/image      uint8 [1, cameras, 3, H, W]   RGB, channels first
    step_1/obs/image      ...
    ...

Each camera is a video: frame ``t`` is ``step_<t>/obs/image[0, camera]`` moved to
``[H, W, 3]``. Steps are taken in the order of their numbers; the frame rate is the
file's ``fps`` attribute when it has one (root or the first step), else 25 fps with a
notice.

``add_keypoints`` writes a copy of the log with, in every step,
``obs/keypoints`` float32 ``[1, cameras, N, 3]`` = ``(x, y, visible)`` in that
camera's pixels (studio convention: integer = pixel centre, ``visible`` 1.0/0.0),
NaN for cameras that were not tracked, and the point names as the dataset's
``names`` attribute. Running it again for another camera on the copy fills that
camera in and keeps the others.

Files are treated as untrusted: the layout, dtypes and shapes are checked from
metadata before any image is read, memory is bounded before allocating, and links
to other files, external raw storage and virtual datasets are refused (they would
read files other than the one given).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.io.video.base import DEFAULT_FPS, Video, VideoError, base_name
from studio.io.video.limits import MAX_DECODED_SIDE
from studio.progress import ProgressFn
from studio.results import InputError, TrackResult

LOG_SUFFIXES = (".h5", ".hdf5", ".hdf")
"""File suffixes read as HDF5 robot logs."""

EXPECTED = "groups step_0, step_1, ... each holding obs/image uint8 [1, cameras, 3, H, W] (RGB)"
"""The layout, as messages name it."""

MAX_CAMERAS = 64
MAX_STEPS = 1_000_000
_STEP = re.compile(r"^step_(\d+)$")


class LogError(InputError):
    """An HDF5 file that is not a robot log of the expected layout; the message says what was expected."""


@dataclass(frozen=True)
class LogLayout:
    """What a log holds.

    Attributes:
      path: the file.
      steps: step group names in time order.
      cameras: cameras per step.
      size: ``(H, W)`` of every camera's images.
      fps: the file's frame rate, or None when it states none.
    """

    path: Path
    steps: tuple[str, ...]
    cameras: int
    size: tuple[int, int]
    fps: float | None

    @property
    def num_steps(self) -> int:
        return len(self.steps)


def is_log(path: str | os.PathLike) -> bool:
    """True when ``path`` has an HDF5 suffix (``LOG_SUFFIXES``)."""
    return Path(os.fspath(path)).suffix.lower() in LOG_SUFFIXES


def _h5py():
    import h5py

    return h5py


def _open(path: Path, mode: str = "r"):
    h5py = _h5py()
    if not path.is_file():
        raise LogError(f"log file {path.name!r} does not exist")
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        raise LogError(f"{path.name} is not a readable HDF5 file ({exc})") from None


def _hard_member(group, key: str, where: str, name: str):
    """``group[key]`` only when it is a plain member of this file (no soft or external link)."""
    h5py = _h5py()
    link = group.get(key, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise LogError(f"{name}: {where} is a link ({type(link).__name__}); only plain groups and datasets are read")
    return group[key]


def _image_dataset(f, step: str, name: str):
    h5py = _h5py()
    group = _hard_member(f, step, step, name)
    obs = _hard_member(group, "obs", f"{step}/obs", name) if isinstance(group, h5py.Group) else None
    ds = _hard_member(obs, "image", f"{step}/obs/image", name) if isinstance(obs, h5py.Group) else None
    if not isinstance(ds, h5py.Dataset):
        raise LogError(f"{name}: {step} has no obs/image dataset; expected {EXPECTED}")
    if ds.is_virtual or ds.external:
        raise LogError(f"{name}: {step}/obs/image keeps its data outside the file; it is not read")
    return ds


def read_layout(path: str | os.PathLike) -> LogLayout:
    """Check a log's layout from metadata alone (no image is read).

    Raises:
      LogError: not HDF5, no ``step_<i>`` groups, a step without ``obs/image``, an image
        that is not uint8 ``[1, cameras, 3, H, W]``, steps that disagree, or sizes over the limits.
    """
    path = Path(os.fspath(path))
    name = path.name
    with _open(path) as f:
        numbered = []
        others = []
        for key in f.keys():
            m = _STEP.match(key)
            (numbered if m else others).append((int(m.group(1)), key) if m else key)
        if not numbered:
            found = ", ".join(sorted(others)[:8]) or "nothing"
            raise LogError(f"{name} has no step_<i> groups at its top level (found: {found}); expected {EXPECTED}")
        if len(numbered) > MAX_STEPS:
            raise LogError(f"{name} has {len(numbered)} steps; at most {MAX_STEPS} are read")
        steps = tuple(key for _, key in sorted(numbered))
        first = _image_dataset(f, steps[0], name)
        shape = tuple(first.shape)
        if first.dtype != np.uint8 or len(shape) != 5 or shape[0] != 1 or shape[2] != 3:
            raise LogError(
                f"{name}: {steps[0]}/obs/image is {first.dtype} {list(shape)}; expected uint8 [1, cameras, 3, H, W] (RGB)"
            )
        cameras, h, w = shape[1], shape[3], shape[4]
        if not 1 <= cameras <= MAX_CAMERAS:
            raise LogError(f"{name}: {cameras} cameras in {steps[0]}/obs/image; expected 1..{MAX_CAMERAS}")
        if min(h, w) < 1 or max(h, w) > MAX_DECODED_SIDE:
            raise LogError(f"{name}: images of {w}×{h}; expected sides of 1..{MAX_DECODED_SIDE} px")
        for step in steps[1:]:
            ds = _image_dataset(f, step, name)
            if tuple(ds.shape) != shape or ds.dtype != np.uint8:
                raise LogError(
                    f"{name}: {step}/obs/image is {ds.dtype} {list(ds.shape)} but {steps[0]}'s is uint8 {list(shape)}; "
                    "every step must hold images of the same cameras and size"
                )
        fps = _fps(f, steps[0])
    return LogLayout(path=path, steps=steps, cameras=int(cameras), size=(int(h), int(w)), fps=fps)


def _fps(f, first_step: str) -> float | None:
    for attrs in (f.attrs, f[first_step].attrs):
        for key in ("fps", "frame_rate", "control_frequency"):
            if key in attrs:
                try:
                    value = float(np.asarray(attrs[key]).reshape(-1)[0])
                except (TypeError, ValueError, IndexError):
                    continue
                if np.isfinite(value) and 0 < value <= 1000:
                    return value
    return None


def _check_camera(layout: LogLayout, camera: int | None) -> int:
    name = layout.path.name
    if camera is None:
        if layout.cameras == 1:
            return 0
        raise LogError(f"{name} has {layout.cameras} cameras; choose one (0..{layout.cameras - 1})")
    if isinstance(camera, bool) or not isinstance(camera, (int, np.integer)) or not 0 <= camera < layout.cameras:
        raise LogError(f"{name} has cameras 0..{layout.cameras - 1}; there is no camera {camera!r}")
    return int(camera)


def read_log_video(
    path: str | os.PathLike,
    camera: int | None = None,
    max_frames: int | None = None,
    max_side: int | None = None,
    progress: ProgressFn | None = None,
) -> Video:
    """One camera of a log as a ``Video`` (frames uint8 [T, H, W, 3] RGB, one per step).

    Args:
      path: the log.
      camera: camera index; None is allowed for single-camera logs.
      max_frames, max_side: as for ``read_video`` (the first steps are kept; frames shrunk).
      progress: optional ``ProgressFn``.

    Raises:
      LogError: see ``read_layout``; an unknown camera. VideoError: frames over the memory cap.
    """
    from studio.io.video.frames import video_from_frames

    layout = read_layout(path)
    cam = _check_camera(layout, camera)
    name = f"{base_name(path)} camera {cam}"
    notices = [] if layout.fps is not None else [f"the log states no frame rate; assumed {DEFAULT_FPS:g} fps"]
    with _open(layout.path) as f:

        def frame(i: int) -> np.ndarray:
            chw = _image_dataset(f, layout.steps[i], layout.path.name)[0, cam]
            return np.ascontiguousarray(np.transpose(chw, (1, 2, 0)))

        try:
            return video_from_frames(frame, layout.num_steps, layout.size, name, layout.fps or DEFAULT_FPS,
                                     max_frames, max_side, progress, notices)
        except (OSError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise LogError(f"{base_name(path)}: an image could not be read ({exc})") from None


def export_videos(
    path: str | os.PathLike, out_dir: str | os.PathLike, progress: ProgressFn | None = None
) -> list[Path]:
    """Write every camera of a log as an H.264 mp4 ``<stem>_camera<c>.mp4`` in ``out_dir``.

    Returns:
      The files written, camera by camera.
    """
    from studio.io.video import write_video

    layout = read_layout(path)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    stem = layout.path.stem
    for cam in range(layout.cameras):
        video = read_log_video(layout.path, cam)
        target = out / f"{stem}_camera{cam}.mp4"
        write_video(target, video.frames, video.fps)
        written.append(target)
        if progress is not None:
            progress((cam + 1) / layout.cameras, f"camera {cam} -> {target.name}")
    return written


# ----------------------------------------------------------------------------- writing keypoints

KEYPOINT_LAYOUT = "x, y, visible in this camera's pixels (integer = pixel centre); NaN = camera not tracked"


def _same_layout(a: LogLayout, b: LogLayout) -> bool:
    return a.steps == b.steps and a.cameras == b.cameras and a.size == b.size


def add_keypoints(
    log: str | os.PathLike,
    tracks: TrackResult,
    camera: int,
    out: str | os.PathLike,
) -> tuple[Path, list[str]]:
    """Write a copy of ``log`` with ``step_<i>/obs/keypoints`` filled for ``camera`` from ``tracks``.

    The copy starts from ``log`` (every dataset and attribute kept as they are), or from
    ``out`` itself when ``out`` already is a copy of the same log (same steps, cameras and
    size), so a second run for another camera keeps the first camera's keypoints. The file
    is written under a temporary name and moved into place at the end: ``out`` is never
    half-written, and ``log`` is only read.

    Args:
      log: the robot log.
      tracks: one track per point through every step, in ``camera``'s pixels (``tracks.size``,
        when known, must be the camera's ``(H, W)``).
      camera: the camera the tracks were made on.
      out: the file to write (must differ from ``log``).

    Returns:
      ``(out, notes)``: the path written and sentences on what was kept or filled.

    Raises:
      LogError: see ``read_layout``; ``out`` is ``log``; tracks with another frame count or
        size; an existing ``obs/keypoints`` for another number of points or other names.
    """
    h5py = _h5py()
    layout = read_layout(log)
    cam = _check_camera(layout, camera)
    src, dst = layout.path.resolve(), Path(os.fspath(out)).resolve()
    name = src.name
    if dst == src or (dst.exists() and os.path.samefile(dst, src)):
        raise LogError(f"--out must be a new file: {name} itself is never changed")
    if dst.suffix.lower() not in LOG_SUFFIXES:
        raise LogError(f"--out must end in {', '.join(LOG_SUFFIXES)}, got {dst.name!r}")
    if not dst.parent.is_dir():
        raise LogError(f"cannot write {dst.name}: folder {dst.parent} does not exist")
    t_len, n = tracks.num_frames, tracks.num_points
    if t_len != layout.num_steps:
        raise LogError(
            f"the tracks cover {t_len} frames but {name} has {layout.num_steps} steps; track every step "
            "of the log (no --max-frames)"
        )
    if min(tracks.size) > 0 and tuple(tracks.size) != layout.size:
        h, w = layout.size
        raise LogError(
            f"the tracks were made on {tracks.size[1]}×{tracks.size[0]} frames but camera {cam} of {name} is {w}×{h}"
        )
    names = list(tracks.names) if tracks.names is not None else [f"point{i}" for i in range(n)]
    notes: list[str] = []
    base = src
    if dst.exists():
        try:
            previous = read_layout(dst)
        except InputError:
            previous = None
        if previous is None or not _same_layout(previous, layout):
            raise LogError(f"{dst.name} exists and is not a copy of {name} (other steps, cameras or size); "
                           "choose a new --out")
        base = dst
        notes.append(f"updated {dst.name}, keeping what it holds for the other cameras")
    tmp = dst.with_name(dst.name + ".part")
    shutil.copyfile(base, tmp)
    try:
        with h5py.File(tmp, "r+") as f:
            filled = _fill(f, layout, tracks, names, cam)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    notes.append(f"keypoints of {n} point(s) for camera {cam}; cameras with keypoints now: "
                 f"{', '.join(map(str, filled))}")
    return dst, notes


def _fill(f, layout: LogLayout, tracks: TrackResult, names: list[str], cam: int) -> list[int]:
    h5py = _h5py()
    n = tracks.num_points
    shape = (1, layout.cameras, n, 3)
    name = layout.path.name
    filled_cams: set[int] = {cam}
    str_dtype = h5py.string_dtype()
    for t, step in enumerate(layout.steps):
        obs = f[step]["obs"]
        existing = _hard_member(obs, "keypoints", f"{step}/obs/keypoints", name)
        if existing is not None:
            if not isinstance(existing, h5py.Dataset) or tuple(existing.shape) != shape:
                got = list(existing.shape) if isinstance(existing, h5py.Dataset) else "a group"
                raise LogError(
                    f"{step}/obs/keypoints already holds {got}, not [1, {layout.cameras}, {n}, 3]: it was written "
                    "for another number of points"
                )
            old_names = [v.decode() if isinstance(v, bytes) else str(v) for v in existing.attrs.get("names", [])]
            if old_names and old_names != names:
                raise LogError(
                    f"{step}/obs/keypoints holds the points {', '.join(old_names[:6])}; these tracks name "
                    f"{', '.join(names[:6])}: track the same points for every camera"
                )
            data = np.asarray(existing[...], np.float32)
        else:
            data = np.full(shape, np.nan, np.float32)
        data[0, cam, :, :2] = tracks.tracks[t]
        data[0, cam, :, 2] = tracks.visible[t].astype(np.float32)
        if t == 0:
            filled_cams |= {c for c in range(layout.cameras) if np.isfinite(data[0, c]).any()}
        if existing is not None:
            existing[...] = data
            ds = existing
        else:
            ds = obs.create_dataset("keypoints", data=data)
        ds.attrs["names"] = np.asarray(names, dtype=object).astype(str_dtype)
        ds.attrs["layout"] = KEYPOINT_LAYOUT
    return sorted(filled_cams)


def read_keypoints(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """The keypoints a log holds: ``(names, keypoints float32 [T, cameras, N, 3])``.

    Raises:
      LogError: a step without ``obs/keypoints`` or with another shape.
    """
    h5py = _h5py()
    layout = read_layout(path)
    out = []
    names: list[str] = []
    with _open(layout.path) as f:
        for step in layout.steps:
            ds = _hard_member(f[step]["obs"], "keypoints", f"{step}/obs/keypoints", layout.path.name)
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 4 or ds.shape[:2] != (1, layout.cameras):
                raise LogError(f"{layout.path.name}: {step} has no obs/keypoints [1, cameras, N, 3]")
            if out and ds.shape[2] != out[0].shape[1]:
                raise LogError(f"{layout.path.name}: {step}/obs/keypoints has another number of points")
            out.append(np.asarray(ds[0], np.float32))
            if not names:
                names = [v.decode() if isinstance(v, bytes) else str(v) for v in ds.attrs.get("names", [])]
    return names, np.stack(out)


__all__ = [
    "EXPECTED", "KEYPOINT_LAYOUT", "LOG_SUFFIXES", "LogError", "LogLayout", "VideoError", "add_keypoints",
    "export_videos", "is_log", "read_keypoints", "read_layout", "read_log_video",
]
