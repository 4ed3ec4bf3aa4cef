"""Multi-scale deformable attention with the semantics of mmcv's ``MultiScaleDeformableAttention``.

Pure PyTorch (``grid_sample``), no compiled ops; the parameter names are mmcv's, so the
Track-On checkpoints load into it. Like mmcv's module it **adds the query (its
``identity``) to what it returns**; callers that add their own residual on top therefore
count the query twice, exactly as the released models were trained.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Shapes = list[tuple[int, int]]
"""``(H_l, W_l)`` of each level of a value pyramid, in the order the levels are concatenated."""


def sample_sum(value: torch.Tensor, shapes: Shapes, grids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted sum of bilinear samples, as ``grid_sample`` (zeros padding, ``align_corners=False``) per level
    followed by the attention-weighted sum over levels and points.

    Each sample is the 4 neighbouring cells with the bilinear weights ``grid_sample`` uses
    (cells outside the map count zero); the 4 x levels x points (cell, weight) pairs of a
    query and head are summed by one ``embedding_bag`` over the flattened pyramid, which on
    a CPU is several times faster than ``grid_sample`` with ``C = d`` channels.

    Args:
      value: ``[B, sum(H_l*W_l), heads, d]``.
      shapes: ``(H_l, W_l)`` per level.
      grids: ``[B, Q, heads, L, P, 2]`` sample positions ``(x, y)`` in ``[-1, 1]`` (-1 = left/top edge).
      weights: ``[B, Q, heads, L, P]``.

    Returns:
      ``[B, Q, heads, d]``.
    """
    b, n_val, heads, d = value.shape
    nq = grids.shape[1]
    index, weight = [], []
    start = 0
    for level, (hl, wl) in enumerate(shapes):
        g = grids[:, :, :, level]
        # Source coordinates as grid_sample computes them (align_corners=False).
        ix = ((g[..., 0] + 1) * wl - 1) / 2
        iy = ((g[..., 1] + 1) * hl - 1) / 2
        x0, y0 = torch.floor(ix), torch.floor(iy)
        x1, y1 = x0 + 1, y0 + 1
        w_l = weights[:, :, :, level]
        for xi, yi, corner in ((x0, y0, (x1 - ix) * (y1 - iy)), (x1, y0, (ix - x0) * (y1 - iy)),
                               (x0, y1, (x1 - ix) * (iy - y0)), (x1, y1, (ix - x0) * (iy - y0))):
            inside = (xi >= 0) & (xi <= wl - 1) & (yi >= 0) & (yi <= hl - 1)  # False for NaN too
            zero = torch.zeros((), dtype=ix.dtype, device=ix.device)
            index.append(start + torch.where(inside, yi * wl + xi, zero).long())
            weight.append(torch.where(inside, corner * w_l, zero))
        start += hl * wl
    # [B, Q, heads, L*P*4] into a table with one row per (batch, head, value cell).
    index = torch.stack(index, dim=-1).view(b, nq, heads, -1)
    weight = torch.stack(weight, dim=-1).view(b, nq, heads, -1)
    rows = (torch.arange(b, device=value.device)[:, None] * heads + torch.arange(heads, device=value.device)) * n_val
    index = index + rows[:, None, :, None]
    table = value.permute(0, 2, 1, 3).reshape(b * heads * n_val, d)
    out = F.embedding_bag(index.view(-1, index.shape[-1]), table, per_sample_weights=weight.view(-1, weight.shape[-1]),
                          mode="sum")
    return out.view(b, nq, heads, d)


class MultiScaleDeformableAttention(nn.Module):
    """Each query reads ``points`` bilinear samples per head and level around its reference point.

    Args:
      dim: channels of queries and values.
      heads: attention heads (``dim`` is split among them).
      levels: pyramid levels of the value.
      points: samples per head and level.
    """

    def __init__(self, dim: int, heads: int, levels: int, points: int = 4):
        super().__init__()
        self.heads, self.levels, self.points = heads, levels, points
        self.sampling_offsets = nn.Linear(dim, heads * levels * points * 2)
        self.attention_weights = nn.Linear(dim, heads * levels * points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)

    def forward(self, query: torch.Tensor, value: torch.Tensor, reference: torch.Tensor, shapes: Shapes,
                identity: torch.Tensor | None = None) -> torch.Tensor:
        """
        Args:
          query: ``[B, Q, C]``.
          value: ``[B, sum(H_l*W_l), C]``, the levels of ``shapes`` flattened row-major and concatenated.
          reference: ``[B, Q, L, 2]`` ``(x, y)`` in ``[0, 1]`` of each level (0 = left/top edge,
            1 = right/bottom edge).
          shapes: ``(H_l, W_l)`` per level.
          identity: added to the output (default: ``query``).

        Returns:
          ``[B, Q, C]``: ``output_proj(sampled) + identity``.
        """
        b, nq, _ = query.shape
        h, lv, p = self.heads, self.levels, self.points
        v = self.value_proj(value)
        d = v.shape[-1] // h
        offsets = self.sampling_offsets(query).view(b, nq, h, lv, p, 2)
        weights = self.attention_weights(query).view(b, nq, h, lv * p).softmax(-1).view(b, nq, h, lv, p)
        # Offsets are in units of each level's cells.
        size = torch.tensor([(w, hh) for hh, w in shapes], dtype=query.dtype, device=query.device)
        locations = reference[:, :, None, :, None, :] + offsets / size[None, None, None, :, None, :]
        out = sample_sum(v.view(b, -1, h, d), shapes, 2 * locations - 1, weights)  # [B, Q, h, d]
        out = out.reshape(b, nq, h * d)
        return self.output_proj(out) + (query if identity is None else identity)
