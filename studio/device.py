"""Where neural models run: chosen once, here, never by literals elsewhere."""

from __future__ import annotations

import os
from typing import Any


def pick_device(preferred: Any = None):
    """Choose the torch device.

    Order: an explicit ``preferred`` device; ``STUDIO_DEVICE`` (e.g. ``cpu``, ``cuda:1``);
    CPU when ``STUDIO_FORCE_CPU`` is set; else CUDA when present, then Apple MPS, then CPU.

    Returns:
      ``torch.device``.
    """
    import torch

    if preferred is not None:
        return torch.device(preferred)
    env = os.environ.get("STUDIO_DEVICE", "").strip()
    if env:
        return torch.device(env)
    if os.environ.get("STUDIO_FORCE_CPU", "").strip().lower() in {"1", "true", "yes", "on"}:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
