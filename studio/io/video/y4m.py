"""``write_y4m``: frames to a YUV4MPEG2 file, the raw format Chromium's fake camera plays.

Chromium's ``--use-file-for-fake-video-capture=FILE.y4m`` loops such a file as the
webcam, which is how the Live tab is tested and benchmarked without a camera.
"""

from __future__ import annotations

import os
from fractions import Fraction

import cv2
import numpy as np

from studio.results import InputError, check_video


def write_y4m(path, frames: np.ndarray, fps: float = 30.0) -> str:
    """Write frames as 8-bit 4:2:0 YUV4MPEG2 (``C420jpeg``: full-range BT.601, what OpenCV's I420 gives).

    Args:
      path: where to write (``.y4m``).
      frames: [T, H, W, 3] uint8 RGB, H and W even.
      fps: frame rate in the header.

    Returns:
      ``path`` as a string.

    Raises:
      InputError: bad frames (odd sizes included: 4:2:0 halves them) or fps.
    """
    frames = check_video(frames)
    t_len, h, w = frames.shape[:3]
    if h % 2 or w % 2:
        raise InputError(f"4:2:0 needs even frame sides, got {w}×{h}")
    if not fps > 0:
        raise InputError(f"fps must be positive, got {fps!r}")
    rate = Fraction(float(fps)).limit_denominator(1001)
    path = os.fspath(path)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path
