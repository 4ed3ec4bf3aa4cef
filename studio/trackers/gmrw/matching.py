"""Global matching: from two frames' features to a dense flow, without holding the whole affinity.

Upstream turns feature maps into an all-pairs affinity ``softmax(f_a . f_b / sqrt(C))``
(every cell of frame A against every cell of frame B) and reduces each row to a flow.
Each row is independent, so here rows are processed in chunks: the same arithmetic,
with memory ``chunk x h*w`` instead of ``(h*w)^2`` (at x2 upsampling on 256 x 256 frames
the full matrix is 16384^2 floats, 1.07 GB; at x4, 65536^2).

Flow methods (upstream's ``compute_flow_from_affinity``), per source cell ``p`` with
probabilities ``P(p, q)`` over target cells ``q`` at integer cell coordinates:

* ``weighted_sum``: ``sum_q P(p, q) q - p`` (soft-argmax over the whole frame);
* ``weighted_argmax``: the same after zeroing ``P`` farther than ``window`` cells from the
  row's most likely cell (strictly closer than ``window``) and renormalising;
* ``argmax``: ``argmax_q P(p, q) - p``.

The cell flow is then resized (bilinear, align-corners) to the frame size the tracks live
at and scaled by frame size / map size per axis, as upstream does.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

HALF_FROM = 256
"""Upstream computes the correlation, softmax and flow in float16 once the map is this big on both sides
(that is 1024 x 1024 network input: 256 x 256 frames upsampled x4)."""

CHUNK_ELEMENTS = 1 << 24
"""Affinity entries per chunk (64 MB in float32)."""


def cell_grid(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """[h*w, 2] ``(x, y)`` integer coordinates of the cells in raster order."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1).to(dtype)


def _reduce_rows(prob: torch.Tensor, grid: torch.Tensor, method: str, window: float | None) -> torch.Tensor:
    """Target position ``(x, y)`` per row of ``prob`` [R, N] (see the module docstring)."""
    if method == "argmax":
        return grid[prob.argmax(dim=1)]
    if method == "weighted_argmax":
        best = grid[prob.argmax(dim=1)]  # [R, 2]
        near = ((grid[None, :, :] - best[:, None, :]) ** 2).sum(-1) < float(window) ** 2
        prob = prob * near
        prob = prob / prob.sum(dim=1, keepdim=True).clamp_min(1e-12)
    # An elementwise product and a row sum (not a matrix product): the same reduction upstream
    # uses, so sums over thousands of cells round alike.
    gx, gy = grid[:, 0].to(prob.dtype), grid[:, 1].to(prob.dtype)
    return torch.stack([(prob * gx).sum(dim=1), (prob * gy).sum(dim=1)], dim=1)


def affinity_flow(
    feat_a: torch.Tensor,
    feat_b: torch.Tensor,
    size: tuple[int, int],
    method: str = "weighted_sum",
    window: float | None = None,
) -> torch.Tensor:
    """Flow from frame A to frame B by global matching of their features.

    Args:
      feat_a, feat_b: [C, h, w] features of the two frames (after the transformer).
      size: ``(H, W)`` of the frames the flow is wanted at (upstream: the un-upsampled clip).
      method: ``"weighted_sum"``, ``"weighted_argmax"`` or ``"argmax"``.
      window: radius in cells for ``"weighted_argmax"``.

    Returns:
      [2, H, W] float32 ``(dx, dy)`` in pixels of ``size``: the pixel at ``(x, y)`` of A
      (pixel index coordinates, the flow's own grid) moves to ``(x + dx, y + dy)``.
    """
    if method == "weighted_argmax" and window is None:
        raise ValueError("the weighted_argmax flow method needs a window (in feature cells)")
    if method not in ("weighted_sum", "weighted_argmax", "argmax"):
        raise ValueError(f"unknown flow method {method!r}")
    c, h, w = feat_a.shape
    n = h * w
    half = h >= HALF_FROM and w >= HALF_FROM
    dtype = torch.float16 if half else torch.float32
    a = feat_a.reshape(c, n).t().to(dtype)  # [N, C]
    b = feat_b.reshape(c, n).to(dtype)  # [C, N]
    grid = cell_grid(h, w, feat_a.device)
    scale = c**0.5
    rows = max(1, CHUNK_ELEMENTS // n)
    out = []
    for start in range(0, n, rows):
        prob = F.softmax((a[start : start + rows] @ b) / scale, dim=1)
        target = _reduce_rows(prob, grid, method, window)
        out.append(target - grid[start : start + rows].to(target.dtype))
    cells = torch.cat(out).t().reshape(1, 2, h, w)
    # In float16 upstream also resizes in float16; the flow only widens to float32 afterwards.
    flow = F.interpolate(cells, size=size, mode="bilinear", align_corners=True)[0]
    return torch.stack([flow[0] * (size[1] / w), flow[1] * (size[0] / h)]).float()
