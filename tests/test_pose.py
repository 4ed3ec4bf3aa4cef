"""Pose mode: PCK@alpha, OKS and jitter against PoseTrack-style ground truth, in the runner, the CLI and reports."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from studio.benchmark.datasets.build import save_dataset, tracks_record
from studio.benchmark.metrics.pose import POSE_KEYS, pose_metrics
from studio.benchmark.report import format_table, jitter_figure, results_table
from studio.benchmark.runner import evaluate
from studio.conventions import rescale_pixels
from studio.io.coco_keypoints import read_posetrack
from studio.pose import COCO_KEYPOINTS, COCO_SIGMAS, pose_points
from studio.results import TrackResult
from studio.synthetic import make_clip
from test_cli import run

# A standing person on the 160x120 Hopper frame (x, y), COCO order.
BODY = np.array([
    [80, 20], [76, 17], [84, 17], [72, 19], [88, 19], [66, 36], [94, 36], [60, 54], [100, 54], [58, 70],
    [102, 70], [70, 72], [90, 72], [69, 92], [91, 92], [68, 110], [92, 110],
], np.float32)


def test_pose_names_people_and_limbs():
    pp = pose_points(["person1/Left Wrist", "person1/left-elbow", "person2/nose", "tail"])
    assert pp.keypoint == ("left_wrist", "left_elbow", "nose", "")
    assert pp.person == ("person1", "person1", "person2", "")
    assert pp.is_pose and pp.people() == ["person1", "person2"]
    assert not pose_points(["nose", "tail"]).is_pose and not pose_points(None).is_pose


def test_pck_oks_and_jitter_by_hand():
    """Three keypoints of one still person (box 20x20); the nose prediction is 3 px off and shakes."""
    names = ["nose", "left_shoulder", "right_shoulder"]
    truth = np.array([[50, 10], [40, 30], [60, 30]], np.float64)
    gt = np.repeat(truth[:, None], 4, axis=1)  # [N, T, 2]
    vis = np.ones((3, 4), bool)
    pred = gt.copy()
    pred[0, 1:, 1] += 3  # 3 px below on frames 1..3
    m = pose_metrics(names, gt, vis, np.arange(3), np.zeros(3, int), pred, "first")
    # Frames 1..3 are scored (after the query frame): 9 pairs, the nose's 3 are 3 px off.
    assert m["pck@0.1"] == pytest.approx(6 / 9) and m["pck@0.2"] == pytest.approx(1.0)
    e = 9 / (2 * 400 * (2 * COCO_SIGMAS["nose"]) ** 2)
    assert m["oks"] == pytest.approx((math.exp(-e) + 2) / 3)
    assert m["jitter"] == 0 and m["jitter_gt"] == 0
    # Shaking: +2, -2, +2 px in x on frames 1..3 -> second difference 8 px at frame 2 (the only scored triple).
    pred[0, 1:, 0] += [2, -2, 2]
    m = pose_metrics(names, gt, vis, np.arange(3), np.zeros(3, int), pred, "first")
    assert m["jitter"] == pytest.approx(100 * (8 / 20) / 3) and m["jitter_gt"] == 0
    # Hidden ground truth is not scored; fewer than two visible keypoints leave no box.
    vis[1:, 2] = False
    m = pose_metrics(names, gt, vis, np.arange(3), np.zeros(3, int), pred, "first")
    assert m["pck@0.2"] == pytest.approx(1.0)
    assert pose_metrics(["a", "b"], gt[:2], vis[:2], np.arange(2), np.zeros(2, int), pred[:2], "first") is None


def pose_dataset(tmp_path, people=1, frames=16, suffix="npz"):
    """A clip with exact truth whose tracks are COCO keypoints of ``people`` people (shifted copies of BODY)."""
    clip = make_clip("mixed", num_frames=frames, size=(120, 160))
    names, starts = [], []
    for p in range(people):
        offset = np.array([-35 * p, 0], np.float32) if people > 1 else 0
        starts.append(BODY + offset)
        names += [f"person{p + 1}/{k}" if people > 1 else k for k in COCO_KEYPOINTS]
    xy = np.concatenate(starts)
    q = np.concatenate([np.zeros((len(xy), 1), np.float32), np.clip(xy, 0, 159)], axis=1)
    gt, gv = clip.ground_truth(q)
    record = tracks_record(clip.video, gt, gv, clip.size, names=names)
    path = save_dataset(tmp_path / f"pose.{suffix}", {"hopper": record})
    return clip, path, gt, gv


class Oracle:
    """Returns the exact truth (for the working video's pixels): PCK = 1, OKS = 1, jitter = the truth's."""

    name = "oracle"

    def __init__(self, clip):
        self.clip = clip

    def track(self, video, queries, progress=None):
        size = video.shape[1:3]
        q = np.array(queries, np.float64)
        q[:, 1:] = rescale_pixels(q[:, 1:], size, self.clip.size)
        gt, gv = self.clip.ground_truth(q)
        return TrackResult(rescale_pixels(gt, self.clip.size, size), gv, queries)


def test_runner_adds_pose_metrics_for_named_keypoints(tmp_path):
    clip, path, gt, gv = pose_dataset(tmp_path, people=2)
    perfect = evaluate(Oracle(clip), path, "first")
    assert perfect.has_pose
    m = perfect.mean()
    assert m["pck@0.1"] == pytest.approx(100) and m["oks"] == pytest.approx(100, abs=1e-3)
    assert m["jitter"] == pytest.approx(m["jitter_gt"], rel=1e-3) and m["jitter_gt"] > 0
    lk = evaluate("lk", path, "strided")
    v = lk.videos[0].metrics
    assert set(POSE_KEYS) <= set(v) and 0.5 < v["pck@0.2"] <= 1 and 0 < v["oks"] <= 1
    # The same numbers from the ground truth directly (pose metrics are in source pixels, not 256x256).
    header, rows = results_table([lk])
    assert header[-6:] == ["PCK@0.1", "PCK@0.2", "OKS", "jitter", "jitter_gt", "sec"]
    assert rows[-1][header.index("OKS")] == f"{lk.mean()['oks']:.1f}"
    assert "PCK@0.2" in format_table(lk)
    fig = jitter_figure([lk])
    assert fig.axes[0].get_title().startswith("Keypoint jitter")
    # A dataset without names has no pose columns.
    plain = evaluate("lk", "assets/tapvid_sample/tapvid_sample.npz", "first", max_videos=1)
    assert not plain.has_pose and "OKS" not in results_table([plain])[0]


def test_bench_cli_prints_and_writes_pose_metrics(tmp_path):
    _, path, _, _ = pose_dataset(tmp_path, suffix="pkl")
    out = run("bench", path, "--model", "lk", "--query-mode", "first", "--csv", tmp_path / "r.csv", "--json",
              tmp_path / "r.json")
    assert out.returncode == 0, out.stderr
    assert "PCK@0.1  PCK@0.2   OKS  jitter  jitter_gt" in out.stdout
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    doc = json.loads((tmp_path / "r.json").read_text())
    mean = doc["results"][0]["mean"]
    assert float(rows[-1]["oks"]) == pytest.approx(mean["oks"], abs=1e-4)
    assert 50 < mean["pck@0.2"] <= 100 and mean["jitter_gt"] > 0


def posetrack_doc(clip, gt, gv, labelled):
    """A PoseTrack 2018-style file: one image per frame, visibility 0/1, one track_id per person."""
    images = [{"id": 1000 + t, "frame_id": 1000 + t, "file_name": f"images/x/{t:06d}.jpg", "vid_id": "x",
               "is_labeled": bool(labelled[t]), "height": clip.size[0], "width": clip.size[1]}
              for t in range(gt.shape[0])]
    anns = []
    for t in range(gt.shape[0]):
        if not labelled[t]:
            continue
        kps = []
        for j in range(17):
            kps += [float(gt[t, j, 0]), float(gt[t, j, 1]), 1 if gv[t, j] else 0]
        anns.append({"image_id": 1000 + t, "track_id": 4, "category_id": 1, "keypoints": kps, "id": t})
    names = ["nose", "head_bottom", "head_top"] + list(COCO_KEYPOINTS[3:])
    return {"images": images[::-1], "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": names}]}


def test_posetrack_file_to_dataset_to_bench(tmp_path):
    """gt export of a PoseTrack-style file: labelled span kept, names kept, scored with pose metrics; the
    points equal the truth that went in."""
    from studio.benchmark.datasets import load_videos
    from studio.io.video import write_video

    clip = make_clip("mixed", num_frames=14, size=(120, 160))
    q = np.concatenate([np.zeros((17, 1), np.float32), BODY], axis=1)
    gt, gv = clip.ground_truth(q)
    labelled = np.zeros(14, bool)
    labelled[2:12] = True
    labelled[6] = False  # a gap inside the span
    doc_path = tmp_path / "pt.json"
    doc_path.write_text(json.dumps(posetrack_doc(clip, gt, gv, labelled)))
    truth = read_posetrack(doc_path)
    assert truth.first_frame == 2 and truth.num_frames == 10 and truth.names[1] == "head_bottom"
    assert any("1 unlabelled frame" in n for n in truth.notices)
    video = write_video(tmp_path / "clip.mp4", clip.video, 10)
    out = run("gt", "export", doc_path, "--video", video, "--out", tmp_path / "gt.npz")
    assert out.returncode == 0, out.stderr
    assert "kept frames 2–11 of the file's 14" in out.stderr
    v = load_videos(tmp_path / "gt.npz")[0]
    assert v.names == truth.names and v.num_frames == 10
    from studio.conventions import pixels_to_tapvid

    expected = pixels_to_tapvid(gt[2:12], clip.size).transpose(1, 0, 2)
    ok = ~v.occluded
    np.testing.assert_allclose(v.points[ok], expected[ok], atol=1e-6)
    assert v.occluded[:, 4].all()  # frame 6 of the video: not labelled
    out = run("bench", tmp_path / "gt.npz", "--model", "lk", "--query-mode", "first")
    assert out.returncode == 0 and "OKS" in out.stdout, out.stderr
