"""``DenseResult``: one track per pixel of a query frame, and its ``.npz`` file.

The file is what ``studio.cli_render.read_dense_npz`` reads: ``tracks``
[T, H, W, 2], ``visible`` [T, H, W], ``size`` [2] = (H, W) and ``fps``, plus
the extra keys ``query_frame``, ``mask`` (when set), ``model`` and ``convention``.

Precision: ``tracks`` stays float32 (float16 would step by 2 px above x = 2048),
but positions are rounded to multiples of ``1/64`` px before saving (error at
most 1/128 px), which leaves the low mantissa bits zero. The arrays are
deflated at zlib level 1: on a 1296x720 clip that gave 43% of the raw size in
1.2 s per 10 frames, against 45% in 5.5 s at numpy's default level.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.conventions import CONVENTION
from studio.results import InputError

SAVE_STEP = 1.0 / 64.0
"""Positions are stored as multiples of this many pixels."""


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
        tracks = np.round(self.tracks / SAVE_STEP) * np.float32(SAVE_STEP)
        arrays = {
            "tracks": tracks.astype(np.float32),
            "visible": self.visible,
            "size": np.array(self.size, dtype=np.int64),
            "fps": np.float64(self.fps),
            "query_frame": np.int64(self.query_frame),
            "model": np.array(self.model),
            "convention": np.array(CONVENTION),
        }
        if self.mask is not None:
            arrays["mask"] = self.mask
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as z:
            for key, value in arrays.items():
                with z.open(f"{key}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> DenseResult:
        """Read a file written by ``save`` (or any dense ``.npz`` ``read_dense_npz`` accepts)."""
        from studio.cli_render import read_dense_npz

        path = Path(path)
        if not path.is_file():
            raise InputError(f"dense track file {path.name!r} does not exist")
        rt = read_dense_npz(path)
        with np.load(path, allow_pickle=False) as z:
            query_frame = int(z["query_frame"]) if "query_frame" in z.files else 0
            mask = np.asarray(z["mask"]) if "mask" in z.files else None
            model = str(z["model"]) if "model" in z.files else ""
        return cls(rt.tracks, rt.visible, query_frame, mask, rt.size, model, rt.fps)
