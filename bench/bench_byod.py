"""Figures for bring-your-own-data: annotation corrections, HDF5 logs, pose metrics.

    python bench/bench_byod.py [--clip ../shared/media/cat.mp4] [--steps 300] [--threads 1]

* Annotate: a point placed on the first frame of a real clip, then corrected on
  three later frames, proposals by ``lk``: seconds per edit (each edit tracks only
  the new keyframe over the frames up to its neighbours) and frames re-tracked.
* HDF5: a log of ``--steps`` steps with two 480x640 cameras (gzip, like recorders
  write): reading one camera, ``add-keypoints`` for 16 points (copy + write), and
  the same for the second camera into the same output.
* Pose: ``lk`` and ``dot_dis`` on a synthetic two-person pose clip with exact
  truth (``tests/test_pose.py``'s layout): PCK@0.1, PCK@0.2, OKS and jitter
  (prediction vs ground truth).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def bench_annotate(clip: Path) -> None:
    from studio.service import TrackingService
    from studio.service import annotate_job as job

    with tempfile.TemporaryDirectory() as tmp:
        service = TrackingService(output_root=tmp)
        video = service.load_video(str(clip))
        t_len, (h, w) = video.num_frames, video.source_size
        ann = job.start(service, str(clip), "lk")
        ann.add_point("p")
        service.tracker("lk")
        print(f"annotate: {clip.name} {w}x{h}, {t_len} frames, proposals by lk")
        edits = [(0, w * 0.5, h * 0.5), (t_len // 2, w * 0.52, h * 0.5), (t_len // 4, w * 0.5, h * 0.51),
                 (3 * t_len // 4, w * 0.5, h * 0.49)]
        for t, x, y in edits:
            start = time.perf_counter()
            edit = job.place(service, str(clip), ann, 0, t, x, y)
            secs = time.perf_counter() - start
            lo, hi = edit.span
            print(f"  keyframe on frame {t:3d}: {secs:5.2f} s, re-tracked frames {lo}-{hi} ({hi - lo + 1} frames)")
        start = time.perf_counter()
        job.save(service, str(clip), ann)
        print(f"  save .pkl + .npz: {time.perf_counter() - start:.2f} s")


def bench_h5(steps: int) -> None:
    import h5py

    from studio.io.h5log import add_keypoints, read_log_video
    from studio.results import TrackResult

    h, w, n = 480, 640, 16
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.h5"
        base = rng.integers(0, 255, (1, 2, 3, h, w), dtype=np.uint8)
        with h5py.File(log, "w") as f:
            for i in range(steps):
                f.create_dataset(f"step_{i}/obs/image", data=np.roll(base, i, axis=-1), compression="gzip",
                                 compression_opts=1, chunks=(1, 1, 3, h, w))
        size = log.stat().st_size / 2**20
        print(f"hdf5: {steps} steps, 2 cameras of {w}x{h} (gzip), {size:.0f} MiB")
        start = time.perf_counter()
        video = read_log_video(log, 1)
        secs = time.perf_counter() - start
        print(f"  read camera 1: {secs:.2f} s ({video.num_frames / secs:.0f} frames/s)")
        tracks = TrackResult(tracks=rng.uniform(0, 400, (steps, n, 2)), visible=np.ones((steps, n), bool),
                             queries=np.zeros((n, 3)), size=(h, w))
        out = Path(tmp) / "out.h5"
        for cam in (1, 0):
            start = time.perf_counter()
            add_keypoints(log, tracks, cam, out)
            print(f"  add-keypoints camera {cam} ({n} points): {time.perf_counter() - start:.2f} s")


def bench_pose() -> None:
    import test_pose

    from studio.benchmark.runner import evaluate

    with tempfile.TemporaryDirectory() as tmp:
        _, path, _, _ = test_pose.pose_dataset(Path(tmp), people=2, frames=24)
        print("pose: synthetic two-person clip, 24 frames at 160x120, 34 COCO keypoints, exact truth")
        print(f"  {'model':8} {'mode':8} {'AJ':>5} {'PCK@0.1':>8} {'PCK@0.2':>8} {'OKS':>6} {'jitter':>7} {'truth':>6}")
        for model in ("lk", "dot_dis"):
            for mode in ("first", "strided"):
                m = evaluate(model, path, mode).mean()
                print(f"  {model:8} {mode:8} {m['average_jaccard']:5.1f} {m['pck@0.1']:8.1f} {m['pck@0.2']:8.1f} "
                      f"{m['oks']:6.1f} {m['jitter']:7.2f} {m['jitter_gt']:6.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", type=Path, default=ROOT.parent / "shared" / "media" / "cat.mp4")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    clip = args.clip if args.clip.is_file() else ROOT / "examples" / "hopper_orbit.mp4"
    bench_annotate(clip)
    bench_h5(args.steps)
    bench_pose()


if __name__ == "__main__":
    main()
