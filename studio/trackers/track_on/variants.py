"""The released Track-On models; plain data, no torch import.

Read by the registry entries (``__init__.py``), the adapter (``predictor.py``) and the
tests, so each model's file, backbone and inference settings are written once.
"""

from __future__ import annotations

from dataclasses import dataclass

MODEL_RESOLUTION = (384, 512)
SUPPORT_GRID = 20  # upstream evaluation appends a 20 x 20 grid of points on frame 0

# No commit hash of these hub repositories could be confirmed from here (no hub access), so
# the files are pinned to the branch; the notes of each registry entry say so.
REVISION = "main"

DINOV2_REPO = "facebook/dinov2-small"
DINOV3_REPO = "facebook/dinov3-vits16plus-pretrain-lvd1689m"


@dataclass(frozen=True)
class Backbone:
    """Where a model's ViT weights come from when its own file lacks them.

    Attributes:
      repo_id, filename, revision, size_mb: the hub file (a ``transformers`` safetensors file).
      prefix: where its keys go in the tracker's state dict.
      layout: ``"hf"`` (keys used as they are) or ``"meta"`` (renamed to Meta's DINOv2 names).
      gated: the hub repository requires accepting a licence and a token.
      license: licence of these weights.
    """

    repo_id: str
    filename: str
    revision: str
    size_mb: float
    prefix: str
    layout: str = "hf"
    gated: bool = False
    license: str = ""


DINOV2_HF = Backbone(DINOV2_REPO, "model.safetensors", REVISION, 88.2, "backbone.vit_encoder.dinov2.",
                     license="Apache-2.0")
DINOV2_META = Backbone(DINOV2_REPO, "model.safetensors", REVISION, 88.2, "backbone.vit_encoder.",
                       layout="meta", license="Apache-2.0")
DINOV3 = Backbone(DINOV3_REPO, "model.safetensors", REVISION, 115.0, "backbone.vit_encoder.dinov3.", gated=True,
                  license="DINOv3 License")


@dataclass(frozen=True)
class Variant:
    """One released Track-On model.

    Attributes:
      name: registry name.
      version: 1 (Track-On, ICLR 2025) or 2 (Track-On2 / Track-On-R).
      vit: ``"dinov2"`` or ``"dinov3"``.
      repo_id, filename, revision, size_mb: the pinned hub file.
      memory: memory slots per point at inference (upstream's DAVIS evaluation setting).
      threshold: visibility threshold on ``sigmoid(logit)`` (v1 ``>``, v2 ``>=``; in v1 it also
        decides which past frames the spatial memory may read, so it changes the tracks).
      backbone: where the ViT weights come from when the file lacks them.
      backbone_in_file: the released file holds the ViT weights itself.
    """

    name: str
    version: int
    vit: str
    repo_id: str
    filename: str
    revision: str
    size_mb: float | None
    memory: int
    threshold: float
    backbone: Backbone
    backbone_in_file: bool


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        # Track-On v1: the DINOv2 weights ship inside the file (Meta's names under backbone.vit_encoder.);
        # facebook/dinov2-small is only a fallback for a file without them. Memory 48 and threshold 0.8 are
        # what main.py evaluates DAVIS with (the file's time embeddings are trained for 12).
        Variant("track_on", 1, "dinov2", "gaydemir/track_on", "track_on_checkpoint.pt", REVISION, None,
                memory=48, threshold=0.8, backbone=DINOV2_META, backbone_in_file=True),
        # Track-On2: the released files lack the ViT ("licensing"); upstream builds it with
        # transformers.AutoModel from the hub. evaluation/eval.py runs DAVIS with memory 24 (the
        # trained size; demo and other benchmarks use 72).
        Variant("track_on2_dinov2", 2, "dinov2", "gorkaydemir/track_on2", "trackon2_dinov2_checkpoint.pt", REVISION,
                93.9, memory=24, threshold=0.8, backbone=DINOV2_HF, backbone_in_file=False),
        Variant("track_on2", 2, "dinov3", "gorkaydemir/track_on2", "trackon2_dinov3_checkpoint.pt", REVISION, 93.9,
                memory=24, threshold=0.8, backbone=DINOV3, backbone_in_file=False),
        Variant("track_on_r", 2, "dinov3", "gorkaydemir/track_on_r", "track_on_r.pt", REVISION, 93.9,
                memory=24, threshold=0.8, backbone=DINOV3, backbone_in_file=False),
    ]
}
