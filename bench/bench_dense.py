"""Dense tracking speed and accuracy of the weight-free `dot_dis` on this CPU.

Run: `python bench/bench_dense.py [VIDEO MASK]` (default: ../shared/media/apple.mp4 with
apple_mask.png). Prints seconds per stage (initial tracks, interpolation, refinement,
the rest = resizing and assembling the full-resolution result), the total and the peak
resident memory; then accuracy on generated clips with exact ground truth
(`studio.synthetic`): mean end-point error over the mask's visible pixels and the
intersection-over-union of predicted and true occlusion, first for a region of a warped
photo, then for an object held in front of the camera (the mask is the object on frame 0)
under real-world appearance change: lighting, motion blur, non-rigid motion, all of them,
with the visible share inside the mask, true and predicted, in each third of the clip;
last, a textured object that turns in place (`studio.synthetic.turn`: its painted front
turns away and comes back), before (neither of the two below), with re-detection by appearance
(`studio.dense.redetect`) only, and with it and the DIS refiner's forward-backward test in
frames where most tracks are lost (`fb_below`, the default): occlusion accuracy (OA), mean
visible-share error, the shares of pixel-frames wrongly called visible / hidden, and the
share by third, true / predicted.
`--skip-real` leaves out the real clip, `--only-objects` runs only the held-object table,
`--only-turning` only the last; `--before` runs the other tables without either (the
behaviour before them, for before/after figures).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.io.masks import read_mask_image  # noqa: E402
from studio.io.video import read_video  # noqa: E402
from studio.registry import create_tracker  # noqa: E402
from studio.synthetic import make_clip  # noqa: E402
from studio.synthetic.turn import make_turning_clip, turning_scores  # noqa: E402


def dot_dis(before: bool | None = None, redetect: bool | None = None):
    """The `dot_dis` tracker; ``before`` (default: `--before` given) turns off re-detection and the
    forward-backward test for frames where most tracks are lost; ``redetect`` overrides the first."""
    before = "--before" in sys.argv if before is None else before
    tracker = create_tracker("dot_dis")
    tracker.redetect = not before if redetect is None else redetect
    if before:
        tracker.refiner.fb_below = 0.0
    return tracker


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def dense_truth(clip, query_frame: int = 0):
    """Exact dense tracks [T, H, W, 2] and visibility [T, H, W] of every pixel of ``query_frame``."""
    t_len, h, w = clip.video.shape[:3]
    ys, xs = np.mgrid[0:h, 0:w]
    q = np.stack([np.full(h * w, query_frame), xs.ravel(), ys.ravel()], 1).astype(np.float32)
    tracks, visible = clip.ground_truth(q)
    return tracks.reshape(t_len, h, w, 2), visible.reshape(t_len, h, w)


def dense_scores(result, gt_tracks, gt_visible, mask) -> dict[str, float]:
    """EPE over truly visible masked pixels, occlusion IoU and visibility accuracy over masked pixels;
    the query frame is not scored."""
    keep = np.arange(gt_tracks.shape[0]) != result.query_frame
    err = np.linalg.norm(result.tracks[keep] - gt_tracks[keep], axis=-1)[:, mask]
    vis_true = gt_visible[keep][:, mask]
    vis_pred = result.visible[keep][:, mask]
    occ_true, occ_pred = ~vis_true, ~vis_pred
    return {
        "epe": float(err[vis_true].mean()),
        "median": float(np.median(err[vis_true])),
        "occ_iou": float((occ_true & occ_pred).sum() / max((occ_true | occ_pred).sum(), 1)),
        "vis_acc": float((vis_true == vis_pred).mean()),
    }


def object_rows(tracker, frames: int = 48) -> None:
    """The held-object table: one clip per appearance preset (288x512, moving occluder)."""
    print(f"\nan object held in front of the camera (exact truth; 288x512, {frames} frames, moving occluder; "
          "mask = the object on frame 0)")
    print(f"{'appearance':10s} {'EPE px':>7s} {'median':>7s} {'occ IoU':>8s} {'vis acc':>8s}   "
          f"{'visible share by third: truth / predicted':42s} {'seconds':>8s}")
    for appearance in ("rigid", "lighting", "blur", "nonrigid", "all"):
        clip = make_clip("translate", num_frames=frames, size=(288, 512), speed=1.0, appearance=appearance,
                         foreground=True)
        gt_tracks, gt_visible = dense_truth(clip)
        ys, xs = np.mgrid[0:288, 0:512]
        mask = clip.on_object(0, np.stack([xs, ys], -1).astype(float))
        tic = time.perf_counter()
        r = tracker.track_dense(clip.video, 0, mask)
        sec = time.perf_counter() - tic
        s = dense_scores(r, gt_tracks, gt_visible, mask)
        thirds = np.array_split(np.arange(1, frames), 3)
        shares = " ".join(f"{gt_visible[t][:, mask].mean():.2f}/{r.visible[t][:, mask].mean():.2f}" for t in thirds)
        print(f"{appearance:10s} {s['epe']:7.3f} {s['median']:7.3f} {s['occ_iou']:8.3f} {s['vis_acc']:8.3f}   "
              f"{shares:42s} {sec:8.2f}")


def turning_rows(frames: int = 48, size: tuple[int, int] = (240, 320)) -> None:
    """The turning-object table: the same clip before, with re-detection only, and after."""
    clip = make_turning_clip(frames, size)
    mask = clip.front_region()
    _, gt_visible = clip.dense_truth()
    print(f"\na textured object turning once in place (exact truth; {size[0]}x{size[1]}, {frames} frames; "
          "mask = a patch on its front on frame 0)")
    print(f"{'version':16s} {'OA':>6s} {'share err':>9s} {'false vis':>9s} {'false hid':>9s}   "
          f"{'visible share by third: truth / predicted':42s} {'seconds':>8s}")
    thirds = np.array_split(np.arange(1, frames), 3)
    for label, tracker in (("before", dot_dis(before=True)), ("re-detection", dot_dis(before=True, redetect=True)),
                           ("after", dot_dis(before=False))):
        tic = time.perf_counter()
        r = tracker.track_dense(clip.video, 0, mask)
        sec = time.perf_counter() - tic
        s = turning_scores(r.visible, gt_visible, mask)
        shares = " ".join(f"{gt_visible[t][:, mask].mean():.2f}/{r.visible[t][:, mask].mean():.2f}" for t in thirds)
        print(f"{label:16s} {s['oa']:6.3f} {s['share_err']:9.3f} {s['false_visible']:9.3f} "
              f"{s['false_hidden']:9.3f}   {shares:42s} {sec:8.2f}")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--only-objects" in sys.argv:
        object_rows(dot_dis())
        return
    if "--only-turning" in sys.argv:
        turning_rows()
        return
    media = ROOT.parent / "shared" / "media"
    video_path = Path(args[0]) if len(args) > 0 else media / "apple.mp4"
    mask_path = Path(args[1]) if len(args) > 1 else media / "apple_mask.png"
    if "--skip-real" not in sys.argv:
        real_clip(video_path, mask_path)
    tracker = dot_dis()
    print("\naccuracy on generated clips (exact truth; 288x512, 24 frames, moving occluder; "
          "mask = central ellipse)")
    print(f"{'motion':12s} {'EPE px':>7s} {'median':>7s} {'occ IoU':>8s} {'vis acc':>8s} {'seconds':>8s}")
    for motion in ("mixed", "perspective", "translate"):
        clip = make_clip(motion, num_frames=24, size=(288, 512), speed=1.5)
        gt_tracks, gt_visible = dense_truth(clip)
        ys, xs = np.mgrid[0:288, 0:512]
        ellipse = ((xs - 256) / 200.0) ** 2 + ((ys - 144) / 110.0) ** 2 <= 1
        tic = time.perf_counter()
        r = tracker.track_dense(clip.video, 0, ellipse)
        sec = time.perf_counter() - tic
        s = dense_scores(r, gt_tracks, gt_visible, ellipse)
        print(f"{motion:12s} {s['epe']:7.3f} {s['median']:7.3f} {s['occ_iou']:8.3f} {s['vis_acc']:8.3f} {sec:8.2f}")
    object_rows(tracker)
    turning_rows()


def real_clip(video_path: Path, mask_path: Path) -> None:
    tic = time.perf_counter()
    video = read_video(video_path)
    decode = time.perf_counter() - tic
    mask, _ = read_mask_image(mask_path, video.size)
    t_len, h, w = video.frames.shape[:3]
    tracker = dot_dis()
    tic = time.perf_counter()
    result = tracker.track_dense(video.frames, 0, mask, fps=video.fps)
    total = time.perf_counter() - tic
    stages = dict(result.timings)
    stages["resize + assemble"] = total - sum(stages.values())
    print(f"input: {video_path.name} {w}x{h}, {t_len} frames, mask {int(mask.sum())} px; "
          f"dot_dis, {tracker.num_tracks} initial lk tracks, working long side <= {tracker.max_side}")
    print(f"{'stage':24s} {'seconds':>8s}")
    print(f"{'decode':24s} {decode:8.2f}")
    for name, sec in stages.items():
        print(f"{name:24s} {sec:8.2f}")
    print(f"{'total (dense tracking)':24s} {total:8.2f}   ({total / t_len:.2f} s/frame)")
    print(f"{'peak RSS':24s} {peak_rss_gib():8.2f} GiB")
    print(f"visible share inside the mask: {result.visible[1:, mask].mean():.3f}")


if __name__ == "__main__":
    main()
