"""CoTracker v1 (Karaev et al., arXiv:2307.07635, first release), checkpoint-compatible.

State-dict layout (strict): ``fnet.*`` (the same BasicEncoder as later versions),
``updateformer.*`` (``input_transform`` 456 -> 384, 6 ``time_blocks`` and 6
``space_blocks`` with fused ``attn.qkv`` / ``attn.proj`` projections, ``flow_head``
384 -> 130), ``norm`` (GroupNorm(1, 128)), ``ffeat_updater.0`` and ``vis_predictor.0``.
The position and time embeddings are not stored; they are rebuilt here.

Points are processed in windows of 8 frames starting every 4 frames. Points join the
window that contains their query frame and are carried on from the previous window's
second half. The space attention runs over all tracked points (no virtual tracks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from studio.trackers.cotracker.blocks import (
    BasicEncoder,
    Mlp,
    encode_frames,
    flow_embedding,
    grid_embedding,
    neighbourhood,
    sample_at_frames,
    sample_bilinear,
    tanh_gelu,
    time_embedding,
)
from studio.trackers.cotracker.cotracker3 import CORR_CHUNK_BYTES

VIS_INIT = 10.0


class FusedAttention(nn.Module):
    """Self-attention with one ``qkv`` projection and a ``proj`` output (the v1 key layout)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """Pre-norm transformer block (parameter-free LayerNorms, tanh-GELU MLP)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = FusedAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act=tanh_gelu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class UpdateFormer(nn.Module):
    """v1 update transformer: alternating attention over time (per track) and over tracks (per frame)."""

    def __init__(self, space_depth: int = 6, time_depth: int = 6, input_dim: int = 456, hidden_size: int = 384,
                 num_heads: int = 8, output_dim: int = 130, mlp_ratio: float = 4.0):
        super().__init__()
        self.input_transform = nn.Linear(input_dim, hidden_size)
        self.flow_head = nn.Linear(hidden_size, output_dim)
        self.time_blocks = nn.ModuleList([Block(hidden_size, num_heads, mlp_ratio) for _ in range(time_depth)])
        self.space_blocks = nn.ModuleList([Block(hidden_size, num_heads, mlp_ratio) for _ in range(space_depth)])
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """[N, S, input_dim] -> [N, S, output_dim]."""
        x = self.input_transform(tokens)
        every = len(self.time_blocks) // len(self.space_blocks)
        j = 0
        for i, block in enumerate(self.time_blocks):
            x = block(x)
            if i % every == 0:
                x = self.space_blocks[j](x.transpose(0, 1)).transpose(0, 1)
                j += 1
        return self.flow_head(x)


class CoTracker1(nn.Module):
    """CoTracker v1 network (stride 4).

    Args:
      window_len: frames per window (8 for the released stride-4 model).
      model_resolution: ``(H, W)`` of the frames the model sees.
    """

    stride = 4
    latent_dim = 128
    corr_levels = 4
    corr_radius = 3
    input_dim = 456

    def __init__(self, window_len: int = 8, model_resolution: tuple[int, int] = (384, 512)):
        super().__init__()
        self.window_len = window_len
        self.model_resolution = tuple(model_resolution)
        self.fnet = BasicEncoder(output_dim=self.latent_dim, stride=self.stride)
        self.updateformer = UpdateFormer(input_dim=self.input_dim, output_dim=self.latent_dim + 2)
        self.norm = nn.GroupNorm(1, self.latent_dim)
        self.ffeat_updater = nn.Sequential(nn.Linear(self.latent_dim, self.latent_dim), nn.GELU())
        self.vis_predictor = nn.Sequential(nn.Linear(self.latent_dim, 1))
        # v1 recomputes these in every call and does not store them in its checkpoints.
        h, w = self.model_resolution
        self.register_buffer("time_emb", time_embedding(self.input_dim, window_len), persistent=False)
        pos = grid_embedding(self.input_dim, h // self.stride, w // self.stride)
        self.register_buffer("pos_emb", pos, persistent=False)

    def correlation(self, pyramid: list[torch.Tensor], coords: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        """[S, N, 196]: correlation with the 7 x 7 neighbourhood per level (zeros outside the map)."""
        s, n, _ = coords.shape
        c = feat.shape[-1]
        offsets = neighbourhood(self.corr_radius, coords.device)
        chunk = max(1, CORR_CHUNK_BYTES // max(1, s * offsets.shape[0] * c * 4))
        levels = []
        for i, level in enumerate(pyramid):
            parts = []
            for n0 in range(0, n, chunk):
                pts = coords[:, n0 : n0 + chunk, None, :] / 2**i + offsets
                feats = sample_bilinear(level, pts, padding="zeros")
                parts.append(torch.einsum("scnk,snc->snk", feats, feat[:, n0 : n0 + chunk].to(feats.dtype)))
            levels.append(torch.cat(parts, dim=1) / torch.sqrt(torch.tensor(float(c))))
        return torch.cat(levels, dim=-1)

    def forward_window(self, pyramid, coords, feat, vis, track_mask, iters):
        """Refine one window of S frames for N points.

        Args:
          pyramid: per level [S, C, h, w].
          coords: [S, N, 2] feature pixels; feat: [S, N, C]; vis: [S, N] logits;
          track_mask: [S, N] float.
          iters: update iterations.

        Returns:
          coords [S, N, 2] feature pixels, visibility logits [S, N].
        """
        s, n, _ = coords.shape
        pos = sample_bilinear(self.pos_emb, coords[0][None, :, None, :])[0, :, :, 0].t()  # [N, 456]
        # The official model concatenates mask and visibility along the *point* axis before
        # reshaping, so each token receives two entries of that [2N, S] array in reading
        # order. The released weights were trained with this layout; keep it.
        mask_vis = torch.cat([track_mask.to(vis.dtype), vis], dim=1).t().reshape(n, s, 2)
        for _ in range(iters):
            corr = self.correlation(pyramid, coords, feat).transpose(0, 1)
            flow = flow_embedding((coords - coords[0:1]).transpose(0, 1), 64)
            tokens = torch.cat([flow, corr, feat.transpose(0, 1), mask_vis], dim=-1)
            tokens = tokens + pos[:, None, :] + self.time_emb[0]
            delta = self.updateformer(tokens)  # [N, S, 130]
            f = feat.transpose(0, 1).reshape(n * s, self.latent_dim)
            f = self.ffeat_updater(self.norm(delta[..., 2:].reshape(n * s, self.latent_dim))) + f
            feat = f.reshape(n, s, self.latent_dim).transpose(0, 1)
            coords = coords + delta[..., :2].transpose(0, 1)
        return coords, self.vis_predictor(feat)[..., 0]

    def forward_offline(
        self, video: torch.Tensor, queries: torch.Tensor, iters: int = 6, encoder_chunk: int = 8
    ) -> tuple[torch.Tensor, torch.Tensor, None]:
        """Track through the video in overlapping windows.

        Args:
          video: [T, 3, H, W] float 0..255 at the model resolution.
          queries: [N, 3] ``(t, x, y)`` model pixels.
          iters: update iterations per window.
          encoder_chunk: frames per encoder call.

        Returns:
          coords [T, N, 2] model pixels (zero before a point's first window), vis [T, N]
          probabilities, None.
        """
        t = video.shape[0]
        s = self.window_len
        half = s // 2
        n = queries.shape[0]
        dev = video.device
        # Points are handled in order of their query frame so each window's points are a prefix.
        order = torch.sort(queries[:, 0].long())[1]
        frames = queries[order, 0].long()
        xy = queries[order, 1:] / self.stride
        track_mask = (torch.arange(t, device=dev)[:, None] >= frames[None]).float()  # [T, N]
        coords_init = xy[None].repeat(s, 1, 1)
        vis_init = torch.full((s, n), VIS_INIT, device=dev)
        coords_out = torch.zeros(t, n, 2, device=dev)
        vis_out = torch.zeros(t, n, device=dev)
        feat = torch.zeros(n, self.latent_dim, device=dev)

        pyramid = None
        prev, coords, vis = 0, None, None
        ind = 0
        # The official loop runs while ind < T - S/2; at least one window here.
        while ind < max(t - half, 1):
            chunk = video[ind : ind + s]
            local = chunk.shape[0]
            new = chunk if pyramid is None else chunk[half:]
            fresh = encode_frames(self.fnet, new, encoder_chunk)
            fresh = torch.cat([fresh, fresh[-1:].expand(s - local, *fresh.shape[1:])], dim=0) if local < s else fresh
            if pyramid is not None:
                # The first half of this window is the second half of the previous one.
                fresh = torch.cat([pyramid[0][half:], fresh], dim=0)
            pyramid = [fresh]
            for _ in range(self.corr_levels - 1):
                pyramid.append(F.avg_pool2d(pyramid[-1], 2, stride=2))
            count = int((frames < ind + s).sum())
            if count == 0:
                ind += half
                continue
            if count > prev:
                # Points joining now take their feature from their query frame in this window.
                feat[prev:count] = sample_at_frames(pyramid[0], frames[prev:count] - ind, xy[prev:count, None, :])[:, 0]
            if prev > 0:
                # Carry the previous window's second half over and hold its last frame.
                carried = coords[half:]
                coords_init[:half, :prev] = carried
                coords_init[half:, :prev] = carried[-1:].expand(half, -1, -1)
                vis_init[:half, :prev] = vis[half:]
                vis_init[half:, :prev] = vis[-1:].expand(half, -1)
            tm = track_mask[ind : ind + s, :count]
            tm = torch.cat([tm, tm.new_zeros(s - tm.shape[0], count)], dim=0)
            coords, vis = self.forward_window(
                pyramid,
                coords_init[:, :count].clone(),
                feat[None, :count].expand(s, -1, -1),
                vis_init[:, :count].clone(),
                tm,
                iters,
            )
            coords_out[ind : ind + s, :count] = coords[:local] * self.stride
            vis_out[ind : ind + s, :count] = vis[:local]
            track_mask[: ind + s, :count] = 0
            ind += half
            prev = count
        inverse = torch.argsort(order)
        return coords_out[:, inverse], torch.sigmoid(vis_out[:, inverse]), None
