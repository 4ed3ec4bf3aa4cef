"""``python -m studio bench``: TAP-Vid metrics of registry point trackers on a dataset.

Wired into ``studio.cli`` by ``add_bench_parser(sub)``; the command prints a
table per model (each video and the mean, x 100) and can write JSON and CSV.
Tables and files come from ``studio.benchmark.report``, which the app's Benchmark tab
uses too, so both show the same numbers.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from studio.benchmark.metrics.tapvid import QUERY_MODES
from studio.benchmark.report import COLUMNS, format_table, results_document, table_rows, write_csv, write_json
from studio.benchmark.report import fmt_metric as _fmt
from studio.cli import run
from studio.cli.batch import _positive_int, add_engine_arguments, ray_address
from studio.progress import tqdm_progress
from studio.registry import query_trackers


def add_bench_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``bench`` command to an ``argparse`` subparsers object and return its parser."""
    b = subparsers.add_parser(
        "bench",
        help="score point trackers on a TAP-Vid dataset (AJ, <d_avg, OA)",
        description=(
            "Track the ground-truth queries of a TAP-Vid dataset (.pkl, .npz or a folder of them) and report "
            "the TAP-Vid metrics x 100 per video and as the mean over videos. Videos are resized to 256x256 "
            "and scored in 256x256 pixels, as in the reference protocol. When the dataset names its tracks as "
            "COCO-17 keypoints (e.g. 'gt export' of a PoseTrack file), pose metrics are added: PCK@0.1/0.2 "
            "(box-normalised), OKS (COCO sigmas) and jitter (prediction vs ground truth). Pickles are read with "
            "a restricted unpickler: files that would run code are refused."
        ),
    )
    b.add_argument(
        "dataset", nargs="?",
        help="TAP-Vid dataset: .pkl (DAVIS/RoboTAP dict, RGB-Stacking/Kinetics list), .npz, or a folder",
    )
    b.add_argument(
        "--model", action="append", required=True, choices=query_trackers(), metavar="NAME",
        help=f"point tracker or dense model to score; repeat for several ({', '.join(query_trackers())})",
    )
    b.add_argument(
        "--query-mode", required=True, choices=QUERY_MODES,
        help="'first': each track's first visible point; 'strided': every visible point on frames 0, 5, 10, ...",
    )
    b.add_argument(
        "--checkpoint", action="append", metavar="[NAME=]PATH",
        help="a model's checkpoint file (instead of the checkpoint folder or the hub download); NAME=PATH when "
        "several models are scored; repeatable",
    )
    b.add_argument("--json", dest="json_out", help="write all results to this .json file")
    b.add_argument("--csv", dest="csv_out", help="write one row per model and video (and the mean) to this .csv file")
    b.add_argument(
        "--full-resolution", action="store_true",
        help="track at each video's stored size instead of 256x256 (a separate category; "
        "still scored in 256x256 pixels)",
    )
    b.add_argument("--max-videos", type=_positive_int, default=None, help="score only the first N videos")
    add_engine_arguments(b)
    b.set_defaults(func=cmd_bench)
    return b


def cmd_bench(args: argparse.Namespace) -> int:
    from studio.benchmark.datasets import open_dataset
    from studio.benchmark.runner import evaluate
    from studio.cli.model_args import parse_checkpoints
    from studio.registry import create_tracker

    inputs = [args.dataset] if args.dataset else []
    use_ray, address = ray_address(args, inputs)
    if len(inputs) != 1:
        raise ValueError("give one dataset file or folder")
    args.dataset = inputs[0]
    for out in (args.json_out, args.csv_out):
        if out and not Path(out).resolve().parent.is_dir():
            raise OSError(f"cannot write {out}: folder {Path(out).resolve().parent} does not exist")
    checkpoints = parse_checkpoints(args.checkpoint, args.model)
    dataset = open_dataset(args.dataset)
    resolution = None if args.full_resolution else (256, 256)
    engine = None
    if use_ray or args.workers:
        from studio.batch import open_engine

        engine = open_engine(args.workers, ray=use_ray, address=address)
        print(f"engine: {engine.describe()}", file=sys.stderr)
    results = []
    try:
        for model in dict.fromkeys(args.model):  # each model once, in the order given
            bar, progress = tqdm_progress(f"{model}")
            checkpoint = checkpoints.get(model)
            try:
                if engine is not None:
                    from studio.batch.bench import evaluate_on

                    result = evaluate_on(engine, model, dataset, args.query_mode, resolution, args.max_videos,
                                         progress, checkpoint=str(Path(checkpoint).resolve()) if checkpoint else None)
                else:
                    tracker = create_tracker(model, checkpoint=checkpoint) if checkpoint else model
                    result = evaluate(tracker, dataset, args.query_mode, resolution, args.max_videos, progress)
            finally:
                bar.close()
            results.append(result)
            print(format_table(result))
            print()
    finally:
        if engine is not None:
            engine.close()
    if len(results) > 1:
        print("mean over videos (x 100):")
        width = max(len(r.model) for r in results)
        pose = any(r.has_pose for r in results)
        extra = f"  {'PCK@0.2':>7}  {'OKS':>6}  {'jitter':>6}" if pose else ""
        print(f"{'model'.ljust(width)}  {'AJ':>6}  {'<d_avg':>6}  {'OA':>6}{extra}")
        for r in results:
            m = r.mean()
            more = (f"  {_fmt(m.get('pck@0.2')):>7}  {_fmt(m.get('oks')):>6}  {m.get('jitter', math.nan):>6.2f}"
                    if pose else "")
            print(f"{r.model.ljust(width)}  {_fmt(m['average_jaccard']):>6}  "
                  f"{_fmt(m['average_pts_within_thresh']):>6}  {_fmt(m['occlusion_accuracy']):>6}{more}")
    if args.json_out:
        write_json(args.json_out, results_document(results, str(args.dataset), args.query_mode, args.full_resolution))
        print(f"json -> {args.json_out}")
    if args.csv_out:
        print(f"csv  -> {write_csv(args.csv_out, results)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``bench`` on its own (the studio CLI is the usual entry point)."""
    p = argparse.ArgumentParser(prog="python -m studio.cli.bench")
    add_bench_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    return run(args)


__all__ = ["COLUMNS", "add_bench_parser", "cmd_bench", "format_table", "main", "table_rows", "write_csv"]


if __name__ == "__main__":
    raise SystemExit(main())
