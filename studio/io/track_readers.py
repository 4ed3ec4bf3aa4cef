"""Track files read for drawing: sparse or dense, any registered format, fitted to the frames.

Track files hold ``(x, y)`` in the pixels of the *source* video, with its
``size = (H, W)``; when the video is read smaller the tracks are rescaled to the
frames that are drawn on (``fit_tracks``). Readers are looked up in
``TRACK_READERS``: sparse files go through ``studio.io.trackfile.load_tracks``; an
``.npz`` whose ``tracks`` array is 4-D is read as dense tracks (one track per pixel
of the query frame). ``register_track_reader`` adds a format without touching
this module. Used by ``python -m studio render`` and the Render tab.

Dense files are checked from their ``.npy`` headers before any data is read
(``studio.io.guards.NpzFile``): the positions they expand to must fit
``max_array_bytes``, a frame ``max_image_pixels`` and the frame count
``max_video_frames``; positions must be finite.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.conventions import rescale_pixels
from studio.io.guards import LimitExceeded, NpzFile, check_array
from studio.limits import MAX_FPS, Limits, setting
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
      names: optional sparse N point names (labels, pose skeletons).
    """

    tracks: np.ndarray
    visible: np.ndarray
    size: tuple[int, int] = (0, 0)
    fps: float = 0.0
    queries: np.ndarray | None = None
    names: list[str] | None = None

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
        with NpzFile(path) as z:
            return len(z.shape(key)) if key in z else None
    except InputError:
        return None


def _is_dense_npz(path: Path) -> bool:
    return path.suffix.lower() == ".npz" and 4 in (_npz_array_ndim(path, "tracks"), _npz_array_ndim(path, "offsets"))


def _read_sparse(path: Path) -> RenderTracks:
    from studio.io.trackfile import load_tracks

    r = load_tracks(path, Limits.from_env())
    return RenderTracks(r.tracks, r.visible, tuple(r.size), r.fps, r.queries, r.names)


def check_dense_shape(shape: tuple[int, ...], name: str, limits: Limits) -> None:
    """Refuse a dense grid [T, H, W, 2] whose positions would exceed the limits (from a header)."""
    if len(shape) != 4 or shape[-1] != 2:
        raise InputError(f"{name}: dense tracks must be [T, H, W, 2], got {list(shape)}")
    t_len, h, w = shape[:3]
    if t_len > limits.max_video_frames:
        raise LimitExceeded(f"{name} has dense tracks through {t_len} frames, more than the "
                            f"{limits.max_video_frames} allowed ({setting('max_video_frames')}); refused")
    if h * w > limits.max_image_pixels:
        raise LimitExceeded(f"{name} has a {w}x{h} dense grid, more than the {limits.max_image_pixels} pixels "
                            f"allowed ({setting('max_image_pixels')}); refused")
    check_array(shape, np.float32, f"{name}: the dense positions", limits)


def read_dense_npz(path: Path, limits: Limits | None = None) -> RenderTracks:
    """Dense tracks from an ``.npz``: ``tracks`` [T, H, W, 2] float positions, or ``offsets``
    [T, H, W, 2] from each pixel in units of ``offset_unit`` px (``studio.dense.result``);
    ``visible`` [T, H, W] bool; optional ``size`` [2] ``(H, W)`` of the video the pixels
    refer to (default: the grid's) and ``fps``. Sizes are checked from the headers first
    (``check_dense_shape``); positions must be finite and ``fps`` within ``MAX_FPS``."""
    name = path.name
    limits = limits or Limits.from_env()
    try:
        with NpzFile(path, limits) as z:
            has_tracks = "tracks" in z or ("offsets" in z and "offset_unit" in z)
            if not has_tracks or "visible" not in z:
                raise InputError(f"{name} needs 'tracks' [T, H, W, 2] (or 'offsets' + 'offset_unit') and "
                                 "'visible' [T, H, W]")
            grid = z.shape("tracks" if "tracks" in z else "offsets")
            check_dense_shape(grid, name, limits)
            if z.shape("visible") != grid[:-1]:
                raise InputError(f"{name}: tracks must be [T, H, W, 2] and visible [T, H, W]")
            if "tracks" in z:
                tracks = np.asarray(z["tracks"], np.float32)
                if not np.isfinite(tracks).all():
                    raise InputError(f"{name}: the dense tracks contain NaN or infinite positions")
            else:
                tracks = _from_offsets(z["offsets"], float(z["offset_unit"]))
            visible = np.asarray(z["visible"])
            size = tuple(int(v) for v in z["size"].reshape(-1)) if "size" in z else tracks.shape[1:3]
            fps = float(z["fps"]) if "fps" in z else 0.0
    except InputError:
        raise
    except Exception as exc:  # a damaged file must become a message, never a crash
        raise InputError(f"could not read {name} as dense tracks: {type(exc).__name__}: {exc}") from exc
    if visible.dtype != bool and not np.isin(visible, (0, 1)).all():
        raise InputError(f"{name}: 'visible' must hold only 0/1 or true/false")
    if len(size) != 2 or tuple(size) != tracks.shape[1:3]:
        raise InputError(f"{name}: 'size' must equal the dense grid's (H, W) = {tracks.shape[1:3]}")
    if not (np.isfinite(fps) and 0 <= fps <= MAX_FPS):
        raise InputError(f"{name}: 'fps' must be a number of frames per second in 0..{MAX_FPS:g}, got {fps:g}")
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
    return RenderTracks(tracks, visible, size, rt.fps, queries, rt.names), notices
