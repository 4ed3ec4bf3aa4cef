"""Deterministic TAPIR-family weights in the official key layout, made from the key list alone.

Both sides of the equivalence check use this one recipe: the tests (our network) and the
script that recorded ``fixtures/tapir_golden.npz`` from google-deepmind's torch modules
outside this project. It needs only torch and the key/shape list, so it can be imported
from either environment, and no weights are stored anywhere.

The scales keep every stage in a useful range on real frames: fan-in scaled convolutions
and linear layers, norms near identity, a mixer whose position updates move points by
about a pixel per iteration, and an occlusion head biased so that some points are
visible and some are not.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

KEYS_FILE = Path(__file__).parent / "fixtures" / "tapir_keys.json"


def official_keys(name: str) -> dict[str, list[int]]:
    """``{key: shape}`` of registry model ``name`` as recorded from the upstream modules."""
    return json.loads(KEYS_FILE.read_text())["models"][name]["keys"]


def _value(key: str, shape: list[int], gen: torch.Generator) -> torch.Tensor:
    noise = torch.randn(shape, generator=gen)
    leaf = key.rsplit(".", 1)[-1]
    if ".bn_" in key or "layer_norm" in key:
        # Instance/layer norm affine parameters: near the identity.
        return 1.0 + 0.1 * noise if leaf == "weight" else 0.1 * noise
    if leaf == "bias":
        if key == "torch_cost_volume_track_mods.occ_out.bias":
            return noise * 0.2 - 0.8  # occlusion and uncertainty logits start on the visible side
        return 0.05 * noise
    fan_in = 1
    for s in shape[1:]:
        fan_in *= s
    w = noise * (1.0 / fan_in) ** 0.5
    if key in ("torch_cost_volume_track_mods.hid1.weight", "torch_cost_volume_track_mods.hid2.weight"):
        # A score map that rises with the feature similarity: the initial estimate then lands
        # on the best match instead of on noise, so the argmax is stable to rounding.
        w = w.abs() * 0.5
    if key.startswith("extra_convs.") and key.endswith("conv_1.weight"):
        w = w * 0.3  # residual branches of the extra convs: keep the sum near the input scale
    if key == "torch_pips_mixer.linear_1.weight":
        w = w * 0.5  # mixer outputs are per-iteration deltas (position, logits, features)
    return w


def official_state_dict(name: str, seed: int = 0, keys: dict[str, list[int]] | None = None) -> dict:
    """Weights for every official key of ``name``, drawn in sorted key order from ``seed``.

    Args:
      name: ``tapir``, ``bootstapir`` or ``bootstapir_online``.
      seed: generator seed.
      keys: ``{key: shape}`` to use instead of the recorded fixture.

    Returns:
      dict key -> float32 tensor, ready for ``torch.save`` or ``load_state_dict``.
    """
    keys = official_keys(name) if keys is None else keys
    gen = torch.Generator().manual_seed(seed)
    return {k: _value(k, shape, gen).float().contiguous() for k, shape in sorted(keys.items())}
