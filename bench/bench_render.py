"""Frames per second of every renderer at 480p, with and without H.264 encoding.

Sparse: 1,000 tracks of random points on a generated 854x480 clip (exact motion and
occluder, so some points are hidden). Dense: one track per pixel (410k tracks)
from the clip's exact flow, subsampled as each mode does (overlay: every pixel;
points: every 16 px; spaghetti: every 30 px).

Usage:
  python bench/bench_render.py                 # all modes, 48 frames, best of 3
  python bench/bench_render.py --frames 96 --repeat 5 --modes points overlay
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from studio.io.video import write_video  # noqa: E402
from studio.render import COMMON_MODES, RenderOptions, render  # noqa: E402
from studio.synthetic import make_clip  # noqa: E402

DEFAULT_MODES = COMMON_MODES


def make_inputs(num_frames: int, num_points: int, seed: int = 0):
    clip = make_clip("mixed", num_frames=num_frames, size=(480, 854), speed=0.5)
    h, w = clip.size
    rng = np.random.default_rng(seed)
    q = np.stack([np.zeros(num_points), rng.uniform(0, w - 1, num_points), rng.uniform(0, h - 1, num_points)], -1)
    sparse, sparse_vis = clip.ground_truth(q)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    grid = np.stack([xs, ys], -1)
    dense = np.stack([grid + clip.flow(0, t) for t in range(num_frames)]).astype(np.float32)
    dense_vis = np.stack([~clip.occluded_at(t, dense[t]) for t in range(num_frames)])
    inside = (dense[..., 0] >= -0.5) & (dense[..., 0] <= w - 0.5) & (dense[..., 1] >= -0.5) & (dense[..., 1] <= h - 0.5)
    return clip.video, (sparse, sparse_vis, q.astype(np.float32)), (dense, dense_vis & inside, None)


def best_time(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--points", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3, help="best of N runs")
    p.add_argument("--modes", nargs="+", default=list(DEFAULT_MODES))
    p.add_argument("--spaghetti-scale", type=float, nargs="+", default=[2.0, 1.0])
    p.add_argument("--no-encode", action="store_true", help="skip the H.264 runs")
    args = p.parse_args(argv)

    print(f"cpu cores: {os.cpu_count()}, numpy {np.__version__}; generating {args.frames} frames at 854x480 ...")
    video, sparse, dense = make_inputs(args.frames, args.points)
    t_len = video.shape[0]
    tmp = tempfile.mkdtemp(prefix="bench_render_")
    path = os.path.join(tmp, "out.mp4")

    if not args.no_encode:
        print("\nencode only (studio.io.video.write_video, libx264 veryfast crf 20):")
        for s in sorted({1.0, *args.spaghetti_scale}):
            frames = video if s == 1.0 else np.ascontiguousarray(
                np.repeat(np.repeat(video, int(s), axis=1), int(s), axis=2)) if float(s).is_integer() else None
            if frames is None:
                continue
            sec, _ = best_time(lambda: write_video(path, frames, 24.0), args.repeat)
            print(f"  {frames.shape[2]}x{frames.shape[1]}: {t_len / sec:7.1f} frames/s")

    header = f"{'tracks':<22} {'mode':<24} {'out size':>10} {'render fps':>11} {'+H.264 fps':>11}"
    print("\n" + header + "\n" + "-" * len(header))
    for label, (tracks, visible, queries) in (
        (f"sparse {sparse[0].shape[1]}", sparse),
        (f"dense {dense[0].shape[1] * dense[0].shape[2]}", dense),
    ):
        for mode in args.modes:
            scales = args.spaghetti_scale if mode.startswith("spaghetti") else [None]
            for s in scales:
                opts = RenderOptions() if s is None else RenderOptions(spaghetti_scale=s)
                sec, out = best_time(lambda: render(video, tracks, visible, mode, opts, queries=queries), args.repeat)
                size = f"{out.shape[2]}x{out.shape[1]}"
                row = f"{label:<22} {mode + ('' if s is None else f' S={s:g}'):<24} {size:>10} {t_len / sec:11.1f}"
                if not args.no_encode:
                    def both():
                        write_video(path, render(video, tracks, visible, mode, opts, queries=queries), 24.0)
                    sec2, _ = best_time(both, args.repeat)
                    row += f" {t_len / sec2:11.1f}"
                print(row, flush=True)
    if os.path.exists(path):
        os.remove(path)
    os.rmdir(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
