"""What distinguishes the released CoTracker checkpoints; plain data, no torch import.

The registry entries (``__init__.py``) and the adapter (``predictor.py``) both read
this table, so a variant's window, resolution and visibility rule are written once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """One released CoTracker model.

    Attributes:
      name: registry name.
      version: 1, 2 or 3 (architecture generation; 2.1 is version 2 with a 16-frame window).
      online: runs causally in sliding windows of ``window_len`` frames, step ``window_len // 2``.
      window_len: frames per window (v1/v2/online) or length of the trained time embedding (v3 offline).
      repo_id, filename, revision, size_mb: the pinned hub file (size None where unknown).
      threshold: default visibility threshold.
      use_confidence: default visibility score is ``vis * conf`` (else ``vis``).
      align_corners: coordinate convention of the official predictor when resizing to
        the model resolution (True: ``(size_model - 1) / (size_in - 1)``; False: ``size_model / size_in``).
      key_prefixes: prefixes the file's keys may carry (stripped before strict loading).
    """

    name: str
    version: int
    online: bool
    window_len: int
    repo_id: str
    filename: str
    revision: str
    size_mb: float | None
    threshold: float
    use_confidence: bool
    align_corners: bool = True
    key_prefixes: tuple[str, ...] = ()


MODEL_RESOLUTION = (384, 512)
SUPPORT_GRID = 6

# Commits of the hub repositories that hold these files, read from the Hugging Face
# pages of those repositories (tree / commit views):
# facebook/cotracker3 840d860 "Updated offline baseline (#2)" is the head that holds all four
# CoTracker3 files (the earlier 384 MB baseline_offline.pth was replaced there);
# facebook/cotracker 6049599 "Uploading CoTracker2.1 ... (#2)" holds cotracker2.pth and cotracker2v1.pth.
_COTRACKER3_REV = "840d860610c48804303618c2deee4813cd465d83"
_COTRACKER_REV = "60495999ebd33af25fc51d89f83d1d6de3bc18a5"

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant("cotracker3_offline", 3, False, 60, "facebook/cotracker3", "scaled_offline.pth", _COTRACKER3_REV, 102,
                threshold=0.9, use_confidence=False),
        Variant("cotracker3_offline_baseline", 3, False, 60, "facebook/cotracker3", "baseline_offline.pth",
                _COTRACKER3_REV, 102, threshold=0.9, use_confidence=False),
        Variant("cotracker3_online", 3, True, 16, "facebook/cotracker3", "scaled_online.pth", _COTRACKER3_REV, 102,
                threshold=0.6, use_confidence=True),
        Variant("cotracker3_online_baseline", 3, True, 16, "facebook/cotracker3", "baseline_online.pth",
                _COTRACKER3_REV, 102, threshold=0.6, use_confidence=True),
        Variant("cotracker2", 2, False, 8, "facebook/cotracker", "cotracker2.pth", _COTRACKER_REV, 204.4,
                threshold=0.9, use_confidence=False),
        Variant("cotracker2_online", 2, True, 8, "facebook/cotracker", "cotracker2.pth", _COTRACKER_REV, 204.4,
                threshold=0.6, use_confidence=False),
        Variant("cotracker2v1", 2, False, 16, "facebook/cotracker", "cotracker2v1.pth", _COTRACKER_REV, 204.4,
                threshold=0.9, use_confidence=False),
        Variant("cotracker2v1_online", 2, True, 16, "facebook/cotracker", "cotracker2v1.pth", _COTRACKER_REV, 204.4,
                threshold=0.6, use_confidence=False),
        # DOT's copy of the v1 stride-4 window-8 model (the original is not on the hub).
        # No commit hash of 16lemoing/dot could be confirmed for this file, hence "main".
        Variant("cotracker1", 1, False, 8, "16lemoing/dot", "movi_f_cotracker_patch_4_wind_8.pth", "main", None,
                threshold=0.9, use_confidence=False, align_corners=False,
                key_prefixes=("model.model.", "model.", "module.")),
    ]
}
