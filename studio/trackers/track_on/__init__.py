"""The Track-On family (Track-On, Track-On2 with DINOv2 or DINOv3, Track-On-R); importing this registers them.

Registration stays cheap: nothing here imports torch. The build functions import the
networks when a tracker is created.
"""

from __future__ import annotations

from functools import partial

from studio.hub import HubFile
from studio.registry import ModelEntry, register
from studio.trackers.track_on.variants import MODEL_RESOLUTION, VARIANTS, Variant

_PAPER_V1 = ("Aydemir, Cai, Xie, Güney, 'Track-On: Transformer-based Online Point Tracking with Memory', "
             "ICLR 2025, arXiv:2501.18487")
_PAPER_V2 = ("Aydemir, Xie, Güney, 'Track-On2: Enhancing Online Point Tracking with Memory', 2025, "
             "arXiv:2509.19115")
_DINOV2 = "DINOv2: Oquab et al., 'DINOv2: Learning Robust Visual Features without Supervision', TMLR 2024, arXiv:2304.07193"
_DINOV3 = "DINOv3: Siméoni et al., 'DINOv3', 2025, arXiv:2508.10104"

_TITLES = {
    "track_on": "Track-On (ICLR 2025, DINOv2 ViT-S/14)",
    "track_on2_dinov2": "Track-On2 with DINOv2 ViT-S/14",
    "track_on2": "Track-On2 (DINOv3 ViT-S+/16)",
    "track_on_r": "Track-On-R (Track-On2 fine-tuned on real videos, DINOv3)",
}


def _build(name: str, device, checkpoint, **options):
    from studio.trackers.track_on.predictor import build_tracker

    return build_tracker(name, device, checkpoint, **options)


def _check(name: str, path):
    from studio.trackers.track_on.predictor import check_file

    check_file(name, path)


def _self_contained(name: str, path) -> bool:
    from studio.trackers.track_on.predictor import holds_backbone

    return holds_backbone(name, path)


def _license(v: Variant) -> str:
    return f"MIT (code and Track-On weights) / {v.backbone.license} ({'DINOv3' if v.vit == 'dinov3' else 'DINOv2'} weights)"


def _visibility(v: Variant) -> str:
    op = ">" if v.version == 1 else ">="
    text = f"sigmoid(vis) {op} {v.threshold} (threshold is a constructor option)"
    if v.version == 1:
        text += "; it also hides occluded frames from the spatial memory, so it changes the tracks"
    return text


def _notes(v: Variant) -> str:
    parts = [f"online, forward only: frame by frame with a memory of {v.memory} frames per point (upstream's "
             "DAVIS setting; `memory` option), constant cost per frame; streaming API start/step/finish",
             "before a point's query frame its track holds the query position, not visible",
             "all points of a request are tracked in one batch with upstream's 20x20 support grid on frame 0 "
             "(they attend to each other)"]
    b = v.backbone
    if v.backbone_in_file:
        parts.append(f"the DINOv2 weights are inside the file (a file without them takes {b.repo_id})")
    else:
        parts.append(f"the official file has no ViT weights: they come from {b.repo_id}/{b.filename}; "
                     "a local checkpoint=PATH that already holds them needs nothing else")
    if b.gated:
        parts.append(f"{b.repo_id} is gated: accept the DINOv3 licence on https://huggingface.co/{b.repo_id} "
                     "and set HF_TOKEN (or `hf auth login`); until then the model is 'unavailable'")
    parts.append("revision 'main': no commit hash of these hub files could be confirmed")
    parts.append("GPU strongly recommended; about 5-7 CPU-s per frame at 384x512 on one CPU thread")
    return "; ".join(parts)


for _v in VARIANTS.values():
    _b = _v.backbone
    register(
        ModelEntry(
            name=_v.name,
            kind="point",
            title=_TITLES[_v.name],
            build=partial(_build, _v.name),
            checkpoint=HubFile(_v.repo_id, _v.filename, _v.revision, _v.size_mb),
            extra_files=() if _v.backbone_in_file else (
                HubFile(_b.repo_id, _b.filename, _b.revision, _b.size_mb, gated=_b.gated),),
            self_contained=None if _v.backbone_in_file else partial(_self_contained, _v.name),
            check=partial(_check, _v.name),
            input_resolution=MODEL_RESOLUTION,
            query_convention="(t, x, y) pixels, corner-based (x + 0.5 of the studio's), at the query's own frame",
            online=True,
            visibility=_visibility(_v),
            license=_license(_v),
            paper=(_PAPER_V1 if _v.version == 1 else _PAPER_V2) + "; " + (_DINOV3 if _v.vit == "dinov3" else _DINOV2),
            notes=_notes(_v),
        )
    )
