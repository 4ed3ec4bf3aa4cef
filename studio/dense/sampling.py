"""Initial sparse tracks: query points half on motion boundaries, half uniform, tracked by any point tracker."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from studio.dense.boundaries import frame_boundaries
from studio.progress import ProgressFn, no_progress


@dataclass
class InitialTracks:
    """Sparse tracks that seed the dense field.

    Attributes:
      tracks: [T, N, 2] float32 ``(x, y)`` pixels of the video they were made on.
      visible: [T, N] bool.
      queries: [N, 3] float32 ``(t, x, y)`` where each track was started.
      refound: optional [T, N] bool, visible because re-detection found them by appearance
        (``studio.dense.redetect``: checked against a view of the region, not followed frame to frame).
    """

    tracks: np.ndarray
    visible: np.ndarray
    queries: np.ndarray
    refound: np.ndarray | None = None


def frame_quotas(num_frames: int, count: int) -> np.ndarray:
    """Points per frame for one round: ``count // T`` each, the remainder on frame 0. [T] int."""
    quotas = np.full(num_frames, count // num_frames, dtype=np.int64)
    quotas[0] += count - quotas.sum()
    return quotas


def sample_frame_points(
    boundaries: np.ndarray, count: int, rng: np.random.Generator, region: np.ndarray | None = None
) -> np.ndarray:
    """``count`` integer pixel positions: half drawn without replacement from boundary
    pixels (all of them when fewer), the rest uniform over the frame (or over ``region``).

    Args:
      boundaries: [H, W] bool.
      count: number of points.
      rng: random generator (seeded by the caller).
      region: optional [H, W] bool; points are drawn only inside it.

    Returns:
      [count, 2] float32 ``(x, y)`` pixel centres.
    """
    h, w = boundaries.shape
    if region is not None:
        boundaries = boundaries & region
    ys, xs = np.nonzero(boundaries)
    n_edge = min(count // 2, len(xs))
    pick = rng.choice(len(xs), n_edge, replace=False) if n_edge else np.zeros(0, np.int64)
    n_rest = count - n_edge
    if region is None:
        rest = np.stack([rng.integers(0, w, n_rest), rng.integers(0, h, n_rest)], axis=-1)
    else:
        ry, rx = np.nonzero(region)
        at = rng.integers(0, len(rx), n_rest) if len(rx) else np.zeros(0, np.int64)
        rest = np.stack([rx[at], ry[at]], axis=-1)
    edge = np.stack([xs[pick], ys[pick]], axis=-1)
    return np.concatenate([edge, rest]).astype(np.float32)


def sample_queries(
    video: np.ndarray,
    num_tracks: int,
    flow_model,
    rng: np.random.Generator,
    round_size: int | None = None,
    progress: ProgressFn = no_progress,
    regions: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Query points for the initial tracks, in rounds spread over all frames.

    Args:
      video: [T, H, W, 3] uint8.
      num_tracks: total N over whole frames.
      flow_model: a ``FlowModel`` for the motion boundaries (computed once per frame).
      rng: seeded generator.
      round_size: points per round (default: all N in one round).
      progress: called per boundary map.
      regions: optional [T, H, W] bool, the part of each frame the request needs: points are
        drawn only there, at the density N points over whole frames would have (each frame's
        quota times the share of the frame its region covers), so fewer are tracked.

    Returns:
      list of [n_r, 3] float32 ``(t, x, y)`` arrays, one per round (empty rounds left out).
    """
    t_len = video.shape[0]
    round_size = int(round_size or num_tracks)
    share = None if regions is None else regions.reshape(t_len, -1).mean(axis=1)
    cache: dict[int, np.ndarray] = {}
    rounds = []
    left = int(num_tracks)
    while left > 0:
        size = min(round_size, left)
        left -= size
        rows = []
        for t, quota in enumerate(frame_quotas(t_len, size)):
            if share is not None:
                quota = int(np.ceil(quota * share[t])) if share[t] > 0 else 0
            if quota == 0:
                continue
            if t not in cache:
                cache[t] = frame_boundaries(video, t, flow_model)
                progress(min(len(cache) / t_len, 1.0), "motion boundaries")
            xy = sample_frame_points(cache[t], int(quota), rng, None if regions is None else regions[t])
            rows.append(np.concatenate([np.full((len(xy), 1), t, np.float32), xy], axis=1))
        if rows:
            rounds.append(np.concatenate(rows))
    return rounds


def regions_around(tracks: np.ndarray, size: tuple[int, int], radius: float) -> np.ndarray:
    """Where a request needs initial tracks: within ``radius`` px of given tracks, in every frame.

    Args:
      tracks: [T, N, 2] float ``(x, y)`` pixels (hidden points count too: they are carried
        along with their surroundings, so they still say where the object is).
      size: ``(H, W)``.
      radius: pixels.

    Returns:
      [T, H, W] bool.
    """
    h, w = size
    out = np.zeros((tracks.shape[0], h, w), bool)
    for t, xy in enumerate(tracks):
        far = np.full((h, w), 255, np.uint8)  # 0 where a track is (clipped to the frame)
        ij = np.rint(xy).astype(int)
        ij = ij[(ij[:, 0] >= -radius) & (ij[:, 0] < w + radius) & (ij[:, 1] >= -radius) & (ij[:, 1] < h + radius)]
        far[np.clip(ij[:, 1], 0, h - 1), np.clip(ij[:, 0], 0, w - 1)] = 0
        # Distance to the nearest track: one pass whatever the radius (a large dilation is slow).
        out[t] = cv2.distanceTransform(far, cv2.DIST_L2, 5) <= radius
    return out


def initial_tracks(
    video: np.ndarray,
    tracker,
    flow_model,
    num_tracks: int = 2048,
    round_size: int | None = None,
    seed: int = 0,
    progress: ProgressFn = no_progress,
    regions: np.ndarray | None = None,
) -> InitialTracks:
    """Sample queries (``sample_queries``) and track them with ``tracker``.

    Args:
      video: [T, H, W, 3] uint8.
      tracker: a ``studio.trackers.base.PointTracker``; it tracks each query forwards
        and backwards from its own frame.
      flow_model: ``FlowModel`` for motion boundaries.
      num_tracks, round_size, seed, regions: see ``sample_queries``.

    Returns:
      ``InitialTracks`` in ``video``'s pixels.
    """
    rng = np.random.default_rng(seed)
    rounds = sample_queries(video, num_tracks, flow_model, rng, round_size,
                            lambda f, d: progress(0.2 * f, d), regions)
    t_len = video.shape[0]
    if not rounds:
        return InitialTracks(np.zeros((t_len, 0, 2), np.float32), np.zeros((t_len, 0), bool), np.zeros((0, 3), np.float32))
    tracks, visible, queries = [], [], []
    for i, q in enumerate(rounds):
        base, span = 0.2 + 0.8 * i / len(rounds), 0.8 / len(rounds)
        r = tracker.track(video, q, progress=lambda f, d, b=base, s=span: progress(b + s * f, "initial tracks"))
        tracks.append(r.tracks)
        visible.append(r.visible)
        queries.append(r.queries)
    return InitialTracks(np.concatenate(tracks, 1), np.concatenate(visible, 1), np.concatenate(queries, 0))


MIN_MASK_TRACKS = 8
"""Fewer tracks than this inside a mask and the whole frame's tracks are used instead."""


def restrict_to_mask(
    init: InitialTracks,
    video: np.ndarray,
    tracker,
    mask: np.ndarray,
    frame: int,
    extra: int,
    seed: int = 0,
    more: InitialTracks | None = None,
) -> InitialTracks:
    """Initial tracks for a region: add ``extra`` tracks started inside ``mask`` on ``frame``, keep only
    the tracks that are visible inside the mask on that frame.

    DOT samples tracks over the whole frame, which suits dense flow of everything. When
    the user marks one object, tracks from its surroundings only mislead: at the
    object's edge the nearest track is often on the background, and the region smears
    onto it (seen on apple.mp4, whose apple turns while the table slides past). Driving
    the region by its own tracks keeps it on the object.

    Args:
      init: tracks over all frames in ``video``'s pixels.
      video: [T, H, W, 3] uint8, the video the tracks were made on.
      tracker: the point tracker that made ``init`` (tracks the extra queries).
      mask: bool [H, W] on ``video``'s pixels, the region on ``frame``.
      frame: the query frame.
      extra: tracks to add, at random pixels inside the mask (fewer if the mask is smaller).
      seed: sampling seed.
      more: those tracks, when already made (``mask_tracks``); then ``extra`` is not used.

    Returns:
      The restricted ``InitialTracks``, or ``init`` with the extra tracks when fewer than
      ``MIN_MASK_TRACKS`` would be left.
    """
    tracks, visible, queries = init.tracks, init.visible, init.queries
    if more is None:
        more = mask_tracks(video, tracker, mask, frame, extra, seed)
    if more.tracks.shape[1]:
        tracks = np.concatenate([tracks, more.tracks], axis=1)
        visible = np.concatenate([visible, more.visible], axis=1)
        queries = np.concatenate([queries, more.queries], axis=0)
    h, w = mask.shape
    x = np.clip(np.rint(tracks[frame, :, 0]).astype(int), 0, w - 1)
    y = np.clip(np.rint(tracks[frame, :, 1]).astype(int), 0, h - 1)
    keep = visible[frame] & mask[y, x]
    if keep.sum() < MIN_MASK_TRACKS:
        return InitialTracks(tracks, visible, queries)
    return InitialTracks(tracks[:, keep], visible[:, keep], queries[keep])


def mask_tracks(video: np.ndarray, tracker, mask: np.ndarray, frame: int, count: int, seed: int = 0) -> InitialTracks:
    """Tracks started at ``count`` random pixels inside ``mask`` on ``frame`` (fewer if the mask is smaller)."""
    ys, xs = np.nonzero(mask)
    n = min(int(count), len(xs))
    t_len = video.shape[0]
    if n <= 0:
        return InitialTracks(np.zeros((t_len, 0, 2), np.float32), np.zeros((t_len, 0), bool), np.zeros((0, 3), np.float32))
    rng = np.random.default_rng(seed + 7919)  # not the same draws as the frame-wide sampling
    pick = rng.choice(len(xs), size=n, replace=False)
    q = np.stack([np.full(n, frame), xs[pick], ys[pick]], axis=1).astype(np.float32)
    r = tracker.track(video, q)
    return InitialTracks(r.tracks, r.visible, r.queries)


def drop_inconsistent(
    init: InitialTracks, frame: int, neighbours: int = 8, tol_px: float = 3.0, tol_rel: float = 0.5
) -> InitialTracks:
    """Leave out tracks whose motion from ``frame`` disagrees with their neighbours' in some frame.

    Each surviving cell of the dense field copies the motion of one nearest track, so
    one track that slipped (a window on an object's edge that follows the background)
    drags a whole patch with it. A track is dropped when, in any frame where it and at
    least 3 of its ``neighbours`` nearest tracks (positions on ``frame``) are visible,
    its displacement is farther than ``tol_px + tol_rel * |median|`` from the median
    displacement of those neighbours. On apple.mp4 this drops about 2% of the tracks
    and removes the smear of the apple's edge onto the table.

    Args:
      init: tracks [T, N, 2] and visibility [T, N].
      frame: the frame displacements are measured from (the query frame).
      neighbours, tol_px, tol_rel: see above.

    Returns:
      ``InitialTracks`` without the inconsistent tracks (``init`` itself when there are
      too few tracks to judge).
    """
    import torch

    tracks, visible = init.tracks, init.visible
    n = tracks.shape[1]
    if n <= neighbours:
        return init
    src = torch.as_tensor(tracks[frame], dtype=torch.float32)
    dist = torch.cdist(src, src)
    dist.fill_diagonal_(float("inf"))
    nn = dist.topk(neighbours, largest=False).indices.numpy()  # [N, k]
    bad = np.zeros(n, bool)
    for t in range(tracks.shape[0]):
        if t == frame:
            continue
        disp = tracks[t] - tracks[frame]  # [N, 2]
        ok = visible[t] & visible[frame]
        near_ok = ok[nn]  # [N, k]
        near = np.where(near_ok[..., None], disp[nn], np.nan)
        judged = ok & (near_ok.sum(axis=1) >= 3)
        if not judged.any():
            continue
        med = np.nanmedian(near[judged], axis=1)
        dev = np.linalg.norm(disp[judged] - med, axis=1)
        bad[np.nonzero(judged)[0][dev > tol_px + tol_rel * np.linalg.norm(med, axis=1)]] = True
    if bad.all():
        return init
    keep = ~bad
    refound = None if init.refound is None else init.refound[:, keep]
    return InitialTracks(tracks[:, keep], visible[:, keep], init.queries[keep], refound)
