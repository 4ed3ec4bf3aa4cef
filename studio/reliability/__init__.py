"""Reliability without ground truth: how far each tracked position can be trusted.

Every prediction ``tracks[t, i]`` is tracked back to its query frame; how far it lands
from the query is its **cycle error** (pixels). A right prediction comes back to where
it started; one that slipped onto something else, or onto a region that no longer shows
the point, does not. Reliability maps the cycle error onto [0, 1] (0.5 at the TAP-Vid
4-px threshold scaled to the frame) and multiplies in the model's own confidence where
it gives one. The return trips cost about one extra pass, never one pass per frame
(``returns``). ``check_tracks`` runs it; ``reliability_line`` says what it means for a
whole result; ``evaluation`` measures it against ground truth.
"""

from studio.reliability.check import ENGINES, ReliabilityCheck, check_tracks, choose_engine
from studio.reliability.evaluation import auroc, reliability_auroc
from studio.reliability.score import UNRELIABLE, reliability_from_error, tolerance_px
from studio.reliability.summary import reliability_line, unreliable_from

__all__ = [
    "ENGINES",
    "UNRELIABLE",
    "ReliabilityCheck",
    "auroc",
    "check_tracks",
    "choose_engine",
    "reliability_auroc",
    "reliability_from_error",
    "reliability_line",
    "tolerance_px",
    "unreliable_from",
]
