"""The online interface (``studio.online``): frames fed one at a time give what the whole-clip
run gives, on clips with exact ground truth, for every family that streams."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import visible_grid

from studio.online import NotOnline, OnlineTracker, online_names, open_online
from studio.registry import list_trackers, tracker_info
from studio.results import InputError
from studio.synthetic import accuracy_summary


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def feed_one_by_one(tracker: OnlineTracker, video: np.ndarray, queries: np.ndarray):
    """Feed ``video`` frame by frame; returns (per-step tracks [T, N, 2], visible, settled counts, finish())."""
    tracker.start(queries, video.shape[1:3])
    steps, settled = [], []
    for t in range(len(video)):
        tr, vi = tracker.step(video[t : t + 1])
        assert tr.shape == (1, len(queries), 2) and vi.shape == (1, len(queries))
        steps.append((tr[0].copy(), vi[0].copy()))
        settled.append(tracker.settled)
    tracks, visible = tracker.finish()
    return np.stack([s[0] for s in steps]), np.stack([s[1] for s in steps]), settled, (tracks, visible)


def test_registry_says_which_models_are_online():
    names = online_names()
    assert names[0] == "lk"
    assert {"cotracker3_online", "cotracker2_online", "track_on"} <= set(names)
    assert all(tracker_info(n).online and tracker_info(n).kind == "point" for n in names)
    offline = [n for n in list_trackers("point") if n not in names]
    assert "cotracker3_offline" in offline and "gmrw" in offline
    with pytest.raises(NotOnline, match="--max-frames"):
        open_online("cotracker3_offline")  # refused before any weights are looked for
    with pytest.raises(NotOnline, match="not online"):
        open_online("dis")  # a flow model
    with pytest.raises(KeyError):
        open_online("no-such-model")


def test_lk_frame_by_frame_equals_the_whole_clip_and_ground_truth(clips):
    clip = clips("mixed")
    # Points on frame 0 and points that join on frame 12.
    q = np.concatenate([visible_grid(clip, 8, 0), visible_grid(clip, 6, 12)])
    joins = q[:, 0] > 0
    whole = open_online("lk").model.track(clip.video, q)
    tracks, visible, settled, (ft, fv) = feed_one_by_one(open_online("lk"), clip.video, q)
    assert settled == list(range(1, len(clip.video) + 1))  # causal: every answer is final at once
    assert np.array_equal(tracks, ft) and np.array_equal(visible, fv)
    after = np.arange(len(clip.video))[:, None] >= q[None, :, 0]
    assert np.array_equal(ft[after], whole.tracks[after]) and np.array_equal(fv[after], whole.visible[after])
    # Before its frame a point is at its query position and hidden (the stream cannot look back).
    assert not fv[~after].any() and np.allclose(ft[:12, joins], q[joins, 1:])
    # Against the exact truth, from each point's own frame on (LIMITS["mixed"] of test_lk, frames after 12).
    gt, gv = clip.ground_truth(q)
    late = q.copy()
    late[:, 0] -= 12
    late[~joins, 0] = 0  # frame 12 is not a query frame for these; scoring it or not changes little
    s = accuracy_summary(ft[12:], fv[12:], gt[12:], gv[12:], late)
    assert s["median_px"] < 0.45 and s["within_4px"] > 0.96 and s["visibility_accuracy"] > 0.96, s


def test_lk_session_keeps_only_frames_it_can_still_use(clips):
    import cv2

    from studio.trackers.lk import LKSession, LKTracker

    clip = clips("translate")
    q = visible_grid(clip, 6, 0)
    session = LKSession(LKTracker(), q[:, 0].astype(int), q[:, 1:])
    for t, frame in enumerate(clip.video):
        session.push(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        needed = set(session.seen_at[session.active].tolist()) | {t}
        assert set(session.frames) == needed
        # Points LK follows were seen on this frame: only each lost point can keep an older one.
        assert len(session.frames) <= 1 + int((session.active & ~session.trusted).sum())
    assert len(session.frames) < len(clip.video) // 2


def test_cotracker_online_settles_window_by_window_and_equals_the_whole_clip():
    from test_cotracker import clip, small_tracker

    video = clip(num_frames=21, seed=1)
    q = np.array([[0, 4.0, 5.0], [9, 30.0, 20.0], [17, 40.0, 30.0]], np.float32)
    model = small_tracker("cotracker3_online", backward_tracking=False)
    whole_t, whole_v, _ = model._track(video, q, lambda f, d: None)
    tracker = OnlineTracker("cotracker3_online", model)
    tracks, visible, settled, (ft, fv) = feed_one_by_one(tracker, video, q)
    # Windows of 16 frames, step 8: the first window needs 16 frames and settles 8 of them.
    assert settled[:15] == [0] * 15 and settled[15] == 8 and tracker.settled == 21
    after = np.arange(21)[:, None] >= q[None, :, 0]
    np.testing.assert_allclose(ft[after], whole_t[after], atol=1e-5)
    assert (fv[after] == whole_v[after]).all()
    # Before the first window every answer is a placeholder: query position, visible on its frame only.
    assert np.allclose(tracks[:15], np.broadcast_to(q[:, 1:], (15, 3, 2)))
    assert (visible[:15] == (np.arange(15)[:, None] == q[None, :, 0])).all()


def test_cotracker_final_frames_do_not_change_once_settled():
    from test_cotracker import clip, small_tracker

    video = clip(num_frames=26, seed=2)
    q = np.array([[0, 10.0, 8.0], [2, 20.0, 25.0]], np.float32)
    tracker = OnlineTracker("cotracker3_online", small_tracker("cotracker3_online", backward_tracking=False))
    tracker.start(q, video.shape[1:3])
    snapshots = {}
    for t in range(0, 26, 3):
        tracker.step(video[t : t + 3])
        n = tracker.settled
        snapshots[n] = tuple(a.copy() for a in tracker.final(0, n))
    ft, fv = tracker.finish()
    for n, (st, sv) in snapshots.items():
        assert np.array_equal(st, ft[:n]) and np.array_equal(sv, fv[:n])
    with pytest.raises(IndexError):
        OnlineTracker("x", None).final(0, 1)


def test_track_on_frame_by_frame_equals_track():
    from test_track_on import QUERIES, VIDEO, plain_run, seeded_tracker

    whole = plain_run("track_on2")
    tracker = OnlineTracker("track_on2", seeded_tracker("track_on2", support_grid=False))
    tracks, visible, settled, (ft, fv) = feed_one_by_one(tracker, VIDEO, QUERIES)
    assert settled == [1, 2, 3, 4]
    assert np.array_equal(tracks, ft) and np.array_equal(visible, fv)
    assert np.array_equal(ft, whole.tracks) and np.array_equal(fv, whole.visible)


def test_bootstapir_online_frame_by_frame_equals_track():
    from test_tapir import clip, tracker

    video = clip(num_frames=5, seed=4)
    queries = np.array([[0, 4.0, 5.0], [2, 30.5, 20.25]], np.float32)
    model = tracker("bootstapir_online")
    whole = model.track(video, queries)
    tracks, visible, settled, (ft, fv) = feed_one_by_one(OnlineTracker("bootstapir_online", model), video, queries)
    assert settled == [1, 2, 3, 4, 5]
    assert np.array_equal(tracks, ft) and np.array_equal(visible, fv)
    np.testing.assert_allclose(ft, whole.tracks, atol=1e-5)
    assert np.array_equal(fv, whole.visible)
    session = OnlineTracker("bootstapir_online", model)
    session.start(queries, video.shape[1:3])
    with pytest.raises(NotOnline):  # its per-point network state is fixed at start
        session.add_queries(np.array([[3, 10.0, 10.0]], np.float32))


def test_bad_input_is_refused_and_the_session_goes_on(clips):
    clip = clips("translate")
    tracker = open_online("lk")
    with pytest.raises(RuntimeError, match="start"):
        tracker.step(clip.video[:1])
    with pytest.raises(InputError, match="outside"):
        tracker.start(np.array([[0, 999.0, 5.0]], np.float32), clip.size)
    with pytest.raises(InputError, match="non-negative"):
        tracker.start(np.array([[-1, 5.0, 5.0]], np.float32), clip.size)
    tracker.start(np.array([[0, 100.0, 100.0]], np.float32), clip.size)
    with pytest.raises(InputError, match="uint8"):
        tracker.step(clip.video[:1].astype(np.float32))
    with pytest.raises(InputError, match="uint8"):
        tracker.step(clip.video[:1, :10])
    tracks, visible = tracker.step(clip.video[:2])
    assert tracks.shape == (2, 1, 2) and visible.all()


def test_lk_clicks_stream_with_their_sub_points_even_when_added_mid_stream(clips):
    """A few clicks are tracked with sub-points (picked on each click's own frame): streamed, they
    give what ``track`` gives from their frames on, and clicks added mid-stream get theirs too."""
    from studio.trackers.lk import LKSession, LKTracker

    clip = clips("mixed")
    video = clip.video[:20]
    q = np.array([[0, 60.0, 50.0], [0, 250.0, 180.0], [6, 150.0, 120.0], [6, 318.0, 2.0]], np.float32)
    lk = LKTracker()
    assert lk.sub_point_count(2) == lk.sub_point_count(4) == 8  # so 2 + 2 added equals 4 at the start
    whole = lk.track(video, q)
    _, _, _, (all_t, all_v) = feed_one_by_one(open_online("lk"), video, q)
    after = np.arange(len(video))[:, None] >= q[None, :, 0]
    assert np.array_equal(all_t[after], whole.tracks[after]) and np.array_equal(all_v[after], whole.visible[after])
    tracker = open_online("lk")
    tracker.start(q[:2], video.shape[1:3])
    tracker.step(video[:6])
    tracker.add_queries(q[2:])
    tracker.step(video[6:])
    got_t, got_v = tracker.finish()
    assert np.array_equal(got_t, all_t) and np.array_equal(got_v, all_v)
    # Sub-points were really used: each click is a group of 9 points, the corner one's all on the frame.
    session = LKSession(lk, q[:, 0].astype(int), q[:, 1:])
    for frame in video[:7]:
        session.push(frame[..., 1])
    per_click = np.bincount(session.owner[session.alive], minlength=4)
    assert per_click.tolist() == [9, 9, 9, 9] and (session.xy[session.owner == 3] <= [319.5, 239.5]).all()
    # Against the truth, from each click's frame on.
    gt, gv = clip.ground_truth(q)
    err = np.linalg.norm(all_t - gt[: len(video)], axis=-1)[after & gv[: len(video)]]
    assert np.median(err) < 1.0, np.median(err)


@pytest.mark.parametrize("name", ["lk", "track_on2"])
def test_points_added_mid_stream_track_as_if_given_at_the_start(clips, name):
    if name == "lk":
        clip = clips("mixed")
        video, q = clip.video[:20], np.concatenate([visible_grid(clip, 6, 0), visible_grid(clip, 4, 8)])
        make = lambda: open_online("lk")  # noqa: E731
    else:
        from test_track_on import QUERIES, VIDEO, seeded_tracker

        video, q = VIDEO, QUERIES[np.argsort(QUERIES[:, 0], kind="stable")]
        make = lambda: OnlineTracker(name, seeded_tracker(name, support_grid=False))  # noqa: E731
    late = q[:, 0] >= q[-1, 0]
    first = int(q[-1, 0])
    _, _, _, (want_t, want_v) = feed_one_by_one(make(), video, q)
    tracker = make()
    tracker.start(q[~late], video.shape[1:3])
    tracker.step(video[:first])
    tracker.add_queries(q[late])
    assert tracker.step(video[first:]) is not None
    got_t, got_v = tracker.finish()
    assert np.array_equal(got_t, want_t)
    assert (got_v == want_v).all()
    with pytest.raises(InputError, match="next frame"):
        tracker2 = make()
        tracker2.start(q[:1], video.shape[1:3])
        tracker2.step(video[:3])
        tracker2.add_queries(np.array([[1, 5.0, 5.0]], np.float32))


def test_cotracker_says_it_cannot_take_points_mid_stream():
    from test_cotracker import clip, small_tracker

    video = clip(num_frames=4)
    tracker = OnlineTracker("cotracker3_online", small_tracker("cotracker3_online", backward_tracking=False))
    tracker.start(np.array([[0, 4.0, 5.0]], np.float32), video.shape[1:3])
    tracker.step(video[:2])
    with pytest.raises(NotOnline, match="start a new one"):
        tracker.add_queries(np.array([[2, 4.0, 5.0]], np.float32))
