"""Video sources beyond video files: one camera of an HDF5 robot log, one video of a TAP-Vid dataset file.

Everything downstream (the app's decode cache, the Track and Annotate jobs) knows a
video by one string, so these sources are named by strings too:

* ``"LOG.h5::camera=2"``: camera 2 of a robot log (``studio.io.h5log``);
* ``"GT.npz::video=bear"``: video ``bear`` of a TAP-Vid ``.pkl``/``.npz`` (how a saved
  annotation is opened again);
* anything else is a video file path (``studio.io.video.read_video``).

``read_source`` decodes any of them within the usual limits.
"""

from __future__ import annotations

import os
from pathlib import Path

from studio.io.video import Video, read_video
from studio.io.video.base import DEFAULT_FPS
from studio.progress import ProgressFn
from studio.results import InputError

CAMERA_MARK = "::camera="
VIDEO_MARK = "::video="


def camera_source(path: str | os.PathLike, camera: int) -> str:
    """The source string of ``camera`` of the log at ``path``."""
    return f"{os.fspath(path)}{CAMERA_MARK}{int(camera)}"


def dataset_source(path: str | os.PathLike, video: str) -> str:
    """The source string of video ``video`` of the dataset file at ``path``."""
    return f"{os.fspath(path)}{VIDEO_MARK}{video}"


def split_source(source: str | os.PathLike) -> tuple[str, str | None, str | None]:
    """``(file path, kind, selector)``: kind ``"camera"``/``"video"`` with its selector, or ``(path, None, None)``."""
    text = os.fspath(source)
    for mark, kind in ((CAMERA_MARK, "camera"), (VIDEO_MARK, "video")):
        if mark in text:
            path, _, selector = text.rpartition(mark)
            return path, kind, selector
    return text, None, None


def source_file(source: str | os.PathLike) -> str:
    """The file a source string reads (for ``os.stat`` and cache keys)."""
    return split_source(source)[0]


def source_label(source: str | os.PathLike) -> str:
    """A short name for messages: ``log.h5 camera 2``, ``gt.npz: bear`` or the file name."""
    path, kind, selector = split_source(source)
    name = Path(path).name
    if kind == "camera":
        return f"{name} camera {selector}"
    if kind == "video":
        return f"{name}: {selector}"
    return name


def source_stem(source: str | os.PathLike) -> str:
    """A name for files made from a source: ``log_camera2``, the dataset video's name, or the file's stem."""
    path, kind, selector = split_source(source)
    if kind == "camera":
        return f"{Path(path).stem}_camera{selector}"
    if kind == "video":
        return str(selector)
    return Path(path).stem


def read_source(
    source: str | os.PathLike,
    max_frames: int | None = None,
    max_side: int | None = None,
    progress: ProgressFn | None = None,
    camera: int | None = None,
) -> Video:
    """Decode a video file, a log camera or a dataset video into a ``Video``.

    Args:
      source: a path or a source string (module doc).
      max_frames, max_side, progress: as for ``read_video``.
      camera: for a log given by its plain path: the camera (None = the only one).

    Raises:
      VideoError / InputError: one sentence naming the file and what is wrong.
    """
    from studio.io.h5log import is_log, read_log_video

    path, kind, selector = split_source(source)
    if kind == "camera":
        try:
            camera = int(selector)
        except ValueError:
            raise InputError(f"{source_label(source)}: the camera must be a number") from None
    if kind == "video":
        return read_dataset_video(path, selector, max_frames, max_side, progress)
    if kind == "camera" or is_log(path):
        return read_log_video(path, camera, max_frames, max_side, progress)
    if camera is not None:
        raise InputError(f"{Path(path).name} is not an HDF5 log; --camera applies to .h5 logs only")
    return read_video(path, max_frames=max_frames, max_side=max_side, progress=progress)


def read_dataset_video(
    path: str | os.PathLike,
    name: str,
    max_frames: int | None = None,
    max_side: int | None = None,
    progress: ProgressFn | None = None,
) -> Video:
    """The frames of video ``name`` of a TAP-Vid dataset file, as a ``Video`` (frame rate unknown: 25 fps).

    Raises:
      DatasetError: the file cannot be read or has no video ``name``.
    """
    from studio.benchmark.datasets.tapvid import DatasetError, open_dataset
    from studio.io.video.frames import video_from_frames

    for item in open_dataset(path).items():
        if item.video.name == name:
            frames = item.video.frames()
            label = f"{Path(path).name}: {name}"
            return video_from_frames(lambda i: frames[i], int(frames.shape[0]), tuple(frames.shape[1:3]), label,
                                     DEFAULT_FPS, max_frames, max_side, progress)
    raise DatasetError(f"{Path(path).name} has no video named {name!r}")
