"""Tracks from chained frame-pair flows, and visibility by forward-backward consistency.

This is upstream's evaluation procedure (``forward_backward_query_point``):

* from each query's frame, forward flows carry the point to later frames
  (``p[t+1] = p[t] + F_t(p[t])``) and backward flows to earlier ones
  (``p[t] = p[t+1] + B_t(p[t+1])``); flows are sampled bilinearly, clamped at the border;
* a point is visible in frame ``t`` when it is inside the frame and both flow steps that
  touch frame ``t`` agree forward and backward: ``|F_s(p[s]) + B_s(p[s+1])| < threshold``
  for ``s = t-1`` and ``s = t`` (a step that does not exist counts as agreeing);
* at its own frame a point is the query and visible.

Coordinates here are those of the flow maps: ``(x, y)`` with pixel ``i`` at ``i``
(upstream's raster), inside-the-frame meaning ``0 <= x < W`` and ``0 <= y < H``.
"""

from __future__ import annotations

import torch


def sample_flow(flow: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Bilinear sample of a flow map at points, with coordinates clamped to the map.

    Args:
      flow: [2, H, W] float.
      xy: [N, 2] float ``(x, y)``, pixel ``i`` at ``i``; any values (points off the map
        take the nearest border value).

    Returns:
      [N, 2] the flow at each point.
    """
    _, h, w = flow.shape
    x, y = xy[:, 0], xy[:, 1]
    x0f, y0f = torch.floor(x), torch.floor(y)
    wx1, wy1 = x - x0f, y - y0f  # weights of the right / lower neighbours
    wx0, wy0 = (x0f + 1) - x, (y0f + 1) - y
    x0 = x0f.long()
    y0 = y0f.long()
    xs0, xs1 = x0.clamp(0, w - 1), (x0 + 1).clamp(0, w - 1)
    ys0, ys1 = y0.clamp(0, h - 1), (y0 + 1).clamp(0, h - 1)
    flat = flow.reshape(2, h * w)

    def at(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        return flat[:, yy * w + xx]  # [2, N]

    out = (wx0 * wy0) * at(ys0, xs0) + (wx1 * wy0) * at(ys0, xs1) + (wx0 * wy1) * at(ys1, xs0) + (
        wx1 * wy1
    ) * at(ys1, xs1)
    return out.t()


def chain_tracks(query_t: torch.Tensor, query_xy: torch.Tensor, forward: list, backward: list) -> torch.Tensor:
    """Positions of the query points in every frame by chaining flows.

    Args:
      query_t: [N] long frame index of each query.
      query_xy: [N, 2] float ``(x, y)`` of each query in its frame (flow-map coordinates).
      forward: T-1 flows [2, H, W], ``forward[t]`` from frame t to t+1.
      backward: T-1 flows [2, H, W], ``backward[t]`` from frame t+1 to t.

    Returns:
      [T, N, 2] float positions.
    """
    num_frames = len(forward) + 1
    coords = []
    cur = torch.zeros_like(query_xy)
    for t in range(num_frames):
        if t > 0:
            cur = cur + sample_flow(forward[t - 1], cur)
        cur = torch.where((query_t == t)[:, None], query_xy, cur)
        coords.append(cur)
    for t in range(num_frames - 2, -1, -1):
        nxt = coords[t + 1]
        before = (t < query_t)[:, None]
        coords[t] = torch.where(before, nxt + sample_flow(backward[t], nxt), coords[t])
    return torch.stack(coords)


def consistency(tracks: torch.Tensor, forward: list, backward: list, threshold: float) -> torch.Tensor:
    """[T-1, N] bool: step t -> t+1 agrees forward and backward (``|F_t(p_t) + B_t(p_{t+1})| < threshold``)."""
    steps = [
        torch.linalg.vector_norm(sample_flow(forward[t], tracks[t]) + sample_flow(backward[t], tracks[t + 1]), dim=1)
        < threshold
        for t in range(len(forward))
    ]
    return torch.stack(steps) if steps else tracks.new_zeros((0, tracks.shape[1]), dtype=torch.bool)


def visibility(
    tracks: torch.Tensor, query_t: torch.Tensor, forward: list, backward: list, size: tuple[int, int], threshold: float
) -> torch.Tensor:
    """[T, N] bool visibility of chained tracks (see the module docstring).

    Args:
      tracks: [T, N, 2] from ``chain_tracks``.
      query_t: [N] long query frames.
      forward, backward: the flows the tracks were chained with.
      size: ``(H, W)`` of the flow maps.
      threshold: forward-backward limit in flow-map pixels.
    """
    h, w = size
    x, y = tracks[..., 0], tracks[..., 1]
    inside = (x >= 0) & (y >= 0) & (x < w) & (y < h)
    ok = consistency(tracks, forward, backward, threshold)  # [T-1, N]
    yes = torch.ones_like(inside[:1])
    after_ok = torch.cat([ok, yes])  # step t -> t+1
    before_ok = torch.cat([yes, ok])  # step t-1 -> t
    vis = inside & after_ok & before_ok
    frames = torch.arange(tracks.shape[0], device=tracks.device)[:, None]
    return vis | (frames == query_t[None, :])
