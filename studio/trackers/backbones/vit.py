"""Pieces every ViT backbone here shares: attention, pre-norm blocks, position encodings.

Token tensors are ``[B, N, C]`` float; attention heads split ``C`` into ``heads x C/heads``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[B, N, C]`` -> ``[B, heads, N, C/heads]``."""
    b, n, c = x.shape
    return x.view(b, n, heads, c // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``[B, heads, N, d]`` -> ``[B, N, heads*d]``."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Softmax attention ``softmax(q k^T / sqrt(d)) v`` over ``[B, heads, N, d]`` tensors."""
    return F.scaled_dot_product_attention(q, k, v)


class LayerScale(nn.Module):
    """Per-channel scale of a residual branch; the parameter name follows the weights it loads."""

    def __init__(self, dim: int, name: str):
        super().__init__()
        self._name = name
        self.register_parameter(name, nn.Parameter(torch.ones(dim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * getattr(self, self._name)


def prenorm_block(x: torch.Tensor, norm1, attention, scale1, norm2, mlp, scale2) -> torch.Tensor:
    """One transformer block as DINOv2/DINOv3 run it: ``x + s1*attn(LN1 x)``, then ``x + s2*mlp(LN2 x)``."""
    x = x + scale1(attention(norm1(x)))
    return x + scale2(mlp(norm2(x)))


def resize_position_grid(grid: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize learned patch position embeddings to another patch grid.

    Args:
      grid: ``[1, S*S, C]`` embeddings of a square ``S x S`` training grid.
      size: ``(h, w)`` patches wanted.

    Returns:
      ``[1, h*w, C]``, bicubic (``align_corners=False``, no antialiasing), computed in float32.
    """
    n, c = grid.shape[1], grid.shape[2]
    side = int(round(math.sqrt(n)))
    g = grid.reshape(1, side, side, c).permute(0, 3, 1, 2)
    g = F.interpolate(g.float(), size=size, mode="bicubic", align_corners=False).to(grid.dtype)
    return g.permute(0, 2, 3, 1).reshape(1, size[0] * size[1], c)


def rope_tables(size: tuple[int, int], head_dim: int, base: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables of DINOv3's 2-D rotary position encoding for a ``(h, w)`` patch grid.

    Patch centres are normalised per axis to ``[-1, 1]`` (``(i + 0.5) / n * 2 - 1``); each of
    the ``head_dim / 4`` frequencies ``base**-(4j/head_dim)`` turns the y coordinate in the
    first quarter of the channels and x in the second, and the half is repeated.

    Returns:
      cos, sin: ``[h*w, head_dim]`` float32, patches in row-major order.
    """
    h, w = size
    inv_freq = 1.0 / base ** torch.arange(0, 1, 4 / head_dim, dtype=torch.float32, device=device)
    ys = torch.arange(0.5, h, dtype=torch.float32, device=device) / h
    xs = torch.arange(0.5, w, dtype=torch.float32, device=device) / w
    coords = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).flatten(0, 1) * 2.0 - 1.0  # [h*w, 2] (y, x)
    angles = 2 * math.pi * coords[:, :, None] * inv_freq[None, None, :]
    angles = angles.flatten(1, 2).tile(2)
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the last ``cos.shape[0]`` tokens of ``x`` ``[B, heads, N, d]``; leading (prefix) tokens stay."""
    n_patch = cos.shape[0]
    prefix, patches = x[..., : x.shape[-2] - n_patch, :], x[..., x.shape[-2] - n_patch :, :]
    half = patches.shape[-1] // 2
    rotated = torch.cat((-patches[..., half:], patches[..., :half]), dim=-1)
    return torch.cat((prefix, patches * cos + rotated * sin), dim=-2)
