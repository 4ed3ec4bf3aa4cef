"""Activation functions of the TAPIR family, written for speed on the CPU."""

from __future__ import annotations

import math

import torch

_TWO_C = 2 * math.sqrt(2 / math.pi)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GELU, tanh approximation (``F.gelu(x, approximate="tanh")``), as ``x * sigmoid(2z)``.

    ``0.5 * (1 + tanh(z)) == sigmoid(2z)`` with ``z = sqrt(2/pi) * (x + 0.044715 x^3)``. On the
    CPU torch's tanh-GELU kernel costs about twice a sigmoid plus the few in-place passes here
    (on cache-sized tensors); results agree to float rounding (about 5e-7 absolute).

    Args:
      x: any shape, floating point; not modified.

    Returns:
      a new tensor of x's shape.
    """
    # 2z = c (1 + 0.044715 x^2) x with c = 2 sqrt(2/pi): one addcmul, then in-place passes.
    z = torch.addcmul(x.new_tensor(_TWO_C), x, x, value=0.044715 * _TWO_C)
    return z.mul_(x).sigmoid_().mul_(x)
