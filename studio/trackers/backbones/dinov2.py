"""DINOv2 ViT-S/14 in two key layouts: Hugging Face's (``facebook/dinov2-small``) and Meta's original
(``dinov2_vits14_pretrain.pth``, as Track-On v1 stores it inside its checkpoint).

Both compute the same network: 14x14 patch embedding, a class token, learned absolute
position embeddings for a 37x37 grid resized bicubically to the input's grid, and 12
pre-norm blocks (6 heads, qkv bias, LayerScale, exact-GELU MLP 4x, LayerNorm eps 1e-6).
Input: ``[B, 3, H, W]`` float, ImageNet-normalised, H and W multiples of 14.
"""

from __future__ import annotations

import torch
from torch import nn

from studio.trackers.backbones.vit import LayerScale, attend, merge_heads, prenorm_block, resize_position_grid, split_heads

EMBED_DIM = 384
DEPTH = 12
HEADS = 6
PATCH = 14
TRAIN_GRID = 37  # 518 / 14: the grid the position embeddings were trained for
EPS = 1e-6


class GeluMlp(nn.Module):
    """``fc2(gelu(fc1 x))``, hidden width 4x, exact (erf) GELU."""

    def __init__(self, dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.gelu(self.fc1(x)))


class _SplitAttention(nn.Module):
    """HF layout: ``attention.{query,key,value}`` and ``output.dense``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.attention = nn.Module()
        self.attention.query = nn.Linear(dim, dim)
        self.attention.key = nn.Linear(dim, dim)
        self.attention.value = nn.Linear(dim, dim)
        self.output = nn.Module()
        self.output.dense = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attention
        q, k, v = (split_heads(p(x), self.heads) for p in (a.query, a.key, a.value))
        return self.output.dense(merge_heads(attend(q, k, v)))


class _FusedAttention(nn.Module):
    """Meta layout: one ``qkv`` projection (rows q, k, v) and ``proj``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(x).chunk(3, dim=-1))
        return self.proj(merge_heads(attend(q, k, v)))


class HFBlock(nn.Module):
    """``encoder.layer.i`` of ``Dinov2Model``."""

    def __init__(self, dim: int = EMBED_DIM, heads: int = HEADS):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=EPS)
        self.attention = _SplitAttention(dim, heads)
        self.layer_scale1 = LayerScale(dim, "lambda1")
        self.norm2 = nn.LayerNorm(dim, eps=EPS)
        self.mlp = GeluMlp(dim)
        self.layer_scale2 = LayerScale(dim, "lambda1")

    def forward(self, x: torch.Tensor, rope=None) -> torch.Tensor:
        return prenorm_block(x, self.norm1, self.attention, self.layer_scale1, self.norm2, self.mlp, self.layer_scale2)


class MetaBlock(nn.Module):
    """``blocks.i`` of Meta's ``DinoVisionTransformer``."""

    def __init__(self, dim: int = EMBED_DIM, heads: int = HEADS):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=EPS)
        self.attn = _FusedAttention(dim, heads)
        self.ls1 = LayerScale(dim, "gamma")
        self.norm2 = nn.LayerNorm(dim, eps=EPS)
        self.mlp = GeluMlp(dim)
        self.ls2 = LayerScale(dim, "gamma")

    def forward(self, x: torch.Tensor, rope=None) -> torch.Tensor:
        return prenorm_block(x, self.norm1, self.attn, self.ls1, self.norm2, self.mlp, self.ls2)


def _patch_grid(x: torch.Tensor) -> tuple[int, int]:
    return x.shape[-2] // PATCH, x.shape[-1] // PATCH


def _embed(x, proj, cls_token, pos_embed) -> tuple[torch.Tensor, torch.Tensor]:
    """(prefix ``[B, 1, C]``, patch tokens ``[B, h*w, C]``) with position embeddings added."""
    grid = _patch_grid(x)
    patches = proj(x).flatten(2).transpose(1, 2)
    patches = patches + resize_position_grid(pos_embed[:, 1:], grid)
    cls = cls_token.expand(x.shape[0], -1, -1) + pos_embed[:, :1]
    return cls, patches


class Dinov2(nn.Module):
    """``Dinov2Model`` with Hugging Face key names (223 tensors; ``mask_token`` and ``layernorm`` unused).

    The ViT-Adapter drives it block by block: ``embed`` then ``blocks[i](tokens)``.
    """

    patch_size = PATCH
    num_prefix = 1

    def __init__(self):
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.cls_token = nn.Parameter(torch.zeros(1, 1, EMBED_DIM))
        self.embeddings.mask_token = nn.Parameter(torch.zeros(1, EMBED_DIM))
        self.embeddings.position_embeddings = nn.Parameter(torch.zeros(1, TRAIN_GRID**2 + 1, EMBED_DIM))
        self.embeddings.patch_embeddings = nn.Module()
        self.embeddings.patch_embeddings.projection = nn.Conv2d(3, EMBED_DIM, PATCH, PATCH)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(HFBlock() for _ in range(DEPTH))
        self.layernorm = nn.LayerNorm(EMBED_DIM, eps=EPS)

    @property
    def blocks(self) -> nn.ModuleList:
        return self.encoder.layer

    def embed(self, x: torch.Tensor):
        """``[B, 3, H, W]`` -> (prefix ``[B, 1, C]``, patches ``[B, h*w, C]``, context for the blocks: None)."""
        e = self.embeddings
        cls, patches = _embed(x, e.patch_embeddings.projection, e.cls_token, e.position_embeddings)
        return cls, patches, None


class MetaDinov2Parts:
    """Meta's ViT-S/14 parameters placed directly on a host module (Track-On v1 keeps them at the top
    level of its ViT-Adapter: ``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks``, ``norm``)."""

    patch_size = PATCH
    num_prefix = 1

    def add_vit(self: nn.Module) -> None:
        self.cls_token = nn.Parameter(torch.zeros(1, 1, EMBED_DIM))
        self.pos_embed = nn.Parameter(torch.zeros(1, TRAIN_GRID**2 + 1, EMBED_DIM))
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, EMBED_DIM, PATCH, PATCH)
        self.blocks = nn.ModuleList(MetaBlock() for _ in range(DEPTH))
        self.norm = nn.LayerNorm(EMBED_DIM, eps=EPS)

    def embed(self, x: torch.Tensor):
        cls, patches = _embed(x, self.patch_embed.proj, self.cls_token, self.pos_embed)
        return cls, patches, None


def hf_to_meta(sd: dict) -> dict:
    """Rename a ``facebook/dinov2-small`` state dict to Meta's names (q, k, v rows fused into ``qkv``).

    ``mask_token`` is dropped (Track-On v1 removes it); ``layernorm`` becomes ``norm``.
    """
    out = {
        "cls_token": sd["embeddings.cls_token"],
        "pos_embed": sd["embeddings.position_embeddings"],
        "patch_embed.proj.weight": sd["embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": sd["embeddings.patch_embeddings.projection.bias"],
        "norm.weight": sd["layernorm.weight"],
        "norm.bias": sd["layernorm.bias"],
    }
    for i in range(DEPTH):
        src, dst = f"encoder.layer.{i}.", f"blocks.{i}."
        for kind in ("weight", "bias"):
            out[dst + f"attn.qkv.{kind}"] = torch.cat(
                [sd[src + f"attention.attention.{p}.{kind}"] for p in ("query", "key", "value")], dim=0)
            out[dst + f"attn.proj.{kind}"] = sd[src + f"attention.output.dense.{kind}"]
            for n in ("norm1", "norm2", "mlp.fc1", "mlp.fc2"):
                out[dst + f"{n}.{kind}"] = sd[src + f"{n}.{kind}"]
        out[dst + "ls1.gamma"] = sd[src + "layer_scale1.lambda1"]
        out[dst + "ls2.gamma"] = sd[src + "layer_scale2.lambda1"]
    return out
