"""Initial sparse tracks: query points half on motion boundaries, half uniform, tracked by any point tracker."""

from __future__ import annotations

from dataclasses import dataclass

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
    """

    tracks: np.ndarray
    visible: np.ndarray
    queries: np.ndarray


def frame_quotas(num_frames: int, count: int) -> np.ndarray:
    """Points per frame for one round: ``count // T`` each, the remainder on frame 0. [T] int."""
    quotas = np.full(num_frames, count // num_frames, dtype=np.int64)
    quotas[0] += count - quotas.sum()
    return quotas


def sample_frame_points(
    boundaries: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``count`` integer pixel positions: half drawn without replacement from boundary
    pixels (all of them when fewer), the rest uniform over the frame.

    Args:
      boundaries: [H, W] bool.
      count: number of points.
      rng: random generator (seeded by the caller).

    Returns:
      [count, 2] float32 ``(x, y)`` pixel centres.
    """
    h, w = boundaries.shape
    ys, xs = np.nonzero(boundaries)
    n_edge = min(count // 2, len(xs))
    pick = rng.choice(len(xs), n_edge, replace=False) if n_edge else np.zeros(0, np.int64)
    n_rest = count - n_edge
    rest = np.stack([rng.integers(0, w, n_rest), rng.integers(0, h, n_rest)], axis=-1)
    edge = np.stack([xs[pick], ys[pick]], axis=-1)
    return np.concatenate([edge, rest]).astype(np.float32)


def sample_queries(
    video: np.ndarray,
    num_tracks: int,
    flow_model,
    rng: np.random.Generator,
    round_size: int | None = None,
    progress: ProgressFn = no_progress,
) -> list[np.ndarray]:
    """Query points for the initial tracks, in rounds spread over all frames.

    Args:
      video: [T, H, W, 3] uint8.
      num_tracks: total N.
      flow_model: a ``FlowModel`` for the motion boundaries (computed once per frame).
      rng: seeded generator.
      round_size: points per round (default: all N in one round).
      progress: called per boundary map.

    Returns:
      list of [n_r, 3] float32 ``(t, x, y)`` arrays, one per round.
    """
    t_len = video.shape[0]
    round_size = int(round_size or num_tracks)
    cache: dict[int, np.ndarray] = {}
    rounds = []
    left = int(num_tracks)
    while left > 0:
        size = min(round_size, left)
        left -= size
        rows = []
        for t, quota in enumerate(frame_quotas(t_len, size)):
            if quota == 0:
                continue
            if t not in cache:
                cache[t] = frame_boundaries(video, t, flow_model)
                progress(min(len(cache) / t_len, 1.0), "motion boundaries")
            xy = sample_frame_points(cache[t], int(quota), rng)
            rows.append(np.concatenate([np.full((len(xy), 1), t, np.float32), xy], axis=1))
        rounds.append(np.concatenate(rows))
    return rounds


def initial_tracks(
    video: np.ndarray,
    tracker,
    flow_model,
    num_tracks: int = 2048,
    round_size: int | None = None,
    seed: int = 0,
    progress: ProgressFn = no_progress,
) -> InitialTracks:
    """Sample queries (``sample_queries``) and track them with ``tracker``.

    Args:
      video: [T, H, W, 3] uint8.
      tracker: a ``studio.trackers.base.PointTracker``; it tracks each query forwards
        and backwards from its own frame.
      flow_model: ``FlowModel`` for motion boundaries.
      num_tracks, round_size, seed: see ``sample_queries``.

    Returns:
      ``InitialTracks`` in ``video``'s pixels.
    """
    rng = np.random.default_rng(seed)
    rounds = sample_queries(video, num_tracks, flow_model, rng, round_size,
                            lambda f, d: progress(0.2 * f, d))
    tracks, visible, queries = [], [], []
    for i, q in enumerate(rounds):
        base, span = 0.2 + 0.8 * i / len(rounds), 0.8 / len(rounds)
        r = tracker.track(video, q, progress=lambda f, d, b=base, s=span: progress(b + s * f, "initial tracks"))
        tracks.append(r.tracks)
        visible.append(r.visible)
        queries.append(r.queries)
    return InitialTracks(np.concatenate(tracks, 1), np.concatenate(visible, 1), np.concatenate(queries, 0))
