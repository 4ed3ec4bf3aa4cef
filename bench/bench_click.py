"""Robustness of a point tracker to the exact click: queries 0-2 px apart should give the same track.

Run: `python bench/bench_click.py [--model lk] [--frames 48]`.

Ground truth (`studio.synthetic`, 240x320, moving occluder, an object held in front of the
scene on its own path): per clip, 6 requests of 7 queries on frame 0, four well inside the
object and three on the scene (visible there); each request is tracked as given and 8 more
times with every query moved by a random offset of at most 2 px, so a query has 9 variants,
each scored against its own exact truth. Per variant: the share of truly visible frames
tracked within 4 px (d4) and the mean error capped at 32 px. Printed per clip: mean d4 over
variants; the *spread* (per query, best minus worst variant of d4, averaged over queries;
0 = the exact click does not matter); the worst variant's d4 (averaged over queries); the
share of variants that slid off (d4 < 0.5); and visibility accuracy.

Real clips (`../shared/media` cat.mp4 and apple.mp4, no ground truth): 7 fixed clicks on the
animal / the apple, the same 9 variants; printed: how far the variant tracks (offset removed)
stray from their median, as the mean over clicks and frames of the largest distance, and the
share of variants that stray more than 8 px from the median in some frame.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.registry import create_tracker  # noqa: E402
from studio.synthetic import make_clip  # noqa: E402

CLIPS = (("translate", "rigid"), ("mixed", "lighting"), ("perspective", "nonrigid"), ("mixed", "all"))
CLICKS = {
    "cat.mp4": [(150, 200), (130, 260), (170, 250), (150, 320), (120, 350), (180, 340), (160, 180)],
    "apple.mp4": [(470, 280), (430, 330), (520, 330), (480, 400), (420, 400), (540, 380), (470, 450)],
}
VARIANTS = 9
RADIUS = 2.0
ON_OBJECT = 4


def offsets(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """The original click and ``VARIANTS - 1`` sets of offsets uniform in a disc of ``RADIUS`` px."""
    out = [np.zeros((n, 2))]
    for _ in range(VARIANTS - 1):
        r = RADIUS * np.sqrt(rng.uniform(0, 1, n))
        a = rng.uniform(0, 2 * np.pi, n)
        out.append(np.stack([r * np.cos(a), r * np.sin(a)], 1))
    return out


def synthetic_rows(tracker, frames: int, clips=CLIPS) -> list[dict]:
    rows = []
    for motion, appearance in clips:
        clip = make_clip(motion, num_frames=frames, size=(240, 320), appearance=appearance, foreground=True)
        rng = np.random.default_rng(7)
        d4, err, vis_acc = [], [], []  # each [requests * 7, VARIANTS]
        for _ in range(6):
            base = clip.clicks(rng, 7, ON_OBJECT)
            per_d4, per_err, per_vis = [], [], []
            for off in offsets(rng, 7):
                q = base.copy()
                q[:, 1:] += off
                q = q.astype(np.float32)
                gt, gv = clip.ground_truth(q)
                r = tracker.track(clip.video, q)
                e = np.linalg.norm(r.tracks - gt, axis=-1)[1:]
                v = gv[1:]
                per_d4.append([np.mean(e[v[:, i], i] < 4) for i in range(7)])
                per_err.append([np.mean(np.minimum(e[v[:, i], i], 32)) for i in range(7)])
                per_vis.append(np.mean(r.visible[1:] == v, axis=0))
            d4.append(np.array(per_d4).T)
            err.append(np.array(per_err).T)
            vis_acc.append(np.array(per_vis).T)
        d4, err, vis_acc = np.concatenate(d4), np.concatenate(err), np.concatenate(vis_acc)
        rows.append({
            "clip": f"{motion}/{appearance}",
            "d4": d4.mean(),
            "d4_spread": (d4.max(1) - d4.min(1)).mean(),
            "worst": d4.min(1).mean(),
            "slid": np.mean(d4 < 0.5),
            "err_spread": (err.max(1) - err.min(1)).mean(),
            "vis_acc": vis_acc.mean(),
        })
    return rows


def real_rows(tracker) -> list[dict]:
    from studio.io.video import read_video

    rows = []
    media = ROOT.parent / "shared" / "media"
    for name, clicks in CLICKS.items():
        if not (media / name).is_file():
            continue
        video = read_video(media / name).frames
        base = np.array([[0, x, y] for x, y in clicks], np.float32)
        rng = np.random.default_rng(0)
        tracks, vis = [], []
        for off in offsets(rng, len(clicks)):
            q = base.copy()
            q[:, 1:] += off
            r = tracker.track(video, q)
            tracks.append(r.tracks - off[None].astype(np.float32))
            vis.append(r.visible)
        tracks = np.stack(tracks)  # [V, T, N, 2]
        dev = np.linalg.norm(tracks - np.median(tracks, axis=0), axis=-1)  # [V, T, N]
        rows.append({
            "clip": name,
            "stray": dev.max(0).mean(),
            "strayed": np.mean(dev.max(1) > 8),
            "visible": np.mean(vis),
        })
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lk")
    ap.add_argument("--frames", type=int, default=48)
    args = ap.parse_args()
    tracker = create_tracker(args.model)
    tic = time.perf_counter()
    print(f"{args.model}: queries 0-{RADIUS:g} px apart, {VARIANTS} variants each")
    print("| clip | d4 | d4 spread | worst variant d4 | slid off | error spread px | visibility accuracy |")
    print("|---|---|---|---|---|---|---|")
    for r in synthetic_rows(tracker, args.frames):
        print(f"| {r['clip']} | {r['d4']:.3f} | {r['d4_spread']:.3f} | {r['worst']:.3f} | {r['slid']:.3f} | "
              f"{r['err_spread']:.2f} | {r['vis_acc']:.3f} |")
    real = real_rows(tracker)
    if real:
        print("\n| real clip | stray px (mean of max) | variants straying > 8 px | visible share |")
        print("|---|---|---|---|")
        for r in real:
            print(f"| {r['clip']} | {r['stray']:.1f} | {r['strayed']:.3f} | {r['visible']:.3f} |")
    print(f"\n({time.perf_counter() - tic:.0f} s)")


if __name__ == "__main__":
    main()
