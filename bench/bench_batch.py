"""Batch throughput: videos per minute with 1 and 2 workers, on the local pool (and on Ray with --ray).

Run: `python bench/bench_batch.py [--copies 3] [--grid 10] [--model lk] [--ray]`. The input is
every clip of ../shared/media (cat, backpack, paragliding, bmx, apple: 50-87 frames, 368x480 to
1296x720), or the two generated examples when that folder is absent, each copied `--copies`
times into a temporary folder; each run writes npz tracks into a fresh output folder. The
figure is wall time from the command's start to its end (worker start and model load
included), as a user sees it; "steady" is what the workers sustain once running (workers x 60 /
mean seconds per video in a worker); the load average of the machine is printed beside them,
since a shared machine's other work shows in the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.batch import open_engine  # noqa: E402
from studio.batch.run import run_batch  # noqa: E402
from studio.batch.track_jobs import TrackSettings  # noqa: E402


def inputs(folder: Path, copies: int) -> list[Path]:
    media = ROOT.parent / "shared" / "media"
    clips = sorted(media.glob("*.mp4")) if media.is_dir() else []
    clips = clips or [ROOT / "examples" / "hopper_pan.mp4", ROOT / "examples" / "hopper_orbit.mp4"]
    out = []
    for i in range(copies):
        for clip in clips:
            dst = folder / f"{clip.stem}_{i}.mp4"
            shutil.copy(clip, dst)
            out.append(dst)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--copies", type=int, default=3, help="copies of each clip (default 3)")
    p.add_argument("--grid", type=int, default=10, help="N x N grid per video (default 10)")
    p.add_argument("--model", default="lk")
    p.add_argument("--ray", action="store_true", help="also run on a local Ray instance")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        src = tmp / "in"
        src.mkdir()
        videos = inputs(src, args.copies)
        print(f"{len(videos)} videos ({', '.join(sorted({v.stem.rsplit('_', 1)[0] for v in videos}))}), "
              f"{args.model}, {args.grid}x{args.grid} grid, {os.cpu_count()} CPUs")
        settings = TrackSettings(model=args.model, grid=args.grid)
        runs = [("local pool", False, 1), ("local pool", False, 2)]
        if args.ray:
            runs += [("Ray (local)", True, 1), ("Ray (local)", True, 2)]
        for name, ray, workers in runs:
            out = tmp / f"out_{name.split()[0]}_{workers}"
            start = time.perf_counter()
            summary = run_batch([str(src)], settings, out, lambda: open_engine(workers, ray=ray),
                                show_progress=False)
            wall = time.perf_counter() - start
            done = summary.count("done")
            busy = sum(r["seconds"] for r in summary.records) / max(done, 1)
            # Start-up (worker processes, model load, a Ray instance) is in the wall figure; the steady
            # figure is what the workers sustain once running (mean seconds per video in a worker).
            print(f"{name:12s} {workers} worker(s): {60 * done / wall:6.1f} videos/min  (steady "
                  f"{60 * workers / busy:.1f}; {done} videos in {wall:.1f} s, {busy:.2f} s per video in a worker; "
                  f"load average {os.getloadavg()[0]:.1f})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
