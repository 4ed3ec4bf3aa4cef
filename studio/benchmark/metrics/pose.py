"""Pose metrics of tracked COCO-17 keypoints against ground truth: PCK@alpha, OKS and jitter.

Pure numpy. Used by the benchmark when a dataset's tracks are named COCO-17
keypoints (``studio.pose``; several people as ``person<k>/<keypoint>``), e.g. a
PoseTrack video converted with ``python -m studio gt export`` or an Annotate-tab file.

All distances are in the *source video's* pixels (not the 256x256 metric space,
which would squash a person's aspect). Per person and frame, the **box** is the
bounding box of that person's ground-truth keypoints visible on that frame; frames
where it has no area (fewer than two distinct visible keypoints) are not scored.
Which frames count follows the TAP-Vid protocol (``evaluation_mask``: not the
query frame; in ``first`` mode only frames after it) and only where the keypoint
is visible in the ground truth; predicted visibility is not used.

* **PCK@alpha**: share of those (keypoint, frame) pairs whose prediction lies
  within ``alpha * max(box width, box height)`` of the truth.
* **OKS** (COCO's object keypoint similarity): per person, query round and frame,
  ``mean_i exp(-d_i^2 / (2 s^2 k_i^2))`` over its scored keypoints, with ``s^2`` the
  box area (COCO uses the segment area, which keypoint-only ground truth lacks) and
  ``k_i = 2 sigma_i`` (COCO's sigmas); then the mean over those instances. A round
  is one query set: all queries in ``first`` mode, each query frame in ``strided``.
* **Jitter**: mean second difference ``|p(t+1) - 2 p(t) + p(t-1)|`` of each keypoint
  over frame triples that are all scored, as a percentage of the box's longer side
  at ``t``; ``jitter`` for the prediction and ``jitter_gt`` for the ground truth on
  the same triples (a prediction that shakes more than the people do has
  ``jitter > jitter_gt``).
"""

from __future__ import annotations

import numpy as np

from studio.benchmark.metrics.tapvid import evaluation_mask
from studio.pose import COCO_SIGMAS, pose_points

PCK_ALPHAS: tuple[float, ...] = (0.1, 0.2)
"""Thresholds of ``pck@alpha`` as fractions of the box's longer side."""

POSE_KEYS: tuple[str, ...] = (*(f"pck@{a:g}" for a in PCK_ALPHAS), "oks", "jitter", "jitter_gt")
"""Keys ``pose_metrics`` returns; PCK and OKS are fractions in [0, 1], jitter is in % of the box per frame^2."""

PERCENT_KEYS: tuple[str, ...] = ("jitter", "jitter_gt")
"""Pose keys already in percent (not scaled by 100 in reports)."""


def person_boxes(points: np.ndarray, visible: np.ndarray, person: np.ndarray) -> dict[str, np.ndarray]:
    """Per person, the box of its visible ground-truth keypoints on every frame.

    Args:
      points: [N, T, 2] ``(x, y)`` pixels.
      visible: [N, T] bool.
      person: [N] person label per track (only tracks with a label count; ``None`` = not a keypoint).

    Returns:
      ``{person: float64 [T, 2] (width, height)}``; 0 where fewer than two keypoints are visible.
    """
    out = {}
    labels = [p for p in dict.fromkeys(person) if p is not None]
    for p in labels:
        rows = np.array([q == p for q in person])
        pts = np.asarray(points[rows], np.float64)
        vis = np.asarray(visible[rows], bool) & np.isfinite(pts).all(axis=-1)
        big = np.where(vis[..., None], pts, -np.inf).max(axis=0)
        small = np.where(vis[..., None], pts, np.inf).min(axis=0)
        wh = np.where(vis.sum(axis=0)[:, None] >= 2, big - small, 0.0)
        out[p] = np.nan_to_num(wh, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def pose_metrics(
    names: list[str],
    gt_points: np.ndarray,
    gt_visible: np.ndarray,
    track_index: np.ndarray,
    query_frames: np.ndarray,
    pred: np.ndarray,
    query_mode: str,
) -> dict[str, float] | None:
    """PCK@alpha, OKS and jitter of one video (module doc), or None when no track is a COCO keypoint.

    Args:
      names: N names of the ground-truth tracks.
      gt_points: [N, T, 2] ground truth ``(x, y)`` in source pixels.
      gt_visible: [N, T] bool.
      track_index: [M] the ground-truth track of each query.
      query_frames: [M] the frame of each query.
      pred: [M, T, 2] predicted ``(x, y)`` in the same pixels.
      query_mode: ``"first"`` or ``"strided"``.

    Returns:
      ``{key: value}`` for every key of ``POSE_KEYS`` (NaN when nothing could be scored).
    """
    pp = pose_points(names)
    if not pp.is_pose:
        return None
    person = [p if k else None for p, k in zip(pp.person, pp.keypoint)]
    boxes = person_boxes(gt_points, gt_visible, person)
    track_index = np.asarray(track_index, np.int64)
    pred = np.asarray(pred, np.float64)
    t_len = gt_points.shape[1]
    rows = np.array([person[i] is not None for i in track_index], bool)
    nan = {k: float("nan") for k in POSE_KEYS}
    if not rows.any():
        return nan
    idx = track_index[rows]
    q_frames = np.asarray(query_frames)[rows]
    p = pred[rows]
    g = np.asarray(gt_points, np.float64)[idx]
    wh = np.stack([boxes[person[i]] for i in idx])  # [M', T, 2]
    side = wh.max(axis=-1)
    area = wh[..., 0] * wh[..., 1]
    scored = evaluation_mask(q_frames, t_len, query_mode) & np.asarray(gt_visible, bool)[idx] & (area > 0)
    dist = np.linalg.norm(p - g, axis=-1)
    out = dict(nan)
    if scored.any():
        for a in PCK_ALPHAS:
            out[f"pck@{a:g}"] = float((dist[scored] <= a * side[scored]).mean())
        out["oks"] = _oks(dist, area, scored, [pp.keypoint[i] for i in idx], [person[i] for i in idx], q_frames,
                          query_mode)
    triple = scored[:, 1:-1] & scored[:, :-2] & scored[:, 2:]
    if triple.any():
        acc_p = np.linalg.norm(p[:, 2:] - 2 * p[:, 1:-1] + p[:, :-2], axis=-1) / np.maximum(side[:, 1:-1], 1e-9)
        acc_g = np.linalg.norm(g[:, 2:] - 2 * g[:, 1:-1] + g[:, :-2], axis=-1) / np.maximum(side[:, 1:-1], 1e-9)
        out["jitter"] = float(acc_p[triple].mean() * 100)
        out["jitter_gt"] = float(acc_g[triple].mean() * 100)
    return out


def _oks(dist, area, scored, keypoints, persons, q_frames, query_mode) -> float:
    """Mean OKS over (person, round, frame) instances with at least one scored keypoint."""
    k2 = np.array([(2 * COCO_SIGMAS[k]) ** 2 for k in keypoints])[:, None]
    sim = np.exp(-(dist**2) / (2 * np.maximum(area, 1e-12) * k2))
    rounds = np.zeros(len(keypoints), np.int64) if query_mode == "first" else np.asarray(q_frames, np.int64)
    groups: dict[tuple, list[int]] = {}
    for m, key in enumerate(zip(persons, rounds.tolist())):
        groups.setdefault(key, []).append(m)
    values = []
    for members in groups.values():
        s, ok = sim[members], scored[members]
        count = ok.sum(axis=0)
        frames = count > 0
        values.append((np.where(ok, s, 0).sum(axis=0)[frames] / count[frames]))
    flat = np.concatenate(values) if values else np.zeros(0)
    return float(flat.mean()) if flat.size else float("nan")
