"""``python -m studio render VIDEO TRACKS --mode MODE --out out.mp4``: draw saved tracks over a video.

Track files are read by ``studio.io.track_readers`` (sparse npz/csv/json, dense
npz, or any format registered there) and rescaled to the frames drawn on when the
video is read smaller (``--max-side``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.io.masks import read_mask
from studio.io.track_readers import fit_tracks, read_render_tracks
from studio.io.video import MP4_SUFFIXES
from studio.limits import MAX_FPS
from studio.render import COLOR_BY, MODES, RenderOptions, render
from studio.results import InputError


def cmd_render(args: argparse.Namespace) -> int:
    from studio.io.sources import read_source
    from studio.io.video import write_video
    from studio.progress import tqdm_progress

    if Path(args.video_out).suffix.lower() not in MP4_SUFFIXES:
        raise InputError(f"--out must end in .mp4, got {Path(args.video_out).name!r}")
    if "mask" in args.mode.split("_") and not args.mask:
        raise InputError(f"mode {args.mode} needs --mask IMAGE")
    if args.fps is not None and not 0 < args.fps <= MAX_FPS:
        raise InputError(f"--fps must be in (0, {MAX_FPS:g}] frames per second, got {args.fps:g}")
    rt = read_render_tracks(args.tracks)  # before decoding: a bad track file fails fast
    video = read_source(args.video, max_frames=args.max_frames, max_side=args.max_side, camera=args.camera)
    frames = video.frames
    notices = list(video.notices)
    rt, more = fit_tracks(rt, video.size, video.num_frames)
    notices += more
    mask = None
    if args.mask:
        mask, more = read_mask(args.mask, video.size)
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
        mask=mask,
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
        names=None if rt.dense else rt.names,
        labels=args.labels,
        skeleton=not args.no_skeleton,
    )
    bar, progress = tqdm_progress(f"rendering {args.mode}")
    try:
        out = render(frames, rt.tracks, rt.visible, args.mode, options, queries=rt.queries, progress=progress)
    finally:
        bar.close()
    fps = args.fps or video.fps or rt.fps  # a track file's rate only for a video that states none
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
    r.add_argument("--labels", action="store_true",
                   help="points/overlay: write each point's name beside it (track files with names)")
    r.add_argument("--no-skeleton", action="store_true",
                   help="points/overlay: do not draw the pose skeleton of COCO-17 keypoint names")
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
    r.add_argument("--camera", type=int, default=None, help="HDF5 robot log as the video: the camera to draw on")
    r.add_argument("--max-frames", type=int, default=None, help="keep only the first N frames")
    r.add_argument("--max-side", type=int, default=None, help="shrink so the longer side is at most this")
    r.add_argument("--fps", type=float, default=None, help="output frame rate (default: the tracks' or the video's)")
    r.add_argument("--crf", type=int, default=20, help="H.264 quality, 0..51, lower is better (default 20)")
    r.set_defaults(func=cmd_render)
    return r
