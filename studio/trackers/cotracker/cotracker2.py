"""CoTracker2 and 2.1 (Karaev et al., ECCV 2024, arXiv:2307.07635), checkpoint-compatible.

State-dict layout (strict): ``fnet.*``, ``updateformer.*`` (EfficientUpdateFormer,
6 time + 6 space blocks, 456 -> 384 -> 130), ``norm`` (GroupNorm(1, 128)),
``track_feat_updater.0``, ``vis_predictor.0`` and the buffers ``time_emb``
``[1, window_len, 456]`` (8 for CoTracker2, 16 for 2.1) and ``pos_emb`` ``[1, 456, 96, 128]``.

The video is processed in windows of ``window_len`` frames that start every half
window. A query is described by one feature vector, updated by every iteration; its
correlation with the 7 x 7 neighbourhood of the current estimate at 4 pyramid levels,
a sinusoidal embedding of the motion since the window's first frame, the feature
itself, whether the frame is being estimated in this window and the visibility logit
form the tokens. Points whose query frame lies after the window take part in time
attention but are hidden from the other points.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from studio.trackers.cotracker.blocks import (
    BasicEncoder,
    EfficientUpdateFormer,
    encode_frames,
    flow_embedding,
    grid_embedding,
    neighbourhood,
    sample_at_frames,
    sample_bilinear,
    time_embedding,
)
from studio.trackers.cotracker.cotracker3 import CORR_CHUNK_BYTES, OnlineState, _hold_last, _put

VIS_INIT = 10.0  # initial visibility logit ("visible")


class CoTracker2(nn.Module):
    """CoTracker2 network; ``forward_offline`` and ``online_window`` run it.

    Args:
      window_len: frames per window (8: CoTracker2, 16: CoTracker2.1).
      model_resolution: ``(H, W)`` of the frames the model sees (sets the ``pos_emb`` buffer).
      num_virtual_tracks: virtual tracks of the update transformer.
    """

    stride = 4
    latent_dim = 128
    corr_levels = 4
    corr_radius = 3
    input_dim = 456

    def __init__(
        self, window_len: int = 8, model_resolution: tuple[int, int] = (384, 512), num_virtual_tracks: int = 64
    ):
        super().__init__()
        self.window_len = window_len
        self.model_resolution = tuple(model_resolution)
        self.fnet = BasicEncoder(output_dim=self.latent_dim, stride=self.stride)
        self.updateformer = EfficientUpdateFormer(
            space_depth=6,
            time_depth=6,
            input_dim=self.input_dim,
            hidden_size=384,
            output_dim=self.latent_dim + 2,
            num_virtual_tracks=num_virtual_tracks,
            add_space_attn=True,
        )
        self.register_buffer("time_emb", time_embedding(self.input_dim, window_len))
        h, w = self.model_resolution
        self.register_buffer("pos_emb", grid_embedding(self.input_dim, h // self.stride, w // self.stride))
        self.norm = nn.GroupNorm(1, self.latent_dim)
        self.track_feat_updater = nn.Sequential(nn.Linear(self.latent_dim, self.latent_dim), nn.GELU())
        self.vis_predictor = nn.Sequential(nn.Linear(self.latent_dim, 1))

    def features(self, video: torch.Tensor, chunk: int = 8) -> list[torch.Tensor]:
        """Per-frame feature pyramid (4 levels, average-pooled), [T, 128, h_i, w_i] each.

        Args:
          video: [T, 3, H, W] float 0..255 at the model resolution.
          chunk: frames per encoder call.
        """
        fmaps = encode_frames(self.fnet, video, chunk)
        pyramid = [fmaps]
        for _ in range(self.corr_levels - 1):
            pyramid.append(F.avg_pool2d(pyramid[-1], 2, stride=2))
        return pyramid

    def correlation(self, pyramid: list[torch.Tensor], coords: torch.Tensor, track_feat: torch.Tensor) -> torch.Tensor:
        """Correlation of each track feature with the 7 x 7 neighbourhood of its estimate.

        Sampling the features and then taking the dot product equals sampling the full
        correlation map (bilinear sampling is linear and the padding clamps coordinates
        either way) but needs memory only for the neighbourhoods.

        Args:
          pyramid: per level [S, C, h, w].
          coords: [S, N, 2] estimates in level-0 feature pixels.
          track_feat: [S, N, C].

        Returns:
          [S, N, 4 * 49], levels in order, each scaled by 1 / sqrt(C).
        """
        s, n, _ = coords.shape
        c = track_feat.shape[-1]
        offsets = neighbourhood(self.corr_radius, coords.device)
        k = offsets.shape[0]
        chunk = max(1, CORR_CHUNK_BYTES // max(1, s * k * c * 4))
        levels = []
        for i, level in enumerate(pyramid):
            parts = []
            for n0 in range(0, n, chunk):
                pts = coords[:, n0 : n0 + chunk, None, :] / 2**i + offsets  # [S, n, 49, 2]
                feats = sample_bilinear(level, pts)  # [S, C, n, 49]
                parts.append(torch.einsum("scnk,snc->snk", feats, track_feat[:, n0 : n0 + chunk].to(feats.dtype)))
            levels.append(torch.cat(parts, dim=1) / math.sqrt(c))
        return torch.cat(levels, dim=-1)

    def forward_window(
        self,
        pyramid: list[torch.Tensor],
        coords: torch.Tensor,
        track_feat: torch.Tensor,
        vis: torch.Tensor,
        track_mask: torch.Tensor,
        active: torch.Tensor,
        iters: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Refine one window.

        Args:
          pyramid: per level [S, C, h, w], S = window_len.
          coords: [S, N, 2] initial estimates, level-0 feature pixels.
          track_feat: [S, N, C] query features (zero for inactive points).
          vis: [S, N] initial visibility logits.
          track_mask: [S, N] bool, frames this window estimates for each point.
          active: [N] bool, points queried before the window ends.
          iters: update iterations.

        Returns:
          coords [S, N, 2] feature pixels, visibility logits [S, N].
        """
        s, n, _ = coords.shape
        mask_vis = torch.stack([track_mask.to(vis.dtype), vis], dim=-1).transpose(0, 1)  # [N, S, 2]
        pos = sample_bilinear(self.pos_emb, coords[0][None, :, None, :])[0, :, :, 0].t()  # [N, 456]
        point_mask = active[None].expand(s, n)
        for _ in range(iters):
            corr = self.correlation(pyramid, coords, track_feat).transpose(0, 1)  # [N, S, 196]
            flow = flow_embedding((coords - coords[0:1]).transpose(0, 1), 64)  # [N, S, 130]
            tokens = torch.cat([flow, corr, track_feat.transpose(0, 1), mask_vis], dim=-1)
            tokens = tokens + pos[:, None, :] + self.time_emb
            delta = self.updateformer(tokens[None], point_mask=point_mask)[0]  # [N, S, 130]
            coords = coords + delta[..., :2].transpose(0, 1)
            feat = track_feat.transpose(0, 1).reshape(n * s, self.latent_dim)
            feat = self.track_feat_updater(self.norm(delta[..., 2:].reshape(n * s, self.latent_dim))) + feat
            track_feat = feat.reshape(n, s, self.latent_dim).transpose(0, 1)
        vis = self.vis_predictor(track_feat)[..., 0]
        return coords, vis

    def _init_window(self, ind, frames, xy, stored_coords, stored_vis):
        """Initial coords/vis of the window at ``ind`` and its track mask."""
        s = self.window_len
        step = s // 2
        coords = xy[None].expand(s, -1, -1).float()
        vis = torch.full(coords.shape[:2], VIS_INIT, device=xy.device)
        track_mask = frames[None] <= torch.arange(ind, ind + s, device=xy.device)[:, None]
        if ind > 0:
            # Points queried before the overlap continue from the previous window's estimates.
            overlap = s - step
            copy = (frames < ind + overlap)[None]
            carried = _hold_last(stored_coords[ind : ind + overlap] / self.stride, s)
            coords = torch.where(copy[..., None], carried, coords)
            vis = torch.where(copy, _hold_last(stored_vis[ind : ind + overlap], s), vis)
            track_mask[:overlap] = False
        return coords, vis, track_mask

    def forward_offline(
        self, video: torch.Tensor, queries: torch.Tensor, iters: int = 6, encoder_chunk: int = 8
    ) -> tuple[torch.Tensor, torch.Tensor, None]:
        """Track through the whole video in overlapping windows.

        Args:
          video: [T, 3, H, W] float 0..255 at the model resolution.
          queries: [N, 3] ``(t, x, y)`` model pixels.
          iters: update iterations per window.
          encoder_chunk: frames per encoder call.

        Returns:
          coords [T, N, 2] model pixels, vis [T, N] probabilities, None (no confidence).
        """
        t = video.shape[0]
        s = self.window_len
        step = s // 2
        pyramid = self.features(video, encoder_chunk)
        # Windows need whole windows of frames: repeat the last frame.
        pad = (s - t % s) % s
        pyramid = [torch.cat([p, p[-1:].expand(pad, *p.shape[1:])], dim=0) for p in pyramid]
        frames = queries[:, 0].long()
        xy = queries[:, 1:] / self.stride
        track_feat = sample_at_frames(pyramid[0], frames, xy[:, None, :])[:, 0]  # [N, C]
        n = queries.shape[0]
        coords_out = torch.zeros(t, n, 2, device=video.device)
        vis_out = torch.zeros(t, n, device=video.device)
        # The official count; at least one window so that very short clips are tracked too.
        num_windows = max(1, (t - s + step - 1) // step + 1)
        for ind in range(0, step * num_windows, step):
            coords, vis, track_mask = self._init_window(ind, frames, xy, coords_out, vis_out)
            active = frames < ind + s
            feat = (active[:, None] * track_feat)[None].expand(s, -1, -1)
            coords, vis = self.forward_window([p[ind : ind + s] for p in pyramid], coords, feat, vis, track_mask,
                                              active, iters)
            keep = min(t - ind, s)
            coords_out[ind : ind + keep] = coords[:keep] * self.stride
            vis_out[ind : ind + keep] = vis[:keep]
        return coords_out, torch.sigmoid(vis_out), None

    def start_online(self, queries: torch.Tensor) -> OnlineState:
        """State for causal tracking of ``queries`` [N, 3] ``(t, x, y)`` model pixels."""
        n = queries.shape[0]
        dev = queries.device
        return OnlineState(
            frames=queries[:, 0].long(),
            xy=queries[:, 1:] / self.stride,
            support=[torch.zeros(n, self.latent_dim, device=dev)],
            coords=torch.zeros(0, n, 2, device=dev),
            vis=torch.zeros(0, n, device=dev),
            conf=None,
        )

    def online_window(self, state: OnlineState, pyramid: list[torch.Tensor], n_real: int, iters: int = 6) -> None:
        """Process the window starting at frame ``state.ind`` and advance by half a window.

        Args:
          state: from ``start_online``; updated in place.
          pyramid: features of the window's ``window_len`` frames (last real frame repeated).
          n_real: real frames in the window.
          iters: update iterations.
        """
        s = self.window_len
        step = s // 2
        ind = state.ind
        left = 0 if ind == 0 else ind + step
        new = (state.frames >= left) & (state.frames < ind + s)
        acc = state.support[0]
        if new.any():
            sel = new.nonzero(as_tuple=True)[0]
            feats = sample_at_frames(pyramid[0], state.frames[sel] - ind, state.xy[sel][:, None, :])[:, 0]
            acc[sel] += feats.to(acc.dtype)
        active = state.frames < ind + s
        coords, vis, track_mask = self._init_window(ind, state.frames, state.xy, state.coords, state.vis)
        feat = (active[:, None] * acc)[None].expand(s, -1, -1)
        coords, vis = self.forward_window(pyramid, coords, feat, vis, track_mask, active, iters)
        end = ind + n_real
        state.coords = _put(state.coords, coords[:n_real] * self.stride, ind, end)
        state.vis = _put(state.vis, vis[:n_real], ind, end)
        state.ind += step
