"""Read any video FFmpeg decodes into the studio's array contract, and write browser MP4s.

Everything goes through PyAV (which bundles FFmpeg), so no system ``ffmpeg`` is
needed. Reading yields ``uint8 [T, H, W, 3]`` RGB frames the right way up (the
file's display matrix is applied), optionally cut to the first ``max_frames``
frames and shrunk to ``max_side`` pixels; every such change is reported as a
human sentence in ``Video.notices``. Writing produces H.264 ``yuv420p`` MP4 that
browsers play; odd sizes are padded, never resampled, so pixel coordinates
(``studio.conventions``: integer = pixel centre) stay valid on the written file.

Failures the user can act on raise ``VideoError`` (an ``InputError``) with one
sentence that names the file's base name; FFmpeg's own exceptions never escape.
"""

from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass, field
from fractions import Fraction

import av
import av.error
import numpy as np

from studio.progress import ProgressFn
from studio.results import InputError, check_video

__all__ = ["Video", "VideoError", "probe_video", "read_video", "write_video"]

DEFAULT_FPS = 25.0
"""Frame rate assumed when a file states none."""

MAX_DECODED_SIDE = 8192
"""Largest frame side, in pixels, the reader agrees to decode."""

DEFAULT_MAX_BYTES = 4 * 1024**3
"""Default cap on the memory the kept RGB frames may take (4 GiB)."""

_PROGRESS_STEPS = 50

# Demuxers of bare codec streams: they have no timestamps, and the frame rate they
# report is their own ``framerate`` option (25 by default), not the file's.
_RAW_STREAM_FORMATS = frozenset(
    {"h261", "h263", "h264", "hevc", "vvc", "m4v", "mjpeg", "mpegvideo", "cavsvideo", "vc1", "obu", "rawvideo"}
)

# FFmpeg's demuxers for single still images; they open a renamed PNG or JPEG as a
# one-frame "video", which is never what the user meant to upload.
_STILL_IMAGE_FORMATS = ("image2", "image2pipe")

# Errors PyAV raises for unreadable input. av.error.FFmpegError covers its own
# hierarchy; OSError/ValueError/EOFError cover the subclasses it mixes into the
# builtin ones and a few plain raises; ValueError also covers UnicodeDecodeError (metadata that is not
# valid text).
_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError)


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


# --------------------------------------------------------------------------- orientation


@dataclass(frozen=True)
class _Orientation:
    """The display transform of a file, restricted to the 8 axis-aligned ones.

    FFmpeg's display matrix maps a stored pixel ``(x, y)`` (y down) to the shown
    ``(x', y') = (a*x + c*y, b*x + d*y)`` up to a translation, with
    ``a, b, c, d`` in {-1, 0, 1}. A portrait phone clip is typically stored
    landscape with ``a=0, b=1, c=-1, d=0``: turn 90° clockwise to show it.
    """

    a: int = 1
    b: int = 0
    c: int = 0
    d: int = 1

    @property
    def is_identity(self) -> bool:
        return (self.a, self.b, self.c, self.d) == (1, 0, 0, 1)

    @property
    def transposed(self) -> bool:
        """True when stored width becomes shown height (90° or 270°)."""
        return self.a == 0

    @property
    def mirrored(self) -> bool:
        return self.a * self.d - self.b * self.c < 0

    @property
    def clockwise_degrees(self) -> int:
        """Rotation part in degrees clockwise, 0/90/180/270 (after the mirror, if any)."""
        # A mirror is undone first (x -> -x) so that what is left is a pure rotation.
        a, b = (-self.a, -self.b) if self.mirrored else (self.a, self.b)
        return int(round(math.degrees(math.atan2(b, a)))) % 360

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Show a stored image as the file asks.

        Args:
          image: [h, w, C] array as stored in the file.

        Returns:
          [h, w, C] or [w, h, C] view, as shown to a viewer.
        """
        if self.transposed:
            # x' = c*y and y' = b*x: shown rows come from stored columns.
            out = image.transpose(1, 0, 2)
            if self.c < 0:
                out = out[:, ::-1]
            if self.b < 0:
                out = out[::-1]
            return out
        out = image
        if self.a < 0:
            out = out[:, ::-1]
        if self.d < 0:
            out = out[::-1]
        return out

    def describe(self) -> str:
        turn = self.clockwise_degrees
        parts = []
        if self.mirrored:
            parts.append("mirrored left-right")
        if turn:
            parts.append("rotated 180°" if turn == 180 else f"rotated {turn}° clockwise")
        return " and ".join(parts) + " as the file's metadata asks"


def _orientation_from_matrix(matrix: np.ndarray) -> _Orientation | None:
    """Axis-aligned orientation of a 3x3 display matrix (16.16 fixed point), None if skewed."""
    a, b, c, d = (float(matrix[i]) / 65536.0 for i in (0, 1, 3, 4))
    scale = math.hypot(a, b) or 1.0
    vals = [v / scale for v in (a, b, c, d)]
    rounded = [int(round(v)) for v in vals]
    if any(abs(v - r) > 0.02 for v, r in zip(vals, rounded)):
        return None
    o = _Orientation(*rounded)
    if abs(o.a * o.d - o.b * o.c) != 1:
        return None
    return o


def _orientation_from_clockwise(degrees: float) -> _Orientation | None:
    turn = int(round(degrees)) % 360
    if turn % 90 or abs(degrees - round(degrees)) > 0.5:
        return None
    cos, sin = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[turn]
    return _Orientation(a=cos, b=sin, c=-sin, d=cos)


def _find_orientation(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> tuple[_Orientation, str | None]:
    """Orientation of a stream from its first decoded frame.

    FFmpeg (7+) copies the container's display matrix onto every decoded frame as
    side data; PyAV exposes no stream-level side data, hence the frame. Older
    muxers' ``rotate`` tag (degrees clockwise) is the fallback.

    Returns:
      The orientation and, when the file asks for something this reader cannot
      do (a skewed or non-right-angle rotation), a notice saying it was ignored.
    """
    matrix = None
    try:
        for sd in frame.side_data:
            if sd.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
                matrix = np.frombuffer(bytes(sd), dtype=np.int32)
                break
    except _AV_ERRORS:
        matrix = None
    if matrix is not None and matrix.size >= 9:
        o = _orientation_from_matrix(matrix)
        if o is None:
            return _Orientation(), (
                f"ignored the file's {-frame.rotation}° display rotation (only multiples of 90° are applied)"
            )
        return o, None
    tag = stream.metadata.get("rotate") if stream.metadata else None
    if tag:
        try:
            degrees = float(tag)
        except ValueError:
            return _Orientation(), None
        o = _orientation_from_clockwise(degrees)
        if o is None:
            return _Orientation(), f"ignored the file's {tag}° rotate tag (only multiples of 90° are applied)"
        return o, None
    return _Orientation(), None


# --------------------------------------------------------------------------- opening


def _name(path) -> str:
    return os.path.basename(os.fspath(path)) or os.fspath(path)


def _sniff_container(path: str) -> str | None:
    """Container family from the magic bytes, to tell 'damaged video' from 'not a video'."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "MP4/MOV"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska/WebM"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:4] == b"GIF8":
        return "GIF"
    return None


def _check_path(path) -> str:
    try:
        path = os.fspath(path)
    except TypeError:
        raise VideoError(f"a video path must be a string or a path, got {type(path).__name__}") from None
    name = _name(path)
    if not os.path.exists(path):
        raise VideoError(f"{name} does not exist")
    if os.path.isdir(path):
        raise VideoError(f"{name} is a folder, not a video file")
    if os.path.getsize(path) == 0:
        raise VideoError(f"{name} is empty (0 bytes)")
    return path


def _open(path: str):
    """Open ``path`` for reading, turning every failure into a ``VideoError``."""
    name = _name(path)
    try:
        # metadata_errors: a tag in a foreign encoding must not stop the read.
        return av.open(path, mode="r", metadata_errors="replace")
    except PermissionError as e:
        raise VideoError(f"{name} cannot be read: permission denied") from e
    except _AV_ERRORS as e:
        family = _sniff_container(path)
        if family is not None or isinstance(e, (av.error.EOFError, EOFError)):
            kind = f"an {family}" if family and family[0] in "AEIOU" else f"a {family or 'video'}"
            raise VideoError(
                f"{name} looks like {kind} file but is damaged or truncated (was the upload or copy cut short?)"
            ) from e
        raise VideoError(f"{name} is not a video file FFmpeg can read (unknown or damaged format)") from e


def _video_stream(container, name: str):
    fmt = container.format.name or ""
    if fmt.endswith("_pipe") or fmt in _STILL_IMAGE_FORMATS:
        kind = fmt[: -len("_pipe")].upper() if fmt.endswith("_pipe") else "image"
        raise VideoError(f"{name} is a still {kind} image, not a video")
    if fmt == "tty":
        # FFmpeg renders any text file as an "ansi art" video; nobody uploads that on purpose.
        raise VideoError(f"{name} is a text file, not a video")
    streams = [
        s
        for s in container.streams.video
        # Cover art in music files is a one-picture "video" stream.
        if not (s.disposition & av.stream.Disposition.attached_pic)
    ]
    if not streams:
        if container.streams.audio:
            raise VideoError(f"{name} holds only audio, no video stream")
        raise VideoError(f"{name} has no video stream")
    stream = streams[0]
    if stream.codec_context is None:
        raise VideoError(f"{name} uses a video codec this FFmpeg build cannot decode")
    return stream


def _check_side(width: int, height: int, name: str) -> None:
    if max(width, height) > MAX_DECODED_SIDE:
        raise VideoError(
            f"{name} has {width}×{height} frames, larger than the {MAX_DECODED_SIDE} px per side this reader accepts"
        )


@dataclass
class _StreamFacts:
    fps: float | None  # None: the file states no usable rate
    frames: int | None  # from the header; None when it does not say
    codec: str
    duration_s: float | None
    width: int
    height: int


def _stream_facts(container, stream) -> _StreamFacts:
    duration_s = None
    if stream.duration and stream.time_base:
        duration_s = float(stream.duration * stream.time_base)
    elif container.duration:
        duration_s = container.duration / av.time_base
    frames = int(stream.frames) if stream.frames and stream.frames > 0 else None
    fps = None
    raw = container.format.name in _RAW_STREAM_FORMATS
    for rate in () if raw else (stream.average_rate, stream.guessed_rate):
        # Some muxers store placeholders such as 90000 or 1/0; keep rates a camera could shoot.
        if rate and 0 < float(rate) <= 1000:
            fps = float(rate)
            break
    if fps is None and frames and duration_s and not raw:
        fps = frames / duration_s
    codec = stream.codec_context.codec.canonical_name or stream.codec_context.name
    return _StreamFacts(fps, frames, codec, duration_s, int(stream.width or 0), int(stream.height or 0))


class _Progress:
    """Calls ``fn(fraction, desc)`` at most ``_PROGRESS_STEPS + 2`` times."""

    def __init__(self, fn: ProgressFn | None, desc: str):
        self.fn, self.desc, self.step = fn, desc, -1

    def __call__(self, fraction: float) -> None:
        if self.fn is None:
            return
        fraction = min(max(float(fraction), 0.0), 1.0)
        step = int(fraction * _PROGRESS_STEPS)
        if step > self.step:
            self.step = step
            self.fn(fraction, self.desc)

    def done(self, desc: str) -> None:
        if self.fn is not None:
            self.fn(1.0, desc)


def _gib(n: float) -> str:
    return f"{n / 1024**3:.1f} GiB"


# --------------------------------------------------------------------------- public


def probe_video(path) -> dict:
    """Cheap facts about a video file without decoding more than its first frame.

    Args:
      path: the video file.

    Returns:
      dict with ``size``: ``(H, W)`` as shown (after rotation), ``fps``: float
      (``DEFAULT_FPS`` when the file has none), ``frames``: int or None
      (``stream.frames``, else packets counted without decoding), ``codec``: str,
      ``rotation``: degrees clockwise (0/90/180/270) the file asks the picture to
      be turned for display, ``duration_s``: float or None.

    Raises:
      VideoError: as ``read_video`` for missing, unreadable, audio-only, empty or
        damaged files.
    """
    path = _check_path(path)
    name = _name(path)
    first = None
    packets: int | None = 0
    failed = False
    try:
        with _open(path) as container:
            stream = _video_stream(container, name)
            facts = _stream_facts(container, stream)
            _check_side(facts.width, facts.height, name)
            for packet in container.demux(stream):
                if packet.size:
                    packets += 1
                if first is None:
                    try:
                        decoded = stream.decode(packet)
                    except _AV_ERRORS:
                        failed = True
                        continue
                    if decoded:
                        first = decoded[0]
                        _check_side(first.width, first.height, name)
                        orientation, _ = _find_orientation(first, stream)
                if first is not None and facts.frames is not None:
                    break
    except VideoError:
        raise
    except _AV_ERRORS as e:
        if first is None:
            raise VideoError(f"{name} is damaged or truncated: no frame could be decoded") from e
        packets = None  # the count stopped at the damage
    if first is None:
        if failed or facts.frames:
            raise VideoError(f"{name} is damaged or truncated: no frame could be decoded")
        raise VideoError(f"{name} has a video stream but no frames")
    h, w = first.height, first.width
    if orientation.transposed:
        h, w = w, h
    fps = facts.fps or DEFAULT_FPS
    frames = facts.frames if facts.frames is not None else packets
    duration = facts.duration_s if facts.duration_s else (frames / fps if frames else None)
    return {
        "size": (h, w),
        "fps": fps,
        "frames": frames,
        "codec": facts.codec,
        "rotation": orientation.clockwise_degrees,
        "duration_s": duration,
    }


def read_video(
    path,
    max_frames: int | None = None,
    max_side: int | None = None,
    progress: ProgressFn | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Video:
    """Decode a video file into RGB frames, upright, optionally shortened and shrunk.

    Any container and codec PyAV's FFmpeg decodes works (H.264/MPEG-4/VP9 in
    MP4, MOV, WebM, MKV, AVI; animated GIF). Decoding stops as soon as
    ``max_frames`` frames are kept.

    Args:
      path: the video file.
      max_frames: keep frames ``0..max_frames-1`` only; None keeps all.
      max_side: if the longer side of the (rotated) video exceeds this, shrink
        so it equals ``max_side`` (sizes rounded to even), keeping the aspect.
      progress: optional ``progress(fraction in [0, 1], description)``, called at
        most about 50 times.
      max_bytes: refuse to keep more than this many bytes of RGB frames.

    Returns:
      ``Video`` with frames [T, H, W, 3] np.uint8 RGB in [0, 255].

    Raises:
      VideoError: missing file, not a video, no video stream, no frame decodable,
        frames larger than ``MAX_DECODED_SIDE`` or more than ``max_bytes`` to keep.
      InputError: ``max_frames``, ``max_side`` or ``max_bytes`` is not a positive integer.
    """
    for arg, value, low in (("max_frames", max_frames, 1), ("max_side", max_side, 2), ("max_bytes", max_bytes, 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low):
            raise InputError(f"{arg} must be an integer >= {low} or None, got {value!r}")
    path = _check_path(path)
    name = _name(path)
    try:
        return _read(path, name, max_frames, max_side, progress, int(max_bytes or DEFAULT_MAX_BYTES))
    except VideoError:
        raise
    except _AV_ERRORS as e:
        # A safety net: the decode loop handles the expected failures itself.
        raise VideoError(f"{name} could not be read ({type(e).__name__}: {e})") from e


class _FrameBuffer:
    """Growable [T, h, w, 3] uint8 store; preallocated when the count is known, so no stacking copy."""

    def __init__(self, capacity: int, h: int, w: int, most: int):
        self.data = np.empty((max(capacity, 1), h, w, 3), dtype=np.uint8)
        self.n = 0
        self.most = max(most, 1)  # never grow past the memory cap

    def append(self, image: np.ndarray) -> None:
        if self.n == self.data.shape[0]:
            grown = np.empty((max(min(self.n * 2, self.most), self.n + 1),) + self.data.shape[1:], dtype=np.uint8)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n] = image
        self.n += 1

    def result(self) -> np.ndarray:
        if self.n == self.data.shape[0]:
            return self.data
        # A copy, so that a stream listing far more frames than it holds does not pin a huge buffer.
        return np.ascontiguousarray(self.data[: self.n]).copy()


def _target_size(h: int, w: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None or max(h, w) <= max_side:
        return h, w
    scale = max_side / max(h, w)
    return max(2, 2 * round(h * scale / 2)), max(2, 2 * round(w * scale / 2))


def _read(path, name, max_frames, max_side, progress_fn, max_bytes) -> Video:
    notices: list[str] = []
    report = _Progress(progress_fn, f"reading {name}")
    report(0.0)
    with _open(path) as container:
        stream = _video_stream(container, name)
        facts = _stream_facts(container, stream)
        _check_side(facts.width, facts.height, name)
        # Frame threads make long HD files several times faster to decode.
        stream.codec_context.thread_type = "AUTO"

        limit = max_frames
        expected = facts.frames
        if expected is not None and limit is not None:
            expected = min(expected, limit)
        buf: _FrameBuffer | None = None
        orientation = _Orientation()
        shown_h = shown_w = 0
        out_h = out_w = 0
        coded_w = coded_h = 0
        interpolation = None
        frame_bytes = 0

        n = 0  # frames kept
        packets = 0  # non-empty packets of the stream seen
        decode_errors = 0
        frames_at_last_error = -1
        demux_error: Exception | None = None
        counting_done = True  # whether ``packets`` is the stream's full count
        stopped = False

        def keep(frame) -> None:
            nonlocal buf, orientation, shown_h, shown_w, out_h, out_w, coded_w, coded_h, interpolation, frame_bytes, n
            if buf is None:
                _check_side(frame.width, frame.height, name)
                orientation, warn = _find_orientation(frame, stream)
                if warn:
                    notices.append(warn)
                shown_h, shown_w = frame.height, frame.width
                if orientation.transposed:
                    shown_h, shown_w = shown_w, shown_h
                out_h, out_w = _target_size(shown_h, shown_w, max_side)
                coded_w, coded_h = (out_h, out_w) if orientation.transposed else (out_w, out_h)
                if (out_h, out_w) != (shown_h, shown_w):
                    interpolation = "AREA"
                frame_bytes = out_h * out_w * 3
                if (expected or 1) * frame_bytes > max_bytes:
                    _refuse_size(name, expected, out_h, out_w, frame_bytes, max_bytes)
                most = max_bytes // frame_bytes
                buf = _FrameBuffer(expected or min(64, most), out_h, out_w, most)
            elif (n + 1) * frame_bytes > max_bytes:
                _refuse_size(name, None, out_h, out_w, frame_bytes, max_bytes)
            # Always pass the size: a stream that changes resolution midway still
            # lands on the first frame's grid.
            rgb = frame.reformat(width=coded_w, height=coded_h, format="rgb24", interpolation=interpolation)
            buf.append(orientation.apply(rgb.to_ndarray()))
            n += 1
            if expected:
                report(n / expected)
            elif facts.duration_s and frame.time is not None:
                report(frame.time / facts.duration_s)

        demux = container.demux(stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except _AV_ERRORS as e:
                demux_error = e
                counting_done = False
                break
            if packet.size:
                packets += 1
            if stopped:
                continue  # only counting packets, for the "of N" in the notice
            try:
                decoded = stream.decode(packet)
            except _AV_ERRORS:
                # Skip the damaged packet like FFmpeg does; later packets may decode.
                decode_errors += 1
                frames_at_last_error = n
                continue
            for frame in decoded:
                keep(frame)
                if limit is not None and n >= limit:
                    stopped = True
                    break
            if stopped and facts.frames is not None:
                counting_done = False
                break
        if not stopped and demux_error is not None:
            # A clean end of demuxing already sent the flush packet; after a demuxer
            # error, drain the frames the (threaded) decoder still holds.
            try:
                rest = stream.decode(None)
            except _AV_ERRORS:
                rest = []
            for frame in rest:
                keep(frame)
                if limit is not None and n >= limit:
                    stopped = True
                    break

    if n == 0:
        if decode_errors or demux_error is not None or facts.frames:
            raise VideoError(f"{name} is damaged or truncated: no frame could be decoded")
        raise VideoError(f"{name} has a video stream but no frames")

    source_frames = facts.frames
    if source_frames is None and counting_done:
        source_frames = packets

    if stopped and (source_frames is None or source_frames > n):
        total = str(source_frames) if source_frames is not None else f"more than {n}"
        notices.insert(0, f"kept frames 0–{n - 1} of {total}")
    if (shown_h, shown_w) != (out_h, out_w):
        notices.append(f"resized {shown_w}×{shown_h} → {out_w}×{out_h}")
    if not orientation.is_identity:
        notices.append(orientation.describe())
    if facts.fps is None:
        notices.append(f"the file states no frame rate; assumed {DEFAULT_FPS:g} fps")
    if not stopped:
        of = f" of the {source_frames} it lists" if source_frames and source_frames > n else ""
        # The index of a cut MP4 still lists every frame, but the demuxer runs out of packets.
        short = facts.frames is not None and packets < facts.frames
        if demux_error is not None or short or (decode_errors and frames_at_last_error == n):
            notices.append(f"the file ends early (truncated?): read {n} frames{of}")
        elif source_frames and n < source_frames and not decode_errors:
            notices.append(f"decoded {n} frames{of}")
        if decode_errors and frames_at_last_error != n:
            notices.append(f"skipped {decode_errors} damaged packet(s) and kept the {n} frames that decoded{of}")

    report.done(f"read {n} frames of {name}")
    return Video(
        frames=buf.result(),
        fps=float(facts.fps or DEFAULT_FPS),
        notices=notices,
        source_size=(shown_h, shown_w),
        source_frames=source_frames,
        codec=facts.codec,
    )


def _refuse_size(name, frames, h, w, frame_bytes, max_bytes) -> None:
    fit = max(1, max_bytes // frame_bytes)
    what = f"{frames} frames" if frames is not None else f"more than {fit} frames"
    raise VideoError(
        f"{name} would need more than {_gib(max_bytes)} of memory as {what} of {w}×{h}; "
        f"read fewer frames (e.g. max_frames={fit}) or smaller ones (max_side)"
    )


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
    if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= 51:
        raise InputError(f"crf must be an integer in [0, 51], got {crf!r}")
    path = os.fspath(path)
    name = _name(path)
    if os.path.splitext(path)[1].lower() not in (".mp4", ".m4v", ".mov"):
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
    rate = Fraction(fps).limit_denominator(1001)

    t_len, h, w = frames.shape[:3]
    pad_h, pad_w = h % 2, w % 2
    report = _Progress(progress, f"writing {name}")
    report(0.0)
    # Hidden name in the same folder: os.replace is then atomic, and a crash leaves no half video under ``path``.
    tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with av.open(tmp, mode="w", format="mp4", container_options={"movflags": "+faststart"}) as out:
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
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        if isinstance(e, (av.error.FFmpegError, OSError)):
            raise VideoError(f"could not write {name} ({type(e).__name__}: {e})") from e
        raise
    report.done(f"wrote {t_len} frames to {name}")
    return path
