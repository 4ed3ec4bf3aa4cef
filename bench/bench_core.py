"""Core speed figures: decode, `lk` end to end, H.264 encode, at 480p on this CPU.

Run: `python bench/bench_core.py [VIDEO]` (default: ../shared/media/paragliding.mp4,
854x480, or a generated 854x480 clip when that is absent). Prints one line per figure.
Goal from the issue: `lk` end to end within 2x of bare decode time.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.io.video import read_video, write_video  # noqa: E402
from studio.queries import grid_queries  # noqa: E402
from studio.registry import create_tracker  # noqa: E402
from studio.synthetic import make_clip  # noqa: E402


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
    else:
        path = ROOT.parent / "shared" / "media" / "paragliding.mp4"
        if not path.is_file():
            clip = make_clip("mixed", num_frames=70, size=(480, 854))
            path = write_video(tmp / "generated_480p.mp4", clip.video, 24.0)
    video = read_video(path)
    t, h, w, _ = video.frames.shape
    print(f"input: {Path(path).name} {w}x{h}, {t} frames")

    decode = best_of(lambda: read_video(path))
    print(f"decode alone:          {t / decode:7.1f} frames/s  ({decode:.3f} s)")

    lk = create_tracker("lk")
    for n in (16, 45):  # 256 and 2025 points
        q = grid_queries((h, w), n, 0)
        q_mid = grid_queries((h, w), n, t // 2)
        run = best_of(lambda: lk.track(read_video(path).frames, q))
        print(f"lk end to end {n * n:5d} pts: {t / run:7.1f} frames/s  ({run:.3f} s, {run / decode:.1f}x decode)")
        run_mid = best_of(lambda: lk.track(read_video(path).frames, q_mid))
        print(f"  queries mid-clip (fwd+bwd): {t / run_mid:7.1f} frames/s  ({run_mid:.3f} s, {run_mid / decode:.1f}x decode)")

    encode = best_of(lambda: write_video(tmp / "out.mp4", video.frames, video.fps))
    print(f"H.264 encode:          {t / encode:7.1f} frames/s  ({encode:.3f} s)")


if __name__ == "__main__":
    main()
