"""``read_video``: decode any video FFmpeg reads into upright RGB frames, within limits, saying what changed."""

from __future__ import annotations

from array import array

import numpy as np

from studio.io.video.ahead import read_ahead
from studio.io.video.base import AV_ERRORS, DEFAULT_FPS, ThrottledProgress, Video, VideoError, base_name
from studio.io.video.limits import DEFAULT_MAX_BYTES, check_side, refuse_size, target_size
from studio.io.video.orientation import Orientation, find_orientation
from studio.io.video.probe import check_path, open_video_file, stream_facts, video_stream
from studio.progress import ProgressFn
from studio.results import InputError


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
    _check_limits(max_frames=(max_frames, 1), max_side=(max_side, 2), max_bytes=(max_bytes, 1))
    path = check_path(path)
    name = base_name(path)
    try:
        return _read(path, name, max_frames, max_side, progress, int(max_bytes or DEFAULT_MAX_BYTES))
    except VideoError:
        raise
    except AV_ERRORS as e:
        # A safety net: the decode loop handles the expected failures itself.
        raise VideoError(f"{name} could not be read ({type(e).__name__}: {e})") from e


def _check_limits(**limits: tuple) -> None:
    """``name=(value, lowest)``: each value is None or an integer >= lowest; ``InputError`` otherwise."""
    for arg, (value, low) in limits.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low):
            raise InputError(f"{arg} must be an integer >= {low} or None, got {value!r}")


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




class VideoFrames:
    """The frames of a video file, decoded one at a time: iterate to get them.

    Nothing is kept: a video of any length takes the memory of a few frames. ``fps``,
    ``codec`` and ``source_frames`` are known on creation, ``source_size`` / ``size`` after
    the first frame, ``notices`` (what was cut, resized, rotated or found damaged) once the
    iteration has ended. ``read_video`` is this plus a frame store.

    Args:
      path: the video file (checked on creation: missing file, not a video -> ``VideoError``).
      max_frames: stop after frames ``0..max_frames-1``; None reads all.
      max_side: shrink so the longer (rotated) side is at most this (sizes even, aspect kept).
      progress: optional ``ProgressFn``, called at most about 50 times.

    Iterating yields uint8 [H, W, 3] RGB frames, upright, of ``size``; it raises ``VideoError``
    when the file holds no decodable frame or FFmpeg fails.

    ``ahead``: decode in a background thread up to this many frames ahead of the consumer
    (``read_ahead``), so that decoding overlaps the consumer's work; 0 decodes in the consumer's
    thread. ``count`` then counts the frames decoded, which may run ``ahead`` frames past those
    taken.

    After iterating, ``frame_pts`` (each kept frame's pts, -1 where none), ``key_frames`` (indices
    of key frames) and ``converter`` (the rotation and resizing applied) let
    ``studio.io.video.backward.frames_backward`` fetch the same frames again, last first.
    """

    def __init__(self, path, max_frames: int | None = None, max_side: int | None = None,
                 progress: ProgressFn | None = None, *, ahead: int = 0):
        _check_limits(max_frames=(max_frames, 1), max_side=(max_side, 2))
        if isinstance(ahead, bool) or not isinstance(ahead, (int, np.integer)) or ahead < 0:
            raise InputError(f"ahead must be an integer >= 0, got {ahead!r}")
        self.path = check_path(path)
        self.name = base_name(self.path)
        self.max_frames, self.max_side, self.progress = max_frames, max_side, progress
        self.ahead = int(ahead)
        # The file stays open for the iteration (which closes it; so does ``close``).
        self._container = open_video_file(self.path)
        try:
            self._stream = video_stream(self._container, self.name)
            self._facts = facts = stream_facts(self._container, self._stream)
            check_side(facts.width, facts.height, self.name)
        except BaseException as e:
            self.close()
            if isinstance(e, AV_ERRORS) and not isinstance(e, VideoError):
                raise VideoError(f"{self.name} could not be read ({type(e).__name__}: {e})") from e
            raise
        self.fps = float(facts.fps or DEFAULT_FPS)
        self.codec = facts.codec
        self.source_frames = facts.frames
        self.expected = facts.frames if max_frames is None or facts.frames is None else min(facts.frames, max_frames)
        self.source_size = (0, 0)
        self.size = (0, 0)
        self.notices: list[str] = []
        self.count = 0  # frames yielded so far
        # Filled while iterating: each kept frame's pts (-1: none stated), the indices of key frames,
        # and the conversion (rotation, size) the frames went through; ``frames_backward`` uses them.
        self.frame_pts: array = array("q")
        self.key_frames: array = array("q")
        self.converter: FrameConverter | None = None

    def close(self) -> None:
        """Close the file (iterating to the end does this too)."""
        self._container.close()

    def __iter__(self):
        if self.count:
            raise RuntimeError("VideoFrames can be iterated once")
        if self.ahead:
            yield from read_ahead(self._frames(), self.ahead, f"decoding {self.name}")
        else:
            yield from self._frames()

    def reopen(self):
        """A new open container and its video stream, for decoding the file again (``frames_backward``)."""
        container = open_video_file(self.path)
        try:
            return container, video_stream(container, self.name)
        except BaseException:
            container.close()
            raise

    def _frames(self):
        try:
            with self._container:
                yield from _decode(self, self._container, self._stream, self._facts)
        except VideoError:
            raise
        except AV_ERRORS as e:
            # A safety net: the decode loop handles the expected failures itself.
            raise VideoError(f"{self.name} could not be read ({type(e).__name__}: {e})") from e


def _read(path, name, max_frames, max_side, progress_fn, max_bytes) -> Video:
    source = VideoFrames(path, max_frames, max_side, progress_fn)
    buf: _FrameBuffer | None = None
    frame_bytes = 0
    for image in source:
        if buf is None:
            out_h, out_w = image.shape[:2]
            frame_bytes = image.nbytes
            if (source.expected or 1) * frame_bytes > max_bytes:
                refuse_size(name, source.expected, out_h, out_w, frame_bytes, max_bytes)
            most = max_bytes // frame_bytes
            buf = _FrameBuffer(source.expected or min(64, most), out_h, out_w, most)
        elif (buf.n + 1) * frame_bytes > max_bytes:
            refuse_size(name, None, *image.shape[:2], frame_bytes, max_bytes)
        buf.append(image)
    return Video(
        frames=buf.result(),
        fps=source.fps,
        notices=source.notices,
        source_size=source.source_size,
        source_frames=source.source_frames,
        codec=source.codec,
    )


class FrameConverter:
    """Decoded PyAV frames -> upright uint8 [H, W, 3] RGB of one size, fixed by the first frame.

    ``setup(first_frame)`` finds the rotation (display matrix) and the output size (``max_side``);
    every later frame, even one of another resolution, lands on the same grid.
    """

    def __init__(self, stream, name: str, max_side: int | None):
        self.stream, self.name, self.max_side = stream, name, max_side
        self.ready = False
        self.orientation = Orientation()
        self.shown = self.out = (0, 0)

    def setup(self, frame) -> str | None:
        """Fix rotation and sizes from ``frame``; returns a warning about the rotation, if any."""
        check_side(frame.width, frame.height, self.name)
        self.orientation, warn = find_orientation(frame, self.stream)
        h, w = frame.height, frame.width
        self.shown = (w, h) if self.orientation.transposed else (h, w)
        self.out = target_size(*self.shown, self.max_side)
        out_h, out_w = self.out
        self._coded = (out_h, out_w) if self.orientation.transposed else (out_w, out_h)
        self._interpolation = "AREA" if self.out != self.shown else None
        self.ready = True
        return warn

    def __call__(self, frame) -> np.ndarray:
        # Always pass the size: a stream that changes resolution midway still lands on the first frame's grid.
        w, h = self._coded
        rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation=self._interpolation)
        return self.orientation.apply(rgb.to_ndarray())


def _decode(src: VideoFrames, container, stream, facts):
    """Yield the frames of ``src``'s open file; fill its sizes, ``source_frames`` and notices."""
    name, max_frames, max_side = src.name, src.max_frames, src.max_side
    notices = src.notices
    report = ThrottledProgress(src.progress, f"reading {name}")
    report(0.0)
    # Frame threads make long HD files several times faster to decode.
    stream.codec_context.thread_type = "AUTO"
    limit = max_frames
    expected = src.expected
    convert_frame = src.converter = FrameConverter(stream, name, max_side)
    frame_pts, key_frames = src.frame_pts, src.key_frames

    n = 0  # frames kept
    packets = 0  # non-empty packets of the stream seen
    decode_errors = 0
    frames_at_last_error = -1
    demux_error: Exception | None = None
    counting_done = True  # whether ``packets`` is the stream's full count
    stopped = False

    def convert(frame) -> np.ndarray:
        nonlocal n
        if not convert_frame.ready:
            warn = convert_frame.setup(frame)
            if warn:
                notices.append(warn)
            src.source_size, src.size = convert_frame.shown, convert_frame.out
        image = convert_frame(frame)
        # Where each kept frame sits in the file, so that it can be found again by seeking (``backward``).
        frame_pts.append(-1 if frame.pts is None else int(frame.pts))
        if frame.key_frame:
            key_frames.append(n)
        n += 1
        src.count = n
        if expected:
            report(n / expected)
        elif facts.duration_s and frame.time is not None:
            report(frame.time / facts.duration_s)
        return image

    demux = container.demux(stream)
    while True:
        try:
            packet = next(demux)
        except StopIteration:
            break
        except AV_ERRORS as e:
            demux_error = e
            counting_done = False
            break
        if packet.size:
            packets += 1
        if stopped:
            continue  # only counting packets, for the "of N" in the notice
        try:
            decoded = stream.decode(packet)
        except AV_ERRORS:
            # Skip the damaged packet like FFmpeg does; later packets may decode.
            decode_errors += 1
            frames_at_last_error = n
            continue
        for frame in decoded:
            yield convert(frame)
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
        except AV_ERRORS:
            rest = []
        for frame in rest:
            yield convert(frame)
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
    src.source_frames = source_frames

    if stopped and (source_frames is None or source_frames > n):
        total = str(source_frames) if source_frames is not None else f"more than {n}"
        notices.insert(0, f"kept frames 0–{n - 1} of {total}")
    (shown_h, shown_w), (out_h, out_w) = convert_frame.shown, convert_frame.out
    if (shown_h, shown_w) != (out_h, out_w):
        notices.append(f"resized {shown_w}×{shown_h} → {out_w}×{out_h}")
    if not convert_frame.orientation.is_identity:
        notices.append(convert_frame.orientation.describe())
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
