"""``write_video``: frames to an H.264 ``yuv420p`` MP4 that browsers play, written atomically."""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from studio.io.atomic import temporary_name
from studio.io.video.base import DEFAULT_FPS, ThrottledProgress, VideoError, base_name
from studio.limits import MAX_FPS
from studio.progress import ProgressFn
from studio.results import InputError, check_video

MP4_SUFFIXES = (".mp4", ".m4v", ".mov")
"""File name endings ``write_video`` writes (H.264 in an MP4 container)."""

_MILLISECONDS = Fraction(1, 1000)


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
    t_len = frames.shape[0]
    report = ThrottledProgress(progress, f"writing {base_name(os.fspath(path))}")
    report(0.0)
    with VideoWriter(path, fps, crf) as out:
        for i in range(t_len):
            out.write(frames[i])
            report((i + 1) / t_len)
    report.done(f"wrote {t_len} frames to {out.name}")
    return out.path


class VideoWriter:
    """An MP4 written one frame at a time (``write_video``'s format); use as a context manager.

    The file appears under ``path`` only when the ``with`` block ends without an error (it is
    written to a hidden file next to it and renamed); an error removes the partial file.

    Args:
      path, fps, crf: as ``write_video``.
      preset: x264 speed preset (``"ultrafast"`` for live recording, where encode time is latency).
      timed: frames carry their own times (``write(image, time_s)``), for a source with no fixed
        rate such as a webcam; the file is then variable-rate and ``fps`` is only nominal.

    Raises:
      InputError: bad crf or path extension (on creation); a frame that is not uint8
        [H, W, 3] of the first frame's size (``write``).
      VideoError: the file could not be written.
    """

    def __init__(self, path, fps: float, crf: int = 20, preset: str = "veryfast", timed: bool = False):
        if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= 51:
            raise InputError(f"crf must be an integer in [0, 51], got {crf!r}")
        self.path = os.fspath(path)
        self.name = base_name(self.path)
        if os.path.splitext(self.path)[1].lower() not in MP4_SUFFIXES:
            raise InputError(f"write_video writes H.264 MP4, so {self.name} must end in .mp4")
        self.folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(self.folder):
            raise VideoError(f"cannot write {self.name}: its folder does not exist")
        try:
            fps = float(fps)
        except (TypeError, ValueError):
            raise InputError(f"fps must be a number, got {fps!r}") from None
        if not math.isfinite(fps) or fps <= 0:
            fps = DEFAULT_FPS
        if fps > MAX_FPS:
            raise InputError(f"fps must be at most {MAX_FPS:g} frames per second, got {fps:g}")
        self.rate = Fraction(fps).limit_denominator(1001)
        self.crf = int(crf)
        self.preset = str(preset)
        self.timed = bool(timed)
        self._last_pts = -1
        self.count = 0
        self._out = self._stream = None
        self._size = None
        # Hidden name in the same folder: os.replace is then atomic, and a crash leaves no half video under ``path``.
        self._tmp = str(temporary_name(Path(self.path)))

    def __enter__(self) -> "VideoWriter":
        return self

    def write(self, image: np.ndarray, time_s: float | None = None) -> None:
        """Append one uint8 [H, W, 3] RGB frame (every frame the size of the first).

        ``time_s``: with ``timed``, when the frame was taken, in seconds from the first one (kept at
        least 1 ms after the previous frame); ignored otherwise.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or (
                self._size is not None and image.shape[:2] != self._size):
            want = "[H, W, 3]" if self._size is None else f"[{self._size[0]}, {self._size[1]}, 3]"
            raise InputError(f"frames to write must be uint8 {want}, got {image.dtype} {list(image.shape)}")
        h, w = image.shape[:2]
        pad_h, pad_w = h % 2, w % 2
        try:
            if self._out is None:
                self._size = (h, w)
                self._out = av.open(self._tmp, mode="w", format="mp4", container_options={"movflags": "+faststart"})
                stream = self._out.add_stream("libx264", rate=self.rate, options={"crf": str(self.crf), "preset": self.preset})
                stream.width, stream.height = w + pad_w, h + pad_h
                stream.pix_fmt = "yuv420p"
                # Tag BT.709 limited range and convert with it, so browsers and our reader agree on colours.
                cc = stream.codec_context
                cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1
                if self.timed:
                    cc.time_base = _MILLISECONDS
                self._stream = stream
            if pad_h or pad_w:
                image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            vf = vf.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
            if self.timed:
                vf.pts = self._last_pts = max(int(round(float(time_s or 0.0) * 1000)), self._last_pts + 1)
                vf.time_base = _MILLISECONDS
            else:
                vf.pts = self.count
            for packet in self._stream.encode(vf):
                self._out.mux(packet)
        except (av.error.FFmpegError, OSError) as e:
            self.abort()
            raise VideoError(f"could not write {self.name} ({type(e).__name__}: {e})") from e
        self.count += 1

    def __exit__(self, kind, error, tb) -> None:
        if kind is not None:
            self.abort()
        else:
            self.close()

    def close(self) -> None:
        """Finish the file and move it to ``path``."""
        if self._out is None:
            raise InputError(f"no frames to write to {self.name}")
        try:
            for packet in self._stream.encode(None):
                self._out.mux(packet)
            self._out.close()
            os.replace(self._tmp, self.path)
        except (av.error.FFmpegError, OSError) as e:
            self.abort()
            raise VideoError(f"could not write {self.name} ({type(e).__name__}: {e})") from e

    def abort(self) -> None:
        """Drop the partial file; ``path`` is left as it was."""
        if self._out is not None:
            try:
                self._out.close()
            except (av.error.FFmpegError, OSError):
                pass
            self._out = None
        try:
            os.remove(self._tmp)
        except OSError:
            pass
