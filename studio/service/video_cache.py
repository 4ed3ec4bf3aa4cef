"""Videos decoded once per file and kept, so that clicking points (which redraws a frame) never re-decodes.

A "file" may also be a source string (``studio.io.sources``): one camera of an HDF5
log or one video of a dataset file; it is known by the file it reads.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from studio.io.sources import read_source, source_file
from studio.io.video import Video, VideoError
from studio.progress import ProgressFn
from studio.results import InputError

TEXT_ART_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
"""FFmpeg decoders that turn text files into pictures; their output is refused as a video."""


class VideoCache:
    """At most ``size`` decoded videos, least recently used evicted first; thread-safe.

    A file is known by its absolute path, modification time and size, and by the
    limits it was read with, so an edited file or other limits decode again.
    """

    def __init__(self, size: int):
        self.size = size
        self._videos: OrderedDict[tuple, Video] = OrderedDict()
        self._lock = threading.Lock()
        self.decodes = 0  # files decoded, for tests and logs

    def load(
        self,
        path: str | os.PathLike,
        max_frames: int,
        max_side: int,
        progress: ProgressFn | None = None,
    ) -> Video:
        """Decode ``path`` (first ``max_frames`` frames, longer side at most ``max_side``) once;
        later calls return the cached ``Video``.

        Raises:
          InputError: no path given.
          VideoError: the file is missing or not a readable video.
        """
        if path is None or (isinstance(path, str) and not path.strip()):
            raise InputError("no video: upload one, pick an example or record with the webcam")
        path = os.path.abspath(os.fspath(path))
        try:
            st = os.stat(source_file(path))
            key = (path, st.st_mtime_ns, st.st_size, max_frames, max_side)
        except OSError:
            key = None  # read_video raises the right sentence for a missing file
        if key is not None:
            with self._lock:
                if key in self._videos:
                    self._videos.move_to_end(key)
                    return self._videos[key]
        video = read_source(path, max_frames=max_frames, max_side=max_side, progress=progress)
        if video.codec in TEXT_ART_CODECS:
            # FFmpeg's "tty" demuxer renders any text file as ANSI art; nobody means that as a video.
            raise VideoError(f"{os.path.basename(path)} is a text file, not a video file FFmpeg can read")
        with self._lock:
            self.decodes += 1
            if key is not None:
                self._videos[key] = video
                while len(self._videos) > self.size:
                    self._videos.popitem(last=False)
        return video
