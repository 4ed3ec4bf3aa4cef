"""TAPIR-family speed on this machine: seconds per frame at 256x256 and peak memory, optionally beside upstream.

Run: ``python bench/bench_tapir.py [--models tapir,bootstapir,bootstapir_online] [--frames 16]
[--points 100,1000] [--threads N] [--device cpu] [--upstream PATH [--upstream-python PYTHON]]``.

Both sides get identical inputs and weights: frames of ``examples/hopper_orbit.mp4`` resized to
256x256, the same random queries, and the seeded official-layout weights of
``tests/tapir_weights.py`` (the values do not change the cost). Offline models track all
queries in one call (queries on random frames); the online model runs frame by frame with
all queries on frame 0, as upstream's causal demo does. Each measurement runs in a fresh
process, so "peak" is that process's peak resident memory (CPU; on CUDA the peak allocated)
and "work" is the peak minus the memory once the model is built. "cpu" is the process's
CPU time, which a machine shared with other jobs inflates less than the wall-clock time.

``--upstream`` points to a checkout of google-deepmind/tapnet outside this project; its
PyTorch modules need ``einshape`` and ``dm-tree``, which this project does not install, so
``--upstream-python`` names an interpreter that has them (and torch, numpy). The script then
prints both timings, the ratio, and the largest difference between the two sets of tracks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tapir_weights: the shared seeded weights

import numpy as np
import torch
from tapir_weights import official_state_dict

DEFAULT_MODELS = "tapir,bootstapir,bootstapir_online"


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def start_measuring(device: torch.device) -> float:
    """Reset the peak counter (Linux: /proc/self/clear_refs) and return the memory in use now, MB."""
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device) / 2**20
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    now = _status_mb("VmRSS")
    return now if now is not None else peak_mb(device)


def peak_mb(device: torch.device) -> float:
    """Peak memory since ``start_measuring``: allocated (CUDA) or resident (CPU), MB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------
# workers: one model, one configuration, in a process of its own


def run_ours(name: str, frames: np.ndarray, queries: np.ndarray, device: torch.device) -> dict:
    """Our network on [T, 256, 256, 3] uint8 frames and [N, 3] (t, y, x) raster queries."""
    sys.path.insert(0, str(ROOT))
    from studio.trackers.tapir.adapter import build_model
    from studio.trackers.tapir.variants import VARIANTS

    model = build_model(VARIANTS[name])
    model.load_state_dict(official_state_dict(name), strict=True)
    model = model.to(device).eval()
    base = start_measuring(device)
    video = torch.from_numpy(frames).to(device).float() / 255 * 2 - 1
    q = torch.from_numpy(queries[:, [0, 2, 1]].copy()).to(device)  # -> (t, x, y)
    start, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        if VARIANTS[name].causal:
            state = model.start_stream(len(q), video.shape[1:3], device)
            outs = [model.stream_step(video[t : t + 1], state, q[:, 0] == t, q[:, 1:]) for t in range(len(video))]
            tracks = torch.cat([o.tracks for o in outs], 1)
            occ = torch.cat([o.occlusion for o in outs], 1)
            expd = torch.cat([o.expected_dist for o in outs], 1)
        else:
            est = model.track(video, q)
            tracks, occ, expd = est.tracks, est.occlusion, est.expected_dist
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "cpu": cpu, "peak": peak_mb(device), "base": base,
            "tracks": tracks.cpu().numpy(), "occlusion": occ.cpu().numpy(), "expected_dist": expd.cpu().numpy()}


def run_upstream(name: str, frames: np.ndarray, queries: np.ndarray, device: torch.device, upstream: str) -> dict:
    """Upstream's PyTorch TAPIR on the same inputs, called as its demos call it."""
    sys.path.insert(0, upstream)
    from tapnet.torch import tapir_model

    config = json.loads((ROOT / "tests" / "fixtures" / "tapir_keys.json").read_text())["models"][name]["config"]
    model = tapir_model.TAPIR(**config)
    model.load_state_dict(official_state_dict(name), strict=True)
    model = model.to(device).eval()
    base = start_measuring(device)
    video = torch.from_numpy(frames).to(device).float() / 255 * 2 - 1
    q = torch.from_numpy(queries).to(device)
    torch.manual_seed(0)
    start, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():
        if config.get("use_casual_conv"):
            first = video[None, :1]
            feats = model.get_query_features(first, False, q[None], model.get_feature_grids(first, False))
            state = model.construct_initial_causal_state(len(q), len(feats.resolutions) - 1)
            state = [{k: v.to(device) for k, v in s.items()} for s in state]
            parts = []
            for t in range(len(video)):
                frame = video[None, t : t + 1]
                traj = model.estimate_trajectories(frame.shape[-3:-1], False, model.get_feature_grids(frame, False),
                                                   feats, None, 64, causal_context=state, get_causal_context=True)
                state = traj["causal_context"]
                parts.append([traj[k][-1][0] for k in ("tracks", "occlusion", "expected_dist")])
            tracks, occ, expd = (torch.cat([p[i] for p in parts], 1) for i in range(3))
        else:
            out = model(video[None], q[None])
            tracks, occ, expd = out["tracks"][0], out["occlusion"][0], out["expected_dist"][0]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    # Back to our (x, y) tracks [N, T, 2] for the comparison; upstream already returns (x, y).
    return {"seconds": seconds, "cpu": cpu, "peak": peak_mb(device), "base": base,
            "tracks": tracks.cpu().numpy(), "occlusion": occ.cpu().numpy(), "expected_dist": expd.cpu().numpy()}


def worker(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    data = np.load(args.inputs)
    device = torch.device(args.device)
    if args.worker == "ours":
        out = run_ours(args.model, data["frames"], data["queries"], device)
    else:
        out = run_upstream(args.model, data["frames"], data["queries"], device, args.upstream)
    np.savez(args.out, **{k: np.asarray(v) for k, v in out.items()})


# ---------------------------------------------------------------------------------------------
# driver


def inputs(num_frames: int, num_points: int, online: bool, seed: int = 0) -> dict:
    """256x256 frames of the example clip (looped when needed) and (t, y, x) raster queries."""
    from studio.io.video import read_video
    from studio.trackers.tapir.adapter import resize_video

    clip = read_video(ROOT / "examples" / "hopper_orbit.mp4").frames
    clip = np.concatenate([clip, clip[::-1]] * (num_frames // (2 * len(clip)) + 1))[:num_frames]
    rng = np.random.default_rng(seed)
    t = np.zeros(num_points) if online else rng.integers(0, num_frames, num_points)
    q = np.column_stack([t, rng.uniform(0, 256, (num_points, 2))]).astype(np.float32)
    return {"frames": resize_video(clip, (256, 256)), "queries": q}


def measure(side: str, python: str, name: str, data_path: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.npz")
        cmd = [python, __file__, "--worker", side, "--model", name, "--inputs", data_path, "--out", out,
               "--device", args.device, "--threads", str(args.threads or 0)]
        if side == "upstream":
            cmd += ["--upstream", args.upstream]
        subprocess.run(cmd, check=True)
        return dict(np.load(out))


def describe(r: dict, frames: int) -> str:
    return (f"{r['seconds'] / frames:6.3f} s/frame (cpu {r['cpu'] / frames:6.3f}), peak {r['peak']:6.0f} MB "
            f"(work {r['peak'] - r['base']:5.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--points", default="100,1000")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--upstream", help="checkout of google-deepmind/tapnet to time beside ours")
    ap.add_argument("--upstream-python", default=sys.executable, help="interpreter with einshape and dm-tree")
    ap.add_argument("--worker", choices=["ours", "upstream"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    sys.path.insert(0, str(ROOT))
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}; "
          f"{args.frames} frames at 256x256; seeded random weights")
    for name in args.models.split(","):
        for n in (int(p) for p in args.points.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                data_path = os.path.join(tmp, "inputs.npz")
                np.savez(data_path, **inputs(args.frames, n, online=name.endswith("online")))
                ours = measure("ours", sys.executable, name, data_path, args)
                print(f"{name:18s} {n:5d} points  ours     {describe(ours, args.frames)}", flush=True)
                if args.upstream:
                    up = measure("upstream", args.upstream_python, name, data_path, args)
                    conf = [(1 - 1 / (1 + np.exp(-r["occlusion"]))) * (1 - 1 / (1 + np.exp(-r["expected_dist"])))
                            for r in (ours, up)]
                    print(f"{'':31s}upstream {describe(up, args.frames)}", flush=True)
                    print(f"{'':31s}ours/upstream {ours['seconds'] / up['seconds']:.2f}x wall, "
                          f"{ours['cpu'] / up['cpu']:.2f}x cpu; tracks differ by at most "
                          f"{np.abs(ours['tracks'] - up['tracks']).max():.1e} px, visibility agrees on "
                          f"{np.mean((conf[0] > 0.5) == (conf[1] > 0.5)):.2%}", flush=True)


if __name__ == "__main__":
    main()
