"""TAP-Vid metrics: golden values from the reference, hand-computed edge cases, the naive loop."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from studio.benchmark.metrics import METRIC_KEYS, THRESHOLDS, compute_tapvid_metrics, evaluation_mask
from studio.benchmark.metrics.published import DATASETS, PUBLISHED, published
from studio.benchmark.metrics.tapvid import compute_tapvid_metrics_naive


def one_track(gt_xy, gt_occ, pred_xy, pred_occ, query_t):
    """Batch of one video with one track: arrays shaped as the metric wants them."""
    gt_xy = np.asarray(gt_xy, np.float64)[None, None]
    pred_xy = np.asarray(pred_xy, np.float64)[None, None]
    q = np.array([[[query_t, 0.0, 0.0]]])
    return q, np.asarray(gt_occ, bool)[None, None], gt_xy, np.asarray(pred_occ, bool)[None, None], pred_xy


def golden_case():
    # Notes section 2.8: T = 5, query t = 1, GT at (100, 50), occluded at t = 0 and 3;
    # prediction visible everywhere, equal to GT except +3 px in x at t = 2 and +0.5 px at t = 4.
    gt = np.tile([100.0, 50.0], (5, 1))
    pred = gt.copy()
    pred[2, 0] += 3.0
    pred[4, 0] += 0.5
    occ = np.array([True, False, False, True, False])
    return one_track(gt, occ, pred, np.zeros(5, bool), 1)


GOLDEN = {
    "first": {
        "occlusion_accuracy": 2 / 3,
        "pts_within": [0.5, 0.5, 1, 1, 1],
        "jaccard": [0.25, 0.25, 2 / 3, 2 / 3, 2 / 3],
        "average_jaccard": 0.5,
        "average_pts_within_thresh": 0.8,
    },
    "strided": {
        "occlusion_accuracy": 0.5,
        "pts_within": [0.5, 0.5, 1, 1, 1],
        "jaccard": [0.2, 0.2, 0.5, 0.5, 0.5],
        "average_jaccard": 0.38,
        "average_pts_within_thresh": 0.8,
    },
}


@pytest.mark.parametrize("mode", ["first", "strided"])
def test_golden_values_from_the_reference(mode):
    m = compute_tapvid_metrics(*golden_case(), mode)
    g = GOLDEN[mode]
    assert set(m) == set(METRIC_KEYS)
    assert m["occlusion_accuracy"][0] == pytest.approx(g["occlusion_accuracy"], abs=1e-12)
    for d, p, j in zip(THRESHOLDS, g["pts_within"], g["jaccard"]):
        assert m[f"pts_within_{d}"][0] == pytest.approx(p, abs=1e-12), d
        assert m[f"jaccard_{d}"][0] == pytest.approx(j, abs=1e-12), d
    assert m["average_jaccard"][0] == pytest.approx(g["average_jaccard"], abs=1e-12)
    assert m["average_pts_within_thresh"][0] == pytest.approx(g["average_pts_within_thresh"], abs=1e-12)
    assert all(v.shape == (1,) and v.dtype == np.float64 for v in m.values())


@pytest.mark.parametrize("d", THRESHOLDS)
def test_a_distance_exactly_at_a_threshold_does_not_count(d):
    # Strict <: an error of exactly d px misses threshold d and meets 2d.
    gt = np.zeros((3, 2))
    pred = gt.copy()
    pred[1:, 1] = d  # along y, exactly d
    m = compute_tapvid_metrics(*one_track(gt, np.zeros(3, bool), pred, np.zeros(3, bool), 0), "first")
    for t in THRESHOLDS:
        assert m[f"pts_within_{t}"][0] == (1.0 if t > d else 0.0), (d, t)
        assert m[f"jaccard_{t}"][0] == (1.0 if t > d else 0.0), (d, t)


def test_distance_two_counts_for_four_but_not_for_two():
    gt = np.zeros((2, 2))
    pred = np.array([[0.0, 0.0], [2.0, 0.0]])
    m = compute_tapvid_metrics(*one_track(gt, [False, False], pred, [False, False], 0), "strided")
    assert m["pts_within_2"][0] == 0.0 and m["pts_within_4"][0] == 1.0


def test_video_without_visible_points():
    # Every ground-truth point hidden: position metrics are 0/0 = NaN (as the reference);
    # predicting "visible" is a false positive, so the Jaccard is 0; OA still counts.
    gt = np.zeros((4, 2))
    occ = np.ones(4, bool)
    m = compute_tapvid_metrics(*one_track(gt, occ, gt, np.zeros(4, bool), 0), "strided")
    assert np.isnan(m["pts_within_1"][0]) and np.isnan(m["average_pts_within_thresh"][0])
    assert m["jaccard_16"][0] == 0.0 and m["average_jaccard"][0] == 0.0
    assert m["occlusion_accuracy"][0] == 0.0
    # Predicting "occluded" too: no positives at all -> Jaccard 0/0, OA perfect.
    m = compute_tapvid_metrics(*one_track(gt, occ, gt, occ, 0), "strided")
    assert np.isnan(m["jaccard_1"][0]) and m["occlusion_accuracy"][0] == 1.0


def test_everything_predicted_occluded_gives_zero_jaccard_but_keeps_position_accuracy():
    gt = np.tile([10.0, 20.0], (4, 1))
    m = compute_tapvid_metrics(*one_track(gt, np.zeros(4, bool), gt, np.ones(4, bool), 0), "first")
    assert m["average_jaccard"][0] == 0.0
    assert m["average_pts_within_thresh"][0] == 1.0  # position accuracy ignores predicted visibility
    assert m["occlusion_accuracy"][0] == 0.0


def test_query_frame_is_never_scored():
    gt = np.zeros((4, 2))
    pred = gt.copy()
    pred[2] = [500.0, 500.0]  # wildly wrong, but on the query frame
    occ_pred = np.array([False, False, True, False])  # and wrongly occluded there
    for mode in ("first", "strided"):
        m = compute_tapvid_metrics(*one_track(gt, np.zeros(4, bool), pred, occ_pred, 2), mode)
        assert m["average_jaccard"][0] == 1.0 and m["occlusion_accuracy"][0] == 1.0, mode


def test_first_ignores_frames_before_the_query_strided_does_not():
    gt = np.zeros((6, 2))
    pred = gt.copy()
    pred[:2] = [30.0, 0.0]  # wrong before the query frame 2
    q, go, g, po, p = one_track(gt, np.zeros(6, bool), pred, np.zeros(6, bool), 2)
    first = compute_tapvid_metrics(q, go, g, po, p, "first")
    strided = compute_tapvid_metrics(q, go, g, po, p, "strided")
    assert first["average_jaccard"][0] == 1.0  # frames 3, 4, 5 only
    # strided scores frames 0, 1, 3, 4, 5: 3 of 5 within every threshold; J = 3 / (5 + 2).
    assert strided["pts_within_16"][0] == pytest.approx(3 / 5)
    assert strided["jaccard_16"][0] == pytest.approx(3 / 7)
    np.testing.assert_array_equal(evaluation_mask(np.array([2]), 6, "first"), [[0, 0, 0, 1, 1, 1]])
    np.testing.assert_array_equal(evaluation_mask(np.array([2]), 6, "strided"), [[1, 1, 0, 1, 1, 1]])


def test_metrics_are_per_video_not_pooled():
    # Video 0: one of one evaluated point correct. Video 1: one of three correct.
    b, n, t = 2, 3, 2
    gt = np.zeros((b, n, t, 2))
    pred = gt.copy()
    pred[1, 1:, 1] = 100.0  # video 1: tracks 1, 2 far off at frame 1
    gt_occ = np.zeros((b, n, t), bool)
    gt_occ[0, 1:] = True  # video 0: only track 0 visible
    q = np.zeros((b, n, 3))
    m = compute_tapvid_metrics(q, gt_occ, gt, gt_occ.copy(), pred, "first")
    np.testing.assert_allclose(m["pts_within_1"], [1.0, 1 / 3])
    # Batched results equal one call per video (the co-tracker copy's OA denominator breaks this).
    for v in range(b):
        one = slice(v, v + 1)
        single = compute_tapvid_metrics(q[one], gt_occ[one], gt[one], gt_occ[one], pred[one], "first")
        for k in METRIC_KEYS:
            np.testing.assert_array_equal(single[k], m[k][v:v + 1])
    np.testing.assert_array_equal(m["occlusion_accuracy"], [1.0, 1.0])


def test_trackwise_metrics_have_one_value_per_track():
    q, go, g, po, p = golden_case()
    q, go, g, po, p = (np.concatenate([a, a], axis=1) for a in (q, go, g, po, p))
    m = compute_tapvid_metrics(q, go, g, po, p, "first", get_trackwise_metrics=True)
    assert m["average_jaccard"].shape == (1, 2)
    np.testing.assert_allclose(m["average_jaccard"], [[0.5, 0.5]])


def random_batch(rng, b=3, n=7, t=11):
    gt = rng.uniform(0, 256, (b, n, t, 2))
    pred = gt + rng.normal(0, rng.choice([1.0, 4.0, 12.0]), gt.shape)
    # Some predictions exactly at threshold distances, some NaN.
    exact = rng.random((b, n, t)) < 0.15
    pred[..., 0] = np.where(exact, gt[..., 0] + rng.choice(THRESHOLDS, size=exact.shape), pred[..., 0])
    pred[..., 1] = np.where(exact, gt[..., 1], pred[..., 1])
    pred[rng.random((b, n, t)) < 0.03] = np.nan
    gt_occ = rng.random((b, n, t)) < 0.3
    pred_occ = rng.random((b, n, t)) < 0.3
    q = np.concatenate([rng.integers(0, t, (b, n, 1)), rng.uniform(0, 256, (b, n, 2))], axis=-1)
    return q, gt_occ, gt, pred_occ, pred


@pytest.mark.parametrize("mode", ["first", "strided"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vectorized_equals_the_naive_loop(mode, dtype):
    rng = np.random.default_rng(7)
    for _ in range(10):
        q, go, g, po, p = random_batch(rng)
        g, p = g.astype(dtype), p.astype(dtype)
        fast = compute_tapvid_metrics(q, go, g, po, p, mode)
        slow = compute_tapvid_metrics_naive(q, go, g, po, p, mode)
        for k in METRIC_KEYS:
            np.testing.assert_array_equal(fast[k], slow[k], err_msg=k)


def test_bad_inputs_are_refused():
    q, go, g, po, p = golden_case()
    with pytest.raises(ValueError, match="query mode"):
        compute_tapvid_metrics(q, go, g, po, p, "middle")
    with pytest.raises(ValueError, match="pred_tracks"):
        compute_tapvid_metrics(q, go, g, po, p[:, :, :3], "first")
    with pytest.raises(ValueError, match="query frames"):
        compute_tapvid_metrics(np.array([[[5.0, 0, 0]]]), go, g, po, p, "first")
    with pytest.raises(ValueError, match="boolean"):
        compute_tapvid_metrics(q, go, g, po.astype(float) + 0.3, p, "first")


def test_metrics_import_neither_torch_nor_gradio():
    code = (
        "import sys, studio.benchmark.metrics, studio.benchmark.metrics.published; "
        "print(sorted({'torch', 'gradio'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_published_numbers_are_well_formed():
    assert len(PUBLISHED) > 50
    for r in PUBLISHED:
        assert r.dataset in DATASETS and r.query_mode in ("first", "strided") and r.tag in ("P", "S"), r
        assert r.source and any(v is not None for v in (r.aj, r.delta_avg, r.oa)), r
        assert all(v is None or 0 < v < 100 for v in (r.aj, r.delta_avg, r.oa)), r
    # DOT's README orders its columns AJ, OA, delta: check one row landed in the right fields.
    dot = [r for r in published("davis", "strided") if r.model == "DOT (BootsTAPIR+RAFT)"]
    assert [(r.aj, r.delta_avg, r.oa) for r in dot] == [(68.5, 81.3, 91.7)]
    with pytest.raises(ValueError):
        published("sintel")
