"""The two released GMRW checkpoints and how each is run; plain data, no torch import.

Read by the registry entries (``__init__.py``), the adapter (``adapter.py``), the benchmark
and the tests, so a checkpoint's file name and flow method are written once.
"""

from __future__ import annotations

from dataclasses import dataclass

# Where the authors publish the files: a Dropbox folder linked from the README of
# github.com/ayshrv/gmrw (there is no Hugging Face copy).
SOURCE_URL = (
    "https://www.dropbox.com/scl/fo/2uutl18md0c83et2aw0oz/ADkl-RAW0fneflvSKjd3MB0"
    "?rlkey=fk35z55x95t9mu6i7afbqkzp6&st=ara9ej5f&dl=0"
)
SOURCE_NOTE = "Dropbox folder linked from the README of github.com/ayshrv/gmrw"

WORKING_SIZE = (256, 256)
"""(H, W) upstream evaluates at (TAP-Vid's 256 x 256); flows and tracks live at this size."""

FB_THRESHOLD = 3.0
"""Forward-backward consistency limit in working pixels (upstream's ``dist < 3``)."""

FLOW_METHODS = ("weighted_sum", "weighted_argmax", "argmax")
UPSAMPLE_FACTORS = (1, 2, 4)


@dataclass(frozen=True)
class GmrwConfig:
    """One released GMRW checkpoint.

    Attributes:
      name: registry name.
      filename: the official file name (looked up in the checkpoint folder).
      trained_on: what the weights were trained on, for the Models tab.
      flow_method: how an affinity becomes a flow: ``"weighted_sum"`` (soft-argmax over all
        positions), ``"weighted_argmax"`` (soft-argmax renormalised within ``window`` feature
        cells of the best match) or ``"argmax"``.
      window: radius in feature cells for ``"weighted_argmax"`` (None otherwise).
      size_mb: approximate file size (weights + AdamW state), None when unknown.
    """

    name: str
    filename: str
    trained_on: str
    flow_method: str
    window: int | None = None
    size_mb: float | None = None


CONFIGS: dict[str, GmrwConfig] = {
    c.name: c
    for c in [
        # experiments/train_kubric.sh: cycle loss + smoothness loss, flows by weighted sum.
        GmrwConfig("gmrw", "kubric_73k.pth", "Kubric MOVi-E, 73k steps", "weighted_sum"),
        # experiments/train_kinetics_finetune.sh: Kinetics-700 141k steps, then finetuned with the
        # smoothness loss and --compute_flow_method weighted_argmax --window_threshold 20.
        GmrwConfig("gmrw_kinetics", "kinetics_144k.pth", "Kinetics-700, 144k steps (smoothness finetune)",
                   "weighted_argmax", window=20),
    ]
}

NUM_PARAMS = 4_346_912
"""Parameters of the architecture (backbone 1,196,576 + transformer 3,150,336); checked by the tests."""
