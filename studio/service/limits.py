"""What one request may cost, from ``STUDIO_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass


def env_int(name: str, default: int, low: int = 1) -> int:
    """The integer environment variable ``name`` (at least ``low``), ``default`` when unset or blank."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if value < low:
        raise ValueError(f"environment variable {name} must be >= {low}, got {value}")
    return value


@dataclass(frozen=True)
class Limits:
    """What one request may cost.

    Attributes:
      max_frames: frames kept from the start of a video; later ones are cut (with a notice).
      max_side: longer side in pixels of the frames the tracker sees; larger videos
        are shrunk (with a notice) and tracks are mapped back to source pixels.
      max_points: query points per request.
    """

    max_frames: int = 300
    max_side: int = 1024
    max_points: int = 2500

    @classmethod
    def from_env(cls) -> Limits:
        """Limits from ``STUDIO_MAX_FRAMES``, ``STUDIO_MAX_SIDE`` and ``STUDIO_MAX_POINTS``."""
        return cls(
            max_frames=env_int("STUDIO_MAX_FRAMES", cls.max_frames),
            max_side=env_int("STUDIO_MAX_SIDE", cls.max_side, low=16),
            max_points=env_int("STUDIO_MAX_POINTS", cls.max_points),
        )

    def describe(self) -> str:
        return f"first {self.max_frames} frames, longer side shrunk to {self.max_side} px, {self.max_points} points"
