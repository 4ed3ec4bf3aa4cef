"""Annotate: keyframes and proposals, corrections that re-track only around them, saving, reopening, and the
round trip annotate / export -> benchmark -> the same numbers as an independently written dataset file."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from studio.annotate import INTERPOLATE, Annotation
from studio.benchmark.datasets import load_videos
from studio.benchmark.datasets.tapvid import KEYFRAME_HIDDEN, KEYFRAME_PLACED, KEYFRAME_PROPOSED
from studio.benchmark.runner import evaluate
from studio.io.trackfile import save_tracks
from studio.io.video import read_video, write_video
from studio.results import InputError, TrackResult
from studio.service import TrackingService
from studio.service import annotate_job as job
from studio.synthetic import make_clip
from test_cli import run

T = 20


class FakeTracker:
    """A ``TrackSpan`` whose tracks are known exactly: key (k, x, y) moves to (x + 2 (t - k), y - (t - k));
    hidden on frame 7. Records every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, lo, hi, keys):
        self.calls.append((lo, hi, [int(k) for k in keys[:, 0]]))
        t = np.arange(lo, hi + 1)[:, None]
        xy = np.stack([keys[None, :, 1] + 2 * (t - keys[None, :, 0]), keys[None, :, 2] - (t - keys[None, :, 0])], -1)
        vis = np.broadcast_to((t != 7), xy.shape[:2]).copy()
        return xy.astype(np.float32), vis


def fake_at(k, x, y, t):
    return np.array([x + 2 * (t - k), y - (t - k)], np.float32)


def test_proposals_blend_keyframe_tracks_and_corrections_retrack_only_around_them():
    track = FakeTracker()
    ann = Annotation(T, (100, 200), model="fake")
    i = ann.add_point("tip")
    assert ann.tracks.shape == (T, 1, 2) and np.isnan(ann.tracks).all() and not ann.visible.any()
    edit = ann.place(i, 4, 50, 60, track)
    assert track.calls == [(0, T - 1, [4])] and edit.span == (0, T - 1)
    assert "re-tracked frames 0–19 from keyframe 4 with fake" in edit.message
    for t in range(T):
        np.testing.assert_allclose(ann.tracks[t, 0], fake_at(4, 50, 60, t))
    assert not ann.visible[7, 0] and ann.visible[[0, 4, 19], 0].all()

    # A second keyframe: only it is tracked (keyframe 4's span shrinks to 0..12, already cached).
    ann.place(i, 12, 80, 40, track)
    assert track.calls[1:] == [(4, T - 1, [12])]
    for t in range(5, 12):
        w = (t - 4) / 8
        expected = (1 - w) * fake_at(4, 50, 60, t) + w * fake_at(12, 80, 40, t)
        np.testing.assert_allclose(ann.tracks[t, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(ann.tracks[16, 0], fake_at(12, 80, 40, 16))
    np.testing.assert_array_equal(ann.tracks[12, 0], [80, 40])

    # Correcting frame 8 re-tracks from the correction and changes only frames 4..12.
    before = ann.tracks.copy()
    edit = ann.place(i, 8, 70, 50, track)
    assert track.calls[2:] == [(4, 12, [8])] and edit.span == (4, 12)
    changed = np.flatnonzero((ann.tracks != before).any(axis=(1, 2)))
    assert set(changed) <= set(range(5, 12)) and 8 in changed

    # Hidden frames 14..16: not visible there, frames kept as proposals elsewhere.
    ann.hide(i, 14, 16, track)
    assert not ann.visible[14:17, 0].any() and ann.visible[13, 0] and ann.visible[17, 0]
    codes = ann.keyframe_codes()[0]
    assert codes[[4, 8, 12]].tolist() == [KEYFRAME_PLACED] * 3 and codes[14:17].tolist() == [KEYFRAME_HIDDEN] * 3
    assert codes[0] == KEYFRAME_PROPOSED
    # Removing keyframe 8 widens 4's and 12's spans again: both already cached over wider spans.
    calls = len(track.calls)
    ann.clear(i, 8, track)
    assert len(track.calls) == calls
    assert ann.summary() == ["0: tip — keyframes 4, 12; hidden 14–16; visible 80%"]
    with pytest.raises(InputError, match="outside the 200x100 frame"):
        ann.place(i, 3, 250, 10, track)
    with pytest.raises(InputError, match="frame 25 is outside the video's frames 0..19"):
        ann.hide(i, 25)
    with pytest.raises(InputError, match="there is no point 3"):
        ann.place(3, 0, 1, 1, track)


def test_interpolate_needs_no_tracker_and_draws_straight_lines():
    ann = Annotation(T, (100, 200), INTERPOLATE)
    i = ann.add_point()
    ann.place(i, 2, 10, 10)
    ann.place(i, 12, 60, 30)
    np.testing.assert_allclose(ann.tracks[7, 0], [35, 20])
    np.testing.assert_allclose(ann.tracks[0, 0], [10, 10])
    np.testing.assert_allclose(ann.tracks[19, 0], [60, 30])
    assert ann.visible.all()
    ann.model = "lk"
    with pytest.raises(InputError, match="a tracker is needed"):
        ann.place(i, 5, 1, 1)
    with pytest.raises(InputError, match="point1 has no keyframe yet"):
        ann.add_point()
        ann.check_complete()


@pytest.fixture(scope="module")
def clip_video(tmp_path_factory):
    """A clip with exact truth, written as mp4, with the frames as decoded (what the app and the CLI see)."""
    clip = make_clip("translate", num_frames=16, size=(96, 128))
    path = write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", clip.video, 12.0)
    return clip, path, read_video(path).frames


def truth(clip):
    q = np.array([[0, 30, 30], [0, 64, 48], [0, 100, 60], [6, 40, 70]], np.float32)
    return q, *clip.ground_truth(q)


def independent_pickle(path, frames, gt, gv, size):
    """TAP-Vid-DAVIS written by hand: {name: {video, points normalised (corner origin), occluded}}."""
    h, w = size
    points = ((gt.astype(np.float64) + 0.5) / np.array([w, h])).astype(np.float32).transpose(1, 0, 2)
    with open(path, "wb") as f:
        pickle.dump({"clip": {"video": frames, "points": points, "occluded": ~gv.T}}, f)
    return path


def metrics(result):
    return [v.metrics for v in result.videos]


def test_round_trip_annotate_and_export_score_like_an_independent_file(tmp_path, clip_video):
    clip, path, frames = clip_video
    _, gt, gv = truth(clip)
    reference = evaluate("lk", independent_pickle(tmp_path / "ref.pkl", frames, gt, gv, clip.size), "first")

    # 1. Annotate: every visible frame placed by hand at the truth, hidden frames marked; saved by the app's job.
    service = TrackingService(output_root=tmp_path / "out")
    ann = job.start(service, str(path), INTERPOLATE)
    for i in range(gt.shape[1]):
        ann.add_point(f"p{i}")
        for t in range(gt.shape[0]):
            if gv[t, i]:
                ann.place(i, t, float(gt[t, i, 0]), float(gt[t, i, 1]))
            else:
                ann.hide(i, t)
    files = job.save(service, str(path), ann, "clip")
    for fmt in ("pkl", "npz"):
        scored = evaluate("lk", files[fmt], "first")
        assert metrics(scored) == metrics(reference), fmt
        assert scored.mean() == reference.mean()

    # 2. gt export of a track file holding the truth.
    save_tracks(TrackResult(gt, gv, np.zeros((gt.shape[1], 3)), size=clip.size, fps=12.0), tmp_path / "gt.csv")
    for suffix in ("pkl", "npz"):
        out = run("gt", "export", tmp_path / "gt.csv", "--video", path, "--out", tmp_path / f"exported.{suffix}",
                  "--name", "clip")
        assert out.returncode == 0, out.stderr
        assert metrics(evaluate("lk", tmp_path / f"exported.{suffix}", "first")) == metrics(reference)
    out = run("bench", tmp_path / "exported.pkl", "--model", "lk", "--query-mode", "first")
    ref = run("bench", tmp_path / "ref.pkl", "--model", "lk", "--query-mode", "first")
    table = [line.split()[1:] for line in out.stdout.splitlines() if line.startswith(("clip", "mean"))]
    assert table and table == [line.split()[1:] for line in ref.stdout.splitlines() if line.startswith(("clip", "mean"))]


def test_tracker_proposals_are_saved_reopened_and_continued(tmp_path, clip_video):
    clip, path, _ = clip_video
    q, gt, gv = truth(clip)
    service = TrackingService(output_root=tmp_path / "out")
    ann = job.start(service, str(path), "lk")
    ann.add_point("left_eye")
    ann.add_point("")
    e = ann.place(0, 0, float(gt[0, 0, 0]), float(gt[0, 0, 1]), job.tracker_span(service, str(path), "lk"))
    assert e.tracked == [0]
    job.place(service, str(path), ann, 1, 0, float(gt[0, 1, 0]), float(gt[0, 1, 1]))  # working = source pixels
    # lk's proposals follow the truth between keyframes (translate clip, visible frames).
    err = np.linalg.norm(ann.tracks - gt[:, :2], axis=-1)[gv[:, :2]]
    assert np.median(err) < 0.5
    job.hide(service, str(path), ann, 1, 10, 12)
    files = job.save(service, str(path), ann)
    video = load_videos(files["npz"])[0]
    assert video.name == "clip" and video.names == ["left_eye", "point1"]
    assert video.keyframes[1, 10:13].tolist() == [KEYFRAME_HIDDEN] * 3 and video.keyframes[0, 0] == KEYFRAME_PLACED
    assert video.occluded[1, 10:13].all()

    source, back, notices = job.open_annotation(service, files["pkl"], model="lk")
    assert source.endswith("clip.pkl::video=clip") and "2 keyframes and 3 hidden marks restored" in notices
    assert back.names == ann.names and back.points[1].hidden == {10, 11, 12}
    np.testing.assert_allclose(back.tracks, ann.tracks, atol=1e-4)
    assert (back.visible == ann.visible).all()
    # Continue: a correction on frame 8 changes frames 0..9 only (hidden frame 10 is not a keyframe, the span runs
    # to the end); the re-save holds the new keyframe.
    edit = job.place(service, source, back, 0, 8, float(gt[8, 0, 0]) + 1, float(gt[8, 0, 1]))
    assert edit.span == (0, 15) and 8 in edit.tracked
    again = job.save(service, source, back)
    assert load_videos(again["npz"])[0].keyframes[0, 8] == KEYFRAME_PLACED
    # A plain TAP-Vid file opens too: every visible position is a keyframe.
    _, plain, notices = job.open_annotation(service, "assets/tapvid_sample/tapvid_sample.npz")
    assert "every visible position counts as placed by hand" in notices[0] and plain.points


def test_annotate_tab_handlers(tmp_path, clip_video):
    gr = pytest.importorskip("gradio")
    from studio.ui.tab_annotate import build_annotate

    clip, path, _ = clip_video
    service = TrackingService(output_root=tmp_path / "out")
    with gr.Blocks():
        tab = build_annotate(service)
    h = tab["handlers"]
    src, ann, image, _, summary, _, status, _, info = h["video"](str(path), "lk")
    assert src == str(path) and image.shape == (96, 128, 3) and "16 frames of 128×96" in info
    ann, image, current, summary, _, status, _ = h["add"](src, ann, 0, "nose")
    assert "added nose (point 0)" in status and current["value"] == 0
    evt = gr.SelectData(None, {"index": [40, 30], "value": None, "selected": True})
    ann, image, _, summary, fig, status = h["click"](src, ann, 0, 0, evt)
    assert "nose placed on frame 0 at (39.5, 29.5)" in status and "re-tracked frames 0–15" in status
    assert fig is not None and "keyframes 0" in summary
    ann, *_, status = h["hide"](src, ann, 3, 0)
    assert "marked hidden on frame 3;" in status and not ann.visible[3, 0]
    ann, *_, status = h["hide_range"](src, ann, 5, 0, 7)
    assert "marked hidden on frames 5–7" in status and not ann.visible[5:8, 0].any()
    files, status = h["save"](src, ann, "mine")
    assert [f.rsplit(".", 1)[1] for f in files] == ["pkl", "npz"] and "saved 1 points x 16 frames" in status
    src2, ann2, *_ = h["resume"](files[1], "interpolate")
    assert src2.endswith("::video=mine") and ann2.names == ["nose"] and ann2.model == INTERPOLATE
    with pytest.raises(gr.Error, match="load a video first"):
        h["add"](None, None, 0, "x")
    with pytest.raises(gr.Error, match="there are no points yet"):
        h["save"](src, job.start(service, src, "lk"), "")
