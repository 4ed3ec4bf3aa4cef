"""``python -m studio track VIDEO --points "t,x,y; ..." | --grid N | --labelme FILE | --coco FILE``.

Queries and tracks are in source-video pixels (integer = pixel centre); the
tracks can be saved (``--out`` .npz/.csv/.json) and drawn (``--video`` .mp4).
Points are capped as in the app (``STUDIO_MAX_POINTS``: ``--points`` and ``--grid``
N x N), checked before the video is decoded.
Points from a labelme or COCO keypoint file keep their names (saved with the
tracks, written beside the points with ``--labels``; COCO-17 keypoints get their
skeleton drawn). ``VIDEO`` may be an HDF5 robot log with ``--camera C``.
``--stream`` tracks videos of any length frame by frame with an online model
(``studio.online.stream``); without it the video is decoded whole (``--max-frames``).
"""

from __future__ import annotations

import argparse
import sys

from studio.pipeline import COLOURINGS
from studio.progress import tqdm_progress
from studio.registry import query_trackers
from studio.reliability import ENGINES


def _online() -> list[str]:
    from studio.online import online_names

    return online_names()


def cmd_track(args: argparse.Namespace) -> int:
    from studio.cli.model_args import parse_options
    from studio.io.named_points import named_queries, read_named_points
    from studio.io.sources import read_source
    from studio.limits import Limits
    from studio.pipeline import grid_for, save_outputs, track_video
    from studio.queries import check_grid_size, check_point_count, parse_points
    from studio.registry import create_tracker
    from studio.results import InputError

    if (args.color_by == "reliability" or args.hide_below > 0) and not args.reliability:
        raise ValueError("--color-by reliability and --hide-below need --reliability")
    limits = Limits.from_env()
    # Every argument is checked before the video is decoded.
    point_file = args.labelme or args.coco
    kind = "labelme" if args.labelme else "coco" if args.coco else None
    if point_file:
        check_point_count(len(read_named_points(point_file, kind=kind, image=args.coco_image)), limits.max_points)
    elif args.points is not None:
        points = parse_points(args.points)
        check_point_count(len(points), limits.max_points)
    else:
        check_grid_size(args.grid, limits.max_points)
    if args.stream:
        if args.reliability:
            raise InputError("--stream tracks frame by frame in bounded memory; the reliability check needs the "
                             "whole clip at once: leave out one of --stream and --reliability")
        if point_file or args.camera is not None:
            raise InputError("--stream tracks a video file with --points or --grid (not --labelme/--coco or --camera)")
        return _stream(args, points if args.points is not None else None)
    # One bar for the whole job: each phase (reading, tracking, writing) restarts it with its own time left.
    bar, progress = tqdm_progress("reading")
    try:
        video = read_source(args.video, max_frames=args.max_frames, max_side=args.max_side, camera=args.camera,
                            progress=progress)
        for notice in video.notices:
            print(f"note: {notice}", file=sys.stderr)
        names = None
        if point_file:
            names, queries, notices = named_queries(point_file, args.frame or 0, tuple(video.source_size),
                                                    video.num_frames, kind=kind, image=args.coco_image)
            for notice in notices:
                print(f"note: {notice}", file=sys.stderr)
        elif args.points is not None:
            queries = points
        else:
            queries = grid_for(video, args.grid, args.frame if args.frame is not None else args.grid_frame)
        tracker = create_tracker(args.model, checkpoint=args.checkpoint, **parse_options(args.option))
        progress(0.0, f"tracking with {args.model}")
        run = track_video(video, queries, args.model, tracker=tracker, progress=progress, names=names,
                          reliability=args.reliability, engine=args.reliability_engine)
        saved, rendered = save_outputs(video, run.result, args.out, args.render, tail=args.tail, labels=args.labels,
                                       color_by=args.color_by, hide_below=args.hide_below, progress=progress)
    finally:
        bar.close()
    print(run.summary())
    if saved:
        print(f"tracks -> {saved}")
    if rendered:
        print(f"video  -> {rendered}")
    return 0


def _stream(args: argparse.Namespace, points) -> int:
    """``--stream``: the whole video, frame by frame, in bounded memory (online models only)."""
    from studio.cli.model_args import parse_options
    from studio.io.trackfile import save_tracks
    from studio.online import open_online
    from studio.online.stream import stream_track

    # Refuse offline models before reading anything (NotOnline names --max-frames and the online models).
    tracker = open_online(args.model, checkpoint=args.checkpoint, **parse_options(args.option))
    bar, progress = tqdm_progress(f"streaming with {args.model}")
    try:
        run = stream_track(
            args.video, args.model, points=points, grid=None if points is not None else args.grid,
            grid_frame=args.frame if args.frame is not None else args.grid_frame, render=args.render,
            tail=args.tail, max_side=args.max_side, max_frames=args.max_frames, tracker=tracker, progress=progress,
        )
    finally:
        bar.close()
    said = "streamed the whole video frame by frame"
    if run.result.num_frames and (run.result.queries[:, 0] > 0).any():
        said += ("; points queried after frame 0 were also tracked backwards to frame 0 (the frames before the "
                 "latest query frame decoded again in reverse" + (", and the video again to draw it)" if args.render
                                                                   else ")"))
    for notice in [said, *run.notices]:
        print(f"note: {notice}", file=sys.stderr)
    print(run.summary())
    if args.out:
        print(f"tracks -> {save_tracks(run.result, args.out)}")
    if args.render:
        print(f"video  -> {args.render}")
    return 0


def add_track_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``track`` command to the CLI's subparsers; returns its parser."""
    t = subparsers.add_parser("track", help="track points through a video")
    t.add_argument("video", help="input video (mp4, mov, webm, gif, ...) or an HDF5 robot log (.h5, with --camera)")
    q = t.add_mutually_exclusive_group(required=True)
    q.add_argument("--points", help='query points "t,x,y; t,x,y" in source-video pixels (integer = pixel centre)')
    q.add_argument("--grid", type=int, help="track an N x N grid")
    q.add_argument("--labelme", metavar="FILE",
                   help="named query points from a labelme .json (its 'point' shapes; labelme's pixel corners "
                   "are converted to our pixel centres), placed on --frame")
    q.add_argument("--coco", metavar="FILE",
                   help="named query points from a COCO keypoint .json (labelled keypoints of one image; several "
                   "people are named person<k>/<keypoint>), placed on --frame")
    t.add_argument("--frame", type=int, default=None,
                   help="frame the --labelme/--coco points (or the grid) are placed on (default 0)")
    t.add_argument("--coco-image", metavar="ID_OR_FILE", default=None,
                   help="--coco: which image's keypoints, by id or file name (default: the first with keypoints)")
    t.add_argument("--grid-frame", type=int, default=0, help="frame the grid is placed on (default 0)")
    t.add_argument("--camera", type=int, default=None,
                   help="HDF5 robot log: the camera to track (step_<i>/obs/image[0, C]); needed with several")
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
    t.add_argument("--reliability", action="store_true",
                   help="also check every position by tracking it back to its query frame: reliability [T,N] in "
                   "[0,1] and cycle_error (px) in the track files, a summary line (costs about one more pass; "
                   "for lk and dot_dis a fast template-matching jump back, see the README)")
    t.add_argument("--reliability-engine", default="auto", choices=ENGINES,
                   help="how to track back: jump (one template-matching jump per frame), model (the tracker itself with a batch of "
                   "backward queries) or auto (jump for weight-free models, model otherwise)")
    t.add_argument("--color-by", default="query", choices=COLOURINGS,
                   help="--video colours: one per point (query) or each position by reliability (red..green)")
    t.add_argument("--hide-below", type=float, default=0.0, metavar="R",
                   help="--video leaves out positions whose reliability is below R (needs --reliability)")
    t.add_argument("--labels", action="store_true", help="--video: write each point's name beside it")
    t.add_argument("--max-frames", type=int, default=None, help="keep only the first N frames")
    t.add_argument("--max-side", type=int, default=None, help="shrink so the longer side is at most this")
    t.add_argument("--stream", action="store_true",
                   help="decode, track, draw and write frame by frame: the whole video in bounded memory, "
                   "whatever its length (online models: " + ", ".join(_online()) + ")")
    t.set_defaults(func=cmd_track)
    return t
