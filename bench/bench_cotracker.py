"""CoTracker speed on this machine: seconds per clip at the 384x512 model resolution.

Run: ``python bench/bench_cotracker.py [--models cotracker3_offline,cotracker3_online]
[--frames 24,48] [--points 100,1000] [--device cpu]``.

Weights are random (the file layout, not the values, sets the cost), so the numbers are
timings only. The clip is generated at 384x512, so resizing costs almost nothing; all
queries are on frame 0, so no backward pass runs (queries on later frames add a second,
time-reversed pass of about the same cost). One line per (model, frames, points):
total seconds, and the share spent in the image encoder.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from studio.queries import grid_queries
from studio.synthetic import make_clip
from studio.trackers.cotracker.blocks import encode_frames
from studio.trackers.cotracker.predictor import build_tracker
from studio.trackers.cotracker.variants import MODEL_RESOLUTION

DEFAULT_MODELS = "cotracker3_offline,cotracker3_online,cotracker2,cotracker2v1_online,cotracker1"


def queries_for(n: int, size: tuple[int, int]) -> np.ndarray:
    """About ``n`` points on frame 0 (a square grid, trimmed to ``n``)."""
    side = int(np.ceil(np.sqrt(n)))
    return grid_queries(size, side, 0)[:n]


def encoder_seconds(tracker, video: np.ndarray) -> float:
    frames = tracker.resize(video)
    start = time.perf_counter()
    with torch.inference_mode():
        encode_frames(tracker.model.fnet, frames, tracker.encoder_chunk)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--frames", default="24,48")
    ap.add_argument("--points", default="100,1000")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    frames_list = [int(x) for x in args.frames.split(",")]
    clip = make_clip("mixed", num_frames=max(frames_list), size=MODEL_RESOLUTION, occluder=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}; random weights")
    for name in args.models.split(","):
        torch.manual_seed(0)
        tracker = build_tracker(name, device, None)
        for t in frames_list:
            video = clip.video[:t]
            enc = encoder_seconds(tracker, video)
            for n in (int(x) for x in args.points.split(",")):
                q = queries_for(n, MODEL_RESOLUTION)
                start = time.perf_counter()
                result = tracker.track(video, q)
                total = time.perf_counter() - start
                assert np.isfinite(result.tracks).all()
                line = f"{name:22s} {t:3d} frames x {len(q):5d} points: {total:7.1f} s  (encoder {enc:5.1f} s)"
                print(line, flush=True)


if __name__ == "__main__":
    main()
