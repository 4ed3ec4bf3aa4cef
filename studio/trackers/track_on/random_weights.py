"""Deterministic stand-in weights in the official Track-On key layout, for tests and benchmarks.

No weights can be downloaded in CI, so equivalence with upstream is checked on weights
made from a seed by this recipe, which depends only on each key's name and shape (the
upstream run outside the project builds the same tensors from the same key list). The
values are scaled so that activations stay in a realistic range through the ViT, the
adapter and the heads: fan-in scaled matrices, unit-ish norms, small biases and layer
scales, positive variances, and a visibility bias that leaves points near the threshold.
"""

from __future__ import annotations

import torch


_RESIDUAL_OUTPUTS = ("out_proj.weight", "output_proj.weight", "linear2.weight")
RESIDUAL_SCALE = 0.2

_EMBEDDINGS = {"cls_token", "mask_token", "register_tokens", "position_embeddings", "pos_embed", "pos_embedding",
               "frame_pos_embedding", "level_embed", "t_embedding", "time_embedding"}


def _value(key: str, shape: list[int], gen: torch.Generator) -> torch.Tensor:
    last = key.rsplit(".", 1)[-1]
    if key.endswith("num_batches_tracked"):
        return torch.tensor(1000)
    if "vis_layer" in key and last == "bias" and shape == [1]:
        # Puts the visibility logits of random queries around ln(0.8 / 0.2) = 1.39, so that they fall on
        # both sides of the 0.8 threshold (v2's MLP head shifts them down, v1's linear head up).
        centre = 1.9 if key.startswith("prediction_head.") else 0.9
        return torch.full(shape, centre) + 0.1 * torch.randn(shape, generator=gen)
    if last == "running_mean":
        return 0.1 * torch.randn(shape, generator=gen)
    if last == "running_var":
        return 0.5 + torch.rand(shape, generator=gen)
    if last in ("gamma", "lambda1"):  # layer scales and the injector's gate
        return 0.1 + 0.05 * torch.randn(shape, generator=gen)
    if last in _EMBEDDINGS:
        return 0.1 * torch.randn(shape, generator=gen)
    if len(shape) >= 2:  # linear / conv / in_proj weights
        fan_in = 1
        for s in shape[1:]:
            fan_in *= s
        w = torch.randn(shape, generator=gen) / fan_in**0.5
        if "sampling_offsets" in key:
            w = w * 0.5
        if any(part in key for part in _RESIDUAL_OUTPUTS):
            # Small updates on the residual paths keep each query's own features dominant after
            # many random post-norm blocks (otherwise all queries collapse onto one point).
            w = w * RESIDUAL_SCALE
        return w
    if last == "weight":  # norms (LayerNorm, BatchNorm, GroupNorm)
        return 1.0 + 0.1 * torch.randn(shape, generator=gen)
    if "sampling_offsets" in key:  # spread the sampling points by a few cells
        return 2.0 * torch.randn(shape, generator=gen)
    return 0.05 * torch.randn(shape, generator=gen)  # biases


def seeded_weights(keys: dict[str, list[int]], seed: int = 0) -> dict[str, torch.Tensor]:
    """``{name: tensor}`` for every key of ``keys`` (name -> shape), the same for the same seed and keys.

    Tensors are drawn in sorted key order from one ``torch.Generator`` seeded with ``seed``.
    """
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key in sorted(keys):
        out[key] = _value(key, list(keys[key]), gen)
    return out
