"""What the reader agrees to decode and keep: frame sides, memory, and the size frames are shrunk to."""

from __future__ import annotations

from studio.io.video.base import VideoError

MAX_DECODED_SIDE = 8192
"""Largest frame side, in pixels, the reader agrees to decode."""

DEFAULT_MAX_BYTES = 4 * 1024**3
"""Default cap on the memory the kept RGB frames may take (4 GiB)."""


def check_side(width: int, height: int, name: str) -> None:
    """Refuse frames with a side over ``MAX_DECODED_SIDE`` (read at call time, so tests can lower it)."""
    if max(width, height) > MAX_DECODED_SIDE:
        raise VideoError(
            f"{name} has {width}×{height} frames, larger than the {MAX_DECODED_SIDE} px per side this reader accepts"
        )


def _gib(n: float) -> str:
    return f"{n / 1024**3:.1f} GiB"


def target_size(h: int, w: int, max_side: int | None) -> tuple[int, int]:
    """``(H, W)`` shrunk so the longer side is ``max_side`` (even sizes, aspect kept); unchanged if it fits."""
    if max_side is None or max(h, w) <= max_side:
        return h, w
    scale = max_side / max(h, w)
    return max(2, 2 * round(h * scale / 2)), max(2, 2 * round(w * scale / 2))


def refuse_size(name, frames, h, w, frame_bytes, max_bytes) -> None:
    """Raise the ``VideoError`` for frames that would take more than ``max_bytes``, saying what would fit."""
    fit = max(1, max_bytes // frame_bytes)
    what = f"{frames} frames" if frames is not None else f"more than {fit} frames"
    raise VideoError(
        f"{name} would need more than {_gib(max_bytes)} of memory as {what} of {w}×{h}; "
        f"read fewer frames (e.g. max_frames={fit}) or smaller ones (max_side)"
    )
