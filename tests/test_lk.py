"""Accuracy of the weight-free LK tracker against exact ground truth.

Thresholds are the figures measured when this was written (README, "Accuracy")
with a margin; a regression past them fails.
"""

import numpy as np
import pytest

from conftest import visible_grid
from studio.queries import grid_queries
from studio.registry import create_tracker
from studio.synthetic import MOTIONS, Appearance, accuracy_summary, make_clip

# motion -> (max median px, min share within 4 px, min visibility accuracy); measured worst
# case over query frames 0 and 16 was (0.56, 0.93, 0.981).
LIMITS = {
    "translate": (0.15, 0.98, 0.97),
    "rotate": (0.70, 0.93, 0.95),
    "scale": (0.45, 0.97, 0.96),
    "perspective": (0.75, 0.90, 0.96),
    "mixed": (0.45, 0.96, 0.96),
}


@pytest.fixture(scope="module")
def lk():
    return create_tracker("lk")


@pytest.mark.parametrize("motion", MOTIONS)
@pytest.mark.parametrize("query_frame", [0, 16])
def test_lk_accuracy_on_warped_photo(lk, clips, motion, query_frame):
    clip = clips(motion)
    q = visible_grid(clip, 12, query_frame)
    gt, gv = clip.ground_truth(q)
    r = lk.track(clip.video, q)
    s = accuracy_summary(r.tracks, r.visible, gt, gv, q)
    max_median, min_within4, min_vis = LIMITS[motion]
    assert s["median_px"] < max_median, s
    assert s["within_4px"] > min_within4, s
    assert s["visibility_accuracy"] > min_vis, s
    # The occluder really hides points, and LK reports most of them hidden.
    assert s["occluded_recall"] > 0.9, s


def test_backward_tracking_before_the_query_frame(lk, clips):
    clip = clips("mixed")
    q = visible_grid(clip, 10, 24)
    gt, gv = clip.ground_truth(q)
    r = lk.track(clip.video, q)
    before = np.zeros_like(gv)
    before[:24] = True
    err = np.linalg.norm(r.tracks - gt, axis=-1)[before & gv]
    assert np.median(err) < 0.5 and np.mean(err < 4) > 0.95


def test_query_frame_holds_the_query_exactly(lk, clips):
    clip = clips("rotate")
    q = np.array([[0, 100.25, 80.75], [13, 200.5, 150.0], [31, 40.0, 30.0]], np.float32)
    r = lk.track(clip.video, q)
    for i, (t, x, y) in enumerate(q):
        assert r.tracks[int(t), i].tolist() == [x, y]
        assert r.visible[int(t), i]
    assert r.tracks.shape == (32, 3, 2) and r.visible.dtype == bool and r.size == clip.size


def test_points_leaving_the_frame_become_hidden(lk):
    clip = make_clip("translate", num_frames=24, size=(120, 160), speed=2.0, occluder=False)
    q = np.array([[0, 150.0, 60.0], [0, 20.0, 20.0]], np.float32)  # the first exits right (~2.6 px/frame)
    gt, gv = clip.ground_truth(q)
    r = lk.track(clip.video, q)
    assert not gv[-1, 0] and gv[-1, 1]
    assert not r.visible[-1, 0] and r.visible[-1, 1]
    assert np.linalg.norm(r.tracks[-1, 1] - gt[-1, 1]) < 1.0


def test_points_are_found_again_after_the_occluder_passes(lk, clips):
    clip = clips("translate")
    q = visible_grid(clip, 14, 0)
    gt, gv = clip.ground_truth(q)
    r = lk.track(clip.video, q)
    hidden_then_back = np.nonzero((~gv[1:-1]).any(axis=0) & gv[-1])[0]
    assert hidden_then_back.size >= 5
    assert np.mean(r.visible[-1, hidden_then_back]) > 0.9
    err = np.linalg.norm(r.tracks[-1, hidden_then_back] - gt[-1, hidden_then_back], axis=-1)
    assert np.median(err) < 0.5


def test_thousands_of_points_and_tiny_videos(lk, clips):
    clip = clips("scale")
    rng = np.random.default_rng(1)
    q = np.stack([rng.integers(0, 32, 3000), rng.uniform(0, 319, 3000), rng.uniform(0, 239, 3000)], 1)
    r = lk.track(clip.video[:6], np.where(q[:, :1] < 6, q, np.concatenate([q[:, :1] % 6, q[:, 1:]], 1)))
    assert r.tracks.shape == (6, 3000, 2) and np.isfinite(r.tracks).all()
    one = lk.track(clip.video[:1], np.array([[0, 5.0, 6.0]]))
    assert one.tracks.shape == (1, 1, 2) and one.visible.all()


# ---------------------------------------------------------------------------------------------
# robustness to the exact click (issue #18 item 7)


def _d4(tracks, gt, gv, i):
    """Share of the frames where point i is truly visible that it is tracked within 4 px."""
    err = np.linalg.norm(tracks[1:, i] - gt[1:, i], axis=-1)
    return float(np.mean(err[gv[1:, i]] < 4))


def test_nearby_clicks_follow_the_same_point():
    """Four clicks on an object held in front of the camera and three on the scene behind it
    (the light changes and both deform), and the same clicks moved by up to 1.4 px in x and y;
    each variant is scored against its own exact truth. Judged by the motion of clicks on the
    other surface, object points were marked hidden and carried along with the scene: the worst
    variant of a click was tracked within 4 px in 0.60 of its visible frames, the average variant
    in 0.68. Now 0.82 and 0.87."""
    clip = make_clip("translate", num_frames=40, size=(180, 240), foreground=True,
                     appearance=Appearance(gain=0.7, light=0.3, deform=4.0))
    rng = np.random.default_rng(2)
    lk = create_tracker("lk")
    worst, share = [], []
    for _ in range(4):
        base = clip.clicks(rng, 7, on_object=4)
        per = []
        for v in range(4):
            q = base.copy()
            if v:
                q[:, 1:] += rng.uniform(-1.4, 1.4, (7, 2))
            q = q.astype(np.float32)
            gt, gv = clip.ground_truth(q)
            r = lk.track(clip.video, q)
            per.append([_d4(r.tracks, gt, gv, i) for i in range(7)])
        per = np.array(per)
        worst.extend(per.min(0))
        share.extend(per.mean(0))
    assert np.mean(worst) > 0.78, np.mean(worst)
    assert np.mean(share) > 0.83, np.mean(share)


def test_dozens_of_queries_judge_each_other_past_an_occluder():
    # 40 queries spread over one rigid scene with an occluder sweeping across: queries judged by each
    # other catch points an occluder's edge drags along (with sub-points of their own, judged only
    # among themselves, 4 of these 40 queries slid off and the mean d4 was 0.91; without, none and 1.00).
    clip = make_clip("translate", num_frames=24, size=(240, 320))
    q = grid_queries((240, 320), 7, 0)[:40]
    gt, gv = clip.ground_truth(q)
    r = create_tracker("lk").track(clip.video, q)
    d4 = np.array([_d4(r.tracks, gt, gv, i) for i in range(len(q))])
    assert np.mean(d4 < 0.5) == 0 and d4.mean() > 0.97, (np.mean(d4 < 0.5), d4.mean())


def test_sub_points_only_for_few_queries():
    lk = create_tracker("lk")
    assert lk.sub_point_count(1) == lk.sub_point_count(7) == 8
    assert lk.sub_point_count(16) == 4
    assert lk.sub_point_count(17) == 0 and lk.sub_point_count(2025) == 0  # grids support themselves
    gray = make_clip("mixed", num_frames=1, size=(60, 80)).video[..., 0]
    subs, owner = lk._sub_points(gray, np.array([[0, 30.3, 20.0], [0, 1.0, 1.0]], np.float32))
    assert subs[0].tolist() == [0.0, pytest.approx(30.3), 20.0] and owner[0] == 0  # the click itself first
    near = subs[owner == 0, 1:] - [30.3, 20.0]
    assert len(near) == 9 and np.linalg.norm(near, axis=1).max() <= 4.0 + 1e-5
    corner = subs[owner == 1, 1:]
    assert ((corner >= -0.5) & (corner <= [79.5, 59.5])).all()  # sub-points stay on the frame


def test_a_click_is_carried_by_a_similarity_of_its_sub_points():
    from studio.trackers.lk import combine_sub_points

    rng = np.random.default_rng(0)
    start = np.concatenate([[[50.0, 40.0]], [50.0, 40.0] + rng.uniform(-4, 4, (8, 2))])
    subs = np.concatenate([np.zeros((9, 1)), start], 1).astype(np.float32)
    a, b = 1.1 * np.exp(0.3j), 5 - 3j  # rotation by 0.3 rad, scale 1.1, shift (5, -3)
    z = a * (start[:, 0] + 1j * start[:, 1]) + b
    moved = np.stack([z.real, z.imag], -1)
    tracks = np.stack([start, moved]).astype(np.float32)[:, :, :]
    visible = np.ones((2, 9), bool)
    tracks[1, 3] += (6.0, 0.0)  # one sub-point slipped
    visible[1, 0] = False  # and the click itself is hidden, but most of the others are not
    out, vis = combine_sub_points(tracks, visible, subs, np.zeros(9, int), subs[:1])
    np.testing.assert_allclose(out[1, 0], moved[0], atol=1e-3)
    assert vis[1, 0]
    visible[1, :6] = False  # most sub-points hidden: so is the click
    assert not combine_sub_points(tracks, visible, subs, np.zeros(9, int), subs[:1])[1][1, 0]


def test_real_clip_clicks_a_pixel_apart_agree(media):
    """On cat.mp4, seven clicks on the cat and the same clicks moved by up to 2 px used to end up
    far apart (flat white fur; each step judged by the other clicks' motion): the median click's
    variants were 83 px apart on average over the clip, the worst 188 px. Now about 12 px, on fur
    that LK can barely follow."""
    from studio.io.video import read_video

    video = read_video(media / "cat.mp4").frames
    clicks = np.array([[0, 150, 200], [0, 130, 260], [0, 170, 250], [0, 150, 320], [0, 120, 350], [0, 180, 340],
                       [0, 160, 180]], np.float32)
    lk = create_tracker("lk")
    rng = np.random.default_rng(0)
    runs = []
    for v in range(4):
        off = np.zeros((len(clicks), 2)) if v == 0 else rng.uniform(-2, 2, (len(clicks), 2))
        q = clicks.copy()
        q[:, 1:] += off
        runs.append(lk.track(video, q).tracks - off[None].astype(np.float32))
    runs = np.stack(runs)
    stray = np.linalg.norm(runs - np.median(runs, axis=0), axis=-1).max(axis=0).mean(axis=0)  # per click
    assert np.median(stray) < 20 and stray.max() < 60, stray


def test_round_trip_of_some_points_answers_as_a_round_trip_of_all(lk, clips):
    """Only points that passed the way there take the way back; their answers must be those of
    a round trip of every point on the same images (LK treats each point alone)."""
    import cv2

    clip = clips("mixed")
    # Frames 5 and 15: far enough apart that some points fail the way there and some the way back.
    g0, g1 = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in clip.video[[5, 15]])
    rng = np.random.default_rng(0)
    for box in ((0, 0, 320, 240), (60, 40, 120, 90)):  # the whole frame; a few points (a cropped call)
        p0 = (rng.uniform(box[:2], box[2:], (60, 2))).astype(np.float32)
        p1, ok, err = lk._lk(g0, g1, p0)
        ok &= err < lk.max_patch_error
        back, ok_b, _ = lk._lk(g1, g0, p1, p0)  # every point, as before the change
        every = ok & ok_b & (np.linalg.norm(back - p0, axis=1) < lk.fb_threshold)
        assert every.sum() < ok.sum() and every.any()
        assert np.array_equal(lk._round_trip(g0, g1, p0, p1, ok), every)
        assert np.array_equal(lk._checked_lk(g0, g1, p0)[1], every)


def test_grey_clip_is_each_frames_luma(clips):
    import cv2

    from studio.trackers.lk import to_gray

    video = clips("rotate").video[::-3]  # a strided view, not one contiguous block
    gray = to_gray(video)
    assert gray.shape == video.shape[:3] and gray.dtype == np.uint8
    assert all(np.array_equal(g, cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)) for g, f in zip(gray, video))
