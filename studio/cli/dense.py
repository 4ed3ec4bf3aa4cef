"""``python -m studio dense VIDEO [--mask MASK.png] --out dense.npz [--video out.mp4]``: dense tracking.

Tracks every pixel of one frame through the video with a dense model (``dot_dis``
weight-free by default, or ``dot``), saves the dense ``.npz`` that ``render``
reads and optionally draws it straight away.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from studio.io.masks import read_mask_image
from studio.io.video import MP4_SUFFIXES
from studio.results import InputError


def cmd_dense(args: argparse.Namespace) -> int:
    from studio.io.video import read_video, write_video
    from studio.progress import tqdm_progress
    from studio.registry import create_tracker
    from studio.render import dense_default_mode
    from studio.service.dense_job import check_options

    args.mode = args.mode or dense_default_mode(bool(args.mask))
    if args.reinit is not None:
        if args.reinit < 1:
            raise InputError(f"--reinit must be at least 1 frame, got {args.reinit}")
        if args.mask:
            raise InputError("--reinit tracks every part of every frame; it takes no --mask")
        if args.out and Path(args.out).suffix.lower() not in (".npz", ".csv", ".json"):
            raise InputError(f"with --reinit, --out is a track file (.npz, .csv or .json), got {Path(args.out).name!r}")
    elif args.out and Path(args.out).suffix.lower() != ".npz":
        raise InputError(f"--out must end in .npz, got {Path(args.out).name!r}")
    if args.video_out and Path(args.video_out).suffix.lower() not in MP4_SUFFIXES:
        raise InputError(f"--video must end in .mp4, got {Path(args.video_out).name!r}")
    if not args.out and not args.video_out:
        raise InputError("nothing to write: give --out dense.npz and/or --video out.mp4")
    if args.video_out and "mask" in args.mode.split("_") and not args.mask:
        raise InputError(f"mode {args.mode} needs --mask IMAGE")
    # The app's checks: a dense model, a point-tracker initializer, 1..16384 initial tracks, 32..2048 px.
    check_options(args.tracker, args.initializer or "lk", args.num_tracks, args.max_side)
    if args.initializer_checkpoint and not args.initializer:
        raise InputError("--initializer-checkpoint needs --initializer NAME")
    video = read_video(args.video, max_frames=args.max_frames)
    notices = list(video.notices)
    mask = None
    if args.mask:
        mask, more = read_mask_image(args.mask, video.size)
        notices += more
    if not 0 <= args.query_frame < video.num_frames:
        raise InputError(f"--query-frame {args.query_frame} is outside the video's frames 0..{video.num_frames - 1}")
    for notice in notices:
        print(f"note: {notice}", file=sys.stderr)
    tracker = create_tracker(args.tracker, checkpoint=args.checkpoint)
    tracker.num_tracks = args.num_tracks
    tracker.max_side = args.max_side
    tracker.seed = args.seed
    if args.initializer:
        tracker.initializer = (create_tracker(args.initializer, device=tracker.device,
                                              checkpoint=args.initializer_checkpoint)
                               if args.initializer_checkpoint else args.initializer)
    if args.reinit is not None:
        return _reinit(args, tracker, video)
    bar, progress = tqdm_progress(f"dense tracking with {args.tracker}")
    try:
        result = tracker.track_dense(video.frames, args.query_frame, mask, progress=progress, fps=video.fps)
    finally:
        bar.close()
    t, h, w = result.tracks.shape[:3]
    shown = result.visible[:, mask] if mask is not None else result.visible
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    print(f"{args.tracker}: {h * w if mask is None else int(mask.sum())} pixels of frame {args.query_frame} "
          f"tracked through {t} frames ({w}x{h}); visible {100 * shown.mean():.1f}%; {stages}")
    if args.out:
        print(f"tracks -> {result.save(args.out)}")
    if args.video_out:
        from studio.render import RenderOptions, render

        frames = render(video.frames, result.tracks, result.visible, args.mode,
                        RenderOptions(mask=mask, dense_grid=args.dense_grid))
        print(f"video  -> {write_video(args.video_out, frames, video.fps)}  ({args.mode})")
    return 0


def _reinit(args: argparse.Namespace, tracker, video) -> int:
    """``--reinit K``: sparse tracks started on every uncovered cell every K frames (DOT's mode 4)."""
    from studio.io.trackfile import save_tracks
    from studio.io.video import write_video
    from studio.progress import tqdm_progress
    from studio.render import RenderOptions, render

    bar, progress = tqdm_progress(f"tracks re-started every {args.reinit} frames with {args.tracker}")
    try:
        result = tracker.track_reinit(video.frames, every=args.reinit, cell_size=args.cell_size, progress=progress)
    finally:
        bar.close()
    result.fps = video.fps
    starts = np.unique(result.queries[:, 0]).astype(int)
    print(f"{args.tracker}: {result.num_points} tracks started on frames {', '.join(map(str, starts))} "
          f"({args.cell_size}-px cells at the working resolution); visible {100 * result.visible.mean():.1f}%")
    if args.out:
        print(f"tracks -> {save_tracks(result, args.out)}")
    if args.video_out:
        frames = render(video.frames, result.tracks, result.visible, args.mode, RenderOptions(),
                        queries=result.queries)
        print(f"video  -> {write_video(args.video_out, frames, video.fps)}  ({args.mode})")
    return 0


def add_dense_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``dense`` command to the CLI's subparsers; returns its parser."""
    from studio.registry import list_trackers
    from studio.render import MODES

    d = subparsers.add_parser(
        "dense",
        help="track every pixel of one frame (dense tracking, DOT)",
        description="Dense tracking: one track per pixel of the query frame (optionally inside a mask). "
        "Writes a dense .npz (tracks [T,H,W,2], visible [T,H,W]) that 'render' reads.",
    )
    d.add_argument("video", help="input video (mp4, mov, webm, gif, ...)")
    d.add_argument("--mask", help="mask image (PNG): pixels at least half on (or half opaque) are tracked")
    d.add_argument("--tracker", default="dot_dis", choices=list_trackers("dense"),
                   help="dense model (default dot_dis, weight-free; dot needs RAFT weights)")
    d.add_argument("--checkpoint", metavar="PATH",
                   help="the dense model's checkpoint file (dot: the refiner's) instead of the checkpoint folder "
                   "or the hub download")
    d.add_argument("--initializer", default=None, choices=list_trackers("point"), metavar="NAME",
                   help="point tracker for the initial tracks (default lk); one of: "
                   + ", ".join(list_trackers("point")))
    d.add_argument("--initializer-checkpoint", metavar="PATH",
                   help="the initializer's checkpoint file (with --initializer)")
    d.add_argument("--num-tracks", type=int, default=2048, help="initial tracks (default 2048)")
    d.add_argument("--query-frame", type=int, default=0, help="frame whose pixels are tracked (default 0)")
    d.add_argument("--max-side", type=int, default=512,
                   help="working resolution: long side at most this (default 512); results are at the input size")
    d.add_argument("--max-frames", type=int, default=None, help="keep only the first N frames")
    d.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    d.add_argument("--out", help="write dense tracks to this .npz")
    d.add_argument("--video", dest="video_out", help="write a rendering to this .mp4")
    d.add_argument("--mode", default=None, choices=MODES, metavar="MODE",
                   help="render mode for --video (default overlay_stripes, or overlay_stripes_mask with --mask: the "
                        "region alone, as the app shows it); one of: " + ", ".join(MODES))
    d.add_argument("--dense-grid", type=int, default=None, help="render stride in pixels for points/overlay")
    d.add_argument("--reinit", type=int, default=None, metavar="K",
                   help="instead of one frame's pixels: sparse tracks re-started every K frames on every cell no "
                   "earlier track covers (DOT's 'every cell in every frame'); --out is then .npz/.csv/.json")
    d.add_argument("--cell-size", type=int, default=4, help="--reinit cell side in working pixels (default 4)")
    d.set_defaults(func=cmd_dense)
    return d
