"""The progress callback every long computation accepts, and the time left it implies."""

from __future__ import annotations

import time
from collections.abc import Callable

ProgressFn = Callable[[float, str], None]
"""``progress(fraction in [0, 1], description)``; Gradio's ``gr.Progress`` fits this."""

MIN_SECONDS = 1.0
"""No time-left estimate before a phase has run this long (the first steps say little)."""


class Cancelled(Exception):
    """Raised from a progress call when nobody waits for the result any more (the app's client is gone).

    Long computations report progress often, so raising there stops the work where it
    is; whoever catches it writes no output.
    """


def no_progress(fraction: float, desc: str = "") -> None:
    """A ``ProgressFn`` that ignores its calls."""


class TimeLeft:
    """Estimates the seconds left of a job from the fraction done and the time spent.

    A job may run in phases whose fractions each start again from 0 (reading, then tracking):
    when the fraction goes down, the clock starts again. The estimate assumes the rest goes
    at the pace so far: ``elapsed * (1 - f) / f``.

    Args:
      clock: seconds, monotonic (default ``time.monotonic``; injectable for tests).
    """

    def __init__(self, clock: Callable[[], float] | None = None):
        self.clock = clock or time.monotonic
        self.start = self.clock()
        self.start_fraction = 0.0
        self.last = 0.0

    def __call__(self, fraction: float) -> float | None:
        """Seconds left at ``fraction`` in [0, 1]; None while there is too little to go on."""
        f = min(max(float(fraction), 0.0), 1.0)
        now = self.clock()
        if f < self.last:  # a new phase
            self.start, self.start_fraction = now, f
        self.last = f
        done = f - self.start_fraction
        elapsed = now - self.start
        if f >= 1.0:
            return 0.0
        if done <= 0.0 or elapsed < MIN_SECONDS:
            return None
        return elapsed * (1.0 - f) / done


def format_seconds(seconds: float) -> str:
    """``"about 40 s"``, ``"about 3 min"``, ``"about 1 h 5 min"`` (rounded up to whole units)."""
    s = max(0, int(seconds + 0.999))
    if s < 60:
        return f"about {s} s"
    minutes = (s + 59) // 60
    if minutes < 60:
        return f"about {minutes} min"
    h, m = divmod(minutes, 60)
    return f"about {h} h {m} min" if m else f"about {h} h"


def with_time_left(progress: ProgressFn, clock: Callable[[], float] | None = None) -> ProgressFn:
    """``progress`` with the time left appended to each description: ``"tracking · about 12 s left"``."""
    left = TimeLeft(clock)

    def report(fraction: float, desc: str = "") -> None:
        seconds = left(fraction)
        if seconds is not None and 0.0 < fraction < 1.0:
            desc = f"{desc} · {format_seconds(seconds)} left" if desc else f"{format_seconds(seconds)} left"
        progress(fraction, desc)

    return report


BAR_FORMAT = "{desc}{percentage:3.0f}%|{bar}| {elapsed} elapsed, {remaining} left"
"""tqdm's line: description, percent, bar, time spent and time left."""


def tqdm_progress(desc: str):
    """A terminal progress bar with the time left, and the ``ProgressFn`` that drives it; close the bar when done.

    A fraction that goes down starts a new phase: the bar (and its time-left estimate) restarts.

    Returns:
      ``(bar, progress)``: the tqdm bar (on stderr) and a ``ProgressFn`` updating it.
    """
    import sys

    from tqdm import tqdm

    bar = tqdm(total=1000, desc=desc, leave=False, file=sys.stderr, bar_format=BAR_FORMAT)

    def progress(fraction: float, text: str = "") -> None:
        target = int(min(max(fraction, 0.0), 1.0) * 1000)
        if target < bar.n:
            bar.reset()
        bar.update(target - bar.n)
        if text:
            bar.set_description(text, refresh=False)

    return bar, progress
