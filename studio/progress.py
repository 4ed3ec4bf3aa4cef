"""The progress callback every long computation accepts."""

from __future__ import annotations

from typing import Callable

ProgressFn = Callable[[float, str], None]
"""``progress(fraction in [0, 1], description)``; Gradio's ``gr.Progress`` fits this."""


def no_progress(fraction: float, desc: str = "") -> None:
    """A ``ProgressFn`` that ignores its calls."""
