"""Track files read for drawing: sparse or dense, any registered format, fitted to the frames.

Track files hold ``(x, y)`` in the pixels of the *source* video, with its
``size = (H, W)``; when the video is read smaller the tracks are rescaled to the
frames that are drawn on (``fit_tracks``). Readers are looked up in
``TRACK_READERS``: sparse files go through ``studio.io.trackfile.load_tracks``; an
``.npz`` whose ``tracks`` array is 4-D is read as dense tracks (one track per pixel
of the query frame). ``register_track_reader`` adds a format without touching
this module. Used by ``python -m studio render`` and the Render tab.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.conventions import rescale_pixels
from studio.results import InputError


@dataclass
class RenderTracks:
    """Tracks read for rendering, in the pixels of the video of ``size``.

    Attributes:
      tracks: [T, N, 2] (sparse) or [T, H, W, 2] (dense) float32 ``(x, y)`` pixels.
      visible: [T, N] or [T, H, W] bool.
      size: ``(H, W)`` the pixels refer to; ``(0, 0)`` if the file does not say.
      fps: frame rate stored with the tracks, 0 if unknown.
      queries: optional sparse [N, 3] ``(t, x, y)``.
    """

    tracks: np.ndarray
    visible: np.ndarray
    size: tuple[int, int] = (0, 0)
    fps: float = 0.0
    queries: np.ndarray | None = None

    @property
    def dense(self) -> bool:
        return self.tracks.ndim == 4


TrackReader = Callable[[Path], RenderTracks]
TRACK_READERS: list[tuple[Callable[[Path], bool], TrackReader]] = []
"""``(probe, reader)`` pairs, tried last-registered first; ``probe(path)`` says whether ``reader`` applies."""


def register_track_reader(probe: Callable[[Path], bool], reader: TrackReader) -> None:
    """Add a track file reader for ``render``; it takes precedence over those registered before."""
    TRACK_READERS.append((probe, reader))


def _npz_array_ndim(path: Path, key: str) -> int | None:
    """Number of dimensions of ``key`` in an ``.npz`` from its header only, None if absent or unreadable."""
    try:
        with zipfile.ZipFile(path) as z, z.open(f"{key}.npy") as f:
            version = np.lib.format.read_magic(f)
            fmt = np.lib.format
            read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, _ = read_header(f)  # the header only, not the data
            return len(shape)
    except (KeyError, OSError, ValueError, zipfile.BadZipFile):
        return None


def _is_dense_npz(path: Path) -> bool:
    return path.suffix.lower() == ".npz" and 4 in (_npz_array_ndim(path, "tracks"), _npz_array_ndim(path, "offsets"))


def _read_sparse(path: Path) -> RenderTracks:
    from studio.io.trackfile import load_tracks

    r = load_tracks(path)
    return RenderTracks(r.tracks, r.visible, tuple(r.size), r.fps, r.queries)


def read_dense_npz(path: Path) -> RenderTracks:
    """Dense tracks from an ``.npz``: ``tracks`` [T, H, W, 2] float positions, or ``offsets``
    [T, H, W, 2] from each pixel in units of ``offset_unit`` px (``studio.dense.result``);
    ``visible`` [T, H, W] bool; optional ``size`` [2] ``(H, W)`` of the video the pixels
    refer to (default: the grid's) and ``fps``."""
    name = path.name
    try:
        with np.load(path, allow_pickle=False) as z:
            has_tracks = "tracks" in z.files or ("offsets" in z.files and "offset_unit" in z.files)
            if not has_tracks or "visible" not in z.files:
                raise InputError(f"{name} needs 'tracks' [T, H, W, 2] (or 'offsets' + 'offset_unit') and "
                                 "'visible' [T, H, W]")
            if "tracks" in z.files:
                tracks = np.asarray(z["tracks"], np.float32)
            else:
                tracks = _from_offsets(z["offsets"], float(z["offset_unit"]))
            visible = np.asarray(z["visible"])
            size = tuple(int(v) for v in z["size"]) if "size" in z.files else tracks.shape[1:3]
            fps = float(z["fps"]) if "fps" in z.files else 0.0
    except InputError:
        raise
    except Exception as exc:  # a damaged file must become a message, never a crash
        raise InputError(f"could not read {name} as dense tracks: {type(exc).__name__}: {exc}") from exc
    if tracks.shape[-1] != 2 or visible.shape != tracks.shape[:-1]:
        raise InputError(f"{name}: tracks must be [T, H, W, 2] and visible [T, H, W]")
    if visible.dtype != bool and not np.isin(visible, (0, 1)).all():
        raise InputError(f"{name}: 'visible' must hold only 0/1 or true/false")
    if len(size) != 2 or tuple(size) != tracks.shape[1:3]:
        raise InputError(f"{name}: 'size' must equal the dense grid's (H, W) = {tracks.shape[1:3]}")
    return RenderTracks(tracks, visible.astype(bool), tuple(size), fps)


def _from_offsets(offsets: np.ndarray, unit: float) -> np.ndarray:
    """Positions float32 [T, H, W, 2] from integer offsets [T, H, W, 2] from each pixel centre."""
    if offsets.ndim != 4 or offsets.shape[-1] != 2 or not np.issubdtype(offsets.dtype, np.integer):
        raise InputError(f"'offsets' must be an integer [T, H, W, 2] array, got {offsets.dtype} {list(offsets.shape)}")
    if not (np.isfinite(unit) and 0 < unit <= 1):
        raise InputError(f"'offset_unit' must be in (0, 1] px, got {unit}")
    h, w = offsets.shape[1:3]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.stack([xs, ys], axis=-1)
    tracks = np.empty(offsets.shape, np.float32)
    for t in range(offsets.shape[0]):
        tracks[t] = grid + offsets[t].astype(np.float32) * np.float32(unit)
    return tracks


register_track_reader(lambda path: True, _read_sparse)
register_track_reader(_is_dense_npz, read_dense_npz)


def read_render_tracks(path: str | os.PathLike) -> RenderTracks:
    """Read a track file with the first ``TRACK_READERS`` entry (newest first) whose probe accepts it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"track file {path.name!r} does not exist")
    for probe, reader in reversed(TRACK_READERS):
        if probe(path):
            return reader(path)
    raise InputError(f"no reader for track file {path.name!r}")


def fit_tracks(rt: RenderTracks, size: tuple[int, int], num_frames: int) -> tuple[RenderTracks, list[str]]:
    """Bring tracks onto frames of ``size = (H, W)`` and to at most ``num_frames`` frames.

    Sparse coordinates are rescaled (``studio.conventions.rescale_pixels``); a dense
    grid is resampled to ``size`` (bilinear positions, nearest visibility) and its
    values rescaled. Tracks with no size are taken to be in ``size`` already.

    Returns:
      The fitted tracks and notices for the user.
    """
    notices = []
    src = tuple(rt.size) if min(rt.size) > 0 else size
    tracks, visible, queries = rt.tracks, rt.visible, rt.queries
    if tracks.shape[0] > num_frames:
        notices.append(f"drew the first {num_frames} of the tracks' {tracks.shape[0]} frames")
        tracks, visible = tracks[:num_frames], visible[:num_frames]
        if queries is not None:
            queries = None if (queries[:, 0] >= num_frames).any() else queries
    if src != size:
        notices.append(f"rescaled tracks from {src[1]}x{src[0]} to the {size[1]}x{size[0]} frames")
        if rt.dense:
            import cv2

            h, w = size
            tracks = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in tracks])
            visible = np.stack(
                [cv2.resize(v.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) for v in visible]
            ).astype(bool)
        tracks = rescale_pixels(tracks, src, size)
        if queries is not None:
            queries = queries.copy()
            queries[:, 1:] = rescale_pixels(queries[:, 1:], src, size)
    return RenderTracks(tracks, visible, size, rt.fps, queries), notices
