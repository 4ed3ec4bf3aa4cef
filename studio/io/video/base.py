"""What every part of the video package shares: the ``Video`` result, ``VideoError``, and small helpers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import av
import av.error
import numpy as np

from studio.progress import ProgressFn
from studio.results import InputError

DEFAULT_FPS = 25.0
"""Frame rate assumed when a file states none."""

PROGRESS_STEPS = 50

# Errors PyAV raises for unreadable input. av.error.FFmpegError covers its own
# hierarchy; OSError/ValueError/EOFError cover the subclasses it mixes into the
# builtin ones and a few plain raises; ValueError also covers UnicodeDecodeError (metadata that is not
# valid text).
AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError)


class VideoError(InputError):
    """A video file that cannot be read or written; the message is one sentence for the user."""


@dataclass
class Video:
    """Decoded frames of a video file plus what was changed on the way.

    Attributes:
      frames: [T, H, W, 3] np.uint8 RGB in [0, 255], C-contiguous, upright (the
        file's rotation metadata already applied).
      fps: frames per second of the source (``DEFAULT_FPS`` when the file has no
        rate; a notice then says so).
      notices: human sentences of what was cut, resized, rotated or found wrong,
        e.g. ``"kept frames 0–299 of 1800"``.
      source_size: ``(H, W)`` of the decoded video after rotation, before resizing.
      source_frames: number of frames in the file if known, else None.
      codec: FFmpeg's codec name, e.g. ``"h264"``, ``"mpeg4"``, ``"vp9"``, ``"gif"``.
    """

    frames: np.ndarray
    fps: float
    notices: list[str] = field(default_factory=list)
    source_size: tuple[int, int] = (0, 0)
    source_frames: int | None = None
    codec: str = ""

    @property
    def notice(self) -> str:
        """All notices as one line, ``""`` when nothing was changed."""
        return "; ".join(self.notices)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of ``frames``."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])


def base_name(path) -> str:
    """The file name messages use (never the full path, which may hold a temp folder or a user name)."""
    return os.path.basename(os.fspath(path)) or os.fspath(path)


class ThrottledProgress:
    """Calls ``fn(fraction, desc)`` at most ``PROGRESS_STEPS + 2`` times."""

    def __init__(self, fn: ProgressFn | None, desc: str):
        self.fn, self.desc, self.step = fn, desc, -1

    def __call__(self, fraction: float) -> None:
        if self.fn is None:
            return
        fraction = min(max(float(fraction), 0.0), 1.0)
        step = int(fraction * PROGRESS_STEPS)
        if step > self.step:
            self.step = step
            self.fn(fraction, self.desc)

    def done(self, desc: str) -> None:
        if self.fn is not None:
            self.fn(1.0, desc)
