"""Does reliability find the wrong predictions, and what does the check cost? Prints Markdown tables.

Run: `python bench/bench_reliability.py` (defaults: lk and dot_dis, the jump engine, every motion,
query frames 0 and 16; add `--engines jump,model` for the model engine too, `--real` for the cost
on ../shared/media/paragliding.mp4).

Clips: `studio.synthetic.hard.make_hard_clip` (32 frames, 320x240): the photo under each known
motion, an object moving on its own path that turns to fresh noise from frame 10, and a moving
occluder. Queries: a 10x10 grid on the query frame, without points on a layer edge or hidden
there. A prediction is wrong when it is more than 4 px from the truth; predictions are judged
where the truth shows the point, query frames left out. AUROC is that of 1 - reliability for
"wrong" (1 = every wrong prediction less reliable than every right one; 0.5 = chance).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.queries import grid_queries  # noqa: E402
from studio.registry import create_tracker  # noqa: E402
from studio.reliability import auroc, check_tracks, reliability_auroc  # noqa: E402
from studio.reliability.evaluation import scored_entries  # noqa: E402
from studio.synthetic import MOTIONS  # noqa: E402
from studio.synthetic.hard import make_hard_clip  # noqa: E402

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


def hard_cases(motions, query_frames, frames=32, size=(240, 320), grid=10):
    for motion in motions:
        clip = make_hard_clip(motion, num_frames=frames, size=size)
        for s in query_frames:
            q = grid_queries(clip.size, grid, s)
            q = q[~clip.ambiguous(q)]
            q = q[clip.ground_truth(q)[1][s]]
            gt, gv = clip.ground_truth(q)
            yield motion, s, clip, q, gt, gv


def accuracy_table(models, engines, motions, query_frames) -> None:
    print("| model | engine | motion | query frame | wrong | AUROC | wrong flagged | right flagged | track s | check s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    cases = list(hard_cases(motions, query_frames))
    summary = []
    for model in models:
        tracker = create_tracker(model)
        results = {}
        track_s = {}
        for motion, s, clip, q, gt, gv in cases:
            t0 = time.perf_counter()
            results[motion, s] = tracker.track(clip.video, q)
            track_s[motion, s] = time.perf_counter() - t0
        for engine in engines:
            rel, wrong, tot_track, tot_check = [], [], 0.0, 0.0
            for motion, s, clip, q, gt, gv in cases:
                r = results[motion, s]
                check = check_tracks(tracker, clip.video, r, engine=engine)
                m = reliability_auroc(check.reliability, r.tracks, gt, gv, q)
                judged = scored_entries(q, gv)
                rel.append(check.reliability[judged])
                wrong.append(np.linalg.norm(r.tracks - gt, axis=-1)[judged] > 4)
                tot_track += track_s[motion, s]
                tot_check += check.seconds
                print(f"| {model} | {check.engine} | {motion} | {s} | {m['wrong']:.3f} | {m['auroc']:.3f} | "
                      f"{m['wrong_flagged']:.3f} | {m['right_flagged']:.3f} | {track_s[motion, s]:.2f} | "
                      f"{check.seconds:.2f} |", flush=True)
            pooled = auroc(1 - np.concatenate(rel), np.concatenate(wrong))
            summary.append((model, engine, pooled, float(np.concatenate(wrong).mean()), tot_track, tot_check))
    print()
    print("| model | engine | pooled AUROC | wrong | tracking s | check s | check / tracking |")
    print("|---|---|---|---|---|---|---|")
    for model, engine, pooled, share, tt, tc in summary:
        print(f"| {model} | {engine} | **{pooled:.3f}** | {share:.3f} | {tt:.1f} | {tc:.1f} | {tc / tt:.2f} |")


def cost_on_real_clip(models, engines, points: int = 256) -> None:
    from studio.io.video import read_video

    path = MEDIA / "paragliding.mp4"
    if not path.is_file():
        print(f"\n({path} is not here: no real-clip timing)")
        return
    video = read_video(path)
    side = int(round(np.sqrt(points)))
    q = grid_queries(video.frames.shape[1:3], side, 0)
    t_len, h, w = video.frames.shape[:3]
    print(f"\n{path.name}: {w}x{h}, {t_len} frames, {len(q)} points on frame 0")
    print("| model | engine | tracking s | check s | check / tracking | tracks that become unreliable |")
    print("|---|---|---|---|---|---|")
    from studio.reliability import reliability_line

    for model in models:
        tracker = create_tracker(model)
        t0 = time.perf_counter()
        r = tracker.track(video.frames, q)
        tt = time.perf_counter() - t0
        for engine in engines:
            check = check_tracks(tracker, video.frames, r, engine=engine)
            line = reliability_line(check.reliability, r.visible)
            print(f"| {model} | {check.engine} | {tt:.2f} | {check.seconds:.2f} | {check.seconds / tt:.2f} | {line} |",
                  flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="lk,dot_dis")
    p.add_argument("--engines", default="jump", help="comma-separated: jump, model")
    p.add_argument("--motions", default=",".join(MOTIONS))
    p.add_argument("--query-frames", default="0,16")
    p.add_argument("--real", action="store_true", help="also time the check on ../shared/media/paragliding.mp4")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    models, engines = args.models.split(","), args.engines.split(",")
    accuracy_table(models, engines, args.motions.split(","), [int(v) for v in args.query_frames.split(",")])
    if args.real:
        cost_on_real_clip(models, engines)


if __name__ == "__main__":
    main()
