"""Dense point tracking (DOT: sparse tracks -> nearest-track interpolation -> refinement).

Modules: ``result`` (``DenseResult`` and its file), ``boundaries`` (motion
boundaries), ``sampling`` (initial tracks), ``interpolation`` (sparse -> coarse
dense flow), ``refiners`` (``DISRefiner``, ``RAFTRefiner``), ``tracker``
(``DenseTracker``), ``entries`` (registry names ``dot`` and ``dot_dis``, which
``studio.trackers`` imports). The torch-using classes are imported on first
access, so registering the models stays cheap.
"""

from studio.dense.result import DenseResult

__all__ = ["DISRefiner", "DenseResult", "DenseTracker", "RAFTRefiner"]


def __getattr__(name: str):
    if name == "DenseTracker":
        from studio.dense.tracker import DenseTracker

        return DenseTracker
    if name in ("DISRefiner", "RAFTRefiner"):
        from studio.dense import refiners

        return getattr(refiners, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
