"""``write_video``: frames to an H.264 ``yuv420p`` MP4 that browsers play, written atomically."""

from __future__ import annotations

import math
import os
from fractions import Fraction

import av
import av.error
import numpy as np

from studio.io.atomic import atomic_path
from studio.io.video.base import DEFAULT_FPS, ThrottledProgress, VideoError, base_name
from studio.limits import MAX_FPS
from studio.progress import ProgressFn
from studio.results import InputError, check_video

MP4_SUFFIXES = (".mp4", ".m4v", ".mov")
"""File name endings ``write_video`` writes (H.264 in an MP4 container)."""


def write_video(path, frames: np.ndarray, fps: float, crf: int = 20, progress: ProgressFn | None = None) -> str:
    """Write frames as an H.264 ``yuv420p`` MP4 that browsers play.

    Odd widths or heights are padded by one row/column copied from the edge
    (yuv420p needs even sizes); the picture is never resampled, so pixel
    coordinates on ``frames`` stay exact on the file. The file appears
    atomically: it is written next to ``path`` and renamed at the end.

    Args:
      path: where to write; must end in ``.mp4``, ``.m4v`` or ``.mov``.
      frames: [T, H, W, 3] np.uint8 RGB in [0, 255], T >= 1.
      fps: frames per second, at most ``studio.limits.MAX_FPS``; stored as a fraction with
        denominator <= 1001 (29.97 -> 2997/100, 30000/1001 stays exact). Non-positive -> 25.
      crf: x264 constant rate factor in [0, 51]; lower is better and bigger.
      progress: optional ``progress(fraction in [0, 1], description)``.

    Returns:
      ``path`` as a string.

    Raises:
      InputError: bad frames, crf, fps or path extension.
      VideoError: the file could not be written.
    """
    frames = check_video(frames)
    if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= 51:
        raise InputError(f"crf must be an integer in [0, 51], got {crf!r}")
    path = os.fspath(path)
    name = base_name(path)
    if os.path.splitext(path)[1].lower() not in MP4_SUFFIXES:
        raise InputError(f"write_video writes H.264 MP4, so {name} must end in .mp4")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise VideoError(f"cannot write {name}: its folder does not exist")
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        raise InputError(f"fps must be a number, got {fps!r}") from None
    if not math.isfinite(fps) or fps <= 0:
        fps = DEFAULT_FPS
    if fps > MAX_FPS:
        raise InputError(f"fps must be at most {MAX_FPS:g} frames per second, got {fps:g}")
    rate = Fraction(fps).limit_denominator(1001)

    t_len, h, w = frames.shape[:3]
    pad_h, pad_w = h % 2, w % 2
    report = ThrottledProgress(progress, f"writing {name}")
    report(0.0)
    try:
        # Hidden name in the same folder, renamed at the end: a crash leaves no half video under ``path``.
        with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4",
                                               container_options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", rate=rate, options={"crf": str(int(crf)), "preset": "veryfast"})
            stream.width, stream.height = w + pad_w, h + pad_h
            stream.pix_fmt = "yuv420p"
            # Tag BT.709 limited range and convert with it, so browsers and our reader agree on colours.
            cc = stream.codec_context
            cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1
            for i in range(t_len):
                image = frames[i]
                if pad_h or pad_w:
                    image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                vf = vf.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
                vf.pts = i
                for packet in stream.encode(vf):
                    out.mux(packet)
                report((i + 1) / t_len)
            for packet in stream.encode(None):
                out.mux(packet)
    except (av.error.FFmpegError, OSError) as e:
        raise VideoError(f"could not write {name} ({type(e).__name__}: {e})") from e
    report.done(f"wrote {t_len} frames to {name}")
    return path
