"""Return trips: where each predicted position lands when it is tracked back to its query frame.

A return trip starts at a prediction ``tracks[t, i]`` on frame ``t`` and asks where
that image point is on the point's query frame ``s_i``; the cycle error is the
distance from there to the query. Three engines, each costing about one pass over
the video (never one pass per frame):

* ``jump_returns`` (weight-free): one pyramidal Lucas-Kanade jump per frame from
  frame ``t`` straight to the query frame, all points of that frame in one call.
  The search starts where the point's nearest neighbours on frame ``t`` say it
  should land (the median of *their* predicted motion from ``t`` to ``s``), so large
  motions need no deep pyramid and the point's own answer is never assumed; where
  LK finds no answer (flat texture) the neighbours' estimate stands. Cost: ``T - 1``
  LK calls of ``N`` points per query frame plus a nearest-neighbour search per frame.
* ``model_returns`` (any point tracker): the tracker itself, once, with a batch of
  backward queries ``(t, tracks[t, i])`` for every checked frame ``t``; read where
  each lands on its query frame. Cost: one more run of the tracker with up to
  ``T x N`` queries (``stride`` checks every k-th frame to bound it).
* ``dense_returns`` (dense trackers, ``studio.dense.DenseTracker``): the initial
  tracks once more, then the dense field from every frame to the query frame,
  sampled at the predictions: ``T`` refinements per query frame, as in tracking.

All take and give positions in the pixels of the video they are given.
"""

from __future__ import annotations

import cv2
import numpy as np

from studio.progress import ProgressFn, no_progress

_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
MIN_NEIGHBOURS = 4
"""Fewer other points than this give no neighbour estimate: ``jump_returns`` adds helper points."""


def _gray(video: np.ndarray) -> np.ndarray:
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video])


def _onto_frame(xy: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    return np.clip(xy, -0.5, np.array([w - 0.5, h - 0.5], np.float32)).astype(np.float32)


def nearest(points: np.ndarray, others: np.ndarray, k: int, own: np.ndarray | None = None) -> np.ndarray:
    """Indices [M, k] of the ``k`` nearest ``others`` [P, 2] to each of ``points`` [M, 2].

    ``own`` [M] (optional) is each point's own index in ``others``: a point is not its own
    neighbour. Rows are computed in blocks so the [block, P] distance matrix stays small.
    """
    out = np.empty((len(points), k), np.intp)
    for a in range(0, len(points), 512):
        d2 = np.sum((points[a : a + 512, None, :] - others[None, :, :]) ** 2, axis=-1)
        if own is not None:
            d2[np.arange(d2.shape[0]), own[a : a + 512]] = np.inf
        out[a : a + 512] = np.argpartition(d2, k - 1, axis=1)[:, :k]
    return out


def neighbour_estimate(
    start: np.ndarray, guides_from: np.ndarray, guides_to: np.ndarray, k: int, own: np.ndarray | None = None
) -> np.ndarray:
    """Where each of ``start`` [M, 2] goes by the median motion of its ``k`` nearest guides.

    Args:
      start: [M, 2] positions on frame t.
      guides_from, guides_to: [P, 2] the guides' positions on frame t and on the target frame.
      k: neighbours per point (at most P, or P - 1 with ``own``).
      own: optional [M] index of each start point among the guides (left out of its own estimate).

    Returns:
      [M, 2] float32 estimated positions on the target frame.
    """
    idx = nearest(start, guides_from, k, own)
    motion = guides_to - guides_from
    return (start + np.median(motion[idx], axis=1)).astype(np.float32)


def jump_returns(
    video: np.ndarray,
    tracks: np.ndarray,
    queries: np.ndarray,
    helpers: tuple[np.ndarray, np.ndarray] | None = None,
    window: int = 15,
    levels: int = 3,
    neighbours: int = 8,
    align: bool = True,
    min_eig: float = 1e-4,
    progress: ProgressFn = no_progress,
) -> np.ndarray:
    """Return trips by one LK jump per frame, started at the neighbours' estimate.

    Args:
      video: [T, H, W, 3] uint8 RGB.
      tracks: [T, N, 2] float32 ``(x, y)`` predictions in the video's pixels.
      queries: [N, 3] ``(t, x, y)``.
      helpers: optional helper tracks [T, P, 2]: more guides for the neighbour estimate when
        there are few points (``helper_tracks``).
      window, levels: LK window side and pyramid levels.
      neighbours: guides per estimate.
      align: first warp frame t onto the query frame by the homography that best explains all
        guides' motion between them (RANSAC), so camera rotation and zoom do not read as error.
      min_eig: LK's smallest accepted gradient eigenvalue (OpenCV's ``minEigThreshold``): flatter
        patches get no LK answer and keep the neighbours' estimate.
      progress: ``ProgressFn``.

    Returns:
      [T, N, 2] float32: where each prediction lands on its query frame (the query itself on
      the query frame).
    """
    t_len, n = tracks.shape[:2]
    size = video.shape[1:3]
    gray = _gray(video)
    frames = queries[:, 0].astype(int)
    back = np.broadcast_to(queries[None, :, 1:], (t_len, n, 2)).astype(np.float32).copy()
    guides = tracks if helpers is None else np.concatenate([tracks, helpers], axis=1)
    k = min(neighbours, guides.shape[1] - 1)
    sources = np.unique(frames)
    steps, done = max(1, len(sources) * (t_len - 1)), 0
    for s in sources:
        rows = np.nonzero(frames == s)[0]
        for t in range(t_len):
            if t == s:
                continue
            start = _onto_frame(tracks[t, rows], size)
            # Guides are the other points (and helpers); a point never guides itself.
            guess = neighbour_estimate(start, guides[t], guides[s], k, own=rows) if k >= 1 else start.copy()
            source, origin = gray[t], start
            if align:
                hom = _alignment(guides[t], guides[s], size)
                if hom is not None:
                    # Frame t seen from frame s's viewpoint: a rotation or zoom between them no longer
                    # changes the patch LK compares, so only the point's own slip is left to measure.
                    source = cv2.warpPerspective(gray[t], hom, (size[1], size[0]), flags=cv2.INTER_LINEAR,
                                                 borderMode=cv2.BORDER_REPLICATE)
                    origin = cv2.perspectiveTransform(start.reshape(-1, 1, 2).astype(np.float64), hom)
                    origin = origin.reshape(-1, 2).astype(np.float32)
            found, status, _ = cv2.calcOpticalFlowPyrLK(
                source, gray[s], origin.reshape(-1, 1, 2), _onto_frame(guess, size).reshape(-1, 1, 2).copy(),
                winSize=(window, window), maxLevel=levels, criteria=_CRITERIA,
                flags=cv2.OPTFLOW_USE_INITIAL_FLOW, minEigThreshold=min_eig,
            )
            found = found.reshape(-1, 2)
            lost = status.reshape(-1) == 0
            found[lost] = guess[lost]  # no texture to match: the neighbours' estimate stands
            back[t, rows] = found
            done += 1
            progress(done / steps, "checking tracks")
    return back


def _alignment(src: np.ndarray, dst: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """The homography [3, 3] mapping ``src`` [P, 2] onto ``dst`` by RANSAC, or None when it cannot be had."""
    if len(src) < 8:
        return None
    hom, inliers = cv2.findHomography(src.astype(np.float64), dst.astype(np.float64), cv2.RANSAC,
                                      max(2.0, 0.01 * max(size)))
    if hom is None or inliers is None or inliers.sum() < 8 or not np.isfinite(hom).all():
        return None
    return hom


def helper_tracks(tracker, video: np.ndarray, queries: np.ndarray, per_side: int = 6, progress=no_progress):
    """Guides for ``jump_returns`` when there are few points: a grid on each query frame, tracked.

    Args:
      tracker: a weight-free point tracker (``lk``): cheap for a few dozen points.
      video: [T, H, W, 3] uint8.
      queries: [N, 3] the user's queries.
      per_side: grid points per side.

    Returns:
      tracks [T, P, 2] float32 in the video's pixels.
    """
    from studio.queries import grid_queries

    frames = np.unique(queries[:, 0].astype(int))
    grid = np.concatenate([grid_queries(video.shape[1:3], per_side, int(s)) for s in frames])
    result = tracker.track(video, grid, progress=progress)
    return result.tracks


def backward_queries(tracks: np.ndarray, queries: np.ndarray, frames: np.ndarray, size: tuple[int, int]):
    """The batch of backward queries ``(t, tracks[t, i])`` for each checked frame ``t != s_i``.

    Returns:
      ``(queries [M, 3] float32, t [M], i [M])``: positions are moved onto the frame.
    """
    t_len, n = tracks.shape[:2]
    q_frames = queries[:, 0].astype(int)
    tt, ii = np.meshgrid(np.asarray(frames, int), np.arange(n), indexing="ij")
    keep = tt != q_frames[ii]
    tt, ii = tt[keep], ii[keep]
    xy = _onto_frame(tracks[tt, ii], size)
    return np.concatenate([tt[:, None].astype(np.float32), xy], axis=1), tt, ii


def checked_frames(t_len: int, n: int, max_queries: int) -> np.ndarray:
    """Frames to check so that at most about ``max_queries`` backward queries are made (every k-th)."""
    stride = max(1, int(np.ceil((t_len - 1) * n / max(max_queries, 1))))
    frames = np.arange(0, t_len, stride)
    return np.union1d(frames, [t_len - 1])


def fill_between(back: np.ndarray, checked: np.ndarray) -> np.ndarray:
    """Cycle end points on unchecked frames: linear in time between the nearest checked ones.

    Args:
      back: [T, N, 2] return positions, valid where ``checked``.
      checked: [T, N] bool, at least one True per point (its query frame).
    """
    t_len, n = back.shape[:2]
    out = back.copy()
    ts = np.arange(t_len)
    for i in range(n):
        have = np.nonzero(checked[:, i])[0]
        for c in range(2):
            out[:, i, c] = np.interp(ts, have, back[have, i, c])
    return out


def model_returns(
    tracker,
    video: np.ndarray,
    tracks: np.ndarray,
    queries: np.ndarray,
    max_queries: int = 20000,
    progress: ProgressFn = no_progress,
) -> tuple[np.ndarray, np.ndarray]:
    """Return trips by the tracker itself: one call with every checked frame's predictions as queries.

    Args:
      tracker: the ``PointTracker`` that made ``tracks``.
      video, tracks, queries: as in ``jump_returns``.
      max_queries: cap on backward queries; beyond it only every k-th frame is checked and the
        frames in between are interpolated.

    Returns:
      ``(back [T, N, 2] float32, checked frames [F])``.
    """
    t_len, n = tracks.shape[:2]
    frames = checked_frames(t_len, n, max_queries)
    bq, tt, ii = backward_queries(tracks, queries, frames, video.shape[1:3])
    back = np.broadcast_to(queries[None, :, 1:], (t_len, n, 2)).astype(np.float32).copy()
    checked = np.zeros((t_len, n), bool)
    checked[queries[:, 0].astype(int), np.arange(n)] = True
    if len(bq):
        result = tracker.track(video, bq, progress=progress)
        back[tt, ii] = result.tracks[queries[ii, 0].astype(int), np.arange(len(bq))]
        checked[tt, ii] = True
    if len(frames) < t_len:
        back = fill_between(back, checked)
    return back, frames


def dense_returns(tracker, video: np.ndarray, tracks: np.ndarray, queries: np.ndarray,
                  progress: ProgressFn = no_progress) -> np.ndarray:
    """Return trips through a dense tracker's field from every frame to each query frame.

    Args:
      tracker: a ``studio.dense.DenseTracker`` (``prepare`` and ``field``).
      video, tracks, queries: as in ``jump_returns``.

    Returns:
      [T, N, 2] float32.
    """
    from studio.conventions import rescale_pixels
    from studio.dense.tracker import _bilinear

    t_len, n = tracks.shape[:2]
    h, w = video.shape[1:3]
    prep = tracker.prepare(video, lambda f, d: progress(0.5 * f, "checking tracks: initial tracks"))
    work = prep.work_size
    frames = queries[:, 0].astype(int)
    sources = np.unique(frames)
    back = np.broadcast_to(queries[None, :, 1:], (t_len, n, 2)).astype(np.float32).copy()
    steps, done = max(1, len(sources) * (t_len - 1)), 0
    for t in range(t_len):
        for s in sources:
            if s == t:
                continue
            rows = np.nonzero(frames == s)[0]
            start = rescale_pixels(_onto_frame(tracks[t, rows], (h, w)), (h, w), work)
            for _, flow, _ in tracker.field(prep, t, [int(s)]):
                back[t, rows] = rescale_pixels(start + _bilinear(flow, start), work, (h, w))
            done += 1
            progress(0.5 + 0.5 * done / steps, "checking tracks")
    return back
