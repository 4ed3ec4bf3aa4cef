"""Measuring reliability against ground truth: does it rank the wrong predictions below the right ones?"""

from __future__ import annotations

import numpy as np

WRONG_PX = 4.0
"""A prediction this many pixels or more from the truth counts as wrong."""


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``positive`` (ties count half); NaN without both classes.

    Equal to the probability that a random positive scores higher than a random negative
    (the Mann-Whitney U statistic over the product of the class sizes).
    """
    score = np.asarray(score, np.float64).ravel()
    positive = np.asarray(positive, bool).ravel()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), np.float64)
    _, inverse, counts = np.unique(score[order], return_inverse=True, return_counts=True)
    mean_rank = np.bincount(inverse, weights=np.arange(1, len(score) + 1)) / counts  # ties share their mean rank
    ranks[order] = mean_rank[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def scored_entries(queries: np.ndarray, gt_visible: np.ndarray) -> np.ndarray:
    """[T, N] bool: the predictions that are judged: the truth shows the point, not on its query frame."""
    mask = np.asarray(gt_visible, bool).copy()
    mask[np.asarray(queries)[:, 0].astype(int), np.arange(mask.shape[1])] = False
    return mask


def reliability_auroc(
    reliability: np.ndarray, tracks: np.ndarray, gt_tracks: np.ndarray, gt_visible: np.ndarray, queries: np.ndarray,
    wrong_px: float = WRONG_PX,
) -> dict[str, float]:
    """How well low reliability finds predictions more than ``wrong_px`` off.

    Args:
      reliability: [T, N] in [0, 1].
      tracks, gt_tracks: [T, N, 2] pixels.
      gt_visible: [T, N] bool (positions are judged only where the truth shows the point).
      queries: [N, 3] (query frames are not judged).

    Returns:
      ``auroc`` (of ``1 - reliability`` for "wrong"), ``wrong`` (share of judged predictions that
      are wrong), ``judged`` (their number), and ``wrong_flagged`` / ``right_flagged``: the share
      of wrong and of right predictions with reliability below 0.5.
    """
    judged = scored_entries(queries, gt_visible)
    err = np.linalg.norm(np.asarray(tracks, np.float64) - gt_tracks, axis=-1)[judged]
    rel = np.asarray(reliability, np.float64)[judged]
    wrong = err > wrong_px
    return {
        "auroc": auroc(1.0 - rel, wrong),
        "wrong": float(wrong.mean()) if wrong.size else float("nan"),
        "judged": int(judged.sum()),
        "wrong_flagged": float((rel[wrong] < 0.5).mean()) if wrong.any() else float("nan"),
        "right_flagged": float((rel[~wrong] < 0.5).mean()) if (~wrong).any() else float("nan"),
    }
