"""Core speed figures: decode, `lk` end to end, H.264 encode, at 480p on this CPU.

Run: `python bench/bench_core.py [VIDEO]` (default: ../shared/media/paragliding.mp4,
854x480, or a generated 854x480 clip when that is absent). Prints one line per figure:
decode, `lk` on a grid of 256 and 2025 points (queries on the first frame: decode then
track, and streamed from the file with decoding overlapped as `track --stream` does; queries
mid-clip), `dot_dis` for 7 clicks on the first frame (the Track tab's case), H.264 encode.
Goal from the issue: `lk` end to end within 2x of bare decode time.

It also prints the floor under any `lk` built on OpenCV's pyramidal LK with a forward-backward
check: OpenCV's own calls alone, on the decoded grey frames, with `lk`'s window, levels and
stopping rule, for the same grid from frame 0, each point simply following its last answer
(no checks, no bookkeeping): forwards only, and forwards plus the way back.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.io.video import read_video, write_video  # noqa: E402
from studio.online.stream import stream_track  # noqa: E402
from studio.queries import grid_queries  # noqa: E402
from studio.registry import create_tracker  # noqa: E402
from studio.synthetic import make_clip  # noqa: E402
from studio.trackers.lk import LK_CRITERIA, to_gray  # noqa: E402


CPU = {}
"""The CPU seconds (all threads of this process) of the latest ``best_of`` figure's fastest run."""


def best_of(fn, repeats: int = 3) -> float:
    """Fastest wall-clock time of ``repeats`` runs; its CPU time goes to ``CPU["last"]``. On a shared,
    loaded machine the CPU time is the steadier figure (waiting for a core is not counted)."""
    times = []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    wall, CPU["last"] = min(times)
    return wall


def bare_lk(gray, xy, lk, back: bool) -> None:
    """OpenCV's LK over grey frames ``gray`` [T, H, W] uint8 from points ``xy`` [N, 2] on frame 0, with
    ``lk``'s settings; each point follows its own answer; ``back`` adds the way back of every step."""
    settings = dict(winSize=(lk.window, lk.window), maxLevel=lk.levels, criteria=LK_CRITERIA,
                    minEigThreshold=lk.min_eig)
    p = xy.astype(np.float32).reshape(-1, 1, 2)
    for t in range(len(gray) - 1):
        p1, _, _ = cv2.calcOpticalFlowPyrLK(gray[t], gray[t + 1], p, None, **settings)
        if back:
            cv2.calcOpticalFlowPyrLK(gray[t + 1], gray[t], p1, p.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
                                     **settings)
        p = p1


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
    decode_cpu = CPU["last"]
    print(f"decode alone:          {t / decode:7.1f} frames/s  ({decode:.3f} s; CPU {decode_cpu:.3f} s)")

    def line(label: str, run: float) -> str:
        return (f"{label}: {t / run:7.1f} frames/s  ({run:.3f} s, {run / decode:.1f}x decode; "
                f"CPU {CPU['last']:.3f} s, {CPU['last'] / decode_cpu:.1f}x decode's)")

    lk = create_tracker("lk")
    gray = to_gray(video.frames)
    for n in (16, 45):  # 256 and 2025 points
        q = grid_queries((h, w), n, 0)
        q_mid = grid_queries((h, w), n, t // 2)
        for back in (False, True):
            floor = best_of(lambda: bare_lk(gray, q[:, 1:], lk, back))
            print(line(f"  OpenCV LK calls alone, {'forwards + back' if back else 'forwards only  '}", floor)
                  + f"; decode + them: {(decode + floor) / decode:.1f}x decode")
        run = best_of(lambda: lk.track(read_video(path).frames, q))
        print(line(f"lk end to end {n * n:5d} pts", run))
        # The same points streamed from the file (`track --stream`): decoding runs in its own
        # thread a few frames ahead of the tracking.
        run_stream = best_of(lambda: stream_track(path, "lk", grid=n))
        print(line("  streamed (decode overlapped)", run_stream))
        run_mid = best_of(lambda: lk.track(read_video(path).frames, q_mid))
        print(line("  queries mid-clip (fwd+bwd)", run_mid))

    # A few clicks on a dense model (the Track tab's dot_dis): initial tracks, then its dense field sampled
    # at the queries; one run (tens of seconds).
    dense = create_tracker("dot_dis")
    clicks = grid_queries((h, w), 3, 0)[:7]
    run = best_of(lambda: dense.track(read_video(path).frames, clicks), repeats=1)
    print(line(f"dot_dis end to end {len(clicks)} pts", run))

    encode = best_of(lambda: write_video(tmp / "out.mp4", video.frames, video.fps))
    print(f"H.264 encode:          {t / encode:7.1f} frames/s  ({encode:.3f} s)")


if __name__ == "__main__":
    main()
