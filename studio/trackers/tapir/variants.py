"""What distinguishes the released TAPIR-family PyTorch checkpoints; plain data, no torch import.

The registry entries (``__init__.py``), the network (``model.py``) and the adapter
(``adapter.py``) all read this table, so each file's architecture switches are written once.
"""

from __future__ import annotations

from dataclasses import dataclass

HUB_REPO = "google/tapnet"
# Commit of the google/tapnet hub repository. Two independent third-party records pin
# bootstapir_checkpoint_v2.pt to it (the repository's head when they read it, October 2026).
# That the same commit also holds tapir_checkpoint_panning.pt and causal_bootstapir_checkpoint.pt
# is inferred (all three files were in the repository before then), not confirmed: the entries'
# notes say so.
HUB_REVISION = "5d3fb48e76c5422841e38501514121e251beabb7"

MODEL_RESOLUTION = (256, 256)
"""``(H, W)`` the released models were trained at: features for the initial estimate are
always computed at this size, and clips are resized to it by default (as the official demos do)."""


@dataclass(frozen=True)
class Variant:
    """One released TAPIR-family model.

    Attributes:
      name: registry name.
      filename: the file in ``HUB_REPO`` (a raw state dict, no key prefix).
      size_mb: download size.
      pyramid_level: extra 2x2-pooled levels of the coarse feature map used in refinement
        (0 for TAPIR, 1 for BootsTAPIR); sets the mixer's input width.
      extra_convs: BootsTAPIR's five residual convolution blocks on the coarse map.
      causal: the temporal mixer only looks back (online model, frame by frame).
      softmax_temperature: sharpness of the initial-estimate heat map (20 for TAPIR; 10 for
        the BootsTAPIR files, as in upstream's ``tapir_bootstrap_config.py``).
      num_params: parameter count of the architecture (checked by the tests).
      verified_revision: ``HUB_REVISION`` was confirmed to hold this file.
    """

    name: str
    filename: str
    size_mb: float
    pyramid_level: int
    extra_convs: bool
    causal: bool
    softmax_temperature: float
    num_params: int
    verified_revision: bool


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        # Mixer input 486 = 4 + 128 + 256 + 2 * 49: the panning file only fits pyramid level 0
        # and has no extra convolutions.
        Variant("tapir", "tapir_checkpoint_panning.pt", 124.3, pyramid_level=0, extra_convs=False, causal=False,
                softmax_temperature=20.0, num_params=31_072_327, verified_revision=False),
        Variant("bootstapir", "bootstapir_checkpoint_v2.pt", 218.9, pyramid_level=1, extra_convs=True, causal=False,
                softmax_temperature=10.0, num_params=54_699_335, verified_revision=True),
        # Same keys and shapes as bootstapir_checkpoint_v2.pt: only this table says it is causal.
        Variant("bootstapir_online", "causal_bootstapir_checkpoint.pt", 218.9, pyramid_level=1, extra_convs=True,
                causal=True, softmax_temperature=10.0, num_params=54_699_335, verified_revision=False),
    ]
}
