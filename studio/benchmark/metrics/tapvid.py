"""TAP-Vid point-tracking metrics: occlusion accuracy, < delta_avg and Average Jaccard.

Pure numpy. ``compute_tapvid_metrics`` takes the same arguments and returns the
same keys and values as the TAP-Vid reference definition
(google-deepmind/tapnet, ``tapnet/tapvid/evaluation_datasets.py``); it is an
independent implementation that counts every (track, frame) pair once into a
small histogram instead of re-scanning the batch for every threshold.

Definitions, per video (sums over its tracks and frames):

* A frame is *evaluated* for a track when it is not the track's query frame;
  with ``query_mode="first"`` only frames strictly after the query frame are.
* ``within_d`` is ``|pred - gt|^2 < d^2`` (strict) for ``d`` in 1, 2, 4, 8, 16.
* ``occlusion_accuracy = #(pred_occluded == gt_occluded) / #evaluated``.
* ``pts_within_d = #(within_d and gt visible) / #(gt visible)``, ignoring the
  predicted visibility.
* ``jaccard_d = TP / (#(gt visible) + FP)`` with ``TP = #(within_d, gt visible,
  predicted visible)`` and ``FP = #(predicted visible and (gt occluded or not within_d))``.
* ``average_jaccard`` and ``average_pts_within_thresh`` are the plain means over
  the five thresholds. A benchmark number is the plain mean over videos (x 100
  in papers), not a pool of all points.

Coordinates are TAP-Vid *raster* pixels of a 256x256 frame (normalised x 256;
pixel centres at +0.5). Distances are invariant to the half-pixel offset, so
studio pixels rescaled to 256x256 give the same numbers.
"""

from __future__ import annotations

import numpy as np

THRESHOLDS: tuple[int, ...] = (1, 2, 4, 8, 16)
"""Pixel thresholds of ``pts_within_*`` and ``jaccard_*`` (in 256x256 pixels)."""

QUERY_MODES: tuple[str, ...] = ("first", "strided")

METRIC_KEYS: tuple[str, ...] = (
    ("average_jaccard", "average_pts_within_thresh", "occlusion_accuracy")
    + tuple(f"pts_within_{d}" for d in THRESHOLDS)
    + tuple(f"jaccard_{d}" for d in THRESHOLDS)
)
"""Every key ``compute_tapvid_metrics`` returns, headline numbers first."""

# Squared thresholds as float64: comparing a float32 squared distance with these
# promotes it exactly, as the reference's comparison with an integer does.
_THRESH_SQ = np.square(np.asarray(THRESHOLDS, dtype=np.float64))
_NT = len(THRESHOLDS)
# One histogram cell per (gt visible, predicted visible, thresholds met 0..5), plus cell 0
# for pairs that are not evaluated.
_CELLS = 1 + 2 * 2 * (_NT + 1)


def evaluation_mask(query_frames: np.ndarray, num_frames: int, query_mode: str) -> np.ndarray:
    """Which frames count for each track.

    Args:
      query_frames: [...] query frame of each track (rounded half to even, as the reference).
      num_frames: T.
      query_mode: ``"first"`` (frames strictly after the query) or ``"strided"``
        (every frame except the query frame).

    Returns:
      [..., T] bool.
    """
    q = np.round(np.asarray(query_frames)).astype(np.int64)
    t = np.arange(num_frames)
    if query_mode == "first":
        return t > q[..., None]
    if query_mode == "strided":
        return t != q[..., None]
    raise ValueError(f"Unknown query mode {query_mode!r}; expected one of {QUERY_MODES}")


def _as_bool(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        return a
    if a.size and not np.isin(a, (0, 1)).all():
        raise ValueError(f"{name} must be boolean (or 0/1), got values other than 0 and 1 in a {a.dtype} array")
    return a.astype(bool)


def compute_tapvid_metrics(
    query_points: np.ndarray,
    gt_occluded: np.ndarray,
    gt_tracks: np.ndarray,
    pred_occluded: np.ndarray,
    pred_tracks: np.ndarray,
    query_mode: str,
    get_trackwise_metrics: bool = False,
) -> dict[str, np.ndarray]:
    """TAP-Vid metrics for a batch of videos, one value per video.

    Args:
      query_points: [b, n, 3] ``(t, y, x)`` queries; only ``t`` is used.
      gt_occluded: [b, n, T] bool, True = occluded in the ground truth.
      gt_tracks: [b, n, T, 2] ``(x, y)`` ground truth, 256x256 raster pixels.
      pred_occluded: [b, n, T] bool, True = predicted occluded.
      pred_tracks: [b, n, T, 2] ``(x, y)`` predictions in the same pixels.
      query_mode: ``"first"`` or ``"strided"`` (see ``evaluation_mask``).
      get_trackwise_metrics: sum over frames only, giving [b, n] values per track.

    Returns:
      ``{key: float64 [b] (or [b, n])}`` for every key of ``METRIC_KEYS``, each a
      fraction in [0, 1]. A ratio whose denominator is 0 (no evaluated frame, or
      no visible evaluated point) is NaN, as in the reference.

    Raises:
      ValueError: unknown query mode, shapes that disagree, a query frame outside
        ``0..T-1`` or occlusion arrays that are not boolean.
    """
    if query_mode not in QUERY_MODES:
        raise ValueError(f"Unknown query mode {query_mode!r}; expected one of {QUERY_MODES}")
    gt_tracks = np.asarray(gt_tracks)
    pred_tracks = np.asarray(pred_tracks)
    query_points = np.asarray(query_points)
    if gt_tracks.ndim != 4 or gt_tracks.shape[-1] != 2:
        raise ValueError(f"gt_tracks must have shape [b, n, T, 2], got {list(gt_tracks.shape)}")
    b, n, t_len = gt_tracks.shape[:3]
    if pred_tracks.shape != gt_tracks.shape:
        raise ValueError(f"pred_tracks has shape {list(pred_tracks.shape)}, gt_tracks {list(gt_tracks.shape)}")
    if query_points.shape != (b, n, 3):
        raise ValueError(f"query_points must have shape [b, n, 3] = {[b, n, 3]}, got {list(query_points.shape)}")
    gt_occ = _as_bool(gt_occluded, "gt_occluded")
    pred_occ = _as_bool(pred_occluded, "pred_occluded")
    for name, a in (("gt_occluded", gt_occ), ("pred_occluded", pred_occ)):
        if a.shape != (b, n, t_len):
            raise ValueError(f"{name} must have shape [b, n, T] = {[b, n, t_len]}, got {list(a.shape)}")
    q = np.round(query_points[..., 0]).astype(np.int64)
    if q.size and (q.min() < 0 or q.max() >= t_len):
        raise ValueError(f"query frames must lie in 0..{t_len - 1}, got {q.min()}..{q.max()}")

    # Squared distance exactly as the reference forms it: (dx^2 + dy^2) in the inputs' dtype.
    diff = pred_tracks - gt_tracks
    d2 = np.square(diff[..., 0])
    d2 += np.square(diff[..., 1])
    # met = how many thresholds the pair is within (0..5); within_d for the k-th threshold
    # <=> met >= 5 - k, because the thresholds increase. NaN meets none, as ``<`` is False.
    met = np.zeros(d2.shape, np.uint8)
    for th in _THRESH_SQ:
        np.add(met, d2 < th, out=met, casting="unsafe")
    # One uint8 cell per pair: 0 = not evaluated, else 1 + (vis * 2 + pred_vis) * 6 + met.
    visible = ~gt_occ
    pred_visible = ~pred_occ
    cell = met
    cell += 1
    cell += np.where(visible, np.uint8(2 * (_NT + 1)), np.uint8(0))
    cell += np.where(pred_visible, np.uint8(_NT + 1), np.uint8(0))
    cell *= evaluation_mask(q, t_len, query_mode)

    rows = b * n if get_trackwise_metrics else b
    offset = (np.arange(rows, dtype=np.int64) * _CELLS).reshape((b, n, 1) if get_trackwise_metrics else (b, 1, 1))
    hist = np.bincount((cell + offset).ravel(), minlength=rows * _CELLS).reshape(rows, _CELLS)
    # [rows, gt visible, pred visible, thresholds met]
    h = hist[:, 1:].reshape(rows, 2, 2, _NT + 1)

    evaluated = h.sum(axis=(1, 2, 3))
    agree = h[:, 0, 0].sum(axis=-1) + h[:, 1, 1].sum(axis=-1)  # occluded==occluded or visible==visible
    gt_positives = h[:, 1].sum(axis=(1, 2))
    pred_positives = h[:, :, 1].sum(axis=(1, 2))
    # Pairs within threshold k are those meeting >= 5 - k thresholds: a reversed cumulative sum.
    within_vis = np.cumsum(h[:, 1].sum(axis=1)[:, ::-1], axis=-1)[:, :_NT]  # [rows, k]
    true_pos = np.cumsum(h[:, 1, 1, ::-1], axis=-1)[:, :_NT]

    shape = (b, n) if get_trackwise_metrics else (b,)
    metrics: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        metrics["occlusion_accuracy"] = (agree / evaluated).reshape(shape)
        all_within, all_jaccard = [], []
        for k, d in enumerate(THRESHOLDS):
            frac = (within_vis[:, k] / gt_positives).reshape(shape)
            false_pos = pred_positives - true_pos[:, k]
            jac = (true_pos[:, k] / (gt_positives + false_pos)).reshape(shape)
            metrics[f"pts_within_{d}"] = frac
            metrics[f"jaccard_{d}"] = jac
            all_within.append(frac)
            all_jaccard.append(jac)
    # Averaged as the reference does (stack on axis 1, mean), so results match to the bit.
    metrics["average_jaccard"] = np.mean(np.stack(all_jaccard, axis=1), axis=1)
    metrics["average_pts_within_thresh"] = np.mean(np.stack(all_within, axis=1), axis=1)
    return metrics


def compute_tapvid_metrics_naive(
    query_points: np.ndarray,
    gt_occluded: np.ndarray,
    gt_tracks: np.ndarray,
    pred_occluded: np.ndarray,
    pred_tracks: np.ndarray,
    query_mode: str,
) -> dict[str, np.ndarray]:
    """The same metrics as plain Python loops over videos, tracks and frames.

    Slow on purpose: it spells the definitions out one pair at a time, as a
    second opinion for tests and the speed comparison in ``bench/bench_metrics.py``.
    Per-video values only.
    """
    if query_mode not in QUERY_MODES:
        raise ValueError(f"Unknown query mode {query_mode!r}; expected one of {QUERY_MODES}")
    b, n, t_len = np.shape(gt_occluded)
    out: dict[str, list[float]] = {k: [] for k in METRIC_KEYS}

    def ratio(a: int, c: int) -> float:
        return a / c if c else float("nan")

    for v in range(b):
        evaluated = agree = gt_pos = 0
        within = dict.fromkeys(THRESHOLDS, 0)
        true_pos = dict.fromkeys(THRESHOLDS, 0)
        false_pos = dict.fromkeys(THRESHOLDS, 0)
        for i in range(n):
            q = int(np.round(query_points[v, i, 0]))
            for t in range(t_len):
                if t == q or (query_mode == "first" and t < q):
                    continue
                vis = not gt_occluded[v, i, t]
                pvis = not pred_occluded[v, i, t]
                evaluated += 1
                agree += vis == pvis
                gt_pos += vis
                dx = pred_tracks[v, i, t, 0] - gt_tracks[v, i, t, 0]
                dy = pred_tracks[v, i, t, 1] - gt_tracks[v, i, t, 1]
                dist2 = dx * dx + dy * dy
                for d in THRESHOLDS:
                    close = bool(dist2 < d * d)
                    within[d] += close and vis
                    true_pos[d] += close and vis and pvis
                    false_pos[d] += pvis and not (close and vis)
        out["occlusion_accuracy"].append(ratio(agree, evaluated))
        for d in THRESHOLDS:
            out[f"pts_within_{d}"].append(ratio(within[d], gt_pos))
            out[f"jaccard_{d}"].append(ratio(true_pos[d], gt_pos + false_pos[d]))
        out["average_jaccard"].append(float(np.mean([out[f"jaccard_{d}"][-1] for d in THRESHOLDS])))
        out["average_pts_within_thresh"].append(float(np.mean([out[f"pts_within_{d}"][-1] for d in THRESHOLDS])))
    return {k: np.asarray(vals, dtype=np.float64) for k, vals in out.items()}
