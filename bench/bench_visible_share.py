"""How `dot_dis`'s visibility inside a painted region holds up over a real clip (issue #18 item 6).

Run: `python bench/bench_visible_share.py [NAME ...]` (default: backpack.mp4, cat.mp4, apple.mp4
from ../shared/media; clips that are absent are skipped). The region is painted on frame 0:
apple.mp4 uses its own mask (apple_mask.png); backpack.mp4 (a backpack held up and turned by
hand) and cat.mp4 (a cat sitting on a sofa) use an ellipse inside the object. Prints, per
clip, the seconds of the dense request, the share of the region's pixels marked visible at
eight frames spread over the clip, and its mean over all frames but the first. No ground
truth: the objects stay in view, but the backpack turns, so parts of the painted side are
truly hidden at times.

`--tracks` also prints how many of the region's own initial `lk` tracks are visible at the
same frames: when those are lost, the dense field has nothing on the object to follow.
`--before` turns off re-detection by appearance (`studio.dense.redetect`) and the DIS
refiner's forward-backward test in frames where most tracks are lost (`fb_below`): the
behaviour before them, for before/after figures. The name `turning` runs the generated
turning object (`studio.synthetic.turn`, 240x320, 48 frames), whose truth is exact: its
true share is printed beside, with the occlusion accuracy (OA) and mean share error.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.dense.sampling import mask_tracks  # noqa: E402
from studio.io.masks import read_mask_image  # noqa: E402
from studio.io.video import read_video  # noqa: E402
from studio.registry import create_tracker  # noqa: E402
from studio.synthetic.turn import make_turning_clip, turning_scores  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
ELLIPSES = {  # (centre x, centre y, half-width, half-height) on frame 0, inside the object
    "backpack.mp4": (245, 205, 20, 50),
    "cat.mp4": (140, 280, 60, 55),
}


def region(name: str, size: tuple[int, int]) -> np.ndarray:
    """[H, W] bool painted region on frame 0."""
    if name == "apple.mp4":
        return read_mask_image(MEDIA / "apple_mask.png", size)[0]
    cx, cy, ax, ay = ELLIPSES[name]
    ys, xs = np.mgrid[0 : size[0], 0 : size[1]]
    return ((xs - cx) / ax) ** 2 + ((ys - cy) / ay) ** 2 <= 1


def main() -> None:
    import torch

    torch.set_num_threads(1)
    names = [a for a in sys.argv[1:] if not a.startswith("--")] or ["backpack.mp4", "cat.mp4", "apple.mp4"]
    tracker = create_tracker("dot_dis")
    if "--before" in sys.argv:
        tracker.redetect = False
        tracker.refiner.fb_below = 0.0
    for name in names:
        if name == "turning":
            turning(tracker)
            continue
        if not (MEDIA / name).is_file() or (name not in ELLIPSES and name != "apple.mp4"):
            print(f"{name}: skipped (absent, or no region defined for it)")
            continue
        video = read_video(MEDIA / name).frames
        t_len, h, w = video.shape[:3]
        mask = region(name, (h, w))
        tic = time.perf_counter()
        result = tracker.track_dense(video, 0, mask)
        sec = time.perf_counter() - tic
        share = result.visible[:, mask].mean(1)
        at = np.linspace(0, t_len - 1, 8).astype(int)
        print(f"{name}: {t_len} frames, region {int(mask.sum())} px, {sec:.1f} s; visible share at frame "
              + " ".join(f"{i}:{share[i]:.2f}" for i in at) + f"; mean {share[1:].mean():.3f}")
        if "--tracks" in sys.argv:
            work = tracker.working_video(video)
            work_mask = cv2.resize(mask.astype(np.uint8), work.shape[2:0:-1], interpolation=cv2.INTER_NEAREST) > 0
            own = mask_tracks(work, tracker.initializer, work_mask, 0, tracker.num_tracks // 2, tracker.seed)
            print(f"  its {own.visible.shape[1]} own lk tracks visible: "
                  + " ".join(f"{i}:{own.visible[i].mean():.2f}" for i in at))


def turning(tracker) -> None:
    clip = make_turning_clip(48, (240, 320))
    mask = clip.front_region()
    _, truth = clip.dense_truth()
    tic = time.perf_counter()
    result = tracker.track_dense(clip.video, 0, mask)
    sec = time.perf_counter() - tic
    share, true_share = result.visible[:, mask].mean(1), truth[:, mask].mean(1)
    s = turning_scores(result.visible, truth, mask)
    at = np.linspace(0, 47, 8).astype(int)
    print(f"turning: 48 frames, region {int(mask.sum())} px, {sec:.1f} s; visible share (true/predicted) at frame "
          + " ".join(f"{i}:{true_share[i]:.2f}/{share[i]:.2f}" for i in at)
          + f"; mean {true_share[1:].mean():.3f}/{share[1:].mean():.3f}; OA {s['oa']:.3f}, share error {s['share_err']:.3f}")


if __name__ == "__main__":
    main()
