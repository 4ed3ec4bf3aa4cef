"""``frames_backward``: a video's frames from a given one down to the first, in the memory of a few chunks.

Video codecs only decode forwards, from a key frame. So the frames are fetched in chunks of
``chunk`` frames from the end backwards: for each chunk, seek to the last key frame at or before
its first frame, decode forwards to its last frame, and hand the chunk out reversed. A frame is
recognised by its presentation timestamp (pts), which the forward pass (``VideoFrames``)
recorded for every frame it kept, together with the key frames and the conversion (rotation,
resizing) it applied, so each frame comes back exactly as the forward pass gave it.

Each chunk costs a decode from its key frame: about ``T / chunk`` seeks and at most one key-frame
interval decoded again per chunk. A file whose frames state no usable pts (or where a seek does
not land before the chunk) is decoded again from its start for each chunk: slower, but still
exact and still bounded in memory.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import numpy as np

from studio.io.video.base import AV_ERRORS, VideoError
from studio.io.video.read import VideoFrames


def frames_backward(source: VideoFrames, stop: int, chunk: int = 32) -> Iterator[np.ndarray]:
    """Yield frames ``stop - 1, stop - 2, ..., 0`` of ``source``, as its iteration gave them.

    Args:
      source: a ``VideoFrames`` iterated (at least) up to frame ``stop - 1``; its file is opened again.
      stop: one past the last frame wanted (``1 <= stop <= source.count``).
      chunk: frames decoded and held at a time (>= 1).

    Yields:
      uint8 [H, W, 3] RGB frames of ``source.size``, upright, last first.

    Raises:
      VideoError: the file cannot be opened again, or a frame the forward pass read does not decode again.
    """
    if not 1 <= stop <= source.count or source.converter is None:
        raise ValueError(f"frames [0, {stop}) were not all read forwards first (read: {source.count})")
    chunk = max(int(chunk), 1)
    reader = _ChunkReader(source)
    try:
        hi = stop
        while hi > 0:
            lo = max(hi - chunk, 0)
            yield from reversed(reader.read(lo, hi))
            hi = lo
    finally:
        reader.close()


class _ChunkReader:
    """Decodes frames ``[lo, hi)`` of ``source``'s file on demand (see the module docstring)."""

    def __init__(self, source: VideoFrames):
        self.source = source
        self.pts = list(source.frame_pts[: source.count])
        self.keys = sorted(source.key_frames)
        # pts -> frame index, when every frame has its own pts; otherwise frames are counted from the start.
        usable = len(set(self.pts)) == len(self.pts) and min(self.pts, default=0) >= 0
        self.index_of = {p: i for i, p in enumerate(self.pts)} if usable else None
        self.container = self.stream = None

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def read(self, lo: int, hi: int) -> list[np.ndarray]:
        if self.index_of is not None:
            k = bisect.bisect_right(self.keys, lo) - 1
            if k >= 0:
                got = self._decode(lo, hi, seek_to=self.pts[self.keys[k]])
                if got is not None:
                    return got
        got = self._decode(lo, hi, seek_to=None)
        if got is None:
            raise VideoError(f"{self.source.name}: frames {lo}–{hi - 1} did not decode again (damaged file?)")
        return got

    def _decode(self, lo: int, hi: int, seek_to: int | None) -> list[np.ndarray] | None:
        """Frames ``[lo, hi)``, decoding from the key frame at pts ``seek_to`` (None: the file's start);
        None when the decode does not start at or before ``lo`` or misses a frame."""
        if seek_to is None or self.container is None:
            self.close()  # a fresh container starts at the file's start without relying on a seek
            try:
                self.container, self.stream = self.source.reopen()
            except AV_ERRORS as e:
                raise VideoError(f"{self.source.name} could not be opened again ({type(e).__name__}: {e})") from e
            self.stream.codec_context.thread_type = "AUTO"
        if seek_to is not None:
            try:
                self.container.seek(seek_to, stream=self.stream, backward=True, any_frame=False)
            except AV_ERRORS:
                return None
        convert = self.source.converter
        got: dict[int, np.ndarray] = {}
        counted = -1
        first = True
        for frame in self._frames():
            counted += 1
            i = counted if self.index_of is None else self.index_of.get(-1 if frame.pts is None else int(frame.pts))
            if i is None:
                continue  # a frame the forward pass did not keep (e.g. one it could not decode)
            if first and i > lo:
                return None  # the seek landed after the chunk's start
            first = False
            if lo <= i < hi:
                got[i] = convert(frame)
            if i >= hi - 1:
                break
        if len(got) < hi - lo:
            return None
        return [got[i] for i in range(lo, hi)]

    def _frames(self):
        """Decoded frames from the container's position, skipping damaged packets as the forward pass does."""
        for packet in self.container.demux(self.stream):
            try:
                decoded = self.stream.decode(packet)
            except AV_ERRORS:
                continue
            yield from decoded
