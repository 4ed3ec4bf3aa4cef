"""Track-On family speed on this machine: CPU seconds per frame and peak memory, optionally side by side
with another implementation (upstream) run on identical inputs and weights.

Run: ``python bench/bench_track_on.py [--models track_on,track_on2] [--points 16,256] [--frames 4]
[--threads 1] [--device cpu] [--compare-cmd CMD] [--per-frame]``.

Weights are the seeded stand-ins of ``studio.trackers.track_on.random_weights`` (the key
layout, not the values, sets the cost, apart from v1's memory masking), the frames are the
first ``--frames`` of the bundled real clip ``examples/hopper_orbit.mp4`` (360x480, resized
to the 384x512 model frame inside), the queries a grid on frame 0; upstream's 20x20
support grid is tracked with them, as in its evaluation. Each (model, points) runs in a
fresh process so that its peak resident memory is its own. Figures: CPU seconds (process
time, all threads) per frame over the whole run, peak RSS; ``--per-frame`` adds the first
frame, the median of the next quarter and of the last quarter (with ``--frames`` beyond the
memory size, 24 or 48, the last quarter runs with a full memory: the cost does not grow).

``--compare-cmd CMD``: for each case the inputs are written to ``IN.npz`` (``video``
uint8 [T, H, W, 3], ``queries`` [N, 3] studio ``(t, x, y)``, ``seed``, ``memory``) and
``CMD NAME IN.npz OUT.npz`` is run; it must write ``OUT.npz`` with ``tracks`` [T, N, 2]
(studio pixels), ``visible`` [T, N], ``cpu_s`` and ``peak_mb``. Its figures are printed next
to ours with the largest track difference after the query frames and the number of
visibility flags that differ. The upstream run behind the README's figures used such a
command around gorkaydemir/track_on (outside this project).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

CLIP = ROOT / "examples" / "hopper_orbit.mp4"


def inputs(frames: int, points: int) -> tuple[np.ndarray, np.ndarray]:
    from studio.queries import grid_queries
    from studio.video import read_video

    video = read_video(CLIP, max_frames=frames).frames[:frames]
    side = int(np.ceil(np.sqrt(points)))
    return video, grid_queries(video.shape[1:3], side, 0)[:points]


def run_ours(name: str, frames: int, points: int, threads: int, device: str, out: str) -> None:
    """One case in this process: track, then save tracks and figures to ``out``."""
    import torch

    from studio.trackers.track_on.predictor import build_tracker
    from studio.trackers.track_on.random_weights import seeded_weights

    torch.set_num_threads(threads)
    video, queries = inputs(frames, points)
    tracker = build_tracker(name, device, None)
    keys = {k: list(v.shape) for k, v in tracker.model.state_dict().items()}
    tracker.model.load_state_dict(seeded_weights(keys, 0))
    stamps = []
    start = time.process_time()
    result = tracker.track(video, queries, progress=lambda f, d: stamps.append(time.process_time()))
    if tracker.device.type == "cuda":
        torch.cuda.synchronize()
    cpu = time.process_time() - start
    per_frame = np.diff([start] + stamps)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if tracker.device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    np.savez(out, tracks=result.tracks, visible=result.visible, cpu_s=cpu, peak_mb=peak, memory=tracker.memory,
             per_frame=per_frame)


def case(name: str, args, tmp: Path) -> str:
    ours = tmp / f"{name}_{args.p}_ours.npz"
    cmd = [sys.executable, __file__, "--one", name, "--points", str(args.p), "--frames", str(args.frames),
           "--threads", str(args.threads), "--device", args.device, "--out", str(ours)]
    subprocess.run(cmd, check=True)
    got = np.load(ours)
    line = (f"{name:17s} {args.p:5d} pts  ours {float(got['cpu_s']) / args.frames:6.2f} CPU-s/frame "
            f"{float(got['peak_mb']):7.0f} MB")
    if args.per_frame:
        f = got["per_frame"]
        q = max(len(f) // 4, 1)
        line += (f" | per frame: first {f[0]:.2f}, median of frames 2-{q + 1} {np.median(f[1:q + 1]):.2f}, "
                 f"median of the last {q} {np.median(f[-q:]):.2f} CPU-s")
    if args.compare_cmd:
        video, queries = inputs(args.frames, args.p)
        src, dst = tmp / f"{name}_{args.p}_in.npz", tmp / f"{name}_{args.p}_other.npz"
        np.savez(src, video=video, queries=queries, seed=0, memory=int(got["memory"]))
        env = dict(os.environ, THREADS=str(args.threads))
        subprocess.run(args.compare_cmd.split() + [name, str(src), str(dst)], check=True, env=env)
        other = np.load(dst)
        after = np.arange(args.frames)[:, None] > queries[None, :, 0]
        diff = float(np.abs(got["tracks"] - other["tracks"])[after].max())
        flips = int((got["visible"] != other["visible"])[after].sum())
        ratio = float(got["cpu_s"]) / float(other["cpu_s"])
        line += (f" | other {float(other['cpu_s']) / args.frames:6.2f} CPU-s/frame {float(other['peak_mb']):7.0f} MB"
                 f" | ours/other {ratio:.2f} | max |track diff| {diff:.2e} px, visibility flags differing {flips}")
    return line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="track_on,track_on2_dinov2,track_on2")
    ap.add_argument("--points", default="16,256")
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compare-cmd", default="")
    ap.add_argument("--per-frame", action="store_true", help="also print per-frame CPU time, early vs late frames")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        run_ours(args.one, args.frames, int(args.points), args.threads, args.device, args.out)
        return
    import torch

    print(f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}, {args.frames} frames of "
          f"{CLIP.name}, seeded random weights, + 400 support points")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            for p in (int(x) for x in args.points.split(",")):
                args.p = p
                print(case(name, args, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
