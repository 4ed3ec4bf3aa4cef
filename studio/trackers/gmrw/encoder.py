"""GMRW's convolutional image encoder (the GMFlow CNN): RGB frame -> 128-channel map at 1/4 size.

State-dict names (under ``backbone.``) are those of the released files: ``conv1``,
``layer{1,2,3}.{0,1}.conv{1,2}``, ``layer{2,3}.0.downsample.0``, ``conv2``, ``trident_conv``.
Every normalisation is an InstanceNorm without parameters or running statistics, so it
holds no keys; each frame is normalised on its own (batching frames changes nothing).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

FEATURE_DIM = 128


def _norm(x: torch.Tensor) -> torch.Tensor:
    return F.instance_norm(x, eps=1e-5)


class ResidualBlock(nn.Module):
    """Two 3 x 3 convolutions (no bias), each followed by InstanceNorm and ReLU, plus a skip.

    The skip is a 1 x 1 convolution with bias and InstanceNorm (``downsample.0``) when the
    block changes the width or the stride, else the identity.
    """

    def __init__(self, in_dim: int, out_dim: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_dim, out_dim, 3, stride=stride, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_dim, out_dim, 3, padding=1, bias=False)
        if stride != 1 or in_dim != out_dim:
            # A Sequential only so that the weight is named ``downsample.0`` as in the files;
            # its InstanceNorm is applied in forward (it has no parameters to name).
            self.downsample = nn.Sequential(nn.Conv2d(in_dim, out_dim, 1, stride=stride))
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(_norm(self.conv1(x)))
        y = F.relu(_norm(self.conv2(y)))
        skip = x if self.downsample is None else _norm(self.downsample(x))
        return F.relu(skip + y)


class _SharedConv(nn.Module):
    """Holds the one 3 x 3 weight GMFlow's "trident" convolution shares between its strides.

    The released model applies it at strides 1 and 2 and keeps only the stride-1 (1/4
    resolution) output, so only that one is computed here.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim, dim, 3, 3))
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, None, stride=1, padding=1)


class CNNEncoder(nn.Module):
    """Frames [B, 3, H, W] (ImageNet-normalised) -> features [B, 128, H/4, W/4].

    Widths 64 (1/2 after ``conv1``), 64, 96 (1/4), 128 (1/4: the third stage keeps its
    stride at 1, as GMFlow does when two output scales are configured).
    """

    def __init__(self, dim: int = FEATURE_DIM):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.layer1 = nn.Sequential(ResidualBlock(64, 64), ResidualBlock(64, 64))
        self.layer2 = nn.Sequential(ResidualBlock(64, 96, stride=2), ResidualBlock(96, 96))
        self.layer3 = nn.Sequential(ResidualBlock(96, 128), ResidualBlock(128, 128))
        self.conv2 = nn.Conv2d(128, dim, 1)
        self.trident_conv = _SharedConv(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(_norm(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.trident_conv(self.conv2(x))
