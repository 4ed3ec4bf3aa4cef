"""What one request may cost: ``studio.limits.Limits`` (kept there so the CLI and the file readers share it)."""

from __future__ import annotations

from studio.limits import Limits, env_int, env_size

__all__ = ["Limits", "env_int", "env_size"]
