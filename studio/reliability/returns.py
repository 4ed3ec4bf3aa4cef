"""Return trips: where each predicted position lands when it is tracked back to its query frame.

A return trip starts at a prediction ``tracks[t, i]`` on frame ``t`` and asks where
that image point is on the point's query frame ``s_i``; the cycle error is the
distance from there to the query. Three engines, each costing about one pass over
the video (never one pass per frame):

* ``jump_returns`` (weight-free): one jump per frame from frame ``t`` straight to the
  query frame. Frame ``t`` is first aligned to the query frame (a homography fitted
  to all points' motion), then each point's patch is searched for by normalised
  cross-correlation in a window around where its nearest neighbours say it lands
  (the median of *their* predicted motion), so the point's own answer is never
  assumed. Cost: per frame one warp, a nearest-neighbour search and ``N`` small
  template matches, on frames shrunk to at most 512 px.
* ``model_returns`` (any point tracker): the tracker itself, once, with a batch of
  backward queries ``(t, tracks[t, i])`` for every checked frame ``t``; read where
  each lands on its query frame (a forward-only tracker: twice, the returns to an
  earlier frame on the time-reversed video). Cost: one more run of the tracker with up to
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

CHECK_SIDE = 512
"""``jump_returns`` works on frames at most this many pixels on the long side."""
MIN_SCORE = 0.3
"""Normalised cross-correlation below which a patch counts as not found in the search window."""
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
    helpers: np.ndarray | None = None,
    neighbours: int = 8,
    max_side: int = CHECK_SIDE,
    min_score: float = MIN_SCORE,
    progress: ProgressFn = no_progress,
) -> tuple[np.ndarray, np.ndarray]:
    """Return trips by one jump per frame: the point's patch searched for around the neighbours' estimate.

    For frame ``t`` and query frame ``s``: frame ``t`` is warped onto frame ``s`` by the homography
    that best explains all guides' motion between them (RANSAC), so camera rotation and zoom do not
    read as error; each point's patch there (side ``2 * half + 1``) is searched for in frame ``s`` by
    normalised cross-correlation within ``radius`` px of where its nearest neighbours say it lands
    (the median of *their* motion, never its own); the best match, refined to sub-pixel by a
    parabola, is where it lands. A patch that matches nowhere in the window (score below
    ``min_score``) has its cycle error counted as at least ``radius``. Patch and window scale with
    ``tolerance_px``: ``half = max(7, 0.75 * tol)``, ``radius = max(8, 2 * tol)`` at the checked size.

    Args:
      video: [T, H, W, 3] uint8 RGB.
      tracks: [T, N, 2] float32 ``(x, y)`` predictions in the video's pixels.
      queries: [N, 3] ``(t, x, y)``.
      helpers: optional helper tracks [T, P, 2]: more guides for the neighbour estimate when
        there are few points (``helper_tracks``).
      neighbours: guides per estimate.
      max_side: frames are checked at most this many pixels on the long side (shrunk, area filter).
      min_score: lowest correlation that counts as found.
      progress: ``ProgressFn``.

    Returns:
      ``(back [T, N, 2] float32, floor [T, N] float32)``: where each prediction lands on its query
      frame (the query itself there), in the video's pixels, and the least cycle error to count
      (the search radius where the patch was not found, else 0).
    """
    from studio.reliability.score import tolerance_px

    t_len, n = tracks.shape[:2]
    h, w = video.shape[1:3]
    scale = min(1.0, max_side / max(h, w))
    size = (max(8, round(h * scale)), max(8, round(w * scale)))
    to_check = np.array([size[1] / w, size[0] / h], np.float32)
    gray = _gray(video).astype(np.float32)
    if size != (h, w):
        gray = np.stack([cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_AREA) for f in gray])
    guides = (tracks if helpers is None else np.concatenate([tracks, helpers], axis=1)) * to_check
    tol = tolerance_px(size)
    half, radius = max(7, round(0.75 * tol)), max(8, round(2 * tol))
    side = 2 * half + 1
    frames = queries[:, 0].astype(int)
    back = np.broadcast_to(queries[None, :, 1:] * to_check, (t_len, n, 2)).astype(np.float32).copy()
    floor = np.zeros((t_len, n), np.float32)
    k = min(neighbours, guides.shape[1] - 1)
    sources = np.unique(frames)
    steps, done = max(1, len(sources) * (t_len - 1)), 0
    for s in sources:
        rows = np.nonzero(frames == s)[0]
        for t in range(t_len):
            if t == s:
                continue
            start = _onto_frame(guides[t, rows], size)
            # Guides are the other points (and helpers); a point never guides itself.
            guess = neighbour_estimate(start, guides[t], guides[s], k, own=rows) if k >= 1 else start.copy()
            source, origin = gray[t], start
            hom = _alignment(guides[t], guides[s], size)
            if hom is not None:
                # Frame t seen from frame s's viewpoint: only the point's own slip is left to measure.
                source = cv2.warpPerspective(gray[t], hom, (size[1], size[0]), flags=cv2.INTER_LINEAR,
                                             borderMode=cv2.BORDER_REPLICATE)
                origin = cv2.perspectiveTransform(start.reshape(-1, 1, 2).astype(np.float64), hom)
                origin = origin.reshape(-1, 2).astype(np.float32)
            found, score = _search(source, gray[s], origin, guess, half, radius)
            back[t, rows] = found
            floor[t, rows] = np.where(score >= min_score, 0.0, radius / float(to_check.mean()))
            done += 1
            progress(done / steps, "checking tracks")
    return back / to_check, floor


def _search(source: np.ndarray, target: np.ndarray, origin: np.ndarray, guess: np.ndarray, half: int, radius: int):
    """Each ``source`` patch around ``origin`` [M, 2] searched for in ``target`` within ``radius`` of ``guess``.

    Returns:
      ``(positions [M, 2] float32 in target pixels, best correlation [M], -1 where not searched)``.
    """
    side, span = 2 * half + 1, 2 * half + 1 + 2 * radius
    out = guess.astype(np.float32).copy()
    best = np.full(len(origin), -1.0, np.float32)
    for i, (o, g) in enumerate(zip(origin.tolist(), guess.tolist())):
        patch = cv2.getRectSubPix(source, (side, side), (o[0], o[1]))
        if cv2.meanStdDev(patch)[1][0, 0] < 1e-3:
            continue  # a flat patch matches everywhere equally: nothing to find
        window = cv2.getRectSubPix(target, (span, span), (g[0], g[1]))
        score = cv2.matchTemplate(window, patch, cv2.TM_CCOEFF_NORMED)
        _, top, _, (bx, by) = cv2.minMaxLoc(score)
        if top != top:  # NaN
            continue
        out[i, 0] = g[0] + bx - radius + _vertex(score, by, bx, 0)
        out[i, 1] = g[1] + by - radius + _vertex(score, by, bx, 1)
        best[i] = top
    return out, best


def _vertex(score: np.ndarray, row: int, col: int, axis: int) -> float:
    """Sub-pixel offset in (-0.5, 0.5) of the peak at ``score[row, col]`` along x (``axis`` 0) or y (1),
    from a parabola through it and its two neighbours; 0 at the window's edge."""
    if axis == 0:
        if not 0 < col < score.shape[1] - 1:
            return 0.0
        a, b, c = score[row, col - 1], score[row, col], score[row, col + 1]
    else:
        if not 0 < row < score.shape[0] - 1:
            return 0.0
        a, b, c = score[row - 1, col], score[row, col], score[row + 1, col]
    curve = float(a) - 2.0 * float(b) + float(c)
    return 0.5 * (float(a) - float(c)) / curve if curve < 0 else 0.0


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
        back[tt, ii] = _landings(tracker, video, bq, queries[ii, 0].astype(int), progress)
        checked[tt, ii] = True
    if len(frames) < t_len:
        back = fill_between(back, checked)
    return back, frames


def _landings(tracker, video: np.ndarray, bq: np.ndarray, targets: np.ndarray, progress: ProgressFn) -> np.ndarray:
    """Where each backward query [M, 3] ``(t, x, y)`` lands on its target frame [M]: [M, 2] float32.

    A tracker that follows points both ways from their query frame gets one call. A forward-only
    one (``tracks_backward = False``, e.g. an online model) knows nothing of the frames before a
    query, so the returns to an earlier frame run on the time-reversed video, where it comes later.
    """
    if getattr(tracker, "tracks_backward", True):
        result = tracker.track(video, bq, progress=progress)
        return result.tracks[targets, np.arange(len(bq))]
    t_len = video.shape[0]
    out = np.empty((len(bq), 2), np.float32)
    earlier = bq[:, 0].astype(int) > targets
    parts = [(~earlier, video, bq, targets)]
    if earlier.any():
        flipped = bq.copy()
        flipped[:, 0] = (t_len - 1) - flipped[:, 0]
        parts.append((earlier, np.ascontiguousarray(video[::-1]), flipped, (t_len - 1) - targets))
    parts = [p for p in parts if p[0].any()]
    for k, (pick, frames, q, target) in enumerate(parts):
        share = lambda f, d="", k=k: progress((k + min(max(float(f), 0.0), 1.0)) / len(parts), d)  # noqa: E731
        result = tracker.track(frames, q[pick], progress=share)
        out[pick] = result.tracks[target[pick], np.arange(int(pick.sum()))]
    return out


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
