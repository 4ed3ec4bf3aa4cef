"""The CoTracker family (v1, v2, v2.1, v3 offline/online); importing this registers them.

Registration stays cheap: nothing here imports torch. The build functions import the
models when a tracker is created.
"""

from __future__ import annotations

from functools import partial

from studio.hub import HubFile
from studio.registry import ModelEntry, register
from studio.trackers.cotracker.variants import MODEL_RESOLUTION, VARIANTS, Variant

_PAPER_V3 = ("Karaev et al., 'CoTracker3: Simpler and Better Point Tracking by Pseudo-Labelling Real Videos', "
             "2024, arXiv:2410.11831")
_PAPER_V1V2 = "Karaev et al., 'CoTracker: It is Better to Track Together', ECCV 2024, arXiv:2307.07635"

_TITLES = {
    "cotracker3_offline": "CoTracker3 offline (scaled)",
    "cotracker3_offline_baseline": "CoTracker3 offline (Kubric-only baseline)",
    "cotracker3_online": "CoTracker3 online (scaled)",
    "cotracker3_online_baseline": "CoTracker3 online (Kubric-only baseline)",
    "cotracker2": "CoTracker2 (offline, window 8)",
    "cotracker2_online": "CoTracker2 online (window 8)",
    "cotracker2v1": "CoTracker2.1 (offline, window 16)",
    "cotracker2v1_online": "CoTracker2.1 online (window 16)",
    "cotracker1": "CoTracker v1 (stride 4, window 8; DOT's copy)",
}


def _build(name: str, device, checkpoint, **options):
    from studio.trackers.cotracker.predictor import build_tracker

    return build_tracker(name, device, checkpoint, **options)


def _visibility(v: Variant) -> str:
    score = "sigmoid(vis) * sigmoid(conf)" if v.use_confidence else "sigmoid(vis)"
    text = f"{score} > {v.threshold} (threshold is a constructor option)"
    if v.version == 3 and not v.use_confidence:
        text += "; the official offline predictor ignores confidence, its evaluation uses vis*conf > 0.6"
    if v.version == 2 and v.online:
        text += "; current official online predictor (the 2.0 release used 0.9)"
    return text


def _notes(v: Variant) -> str:
    parts = []
    if v.online:
        parts.append(f"sliding windows of {v.window_len} frames, step {v.window_len // 2}; bounded memory; "
                     "streaming API start/step/finish")
    elif v.version == 3:
        parts.append("sees the whole clip at once (memory grows with frames x points)")
    else:
        parts.append(f"windows of {v.window_len} frames, step {v.window_len // 2}")
    parts.append("second time-reversed pass fills frames before each query's frame")
    if v.version == 3:
        parts.append("returns confidence")
    if v.version == 1:
        parts.append("file keys carry a 'model.model.' prefix in DOT's copy (stripped; raw files load too)")
    if v.revision == "main":
        parts.append("revision 'main': no commit hash of this hub file could be confirmed")
    parts.append("GPU strongly recommended; CPU is slow at 384x512")
    return "; ".join(parts)


for _v in VARIANTS.values():
    register(
        ModelEntry(
            name=_v.name,
            kind="point",
            title=_TITLES[_v.name],
            build=partial(_build, _v.name),
            checkpoint=HubFile(_v.repo_id, _v.filename, _v.revision, _v.size_mb),
            input_resolution=MODEL_RESOLUTION,
            query_convention="(t, x, y) pixels of the 384x512 model input",
            online=_v.online,
            visibility=_visibility(_v),
            license="CC-BY-NC 4.0",
            paper=_PAPER_V3 if _v.version == 3 else _PAPER_V1V2,
            notes=_notes(_v),
        )
    )
