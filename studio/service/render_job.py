"""Re-draw saved tracks over their video in any render mode, without tracking again.

This is the compute behind the Render tab (no gradio here). The video comes from
the service's decode cache and the track file from a small cache of its own, so
switching modes or options costs only the drawing and the H.264 encode.

Tracks are read with ``studio.io.track_readers.read_render_tracks`` (sparse ``.npz`` /
``.csv`` / ``.json`` from the Track tab or CLI, dense ``.npz`` with ``tracks``
[T, H, W, 2] from the Dense tab), then brought onto the working frames
(``fit_tracks``: rescaled from the pixels of the video they were made on).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.io.guards import NpzFile
from studio.io.track_readers import RenderTracks, fit_tracks, read_render_tracks
from studio.io.video import write_video
from studio.progress import ProgressFn
from studio.queries import mask_to_size
from studio.render import RenderOptions, parse_mode, render
from studio.results import InputError
from studio.service.outputs import safe_stem

_TRACK_CACHE_SIZE = 2
_TRACK_CACHE_BYTES = 512 * 1024**2
"""Most bytes of tracks the cache keeps; a larger file is read again each time instead of held."""
_track_cache: OrderedDict[tuple, RenderTracks] = OrderedDict()
_track_lock = threading.Lock()


@dataclass
class RerenderOutput:
    """One re-rendered video.

    Attributes:
      path: the H.264 mp4.
      frames: uint8 [T, H', W', 3] RGB, what was encoded (for still frames).
      mode: the render mode.
      dense: True when the tracks were dense.
      num_tracks: tracks in the file (pixels of the query frame for dense tracks).
      notices: what was rescaled, cut or taken from the file.
    """

    path: Path
    frames: np.ndarray
    mode: str
    dense: bool
    num_tracks: int
    notices: list[str] = field(default_factory=list)

    def status(self) -> str:
        t, h, w = self.frames.shape[:3]
        kind = "dense" if self.dense else "sparse"
        line = f"{self.mode}: {t} frames of {w}×{h}, {self.num_tracks} {kind} tracks"
        return "\n".join([line] + [f"note: {n}" for n in self.notices])


def _nbytes(tracks: RenderTracks) -> int:
    return int(tracks.tracks.nbytes + tracks.visible.nbytes)


def read_tracks_cached(path: str | os.PathLike) -> RenderTracks:
    """``read_render_tracks`` with a small cache keyed by path, mtime and size (dense files are large).

    The cache keeps at most ``_TRACK_CACHE_SIZE`` files and ``_TRACK_CACHE_BYTES`` bytes.
    """
    path = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(path)
    except OSError:
        raise InputError(f"track file {Path(path).name!r} does not exist") from None
    key = (path, st.st_mtime_ns, st.st_size)
    with _track_lock:
        if key in _track_cache:
            _track_cache.move_to_end(key)
            return _track_cache[key]
    tracks = read_render_tracks(path)
    if _nbytes(tracks) > _TRACK_CACHE_BYTES:
        return tracks
    with _track_lock:
        _track_cache[key] = tracks
        while len(_track_cache) > _TRACK_CACHE_SIZE or sum(map(_nbytes, _track_cache.values())) > _TRACK_CACHE_BYTES:
            _track_cache.popitem(last=False)
    return tracks


def mask_from_track_file(path: str | os.PathLike) -> np.ndarray | None:
    """The ``mask`` [H, W] a dense ``.npz`` may carry (the Dense tab's region), else None."""
    if Path(path).suffix.lower() != ".npz":
        return None
    try:
        with NpzFile(path) as z:
            if "mask" in z and len(z.shape("mask")) == 2:
                return z["mask"] > 0
    except InputError:  # not an npz we can read: the tracks reader says why
        return None
    return None


def mask_on_frames(mask: np.ndarray, size: tuple[int, int], source_size: tuple[int, int]) -> tuple[np.ndarray, list]:
    """A mask image ([h, w] or [h, w, C], the source's or the frames' size or aspect) -> bool [H, W] on the
    decoded frames of ``size``, with notices (``studio.queries.mask_to_size`` reads it)."""
    import cv2

    h, w = size
    if np.shape(mask)[:2] == (h, w):
        source_size = size  # already on the frames (e.g. painted on one): no round trip, no notice
    binary, notices = mask_to_size(mask, source_size)
    if binary.shape != (h, w):
        binary = cv2.resize(binary.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    return binary, notices


def rerender(
    service: Any,
    video_path: str,
    tracks_path: str,
    mode: str,
    options: dict | None = None,
    mask: np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> RerenderOutput:
    """Render saved tracks over the video at ``video_path``.

    Args:
      service: a ``TrackingService`` (decode cache, limits, output folders).
      video_path: the video the tracks were made on (any size: tracks are rescaled).
      tracks_path: a track file (sparse or dense, see the module docstring).
      mode: a name from ``studio.render.MODES``.
      options: ``RenderOptions`` fields by name (``mask`` and ``colors`` excluded).
      mask: optional mask image for ``*_mask`` modes (``studio.queries.mask_plane`` and
        ``binary_mask`` read it). Without one, a dense file's own ``mask`` is used.
      progress: optional ``progress(fraction, text)``.

    Returns:
      ``RerenderOutput`` with the mp4 in a fresh output folder.

    Raises:
      InputError: missing or unreadable video/tracks, unknown mode, bad options,
        a mask mode with no mask.
    """
    spec = parse_mode(mode)
    if not tracks_path:
        raise InputError("no tracks: run the Track or Dense tab first, or upload a track file")
    opts = dict(options or {})
    for private in ("mask", "colors"):
        opts.pop(private, None)
    try:
        render_options = RenderOptions(**opts)  # every argument is checked before any decoding or drawing
    except TypeError as exc:  # an unknown option name
        raise InputError(f"bad render option: {exc}") from None
    video = service.load_video(video_path)
    rt = read_tracks_cached(tracks_path)
    rt, notices = fit_tracks(rt, video.size, video.num_frames)
    notices = list(video.notices) + notices
    frames = video.frames
    if rt.tracks.shape[0] < frames.shape[0]:
        notices.append(f"drew the first {rt.tracks.shape[0]} of the video's {frames.shape[0]} frames")
        frames = frames[: rt.tracks.shape[0]]
    binary = None
    own = mask_from_track_file(tracks_path) if rt.dense else None
    if own is not None and not spec.mask:
        # Pixels outside a dense result's mask were never tracked (no positions are
        # stored for them): drawing them would paint the whole frame with "hidden" marks.
        mode = f"{mode}_mask"
        spec = parse_mode(mode)
        notices.append(f"drew {mode}: the dense tracks cover only their mask")
    if mask is not None:
        binary, more = mask_on_frames(mask, video.size, video.source_size)
        notices += more
    elif spec.mask and own is not None:
        binary, more = mask_on_frames(own.astype(np.uint8), video.size, video.source_size)
        notices += ["used the mask stored with the dense tracks"] + more
    if spec.mask and binary is None:
        raise InputError(f"mode {mode} draws only tracks that start inside a mask: upload a mask image")
    render_options = dataclasses.replace(render_options, mask=binary, names=None if rt.dense else rt.names)
    out = render(frames, rt.tracks, rt.visible, mode, render_options, queries=rt.queries, progress=progress)
    out_dir = service.new_output_dir()
    stem = safe_stem(video_path)
    # The video's own rate: a track file's stated fps is only a fallback for a video that has none.
    path = Path(write_video(out_dir / f"{stem}_{mode}.mp4", out, video.fps or rt.fps))
    num_tracks = int(np.prod(rt.tracks.shape[1:3])) if rt.dense else int(rt.tracks.shape[1])
    return RerenderOutput(path=path, frames=out, mode=mode, dense=rt.dense, num_tracks=num_tracks, notices=notices)
