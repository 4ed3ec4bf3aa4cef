"""Published TAP-Vid numbers, to show beside the studio's own results.

All values are x 100, at 256x256 unless ``resolution`` says otherwise, and were
collected in the project notes (``evaluation-and-data.md`` section 4, read
2026-11-22). ``tag`` says how directly each was read:

* ``"P"``: an official repository README at the commit named in ``source``.
* ``"S"``: a paper's table as mirrored text (TAPTRv3 arXiv tables), not checked
  against the PDF.

Third-party or from-memory numbers (tags N/U in the notes) are left out. ``None``
means the source does not give that metric.
"""

from __future__ import annotations

from dataclasses import dataclass

DATASETS = ("davis", "kinetics", "rgb_stacking", "robotap")

_TAPNET = "google-deepmind/tapnet README.md @c2cbab8 (AJ columns)"
_TAPNEXTPP = "google-deepmind/tapnet tapnet/tapnextpp/README.md @c2cbab8"
_COTRACKER = "facebookresearch/co-tracker README.md @82e02e8 (delta_avg only)"
_DOT = "16lemoing/dot README.md @8c6ef1e (columns AJ, OA, delta)"
_ALLTRACKER = "aharley/alltracker README.md @c1ed462"
_TRACKON = "gorkaydemir/track_on README.md @7e838e8 (delta_avg only)"
_TRACKON2_BRANCH = "gorkaydemir/track_on README.md, branch track-on2 @7672a5e (delta_avg only)"
_TAPTR3_T1 = "TAPTRv3 (arXiv) Table 1, repo-mirrored text"
_TAPTR3_T13 = "TAPTRv3 (arXiv) Table 13, repo-mirrored text"


@dataclass(frozen=True)
class PublishedResult:
    """One published benchmark row.

    Attributes:
      model: method as the source names it.
      dataset: one of ``DATASETS``.
      query_mode: ``"first"`` or ``"strided"``.
      aj: Average Jaccard x 100, or None.
      delta_avg: < delta^x_avg x 100, or None.
      oa: occlusion accuracy x 100, or None.
      source: where the number was read.
      tag: ``"P"`` (official README) or ``"S"`` (paper table, secondary copy).
      resolution: inference resolution ``"HxW"``.
      note: anything that changes how to compare (training data, time).
    """

    model: str
    dataset: str
    query_mode: str
    aj: float | None
    delta_avg: float | None
    oa: float | None
    source: str
    tag: str
    resolution: str = "256x256"
    note: str = ""


def _rows(dataset: str, mode: str, source: str, tag: str, table: list[tuple]) -> list[PublishedResult]:
    out = []
    for row in table:
        model, aj, delta, oa, *rest = row
        extra = dict(rest[0]) if rest else {}
        out.append(PublishedResult(model, dataset, mode, aj, delta, oa, source, tag, **extra))
    return out


_CT3_ONLINE_KUBRIC = {"note": "trained on Kubric only"}
_CT3_ONLINE_REAL = {"note": "Kubric + 15k real videos"}

PUBLISHED: tuple[PublishedResult, ...] = tuple(
    # ---- TAP-Vid-DAVIS, query first
    _rows("davis", "first", _TAPTR3_T13, "S", [
        ("TAP-Net", 33.0, 48.6, 78.8),
        ("TAPIR", 56.2, 70.0, 86.5),
        ("CoTracker", 61.8, 76.1, 88.3),
        ("TAPTR", 63.0, 76.1, 91.1),
        ("TAPTRv2", 63.5, 75.9, 91.4),
        ("TAPTRv3", 63.2, 76.4, 90.6),
        ("LocoTrack", 63.0, 75.3, 87.2),
        ("BootsTAPIR", 61.4, 73.6, 88.7),
        ("CoTracker3 online", 64.5, 76.7, 89.7, _CT3_ONLINE_KUBRIC),
        ("CoTracker3 online", 63.8, 76.3, 90.2, _CT3_ONLINE_REAL),
        ("CoTracker3 offline", 64.4, 76.9, 91.2),
        ("Anthro-LocoTrack", 64.8, 77.3, 89.1),
        ("Track-On", 65.0, 78.0, 90.8),
        ("BootsTAPNext-B", 65.2, 78.5, 91.2),
    ])
    + _rows("davis", "first", _TAPNET, "P", [
        ("TAP-Net", 33.0, None, None),
        ("TAPIR", 58.5, None, None),
        ("Online TAPIR", 56.2, None, None),
        ("BootsTAPIR", 62.4, None, None, {"note": "checkpoint v2"}),
        ("Online BootsTAPIR", 59.7, None, None),
        ("TAPNext", 65.25, None, None, {"note": "BootsTAPNext checkpoint"}),
        ("TAPNext++", 67.0, None, None, {"resolution": "512x512"}),
    ])
    + _rows("davis", "first", _TAPNEXTPP, "P", [("TAPNext++", 65.6, 79.0, 92.0)])
    + _rows("davis", "first", _ALLTRACKER, "P", [
        ("AllTracker", 63.3, 76.3, 90.0, {"resolution": "384x512"}),
        ("AllTracker", 65.9, 78.8, 90.2, {"resolution": "448x768"}),
        ("AllTracker", 67.2, 80.6, 89.7, {"resolution": "768x1024"}),
    ])
    + _rows("davis", "first", _COTRACKER, "P", [
        ("CoTracker2", None, 74.6, None),
        ("CoTracker2.1", None, 76.1, None),
        ("CoTracker3 offline", None, 76.9, None),
        ("CoTracker3 online", None, 76.7, None),
    ])
    + _rows("davis", "first", _DOT, "P", [
        ("DOT (CoTracker+RAFT)", 61.2, 74.9, 88.8, {"note": "85.7 s/video on V100"}),
        ("DOT (CoTracker2+RAFT)", 61.2, 75.3, 89.7, {"note": "99.1 s/video on V100"}),
        ("DOT (TAPIR+RAFT)", 61.6, 75.4, 89.5, {"note": "39.5 s/video on V100"}),
        ("DOT (BootsTAPIR+RAFT)", 62.8, 76.8, 90.2, {"note": "42.3 s/video on V100"}),
    ])
    + _rows("davis", "first", _TRACKON, "P", [
        ("Track-On2", None, 79.9, None),
        ("Track-On-R", None, 80.3, None, {"resolution": "384x512"}),
    ])
    + _rows("davis", "first", _TRACKON2_BRANCH, "P", [("Track-On2 (DINOv2)", None, 79.8, None)])
    # ---- TAP-Vid-DAVIS, strided
    + _rows("davis", "strided", _TAPNET, "P", [
        ("TAP-Net", 38.4, None, None),
        ("TAPIR", 63.3, None, None),
        ("Online TAPIR", 58.3, None, None),
        ("BootsTAPIR", 67.4, None, None, {"note": "checkpoint v2"}),
        ("Online BootsTAPIR", 61.2, None, None),
        ("TAPNext", 68.9, None, None, {"note": "BootsTAPNext checkpoint"}),
        ("TAPNext++", 71.2, None, None, {"resolution": "512x512"}),
    ])
    + _rows("davis", "strided", _DOT, "P", [
        ("DOT (CoTracker+RAFT)", 66.1, 79.4, 90.0, {"note": "131 s/video on V100"}),
        ("DOT (CoTracker2+RAFT)", 67.7, 80.6, 91.2, {"note": "141 s/video on V100"}),
        ("DOT (TAPIR+RAFT)", 67.3, 79.9, 91.0, {"note": "88.9 s/video on V100"}),
        ("DOT (BootsTAPIR+RAFT)", 68.5, 81.3, 91.7, {"note": "90.6 s/video on V100"}),
        ("OmniMotion", 51.7, 67.5, 85.3, {"note": "about 32400 s/video (DOT README)"}),
        ("DINO-Tracker", 62.3, 78.2, 87.5, {"note": "about 5760 s/video (DOT README)"}),
    ])
    # ---- TAP-Vid-Kinetics, query first
    + _rows("kinetics", "first", _TAPTR3_T1, "S", [
        ("TAP-Net", 38.5, 54.4, 80.6),
        ("TAPIR", 49.6, 64.2, 85.0),
        ("CoTracker", 49.6, 64.3, 83.3),
        ("TAPTR", 49.0, 64.4, 85.2),
        ("TAPTRv2", 49.7, 64.2, 85.7),
        ("TAPTRv3", 54.9, 67.5, 88.2),
        ("LocoTrack", 52.9, 66.8, 85.3),
        ("CoTracker3 online", 54.1, 66.6, 87.1, _CT3_ONLINE_KUBRIC),
        ("Track-On", 53.9, 67.3, 87.8),
        ("BootsTAPIR", 54.6, 68.4, 86.5),
        ("CoTracker3 online", 55.8, 68.5, 88.3, _CT3_ONLINE_REAL),
        ("Anthro-LocoTrack", 53.9, 68.4, 86.4),
        ("BootsTAPNext-B", 57.3, 70.6, 87.4),
    ])
    + _rows("kinetics", "first", _TAPNET, "P", [
        ("TAP-Net", 38.5, None, None),
        ("TAPIR", 50.0, None, None),
        ("Online TAPIR", 51.2, None, None),
        ("BootsTAPIR", 55.8, None, None, {"note": "checkpoint v2"}),
        ("Online BootsTAPIR", 55.1, None, None),
        ("TAPNext", 57.3, None, None, {"note": "BootsTAPNext checkpoint"}),
    ])
    + _rows("kinetics", "first", _TAPNEXTPP, "P", [("TAPNext++", 53.9, 68.4, 88.7)])
    + _rows("kinetics", "first", _TRACKON, "P", [("Track-On2", None, 69.3, None), ("Track-On-R", None, 71.0, None)])
    + _rows("kinetics", "first", _TRACKON2_BRANCH, "P", [("Track-On2 (DINOv2)", None, 69.1, None)])
    + _rows("kinetics", "first", _COTRACKER, "P", [
        ("CoTracker2", None, 61.8, None),
        ("CoTracker2.1", None, 63.0, None),
        ("CoTracker3 offline", None, 67.8, None),
        ("CoTracker3 online", None, 68.3, None),
    ])
    # ---- TAP-Vid-RGB-Stacking
    + _rows("rgb_stacking", "first", _TAPTR3_T1, "S", [
        ("TAP-Net", 53.5, 68.1, 86.3),
        ("TAPIR", 55.5, 69.7, 88.0),
        ("CoTracker", 67.4, 78.9, 85.2),
        ("TAPTR", 60.8, 76.2, 87.0),
        ("TAPTRv2", 53.4, 70.5, 81.2),
        ("TAPTRv3", 72.3, 84.1, 90.8),
        ("LocoTrack", 69.7, 83.2, 89.5),
        ("CoTracker3 online", 71.1, 81.9, 90.3, _CT3_ONLINE_KUBRIC),
        ("Track-On", 71.4, 85.2, 91.7),
        ("BootsTAPIR", 70.8, 83.0, 89.9),
        ("CoTracker3 online", 71.7, 83.6, 91.1, _CT3_ONLINE_REAL),
    ])
    + _rows("rgb_stacking", "first", _COTRACKER, "P", [
        ("CoTracker2", None, 73.4, None),
        ("CoTracker2.1", None, 79.6, None),
        ("CoTracker3 offline", None, 85.0, None),
        ("CoTracker3 online", None, 82.7, None),
    ])
    + _rows("rgb_stacking", "first", _DOT, "P", [
        ("DOT (CoTracker+RAFT)", 77.2, 87.7, 93.3, {"note": "270 s/video on V100"}),
        ("DOT (CoTracker2+RAFT)", 77.2, 87.1, 92.6, {"note": "330 s/video on V100"}),
        ("DOT (TAPIR+RAFT)", 65.7, 81.9, 89.1, {"note": "105 s/video on V100"}),
        ("DOT (BootsTAPIR+RAFT)", 71.0, 85.2, 90.7, {"note": "112 s/video on V100"}),
    ])
    + _rows("rgb_stacking", "strided", _DOT, "P", [
        ("DOT (CoTracker+RAFT)", 83.5, 91.4, 95.7, {"note": "1014 s/video on V100"}),
        ("DOT (CoTracker2+RAFT)", 83.2, 91.0, 95.3, {"note": "1074 s/video on V100"}),
        ("DOT (TAPIR+RAFT)", 74.6, 86.4, 93.4, {"note": "843 s/video on V100"}),
        ("DOT (BootsTAPIR+RAFT)", 79.7, 89.6, 94.7, {"note": "852 s/video on V100"}),
        ("OmniMotion", 77.5, 87.0, 93.5, {"note": "DOT README"}),
    ])
    # ---- RoboTAP, query first
    + _rows("robotap", "first", _TAPTR3_T1, "S", [
        ("TAP-Net", 45.1, 62.1, 82.9),
        ("TAPIR", 59.6, 73.4, 87.0),
        ("CoTracker", 58.6, 70.6, 87.0),
        ("TAPTR", 60.1, 75.3, 86.9),
        ("TAPTRv2", 60.9, 74.6, 87.7),
        ("TAPTRv3", 64.5, 77.3, 89.7),
        ("LocoTrack", 62.3, 76.2, 87.1),
        ("CoTracker3 online", 60.8, 73.7, 87.1, _CT3_ONLINE_KUBRIC),
        ("Track-On", 63.5, 76.4, 89.4),
        ("BootsTAPIR", 64.9, 80.1, 86.3),
        ("CoTracker3 online", 66.4, 78.8, 90.8, _CT3_ONLINE_REAL),
        ("Anthro-LocoTrack", 64.7, 79.2, 88.4),
    ])
    + _rows("robotap", "first", _TAPNET, "P", [
        ("TAP-Net", 45.1, None, None),
        ("TAPIR", 59.6, None, None),
        ("Online TAPIR", 59.1, None, None),
        ("BootsTAPIR", 69.2, None, None, {"note": "checkpoint v2"}),
        ("Online BootsTAPIR", 69.1, None, None),
        ("TAPNext", 64.1, None, None, {"note": "BootsTAPNext checkpoint"}),
    ])
    + _rows("robotap", "first", _TAPNEXTPP, "P", [("TAPNext++", 61.1, 75.4, 89.0)])
    + _rows("robotap", "first", _TRACKON, "P", [("Track-On2", None, 80.5, None), ("Track-On-R", None, 82.6, None)])
    + _rows("robotap", "first", _TRACKON2_BRANCH, "P", [("Track-On2 (DINOv2)", None, 80.0, None)])
    + _rows("robotap", "first", _COTRACKER, "P", [
        ("CoTracker3 offline", None, 78.0, None),
        ("CoTracker3 online", None, 78.8, None),
    ])
)


def published(dataset: str | None = None, query_mode: str | None = None) -> list[PublishedResult]:
    """Published rows, optionally only one dataset and/or query mode.

    Raises:
      ValueError: unknown dataset or query mode.
    """
    if dataset is not None and dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    if query_mode is not None and query_mode not in ("first", "strided"):
        raise ValueError(f"unknown query mode {query_mode!r}; choose 'first' or 'strided'")
    return [
        r for r in PUBLISHED
        if (dataset is None or r.dataset == dataset) and (query_mode is None or r.query_mode == query_mode)
    ]
