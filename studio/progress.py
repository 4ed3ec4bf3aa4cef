"""The progress callback every long computation accepts."""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[float, str], None]
"""``progress(fraction in [0, 1], description)``; Gradio's ``gr.Progress`` fits this."""


class Cancelled(Exception):
    """Raised from a progress call when nobody waits for the result any more (the app's client is gone).

    Long computations report progress often, so raising there stops the work where it
    is; whoever catches it writes no output.
    """


def no_progress(fraction: float, desc: str = "") -> None:
    """A ``ProgressFn`` that ignores its calls."""


def tqdm_progress(desc: str):
    """A terminal progress bar and the ``ProgressFn`` that drives it; close the bar when done.

    Returns:
      ``(bar, progress)``: the tqdm bar (on stderr) and a ``ProgressFn`` updating it.
    """
    import sys

    from tqdm import tqdm

    bar = tqdm(total=1000, desc=desc, unit="‰", leave=False, file=sys.stderr)

    def progress(fraction: float, text: str = "") -> None:
        bar.update(max(0, int(fraction * 1000) - bar.n))
        if text:
            bar.set_description(text, refresh=False)

    return bar, progress
