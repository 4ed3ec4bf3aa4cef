"""The GMRW network: per-frame CNN features, then a transformer over a frame pair.

State-dict layout is that of the released files after removing DDP's ``module.`` prefix:
``backbone.*`` (``encoder.CNNEncoder``) and ``transformer.*``
(``transformer.FeatureTransformer``); 116 tensors, 4,346,912 parameters, no buffers.

What the network sees: frames as float values 0..255 normalised with the ImageNet mean
and standard deviation *as if they were 0..1* (``(v - 0.485) / 0.229`` on 0..255 values).
That is what upstream's evaluation does (``normalize_imgs(divideby255=False)``) and the
released weights are evaluated that way; reproduced, not corrected.
"""

from __future__ import annotations

import torch
from torch import nn

from studio.trackers.gmrw.encoder import FEATURE_DIM, CNNEncoder
from studio.trackers.gmrw.transformer import SPLITS, FeatureTransformer, window_position_encoding

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STRIDE = 4
"""Frame pixels per feature cell."""
MULTIPLE = STRIDE * SPLITS
"""Frame sides must be multiples of this: the 1/4-resolution map is cut into 2 x 2 windows."""


class GMRW(nn.Module):
    """Features for global matching between two frames (GMFlow's encoder and transformer)."""

    def __init__(self, dim: int = FEATURE_DIM, num_layers: int = 6):
        super().__init__()
        self.dim = dim
        self.backbone = CNNEncoder(dim)
        self.transformer = FeatureTransformer(dim, num_layers)
        self.register_buffer("_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame features with the windowed position encoding added.

        Args:
          frames: [B, 3, H, W] float RGB, values 0..255; H and W multiples of ``MULTIPLE``.

        Returns:
          [B, dim, H/4, W/4].
        """
        feats = self.backbone((frames - self._mean) / self._std)
        h, w = feats.shape[-2:]
        return feats + window_position_encoding(h, w, self.dim, feats.device).to(feats.dtype)

    def match(self, feat_a: torch.Tensor, feat_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both frames' features after cross-attention: [B, dim, h, w] each (from ``encode``)."""
        return self.transformer(feat_a, feat_b)
