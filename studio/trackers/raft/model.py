"""DOT's RAFT: flow (and optionally occlusion alpha) refined from a coarse initial guess.

State-dict layout is that of the released files, without prefix: ``fnet.*`` (matching
features), ``cnet.*`` (context features: GRU initial state + input), ``update_block.*``.

Resolutions: frames are H x W with H and W multiples of the patch size P; everything
recurrent runs on the coarse h x w = H/P x W/P grid; the last estimate is brought back to
H x W by RAFT's learned convex upsampling (each fine pixel is a softmax-weighted mean
of the 3 x 3 coarse neighbours of its cell).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from studio.trackers.raft.blocks import FEATURE_DIM, HIDDEN_DIM, FeatureEncoder, UpdateBlock
from studio.trackers.raft.corr import CorrPyramid

# Alpha enters the network as a logit; 1e-5 clamps certain values (0 or 1) to about +-11.5.
ALPHA_EPS = 1e-5


def pixel_grid(b: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """[B, 2, h, w] coordinates ``(x, y)`` of each coarse pixel (x along width)."""
    ys = torch.arange(h, device=like.device, dtype=like.dtype)
    xs = torch.arange(w, device=like.device, dtype=like.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy])[None].expand(b, 2, h, w)


def convex_upsample(x: torch.Tensor, mask: torch.Tensor, p: int) -> torch.Tensor:
    """[B, C, h, w] -> [B, C, h*p, w*p] by the learned 3 x 3 convex combination.

    ``mask`` [B, 9*p*p, h, w] holds logits ordered (neighbour, sub-row, sub-column);
    the neighbourhood is zero-padded at the border (part of the trained behaviour).
    """
    b, c, h, w = x.shape
    weights = torch.softmax(mask.view(b, 1, 9, p, p, h, w), dim=2)
    neigh = F.unfold(x, (3, 3), padding=1).view(b, c, 9, 1, 1, h, w)
    up = (weights * neigh).sum(dim=2)  # [B, C, p, p, h, w]
    return up.permute(0, 1, 4, 2, 5, 3).reshape(b, c, h * p, w * p)


def _working_dtype(x: torch.Tensor) -> torch.Tensor:
    # Half-precision features are widened to float32 (as the original does); float64 stays
    # float64 so equivalence checks can run in double precision.
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


class RAFT(nn.Module):
    """The DOT RAFT network.

    Args:
      patch_size: 4 or 8, the ratio of frame to coarse-grid resolution.
      num_iter: default number of update iterations (12 estimator, 4 refiner).
      refine_alpha: also refine an occlusion/visibility alpha.
      norm_fnet, norm_cnet: ``"instance"`` or ``"batch"`` (see ``blocks.make_norm``).
    """

    def __init__(self, patch_size: int, num_iter: int, refine_alpha: bool, norm_fnet: str, norm_cnet: str):
        super().__init__()
        self.patch_size = int(patch_size)
        self.num_iter = int(num_iter)
        self.refine_alpha = bool(refine_alpha)
        self.fnet = FeatureEncoder(norm_fnet, self.patch_size)
        self.cnet = FeatureEncoder(norm_cnet, self.patch_size)
        self.update_block = UpdateBlock(self.patch_size, self.refine_alpha)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] float RGB in [0, 1] -> [B, 512, H/P, W/P]: fnet channels, then cnet channels.

        The result can be cached per frame and passed to ``forward`` as ``src_feats`` /
        ``tgt_feats``. H and W must be multiples of P.
        """
        x = frames * 2 - 1
        return _working_dtype(torch.cat([self.fnet(x), self.cnet(x)], dim=1))

    def forward(
        self,
        src_frame: torch.Tensor | None = None,
        tgt_frame: torch.Tensor | None = None,
        src_feats: torch.Tensor | None = None,
        tgt_feats: torch.Tensor | None = None,
        coarse_flow: torch.Tensor | None = None,
        coarse_alpha: torch.Tensor | None = None,
        num_iter: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Flow from the source frame to the target frame.

        Args:
          src_frame, tgt_frame: [B, 3, H, W] float in [0, 1]; ignored where the
            corresponding ``*_feats`` ([B, 512, H/P, W/P], from ``encode``) is given.
          coarse_flow: [B, h, w, 2] channels-last initial flow ``(dx, dy)`` in coarse-grid
            pixels (h = H/P, w = W/P); None = zero.
          coarse_alpha: [B, h, w] initial alpha in [0, 1]; None = 1 (visible). Only used
            when ``refine_alpha``.
          num_iter: update iterations; None = ``self.num_iter``.

        Returns:
          flow [B, H, W, 2] ``(dx, dy)`` in full-resolution pixels, and alpha [B, H, W]
          in [0, 1] (None when the model has no alpha).
        """
        if src_feats is None:
            src_feats = self.encode(src_frame)
        if tgt_feats is None:
            tgt_feats = self.encode(tgt_frame)
        src_f, ctx = src_feats.split([FEATURE_DIM, FEATURE_DIM], dim=1)
        tgt_f = tgt_feats[:, :FEATURE_DIM]
        corr = CorrPyramid(src_f, tgt_f)

        net, context = ctx.split([HIDDEN_DIM, HIDDEN_DIM], dim=1)
        net, context = torch.tanh(net), torch.relu(context)

        b, _, h, w = src_f.shape
        src_pts = pixel_grid(b, h, w, src_f)
        tgt_pts = src_pts
        if coarse_flow is not None:
            tgt_pts = src_pts + coarse_flow.permute(0, 3, 1, 2).to(src_f.dtype)
        alpha = None
        if self.refine_alpha:
            if coarse_alpha is None:
                alpha = torch.ones(b, 1, h, w, device=src_f.device, dtype=src_f.dtype)
            else:
                alpha = coarse_alpha[:, None].to(src_f.dtype)
            alpha = alpha.logit(eps=ALPHA_EPS)

        for _ in range(self.num_iter if num_iter is None else int(num_iter)):
            net, d_flow, d_alpha = self.update_block(net, context, corr(tgt_pts), tgt_pts - src_pts, alpha)
            tgt_pts = tgt_pts + d_flow
            if self.refine_alpha:
                alpha = alpha + d_alpha

        p = self.patch_size
        flow_mask, alpha_mask = self.update_block.masks(net)
        flow = convex_upsample(p * (tgt_pts - src_pts), flow_mask, p).permute(0, 2, 3, 1)
        if not self.refine_alpha:
            return flow, None
        return flow, convex_upsample(alpha, alpha_mask, p)[:, 0].sigmoid()
