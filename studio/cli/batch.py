"""``python -m studio batch INPUTS... --model NAME (--grid N | --points ... | --labelme-dir DIR) --out DIR``.

Tracks every video of INPUTS (files, folders searched recursively, quoted globs)
into DIR, mirroring the input tree, with ``DIR/manifest.jsonl`` recording each
item. Runs on a local process pool (``--workers N``) or on Ray (``--ray``,
``--ray auto``, ``--ray HOST:PORT``). Exit status: 0 when every item is done or
skipped, 1 when any failed, 2 when the batch could not start.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from studio.registry import query_trackers

LOCAL = ""  # the --ray value meaning "start a local Ray instance"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers N`` and ``--ray [ADDRESS]``, shared by ``batch`` and ``bench``."""
    parser.add_argument("--workers", type=_positive_int, default=None,
                        help="worker processes (Ray: actors); each loads the model once. Default: local pool "
                        "of up to 4 (1 with a CUDA GPU); Ray: one per GPU, else one per CPU")
    parser.add_argument("--ray", nargs="?", const=LOCAL, default=None, metavar="ADDRESS",
                        help="run on Ray: alone, a local instance; 'auto' or HOST:PORT joins a running cluster "
                        "(needs: pip install -r requirements-ray.txt)")


def ray_address(args: argparse.Namespace, inputs: list[str] | None = None) -> tuple[bool, str | None]:
    """``(use Ray, cluster address or None)``. A bare ``--ray`` written before INPUTS takes the first
    input as its value; a value that is an existing path or a glob is given back to ``inputs``."""
    value = args.ray
    if value is None:
        return False, None
    if value and inputs is not None and (Path(value).exists() or glob.has_magic(value)):
        inputs.insert(0, value)
        value = LOCAL
    return True, (value or None)


def cmd_batch(args: argparse.Namespace) -> int:
    from studio.batch import open_engine
    from studio.batch.run import run_batch
    from studio.batch.track_jobs import TrackSettings
    from studio.cli.model_args import parse_options
    from studio.results import InputError

    inputs = list(args.inputs)
    use_ray, address = ray_address(args, inputs)
    if not inputs:
        raise InputError("give at least one video file, folder or glob to track")
    settings = TrackSettings(
        model=args.model, grid=args.grid, points=args.points, labelme_dir=args.labelme_dir, frame=args.frame,
        checkpoint=str(Path(args.checkpoint).expanduser().resolve()) if args.checkpoint else None,
        options=tuple(sorted(parse_options(args.option).items())), max_frames=args.max_frames,
        max_side=args.max_side, tail=args.tail, fmt=args.format,
    )

    def make_engine():
        engine = open_engine(args.workers, ray=use_ray, address=address)
        print(f"engine: {engine.describe()}", file=sys.stderr)
        return engine

    try:
        summary = run_batch(inputs, settings, args.out_dir, make_engine, render=args.render,
                            show_progress=not args.quiet)
    except KeyboardInterrupt:
        print("interrupted: finished items are in the manifest; run the same command again to go on",
              file=sys.stderr)
        return 130
    print(summary.line())
    print(f"manifest -> {summary.manifest}")
    if summary.failed:
        print(f"{summary.failed} item(s) failed; see 'error' in the manifest; run the same command again "
              "to retry them", file=sys.stderr)
    return 1 if summary.failed else 0


def add_batch_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``batch`` command to the CLI's subparsers; returns its parser."""
    b = subparsers.add_parser(
        "batch",
        help="track many videos (files, folders, globs) on a process pool or Ray",
        description=(
            "Track every video of INPUTS with one model. Folders are searched recursively; quote globs "
            "('data/**/*.mp4') so the outputs mirror the tree below them. Each video gets DIR/<path>.npz "
            "(and <path>_tracked.mp4 with --video); DIR/manifest.jsonl gets one line per item. A video that "
            "fails does not stop the batch; running the command again skips finished items and retries "
            "failed ones. Exit status 1 when any item failed."
        ),
    )
    b.add_argument("inputs", nargs="*", metavar="INPUTS", help="video files, folders or quoted glob patterns")
    b.add_argument("--model", default="lk", choices=query_trackers(), metavar="NAME",
                   help="point tracker, or a dense model sampled at the queries (default lk): "
                   + ", ".join(query_trackers()))
    q = b.add_mutually_exclusive_group(required=True)
    q.add_argument("--grid", type=_positive_int, help="track an N x N grid on --frame of every video")
    q.add_argument("--points", help='the same points in every video: "t,x,y; t,x,y" in its pixels')
    q.add_argument("--labelme-dir", metavar="DIR",
                   help="labelme .json files under DIR, matched to videos by name (DIR/<path>.json mirroring "
                   "the inputs, else the one <stem>.json); their point shapes are the queries, on --frame")
    b.add_argument("--frame", type=int, default=0, help="frame the grid or the labelme points are on (default 0)")
    b.add_argument("--out", dest="out_dir", required=True, metavar="DIR", help="output folder (made if missing)")
    b.add_argument("--format", choices=("npz", "csv", "json"), default="npz", help="track file format (default npz)")
    b.add_argument("--video", dest="render", action="store_true", help="also write <name>_tracked.mp4")
    b.add_argument("--tail", type=int, default=8, help="tail length in frames for --video (default 8)")
    b.add_argument("--checkpoint", metavar="PATH",
                   help="the model's checkpoint file (instead of the checkpoint folder or the hub download)")
    b.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="model option, repeatable (e.g. upsample=2 for gmrw, threshold=0.8 for CoTracker)")
    b.add_argument("--max-frames", type=_positive_int, default=None, help="keep only the first N frames")
    b.add_argument("--max-side", type=_positive_int, default=None,
                   help="shrink so the longer side is at most this")
    add_engine_arguments(b)
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_batch)
    return b
