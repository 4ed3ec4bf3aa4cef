"""What reliability says about a whole result, in one line: which tracks stop being trustworthy, and when."""

from __future__ import annotations

import numpy as np

from studio.reliability.score import UNRELIABLE

RUN = 3
"""Frames in a row (among those where the point is shown visible) that make a track unreliable."""


def unreliable_from(reliability: np.ndarray, visible: np.ndarray, threshold: float = UNRELIABLE, run: int = RUN):
    """For each track, the first frame of ``run`` visible frames in a row below ``threshold``.

    Frames where the tracker itself shows the point hidden do not count either way: a
    hidden point is not drawn as a position to trust, and an occlusion does not break a run.

    Args:
      reliability: [T, N] in [0, 1].
      visible: [T, N] bool.
      threshold: reliability below this is unreliable.
      run: how many such visible frames in a row it takes.

    Returns:
      [N] int: the frame, or -1 for tracks that stay reliable.
    """
    t_len, n = reliability.shape
    out = np.full(n, -1, int)
    for i in range(n):
        frames = np.nonzero(visible[:, i])[0]
        low = reliability[frames, i] < threshold
        count = 0
        for k, is_low in enumerate(low):
            count = count + 1 if is_low else 0
            if count >= run:
                out[i] = int(frames[k - run + 1])
                break
    return out


def reliability_line(reliability: np.ndarray, visible: np.ndarray, threshold: float = UNRELIABLE) -> str:
    """E.g. ``"14 of 100 tracks become unreliable after frame 40 (median; earliest 12); mean reliability 0.87"``."""
    n = reliability.shape[1]
    onset = unreliable_from(reliability, visible, threshold)
    mean = float(reliability[visible].mean()) if visible.any() else float(reliability.mean())
    bad = onset[onset >= 0]
    if bad.size == 0:
        return f"all {n} tracks stay reliable (mean reliability {mean:.2f})"
    when = f"after frame {int(np.median(bad))}"
    if bad.size > 1:
        when += f" (median; earliest {int(bad.min())})"
    return f"{bad.size} of {n} tracks become unreliable {when}; mean reliability {mean:.2f}"
