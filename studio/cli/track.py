"""``python -m studio track VIDEO --points "t,x,y; ..." | --grid N``: track points through a video.

Queries and tracks are in source-video pixels (integer = pixel centre); the
tracks can be saved (``--out`` .npz/.csv/.json) and drawn (``--video`` .mp4).
"""

from __future__ import annotations

import argparse
import sys

from studio.progress import tqdm_progress
from studio.registry import query_trackers


def cmd_track(args: argparse.Namespace) -> int:
    from studio.cli.model_args import parse_options
    from studio.io.trackfile import save_tracks
    from studio.io.video import read_video, write_video
    from studio.pipeline import grid_for, render_tracks, track_video
    from studio.queries import parse_points
    from studio.registry import create_tracker

    video = read_video(args.video, max_frames=args.max_frames, max_side=args.max_side)
    for notice in video.notices:
        print(f"note: {notice}", file=sys.stderr)
    queries = parse_points(args.points) if args.points else grid_for(video, args.grid, args.grid_frame)
    tracker = create_tracker(args.model, checkpoint=args.checkpoint, **parse_options(args.option))
    bar, progress = tqdm_progress(f"tracking with {args.model}")
    try:
        run = track_video(video, queries, args.model, tracker=tracker, progress=progress)
    finally:
        bar.close()
    print(run.summary())
    if args.out:
        print(f"tracks -> {save_tracks(run.result, args.out)}")
    if args.render:
        frames = render_tracks(video, run.result, tail=args.tail)
        print(f"video  -> {write_video(args.render, frames, video.fps)}")
    return 0


def add_track_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``track`` command to the CLI's subparsers; returns its parser."""
    t = subparsers.add_parser("track", help="track points through a video")
    t.add_argument("video", help="input video (mp4, mov, webm, gif, ...)")
    q = t.add_mutually_exclusive_group(required=True)
    q.add_argument("--points", help='query points "t,x,y; t,x,y" in source-video pixels (integer = pixel centre)')
    q.add_argument("--grid", type=int, help="track an N x N grid")
    t.add_argument("--grid-frame", type=int, default=0, help="frame the grid is placed on (default 0)")
    t.add_argument("--model", default="lk", choices=query_trackers(), metavar="NAME",
                   help="point tracker, or a dense model sampled at the queries (default lk): "
                   + ", ".join(query_trackers()))
    t.add_argument("--checkpoint", metavar="PATH",
                   help="the model's checkpoint file (instead of the checkpoint folder or the hub download)")
    t.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="model option, repeatable (e.g. upsample=2 for gmrw, threshold=0.8 for CoTracker)")
    t.add_argument("--out", help="write tracks to .npz, .csv or .json")
    t.add_argument("--video", dest="render", help="write the input with the tracks drawn to this .mp4")
    t.add_argument("--tail", type=int, default=8, help="tail length in frames for --video (default 8)")
    t.add_argument("--max-frames", type=int, default=None, help="keep only the first N frames")
    t.add_argument("--max-side", type=int, default=None, help="shrink so the longer side is at most this")
    t.set_defaults(func=cmd_track)
    return t
