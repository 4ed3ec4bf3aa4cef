"""CoTracker3 (Karaev et al. 2024, arXiv:2410.11831), offline and online, checkpoint-compatible.

State-dict layout (strict): ``fnet.*`` (BasicEncoder), ``updateformer.*``
(EfficientUpdateFormer, 3 time + 3 space blocks, 1110 -> 384 -> 2 + 2),
``corr_mlp.fc{1,2}.*`` (2401 -> 384 -> 256) and the buffer ``time_emb``
``[1, window_len, 1110]`` (60 for the offline files, 16 for the online ones).

All inputs and outputs here are at the model resolution (384 x 512 for the released
weights); ``predictor.py`` converts from and to the user's video.

Per frame, features are L2-normalised and average-pooled into a 4-level pyramid. A
query is described by the 7 x 7 patch of features around it on its own frame, at each
level. Each iteration correlates that patch with the 7 x 7 patch around the current
estimate in every frame (49 x 49 values per level, embedded by ``corr_mlp``), adds a
sinusoidal encoding of the frame-to-frame motion and the current visibility and
confidence logits, and lets the transformer predict updates of position, visibility
and confidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from studio.trackers.cotracker.blocks import (
    BasicEncoder,
    EfficientUpdateFormer,
    Mlp,
    encode_frames,
    neighbourhood,
    posenc,
    sample_at_frames,
    sample_bilinear,
    time_embedding,
)

# Bytes of sampled correlation features held at once; bounds memory for many points.
CORR_CHUNK_BYTES = 256 * 2**20


class CoTracker3(nn.Module):
    """CoTracker3 network; ``forward_offline`` and ``online_window`` run it.

    Args:
      window_len: frames the time embedding was trained for (60 offline, 16 online).
      model_resolution: ``(H, W)`` of the frames the model sees.
      num_virtual_tracks: virtual tracks of the update transformer.
    """

    stride = 4
    latent_dim = 128
    corr_levels = 4
    corr_radius = 3
    input_dim = 1110

    def __init__(self, window_len: int, model_resolution: tuple[int, int] = (384, 512), num_virtual_tracks: int = 64):
        super().__init__()
        self.window_len = window_len
        self.model_resolution = tuple(model_resolution)
        self.fnet = BasicEncoder(input_dim=3, output_dim=self.latent_dim, stride=self.stride)
        self.updateformer = EfficientUpdateFormer(
            space_depth=3,
            time_depth=3,
            input_dim=self.input_dim,
            hidden_size=384,
            output_dim=4,
            num_virtual_tracks=num_virtual_tracks,
            add_space_attn=True,
            linear_layer_for_vis_conf=True,
        )
        side = 2 * self.corr_radius + 1
        self.corr_mlp = Mlp(side**4, 384, 256)
        self.register_buffer("time_emb", time_embedding(self.input_dim, window_len))

    # -- features --------------------------------------------------------------------------

    def features(self, video: torch.Tensor, chunk: int = 8) -> list[torch.Tensor]:
        """Feature pyramid of frames.

        Args:
          video: [T, 3, H, W] float, 0..255, at the model resolution (H, W divisible by 4).
          chunk: frames per encoder call.

        Returns:
          ``corr_levels`` tensors [T, 128, H/4 / 2^i, W/4 / 2^i], L2-normalised per pixel at level 0.
        """
        h, w = video.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(f"frame size {h}x{w} must be divisible by {self.stride}")
        fmaps = encode_frames(self.fnet, video, chunk)
        norm = torch.sqrt(torch.clamp(torch.sum(fmaps.float() ** 2, dim=1, keepdim=True), min=1e-12))
        fmaps = (fmaps / norm).to(video.dtype)
        pyramid = [fmaps]
        for _ in range(self.corr_levels - 1):
            pyramid.append(F.avg_pool2d(pyramid[-1], 2, stride=2))
        return pyramid

    def support_features(
        self, pyramid: list[torch.Tensor], frames: torch.Tensor, xy: torch.Tensor
    ) -> list[torch.Tensor]:
        """Feature patches around the queries on their own frames.

        Args:
          pyramid: from ``features`` (frames indexed from 0).
          frames: [N] int64 frame of each query within ``pyramid``.
          xy: [N, 2] query ``(x, y)`` in level-0 feature pixels (model pixels / 4).

        Returns:
          per level [N, 49, 128].
        """
        offsets = neighbourhood(self.corr_radius, xy.device)
        return [
            sample_at_frames(level, frames, xy[:, None, :] / 2**i + offsets[None])
            for i, level in enumerate(pyramid)
        ]

    def correlation(self, level: torch.Tensor, coords: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
        """Embedded 4-D correlation between query patches and the patches around estimates.

        Args:
          level: [S, C, h, w] one pyramid level.
          coords: [S, N, 2] current estimates in this level's pixels.
          support: [N, 49, C] query patches at this level.

        Returns:
          [S, N, 256].
        """
        s, n = coords.shape[:2]
        c = level.shape[1]
        k = support.shape[1]
        offsets = neighbourhood(self.corr_radius, coords.device)
        chunk = max(1, CORR_CHUNK_BYTES // max(1, s * k * c * 4))
        out = []
        for n0 in range(0, n, chunk):
            pts = coords[:, n0 : n0 + chunk, None, :] + offsets  # [S, n, 49, 2]
            m = pts.shape[1]
            feats = sample_bilinear(level, pts)  # [S, C, n, 49]
            feats = feats.permute(2, 0, 3, 1).reshape(m, s * k, c)
            volume = torch.bmm(feats, support[n0 : n0 + chunk].transpose(1, 2).to(feats.dtype))  # [n, S*49, 49]
            volume = volume.reshape(m, s, k * k).transpose(0, 1)
            out.append(self.corr_mlp(volume))
        return torch.cat(out, dim=1)

    def time_embedding_for(self, length: int) -> torch.Tensor:
        """[1, length, 1110] time embedding, linearly resampled when ``length`` differs from training."""
        if length == self.time_emb.shape[1]:
            return self.time_emb
        emb = F.interpolate(self.time_emb.float().permute(0, 2, 1), size=length, mode="linear")
        return emb.permute(0, 2, 1)

    # -- the update loop -------------------------------------------------------------------

    def refine(
        self,
        pyramid: list[torch.Tensor],
        coords: torch.Tensor,
        vis: torch.Tensor,
        conf: torch.Tensor,
        support: list[torch.Tensor],
        iters: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Iteratively update tracks over the frames of ``pyramid``.

        Args:
          pyramid: per level [S, C, h, w].
          coords: [S, N, 2] initial ``(x, y)`` in level-0 feature pixels.
          vis, conf: [S, N] initial logits.
          support: per level [N, 49, C].
          iters: number of updates.

        Returns:
          (coords [S, N, 2] feature pixels, vis logits [S, N], conf logits [S, N]).
        """
        s = coords.shape[0]
        scale = torch.tensor([self.model_resolution[1], self.model_resolution[0]], device=coords.device) / self.stride
        time_emb = self.time_embedding_for(s)
        for _ in range(iters):
            corr = torch.cat(
                [self.correlation(level, coords / 2**i, support[i]) for i, level in enumerate(pyramid)], dim=-1
            )
            # Motion to the next and from the previous frame, zero at the ends.
            forward = F.pad(coords[:-1] - coords[1:], (0, 0, 0, 0, 0, 1))
            backward = F.pad(coords[1:] - coords[:-1], (0, 0, 0, 0, 1, 0))
            motion = posenc(torch.cat([forward / scale, backward / scale], dim=-1), min_deg=0, max_deg=10)
            tokens = torch.cat([vis[..., None], conf[..., None], corr, motion], dim=-1).transpose(0, 1)  # [N, S, D]
            tokens = tokens + time_emb
            delta = self.updateformer(tokens[None])[0].transpose(0, 1)  # [S, N, 4]
            coords = coords + delta[..., :2]
            vis = vis + delta[..., 2]
            conf = conf + delta[..., 3]
        return coords, vis, conf

    # -- offline ---------------------------------------------------------------------------

    def forward_offline(
        self, video: torch.Tensor, queries: torch.Tensor, iters: int = 6, encoder_chunk: int = 8
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Track over the whole video at once (the offline model: one window of T frames).

        Args:
          video: [T, 3, H, W] float 0..255 at the model resolution.
          queries: [N, 3] ``(t, x, y)`` in model pixels.
          iters: update iterations (6 in the official predictors).
          encoder_chunk: frames per encoder call.

        Returns:
          coords [T, N, 2] model pixels, vis [T, N] and conf [T, N] probabilities.
        """
        t = video.shape[0]
        pyramid = self.features(video, encoder_chunk)
        frames = queries[:, 0].long()
        xy = queries[:, 1:] / self.stride
        support = self.support_features(pyramid, frames, xy)
        coords = xy[None].expand(t, -1, -1).float()
        vis = torch.zeros(coords.shape[:2], device=video.device)
        conf = torch.zeros_like(vis)
        coords, vis, conf = self.refine(pyramid, coords, vis, conf, support, iters)
        return coords * self.stride, torch.sigmoid(vis), torch.sigmoid(conf)

    # -- online ----------------------------------------------------------------------------

    def start_online(self, queries: torch.Tensor) -> OnlineState:
        """State for causal tracking of ``queries`` [N, 3] ``(t, x, y)`` model pixels."""
        n = queries.shape[0]
        dev = queries.device
        return OnlineState(
            frames=queries[:, 0].long(),
            xy=queries[:, 1:] / self.stride,
            support=[torch.zeros(n, (2 * self.corr_radius + 1) ** 2, self.latent_dim, device=dev)
                     for _ in range(self.corr_levels)],
            coords=torch.zeros(0, n, 2, device=dev),
            vis=torch.zeros(0, n, device=dev),
            conf=torch.zeros(0, n, device=dev),
        )

    def online_window(self, state: OnlineState, pyramid: list[torch.Tensor], n_real: int, iters: int = 6) -> None:
        """Process the window starting at frame ``state.ind`` and advance by half a window.

        Args:
          state: from ``start_online``; updated in place.
          pyramid: features of the window's ``window_len`` frames (the last real frame
            repeated when fewer than ``window_len`` are left).
          n_real: real frames in the window.
          iters: update iterations.
        """
        s = self.window_len
        step = s // 2
        ind = state.ind
        # A query's patch is taken from the first window whose new half contains its frame.
        left = 0 if ind == 0 else ind + step
        new = (state.frames >= left) & (state.frames < ind + s)
        if new.any():
            sel = new.nonzero(as_tuple=True)[0]
            feats = self.support_features(pyramid, state.frames[sel] - ind, state.xy[sel])
            for acc, f in zip(state.support, feats):
                acc[sel] += f.to(acc.dtype)
        active = (state.frames < ind + s).to(state.support[0].dtype)[:, None, None]
        support = [acc * active for acc in state.support]

        n = state.frames.shape[0]
        coords = state.xy[None].expand(s, -1, -1).float()
        vis = torch.zeros(s, n, device=coords.device)
        conf = torch.zeros_like(vis)
        if ind > 0:
            # Points queried before the overlap start from the previous window's estimates,
            # the overlap frames copied and the rest held at the last of them.
            overlap = s - step
            copy = (state.frames < ind + overlap)[None]
            prev = [_hold_last(x[ind : ind + overlap], s) for x in (state.coords / self.stride, state.vis, state.conf)]
            coords = torch.where(copy[..., None], prev[0], coords)
            vis = torch.where(copy, prev[1], vis)
            conf = torch.where(copy, prev[2], conf)
        coords, vis, conf = self.refine(pyramid, coords, vis, conf, support, iters)
        end = ind + n_real
        state.coords = _put(state.coords, coords[:n_real] * self.stride, ind, end)
        state.vis = _put(state.vis, vis[:n_real], ind, end)
        state.conf = _put(state.conf, conf[:n_real], ind, end)
        state.ind += step


@dataclass
class OnlineState:
    """Running state of the online model.

    Attributes:
      frames: [N] int64 query frames.
      xy: [N, 2] query positions in level-0 feature pixels.
      support: per level [N, 49, 128] query patches (zero until sampled).
      coords: [T_done, N, 2] estimates in model pixels for the frames seen so far.
      vis, conf: [T_done, N] logits (conf None for models without confidence).
      ind: first frame of the next window.
    """

    frames: torch.Tensor
    xy: torch.Tensor
    support: list[torch.Tensor]
    coords: torch.Tensor
    vis: torch.Tensor
    conf: torch.Tensor | None
    ind: int = 0
    extra: dict = field(default_factory=dict)


def _hold_last(x: torch.Tensor, length: int) -> torch.Tensor:
    """Extend [k, ...] to [length, ...] by repeating its last entry."""
    return torch.cat([x, x[-1:].expand(length - x.shape[0], *x.shape[1:])], dim=0)


def _put(store: torch.Tensor, values: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """``store[start:end] = values``, growing with zeros or cutting so its length is ``end``."""
    if store.shape[0] < end:
        store = torch.cat([store, store.new_zeros(end - store.shape[0], *store.shape[1:])], dim=0)
    store = store[:end].clone()
    store[start:end] = values.to(store.dtype)
    return store
