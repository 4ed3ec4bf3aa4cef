"""TAPIR, BootsTAPIR and online BootsTAPIR (google-deepmind/tapnet); importing this registers them.

Registration stays cheap: nothing here imports torch. The build functions import the
network and adapter when a tracker is created.
"""

from __future__ import annotations

from functools import partial

from studio.hub import HubFile
from studio.registry import ModelEntry, register
from studio.trackers.tapir.variants import HUB_REPO, HUB_REVISION, MODEL_RESOLUTION, VARIANTS, Variant

_PAPER_TAPIR = ("Doersch et al., 'TAPIR: Tracking Any Point with per-frame Initialization and temporal "
                "Refinement', ICCV 2023, arXiv:2306.08637")
_PAPER_BOOTS = ("Doersch et al., 'BootsTAP: Bootstrapped Training for Tracking-Any-Point', ACCV 2024, "
                "arXiv:2402.00847")
# google-deepmind/tapnet README, "License and Disclaimer": the code and every released
# checkpoint (TAPIR and BootsTAPIR included) are Apache 2.0.
_LICENSE = "Apache-2.0"

_TITLES = {
    "tapir": "TAPIR (offline, 256x256)",
    "bootstapir": "BootsTAPIR (offline, 256x256)",
    "bootstapir_online": "BootsTAPIR online (causal, frame by frame)",
}

_VISIBILITY = ("(1 - sigmoid(occlusion)) * (1 - sigmoid(expected_dist)) > 0.5; that product is returned as "
               "the confidence")


def _build(name: str, device, checkpoint, **options):
    from studio.trackers.tapir.adapter import build_tracker

    return build_tracker(name, device, checkpoint, **options)


def _notes(v: Variant) -> str:
    parts = []
    if v.causal:
        parts.append("tracks each point from its query frame on (before it: query position, not visible); "
                     "streaming API start/step/finish, track() equals the stream; memory does not grow with the clip")
    else:
        parts.append("whole clip in one pass, each point tracked before and after its query frame; features "
                     "about 3.3 MB per frame at 256x256, other work in bounded chunks")
    parts.append("clip resized to 256x256 (aspect not kept) and tracks mapped back; option resolution=512 (or "
                 "(H, W), multiples of 8) adds refinement at higher resolutions")
    if v.extra_convs:
        parts.append("the extra convolutions make the encoder about 3.5x TAPIR's cost per frame")
        parts.append("bootstapir_checkpoint_v2.pt and causal_bootstapir_checkpoint.pt have the same keys and shapes, "
                     "so a strict check cannot tell them apart: give each entry its own file")
    if not v.verified_revision:
        parts.append(f"revision {HUB_REVISION[:7]} is confirmed for bootstapir_checkpoint_v2.pt; that it also "
                     "holds this file is inferred, not confirmed")
    parts.append("GPU recommended; on a CPU about a second or more per frame")
    return "; ".join(parts)


for _v in VARIANTS.values():
    register(
        ModelEntry(
            name=_v.name,
            kind="point",
            title=_TITLES[_v.name],
            build=partial(_build, _v.name),
            checkpoint=HubFile(HUB_REPO, _v.filename, HUB_REVISION, _v.size_mb),
            input_resolution=MODEL_RESOLUTION,
            query_convention="(t, y, x) raster pixels of the 256x256 model input (pixel i spans [i, i+1))",
            online=_v.causal,
            visibility=_VISIBILITY,
            license=_LICENSE,
            paper=_PAPER_BOOTS if _v.extra_convs else _PAPER_TAPIR,
            notes=_notes(_v),
        )
    )
