"""Time ``studio.benchmark.metrics.compute_tapvid_metrics`` against straightforward implementations.

    python bench/bench_metrics.py [--videos 30 --points 1000 --frames 100 --repeats 5]

The default batch is "DAVIS-sized" as an upper bound: 30 videos, 1000 queries
each (strided sampling duplicates tracks) and 100 frames, all padded to the same
size as one batched call needs. Compared:

* ``studio``: the histogram implementation in ``studio.benchmark.metrics.tapvid``;
* ``simple numpy``: the definitions written the obvious way, one full pass over
  the batch per threshold (the shape of most published copies);
* ``python loop``: ``compute_tapvid_metrics_naive``, one (track, frame) pair at a
  time. It is timed on ``--loop-videos`` videos and scaled to the full batch,
  because the full batch takes minutes.

All three are checked to give identical values before anything is timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.benchmark.metrics.tapvid import (
    METRIC_KEYS,
    THRESHOLDS,
    compute_tapvid_metrics,
    compute_tapvid_metrics_naive,
    evaluation_mask,
)


def simple_numpy(query_points, gt_occluded, gt_tracks, pred_occluded, pred_tracks, query_mode):
    """Per-video metrics with one pass over the whole batch for every threshold."""
    evaluated = evaluation_mask(query_points[..., 0], gt_tracks.shape[2], query_mode)
    visible, pred_visible = ~gt_occluded, ~pred_occluded
    axes = (1, 2)
    agree = np.sum((gt_occluded == pred_occluded) & evaluated, axis=axes)
    out = {"occlusion_accuracy": agree / np.sum(evaluated, axis=axes)}
    gt_pos = np.sum(visible & evaluated, axis=axes)
    within_all, jac_all = [], []
    for d in THRESHOLDS:
        close = np.sum(np.square(pred_tracks - gt_tracks), axis=-1) < d * d
        hit = close & visible & evaluated
        tp = np.sum(hit & pred_visible, axis=axes)
        fp = np.sum(pred_visible & evaluated & ~(close & visible), axis=axes)
        out[f"pts_within_{d}"] = np.sum(hit, axis=axes) / gt_pos
        out[f"jaccard_{d}"] = tp / (gt_pos + fp)
        within_all.append(out[f"pts_within_{d}"])
        jac_all.append(out[f"jaccard_{d}"])
    out["average_jaccard"] = np.mean(np.stack(jac_all, axis=1), axis=1)
    out["average_pts_within_thresh"] = np.mean(np.stack(within_all, axis=1), axis=1)
    return out


def random_batch(b: int, n: int, t: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0, 256, (b, n, t, 2)).astype(np.float32)
    pred = gt + rng.normal(0, 4, gt.shape).astype(np.float32)
    gt_occ = rng.random((b, n, t)) < 0.2
    pred_occ = rng.random((b, n, t)) < 0.2
    q = np.concatenate([rng.integers(0, t, (b, n, 1)), rng.uniform(0, 256, (b, n, 2))], axis=-1)
    return q, gt_occ, gt, pred_occ, pred


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--videos", type=int, default=30)
    p.add_argument("--points", type=int, default=1000)
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--loop-videos", type=int, default=1, help="videos the Python loop is timed on (scaled up)")
    args = p.parse_args(argv)

    batch = random_batch(args.videos, args.points, args.frames)
    small = tuple(a[: args.loop_videos] for a in batch)
    pairs = args.videos * args.points * args.frames
    print(f"batch: {args.videos} videos x {args.points} queries x {args.frames} frames = {pairs / 1e6:.1f} M pairs")
    for mode in ("first", "strided"):
        fast = compute_tapvid_metrics(*batch, mode)
        simple = simple_numpy(*batch, mode)
        loop = compute_tapvid_metrics_naive(*small, mode)
        for k in METRIC_KEYS:
            np.testing.assert_array_equal(fast[k], simple[k], err_msg=k)
            np.testing.assert_array_equal(fast[k][: args.loop_videos], loop[k], err_msg=k)
        t_fast = best_of(lambda m=mode: compute_tapvid_metrics(*batch, m), args.repeats)
        t_simple = best_of(lambda m=mode: simple_numpy(*batch, m), args.repeats)
        t0 = time.perf_counter()
        compute_tapvid_metrics_naive(*small, mode)
        t_loop = (time.perf_counter() - t0) * args.videos / args.loop_videos
        print(f"{mode:8s} studio {t_fast * 1e3:8.1f} ms | simple numpy {t_simple * 1e3:8.1f} ms "
              f"({t_simple / t_fast:4.1f}x slower) | python loop ~{t_loop:6.1f} s "
              f"({t_loop / t_fast:,.0f}x slower; timed on {args.loop_videos} video(s))")
    print("values identical across the three implementations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
