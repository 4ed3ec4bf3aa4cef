"""``python -m studio render VIDEO TRACKS --mode MODE --out out.mp4``: draw saved tracks over a video.

Track files hold ``(x, y)`` in the pixels of the *source* video, with its
``size = (H, W)``; when the video is read smaller (``--max-side``) the tracks are
rescaled to the frames that are drawn on. Readers are looked up in
``TRACK_READERS``: sparse files go through ``studio.io.trackfile.load_tracks``; an
``.npz`` whose ``tracks`` array is 4-D is read as dense tracks (one track per pixel
of the query frame). ``register_track_reader`` adds a format without touching
this module.
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.conventions import rescale_pixels
from studio.render import COLOR_BY, MODES, RenderOptions, render
from studio.results import InputError

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov")


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


def read_mask(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """A mask image (any format OpenCV reads; at least 50% grey = inside, 0/1 masks as they are) as bool [H, W] at ``size``."""
    import cv2

    image = cv2.imread(os.fspath(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise InputError(f"mask {Path(path).name!r} is missing or not an image")
    h, w = size
    if image.shape != (h, w):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_NEAREST)
    from studio.queries import binary_mask

    return binary_mask(image)


def cmd_render(args: argparse.Namespace) -> int:
    from studio.progress import tqdm_progress
    from studio.io.video import read_video, write_video

    if Path(args.video_out).suffix.lower() not in VIDEO_EXTENSIONS:
        raise InputError(f"--out must end in .mp4, got {Path(args.video_out).name!r}")
    if "mask" in args.mode.split("_") and not args.mask:
        raise InputError(f"mode {args.mode} needs --mask IMAGE")
    rt = read_render_tracks(args.tracks)  # before decoding: a bad track file fails fast
    video = read_video(args.video, max_frames=args.max_frames, max_side=args.max_side)
    frames = video.frames
    notices = list(video.notices)
    rt, more = fit_tracks(rt, video.size, video.num_frames)
    notices += more
    if rt.tracks.shape[0] < frames.shape[0]:
        notices.append(
            f"drew the first {rt.tracks.shape[0]} of the video's {frames.shape[0]} frames (the tracks end there)"
        )
        frames = frames[: rt.tracks.shape[0]]
    for notice in notices:
        print(f"note: {notice}", file=sys.stderr)
    options = RenderOptions(
        color_by=args.color_by,
        colormap=args.colormap,
        mask=read_mask(args.mask, video.size) if args.mask else None,
        radius=args.radius,
        tail=args.tail,
        hide_occluded=args.hide_occluded,
        overlay_factor=args.overlay_factor,
        dense_grid=args.dense_grid,
        spaghetti_radius=args.spaghetti_radius,
        spaghetti_length=args.spaghetti_length,
        spaghetti_grid=args.spaghetti_grid,
        spaghetti_scale=args.spaghetti_scale,
        spaghetti_every=args.spaghetti_every,
        spaghetti_dropout=args.spaghetti_dropout,
        seed=args.seed,
    )
    bar, progress = tqdm_progress(f"rendering {args.mode}")
    try:
        out = render(frames, rt.tracks, rt.visible, args.mode, options, queries=rt.queries, progress=progress)
    finally:
        bar.close()
    fps = args.fps or rt.fps or video.fps
    print(f"video  -> {write_video(args.video_out, out, fps, crf=args.crf)}  ({out.shape[0]} frames, "
          f"{out.shape[2]}x{out.shape[1]}, {args.mode})")
    return 0


def add_render_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``render`` command to the CLI's subparsers; returns its parser."""
    d = RenderOptions()
    r = subparsers.add_parser(
        "render",
        help="draw saved tracks over a video (points, overlay, spaghetti)",
        description="Draw saved tracks over a video. Modes: " + ", ".join(MODES),
    )
    r.add_argument("video", help="input video (mp4, mov, webm, gif, ...)")
    r.add_argument("tracks", help="track file (.npz, .csv, .json from 'track'; dense .npz with tracks [T,H,W,2])")
    r.add_argument("--mode", default="points", choices=MODES, metavar="MODE",
                   help="render mode (default points); one of: " + ", ".join(MODES))
    r.add_argument("--out", dest="video_out", required=True, help="output .mp4 (H.264)")
    r.add_argument("--mask", help="mask image for *_mask modes: only tracks starting inside it")
    r.add_argument("--color-by", default=d.color_by, choices=COLOR_BY,
                   help=f"colour order along the map (default {d.color_by})")
    r.add_argument("--colormap", default=d.colormap, help=f"matplotlib colour map (default {d.colormap})")
    r.add_argument("--radius", type=float, default=None, help="point radius in pixels (default: by frame size)")
    r.add_argument("--tail", type=int, default=d.tail, help=f"points: tail length in frames (default {d.tail})")
    r.add_argument("--hide-occluded", action="store_true", help="points: leave hidden points out (default: rings)")
    r.add_argument("--overlay-factor", type=float, default=d.overlay_factor,
                   help=f"overlay opacity (default {d.overlay_factor})")
    r.add_argument("--dense-grid", type=int, default=None, help="dense tracks: stride for points/overlay")
    r.add_argument("--spaghetti-radius", type=float, default=d.spaghetti_radius)
    r.add_argument("--spaghetti-length", type=int, default=d.spaghetti_length, help="samples per frame interval")
    r.add_argument("--spaghetti-grid", type=int, default=d.spaghetti_grid, help="dense tracks: trail stride")
    r.add_argument("--spaghetti-scale", type=float, default=d.spaghetti_scale, help="output size factor")
    r.add_argument("--spaghetti-every", type=int, default=d.spaghetti_every)
    r.add_argument("--spaghetti-dropout", type=float, default=d.spaghetti_dropout)
    r.add_argument("--seed", type=int, default=d.seed)
    r.add_argument("--max-frames", type=int, default=None, help="keep only the first N frames")
    r.add_argument("--max-side", type=int, default=None, help="shrink so the longer side is at most this")
    r.add_argument("--fps", type=float, default=None, help="output frame rate (default: the tracks' or the video's)")
    r.add_argument("--crf", type=int, default=20, help="H.264 quality, 0..51, lower is better (default 20)")
    r.set_defaults(func=cmd_render)
    return r
