"""TAPIR's frame encoder: a pre-activation ResNet with instance norms, and BootsTAPIR's extra convolutions.

Parameter names are those of the official files (``resnet_torch.*``, ``extra_convs.*``).
Padding reproduces the JAX "SAME" convolutions the weights were trained with: stride-2
layers pad only on the bottom/right.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from studio.trackers.tapir import winograd
from studio.trackers.tapir.activations import gelu_tanh

HIRES_DIM = 128
LOWRES_DIM = 256


class PreActBlock(nn.Module):
    """Norm -> ReLU -> conv, twice, plus a shortcut (projected from the first activation when asked).

    Both norms are affine instance norms without running statistics. They run frame by frame
    as batch norms in training mode (mean and variance over H, W per channel, same eps: the
    same function), which keep the channels-last layout the encoder's convolutions are
    fastest in; ``F.instance_norm`` copies its input to channels-first (and the convolutions
    then ran channels-first, about 30% slower here). ``F.group_norm`` with one channel per group
    is faster still but its channels-last statistics are one-pass (E[x^2] - E[x]^2) and moved
    tracks by up to 1e-3 px. The ReLUs run in place.
    """

    def __init__(self, channels_in: int, channels_out: int, stride: int, project: bool):
        super().__init__()
        if project:
            self.proj_conv = nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False)
        self.project = project
        self.bn_0 = nn.InstanceNorm2d(channels_in, affine=True)
        # "SAME" for a 3x3 kernel: one pixel all round at stride 1 (the convolution's own
        # padding), bottom/right only at stride 2 (an explicit pad; the kernel reads one of the two rows).
        self.conv_0 = nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1 if stride == 1 else 0, bias=False)
        self.conv_1 = nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)
        self.bn_1 = nn.InstanceNorm2d(channels_out, affine=True)
        self.pad = None if stride == 1 else (0, 2, 0, 2)

    @staticmethod
    def _norm_relu(x: torch.Tensor, norm: nn.InstanceNorm2d) -> torch.Tensor:
        # The instance norm of one frame is a batch norm (batch statistics) over a batch of that
        # one frame; the CPU batch-norm kernel works in the channels-last layout directly.
        frames = [F.batch_norm(x[i : i + 1], None, None, norm.weight, norm.bias, True, 0.0, norm.eps) for i in range(x.shape[0])]
        return torch.cat(frames).relu_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self._norm_relu(x, self.bn_0)
        shortcut = self.proj_conv(a) if self.project else x
        y = self.conv_0(a if self.pad is None else F.pad(a, self.pad))
        y = self.conv_1(self._norm_relu(y, self.bn_1))
        return y.add_(shortcut)


class BlockGroup(nn.Module):
    """Blocks of one width; the first one changes the width/stride and projects its shortcut."""

    def __init__(self, channels_in: int, channels_out: int, stride: int, num_blocks: int = 2):
        super().__init__()
        self.blocks = nn.ModuleList(
            PreActBlock(channels_in if i == 0 else channels_out, channels_out, stride if i == 0 else 1, i == 0)
            for i in range(num_blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class ResNet(nn.Module):
    """7x7/2 stem and four groups (64, 128, 256, 256 channels; strides 1, 2, 2, 1).

    Returns the outputs of group 1 (stride 4, 128 channels) and group 3 (stride 8, 256 channels).
    """

    widths = (64, HIRES_DIM, 256, LOWRES_DIM)
    strides = (1, 2, 2, 1)

    def __init__(self):
        super().__init__()
        self.initial_conv = nn.Conv2d(3, 64, 7, stride=2, bias=False)
        ins = (64,) + self.widths[:-1]
        self.block_groups = nn.ModuleList(
            BlockGroup(c_in, c_out, s) for c_in, c_out, s in zip(ins, self.widths, self.strides)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args: x [B, 3, H, W] in [-1, 1]. Returns (hires [B, 128, H/4, W/4], lowres [B, 256, H/8, W/8]).

        Given channels-last frames (``[B, H, W, 3]`` permuted), every layer stays channels-last,
        the layout oneDNN's convolutions are fastest in here.
        """
        x = self.initial_conv(F.pad(x, (2, 4, 2, 4)))
        outs = []
        for group in self.block_groups:
            x = group(x)
            outs.append(x)
        return outs[1], outs[3]


class ExtraConvBlock(nn.Module):
    """Layer norm over channels, 3x3 conv to 4x the width, GELU, 3x3 conv back, added to the normed input."""

    def __init__(self, dim: int = LOWRES_DIM, multiplier: int = 4):
        super().__init__()
        self.layer_norm = nn.LayerNorm(dim)
        self.conv = nn.Conv2d(dim, dim * multiplier, 3, padding=1)
        self.conv_1 = nn.Conv2d(dim * multiplier, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x [B, H, W, C] channels-last. Returns the same shape."""
        x = self.layer_norm(x).permute(0, 3, 1, 2)
        # Both convolutions by Winograd's F(2x2, 3x3): the same sums, 15-20% less CPU here.
        y = winograd.conv3x3(gelu_tanh(winograd.conv3x3(x, self.conv.weight, self.conv.bias)), self.conv_1.weight, self.conv_1.bias)
        # The residual is the *normalised* input: that is how the released weights were trained.
        return (x + y).permute(0, 2, 3, 1)


class ExtraConvs(nn.Module):
    """BootsTAPIR's five ``ExtraConvBlock``s on the stride-8 map."""

    def __init__(self, num_blocks: int = 5):
        super().__init__()
        self.blocks = nn.ModuleList(ExtraConvBlock() for _ in range(num_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


def unit_length(x: torch.Tensor) -> torch.Tensor:
    """Divide the last axis by its L2 norm (at least 1e-6, so all-zero vectors stay zero)."""
    return x / torch.sqrt(torch.clamp(torch.sum(x * x, dim=-1, keepdim=True), min=1e-12))
