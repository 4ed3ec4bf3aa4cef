"""Make TAP-Vid dataset files from tracks: ``gt export`` and the Annotate tab write through here.

A record is the TAP-Vid per-video dict (``studio.benchmark.datasets.tapvid``):
``video`` uint8 [T, H, W, 3], ``points`` float32 [N, T, 2] normalised (``(0, 0)`` =
the image's top-left corner), ``occluded`` bool [N, T], plus our optional ``names``
and ``keyframes``. Files are written as the DAVIS-style pickle (``.pkl``: a dict
from video name to record) or the pickle-free ``.npz``, chosen by the suffix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio.benchmark.datasets.tapvid import PICKLE_SUFFIXES, DatasetError, save_npz, save_pickle, validate_video
from studio.conventions import pixels_to_tapvid

DATASET_OUT_SUFFIXES = PICKLE_SUFFIXES + (".npz",)


def fill_hidden(tracks: np.ndarray) -> np.ndarray:
    """Positions [T, N, 2] with NaN entries filled from the nearest earlier (else later) finite one, else 0.

    TAP-Vid files hold a position for every frame, also where a point is hidden; the
    value there is not scored.
    """
    out = np.array(tracks, dtype=np.float32, copy=True)
    t_len = out.shape[0]
    for i in range(out.shape[1]):
        ok = np.isfinite(out[:, i]).all(axis=-1)
        if ok.all():
            continue
        if not ok.any():
            out[:, i] = 0.0
            continue
        idx = np.where(ok, np.arange(t_len), -1)
        idx = np.maximum.accumulate(idx)
        first = int(np.argmax(ok))
        idx[idx < 0] = first
        out[:, i] = out[idx, i]
    return out


def tracks_record(
    frames: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    size: tuple[int, int],
    names: Sequence[str] | None = None,
    keyframes: np.ndarray | None = None,
) -> dict[str, Any]:
    """One TAP-Vid record from studio tracks.

    Args:
      frames: uint8 [T, h, w, 3] RGB, the frames to store (any size: points are normalised).
      tracks: float [T, N, 2] ``(x, y)`` in pixels of a ``size = (H, W)`` video, integer =
        pixel centre; NaN allowed where the point is hidden.
      visible: bool [T, N].
      size: ``(H, W)`` the track pixels refer to.
      names: optional N point names.
      keyframes: optional int8 [N, T] (``KEYFRAME_*``).

    Returns:
      ``{"video", "points", "occluded"[, "names"][, "keyframes"]}``.

    Raises:
      DatasetError: shapes that disagree, or a visible point with no position.
    """
    frames = np.asarray(frames)
    tracks = np.asarray(tracks, np.float32)
    visible = np.asarray(visible, bool)
    if tracks.ndim != 3 or tracks.shape[2] != 2 or visible.shape != tracks.shape[:2]:
        raise DatasetError(f"tracks must be [T, N, 2] with visible [T, N], got {list(tracks.shape)} and "
                           f"{list(visible.shape)}")
    if frames.ndim != 4 or frames.shape[0] != tracks.shape[0]:
        raise DatasetError(f"the video has {frames.shape[0]} frames but the tracks have {tracks.shape[0]}")
    bad = visible & ~np.isfinite(tracks).all(axis=-1)
    if bad.any():
        t, i = np.argwhere(bad)[0]
        raise DatasetError(f"point {i} is visible on frame {t} but has no position there")
    points = np.swapaxes(pixels_to_tapvid(fill_hidden(tracks), size), 0, 1).astype(np.float32)
    record: dict[str, Any] = {"video": np.ascontiguousarray(frames, np.uint8), "points": points,
                              "occluded": ~visible.T}
    if names is not None:
        record["names"] = np.asarray(list(names), dtype=np.str_).reshape(-1)
    if keyframes is not None:
        record["keyframes"] = np.asarray(keyframes, np.int8)
    validate_video("new", record)
    return record


def save_dataset(path: str | os.PathLike, videos: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``{video name: record}`` as a DAVIS-style ``.pkl`` or a pickle-free ``.npz`` (by suffix).

    The file is written under a temporary name and moved into place, so a reader never
    sees half of it.

    Raises:
      DatasetError: another suffix, or a missing folder.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in DATASET_OUT_SUFFIXES:
        raise DatasetError(f"a dataset file must end in {', '.join(DATASET_OUT_SUFFIXES)}, got {p.name!r}")
    if not p.resolve().parent.is_dir():
        raise DatasetError(f"cannot write {p.name}: folder {p.resolve().parent} does not exist")
    tmp = p.with_name(p.stem + ".part" + p.suffix)
    try:
        if suffix == ".npz":
            save_npz(tmp, dict(videos))
        else:
            save_pickle(tmp, dict(videos))
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p
