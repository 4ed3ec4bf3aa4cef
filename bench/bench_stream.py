"""Streaming memory and speed: peak RSS of ``track --stream`` for a short and a 10x longer video.

Run: `python bench/bench_stream.py` (defaults: lk, 8x8 grid, 480x360, 300 and 3000 frames,
drawing and writing the tracked video). Each length runs in a fresh subprocess, so its peak
RSS (``ru_maxrss``) is its own; goal: long/short <= 1.2 (memory flat in the video's length).
The clips loop a 100-frame clip with exact motion and an occluder (``studio.synthetic``)
forwards and backwards, written to H.264 first.

Each length is tracked twice: the grid on frame 0 (one pass: decode, track, draw) and the grid
mid-clip (frame T/2: the forward pass, a backward pass over frames T/2..0 decoded in reverse a
chunk at a time, and a third pass that decodes again to draw); the ratio is printed for each.

Options: --frames 300 3000, --model NAME, --grid N, --size WxH, --no-render, --query-at {0,mid,both},
--whole (also run the whole-clip path, ``track --max-frames``, for comparison).
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
    p.add_argument("--query-at", choices=["0", "mid", "both"], default="both",
                   help="grid on frame 0, mid-clip (adds the backward pass and a drawing pass), or both")
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
            modes = []
            if args.query_at in ("0", "both"):
                modes.append(("stream", ["--stream"]))
            if args.query_at in ("mid", "both"):
                modes.append(("stream mid", ["--stream", "--grid-frame", str(frames // 2)]))
            modes += [("whole clip", ["--max-frames", str(frames)])] if args.whole else []
            for mode, extra in modes:
                r = measure(common + extra)
                rows.append((mode, frames, r))
                print(f"{mode:10s} {frames:5d} frames: peak RSS {r['peak_mb']:7.1f} MB, "
                      f"{frames / r['seconds']:6.1f} frames/s (wall {r['seconds']:.1f} s, process)", flush=True)
    print(f"\n| model | size | points | query frame | render | frames | peak RSS MB | frames/s |\n"
          f"|---|---|---|---|---|---|---|---|")
    for mode, f, r in rows:
        at = f"{f // 2}" if mode == "stream mid" else "0"
        print(f"| {args.model} ({mode.split()[0]}) | {w}x{h} | {args.grid ** 2} | {at} | "
              f"{'no' if args.no_render else 'yes'} | {f} | {r['peak_mb']:.0f} | {f / r['seconds']:.1f} |")
    for mode in ("stream", "stream mid"):
        runs = {f: r for m, f, r in rows if m == mode}
        if len(runs) >= 2:
            lo, hi = min(runs), max(runs)
            ratio = runs[hi]["peak_mb"] / runs[lo]["peak_mb"]
            where = "query mid-clip" if mode == "stream mid" else "query on frame 0"
            print(f"peak RSS {hi} / {lo} frames ({where}): {ratio:.3f} (goal <= 1.2)")

if __name__ == "__main__":
    main()
