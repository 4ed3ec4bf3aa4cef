"""Reliability without ground truth, measured against exact ground truth.

Clips come from ``studio.synthetic.hard``: a moving background, an object that moves on its
own path and turns to noise a third of the way in, and a moving occluder; a tracker cannot
follow the object once it is noise, so some predictions are wrong, and the truth says which.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from studio.io.trackfile import load_tracks, save_tracks
from studio.queries import grid_queries
from studio.registry import create_tracker
from studio.reliability import (
    auroc, check_tracks, reliability_auroc, reliability_from_error, reliability_line, tolerance_px, unreliable_from,
)
from studio.reliability.returns import checked_frames, model_returns
from studio.results import InputError, TrackResult
from studio.synthetic.hard import make_hard_clip
from studio.trackers.base import PointTracker

SIZE = (120, 160)


def hard_case(motion: str, query_frame: int = 0, frames: int = 24, grid: int = 10):
    clip = make_hard_clip(motion, num_frames=frames, size=SIZE)
    q = grid_queries(clip.size, grid, query_frame)
    q = q[~clip.ambiguous(q)]
    q = q[clip.ground_truth(q)[1][query_frame]]  # only points the truth shows on their query frame
    gt, gv = clip.ground_truth(q)
    return clip, q, gt, gv


@pytest.fixture(scope="module")
def cases():
    return [hard_case("mixed"), hard_case("perspective")]


def pooled(model: str, cases) -> tuple[float, list[dict]]:
    tracker = create_tracker(model)
    scores, rel, wrong = [], [], []
    for clip, q, gt, gv in cases:
        result = tracker.track(clip.video, q)
        check = check_tracks(tracker, clip.video, result)
        s = reliability_auroc(check.reliability, result.tracks, gt, gv, q)
        scores.append(s)
        judged = gv.copy()
        judged[q[:, 0].astype(int), np.arange(len(q))] = False
        rel.append(check.reliability[judged])
        wrong.append(np.linalg.norm(result.tracks - gt, axis=-1)[judged] > 4)
    return auroc(1 - np.concatenate(rel), np.concatenate(wrong)), scores


def test_lk_reliability_finds_its_wrong_predictions(cases):
    value, scores = pooled("lk", cases)
    # The clips must really hold wrong predictions, or the AUROC would say nothing.
    assert all(0.02 < s["wrong"] < 0.5 for s in scores), scores
    assert value >= 0.85, scores
    # Most wrong predictions are flagged, few right ones.
    assert np.mean([s["wrong_flagged"] for s in scores]) > 0.6
    assert np.mean([s["right_flagged"] for s in scores]) < 0.25


def test_dot_dis_reliability_finds_its_wrong_predictions(cases):
    value, scores = pooled("dot_dis", cases[:1])
    assert all(0.02 < s["wrong"] < 0.5 for s in scores), scores
    assert value >= 0.85, scores


def test_points_on_the_vanishing_object_lose_reliability_and_the_rest_keep_it():
    clip, q, gt, gv = hard_case("translate")
    lk = create_tracker("lk")
    result = lk.track(clip.video, q)
    check = check_tracks(lk, clip.video, result)
    on_object = np.array([clip.on_object(0, p[1:]) for p in q])
    late = slice(clip.noise_from + 4, None)
    shown = gv[late]
    obj = check.reliability[late][:, on_object][shown[:, on_object]]
    rest = check.reliability[late][:, ~on_object][shown[:, ~on_object]]
    assert obj.mean() < 0.5 < rest.mean()
    # Before the noise starts, the object is followed and trusted like everything else.
    early = check.reliability[1 : clip.noise_from - 1][:, on_object]
    assert early.mean() > 0.8
    assert check.engine == "jump" and check.cycle_error[0].max() == 0.0


class Oracle(PointTracker):
    """Exact tracks of a synthetic clip (its ground truth), for any queries: a perfect tracker."""

    name = "oracle"

    def __init__(self, clip, shift_after: int | None = None):
        self.clip, self.shift_after = clip, shift_after
        self.calls = []

    def _track(self, video, queries, progress):
        self.calls.append(len(queries))
        tracks, visible = self.clip.ground_truth(queries)
        return tracks, visible, None


def test_the_model_engine_tracks_a_batch_of_backward_queries_once():
    clip, q, gt, gv = hard_case("rotate", query_frame=5, frames=16, grid=4)
    oracle = Oracle(clip)
    result = oracle.track(clip.video, q)
    check = check_tracks(oracle, clip.video, result, engine="model")
    # One extra call, holding every other frame's predictions as queries: not one call per frame.
    assert oracle.calls == [len(q), 15 * len(q)]
    # A perfect tracker comes back exactly where it started, wherever the point is in view (a hidden
    # point's position is on whatever hides it, and a position off the frame is moved onto it).
    assert check.cycle_error[gv].max() < 1e-3 and check.reliability[gv].min() > 0.999
    # A wrong position does not come back.
    bad = TrackResult(result.tracks + np.float32(6.0), result.visible, q)
    bad.tracks[5] = q[:, 1:]
    err = check_tracks(oracle, clip.video, bad, engine="model").cycle_error
    inside = gv.copy()
    inside[5] = False
    assert err[inside].min() > 3.0 and err[5].max() == 0.0


class ForwardOnlyOracle(Oracle):
    """The truth only from each query's frame on (like an online model): before it, the query position, hidden.

    It is given the clip or the clip reversed in time, and tells which by the first frame.
    """

    name = "forward_only_oracle"
    tracks_backward = False

    def _track(self, video, queries, progress):
        self.calls.append(len(queries))
        flipped = not np.array_equal(video[0], self.clip.video[0])
        t_len = video.shape[0]
        q = queries.copy()
        if flipped:
            q[:, 0] = (t_len - 1) - q[:, 0]
        tracks, visible = self.clip.ground_truth(q)
        if flipped:
            tracks, visible = tracks[::-1].copy(), visible[::-1].copy()
        before = np.arange(t_len)[:, None] < queries[None, :, 0]
        tracks[before] = np.broadcast_to(queries[None, :, 1:], tracks.shape)[before]
        visible[before] = False
        return tracks, visible, None


def test_the_model_engine_tracks_back_on_the_reversed_video_for_a_forward_only_tracker():
    clip, q, gt, gv = hard_case("rotate", query_frame=5, frames=16, grid=4)
    oracle = ForwardOnlyOracle(clip)
    result = oracle.track(clip.video, q)
    assert np.all(result.tracks[:5] == q[None, :, 1:])  # it knows nothing before the query frame
    check = check_tracks(oracle, clip.video, result, engine="model")
    # Frames after the query go back on the reversed video, frames before it forward: two calls.
    assert oracle.calls[1:] == [5 * len(q), 10 * len(q)]
    # Positions after the query frame are right and come back; before it, the tracker's guess
    # (the query position) is wrong wherever the point moved, and does not.
    after = gv.copy()
    after[:6] = False
    assert check.cycle_error[after].max() < 1e-3
    moved = np.linalg.norm(result.tracks - gt, axis=-1) > 4
    moved[6:] = False
    assert moved.sum() > 5 and check.cycle_error[moved & gv].min() > 3.0
    # Without the flag, the returns to an earlier frame read the query position: no check at all.
    oracle.tracks_backward = True
    blind = check_tracks(oracle, clip.video, result, engine="model")
    assert blind.cycle_error[after].max() > 3.0


def test_the_model_engine_checks_every_kth_frame_when_capped():
    assert list(checked_frames(21, 10, 10_000)) == list(range(21))
    frames = checked_frames(21, 10, 50)  # 200 backward queries wanted, 50 allowed: every 4th frame
    assert list(frames) == [0, 4, 8, 12, 16, 20]
    clip, q, _, gv = hard_case("translate", frames=21, grid=6)
    q = q[gv.all(axis=0)]  # points in view throughout: their return is exact
    assert len(q) >= 5
    oracle = Oracle(clip)
    result = oracle.track(clip.video, q)
    back, checked = model_returns(oracle, clip.video, result.tracks, q, max_queries=5 * len(q))
    assert oracle.calls[-1] == sum(1 for t in checked for s in q[:, 0] if t != s)
    np.testing.assert_allclose(back, np.broadcast_to(q[None, :, 1:], back.shape), atol=1e-3)


def test_reliability_scale_and_confidence():
    tol = tolerance_px((480, 640))
    assert tol == pytest.approx(10.0)
    assert tolerance_px((60, 80)) == 2.0  # never below 2 px
    err = np.array([[0.0, tol, 3 * tol]], np.float32)
    np.testing.assert_allclose(reliability_from_error(err, tol), [[1.0, 0.5, 0.1]], rtol=1e-6)
    conf = np.array([[0.5, 1.0, 0.0]], np.float32)
    np.testing.assert_allclose(reliability_from_error(err, tol, conf), [[0.5, 0.5, 0.0]], rtol=1e-6)


def test_summary_line_names_the_tracks_that_become_unreliable():
    rel = np.ones((50, 4), np.float32)
    visible = np.ones((50, 4), bool)
    rel[40:, 0] = 0.1  # point 0 from frame 40
    rel[12:, 1] = 0.2  # point 1 from frame 12
    rel[20, 2] = 0.0  # a single dip is not a change
    visible[30:35, 3] = False
    rel[30:35, 3] = 0.0  # unreliable only while hidden: does not count
    assert list(unreliable_from(rel, visible)) == [40, 12, -1, -1]
    assert reliability_line(rel, visible).startswith("2 of 4 tracks become unreliable after frame 26 (median; earliest 12)")
    assert reliability_line(np.ones((5, 3), np.float32), np.ones((5, 3), bool)) == (
        "all 3 tracks stay reliable (mean reliability 1.00)"
    )


def test_auroc_matches_its_definition():
    score = np.array([0.1, 0.4, 0.35, 0.8, 0.8])
    positive = np.array([False, False, True, True, False])
    # Pairs (pos, neg): (0.35 vs 0.1, 0.4, 0.8) -> 1 + 0 + 0; (0.8 vs 0.1, 0.4, 0.8) -> 1 + 1 + 0.5.
    assert auroc(score, positive) == pytest.approx(3.5 / 6)
    assert np.isnan(auroc(score, np.zeros(5, bool)))


@pytest.mark.parametrize("ext", ["npz", "csv", "json"])
def test_track_files_carry_reliability_and_cycle_error(tmp_path, ext):
    rng = np.random.default_rng(0)
    t_len, n = 6, 3
    result = TrackResult(
        tracks=rng.uniform(0, 50, (t_len, n, 2)).astype(np.float32),
        visible=rng.random((t_len, n)) > 0.3,
        queries=np.array([[0, 1, 2], [2, 3, 4], [5, 6, 7]], np.float32),
        reliability=rng.random((t_len, n)).astype(np.float32),
        cycle_error=rng.uniform(0, 9, (t_len, n)).astype(np.float32),
        size=(60, 80),
    )
    result.visible[result.queries[:, 0].astype(int), np.arange(n)] = True
    result.visible[0] = True  # the CSV takes each point's query from its first visible frame
    back = load_tracks(save_tracks(result, tmp_path / f"t.{ext}"))
    np.testing.assert_array_equal(back.reliability, result.reliability)
    np.testing.assert_array_equal(back.cycle_error, result.cycle_error)
    # Named points keep their names beside the reliability columns.
    named = load_tracks(save_tracks(replace(result, names=["eye", "", "ear"]), tmp_path / f"n.{ext}"))
    assert named.names == ["eye", "", "ear"]
    np.testing.assert_array_equal(named.reliability, result.reliability)
    np.testing.assert_array_equal(named.tracks, result.tracks)
    # A file without them still loads (older files), and bad values are refused.
    plain = load_tracks(save_tracks(TrackResult(result.tracks, result.visible, result.queries), tmp_path / f"p.{ext}"))
    assert plain.reliability is None and plain.cycle_error is None
    with pytest.raises(InputError, match="reliability must hold numbers in"):
        TrackResult(result.tracks, result.visible, result.queries, reliability=result.reliability + 1)


def test_renders_colour_each_position_by_reliability_and_hide_the_unreliable():
    from studio.render import RenderOptions, render
    from studio.render.options import RELIABILITY_CMAP
    from studio.render.tracksets import colormap_colors

    frames = np.full((3, 40, 60, 3), 128, np.uint8)
    tracks = np.array([[[15, 20], [45, 20]]] * 3, np.float32)
    visible = np.ones((3, 2), bool)
    rel = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.2]], np.float32)
    green, red = colormap_colors(np.array([1.0, 0.0]), RELIABILITY_CMAP)
    for mode in ("points", "overlay", "spaghetti_last"):
        out = render(frames, tracks, visible, mode,
                     RenderOptions(color_by="reliability", reliability=rel, radius=4, tail=0, overlay_factor=1.0,
                                   spaghetti_scale=1.0))
        if mode != "spaghetti_last":  # the spaghetti view moves points in its slanted space-time view
            np.testing.assert_array_equal(out[0, 20, 15], green)
            np.testing.assert_array_equal(out[1, 20, 15], red)  # the same point, unreliable on frame 1
    hidden = render(frames, tracks, visible, "points",
                    RenderOptions(reliability=rel, hide_below=0.5, radius=4, tail=0))
    assert np.array_equal(hidden[1, 20, 15], [128] * 3) and np.array_equal(hidden[2, 20, 45], [128] * 3)
    assert not np.array_equal(hidden[2, 20, 15], [128] * 3)
    with pytest.raises(InputError, match="needs tracks with reliability"):
        RenderOptions(color_by="reliability")
    with pytest.raises(InputError, match="reliability must be"):
        render(frames, tracks, visible, "points", RenderOptions(color_by="reliability", reliability=rel[:, :1]))


def test_cli_track_with_reliability_then_render_by_it(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT
    from studio.io.video import read_video, write_video

    clip = make_hard_clip("mixed", num_frames=16, size=SIZE)
    video = tmp_path / "hard.mp4"
    write_video(video, clip.video, 12.0)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "studio", *map(str, args)], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)

    out = run("track", video, "--grid", "6", "--reliability", "--out", tmp_path / "t.csv", "--video",
              tmp_path / "t.mp4", "--color-by", "reliability", "--hide-below", "0.2")
    assert out.returncode == 0, out.stderr
    assert "reliability (jump check, +" in out.stdout and "tracks become unreliable" in out.stdout
    saved = load_tracks(tmp_path / "t.csv")
    assert saved.reliability.shape == (16, 36) and saved.cycle_error[0].max() == 0.0
    assert read_video(tmp_path / "t.mp4").num_frames == 16
    npz = tmp_path / "t.npz"
    save_tracks(saved, npz)
    out = run("render", video, npz, "--mode", "overlay", "--color-by", "reliability", "--hide-below", "0.5",
              "--out", tmp_path / "r.mp4")
    assert out.returncode == 0, out.stderr
    # Asking for reliability where there is none is a clear error.
    plain = tmp_path / "plain.npz"
    save_tracks(TrackResult(saved.tracks, saved.visible, saved.queries, size=saved.size), plain)
    out = run("render", video, plain, "--color-by", "reliability", "--out", tmp_path / "x.mp4")
    assert out.returncode == 2 and "needs tracks with reliability" in out.stderr
    out = run("track", video, "--grid", "2", "--color-by", "reliability", "--video", tmp_path / "y.mp4")
    assert out.returncode == 2 and "need --reliability" in out.stderr


def test_track_tab_checks_reliability_and_redraws_without_tracking(tmp_path):
    gr = pytest.importorskip("gradio")
    from conftest import ROOT, handler_named
    from studio.service import TrackingService
    from studio.ui.app import build_demo

    pan = str(ROOT / "examples" / "hopper_pan.mp4")
    demo = build_demo(TrackingService(output_root=tmp_path))
    points = [[0, 100.0, 100.0], [3, 200.0, 120.0], [0, 300.0, 60.0], [5, 50.0, 200.0]]
    rendered, figure, files, status, latest, _ = handler_named(demo, "on_track")(
        pan, points, "lk", 8, False, True, "reliability", 0.0, progress=None)
    assert latest["reliability"] and "reliability (jump check" in status
    assert load_tracks(latest["tracks"]).reliability.shape == (36, 4)
    assert len(figure.axes) == 3  # visibility, points, reliability
    video, latest2 = handler_named(demo, "on_redraw")(latest, 8, "reliability", 0.6)
    assert video != rendered and latest2["rendered"] == video and latest2["tracks"] == latest["tracks"]
    plain = handler_named(demo, "on_track")(pan, points, "lk", 8)[4]
    with pytest.raises(gr.Error, match="tick Check reliability"):
        handler_named(demo, "on_redraw")(plain, 8, "reliability", 0.0)
    assert handler_named(demo, "on_redraw")(None, 8, "query", 0.0)[0] == gr.update()
