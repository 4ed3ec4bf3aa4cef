"""``write_video``: frames to an H.264 ``yuv420p`` MP4 that browsers play, written atomically."""

from __future__ import annotations

import math
import os
import uuid
from fractions import Fraction

import av
import av.error
import numpy as np

from studio.io.video.base import DEFAULT_FPS, ThrottledProgress, VideoError, base_name
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
      fps: frames per second; stored as a fraction with denominator <= 1001
        (29.97 -> 2997/100, 30000/1001 stays exact). Non-positive -> 25.
      crf: x264 constant rate factor in [0, 51]; lower is better and bigger.
      progress: optional ``progress(fraction in [0, 1], description)``.

    Returns:
      ``path`` as a string.

    Raises:
      InputError: bad frames, crf or path extension.
      VideoError: the file could not be written.
    """
    frames = check_video(frames)
    t_len, h, w = frames.shape[:3]
    writer = VideoWriter(path, (h, w), fps, crf=crf)
    report = ThrottledProgress(progress, f"writing {writer.name}")
    report(0.0)
    with writer:
        for i in range(t_len):
            writer.write(frames[i])
            report((i + 1) / t_len)
    report.done(f"wrote {t_len} frames to {writer.name}")
    return writer.path


class VideoWriter:
    """Frames to an H.264 ``yuv420p`` MP4 one at a time (``write_video`` without the whole array).

    Memory stays flat however many frames are written; the file appears under ``path``
    only when ``close()`` succeeds (a context manager closes on success and discards the
    partial file on an exception). Same padding, colour tags and atomic rename as ``write_video``.

    Args:
      path: where to write; must end in ``.mp4``, ``.m4v`` or ``.mov``.
      size: ``(H, W)`` of every frame.
      fps: frames per second (non-positive -> 25).
      crf: x264 constant rate factor in [0, 51].
      preset: x264 speed preset (``"ultrafast"`` for live recording, where encode time is latency).
      timed: frames carry their own times (``write(frame, time_s)``), for a source with no fixed
        rate such as a webcam; the file is then variable-rate and ``fps`` is only nominal.

    Raises:
      InputError: bad size, crf or path extension.
      VideoError: the file could not be opened.
    """

    def __init__(
        self, path, size: tuple[int, int], fps: float, crf: int = 20, preset: str = "veryfast", timed: bool = False
    ):
        if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= 51:
            raise InputError(f"crf must be an integer in [0, 51], got {crf!r}")
        self.path = os.fspath(path)
        self.name = base_name(self.path)
        if os.path.splitext(self.path)[1].lower() not in MP4_SUFFIXES:
            raise InputError(f"write_video writes H.264 MP4, so {self.name} must end in .mp4")
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise VideoError(f"cannot write {self.name}: its folder does not exist")
        try:
            fps = float(fps)
        except (TypeError, ValueError):
            raise InputError(f"fps must be a number, got {fps!r}") from None
        if not math.isfinite(fps) or fps <= 0:
            fps = DEFAULT_FPS
        self.size = (int(size[0]), int(size[1]))
        if min(self.size) <= 0:
            raise InputError(f"frame size must be positive, got {list(self.size)}")
        h, w = self.size
        self._pad = (h % 2, w % 2)
        self.frames = 0
        self.timed = bool(timed)
        self._last_pts = -1
        # Hidden name in the same folder: os.replace is then atomic, and a crash leaves no half video under ``path``.
        self._tmp = os.path.join(folder, f".{self.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            self._out = av.open(self._tmp, mode="w", format="mp4", container_options={"movflags": "+faststart"})
            rate = Fraction(fps).limit_denominator(1001)
            self._stream = self._out.add_stream("libx264", rate=rate, options={"crf": str(int(crf)), "preset": preset})
            self._stream.width, self._stream.height = w + self._pad[1], h + self._pad[0]
            self._stream.pix_fmt = "yuv420p"
            # Tag BT.709 limited range and convert with it, so browsers and our reader agree on colours.
            cc = self._stream.codec_context
            cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1
            if self.timed:
                cc.time_base = _MILLISECONDS
        except (av.error.FFmpegError, OSError) as e:
            self._discard()
            raise VideoError(f"could not write {self.name} ({type(e).__name__}: {e})") from e

    def write(self, frame: np.ndarray, time_s: float | None = None) -> None:
        """Append one uint8 [H, W, 3] RGB frame of the writer's size.

        Args:
          frame: the picture.
          time_s: with ``timed``, when it was taken, in seconds from the first frame
            (kept at least 1 ms after the previous frame); ignored otherwise.
        """
        frame = np.asarray(frame)
        if frame.shape != self.size + (3,) or frame.dtype != np.uint8:
            raise InputError(f"frame must be uint8 {list(self.size) + [3]}, got {frame.dtype} {list(frame.shape)}")
        pad_h, pad_w = self._pad
        if pad_h or pad_w:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf = vf.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        if self.timed:
            pts = max(int(round(float(time_s or 0.0) * 1000)), self._last_pts + 1)
            vf.time_base = _MILLISECONDS
        else:
            pts = self.frames
        vf.pts = self._last_pts = pts
        try:
            for packet in self._stream.encode(vf):
                self._out.mux(packet)
        except (av.error.FFmpegError, OSError) as e:
            raise VideoError(f"could not write {self.name} ({type(e).__name__}: {e})") from e
        self.frames += 1

    def close(self) -> str:
        """Flush, close and move the file to ``path``; returns ``path``. Nothing written -> VideoError."""
        if self._out is None:
            return self.path
        try:
            if self.frames == 0:
                raise VideoError(f"no frames were written to {self.name}")
            for packet in self._stream.encode(None):
                self._out.mux(packet)
            self._out.close()
            self._out = None
            os.replace(self._tmp, self.path)
        except BaseException as e:
            self._discard()
            if isinstance(e, (av.error.FFmpegError, OSError)):
                raise VideoError(f"could not write {self.name} ({type(e).__name__}: {e})") from e
            raise
        return self.path

    def discard(self) -> None:
        """Stop writing and remove the partial file (nothing appears under ``path``)."""
        self._discard()

    def _discard(self) -> None:
        out, self._out = getattr(self, "_out", None), None
        if out is not None:
            try:
                out.close()
            except Exception:  # a broken container still must not leave its file behind
                pass
        try:
            os.remove(self._tmp)
        except OSError:
            pass

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard()
