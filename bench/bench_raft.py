"""DOT RAFT speed on this machine: seconds per frame pair and peak memory.

Run: ``python bench/bench_raft.py [--models raft_cvo,raft_refiner] [--sizes 256x256,480x856]
[--repeat 2] [--device cpu]``.

Weights are random (the file layout, not the values, sets the cost), so the numbers are
timings only. Each size is rounded up to a multiple of the model's patch size. One line per
(model, size): best-of-``repeat`` seconds for a full pair (encoding both frames + the model's
trained number of iterations), the share of it spent encoding, and the peak resident memory
of the process so far (CPU) or the peak allocated memory (CUDA). The all-pairs correlation
volume dominates memory: (H*W/P^2)^2 floats.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from studio.synthetic import make_clip
from studio.trackers.raft.adapter import build_flow


def peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="raft_cvo,raft_refiner")
    ap.add_argument("--sizes", default="256x256,480x856")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}; random weights")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = build_flow(name, device, None)
        p = model.patch_size
        for size in args.sizes.split(","):
            h, w = (-(-int(v) // p) * p for v in size.split("x"))
            clip = make_clip("mixed", num_frames=2, size=(h, w))
            f0, f1 = clip.video[0], clip.video[1]
            coarse = np.zeros((h // p, w // p, 2), np.float32)
            best, enc = float("inf"), float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                model.encode(f0)
                model.encode(f1)
                mid = time.perf_counter()
                flow, _ = model.refine(f0, f1, coarse)
                end = time.perf_counter()
                enc = min(enc, (mid - start))
                best = min(best, end - mid)
                assert np.isfinite(flow).all()
            line = (f"{name:13s} {h:4d}x{w:<4d} ({model.num_iter:2d} iters): {best:7.2f} s/pair  "
                    f"(encoding {enc / best:4.0%})  peak {peak_mb(device):7.0f} MB")
            print(line, flush=True)


if __name__ == "__main__":
    main()
