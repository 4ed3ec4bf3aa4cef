"""Track-On2 (and Track-On-R, the same network fine-tuned on real videos): one frame at a time.

Per frame: the ViT-Adapter gives feature maps at strides 4/8/16/32, projected to 256
channels with a learned position embedding and fused by a small FPN. Each active query
(256-d) attends to the fused map, to the other queries and to its own memory of past
query embeddings (FIFO, ``memory`` slots, time embedding); a multi-scale correlation picks
16 candidate cells, a deformable re-ranker fuses them into the query, a second correlation
picks the cell, and deformable layers regress a sub-cell offset (+-4 px). Coordinates
inside are model pixels ``(x, y)`` of the ``input_size`` frame, 0 = left edge.

Key names follow the released checkpoints (``Track_On2`` in gorkaydemir/track_on).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from studio.trackers.track_on.adapter import DIM as VIT_DIM
from studio.trackers.track_on.adapter import Dinov2Adapter, Dinov3Adapter
from studio.trackers.track_on.blocks import AttentionBlock, DeformableBlock
from studio.trackers.track_on.common import (
    STRIDE, clamp_unit, multiscale_correlation, patch_centres, prepare_frames, sample_features, stretch_time_embedding,
)

D = 256
HEADS = 4
LAYERS = 3
TOP_K = 16
TRAIN_MEMORY = 24


@dataclass
class Frame2:
    """Features of one frame: the projected pyramid ``levels`` ``[1, P_s, D]`` (strides 4..32), its
    concatenation ``pyramid``, their unit-norm copies (for correlations) and the fused map ``fused`` ``[1, P, D]``."""

    levels: list[torch.Tensor]
    pyramid: torch.Tensor
    unit: list[torch.Tensor]
    fused: torch.Tensor


class Backbone(nn.Module):
    def __init__(self, vit: str, input_size: tuple[int, int]):
        super().__init__()
        self.vit_encoder = Dinov3Adapter() if vit == "dinov3" else Dinov2Adapter()
        self.projections = nn.ModuleList(nn.Sequential(nn.Linear(VIT_DIM, D)) for _ in range(4))
        h, w = input_size[0] // STRIDE, input_size[1] // STRIDE
        self.pos_embedding = nn.Parameter(torch.zeros(1, D, h, w))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Normalised ``[1, 3, H, W]`` -> 4 maps ``[1, D, H/s, W/s]`` for s = 4, 8, 16, 32."""
        out = []
        for i, f in enumerate(self.vit_encoder(x)):
            pos = self.pos_embedding if i == 0 else F.interpolate(
                self.pos_embedding, scale_factor=0.5**i, mode="bilinear", align_corners=False)
            b, c, h, w = f.shape
            f = self.projections[i](f.permute(0, 2, 3, 1).reshape(b, h * w, c))
            out.append(f.permute(0, 2, 1).reshape(b, D, h, w) + pos)
        return out


def _lateral() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(D, D, 1), nn.GroupNorm(32, D), nn.ReLU())


class FPN(nn.Module):
    """Top-down fusion of the four levels into one stride-4 map."""

    def __init__(self):
        super().__init__()
        self.lateral32 = _lateral()
        self.lateral16 = _lateral()
        self.lateral8 = _lateral()
        self.output = nn.Sequential(nn.Conv2d(D, D, 3, padding=1), nn.GroupNorm(32, D), nn.ReLU(),
                                    nn.Conv2d(D, D, 3, padding=1))

    def forward(self, f4, f8, f16, f32) -> torch.Tensor:
        up = lambda x, ref: F.interpolate(x, size=ref.shape[-2:], mode="nearest")  # noqa: E731
        x = self.lateral32(f32)
        x = self.lateral16(f16) + up(x, f16)
        x = self.lateral8(f8) + up(x, f8)
        return self.output(f4 + up(x, f4))


class Reranker(nn.Module):
    """``reranking_head``: the 16 best cells of the first correlation, each read by 3 deformable
    layers, are fused into the query (``certainty_layer``/``score_layer`` serve training only)."""

    def __init__(self):
        super().__init__()
        self.local_decoder = nn.ModuleList(DeformableBlock(D, HEADS, 4) for _ in range(LAYERS))
        self.fusion = AttentionBlock(D, HEADS)
        self.fusion_layer = nn.Linear(2 * D, D)
        self.final_projection_layer = nn.Linear(2 * D, D)
        self.certainty_layer = nn.Linear(D, 1)
        self.score_layer = nn.Linear(D, 1)


class PredictionHead(nn.Module):
    """``prediction_head``: 3 deformable layers around the chosen cell -> offset ``tanh(.) * 4``; visibility MLP."""

    def __init__(self):
        super().__init__()
        self.offset_transformer = nn.ModuleList(DeformableBlock(D, HEADS, 4) for _ in range(LAYERS))
        self.offset_layer = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, 2), nn.Tanh())
        self.vis_layer = nn.Sequential(nn.Linear(D, D), nn.ReLU(), nn.Linear(D, 1))
        self.unc_layer = nn.Sequential(nn.Linear(D, D), nn.ReLU(), nn.Linear(D, 1))


def _blocks() -> nn.ModuleList:
    return nn.ModuleList(AttentionBlock(D, HEADS) for _ in range(LAYERS))


class TrackOn2(nn.Module):
    """The Track-On2 network.

    Args:
      vit: ``"dinov3"`` (Track-On2 / Track-On-R) or ``"dinov2"`` (Track-On2 with DINOv2).
      input_size: ``(H, W)`` model frame, multiples of 32 (the released weights: 384x512).
    """

    def __init__(self, vit: str = "dinov3", input_size: tuple[int, int] = (384, 512)):
        super().__init__()
        self.input_size = tuple(input_size)
        self.grid = (input_size[0] // STRIDE, input_size[1] // STRIDE)
        self.backbone = Backbone(vit, input_size)
        self.fpn = FPN()
        self.reranking_head = Reranker()
        self.prediction_head = PredictionHead()
        self.feature_attention = _blocks()
        self.query_attention = _blocks()
        self.memory_attention = _blocks()
        self.projection1 = nn.Linear(D, D)
        self.projection2 = nn.Linear(D, D)
        self.ms_corr_proj = nn.Conv2d(4, 1, 1)
        self.t_embedding = nn.Parameter(torch.zeros(1, TRAIN_MEMORY + 1, D))
        self.time_embedding: torch.Tensor | None = None  # [1, memory + 1, D], set by set_memory

    @property
    def shapes(self) -> list[tuple[int, int]]:
        h, w = self.grid
        return [(h, w), (h // 2, w // 2), (h // 4, w // 4), (h // 8, w // 8)]

    def set_memory(self, memory: int) -> None:
        """Use ``memory`` past frames per point (the file's time embedding is stretched when it differs from 24)."""
        self.memory = int(memory)
        emb = self.t_embedding.detach()
        self.time_embedding = emb if memory == emb.shape[1] - 1 else stretch_time_embedding(emb, memory)

    # -- per frame ----------------------------------------------------------------------------

    def encode(self, frame: torch.Tensor) -> Frame2:
        """One frame ``[1, 3, H_in, W_in]`` with values 0..255 -> its features."""
        maps = self.backbone(prepare_frames(frame, self.input_size))
        fused = self.fpn(*maps)
        levels = [m.flatten(2).transpose(1, 2) for m in maps]
        return Frame2(levels=levels, pyramid=torch.cat(levels, dim=1),
                      unit=[F.normalize(t, p=2, dim=-1) for t in levels], fused=fused.flatten(2).transpose(1, 2))

    def query_features(self, feats: Frame2, grid: torch.Tensor) -> torch.Tensor:
        """Initial query embeddings ``[N, D]`` sampled from the fused map at ``grid`` ``[N, 2]`` in ``[-1, 1]``."""
        h, w = self.grid
        return sample_features(feats.fused.transpose(1, 2).reshape(1, D, h, w), grid)

    def correlation(self, q: torch.Tensor, feats: Frame2) -> torch.Tensor:
        """Multi-scale cosine similarity of ``q`` ``[1, N, D]`` with each level -> ``[1, N, P]`` (stride 4 cells)."""
        return multiscale_correlation(q, feats.unit, self.shapes, self.ms_corr_proj, "bnd,bpd->bnp")

    def rerank(self, q: torch.Tensor, feats: Frame2, corr: torch.Tensor) -> torch.Tensor:
        head = self.reranking_head
        n = q.shape[1]
        top = torch.topk(corr, TOP_K, dim=-1)[1]
        ref = clamp_unit(patch_centres(top, self.grid[1]), self.input_size)
        ref = ref.view(1, n * TOP_K, 1, 2).expand(-1, -1, 4, -1)
        cand = q.unsqueeze(2).expand(-1, -1, TOP_K, -1).reshape(1, n * TOP_K, D)
        for layer in head.local_decoder:
            cand = layer(cand, feats.pyramid, ref, self.shapes)
        cand = cand.view(1, n, TOP_K, D)
        cand = head.fusion_layer(torch.cat([cand, q.unsqueeze(2).expand(-1, -1, TOP_K, -1)], dim=-1))
        cand = cand.view(n, TOP_K, D)
        q_rows = q.view(n, 1, D)
        fused = head.fusion(q_rows, cand, cand)
        return head.final_projection_layer(torch.cat([fused, q_rows], dim=-1)).view(1, n, D)

    def predict(self, q: torch.Tensor, feats: Frame2, cell: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Offset of the last deformable layer ``[N, 2]`` (model pixels) and visibility logits ``[N]``."""
        head = self.prediction_head
        ref = clamp_unit(cell, self.input_size).unsqueeze(2).expand(-1, -1, 4, -1)
        x = q
        for layer in head.offset_transformer:
            x = layer(x, feats.pyramid, ref, self.shapes)
        offset = head.offset_layer(x).squeeze(0) * STRIDE
        return offset, head.vis_layer(q).squeeze(-1).squeeze(0)

    def track_frame(self, feats: Frame2, q_init: torch.Tensor, memory: torch.Tensor, empty: torch.Tensor):
        """Track the active queries through one frame.

        Args:
          feats: this frame's features.
          q_init: ``[N, D]`` initial embeddings of the active queries.
          memory: ``[N, M, D]`` past embeddings, oldest first; empty: ``[N, M]`` True = no entry.

        Returns:
          points ``[N, 2]`` model pixels ``(x, y)``, visibility logits ``[N]``, new memory entry ``[N, D]``.
        """
        n, m = memory.shape[:2]
        temb = self.time_embedding
        q = q_init.unsqueeze(0)
        seq = torch.cat([memory, torch.zeros(n, 1, D, dtype=memory.dtype, device=memory.device)], dim=1)
        mask = torch.cat([empty, torch.zeros(n, 1, dtype=torch.bool, device=empty.device)], dim=1)
        for i in range(LAYERS):
            q = self.feature_attention[i](q, feats.fused, feats.fused)
            q = self.query_attention[i](q, q, q)
            seq = seq.clone()
            seq[:, -1] = q.view(n, D)
            keys = seq + temb
            if i < LAYERS - 1:
                # The memory rows come out rewritten and are the next layer's memory.
                seq = self.memory_attention[i](keys, keys, seq, mask)
                q = seq[:, -1].unsqueeze(0)
            else:
                # After the last layer only the query row is used: attend from it alone.
                q = self.memory_attention[i](keys[:, -1:], keys, seq, mask).view(1, n, D)
        q = self.projection1(q)
        q = self.rerank(q, feats, self.correlation(q, feats))
        q = self.projection2(q)
        cell = patch_centres(torch.argmax(self.correlation(q, feats), dim=-1), self.grid[1])
        offset, vis = self.predict(q, feats, cell)
        return cell[0] + offset, vis, q.squeeze(0)
