"""The refinement network of TAPIR: a stack of blocks that mix each track over time, then over channels.

Each block convolves every channel along the track's frames (depthwise, kernel 3) and then
runs a channel MLP, both with residuals. The offline model's time kernel is centred
(frames t-1, t, t+1); the online model's is causal (t-2, t-1, t) and runs one frame at a
time from a small per-block state (``MixerState``).

Everything stays channels-last ``[tracks, frames, channels]``. The time kernels are three
fused multiply-adds on frame-shifted views rather than 1-D convolutions over transposed
copies (the first one fans each of the 512 channels out to 4 filters; the 4 are summed back
after the second one). Whole sequences go
through in slices of tracks (``rows_per_slice`` track-frames), which keeps the 2048-wide
activations in cache. Parameter names are those of the official files (``torch_pips_mixer.*``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from studio.trackers.tapir.activations import gelu_tanh

HIDDEN = 512
FAN_OUT = 4  # each hidden channel is filtered by 4 time kernels, summed back after the second one
KERNEL = 3


def time_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Per-channel convolution over frames t-1, t, t+1 with zero padding at both ends.

    Args:
      x: [B, T, ...] channels-last sequence.
      weight: [..., 3] taps for frames t-1, t, t+1 (broadcast against x's channel axes).
      bias: [...].

    Returns:
      [B, T, ...].
    """
    y = torch.addcmul(bias, x, weight[..., 1])
    y[:, 1:].addcmul_(x[:, :-1], weight[..., 0])
    y[:, :-1].addcmul_(x[:, 1:], weight[..., 2])
    return y


def sum_fan(y: torch.Tensor) -> torch.Tensor:
    """[..., 4C] -> [..., C]: the sum of channels 4c .. 4c + 3 (the 4 filters of channel c).

    Three adds of strided views; ``view(..., C, 4).sum(-1)`` reduces over a length-4 axis and
    costs about 40% more here. The same sum, in the same order.
    """
    y4 = y.view(*y.shape[:-1], -1, FAN_OUT)
    return y4[..., 0] + y4[..., 1] + y4[..., 2] + y4[..., 3]


@dataclass
class MixerState:
    """What a causal mixer remembers between frames, per block: the last two frames entering each time kernel.

    Attributes:
      inputs: per block [B, 2, 512], the normalised block inputs of frames t-2, t-1.
      hidden: per block [B, 2, 2048], the activations after the first time kernel.
    """

    inputs: list[torch.Tensor]
    hidden: list[torch.Tensor]

    @classmethod
    def zeros(cls, num_blocks: int, batch: int, device=None, dtype=torch.float32) -> MixerState:
        def z(c: int) -> list[torch.Tensor]:
            return [torch.zeros(batch, KERNEL - 1, c, device=device, dtype=dtype) for _ in range(num_blocks)]

        return cls(z(HIDDEN), z(HIDDEN * FAN_OUT))

    def row_floats(self) -> int:
        """Floats held per track."""
        return sum(s[0].numel() for s in self.inputs + self.hidden)

    def select(self, rows: torch.Tensor) -> MixerState:
        """The state of a subset of tracks (``rows``: indices or a bool mask)."""
        return MixerState([s[rows] for s in self.inputs], [s[rows] for s in self.hidden])

    def update(self, rows: torch.Tensor, new: MixerState) -> None:
        """Write ``new`` (the state of ``rows``) back in place."""
        for mine, theirs in zip(self.inputs + self.hidden, new.inputs + new.hidden):
            mine[rows] = theirs

    def reset(self, rows: torch.Tensor) -> None:
        """Start ``rows`` afresh (zero history), as for a track that begins now."""
        for s in self.inputs + self.hidden:
            s[rows] = 0


class ChannelMLP(nn.Module):
    def __init__(self, dim: int = HIDDEN):
        super().__init__()
        self.mlp2_up = nn.Linear(dim, dim * 4)
        self.mlp2_down = nn.Linear(dim * 4, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp2_down(gelu_tanh(self.mlp2_up(x)))


class MixerBlock(nn.Module):
    """Time mixing (depthwise time kernels, 512 -> 4 x 512 -> summed to 512) then channel mixing."""

    def __init__(self, dim: int = HIDDEN, causal: bool = False):
        super().__init__()
        self.causal = causal
        self.layer_norm = nn.LayerNorm(dim, bias=False)
        # Stored as the grouped 1-D convolutions of the official files; applied by ``time_conv``.
        self.mlp1_up = nn.Conv1d(dim, dim * FAN_OUT, KERNEL, groups=dim)
        self.mlp1_up_1 = nn.Conv1d(dim * FAN_OUT, dim * FAN_OUT, KERNEL, groups=dim * FAN_OUT)
        self.layer_norm_1 = nn.LayerNorm(dim, bias=False)
        self.conv_channels_mixer = ChannelMLP(dim)

    def _channels(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_channels_mixer(self.layer_norm_1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Whole sequences through the centred (offline) kernels: x [B, T, 512] -> [B, T, 512]."""
        # Output channel 4c + j of the first kernel reads input channel c. Repeating each input
        # channel 4 times first (one copy) makes all six multiply-adds plain 2048-wide rows,
        # which vectorise better than a broadcast over a [..., 512, 4] view.
        fan = self.layer_norm(x).repeat_interleave(FAN_OUT, dim=-1)
        y = gelu_tanh(time_conv(fan, self.mlp1_up.weight[:, 0], self.mlp1_up.bias))
        y = time_conv(y, self.mlp1_up_1.weight[:, 0], self.mlp1_up_1.bias)
        return self._channels(x + sum_fan(y))

    def step(self, x: torch.Tensor, inputs: torch.Tensor, hidden: torch.Tensor):
        """One new frame of a causal stream: kernels over frames t-2, t-1, t.

        Args:
          x: [B, 1, 512] the frame's block input.
          inputs, hidden: [B, 2, 512] / [B, 2, 2048], this block's ``MixerState`` entries.

        Returns:
          (out [B, 1, 512], new inputs, new hidden).
        """
        h = torch.cat([inputs, self.layer_norm(x)], dim=1)
        w1, w2 = self.mlp1_up.weight[:, 0], self.mlp1_up_1.weight[:, 0]
        g = h.repeat_interleave(FAN_OUT, dim=-1)  # channel 4c + j reads channel c
        y = self.mlp1_up.bias + g[:, 0] * w1[:, 0] + g[:, 1] * w1[:, 1] + g[:, 2] * w1[:, 2]
        g2 = torch.cat([hidden, gelu_tanh(y)[:, None]], dim=1)
        y2 = self.mlp1_up_1.bias + g2[:, 0] * w2[:, 0] + g2[:, 1] * w2[:, 1] + g2[:, 2] * w2[:, 2]
        out = self._channels(x + sum_fan(y2)[:, None])
        return out, h[:, 1:], g2[:, 1:]


class PipsMixer(nn.Module):
    """Linear in -> 12 ``MixerBlock``s -> layer norm -> linear out (per track and frame)."""

    rows_per_slice = 1024
    """Track-frames per slice of ``forward``: large enough for efficient matrix products, small
    enough for the 2048-wide activations to stay in cache."""

    def __init__(self, input_dim: int, output_dim: int, num_blocks: int = 12, causal: bool = False):
        super().__init__()
        self.causal = causal
        self.linear = nn.Linear(input_dim, HIDDEN)
        self.blocks = nn.ModuleList(MixerBlock(HIDDEN, causal) for _ in range(num_blocks))
        self.layer_norm = nn.LayerNorm(HIDDEN, bias=False)
        self.linear_1 = nn.Linear(HIDDEN, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Whole tracks at once (offline model): x [B, T, input_dim] -> [B, T, output_dim]."""
        if self.causal:
            raise ValueError("the causal mixer runs frame by frame: use step()")
        step = max(1, self.rows_per_slice // max(x.shape[1], 1))
        outs = []
        for i in range(0, x.shape[0], step):
            y = self.linear(x[i : i + step])
            for block in self.blocks:
                y = block(y)
            outs.append(self.linear_1(self.layer_norm(y)))
        return torch.cat(outs)

    def step(self, x: torch.Tensor, state: MixerState) -> tuple[torch.Tensor, MixerState]:
        """One frame of a causal stream.

        Args:
          x: [B, 1, input_dim].
          state: the tracks' ``MixerState`` (zeros for tracks that start now).

        Returns:
          (out [B, 1, output_dim], the new state).
        """
        if not self.causal:
            raise ValueError("step() needs the causal mixer")
        x = self.linear(x)
        inputs, hidden = [], []
        for block, s_in, s_hid in zip(self.blocks, state.inputs, state.hidden):
            x, i, h = block.step(x, s_in, s_hid)
            inputs.append(i)
            hidden.append(h)
        return self.linear_1(self.layer_norm(x)), MixerState(inputs, hidden)
