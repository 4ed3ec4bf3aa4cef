"""GMRW's feature transformer: six rounds of window self-attention and cross-attention between two frames.

State-dict names (under ``transformer.``) are those of the released files:
``layers.{0..5}.self_attn.{q_proj,k_proj,v_proj,merge,norm1}`` and
``layers.{0..5}.cross_attn_ffn.{q_proj,k_proj,v_proj,merge,norm1,mlp.0,mlp.2,norm2}``.

Attention is single-head over Swin-style windows: the feature map is cut into 2 x 2
windows; every second block first rolls the map by half a window, so windows straddle the
previous borders, and a mask keeps tokens that were not neighbours before the roll apart.
The transformer is symmetric: features of frame A attend to frame B with the same weights
as B to A, so one pass gives both frames' features.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

SPLITS = 2
"""Windows per side (upstream's ``attn_splits``)."""

SHIFT_MASK_VALUE = -100.0
"""Added to scores between tokens that only share a window because of the roll (as in Swin)."""


class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input precision, then cast back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps).to(x.dtype)


def window_position_encoding(h: int, w: int, dim: int, device=None) -> torch.Tensor:
    """DETR's normalised sine position encoding of one window, tiled over the ``SPLITS x SPLITS`` windows.

    Args:
      h, w: feature map size (multiples of ``SPLITS``).
      dim: channels (half for y, half for x).

    Returns:
      [dim, h, w] float32: channels ``(y features, x features)``; within each half,
      even channels hold sines and odd channels cosines of the position (1-based,
      scaled to ``(0, 2 pi]`` over the window) at 10000**(-2k/half) frequencies.
    """
    half = dim // 2
    wh, ww = h // SPLITS, w // SPLITS
    # float32 arithmetic in the order upstream uses, so the encoding agrees to the last bit.
    ys = torch.arange(1, wh + 1, dtype=torch.float32, device=device)
    xs = torch.arange(1, ww + 1, dtype=torch.float32, device=device)
    ys = ys / (ys[-1:] + 1e-6) * (2 * math.pi)
    xs = xs / (xs[-1:] + 1e-6) * (2 * math.pi)
    k = torch.arange(half, dtype=torch.float32, device=device)
    freq = 10000 ** (2 * torch.div(k, 2, rounding_mode="floor") / half)

    def encode(pos: torch.Tensor) -> torch.Tensor:  # [n] -> [n, half], sin/cos interleaved
        a = pos[:, None] / freq
        return torch.stack((a[:, 0::2].sin(), a[:, 1::2].cos()), dim=2).flatten(1)

    ey = encode(ys)[:, None, :].expand(wh, ww, half)
    ex = encode(xs)[None, :, :].expand(wh, ww, half)
    window = torch.cat((ey, ex), dim=2).permute(2, 0, 1)  # [dim, wh, ww]
    return window.repeat(1, SPLITS, SPLITS)


def shift_mask(h: int, w: int, device=None) -> torch.Tensor:
    """Additive attention mask of the shifted windows.

    Returns:
      [SPLITS*SPLITS, L, L] float32 with L = (h/SPLITS)*(w/SPLITS), windows in row-major
      order: 0 where both tokens come from the same region of the rolled map, else
      ``SHIFT_MASK_VALUE``.
    """
    wh, ww = h // SPLITS, w // SPLITS

    def region(n: int, win: int) -> torch.Tensor:
        # After rolling by -win/2, the last window holds the map's end [n-win, n-win/2) and the
        # wrapped-around start [n-win/2, n): three bands per axis.
        idx = torch.arange(n, device=device)
        return (idx >= n - win).long() + (idx >= n - win // 2).long()

    label = region(h, wh)[:, None] * 3 + region(w, ww)[None, :]  # [h, w]
    windows = label.view(SPLITS, wh, SPLITS, ww).permute(0, 2, 1, 3).reshape(SPLITS * SPLITS, wh * ww)
    differ = windows[:, :, None] != windows[:, None, :]
    return differ.float() * SHIFT_MASK_VALUE


ATTENTION_CHUNK = 1 << 24
"""Attention scores computed at once (64 MB in float32); larger windows (x2 and x4 upsampling)
are processed a window and a block of query rows at a time, which gives the same rows."""


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """softmax(q k^T / sqrt(C) + mask) v for [W, L, C] windows; mask [W, L, L] or None."""
    scale = q.shape[-1] ** 0.5

    def rows(qq, kk, vv, mm):
        scores = torch.matmul(qq, kk.transpose(-1, -2)) / scale
        if mm is not None:
            scores = scores + mm
        return torch.matmul(torch.softmax(scores, dim=-1), vv)

    n, length, _ = q.shape
    if n * length * length <= ATTENTION_CHUNK:
        return rows(q, k, v, mask)
    step = max(1, ATTENTION_CHUNK // length)
    out = torch.empty_like(q)
    for i in range(n):
        for r in range(0, length, step):
            m = None if mask is None else mask[i, r : r + step]
            out[i, r : r + step] = rows(q[i, r : r + step], k[i], v[i], m)
    return out


def window_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, h: int, w: int, mask: torch.Tensor | None
) -> torch.Tensor:
    """Single-head attention within ``SPLITS x SPLITS`` windows, shifted by half a window when ``mask`` is given.

    Args:
      q, k, v: [B, h*w, C] token rows in raster order.
      h, w: map size.
      mask: None (plain windows) or ``shift_mask(h, w)``.

    Returns:
      [B, h*w, C]; scores are scaled by 1/sqrt(C).
    """
    b, _, c = q.shape
    wh, ww = h // SPLITS, w // SPLITS
    shift = (-(wh // 2), -(ww // 2))
    nwin = SPLITS * SPLITS

    def to_windows(x: torch.Tensor) -> torch.Tensor:  # [B, h*w, C] -> [B*K*K, L, C]
        x = x.view(b, h, w, c)
        if mask is not None:
            x = torch.roll(x, shifts=shift, dims=(1, 2))
        return x.view(b, SPLITS, wh, SPLITS, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b * nwin, wh * ww, c)

    full_mask = None if mask is None else mask.to(q.dtype).repeat(b, 1, 1)
    out = _attend(to_windows(q), to_windows(k), to_windows(v), full_mask)
    out = out.view(b, SPLITS, SPLITS, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
    if mask is not None:
        out = torch.roll(out, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    return out.reshape(b, h * w, c)


class AttentionLayer(nn.Module):
    """``x + norm1(merge(attention(x -> context)))``, or with the FFN ``x + norm2(mlp([x, that]))``."""

    def __init__(self, dim: int, with_ffn: bool, expansion: int = 4):
        super().__init__()
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.merge = nn.Linear(dim, dim, bias=False)
        self.norm1 = FP32LayerNorm(dim)
        if with_ffn:
            self.mlp = nn.Sequential(
                nn.Linear(2 * dim, 2 * dim * expansion, bias=False),
                nn.GELU(),
                nn.Linear(2 * dim * expansion, dim, bias=False),
            )
            self.norm2 = FP32LayerNorm(dim)
        else:
            self.mlp = None

    def forward(self, x: torch.Tensor, context: torch.Tensor, h: int, w: int, mask: torch.Tensor | None):
        message = window_attention(self.q_proj(x), self.k_proj(context), self.v_proj(context), h, w, mask)
        message = self.norm1(self.merge(message))
        if self.mlp is not None:
            message = self.norm2(self.mlp(torch.cat([x, message], dim=-1)))
        return x + message


class TransformerBlock(nn.Module):
    """Self-attention, then cross-attention to the other frame with the feed-forward network."""

    def __init__(self, dim: int, shifted: bool):
        super().__init__()
        self.shifted = shifted
        self.self_attn = AttentionLayer(dim, with_ffn=False)
        self.cross_attn_ffn = AttentionLayer(dim, with_ffn=True)

    def forward(self, x: torch.Tensor, other: torch.Tensor, h: int, w: int, mask: torch.Tensor) -> torch.Tensor:
        m = mask if self.shifted else None
        x = self.self_attn(x, x, h, w, m)
        return self.cross_attn_ffn(x, other, h, w, m)


class FeatureTransformer(nn.Module):
    """Six blocks; odd-numbered ones use shifted windows."""

    def __init__(self, dim: int = 128, num_layers: int = 6):
        super().__init__()
        self.layers = nn.ModuleList([TransformerBlock(dim, shifted=i % 2 == 1) for i in range(num_layers)])

    def forward(self, feat_a: torch.Tensor, feat_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of both frames after attending to each other.

        Args:
          feat_a, feat_b: [B, C, h, w] (position encoding already added); h, w multiples of ``SPLITS``.

        Returns:
          (feat_a, feat_b), each [B, C, h, w].
        """
        b, c, h, w = feat_a.shape
        a = feat_a.flatten(2).transpose(1, 2)
        bb = feat_b.flatten(2).transpose(1, 2)
        # Both frames in one batch: rows [A; B] attend to [B; A].
        x = torch.cat([a, bb])
        other = torch.cat([bb, a])
        mask = shift_mask(h, w, device=x.device)
        for layer in self.layers:
            x = layer(x, other, h, w, mask)
            other = torch.cat(x.chunk(2)[::-1])
        out_a, out_b = x.chunk(2)
        return (out_a.transpose(1, 2).reshape(b, c, h, w), out_b.transpose(1, 2).reshape(b, c, h, w))
