"""What one request or one opened file may cost: every limit in one place, from ``STUDIO_*`` environment variables.

The app (``studio.service``), the command line and the file readers
(``studio.io.guards``, the dataset and track file readers) all take their limits from
``Limits``, so a file refused by the app is refused by ``python -m studio`` too, with
the same sentence. Defaults admit the real TAP-Vid datasets and the app's own
outputs; the README's settings table lists the variables.

Sizes in the environment may carry a unit: ``200mb``, ``2gb``, ``512kb`` or plain bytes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields

MAX_FPS = 1000.0
"""Highest frame rate a track file may state or a video be written at (a sanity bound, not a setting)."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of lists/objects read from JSON text (queries need 2, track files 4)."""

_UNITS = {"": 1, "b": 1, "kb": 1024, "k": 1024, "mb": 1024**2, "m": 1024**2, "gb": 1024**3, "g": 1024**3}


def _env(name: str, default: int, parse, low: int, example: str) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be {example}, got {raw!r}") from None
    if value < low:
        raise ValueError(f"environment variable {name} must be >= {low}, got {raw!r}")
    return value


def env_int(name: str, default: int, low: int = 1) -> int:
    """The integer environment variable ``name`` (at least ``low``), ``default`` when unset or blank."""
    return _env(name, default, int, low, "an integer")


def parse_size(text: str | int) -> int:
    """Bytes from ``"200mb"``, ``"2gb"``, ``"512kb"``, ``"1048576"`` (units are powers of 1024).

    Raises:
      ValueError: not a size.
    """
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?b?)\s*", str(text).lower())
    if not m:
        raise ValueError(f"not a size: {text!r} (write e.g. 200mb, 2gb or a number of bytes)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def env_size(name: str, default: int) -> int:
    """The size environment variable ``name`` in bytes (``parse_size``), ``default`` when unset or blank."""
    return _env(name, default, parse_size, 1, "a size such as 200mb or 2gb")


def format_size(n: int) -> str:
    """``2 GiB``, ``200 MiB``, ``512 KiB`` or ``N bytes``: how sizes appear in messages."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class Limits:
    """What one request may cost, and what an opened file may declare.

    Requests (the app; the CLI applies ``max_points``):
      max_frames: frames kept from the start of a video; later ones are cut (with a notice).
      max_side: longer side in pixels of the frames the tracker sees; larger videos
        are shrunk (with a notice) and tracks are mapped back to source pixels.
      max_points: query points per request (a grid of N x N counts N*N), and queries
        per video in an app benchmark.
      dense_max_frames: frames a dense request keeps (dense tracks cost T x H x W x 2 numbers).
      bench_max_seconds: wall time an app benchmark may take; it stops after the video
        that crosses it and reports what was scored.
      max_client_requests: requests one client (address) may have waiting or running at once.
      queue_size: requests that may wait in the app's queue.
      gpu_concurrency: heavy jobs running at once.
      max_file_bytes: upload cap of the app.
      live_max_side: longer side of live camera frames (the Live tab); a larger camera is shrunk.
      live_max_frames: frames a live session records and tracks (later ones are only shown).
      live_max_points: points in a live session.

    Files (datasets, track files, dense files, masks; app and CLI):
      max_array_bytes: bytes one array of a file may declare (npy header, pickle) and one
        decoded dataset video may take; checked before anything is allocated.
      max_image_pixels: pixels of one image (mask, encoded dataset frame), from its header.
      max_videos: videos in one dataset file.
      max_video_frames: frames of one dataset video or one track file.
      max_tracks: ground-truth tracks of one dataset video, or tracks in one track file.
      max_text_bytes: size of a JSON/CSV track file (text costs many times its size once parsed).
    """

    max_frames: int = 300
    max_side: int = 1024
    max_points: int = 2500
    dense_max_frames: int = 150
    bench_max_seconds: int = 900
    max_client_requests: int = 4
    queue_size: int = 32
    gpu_concurrency: int = 1
    max_file_bytes: int = 300 * 1024**2
    live_max_side: int = 640
    live_max_frames: int = 9000
    live_max_points: int = 1000
    max_array_bytes: int = 1024**3
    max_image_pixels: int = 40_000_000
    max_videos: int = 2000
    max_video_frames: int = 5000
    max_tracks: int = 100_000
    max_text_bytes: int = 64 * 1024**2

    @classmethod
    def from_env(cls) -> Limits:
        """Limits from the ``STUDIO_*`` variables of ``ENV`` (defaults where unset)."""
        values = {}
        for f in fields(cls):
            var, low = ENV[f.name]
            values[f.name] = (env_size(var, f.default) if f.name.endswith("_bytes")
                              else env_int(var, f.default, low))
        return cls(**values)

    @property
    def max_queries_chars(self) -> int:
        """Longest ``queries_json`` text read: room for ``max_points`` triples of long numbers."""
        return 64 * self.max_points + 1024

    def describe(self) -> str:
        return f"first {self.max_frames} frames, longer side shrunk to {self.max_side} px, {self.max_points} points"


ENV: dict[str, tuple[str, int]] = {
    "max_frames": ("STUDIO_MAX_FRAMES", 1),
    "max_side": ("STUDIO_MAX_SIDE", 16),
    "max_points": ("STUDIO_MAX_POINTS", 1),
    "dense_max_frames": ("STUDIO_DENSE_MAX_FRAMES", 1),
    "bench_max_seconds": ("STUDIO_BENCH_MAX_SECONDS", 1),
    "max_client_requests": ("STUDIO_MAX_CLIENT_REQUESTS", 1),
    "queue_size": ("STUDIO_QUEUE_SIZE", 1),
    "gpu_concurrency": ("STUDIO_GPU_CONCURRENCY", 1),
    "max_file_bytes": ("STUDIO_MAX_FILE_SIZE", 1),
    "live_max_side": ("STUDIO_LIVE_MAX_SIDE", 16),
    "live_max_frames": ("STUDIO_LIVE_MAX_FRAMES", 1),
    "live_max_points": ("STUDIO_LIVE_MAX_POINTS", 1),
    "max_array_bytes": ("STUDIO_MAX_ARRAY_BYTES", 1),
    "max_image_pixels": ("STUDIO_MAX_IMAGE_PIXELS", 1),
    "max_videos": ("STUDIO_MAX_VIDEOS", 1),
    "max_video_frames": ("STUDIO_MAX_VIDEO_FRAMES", 1),
    "max_tracks": ("STUDIO_MAX_TRACKS", 1),
    "max_text_bytes": ("STUDIO_MAX_TEXT_BYTES", 1),
}
"""Field of ``Limits`` -> (environment variable, lowest value)."""


def setting(field_name: str) -> str:
    """The environment variable behind a ``Limits`` field, for messages ("... (STUDIO_MAX_TRACKS)")."""
    return ENV[field_name][0]
