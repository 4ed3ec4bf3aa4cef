"""Command line: ``python -m studio track|models``."""

from __future__ import annotations

import argparse
import sys

from studio.progress import tqdm_progress
from studio.registry import list_trackers, query_trackers, tracker_info, weight_status


def cmd_models(args: argparse.Namespace) -> int:
    rows = [("name", "kind", "online", "weights", "checkpoint", "license")]
    for name in list_trackers():
        e = tracker_info(name)
        rows.append(
            (name, e.kind, "yes" if e.online else "no", weight_status(name), str(e.checkpoint or "-"), e.license)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def cmd_track(args: argparse.Namespace) -> int:
    from studio.pipeline import grid_for, render_tracks, track_video
    from studio.queries import parse_points
    from studio.registry import create_tracker
    from studio.io.trackfile import save_tracks
    from studio.io.video import read_video, write_video

    video = read_video(args.video, max_frames=args.max_frames, max_side=args.max_side)
    for notice in video.notices:
        print(f"note: {notice}", file=sys.stderr)
    queries = parse_points(args.points) if args.points else grid_for(video, args.grid, args.grid_frame)
    tracker = create_tracker(args.model, checkpoint=args.checkpoint)
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m studio", description="Tracking Studio: track points through videos.")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("models", help="list the registry and whether each model's weights are here")
    m.set_defaults(func=cmd_models)

    t = sub.add_parser("track", help="track points through a video")
    t.add_argument("video", help="input video (mp4, mov, webm, gif, ...)")
    q = t.add_mutually_exclusive_group(required=True)
    q.add_argument("--points", help='query points "t,x,y; t,x,y" in source-video pixels (integer = pixel centre)')
    q.add_argument("--grid", type=int, help="track an N x N grid")
    t.add_argument("--grid-frame", type=int, default=0, help="frame the grid is placed on (default 0)")
    t.add_argument("--model", default="lk", choices=query_trackers(), metavar="NAME",
                   help="point tracker, or a dense model sampled at the queries (default lk): "
                   + ", ".join(query_trackers()))
    t.add_argument("--checkpoint", help="local checkpoint file instead of the hub download")
    t.add_argument("--out", help="write tracks to .npz, .csv or .json")
    t.add_argument("--video", dest="render", help="write the input with the tracks drawn to this .mp4")
    t.add_argument("--tail", type=int, default=8, help="tail length in frames for --video (default 8)")
    t.add_argument("--max-frames", type=int, default=None, help="keep only the first N frames")
    t.add_argument("--max-side", type=int, default=None, help="shrink so the longer side is at most this")
    t.set_defaults(func=cmd_track)

    from studio.cli.bench import add_bench_parser
    from studio.cli.dense import add_dense_parser
    from studio.cli.render import add_render_parser

    add_render_parser(sub)
    add_bench_parser(sub)
    add_dense_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "out", None):
        from studio.results import InputError
        from studio.io.trackfile import format_of

        try:
            format_of(args.out)
        except InputError as exc:  # fail before minutes of tracking, not after
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        # InputError, VideoError, WeightsUnavailable, CheckpointMismatch: one readable line, no traceback.
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
