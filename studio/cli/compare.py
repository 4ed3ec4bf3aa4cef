"""``python -m studio compare VIDEO --models a,b[,c,d] (--points ... | --grid N) --out compare.mp4 --json report.json``.

The same queries through 2-4 trackers: a side-by-side video (one panel per model, the
same colour per point in every panel), an overlay video (one marker shape per model), a
table per model (seconds, % visible, mean reliability, agreement with the consensus; AJ,
delta_avg and OA with ``--truth``), the disagreement plot and a JSON report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.registry import query_trackers


def cmd_compare(args: argparse.Namespace) -> int:
    from studio.compare import (
        check_models, compare_models, disagreement_figure, load_truth, markdown_table, overlay, save_report,
        side_by_side,
    )
    from studio.compare.views import working_tracks
    from studio.io.trackfile import save_tracks
    from studio.io.video import MP4_SUFFIXES, read_video, write_video
    from studio.pipeline import grid_for
    from studio.limits import Limits
    from studio.progress import tqdm_progress
    from studio.queries import check_grid_size, check_point_count, parse_points
    from studio.results import InputError

    models = check_models(args.models.split(","))
    for flag, path in (("--out", args.video_out), ("--overlay", args.overlay)):
        if path and Path(path).suffix.lower() not in MP4_SUFFIXES:
            raise InputError(f"{flag} must end in .mp4, got {Path(path).name!r}")
    if args.truth and (args.points or args.grid):
        raise InputError("with --truth the queries come from the ground truth: leave out --points and --grid")
    if not (args.truth or args.points or args.grid):
        raise InputError("give the queries: --points, --grid N, or --truth FILE")
    # Every argument is checked before the video is decoded.
    limits = Limits.from_env()
    points = None
    if args.points:
        points = parse_points(args.points)
        check_point_count(len(points), limits.max_points)
    elif args.grid:
        check_grid_size(args.grid, limits.max_points)
    video = read_video(args.video, max_frames=args.max_frames, max_side=args.max_side)
    for notice in video.notices:
        print(f"note: {notice}", file=sys.stderr)
    truth = None
    if args.truth:
        truth = load_truth(args.truth, tuple(video.source_size), video.num_frames, args.truth_video, limits)
        queries = truth.queries
        check_point_count(len(queries), limits.max_points)
    else:
        queries = points if points is not None else grid_for(video, args.grid, args.grid_frame)
    bar, progress = tqdm_progress("comparing")
    try:
        comparison = compare_models(video, queries, models, reliability=not args.no_reliability, truth=truth,
                                    progress=progress)
    finally:
        bar.close()
    print(markdown_table(comparison))
    print(comparison.status())
    tracks = working_tracks(comparison, video.size)
    if args.video_out:
        side = side_by_side(video.frames, tracks, args.tail)
        print(f"side by side -> {write_video(args.video_out, side, video.fps)}")
        overlay_path = args.overlay or str(Path(args.video_out).with_name(Path(args.video_out).stem + "_overlay.mp4"))
    else:
        overlay_path = args.overlay
    if overlay_path:
        print(f"overlay      -> {write_video(overlay_path, overlay(video.frames, tracks), video.fps)}")
    if args.json:
        print(f"report       -> {save_report(comparison, args.json)}")
    if args.plot:
        disagreement_figure(comparison).savefig(args.plot)
        print(f"plot         -> {args.plot}")
    if args.tracks_dir:
        folder = Path(args.tracks_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for name, run in comparison.runs.items():
            print(f"tracks       -> {save_tracks(run.result, folder / f'{name}.npz')}")
    return 0


def add_compare_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``compare`` command to the CLI's subparsers; returns its parser."""
    c = subparsers.add_parser(
        "compare", help="the same queries through 2-4 trackers, side by side, with a table and a report",
        description=__doc__.split("\n\n", 1)[1],
    )
    c.add_argument("video", help="input video (mp4, mov, webm, gif, ...)")
    c.add_argument("--models", required=True, metavar="A,B[,C,D]",
                   help="2 to 4 comma-separated models: " + ", ".join(query_trackers()))
    q = c.add_mutually_exclusive_group()
    q.add_argument("--points", help='query points "t,x,y; t,x,y" in source-video pixels (integer = pixel centre)')
    q.add_argument("--grid", type=int, help="an N x N grid of queries")
    c.add_argument("--grid-frame", type=int, default=0, help="frame the grid is placed on (default 0)")
    c.add_argument("--truth", metavar="FILE",
                   help="ground truth for the clip: a TAP-Vid .pkl/.npz or a track file (.npz/.csv/.json); its "
                   "queries are used and the table adds AJ, delta_avg and OA")
    c.add_argument("--truth-video", metavar="NAME", help="which video of a TAP-Vid file holding several")
    c.add_argument("--out", dest="video_out", metavar="MP4", help="side-by-side video (.mp4)")
    c.add_argument("--overlay", metavar="MP4", help="overlay video (.mp4; default: OUT with _overlay)")
    c.add_argument("--json", metavar="FILE", help="the report: table, tolerance, disagreement per frame and point")
    c.add_argument("--plot", metavar="PNG", help="the disagreement plot as an image")
    c.add_argument("--tracks-dir", metavar="DIR", help="also save each model's tracks as DIR/<model>.npz")
    c.add_argument("--no-reliability", action="store_true", help="skip the reliability check (faster)")
    c.add_argument("--tail", type=int, default=8, help="tail length in frames (default 8)")
    c.add_argument("--max-frames", type=int, default=None, help="keep only the first N frames")
    c.add_argument("--max-side", type=int, default=None, help="shrink so the longer side is at most this")
    c.set_defaults(func=cmd_compare)
    return c
