"""Opening a video file and what it says about itself, without decoding it (``probe_video``).

Every failure to open becomes a ``VideoError`` that names the file and says what
is wrong with it: missing, empty, a folder, a still image, a text file, audio
only, damaged or truncated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av
import av.error

from studio.io.video.base import AV_ERRORS, DEFAULT_FPS, VideoError, base_name
from studio.io.video.limits import check_side
from studio.io.video.orientation import find_orientation

# Demuxers of bare codec streams: they have no timestamps, and the frame rate they
# report is their own ``framerate`` option (25 by default), not the file's.
_RAW_STREAM_FORMATS = frozenset(
    {"h261", "h263", "h264", "hevc", "vvc", "m4v", "mjpeg", "mpegvideo", "cavsvideo", "vc1", "obu", "rawvideo"}
)

# FFmpeg's demuxers for single still images; they open a renamed PNG or JPEG as a
# one-frame "video", which is never what the user meant to upload.
_STILL_IMAGE_FORMATS = ("image2", "image2pipe")


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


def check_path(path) -> str:
    """``path`` as a string once it names a non-empty file; else a ``VideoError`` saying what it is."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise VideoError(f"a video path must be a string or a path, got {type(path).__name__}") from None
    name = base_name(path)
    if not os.path.exists(path):
        raise VideoError(f"{name} does not exist")
    if os.path.isdir(path):
        raise VideoError(f"{name} is a folder, not a video file")
    if os.path.getsize(path) == 0:
        raise VideoError(f"{name} is empty (0 bytes)")
    return path


def open_video_file(path: str):
    """Open ``path`` for reading, turning every failure into a ``VideoError``."""
    name = base_name(path)
    try:
        # metadata_errors: a tag in a foreign encoding must not stop the read.
        return av.open(path, mode="r", metadata_errors="replace")
    except PermissionError as e:
        raise VideoError(f"{name} cannot be read: permission denied") from e
    except AV_ERRORS as e:
        family = _sniff_container(path)
        if family is not None or isinstance(e, (av.error.EOFError, EOFError)):
            kind = f"an {family}" if family and family[0] in "AEIOU" else f"a {family or 'video'}"
            raise VideoError(
                f"{name} looks like {kind} file but is damaged or truncated (was the upload or copy cut short?)"
            ) from e
        raise VideoError(f"{name} is not a video file FFmpeg can read (unknown or damaged format)") from e


def video_stream(container, name: str):
    """The first real video stream of an open container (not cover art); a ``VideoError`` if there is none."""
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


@dataclass
class StreamFacts:
    """What a stream's header states, before any frame is decoded."""

    fps: float | None  # None: the file states no usable rate
    frames: int | None  # from the header; None when it does not say
    codec: str
    duration_s: float | None
    width: int
    height: int


def stream_facts(container, stream) -> StreamFacts:
    """Frame rate (only plausible ones), frame count, codec, duration and stored size of ``stream``."""
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
    return StreamFacts(fps, frames, codec, duration_s, int(stream.width or 0), int(stream.height or 0))


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
    path = check_path(path)
    name = base_name(path)
    first = None
    packets: int | None = 0
    failed = False
    try:
        with open_video_file(path) as container:
            stream = video_stream(container, name)
            facts = stream_facts(container, stream)
            check_side(facts.width, facts.height, name)
            for packet in container.demux(stream):
                if packet.size:
                    packets += 1
                if first is None:
                    try:
                        decoded = stream.decode(packet)
                    except AV_ERRORS:
                        failed = True
                        continue
                    if decoded:
                        first = decoded[0]
                        check_side(first.width, first.height, name)
                        orientation, _ = find_orientation(first, stream)
                if first is not None and facts.frames is not None:
                    break
    except VideoError:
        raise
    except AV_ERRORS as e:
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
