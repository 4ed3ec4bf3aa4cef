"""Track-On (v1, ICLR 2025): online tracking with a spatial and a context memory.

Per frame, every query (all of them, also those whose frame has not come yet; those are
masked out of everything the others see) is re-initialised from its *spatial memory*
(augmented embeddings read around its past predicted positions, masked where it was
occluded), decoded against the frame's stride-4 tokens, the other queries and its
*context memory* (past decoded embeddings), then located by correlation, deformable
re-ranking of the 16 best cells and a deformable offset head; a deformable visibility
head scores it. Coordinates inside are model pixels ``(x, y)``, 0 = left edge.

Key names follow the released checkpoint (``TrackOn`` on the ``track-on`` branch of
gorkaydemir/track_on).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from studio.trackers.track_on.adapter import DIM as VIT_DIM
from studio.trackers.track_on.adapter import MetaDinov2Adapter
from studio.trackers.track_on.blocks import AttentionBlock, DeformableBlock
from studio.trackers.track_on.common import (
    STRIDE, clamp_unit, multiscale_correlation, patch_centres, prepare_frames, sample_features, stretch_time_embedding,
)

D = 256
HEADS = 8
LAYERS = 3
TOP_K = 16
TRAIN_MEMORY = 12


@dataclass
class Frame1:
    """One frame's tokens ``f`` ``[1, P, D]`` (stride 4, position embedding added), ``h`` = feature_decoder(f),
    the 4-level average-pooled pyramids of both ``[1, P + P/4 + P/16 + P/64, D]``, the re-ranker's
    variant of the ``h`` pyramid (see ``rerank_pyramid``) and the unit-norm pyramid of ``h``
    (channel-first ``[1, D, P_s]``, for correlations)."""

    f: torch.Tensor
    h: torch.Tensor
    f_pyramid: torch.Tensor
    h_pyramid: torch.Tensor
    h_rerank: torch.Tensor
    h_unit: list[torch.Tensor]


def rerank_pyramid(tokens: torch.Tensor, levels: list[torch.Tensor]) -> torch.Tensor:
    """The value pyramid the released v1 re-ranker was trained with.

    Its coarsest level is not the 8x8 average of the map: upstream pools the *token matrix*
    ``[1, P, D]`` with an 8x8 window (8 consecutive tokens x 8 consecutive channels) and reads
    the result as a ``[D, P/64]`` map. The weights expect exactly that, so it is kept.
    """
    d = tokens.shape[-1]
    odd = F.avg_pool2d(tokens, 8, 8).reshape(1, d, -1)
    return torch.cat([t.permute(0, 2, 1) for t in levels[:3] + [odd]], dim=1)


class Backbone(nn.Module):
    def __init__(self, input_size: tuple[int, int]):
        super().__init__()
        self.vit_encoder = MetaDinov2Adapter()
        self.token_projection = nn.Conv2d(VIT_DIM, D, 1)
        self.frame_pos_embedding = nn.Parameter(torch.zeros(1, D, input_size[0] // STRIDE, input_size[1] // STRIDE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``[1, 3, H, W]`` -> stride-4 map ``[1, D, H/4, W/4]``."""
        return self.token_projection(self.vit_encoder(x)[0]) + self.frame_pos_embedding


class FeatureDecoder(nn.Module):
    """``h = L4 relu(L3 y + y)`` ... residual MLP over tokens (no norms in the released model)."""

    def __init__(self):
        super().__init__()
        self.linear1, self.linear2, self.linear3, self.linear4 = (nn.Linear(D, D) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in (self.linear1, self.linear2, self.linear3):
            x = F.relu(layer(x) + x)
        return self.linear4(x)


def _blocks(n: int = LAYERS) -> nn.ModuleList:
    return nn.ModuleList(AttentionBlock(D, HEADS) for _ in range(n))


def _deformable(n: int = LAYERS) -> nn.ModuleList:
    return nn.ModuleList(DeformableBlock(D, HEADS, 4) for _ in range(n))


class SpatialMemory(nn.Module):
    """``sm_query_updater``: writes augmented embeddings, re-initialises queries from them."""

    def __init__(self):
        super().__init__()
        self.query_to_feature = _deformable()
        self.memory_to_memory = _blocks(1)
        self.query_to_memory = _blocks(1)
        self.augment_layer = nn.Linear(2 * D, D)
        self.query_residual = nn.Linear(D, D)
        self.time_embedding = nn.Parameter(torch.zeros(1, TRAIN_MEMORY + 1, D))


class QueryDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_to_query = _blocks()
        self.query_to_query = _blocks()
        self.memory_to_query = _blocks()
        self.time_embedding = nn.Parameter(torch.zeros(1, TRAIN_MEMORY + 1, D))


class OffsetHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.offset_layer = nn.Sequential(nn.LayerNorm(D), nn.Linear(D, 2), nn.Tanh())
        self.local_transformer = _deformable()


class Reranker(nn.Module):
    def __init__(self):
        super().__init__()
        self.sample_query_fusion = nn.Linear(2 * D, D)
        self.sample_projection = nn.Linear(2 * D, D)
        self.sample_uncertainty = nn.Linear(D, 1)  # training only
        self.local_patch_encoder = _deformable()
        self.local_decoder = _blocks(1)


class VisibilityHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.vis_layer = nn.Linear(2 * D, 1)
        self.unc_layer = nn.Linear(2 * D, 1)  # training only
        self.decoder_layer = DeformableBlock(D, HEADS, 4)


@dataclass
class Memory1:
    """Per-query state of Track-On v1, ``M`` slots oldest first.

    spatial, context: ``[N, M, D]``; unqueried: ``[N, M]`` True where the point had not
    started yet; occluded: ``[N, M]`` True where its visibility was below the threshold.
    """

    spatial: torch.Tensor
    context: torch.Tensor
    unqueried: torch.Tensor
    occluded: torch.Tensor

    @classmethod
    def empty(cls, n: int, m: int, device, dtype=torch.float32) -> "Memory1":
        z = torch.zeros(n, m, D, device=device, dtype=dtype)
        ones = torch.ones(n, m, dtype=torch.bool, device=device)
        return cls(z, z.clone(), ones, ones.clone())

    def push(self, spatial, context, unqueried, occluded) -> None:
        """Append one frame (``[N, D]``, ``[N, D]``, ``[N]``, ``[N]``), dropping the oldest slot."""
        self.spatial = torch.cat([self.spatial[:, 1:], spatial[:, None]], dim=1)
        self.context = torch.cat([self.context[:, 1:], context[:, None]], dim=1)
        self.unqueried = torch.cat([self.unqueried[:, 1:], unqueried[:, None]], dim=1)
        self.occluded = torch.cat([self.occluded[:, 1:], occluded[:, None]], dim=1)

    def grow(self, n_new: int) -> None:
        """Room for ``n_new`` more points (their slots empty)."""
        more = Memory1.empty(n_new, self.spatial.shape[1], self.spatial.device, self.spatial.dtype)
        for name in ("spatial", "context", "unqueried", "occluded"):
            setattr(self, name, torch.cat([getattr(self, name), getattr(more, name)], dim=0))


class TrackOn1(nn.Module):
    """The Track-On v1 network.

    Args:
      input_size: ``(H, W)`` model frame, multiples of 32 (the released weights: 384x512).
    """

    def __init__(self, input_size: tuple[int, int] = (384, 512)):
        super().__init__()
        self.input_size = tuple(input_size)
        self.grid = (input_size[0] // STRIDE, input_size[1] // STRIDE)
        self.backbone = Backbone(input_size)
        self.sm_query_updater = SpatialMemory()
        self.query_decoder = QueryDecoder()
        self.feature_decoder = FeatureDecoder()
        self.offset_head = OffsetHead()
        self.rerank_module = Reranker()
        self.visibility_head = VisibilityHead()
        self.projection1 = nn.Linear(D, D)
        self.projection2 = nn.Linear(D, D)
        self.corr_layer = nn.Conv2d(4, 1, 1, bias=False)
        self.memory = TRAIN_MEMORY
        self.threshold = 0.8
        self.context_embedding: torch.Tensor | None = None
        self.spatial_embedding: torch.Tensor | None = None

    @property
    def shapes(self) -> list[tuple[int, int]]:
        h, w = self.grid
        return [(h, w), (h // 2, w // 2), (h // 4, w // 4), (h // 8, w // 8)]

    def set_memory(self, memory: int, threshold: float) -> None:
        """``memory`` past frames for both memories (their time embeddings stretched from 12), and the
        visibility threshold, which also decides which past frames the spatial memory may use."""
        self.memory = int(memory)
        self.threshold = float(threshold)
        self.context_embedding = stretch_time_embedding(self.query_decoder.time_embedding.detach(), memory)
        self.spatial_embedding = stretch_time_embedding(self.sm_query_updater.time_embedding.detach(), memory)

    # -- per frame ----------------------------------------------------------------------------

    def _pyramid(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        h, w = self.grid
        f = tokens.transpose(1, 2).reshape(1, D, h, w)
        levels = [f.reshape(1, D, h * w)] + [F.avg_pool2d(f, k, k).reshape(1, D, -1) for k in (2, 4, 8)]
        return levels

    def encode(self, frame: torch.Tensor) -> Frame1:
        """One frame ``[1, 3, H_in, W_in]`` with values 0..255 -> its features."""
        fmap = self.backbone(prepare_frames(frame, self.input_size))
        f = fmap.permute(0, 2, 3, 1).reshape(1, -1, D)
        h = self.feature_decoder(f)
        h_levels = self._pyramid(h)
        return Frame1(
            f=f,
            h=h,
            f_pyramid=torch.cat([t.permute(0, 2, 1) for t in self._pyramid(f)], dim=1),
            h_pyramid=torch.cat([t.permute(0, 2, 1) for t in h_levels], dim=1),
            h_rerank=rerank_pyramid(h, h_levels),
            h_unit=[F.normalize(t, p=2, dim=1) for t in h_levels],
        )

    def query_features(self, feats: Frame1, grid: torch.Tensor) -> torch.Tensor:
        """Initial query embeddings ``[N, D]`` from the stride-4 tokens at ``grid`` ``[N, 2]`` in ``[-1, 1]``."""
        h, w = self.grid
        return sample_features(feats.f.transpose(1, 2).reshape(1, D, h, w), grid)

    def correlation(self, q: torch.Tensor, feats: Frame1) -> torch.Tensor:
        """Cosine similarity of ``q`` ``[1, N, D]`` with ``h`` and its 2/4/8-pooled versions -> ``[1, N, P]``."""
        return multiscale_correlation(q, feats.h_unit, self.shapes, self.corr_layer, "bnc,bcp->bnp")

    def _deform(self, layers, q, pyramid, points) -> torch.Tensor:
        ref = clamp_unit(points, self.input_size).unsqueeze(2).expand(-1, -1, 4, -1)
        for layer in layers:
            q = layer(q, pyramid, ref, self.shapes)
        return q

    def _start_queries(self, q_init: torch.Tensor, mem: Memory1, first: bool) -> torch.Tensor:
        """Spatial memory -> this frame's starting embeddings ``[N, D]``."""
        if first:
            return q_init.clone()
        ignore = mem.unqueried | mem.occluded
        use = ~ignore.all(dim=-1)
        if not use.any():
            return q_init.clone()
        sm = self.sm_query_updater
        temb = self.spatial_embedding
        kv, mask = mem.spatial[use], ignore[use]
        kv_pos = kv + temb[:, :-1]
        kv = sm.memory_to_memory[0](kv_pos, kv_pos, kv, mask)
        q = q_init[use].unsqueeze(1) + temb[:, -1].unsqueeze(1)
        q = sm.query_to_memory[0](q, kv + temb[:, :-1], kv, mask)
        out = q_init.clone()
        out[use] = out[use] + sm.query_residual(q).squeeze(1)
        return out

    def _decode(self, q: torch.Tensor, feats: Frame1, mem: Memory1, started: torch.Tensor) -> torch.Tensor:
        """Query decoder: tokens, other started queries, own context memory (3 layers) -> ``[1, N, D]``."""
        dec = self.query_decoder
        temb = self.context_embedding
        memory = mem.context.clone()
        has_memory = ~mem.unqueried.all(dim=-1)
        not_started = ~started[None]
        q = q.unsqueeze(0)
        n = q.shape[1]
        for i in range(LAYERS):
            q = dec.token_to_query[i](q, feats.f, feats.f)
            q = dec.query_to_query[i](q, q, q, not_started)
            if has_memory.any():
                rows = q.view(n, 1, D)
                seq = torch.cat([memory[has_memory], rows[has_memory]], dim=1)
                mask = torch.cat([mem.unqueried[has_memory],
                                  torch.zeros(seq.shape[0], 1, dtype=torch.bool, device=q.device)], dim=1)
                keys = seq + temb
                rows = rows.clone()
                if i < LAYERS - 1:
                    # The memory rows come out rewritten and are the next layer's memory.
                    seq = dec.memory_to_query[i](keys, keys, seq, mask)
                    rows[has_memory] = seq[:, -1:]
                    memory[has_memory] = seq[:, :-1]
                else:
                    # After the last layer only the query rows are used: attend from them alone.
                    rows[has_memory] = dec.memory_to_query[i](keys[:, -1:], keys, seq, mask)
                q = rows.view(1, n, D)
        return q

    def _rerank(self, q: torch.Tensor, feats: Frame1, corr: torch.Tensor) -> torch.Tensor:
        rr = self.rerank_module
        n = q.shape[1]
        top = torch.topk(corr, TOP_K, dim=-1)[1]
        ref = clamp_unit(patch_centres(top, self.grid[1]), self.input_size).view(1, n * TOP_K, 1, 2)
        ref = ref.expand(-1, -1, 4, -1)
        cand = q.unsqueeze(2).expand(-1, -1, TOP_K, -1).reshape(1, n * TOP_K, D)
        for layer in rr.local_patch_encoder:
            cand = layer(cand, feats.h_rerank, ref, self.shapes)
        cand = rr.sample_projection(torch.cat([q.unsqueeze(2).expand(-1, -1, TOP_K, -1), cand.view(1, n, TOP_K, D)],
                                              dim=-1)).view(n, TOP_K, D)
        keep_all = torch.zeros(n, TOP_K, dtype=torch.bool, device=q.device)
        fused = rr.local_decoder[0](q.view(n, 1, D), cand, cand, keep_all).view(1, n, D)
        return rr.sample_query_fusion(torch.cat([q, fused], dim=-1))

    def track_frame(self, feats: Frame1, q_init: torch.Tensor, mem: Memory1, started: torch.Tensor, first: bool):
        """Track all queries through one frame and update ``mem`` in place.

        Args:
          feats: this frame's features.
          q_init: ``[N, D]`` initial embeddings (any values for points that have not started).
          mem: the memory, updated with this frame.
          started: ``[N]`` bool, the point's query frame is this one or earlier.
          first: this is the first frame of the stream.

        Returns:
          points ``[N, 2]`` model pixels ``(x, y)`` and visibility logits ``[N]``.
        """
        q0 = self._start_queries(q_init, mem, first)
        q = self.projection1(self._decode(q0, feats, mem, started))
        q = self._rerank(q, feats, self.correlation(q, feats))
        q_corr = self.projection2(q)
        cell = patch_centres(torch.argmax(self.correlation(q_corr, feats), dim=-1), self.grid[1])
        x = self._deform(self.offset_head.local_transformer, q_corr, feats.h_pyramid, cell)
        point = cell + self.offset_head.offset_layer(x) * STRIDE
        local = self._deform([self.visibility_head.decoder_layer], q, feats.h_pyramid, point)
        vis = self.visibility_head.vis_layer(torch.cat([q, local], dim=-1)).squeeze(-1)
        aug = self.sm_query_updater.augment_layer(torch.cat([q, q_init.unsqueeze(0)], dim=-1))
        aug = self._deform(self.sm_query_updater.query_to_feature, aug, feats.f_pyramid, point)
        aug = torch.where(started[:, None], aug[0], q_init)
        mem.push(aug, q[0], ~started, torch.sigmoid(vis[0]) < self.threshold)
        return point[0], vis[0]
