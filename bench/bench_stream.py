"""Streaming memory and speed: peak RSS of ``track --stream`` for a short and a 10x longer video.

Run: `python bench/bench_stream.py` (defaults: lk, 8x8 grid, 480x360, 300 and 3000 frames,
drawing and writing the tracked video). Each length runs in a fresh subprocess, so its peak
RSS (``ru_maxrss``) is its own; goal: long/short <= 1.2 (memory flat in the video's length).
The clips loop a 100-frame clip with exact motion and an occluder (``studio.synthetic``)
forwards and backwards, written to H.264 first.

Options: --frames 300 3000, --model NAME, --grid N, --size WxH, --no-render, --whole (also run
the whole-clip path, ``track --max-frames``, for comparison).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_video(path: Path, frames: int, size: tuple[int, int]) -> None:
    """A ``frames``-long H.264 clip: a 100-frame synthetic clip played forwards and backwards."""
    from studio.io.video import VideoWriter
    from studio.synthetic import make_clip

    clip = make_clip("mixed", num_frames=100, size=size, speed=0.5).video
    with VideoWriter(path, 25.0) as out:
        for i in range(frames):
            k = i % 198
            out.write(clip[k if k < 100 else 198 - k])


def child(argv: list[str]) -> None:
    """Run the CLI in this process and print its wall time and peak RSS as JSON."""
    import torch

    from studio.cli import main

    torch.set_num_threads(1)
    start = time.perf_counter()
    rc = main(argv)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"rc": rc, "seconds": seconds, "peak_mb": peak_mb}))


def measure(argv: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, nargs="+", default=[300, 3000])
    p.add_argument("--model", default="lk")
    p.add_argument("--grid", type=int, default=8)
    p.add_argument("--size", default="480x360")
    p.add_argument("--no-render", action="store_true")
    p.add_argument("--whole", action="store_true", help="also run the whole-clip path (track --max-frames T)")
    args = p.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for frames in args.frames:
            video = Path(tmp) / f"clip{frames}.mp4"
            make_video(video, frames, (h, w))
            common = ["track", str(video), "--grid", str(args.grid), "--model", args.model,
                      "--out", str(Path(tmp) / "t.npz")]
            if not args.no_render:
                common += ["--video", str(Path(tmp) / "drawn.mp4")]
            modes = [("stream", ["--stream"])] + ([("whole clip", ["--max-frames", str(frames)])] if args.whole else [])
            for mode, extra in modes:
                r = measure(common + extra)
                rows.append((mode, frames, r))
                print(f"{mode:10s} {frames:5d} frames: peak RSS {r['peak_mb']:7.1f} MB, "
                      f"{frames / r['seconds']:6.1f} frames/s (wall {r['seconds']:.1f} s, process)", flush=True)
    stream = {f: r for mode, f, r in rows if mode == "stream"}
    if len(stream) >= 2:
        lo, hi = min(stream), max(stream)
        ratio = stream[hi]["peak_mb"] / stream[lo]["peak_mb"]
        print(f"\n| model | size | points | render | frames | peak RSS MB | frames/s |\n|---|---|---|---|---|---|---|")
        for mode, f, r in rows:
            print(f"| {args.model} ({mode}) | {w}x{h} | {args.grid ** 2} | {'no' if args.no_render else 'yes'} | {f} | "
                  f"{r['peak_mb']:.0f} | {f / r['seconds']:.1f} |")
        print(f"\npeak RSS {hi} / {lo} frames (stream): {ratio:.3f} (goal <= 1.2)")


if __name__ == "__main__":
    main()
