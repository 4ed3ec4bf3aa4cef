"""``DenseResult``: one track per pixel of a query frame, and its ``.npz`` file.

The file (read by ``studio.io.track_readers.read_dense_npz`` and ``DenseResult.load``):

* ``offsets`` [T, H, W, 2] int32: where each pixel's point is, as its offset from the
  pixel itself in units of ``offset_unit`` px (``1/64``), so
  ``tracks = pixel grid + offsets * offset_unit``;
* ``offset_unit`` float64, ``visible`` [T, H, W] bool, ``size`` [2] = (H, W), ``fps``,
  ``query_frame``, ``model``, ``convention`` and ``mask`` (when set).

Why offsets and not positions: motion is smooth, so integer offsets deflate well, and
the pixels outside the mask (never visible) are stored as zero offsets, which cost
almost nothing. On apple.mp4 (50 frames of 1296x720, a 10% mask) the file is 17 MB
instead of 191 MB of float32 positions. Positions are exact to 1/128 px inside the
mask; outside it they are not kept (they load as the pixel itself, invisible). The
arrays are deflated at zlib level 1 (numpy's default level costs ~5x the time for a
few % less).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.conventions import CONVENTION
from studio.io.atomic import atomic_path
from studio.io.guards import NpzFile
from studio.results import InputError

SAVE_STEP = 1.0 / 64.0
"""Offsets are stored as multiples of this many pixels (``offset_unit`` in the file)."""


def pixel_grid(height: int, width: int) -> np.ndarray:
    """float32 [H, W, 2]: ``(x, y)`` of every pixel centre (``grid[j, i] = (i, j)``)."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return np.stack([xs, ys], axis=-1)


@dataclass
class DenseResult:
    """Dense tracks from every pixel of ``query_frame`` to every frame.

    Attributes:
      tracks: [T, H, W, 2] float32 ``(x, y)`` in input-video pixels (integer =
        pixel centre): ``tracks[t, j, i]`` is where pixel ``(i, j)`` of the query
        frame is in frame ``t``; ``tracks[query_frame]`` is the pixel grid itself.
      visible: [T, H, W] bool, True = that pixel's point is seen in frame ``t``.
        Pixels outside ``mask`` are False in every frame.
      query_frame: frame the tracks start from.
      mask: [H, W] bool region of the query frame that was asked for, or None (all).
      size: ``(H, W)`` of the video.
      model: registry name of the dense model.
      fps: frame rate of the video (0 = unknown).
      timings: seconds per stage (``"init_tracks"``, ``"interpolation"``, ``"refinement"``...).
    """

    tracks: np.ndarray
    visible: np.ndarray
    query_frame: int = 0
    mask: np.ndarray | None = None
    size: tuple[int, int] = (0, 0)
    model: str = ""
    fps: float = 0.0
    timings: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tracks = np.asarray(self.tracks, dtype=np.float32)
        self.visible = np.asarray(self.visible).astype(bool, copy=False)
        if self.tracks.ndim != 4 or self.tracks.shape[-1] != 2:
            raise InputError(f"dense tracks must be [T, H, W, 2], got {list(self.tracks.shape)}")
        if self.visible.shape != self.tracks.shape[:3]:
            raise InputError(f"visible must be {list(self.tracks.shape[:3])}, got {list(self.visible.shape)}")
        if min(self.size) <= 0:
            self.size = self.tracks.shape[1:3]
        self.size = (int(self.size[0]), int(self.size[1]))
        if self.size != self.tracks.shape[1:3]:
            raise InputError(f"size {self.size} differs from the track grid {self.tracks.shape[1:3]}")
        if self.mask is not None:
            self.mask = np.asarray(self.mask).astype(bool)
            if self.mask.shape != self.size:
                raise InputError(f"mask must be [H, W] = {list(self.size)}, got {list(self.mask.shape)}")
        self.query_frame = int(self.query_frame)
        if not 0 <= self.query_frame < self.tracks.shape[0]:
            raise InputError(f"query_frame {self.query_frame} is outside the {self.tracks.shape[0]} frames")
        self.fps = float(self.fps)

    @property
    def num_frames(self) -> int:
        return int(self.tracks.shape[0])

    def save(self, path: str | os.PathLike) -> Path:
        """Write a compressed ``.npz`` (see the module docstring); returns the path."""
        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise InputError(f"dense tracks are saved as .npz, got {path.name!r}")
        h, w = self.size
        grid = pixel_grid(h, w)
        offsets = np.empty(self.tracks.shape, np.int32)
        for t in range(self.tracks.shape[0]):  # frame by frame: no second full-size float copy
            offsets[t] = np.rint((self.tracks[t] - grid) / SAVE_STEP)
            if self.mask is not None:
                offsets[t][~self.mask] = 0
        arrays = {
            "offsets": offsets,
            "offset_unit": np.float64(SAVE_STEP),
            "visible": self.visible,
            "size": np.array(self.size, dtype=np.int64),
            "fps": np.float64(self.fps),
            "query_frame": np.int64(self.query_frame),
            "model": np.array(self.model),
            "convention": np.array(CONVENTION),
        }
        if self.mask is not None:
            arrays["mask"] = self.mask
        with atomic_path(path) as tmp:  # a killed save leaves no half file under ``path``
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as z:
                for key, value in arrays.items():
                    with z.open(f"{key}.npy", "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> DenseResult:
        """Read a file written by ``save`` (or any dense ``.npz`` ``read_dense_npz`` accepts)."""
        from studio.io.track_readers import read_dense_npz

        path = Path(path)
        if not path.is_file():
            raise InputError(f"dense track file {path.name!r} does not exist")
        rt = read_dense_npz(path)
        with NpzFile(path) as z:
            query_frame = int(z["query_frame"]) if "query_frame" in z else 0
            mask = np.asarray(z["mask"]) if "mask" in z else None
            model = str(z["model"]) if "model" in z else ""
        return cls(rt.tracks, rt.visible, query_frame, mask, rt.size, model, rt.fps)
