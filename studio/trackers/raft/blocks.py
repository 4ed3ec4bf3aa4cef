"""Layers of DOT's RAFT: the two image encoders and the recurrent update block.

Attribute names (``conv1``, ``norm1``, ``layer1.0.downsample.1``, ``encoder.convc1``,
``gru.convz1``, ``mask.0`` ...) are the parameter names of the released files, so
they must not be renamed. Layer sizes follow RAFT-basic (Teed & Deng, ECCV 2020)
with DOT's two changes: a selectable stride of the first convolution (patch size 4
or 8) and an optional occlusion ("alpha") channel in the update block.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

FEATURE_DIM = 256  # channels of each encoder's output (fnet and cnet alike)
HIDDEN_DIM = 128  # GRU state channels; the other half of cnet's output is the GRU's context input
CORR_LEVELS = 4
CORR_RADIUS = 4
CORR_CHANNELS = CORR_LEVELS * (2 * CORR_RADIUS + 1) ** 2  # 324


def make_norm(kind: str, channels: int) -> nn.Module:
    """The normalisation the checkpoint expects.

    ``"instance"`` is parameter-free (no affine, no running stats), so it adds no keys;
    ``"batch"`` carries weight, bias and running statistics and is used in eval mode.
    """
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(channels // 8, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; expected instance, batch, group or none")


class ResBlock(nn.Module):
    """Two 3x3 conv-norm-ReLU stages plus a skip path (1x1 conv + norm when striding).

    [B, C_in, H, W] -> [B, C_out, H / stride, W / stride].
    """

    def __init__(self, in_ch: int, out_ch: int, norm: str, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1)
        self.norm1 = make_norm(norm, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.norm2 = make_norm(norm, out_ch)
        # The released files index the skip path's norm as "downsample.1", hence a Sequential.
        self.downsample = (
            nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride), make_norm(norm, out_ch)) if stride != 1 else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(skip + y)


class FeatureEncoder(nn.Module):
    """Image -> feature map at 1/P resolution.

    Input [B, 3, H, W] float in [-1, 1]; output [B, 256, H/P, W/P]. Patch size 8 uses a
    stride-2 first convolution (total stride 2*2*2), patch size 4 a stride-1 one (1*2*2).
    """

    def __init__(self, norm: str, patch_size: int, out_dim: int = FEATURE_DIM):
        super().__init__()
        if patch_size not in (4, 8):
            raise ValueError(f"patch_size must be 4 or 8, got {patch_size}")
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2 if patch_size == 8 else 1, padding=3)
        self.norm1 = make_norm(norm, 64)
        self.layer1 = nn.Sequential(ResBlock(64, 64, norm, 1), ResBlock(64, 64, norm, 1))
        self.layer2 = nn.Sequential(ResBlock(64, 96, norm, 2), ResBlock(96, 96, norm, 1))
        self.layer3 = nn.Sequential(ResBlock(96, 128, norm, 2), ResBlock(128, 128, norm, 1))
        self.conv2 = nn.Conv2d(128, out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm1(self.conv1(x)))
        return self.conv2(self.layer3(self.layer2(self.layer1(x))))


class MotionEncoder(nn.Module):
    """Correlation features + current estimate -> 128 motion channels.

    Inputs: ``corr`` [B, 324, h, w]; ``state`` [B, S, h, w] with S = 2 (flow) or 5
    (flow, alpha logit, two zero channels: the trained layout with alpha). The output
    [B, 128, h, w] ends with ``state`` itself, so the GRU always sees the raw estimate.
    """

    def __init__(self, state_dim: int):
        super().__init__()
        self.convc1 = nn.Conv2d(CORR_CHANNELS, 256, 1)
        self.convc2 = nn.Conv2d(256, 192, 3, padding=1)
        self.convf1 = nn.Conv2d(state_dim, 128, 7, padding=3)
        self.convf2 = nn.Conv2d(128, 64, 3, padding=1)
        self.conv = nn.Conv2d(192 + 64, 128 - state_dim, 3, padding=1)

    def forward(self, corr: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        c = F.relu(self.convc2(F.relu(self.convc1(corr))))
        s = F.relu(self.convf2(F.relu(self.convf1(state))))
        m = F.relu(self.conv(torch.cat([c, s], dim=1)))
        return torch.cat([m, state], dim=1)


class SeparableGRU(nn.Module):
    """Convolutional GRU applied twice: a 1x5 (horizontal) pass, then a 5x1 (vertical) one.

    ``h`` [B, 128, h, w] hidden state, ``x`` [B, 256, h, w] input -> new ``h``.
    """

    def __init__(self, hidden: int = HIDDEN_DIM, inp: int = 2 * HIDDEN_DIM):
        super().__init__()
        ch = hidden + inp
        for suffix, k, p in (("1", (1, 5), (0, 2)), ("2", (5, 1), (2, 0))):
            for gate in ("z", "r", "q"):
                setattr(self, f"conv{gate}{suffix}", nn.Conv2d(ch, hidden, k, padding=p))

    def _step(self, h: torch.Tensor, x: torch.Tensor, suffix: str) -> torch.Tensor:
        hx = torch.cat([h, x], dim=1)
        z = torch.sigmoid(getattr(self, f"convz{suffix}")(hx))
        r = torch.sigmoid(getattr(self, f"convr{suffix}")(hx))
        q = torch.tanh(getattr(self, f"convq{suffix}")(torch.cat([r * h, x], dim=1)))
        return (1 - z) * h + z * q

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self._step(self._step(h, x, "1"), x, "2")


class Head(nn.Module):
    """3x3 conv 128 -> 256, ReLU, 3x3 conv -> ``out`` channels (flow or alpha increment)."""

    def __init__(self, out: int, inp: int = HIDDEN_DIM, hidden: int = 256):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x)))


def mask_head(patch_size: int) -> nn.Sequential:
    """Hidden state -> logits of the convex-upsampling weights, [B, 9 * P * P, h, w]."""
    return nn.Sequential(
        nn.Conv2d(HIDDEN_DIM, 256, 3, padding=1), nn.ReLU(), nn.Conv2d(256, 9 * patch_size * patch_size, 1)
    )


class UpdateBlock(nn.Module):
    """One refinement step: motion features -> GRU -> increments (and upsampling masks on request).

    Submodules: ``encoder``, ``gru``, ``flow_head``, ``mask``; with alpha also
    ``alpha_head`` and ``alpha_mask``.
    """

    # The trained network scales the mask logits by this constant before the softmax.
    MASK_SCALE = 0.25

    def __init__(self, patch_size: int, refine_alpha: bool):
        super().__init__()
        self.refine_alpha = refine_alpha
        self.encoder = MotionEncoder(5 if refine_alpha else 2)
        self.gru = SeparableGRU()
        self.flow_head = Head(2)
        self.mask = mask_head(patch_size)
        if refine_alpha:
            self.alpha_head = Head(1)
            self.alpha_mask = mask_head(patch_size)

    def forward(
        self, net: torch.Tensor, context: torch.Tensor, corr: torch.Tensor, flow: torch.Tensor,
        alpha: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Returns (new hidden state, flow increment [B,2,h,w], alpha-logit increment [B,1,h,w] | None).

        ``flow`` is the current coarse flow in coarse pixels, ``alpha`` the current alpha logit.
        """
        if self.refine_alpha:
            state = torch.cat([flow, alpha, torch.zeros_like(flow)], dim=1)
        else:
            state = flow
        net = self.gru(net, torch.cat([context, self.encoder(corr, state)], dim=1))
        d_alpha = self.alpha_head(net) if self.refine_alpha else None
        return net, self.flow_head(net), d_alpha

    def masks(self, net: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Upsampling mask logits for flow and alpha; only the last iteration's are ever used."""
        flow_mask = self.MASK_SCALE * self.mask(net)
        alpha_mask = self.MASK_SCALE * self.alpha_mask(net) if self.refine_alpha else None
        return flow_mask, alpha_mask
