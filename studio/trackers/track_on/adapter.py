"""ViT-Adapter as Track-On uses it: a DINO ViT plus a convolutional spatial prior, exchanging
information through deformable attention, giving four feature maps at strides 4, 8, 16, 32.

The convolutional branch ("spatial prior", SPM) sees the normalised frame at the model
resolution; the ViT sees it resized (bilinear) to a multiple of its patch size. Four
interactions each run three ViT blocks between an *injector* (ViT patch tokens read the SPM
pyramid at strides 8/16/32) and an *extractor* (SPM tokens read the ViT tokens, then a
depth-wise convolutional FFN); the last interaction has two more extractors. Outputs are
BatchNorm-ed maps ``[B, 384, H/s, W/s]``.

Subclasses choose the ViT and where its weights sit in the key layout:
``MetaDinov2Adapter`` (Track-On v1: Meta's names at the top level), ``Dinov2Adapter``
(``dinov2.*``, Hugging Face names) and ``Dinov3Adapter`` (``dinov3.*``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from studio.trackers.backbones.dinov2 import Dinov2, MetaDinov2Parts
from studio.trackers.backbones.dinov3 import Dinov3
from studio.trackers.track_on.msda import MultiScaleDeformableAttention, Shapes

DIM = 384
HEADS = 6
SPM_WIDTH = 64
GROUPS = ((0, 3), (3, 6), (6, 9), (9, 12))  # ViT blocks run inside each interaction
LN_EPS = 1e-6


def cell_centres(shapes: Shapes, device) -> torch.Tensor:
    """Centres of every cell of each grid, normalised to ``[0, 1]``: ``[1, sum(h*w), 1, 2]`` ``(x, y)``."""
    out = []
    for h, w in shapes:
        ys = torch.linspace(0.5, h - 0.5, h, dtype=torch.float32, device=device) / h
        xs = torch.linspace(0.5, w - 0.5, w, dtype=torch.float32, device=device) / w
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        out.append(torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1))
    return torch.cat(out, dim=0)[None, :, None]


def _conv_bn(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SpatialPrior(nn.Module):
    """Convolutional stem: maps at strides 4, 8, 16, 32, each projected to ``DIM`` channels."""

    def __init__(self, width: int = SPM_WIDTH, dim: int = DIM):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, width, 2), *_conv_bn(width, width, 1), *_conv_bn(width, width, 1),
                                  nn.MaxPool2d(3, 2, 1))
        self.conv2 = nn.Sequential(*_conv_bn(width, 2 * width, 2))
        self.conv3 = nn.Sequential(*_conv_bn(2 * width, 4 * width, 2))
        self.conv4 = nn.Sequential(*_conv_bn(4 * width, 4 * width, 2))
        self.fc1 = nn.Conv2d(width, dim, 1)
        self.fc2 = nn.Conv2d(2 * width, dim, 1)
        self.fc3 = nn.Conv2d(4 * width, dim, 1)
        self.fc4 = nn.Conv2d(4 * width, dim, 1)

    def forward(self, x: torch.Tensor):
        """-> c1 ``[B, C, H/4, W/4]`` and c2, c3, c4 as tokens ``[B, h*w, C]`` (strides 8, 16, 32)."""
        c1 = self.stem(x)
        c2 = self.conv2(c1)
        c3 = self.conv3(c2)
        c4 = self.conv4(c3)
        tokens = [fc(c).flatten(2).transpose(1, 2) for fc, c in ((self.fc2, c2), (self.fc3, c3), (self.fc4, c4))]
        return self.fc1(c1), *tokens


class _DepthwiseConv(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)


class ConvFFN(nn.Module):
    """``fc2(gelu(dwconv(fc1 x)))`` where the 3x3 depth-wise convolution runs on each of the three
    SPM levels (2h x 2w, h x w, h/2 x w/2 tokens, concatenated in that order) separately."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = _DepthwiseConv(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = self.fc1(x)
        b, _, c = x.shape
        parts, start = [], 0
        for hh, ww in ((2 * h, 2 * w), (h, w), (h // 2, w // 2)):
            level = x[:, start : start + hh * ww].transpose(1, 2).reshape(b, c, hh, ww)
            start += hh * ww
            parts.append(self.dwconv.dwconv(level).flatten(2).transpose(1, 2))
        return self.fc2(F.gelu(torch.cat(parts, dim=1)))


class Injector(nn.Module):
    """ViT patch tokens read the SPM pyramid: ``x + gamma * MSDA(LN(x), LN(c))`` (MSDA includes ``LN(x)``)."""

    def __init__(self, dim: int = DIM, heads: int = HEADS):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(dim))
        self.query_norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.feat_norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = MultiScaleDeformableAttention(dim, heads, levels=3)

    def forward(self, x, reference, feat, shapes: Shapes) -> torch.Tensor:
        return x + self.gamma * self.attn(self.query_norm(x), self.feat_norm(feat), reference, shapes)


class Extractor(nn.Module):
    """SPM tokens read the ViT tokens, then a convolutional FFN: ``c + MSDA(LN c, LN x)``, ``c + FFN(LN c)``."""

    def __init__(self, dim: int = DIM, heads: int = HEADS):
        super().__init__()
        self.query_norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.feat_norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = MultiScaleDeformableAttention(dim, heads, levels=1)
        self.ffn = ConvFFN(dim, dim // 4)
        self.ffn_norm = nn.LayerNorm(dim, eps=LN_EPS)

    def forward(self, c, reference, feat, shapes: Shapes, h: int, w: int) -> torch.Tensor:
        c = c + self.attn(self.query_norm(c), self.feat_norm(feat), reference, shapes)
        return c + self.ffn(self.ffn_norm(c), h, w)


class Interaction(nn.Module):
    def __init__(self, extra_extractors: bool):
        super().__init__()
        self.injector = Injector()
        self.extractor = Extractor()
        self.extra_extractors = nn.Sequential(Extractor(), Extractor()) if extra_extractors else None


class ViTAdapter(nn.Module):
    """The adapter parts (``level_embed``, ``spm``, ``interactions``, ``up``, ``norm1..4``); subclasses add the ViT.

    Subclasses provide ``vit`` (an object with ``patch_size``, ``num_prefix``, ``blocks`` and
    ``embed(x) -> (prefix, patches, context)``) and ``vit_size(h, w)``.
    """

    def __init__(self):
        super().__init__()
        self.level_embed = nn.Parameter(torch.zeros(3, DIM))
        self.spm = SpatialPrior()
        self.interactions = nn.Sequential(*(Interaction(i == len(GROUPS) - 1) for i in range(len(GROUPS))))
        self.up = nn.ConvTranspose2d(DIM, DIM, 2, 2)
        self.norm1 = nn.BatchNorm2d(DIM)
        self.norm2 = nn.BatchNorm2d(DIM)
        self.norm3 = nn.BatchNorm2d(DIM)
        self.norm4 = nn.BatchNorm2d(DIM)

    vit: object

    def vit_size(self, h: int, w: int) -> tuple[int, int]:
        p = self.vit.patch_size
        return h // p * p, w // p * p

    def vit_input(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=self.vit_size(*x.shape[-2:]), mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: ``[B, 3, H, W]`` normalised (H, W multiples of 32) -> ``[f4, f8, f16, f32]``, ``[B, 384, H/s, W/s]``."""
        vit = self.vit
        h, w = x.shape[-2:]
        x_vit = self.vit_input(x)
        grid = (x_vit.shape[-2] // vit.patch_size, x_vit.shape[-1] // vit.patch_size)
        spm_shapes = [(h // 8, w // 8), (h // 16, w // 16), (h // 32, w // 32)]
        ref_vit, ref_spm = cell_centres([grid], x.device), cell_centres(spm_shapes, x.device)

        c1, c2, c3, c4 = self.spm(x)
        c = torch.cat([c2 + self.level_embed[0], c3 + self.level_embed[1], c4 + self.level_embed[2]], dim=1)
        prefix, tokens, context = vit.embed(x_vit)
        n_prefix = prefix.shape[1]
        for (first, last), block in zip(GROUPS, self.interactions):
            tokens = block.injector(tokens, ref_vit, c, spm_shapes)
            seq = torch.cat([prefix, tokens], dim=1)
            for vit_block in vit.blocks[first:last]:
                seq = vit_block(seq, context)
            prefix, tokens = seq[:, :n_prefix], seq[:, n_prefix:]
            extractors = [block.extractor] + (list(block.extra_extractors) if block.extra_extractors else [])
            for extractor in extractors:
                c = extractor(c, ref_spm, tokens, [grid], h // 16, w // 16)

        b = x.shape[0]
        sizes = [s[0] * s[1] for s in spm_shapes]
        c2, c3, c4 = (t.transpose(1, 2).reshape(b, DIM, *s) for t, s in zip(c.split(sizes, dim=1), spm_shapes))
        c1 = self.up(c2) + c1
        return [self.norm1(c1), self.norm2(c2), self.norm3(c3), self.norm4(c4)]


class MetaDinov2Adapter(ViTAdapter, MetaDinov2Parts):
    """Track-On v1: Meta's DINOv2 ViT-S/14 parameters at the adapter's top level."""

    def __init__(self):
        super().__init__()
        self.add_vit()

    @property
    def vit(self):
        return self

    def vit_input(self, x: torch.Tensor) -> torch.Tensor:
        # Track-On v1 resizes only when the frame is not already a multiple of the patch size.
        h, w = x.shape[-2:]
        if h % self.patch_size or w % self.patch_size:
            return super().vit_input(x)
        return x


class Dinov2Adapter(ViTAdapter):
    """Track-On2 with DINOv2: Hugging Face ``Dinov2Model`` under ``dinov2.``."""

    def __init__(self):
        super().__init__()
        self.dinov2 = Dinov2()

    @property
    def vit(self):
        return self.dinov2


class Dinov3Adapter(ViTAdapter):
    """Track-On2 / Track-On-R with DINOv3 ViT-S+/16 under ``dinov3.``; the ViT sees the frame enlarged
    by ``upsample`` (1.143: 384x512 -> 432x576, the same 27x36 patch grid as DINOv2 at 378x504)."""

    def __init__(self, upsample: float = 1.143):
        super().__init__()
        self.dinov3 = Dinov3()
        self.upsample = upsample

    @property
    def vit(self):
        return self.dinov3

    def vit_size(self, h: int, w: int) -> tuple[int, int]:
        p = self.dinov3.patch_size
        return int(h * self.upsample) // p * p, int(w * self.upsample) // p * p
