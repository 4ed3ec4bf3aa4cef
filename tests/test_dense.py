"""Dense tracking (DOT recipe): interpolation, motion boundaries, sampling, the weight-free
``dot_dis`` against exact ground truth, the dense file, the CLI and the RAFT path's contract.

Ground truth comes from ``studio.synthetic``: a real photo under a known homography with a
textured disc sweeping across. Clips are small (96x128, 10 frames) so the file stays fast.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from studio.cli import main
from studio.dense import DenseResult
from studio.dense.boundaries import boundary_strength, motion_boundaries
from studio.dense.interpolation import SparseToDense, coarse_grid, nearest_visible, normalise
from studio.dense.result import SAVE_STEP
from studio.dense.sampling import frame_quotas, sample_frame_points, sample_queries
from studio.dense.tracker import working_size
from studio.io.track_readers import read_dense_npz
from studio.registry import create_tracker, list_trackers, tracker_info, weight_status
from studio.results import InputError, TrackResult
from studio.synthetic import make_clip

SIZE = (96, 128)
T = 10


@pytest.fixture(scope="module")
def clip():
    return make_clip("mixed", num_frames=T, size=SIZE, speed=1.5)


@pytest.fixture(scope="module")
def truth(clip):
    """Exact dense tracks [T, H, W, 2] and visibility [T, H, W] from frame 0."""
    h, w = SIZE
    ys, xs = np.mgrid[0:h, 0:w]
    q = np.stack([np.zeros(h * w), xs.ravel(), ys.ravel()], 1).astype(np.float32)
    tracks, visible = clip.ground_truth(q)
    return tracks.reshape(T, h, w, 2), visible.reshape(T, h, w)


@pytest.fixture(scope="module")
def ellipse():
    h, w = SIZE
    ys, xs = np.mgrid[0:h, 0:w]
    return ((xs - w / 2) / (0.4 * w)) ** 2 + ((ys - h / 2) / (0.4 * h)) ** 2 <= 1


@pytest.fixture(scope="module")
def tracker():
    t = create_tracker("dot_dis")
    t.num_tracks = 512  # about one track per 5x5 pixels of the 96x128 clip
    return t


@pytest.fixture(scope="module")
def dense(clip, tracker, ellipse):
    return tracker.track_dense(clip.video, 0, ellipse, fps=clip.fps)


# ---------------------------------------------------------------------------------------------
# registry


def test_registry_names_kinds_and_checkpoints():
    assert {"dot", "dot_dis"} <= set(list_trackers("dense"))
    assert weight_status("dot_dis") == "built-in"
    ck = tracker_info("dot").checkpoint
    assert (ck.repo_id, ck.filename) == ("16lemoing/dot", "movi_f_raft_patch_4_alpha.pth")
    assert ck == tracker_info("raft_refiner").checkpoint


def test_working_size_caps_the_long_side_in_multiples_of_the_patch():
    assert working_size((720, 1296), 512, 4) == (284, 512)
    assert working_size((96, 128), 512, 4) == (96, 128)
    assert working_size((97, 130), None, 4) == (96, 128)
    assert working_size((2, 3), 512, 4) == (4, 4)


# ---------------------------------------------------------------------------------------------
# interpolation


def brute_nearest_dist(points, visible, cells):
    p = points[visible].astype(np.float64)
    d = ((cells[:, None, :].astype(np.float64) - p[None]) ** 2).sum(-1)
    return d.min(1)


def test_nearest_visible_matches_brute_force_and_ignores_hidden_points():
    rng = np.random.default_rng(1)
    points = torch.from_numpy(rng.random((300, 2), dtype=np.float32))
    visible = torch.from_numpy(rng.random(300) < 0.6)
    cells = coarse_grid((17, 23))
    idx = nearest_visible(points, visible, cells)
    assert visible[idx].all()
    got = ((cells - points[idx]) ** 2).sum(-1).numpy()
    np.testing.assert_allclose(got, brute_nearest_dist(points.numpy(), visible.numpy(), cells.numpy()), atol=1e-6)


def test_chunking_gives_identical_results():
    rng = np.random.default_rng(2)
    points = torch.from_numpy(rng.random((257, 2), dtype=np.float32))
    visible = torch.from_numpy(rng.random(257) < 0.7)
    cells = coarse_grid((31, 29))
    whole = nearest_visible(points, visible, cells)
    for cap in (1, 180, 5000):  # one cell per block, a few cells, many cells
        assert torch.equal(nearest_visible(points, visible, cells, max_elements=cap), whole)


def test_no_visible_point_gives_zero_alpha():
    tracks = np.zeros((2, 5, 2), np.float32)
    vis = np.zeros((2, 5), bool)
    flow, alpha = SparseToDense(tracks, vis, 0, (32, 32), (8, 8)).flow_to(1)
    assert flow.shape == (8, 8, 2) and alpha.shape == (8, 8)
    assert not alpha.any() and not flow.any()


def test_interpolated_flow_is_in_coarse_pixels_and_alpha_is_target_visibility():
    h, w, hc, wc = 40, 60, 10, 15
    rng = np.random.default_rng(3)
    start = rng.uniform(0, [w - 1, h - 1], (50, 2)).astype(np.float32)
    tracks = np.stack([start, start + np.array([6.0, -3.0], np.float32)])
    vis = np.ones((2, 50), bool)
    vis[1, :25] = False
    s2d = SparseToDense(tracks, vis, 0, (h, w), (hc, wc))
    flow, alpha = s2d.flow_to(1)
    np.testing.assert_allclose(flow[..., 0], 6.0 * (wc - 1) / (w - 1), rtol=1e-5)
    np.testing.assert_allclose(flow[..., 1], -3.0 * (hc - 1) / (h - 1), rtol=1e-5)
    nearest = s2d.nearest.numpy().reshape(hc, wc)
    np.testing.assert_array_equal(alpha, (nearest >= 25).astype(np.float32))
    # normalised coordinates are corner-aligned: pixel centre 0 -> 0, W-1 -> 1
    corners = normalise(np.array([[0, 0], [w - 1, h - 1]], np.float32), (h, w)).numpy()
    np.testing.assert_allclose(corners, [[0, 0], [1, 1]])


# ---------------------------------------------------------------------------------------------
# motion boundaries and sampling


def test_motion_boundaries_lie_on_the_motion_edge():
    h, w = 60, 80
    flow = np.zeros((h, w, 2), np.float32)
    flow[:, : w // 2] = (5.0, 1.0)  # left half moves, right half is still
    b = motion_boundaries(flow)
    cols = np.nonzero(b.any(0))[0]
    assert b[:, w // 2 - 1].all() and b[:, w // 2].all()
    assert cols.min() >= w // 2 - 6 and cols.max() <= w // 2 + 6  # within the 8 px dilation
    assert not motion_boundaries(np.full((h, w, 2), 3.0, np.float32)).any()
    assert boundary_strength(flow).max() == pytest.approx(1.0)


def _dot_boundary_strength(flow: np.ndarray) -> np.ndarray:
    """DOT's recipe written with torch as DOT writes it: reflect-padded 3x3 derivative convolution,
    mean of the channels' gradient magnitudes, max-pool (kernel 8, stride 1, padding 4) keeping the
    last H x W values, min-max normalisation."""
    import torch.nn.functional as F

    h, w = flow.shape[:2]
    k = torch.zeros(2, 1, 3, 3)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dx or dy:
                k[0, 0, dy + 1, dx + 1] = dx / (dx * dx + dy * dy)
                k[1, 0, dy + 1, dx + 1] = dy / (dx * dx + dy * dy)
    f = torch.from_numpy(flow).permute(2, 0, 1) / torch.tensor([w - 1, h - 1]).view(2, 1, 1).float()
    grad = F.conv2d(F.pad(f[:, None], (1, 1, 1, 1), mode="reflect"), k)
    mag = grad.pow(2).sum(1).sqrt().mean(0)
    mag = F.max_pool2d(mag[None, None], 8, stride=1, padding=4)[0, 0, -h:, -w:]
    return ((mag - mag.min()) / (mag.max() - mag.min())).numpy()


def test_motion_boundaries_are_dots_recipe():
    """OpenCV's filter and dilation give DOT's padded convolution and even-window max-pool exactly."""
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(37, 53, 2)).astype(np.float32)
    flow[:, 20:] += (4.0, -2.0)
    np.testing.assert_allclose(boundary_strength(flow), _dot_boundary_strength(flow), atol=1e-5)


def test_sampling_in_regions_keeps_the_density_there(clip):
    from studio.dense.sampling import regions_around
    from studio.trackers.dis import DISFlow

    h, w = SIZE
    path = np.stack([np.stack([np.full(T, 30.0), np.linspace(20, 60, T)], 1)], 1)  # one point moving down
    regions = regions_around(path, SIZE, 10)
    assert regions.shape == (T, h, w) and regions[0, 20, 30] and regions[0, 20, 40] and not regions[0, 20, 41]
    everywhere = np.concatenate(sample_queries(clip.video, 400, DISFlow(), np.random.default_rng(0)))
    there = np.concatenate(sample_queries(clip.video, 400, DISFlow(), np.random.default_rng(0), regions=regions))
    t, x, y = there[:, 0].astype(int), there[:, 1].astype(int), there[:, 2].astype(int)
    assert regions[t, y, x].all()  # only where the request needs tracks
    share = regions.reshape(T, -1).mean(1)
    assert len(there) == sum(int(np.ceil(q * a)) for q, a in zip(frame_quotas(T, 400), share))
    assert len(there) < 0.2 * len(everywhere)


def test_sampling_quota_half_on_boundaries_and_seeded():
    assert frame_quotas(4, 10).tolist() == [4, 2, 2, 2]
    b = np.zeros((50, 60), bool)
    b[:, 30:33] = True
    pts = sample_frame_points(b, 100, np.random.default_rng(0))
    assert pts.shape == (100, 2)
    on = b[pts[:, 1].astype(int), pts[:, 0].astype(int)]
    assert on[:50].all() and on.sum() >= 50
    few = np.zeros((50, 60), bool)
    few[10, 10:13] = True  # only 3 boundary pixels: all are taken once
    pts = sample_frame_points(few, 20, np.random.default_rng(0))
    assert sorted(map(tuple, pts[:3].astype(int).tolist())) == [(10, 10), (11, 10), (12, 10)]
    assert (pts[:, 0] < 60).all() and (pts[:, 1] < 50).all() and (pts >= 0).all()


def test_sample_queries_rounds_cover_all_frames(clip):
    from studio.trackers.dis import DISFlow

    rounds = sample_queries(clip.video, 50, DISFlow(), np.random.default_rng(0), round_size=20)
    assert [len(r) for r in rounds] == [20, 20, 10]
    q = np.concatenate(rounds)
    assert set(np.unique(q[:, 0]).astype(int)) == set(range(T))
    again = sample_queries(clip.video, 50, DISFlow(), np.random.default_rng(0), round_size=20)
    np.testing.assert_array_equal(q, np.concatenate(again))


# ---------------------------------------------------------------------------------------------
# dot_dis against ground truth


def occlusion_iou(pred_visible, true_visible):
    po, go = ~pred_visible, ~true_visible
    return (po & go).sum() / max((po | go).sum(), 1)


def test_dense_tracks_match_ground_truth_inside_the_mask(dense, truth, ellipse):
    gt_tracks, gt_vis = truth
    assert dense.tracks.shape == (T, *SIZE, 2) and dense.visible.shape == (T, *SIZE)
    assert dense.model == "dot_dis" and dense.query_frame == 0 and dense.size == SIZE
    ys, xs = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
    np.testing.assert_array_equal(dense.tracks[0], np.stack([xs, ys], -1))
    assert not dense.visible[:, ~ellipse].any()  # outside the mask: never visible
    err = np.linalg.norm(dense.tracks[1:] - gt_tracks[1:], axis=-1)[:, ellipse]
    vis = gt_vis[1:][:, ellipse]
    epe = err[vis].mean()
    iou = occlusion_iou(dense.visible[1:][:, ellipse], vis)
    assert epe < 0.6, epe  # measured 0.24 (seeds 0-2)
    assert iou > 0.5, iou  # measured 0.65-0.66; the disc edge (1 px truth margin) is much of its area
    assert set(dense.timings) >= {"init_tracks", "interpolation", "refinement"}


def test_local_gain_recovers_smooth_lighting_and_ignores_an_occluder():
    from studio.dense.refiners import local_gain

    h, w = 64, 96
    rng = np.random.default_rng(0)
    luma0 = rng.uniform(40, 200, (h, w)).astype(np.float32)
    ys, xs = np.mgrid[0:h, 0:w]
    gain = (0.7 + 0.5 * xs / (w - 1)).astype(np.float32)  # darker on the left, brighter on the right
    luma1 = luma0 * gain
    luma1[20:40, 30:50] = 255 - luma1[20:40, 30:50]  # an occluder nobody marked hidden
    est = local_gain(luma0, luma1, np.ones((h, w), bool))
    outside = np.ones((h, w), bool)
    outside[14:46, 24:56] = False
    inner = np.zeros((h, w), bool)
    inner[8:-8, 8:-8] = True
    assert np.abs(est - gain)[outside & inner].max() < 0.03
    assert np.abs(est - gain)[outside].max() < 0.08  # smoothing flattens the ramp at the frame edge
    assert np.abs(est - gain)[20:40, 30:50].mean() < 0.1  # the occluder does not pass for lighting
    np.testing.assert_allclose(local_gain(luma0, luma0, np.ones((h, w), bool)), 1.0, atol=1e-4)


def test_dense_visibility_holds_under_a_lighting_change():
    """Issue #18 item 6: the visible share inside a mask collapsed while the object stayed in view.

    Exposure falls by 40% and a soft light sweeps across; the photometric check compared raw
    colours, so late frames lost most of their visible pixels (late recall 0.57 here before)."""
    size, t_len = (96, 128), 24
    lit = make_clip("mixed", num_frames=t_len, size=size, appearance="lighting")
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w]
    q = np.stack([np.zeros(h * w), xs.ravel(), ys.ravel()], 1).astype(np.float32)
    gt_tracks, gt_vis = lit.ground_truth(q)
    gt_vis = gt_vis.reshape(t_len, h, w)
    mask = ((xs - w / 2) / (0.35 * w)) ** 2 + ((ys - h / 2) / (0.35 * h)) ** 2 <= 1
    r = create_tracker("dot_dis").track_dense(lit.video, 0, mask)
    truth, pred = gt_vis[1:][:, mask], r.visible[1:][:, mask]
    late = slice(2 * (t_len - 1) // 3, None)
    assert pred[late][truth[late]].mean() > 0.93  # visible points stay visible to the end
    assert (truth == pred).mean() > 0.95
    assert (~pred)[~truth].mean() > 0.6  # and the occluder still hides what it covers


def test_refinement_beats_the_interpolated_init(clip, tracker, truth):
    from studio.dense.refiners import DISRefiner

    class InitOnly(DISRefiner):
        def _dis(self, g0, g1, init):
            return init

    prep = tracker.prepare(clip.video)
    gt_tracks, gt_vis = truth
    errs = []
    for refiner in (InitOnly(), DISRefiner()):
        saved, tracker.refiner = tracker.refiner, refiner
        try:
            flows = {t: f for t, f, _ in tracker.field(prep, 0, [4, T - 1])}
        finally:
            tracker.refiner = saved
        ys, xs = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
        grid = np.stack([xs, ys], -1)
        errs.append(np.mean([np.linalg.norm(grid + flows[t] - gt_tracks[t], axis=-1)[gt_vis[t]].mean() for t in flows]))
    assert errs[1] < 0.8 * errs[0], errs


def test_queries_sample_the_dense_field_and_follow_the_contract(clip, tracker, ellipse):
    pix = np.array([[30, 30], [64, 48], [100, 70], [40, 60]])
    assert ellipse[pix[:, 1], pix[:, 0]].all()
    q = np.concatenate([np.zeros((4, 1)), pix], 1).astype(np.float32)
    r = tracker.track(clip.video, q)
    assert isinstance(r, TrackResult) and r.tracks.shape == (T, 4, 2) and r.model == "dot_dis"
    d = tracker.track_dense(clip.video)  # no mask: the same initial tracks as the query mode
    np.testing.assert_allclose(r.tracks, d.tracks[:, pix[:, 1], pix[:, 0]], atol=1e-4)
    np.testing.assert_array_equal(r.visible, d.visible[:, pix[:, 1], pix[:, 0]])
    # queries on a later frame, off the pixel grid: tracked both ways, close to the truth
    q2 = np.array([[5, 40.5, 30.25], [T - 1, 80.0, 60.75]], np.float32)
    r2 = tracker.track(clip.video, q2)
    gt2, gv2 = clip.ground_truth(q2)
    np.testing.assert_array_equal(r2.tracks[[5, T - 1], [0, 1]], q2[:, 1:])
    assert np.median(np.linalg.norm(r2.tracks - gt2, axis=-1)[gv2]) < 1.0


def test_dense_from_a_later_query_frame(clip, tracker):
    d = tracker.track_dense(clip.video, query_frame=6)
    ys, xs = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
    np.testing.assert_array_equal(d.tracks[6], np.stack([xs, ys], -1))
    q = np.stack([np.full(xs.size, 6), xs.ravel(), ys.ravel()], 1).astype(np.float32)
    gt, gv = clip.ground_truth(q)
    gt, gv = gt.reshape(T, *SIZE, 2), gv.reshape(T, *SIZE)
    err = np.linalg.norm(d.tracks - gt, axis=-1)[gv]
    assert np.median(err) < 0.6, np.median(err)


def test_working_resolution_below_the_input_maps_back_to_input_pixels(clip, truth):
    small = create_tracker("dot_dis")
    small.max_side = 64  # 48x64 working grid for the 96x128 clip
    d = small.track_dense(clip.video)
    gt_tracks, gt_vis = truth
    err = np.linalg.norm(d.tracks[1:] - gt_tracks[1:], axis=-1)[gt_vis[1:]]
    assert np.median(err) < 1.0, np.median(err)


def test_reinit_tracks_start_on_uncovered_cells(clip, tracker):
    r = tracker.track_reinit(clip.video, every=4, cell_size=8)
    starts = r.queries[:, 0].astype(int)
    assert set(np.unique(starts)) <= {0, 4, 8}
    first = (starts == 0).sum()
    assert first == (SIZE[0] // 8) * (SIZE[1] // 8)
    assert (starts > 0).sum() < first  # later frames only fill cells no track covers
    gt, gv = clip.ground_truth(r.queries)
    err = np.linalg.norm(r.tracks - gt, axis=-1)[gv]
    assert np.median(err) < 1.0
    assert r.visible[starts, np.arange(len(starts))].all()


def test_bad_inputs_raise_input_errors(clip, tracker):
    with pytest.raises(InputError, match="empty"):
        tracker.track_dense(clip.video, mask=np.zeros(SIZE, bool))
    with pytest.raises(InputError, match="size"):
        tracker.track_dense(clip.video, mask=np.ones((10, 10), bool))
    with pytest.raises(InputError, match="query frame"):
        tracker.track_dense(clip.video, query_frame=T)
    with pytest.raises(InputError):
        tracker.track_dense(clip.video.astype(np.float32))
    with pytest.raises(InputError, match="every"):
        tracker.track_reinit(clip.video, every=0)
    with pytest.raises(InputError, match="too small"):
        tracker.track_dense(clip.video[:, :8, :8])
    tiny = create_tracker("dot_dis")
    tiny.max_side = 4
    with pytest.raises(InputError, match="max_side"):
        tiny.track_dense(clip.video)


# ---------------------------------------------------------------------------------------------
# the dense file


def test_save_load_round_trip_and_renderer_compatibility(dense, tmp_path, ellipse):
    path = dense.save(tmp_path / "dense.npz")
    back = DenseResult.load(path)
    # inside the mask positions survive to half a storage step; outside they are not kept
    assert np.abs(back.tracks[:, ellipse] - dense.tracks[:, ellipse]).max() <= SAVE_STEP / 2 + 1e-4
    assert not back.visible[:, ~ellipse].any()
    with np.load(path) as z:
        assert "tracks" not in z.files and z["offsets"].dtype == np.int32
        assert not z["offsets"][:, ~ellipse].any()  # outside the mask: zeros, nearly free after deflate
    np.testing.assert_array_equal(back.visible, dense.visible)
    np.testing.assert_array_equal(back.mask, ellipse)
    assert (back.query_frame, back.size, back.model, back.fps) == (0, SIZE, "dot_dis", dense.fps)
    rt = read_dense_npz(path)
    assert rt.dense and rt.size == SIZE and rt.tracks.shape == (T, *SIZE, 2) and rt.fps == dense.fps


def test_saved_precision_holds_for_large_frames(tmp_path):
    rng = np.random.default_rng(0)
    tracks = rng.uniform(-10, 4000, (2, 3, 4, 2)).astype(np.float32)
    r = DenseResult(tracks, np.ones((2, 3, 4), bool), size=(3, 4))
    back = DenseResult.load(r.save(tmp_path / "big.npz"))
    assert np.abs(back.tracks - tracks).max() <= 1 / 128 + 5e-4  # float32 near 4000 px: 2.4e-4 steps
    with pytest.raises(InputError):
        r.save(tmp_path / "x.csv")


# ---------------------------------------------------------------------------------------------
# CLI


@pytest.fixture(scope="module")
def clip_files(clip, tmp_path_factory, ellipse):
    from studio.io.video import write_video

    d = tmp_path_factory.mktemp("dense_cli")
    video = write_video(d / "clip.mp4", clip.video, clip.fps)
    mask = d / "mask.png"
    # a mask at half the video's size: resized with a notice
    cv2.imwrite(str(mask), cv2.resize(ellipse.astype(np.uint8) * 200, (64, 48), interpolation=cv2.INTER_NEAREST))
    return d, Path(video), mask


def test_cli_dense_end_to_end(clip_files, capsys):
    d, video, mask = clip_files
    out, mp4 = d / "dense.npz", d / "dense.mp4"
    code = main(["dense", str(video), "--mask", str(mask), "--num-tracks", "512", "--out", str(out),
                 "--video", str(mp4), "--mode", "spaghetti_first_last_mask"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "mask resized 64×48 → 128×96" in captured.err
    rt = read_dense_npz(out)
    assert rt.tracks.shape == (T, *SIZE, 2)
    m = DenseResult.load(out).mask
    assert m is not None and 0.3 < m.mean() < 0.8
    assert mp4.stat().st_size > 0
    assert main(["render", str(video), str(out), "--mode", "overlay_stripes", "--out", str(d / "r.mp4")]) == 0


def test_cli_dense_with_a_mask_draws_the_region_alone_by_default(clip_files, capsys):
    """As the app does: a masked request's video shows the painted region, not every pixel's track."""
    from studio.io.video import read_video

    d, video, mask = clip_files
    mp4 = d / "default_view.mp4"
    assert main(["dense", str(video), "--mask", str(mask), "--num-tracks", "512", "--video", str(mp4)]) == 0
    assert "(overlay_stripes_mask)" in capsys.readouterr().out
    region = cv2.resize(cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE), SIZE[::-1], interpolation=cv2.INTER_NEAREST) > 0
    outside = cv2.erode(1 - region.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # well away from the region
    first, source = read_video(mp4).frames[0].astype(int), read_video(video).frames[0].astype(int)
    assert np.abs(first - source)[outside].mean() < 4  # untouched outside (up to compression)
    assert np.abs(first - source)[region].mean() > 20  # coloured inside


def test_cli_reinit_writes_sparse_tracks_restarted_every_k_frames(clip_files, capsys):
    from studio.io.trackfile import load_tracks

    d, video, mask = clip_files
    out = d / "reinit.npz"  # npz keeps each track's start; csv keeps only positions
    code = main(["dense", str(video), "--reinit", "4", "--cell-size", "16", "--out", str(out),
                 "--video", str(d / "reinit.mp4"), "--mode", "points"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    r = load_tracks(out)
    starts = r.queries[:, 0].astype(int)
    assert set(starts) <= {0, 4, 8} and (starts == 0).sum() == (SIZE[0] // 16) * (SIZE[1] // 16)
    assert r.visible[starts, np.arange(r.num_points)].all()
    np.testing.assert_allclose(r.tracks[starts, np.arange(r.num_points)], r.queries[:, 1:], atol=1e-3)
    assert (d / "reinit.mp4").stat().st_size > 0 and f"{r.num_points} tracks started" in captured.out
    assert main(["dense", str(video), "--reinit", "4", "--mask", str(mask), "--out", str(out)]) == 2
    assert "no --mask" in capsys.readouterr().err
    assert main(["dense", str(video), "--reinit", "0", "--out", str(out)]) == 2


def test_cli_dense_bad_masks(clip_files, capsys):
    d, video, _ = clip_files
    empty = d / "empty.png"
    cv2.imwrite(str(empty), np.zeros((12, 16), np.uint8))
    assert main(["dense", str(video), "--mask", str(empty), "--out", str(d / "x.npz")]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["dense", str(video), "--mask", str(d / "missing.png"), "--out", str(d / "x.npz")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["dense", str(video), "--out", str(d / "x.csv")]) == 2
    assert ".npz" in capsys.readouterr().err


def test_mask_alpha_channel_is_used(tmp_path):
    from studio.io.masks import read_mask_image

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere, only the alpha says what is inside
    rgba[2:5, 3:6, 3] = 255
    cv2.imwrite(str(tmp_path / "m.png"), rgba)
    mask, notices = read_mask_image(tmp_path / "m.png", (8, 8))
    assert mask.sum() == 9 and not notices


# ---------------------------------------------------------------------------------------------
# dot (RAFT refiner): contract only, with random weights through the real build path


def put_in_cache(cache: Path, repo_id: str, revision: str, files: dict[str, Path]) -> None:
    """Lay files out the way huggingface_hub's cache does."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / revision).write_text(revision)
    snap = repo / "snapshots" / revision
    snap.mkdir(parents=True)
    for i, (filename, payload) in enumerate(files.items()):
        blob = repo / "blobs" / f"blob{i}"
        shutil.copy(payload, blob)
        os.symlink(blob, snap / filename)


def test_dot_with_random_raft_weights_keeps_the_contract(clip, tmp_path, monkeypatch):
    from huggingface_hub import constants

    from studio.dense.refiners import RAFTRefiner
    from studio.trackers.raft.adapter import build_model
    from studio.trackers.raft.variants import CONFIGS, DOT_REPO, DOT_REVISION

    torch.manual_seed(0)
    files = {}
    for name in ("raft_cvo", "raft_refiner"):
        path = tmp_path / CONFIGS[name].filename
        torch.save(build_model(CONFIGS[name]).state_dict(), path)
        files[CONFIGS[name].filename] = path
    cache = tmp_path / "hub"
    put_in_cache(cache, DOT_REPO, DOT_REVISION, files)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert weight_status("dot") == "cached"
    dot = create_tracker("dot", device="cpu")
    assert isinstance(dot.refiner, RAFTRefiner) and dot.refiner.patch_size == 4 and dot.name == "dot"
    dot.num_tracks = 64
    dot.refiner.model.num_iter = dot.boundary_flow.num_iter = 1  # the contract, not accuracy: keep it quick
    video = np.ascontiguousarray(clip.video[:3, :64, :80])  # RAFT needs 16 cells a side: 64 px at P=4
    d = dot.track_dense(video, query_frame=1, mask=np.ones((64, 80), bool))
    assert d.tracks.shape == (3, 64, 80, 2) and d.visible.shape == (3, 64, 80) and d.model == "dot"
    assert np.isfinite(d.tracks).all() and d.visible[1].all()
    q = np.array([[1, 10, 20], [1, 50.5, 40]], np.float32)
    r = dot.track(video, q)
    assert r.tracks.shape == (3, 2, 2) and np.isfinite(r.tracks).all()
    np.testing.assert_array_equal(r.tracks[1], q[:, 1:])


def test_dot_without_weights_names_the_file(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from studio.hub import WeightsUnavailable

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable, match="movi_f_raft_patch_4_alpha.pth"):
        create_tracker("dot")


def test_malformed_offset_files_are_clear_errors(tmp_path):
    good = {"visible": np.ones((2, 3, 4), bool), "size": np.array([3, 4])}
    cases = {
        "float offsets": dict(offsets=np.zeros((2, 3, 4, 2), np.float32), offset_unit=np.float64(1 / 64)),
        "zero unit": dict(offsets=np.zeros((2, 3, 4, 2), np.int32), offset_unit=np.float64(0)),
        "no unit": dict(offsets=np.zeros((2, 3, 4, 2), np.int32)),
    }
    for name, extra in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.npz"
        np.savez(path, **good, **extra)
        with pytest.raises(InputError):
            read_dense_npz(path)
    np.savez(tmp_path / "ok.npz", **good, offsets=np.full((2, 3, 4, 2), 32, np.int32), offset_unit=np.float64(1 / 64))
    rt = read_dense_npz(tmp_path / "ok.npz")
    assert rt.tracks[1, 2, 3].tolist() == [3.5, 2.5]  # pixel (3, 2) moved by half a pixel in x and y


def test_a_mask_region_is_driven_by_its_own_tracks(clip, tracker):
    """Tracks that start outside the region never move it; extra tracks are started inside it."""
    from studio.dense.sampling import InitialTracks, restrict_to_mask

    t_len = 4
    # ten tracks start inside the square (the last hidden on frame 0), three outside
    inside = np.array([[x, y] for x in (7, 11, 15) for y in (7, 11, 15)] + [[9, 9]], np.float32)
    start = np.concatenate([inside, [[40, 40], [50, 10], [5, 45]]]).astype(np.float32)
    n = len(start)
    tracks = np.repeat(start[None], t_len, 0)
    visible = np.ones((t_len, n), bool)
    visible[0, 9] = False
    init = InitialTracks(tracks, visible, np.concatenate([np.zeros((n, 1)), start], 1).astype(np.float32))
    mask = np.zeros((60, 60), bool)
    mask[5:20, 5:20] = True
    video = np.zeros((t_len, 60, 60, 3), np.uint8)
    kept = restrict_to_mask(init, video, tracker.initializer, mask, 0, extra=0)
    assert kept.tracks.shape[1] == 9 and np.array_equal(kept.tracks[0], start[:9])
    more = restrict_to_mask(init, clip.video[:t_len, :60, :60].copy(), tracker.initializer, mask, 0, extra=20)
    assert more.tracks.shape[1] >= 20 and mask[np.rint(more.tracks[0, :, 1]).astype(int),
                                               np.rint(more.tracks[0, :, 0]).astype(int)].all()
    # a mask with (almost) no tracks falls back to all of them
    tiny = np.zeros((60, 60), bool)
    tiny[40, 40] = True
    assert restrict_to_mask(init, video, tracker.initializer, tiny, 0, extra=0).tracks.shape[1] == n


def test_dense_models_track_queries_in_the_app_and_the_benchmark(tmp_path):
    """dot_dis is offered wherever queries are tracked: the Track pipeline and TAP-Vid scoring."""
    from studio.benchmark.runner import evaluate
    from studio.registry import query_trackers
    from studio.service import TrackingService

    assert query_trackers()[0] == "lk" and "dot_dis" in query_trackers() and "raft_cvo" not in query_trackers()
    root = Path(__file__).resolve().parents[1]
    service = TrackingService(output_root=tmp_path)
    assert "dot_dis" in [name for _, name in service.model_choices(dense=True)]
    assert "dot_dis" not in [name for _, name in service.model_choices()]  # initializers stay point trackers
    out = service.track(str(root / "examples" / "hopper_pan.mp4"), np.array([[0, 120, 80], [10, 300.5, 150]]),
                        model="dot_dis")
    assert out.result.model == "dot_dis" and out.result.tracks.shape == (36, 2, 2)
    np.testing.assert_allclose(out.result.tracks[[0, 10], [0, 1]], [[120, 80], [300.5, 150]], atol=1e-4)
    with pytest.raises(InputError, match="flow model"):
        service.track(str(root / "examples" / "hopper_pan.mp4"), np.array([[0, 1.0, 1.0]]), model="dis")
    score = evaluate("dot_dis", root / "assets" / "tapvid_sample" / "tapvid_sample.npz", "first").mean()
    assert score["average_jaccard"] > 85 and score["occlusion_accuracy"] > 95  # exact ground truth of real warps


# ---------------------------------------------------------------------------------------------
# a turning object: re-detection by appearance (studio.dense.redetect, studio.synthetic.turn)


def test_turning_clip_truth_is_exact():
    """The front patch is seen, hidden behind the turned cylinder, and back where it started after
    one turn; where the truth says a point is seen, the frame shows its colour (up to shading)."""
    from studio.synthetic.turn import make_turning_clip

    clip = make_turning_clip(num_frames=25, size=SIZE, turns=1.0)
    mask = clip.front_region()
    tracks, visible = clip.dense_truth()
    assert visible[0][mask].all() and not visible[12][mask].any() and visible[24][mask].all()
    assert np.abs(tracks[24][mask] - tracks[0][mask]).max() < 1e-3
    ys, xs = np.nonzero(mask)
    src = clip.video[0, ys, xs].astype(float)
    seen = visible[3, ys, xs]
    at = np.rint(tracks[3, ys, xs]).astype(int)[seen]
    err_right = np.abs(clip.video[3, at[:, 1], at[:, 0]] - src[seen]).mean()
    err_static = np.abs(clip.video[3, ys, xs][seen] - src[seen]).mean()
    assert err_right < 0.5 * err_static
    # the background behind the cylinder is hidden; beside it, seen and drifting
    bg = clip.ground_truth(np.array([[0, 5, 50], [0, clip.centre[0], 5]], np.float32))
    assert bg[1][:, 0].all() and not bg[1][:, 1].any() or clip.centre[1] > 5
    assert np.isclose(bg[0][10, 0, 0], 5 + 10 * clip.drift)


def test_redetect_refinds_lost_tracks_and_hides_slid_ones():
    """Tracks a tracker lost on frames where their surface is in plain view come back at their true
    place; visible tracks moved onto other texture are hidden there (or found again where they belong)."""
    from studio.dense.redetect import redetect
    from studio.dense.sampling import InitialTracks

    clip = make_clip("translate", num_frames=8, size=SIZE, speed=1.5, occluder=False)
    ys, xs = np.mgrid[24:72:4, 32:96:4]
    start = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    q = np.concatenate([np.zeros((len(start), 1)), start], 1).astype(np.float32)
    truth, seen = clip.ground_truth(q)
    mask = np.zeros(SIZE, bool)
    mask[20:76, 28:100] = True
    tracks, visible = truth.copy(), seen.copy()
    visible[5:8] = False  # lost
    tracks[5:8] += 7.0  # and carried somewhere wrong
    tracks[3, :20] += np.float32([25.0, 0.0])  # slid onto other texture, still called visible
    visible[3, 60:100] = False  # a frame is searched only when some of the region is lost
    out, stats = redetect(InitialTracks(tracks, visible, q), clip.video, mask, 0)
    back = out.visible[5:8] & seen[5:8]
    assert back.mean() > 0.8 * seen[5:8].mean()
    assert np.linalg.norm(out.tracks[5:8] - truth[5:8], axis=-1)[back].max() < 1.0
    wrong = out.visible[3, :20] & (np.linalg.norm(out.tracks[3, :20] - truth[3, :20], axis=-1) > 1.0)
    assert wrong.mean() <= 0.2 and out.visible[3, 20:].mean() > 0.9
    unchanged = InitialTracks(truth[:4], seen[:4], q)  # nothing lost: nothing searched or changed
    assert stats["refound"] > 0 and tracks[5, 0, 0] == truth[5, 0, 0] + 7.0  # the input is not changed
    same, _ = redetect(unchanged, clip.video[:4], mask, 0)
    assert np.array_equal(same.tracks, truth[:4]) and np.array_equal(same.visible, seen[:4])


def test_redetection_does_not_show_pixels_that_left_the_frame():
    """Under a perspective warp part of the region leaves the frame. Re-detection must not call more of
    those pixels visible than the plain tracks do: it once moved the tracks it could not confirm to
    where their surface was predicted, and the refiner then found a match for their neighbours just
    inside the frame (on this clip 6259 pixel-frames wrongly visible against 5658, IoU 0.641 vs 0.668)."""
    clip = make_clip("perspective", num_frames=24, size=(144, 256), speed=1.5)
    h, w = 144, 256
    ys, xs = np.mgrid[0:h, 0:w]
    q = np.stack([np.zeros(h * w), xs.ravel(), ys.ravel()], 1).astype(np.float32)
    truth = clip.ground_truth(q)[1].reshape(24, h, w)[1:]
    ellipse = ((xs - w / 2) / (0.4 * w)) ** 2 + ((ys - h / 2) / (0.4 * h)) ** 2 <= 1
    scores = []
    for redetect in (False, True):
        t = create_tracker("dot_dis")
        t.num_tracks, t.redetect = 1024, redetect
        seen = t.track_dense(clip.video, 0, ellipse).visible[1:][:, ellipse]
        hidden = ~truth[:, ellipse]
        iou = (hidden & ~seen).sum() / (hidden | ~seen).sum()
        scores.append(((seen & hidden).sum(), iou))
    (plain_wrong, plain_iou), (re_wrong, re_iou) = scores
    assert hidden.mean() > 0.03  # the clip does hide part of the region
    # now 5645 vs 5658 and 0.665 vs 0.668; the margins sit between that and the old failure (+10%, -0.027)
    assert re_wrong <= 1.03 * plain_wrong and re_iou >= plain_iou - 0.01


def test_redetect_finds_a_plain_region_again_through_a_later_view():
    """A plain patch (too few keypoints to match) is lost, comes back with its look half changed (a
    turning object's shading and foreshortening change it step by step), is lost again and comes back
    with a look that no longer correlates with the query frame's. Its look where it was found again
    is searched too, so it is found the second time as well (half its tracks; before: none)."""
    from studio.dense.redetect import redetect
    from studio.dense.sampling import InitialTracks

    rng = np.random.default_rng(0)
    h, w = 128, 160
    scene = cv2.GaussianBlur((rng.random((h, w)) * 255).astype(np.float32), (0, 0), 0.7)
    looks = [cv2.GaussianBlur(rng.standard_normal((40, 24)).astype(np.float32), (0, 0), 1.2) for _ in range(2)]
    looks = [look / look.std() for look in looks]

    def look(turned: float) -> np.ndarray:  # correlates cos(turned) with the first look
        return 150 + 40 * (np.cos(turned) * looks[0] + np.sin(turned) * looks[1])

    plan = [(0, 20, 30), (0, 21, 30), (0, 22, 30), None, (np.pi / 4, 70, 20), None, None,
            (np.pi / 2, 90, 40), (np.pi / 2, 92, 40)]
    ys, xs = np.mgrid[32:68:4, 22:42:4]
    start = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    frames, truth = [], []
    for step in plan:
        frame = scene.copy()
        if step is not None:
            turned, x0, y0 = step
            frame[y0 : y0 + 40, x0 : x0 + 24] = look(turned)
            truth.append(start + np.float32([x0 - 20, y0 - 30]))
        else:
            truth.append(start)
        frames.append(frame)
    video = np.repeat(np.clip(np.stack(frames), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    tracks = np.repeat(start[None], len(plan), 0)
    visible = np.zeros(tracks.shape[:2], bool)
    visible[:3] = True  # lost from frame 3 on, left where they were
    tracks[1:3] = truth[1:3]
    mask = np.zeros((h, w), bool)
    mask[30:70, 20:44] = True
    q = np.concatenate([np.zeros((len(start), 1)), start], 1).astype(np.float32)
    out, _ = redetect(InitialTracks(tracks, visible, q), video, mask, 0)
    assert not out.visible[[3, 5, 6]].any()  # nothing is found where the patch is not
    assert out.visible[4].mean() > 0.5 and out.visible[7:9].mean() > 0.4
    err = np.linalg.norm(out.tracks - np.stack(truth), axis=-1)[out.visible]
    assert np.percentile(err, 90) < 1.0


def test_dense_visibility_comes_back_when_a_turning_object_turns_back(tracker):
    """A patch on a cylinder that turns once: hidden while it faces away, visible again at the end
    (before re-detection its tracks never came back: OA 0.61, last third 0.00 visible of 0.84)."""
    from studio.synthetic.turn import make_turning_clip, turning_scores

    clip = make_turning_clip(num_frames=24, size=SIZE)
    mask = clip.front_region()
    _, truth = clip.dense_truth()
    r = tracker.track_dense(clip.video, 0, mask)
    s = turning_scores(r.visible, truth, mask)
    assert s["oa"] >= 0.72 and s["share_err"] <= 0.25
    last = slice(17, 24)
    assert truth[last][:, mask].mean() > 0.8 and r.visible[last][:, mask].mean() >= 0.35
    assert r.visible[12:16][:, mask].mean() <= 0.1  # it faces away: nothing of it is seen


def test_dis_refiner_checks_forward_backward_when_most_tracks_are_lost(clip):
    """Where the tracks say a pixel is visible but it has vanished (a strip swallowed where the right half
    slides over the left), the forward-backward test hides it, but only when few tracks survive."""
    from studio.dense.refiners import DISRefiner

    f0 = clip.video[0]
    f1 = f0.copy()
    f1[:, 56:-16] = f0[:, 72:]  # columns 56..71 of frame 0 are covered in frame 1
    coarse = (SIZE[0] // 4, SIZE[1] // 4)
    zero, ones = np.zeros(coarse + (2,), np.float32), np.ones(coarse, np.float32)
    refiner = DISRefiner()
    _, trusted = refiner.refine(f0, f1, zero, ones, tracks_kept=1.0)
    _, checked = refiner.refine(f0, f1, zero, ones, tracks_kept=0.2)
    strip, rest = checked[:, 58:70], np.concatenate([checked[:, 8:48], checked[:, 80:-24]], 1)
    assert strip.mean() < 0.5 * trusted[:, 58:70].mean()
    assert rest.mean() > 0.75  # the test costs some right pixels too (flat patches), hence only when needed
    # Cells whose track was found again by appearance are not suspect: the test leaves them alone.
    left = np.zeros(coarse, np.float32)
    left[:, : coarse[1] // 2] = 1.0
    _, found = refiner.refine(f0, f1, zero, ones, tracks_kept=0.2, trusted=left)
    half = SIZE[1] // 2 - 4
    assert np.array_equal(found[:, :half], trusted[:, :half])
    assert np.array_equal(found[:, half + 8 :], checked[:, half + 8 :])
