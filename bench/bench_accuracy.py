"""Accuracy of the weight-free trackers on clips with exact ground truth; prints Markdown tables.

Run: `python bench/bench_accuracy.py`. Clips: `studio.synthetic.make_clip` (32 frames, 320x240,
each motion kind, textured occluder). Queries: a 12x12 grid on frame 0 and on frame 16, only
points visible there; each point's query frame is not scored.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.conventions import inside_frame  # noqa: E402
from studio.queries import grid_queries  # noqa: E402
from studio.registry import create_tracker  # noqa: E402
from studio.synthetic import MOTIONS, accuracy_summary, make_clip  # noqa: E402


def lk_table() -> None:
    lk = create_tracker("lk")
    keys = ["median_px", "within_1px", "within_2px", "within_4px", "visibility_accuracy", "occluded_recall"]
    print("| motion | query frame | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 2) + "|")
    rows = []
    for motion in MOTIONS:
        clip = make_clip(motion, num_frames=32, size=(240, 320))
        for qt in (0, 16):
            q = grid_queries(clip.size, 12, qt)
            q = q[clip.ground_truth(q)[1][qt]]
            gt, gv = clip.ground_truth(q)
            r = lk.track(clip.video, q)
            s = accuracy_summary(r.tracks, r.visible, gt, gv, q)
            rows.append(s)
            print(f"| {motion} | {qt} | " + " | ".join(f"{s[k]:.3f}" for k in keys) + " |")
    print("| **mean** | | " + " | ".join(f"**{np.nanmean([r[k] for r in rows]):.3f}**" for k in keys) + " |")


def dis_line() -> None:
    dis = create_tracker("dis")
    errs = []
    for motion in MOTIONS:
        clip = make_clip(motion, num_frames=32, size=(240, 320))
        h, w = clip.size
        ys, xs = np.mgrid[0:h, 0:w]
        xy = np.stack([xs, ys], -1).astype(float)
        for t in range(0, 31, 5):
            gt = clip.flow(t, t + 1)
            ok = ~clip.occluded_at(t, xy) & ~clip.occluded_at(t + 1, xy + gt) & inside_frame(xy + gt, (h, w))
            errs.append(np.linalg.norm(dis.flow(clip.video[t], clip.video[t + 1]) - gt, axis=-1)[ok])
    e = np.concatenate(errs)
    print(f"mean end-point error {e.mean():.3f} px, median {np.median(e):.3f} px, "
          f"{np.mean(e < 1):.1%} of pixels within 1 px (5 motions x 7 frame pairs, occluded pixels excluded)")


if __name__ == "__main__":
    lk_table()
    print()
    dis_line()
