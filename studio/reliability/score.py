"""Cycle error in pixels -> reliability in [0, 1], and the model's own confidence folded in.

The scale is the TAP-Vid one: a cycle error of ``TOLERANCE_256`` pixels on a frame whose
long side is 256 px (the middle threshold of delta_avg) gives reliability 0.5; larger frames
scale the tolerance with their long side, so the same track reads the same at any resolution.
"""

from __future__ import annotations

import numpy as np

TOLERANCE_256 = 4.0
"""Cycle error (pixels of a 256-px frame) at which reliability is 0.5."""
MIN_TOLERANCE = 2.0
"""Smallest tolerance in pixels, for tiny frames."""
UNRELIABLE = 0.5
"""Reliability below this counts as unreliable in summaries and the default "hide below"."""


def tolerance_px(size: tuple[int, int]) -> float:
    """The cycle error (pixels of a ``size = (H, W)`` frame) that gives reliability 0.5."""
    return max(MIN_TOLERANCE, TOLERANCE_256 * max(size) / 256.0)


def reliability_from_error(
    cycle_error: np.ndarray, tolerance: float, confidence: np.ndarray | None = None
) -> np.ndarray:
    """Reliability of each position: ``1 / (1 + (e / tolerance)^2)``, times the model's confidence.

    Args:
      cycle_error: [T, N] pixels >= 0.
      tolerance: pixels where the cycle term is 0.5 (``tolerance_px``).
      confidence: optional [T, N] in [0, 1] from the tracker (CoTracker3's, for example).

    Returns:
      [T, N] float32 in [0, 1]; 1 = trustworthy.
    """
    e = np.asarray(cycle_error, np.float64) / float(tolerance)
    r = 1.0 / (1.0 + e * e)
    if confidence is not None:
        r = r * np.clip(np.nan_to_num(np.asarray(confidence, np.float64), nan=0.0), 0.0, 1.0)
    return np.clip(r, 0.0, 1.0).astype(np.float32)
