"""DINOv3 ViT-S+/16 (``facebook/dinov3-vits16plus-pretrain-lvd1689m``) with Hugging Face key names.

384 channels, 12 pre-norm blocks, 6 heads, 16x16 patches, a class token and 4 register
tokens, no absolute position embedding: 2-D rotary encoding (base 100) of the patch
tokens' q and k; SwiGLU MLP ``down(silu(gate x) * up x)`` with 1536 hidden units; query,
value, output and MLP biases, no key bias; LayerScale; LayerNorm eps 1e-5. The weights are
gated on the hub (the DINOv3 licence must be accepted). Input ``[B, 3, H, W]`` float,
ImageNet-normalised, H and W multiples of 16.
"""

from __future__ import annotations

import torch
from torch import nn

from studio.trackers.backbones.vit import (
    LayerScale, apply_rope, attend, merge_heads, prenorm_block, rope_tables, split_heads,
)

EMBED_DIM = 384
DEPTH = 12
HEADS = 6
PATCH = 16
REGISTERS = 4
HIDDEN = 1536
ROPE_BASE = 100.0
EPS = 1e-5


class _RopeAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.o_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        q, k, v = (split_heads(p(x), self.heads) for p in (self.q_proj, self.k_proj, self.v_proj))
        cos, sin = rope
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        return self.o_proj(merge_heads(attend(q, k, v)))


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden)
        self.up_proj = nn.Linear(dim, hidden)
        self.down_proj = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    """``layer.i`` of ``DINOv3ViTModel``."""

    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(EMBED_DIM, eps=EPS)
        self.attention = _RopeAttention(EMBED_DIM, HEADS)
        self.layer_scale1 = LayerScale(EMBED_DIM, "lambda1")
        self.norm2 = nn.LayerNorm(EMBED_DIM, eps=EPS)
        self.mlp = SwiGLU(EMBED_DIM, HIDDEN)
        self.layer_scale2 = LayerScale(EMBED_DIM, "lambda1")

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """x: ``[B, 1 + 4 + h*w, C]`` (prefix tokens first); rope: cos/sin ``[h*w, 64]``."""
        return prenorm_block(x, self.norm1, lambda h: self.attention(h, rope), self.layer_scale1, self.norm2,
                             self.mlp, self.layer_scale2)


class Dinov3(nn.Module):
    """``DINOv3ViTModel`` (235 tensors; ``mask_token`` and ``norm`` unused by the trackers)."""

    patch_size = PATCH
    num_prefix = 1 + REGISTERS

    def __init__(self):
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.cls_token = nn.Parameter(torch.zeros(1, 1, EMBED_DIM))
        self.embeddings.mask_token = nn.Parameter(torch.zeros(1, 1, EMBED_DIM))
        self.embeddings.register_tokens = nn.Parameter(torch.zeros(1, REGISTERS, EMBED_DIM))
        self.embeddings.patch_embeddings = nn.Conv2d(3, EMBED_DIM, PATCH, PATCH)
        self.layer = nn.ModuleList(Block() for _ in range(DEPTH))
        self.norm = nn.LayerNorm(EMBED_DIM, eps=EPS)

    @property
    def blocks(self) -> nn.ModuleList:
        return self.layer

    def embed(self, x: torch.Tensor):
        """``[B, 3, H, W]`` -> (prefix ``[B, 5, C]`` = class + registers, patches ``[B, h*w, C]``, rope tables)."""
        e = self.embeddings
        b = x.shape[0]
        patches = e.patch_embeddings(x).flatten(2).transpose(1, 2)
        prefix = torch.cat([e.cls_token.expand(b, -1, -1), e.register_tokens.expand(b, -1, -1)], dim=1)
        grid = (x.shape[-2] // PATCH, x.shape[-1] // PATCH)
        cos, sin = rope_tables(grid, EMBED_DIM // HEADS, ROPE_BASE, device=x.device)
        return prefix, patches, (cos.to(x.dtype), sin.to(x.dtype))
