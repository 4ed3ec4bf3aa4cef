"""The two post-norm attention blocks every Track-On head is made of.

``AttentionBlock`` (upstream ``MHA_Block``): ``q = LN1(q + MHA(q, k, v))``,
``q = LN2(q + W2 relu(W1 q))``, FFN 4x. ``DeformableBlock`` (upstream ``DMSMHA_Block``)
is the same around multi-scale deformable attention, whose output already contains
the query (mmcv's identity), so the first step is ``LN1(q + (q + MSDA(q)))``.
Tensors are ``[B, N, C]``; dropout is inactive (inference only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from studio.trackers.track_on.msda import MultiScaleDeformableAttention, Shapes


class _FeedForward(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.linear1 = nn.Linear(dim, 4 * dim)
        self.linear2 = nn.Linear(4 * dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def finish(self, q: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        q = self.norm1(q + update)
        return self.norm2(q + self.linear2(F.relu(self.linear1(q))))


class AttentionBlock(_FeedForward):
    """Post-norm multi-head attention block (``nn.MultiheadAttention`` keys ``mha.in_proj_*``, ``mha.out_proj``)."""

    def __init__(self, dim: int, heads: int):
        super().__init__(dim)
        self.mha = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``key_padding_mask`` ``[B, K]`` bool, True = ignore that key; a row with every key ignored gets no update."""
        out = self.mha(q, k, v, key_padding_mask=key_padding_mask, need_weights=False)[0]
        if key_padding_mask is not None:
            empty = key_padding_mask.all(dim=1)
            if empty.any():
                out = out.masked_fill(empty[:, None, None], 0.0)
        return self.finish(q, out)


class DeformableBlock(_FeedForward):
    """Post-norm block around ``MultiScaleDeformableAttention`` (4 sampling points)."""

    def __init__(self, dim: int, heads: int, levels: int):
        super().__init__(dim)
        self.mha = MultiScaleDeformableAttention(dim, heads, levels, points=4)

    def forward(self, q: torch.Tensor, value: torch.Tensor, reference: torch.Tensor, shapes: Shapes) -> torch.Tensor:
        """reference: ``[B, N, levels, 2]`` ``(x, y)`` in ``[0, 1]``; value: the flattened pyramid of ``shapes``."""
        return self.finish(q, self.mha(q, value, reference, shapes))
