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

The package, by responsibility: ``base`` (``Video``, ``VideoError``), ``probe``
(opening a file, ``probe_video``), ``orientation`` (display-matrix rotation),
``limits`` (what the reader agrees to decode and keep), ``read`` (``read_video``, and ``VideoFrames`` for one frame at a time),
``ahead`` (decoding a few frames ahead of the consumer in a thread), ``backward`` (a file's frames
last-to-first, a chunk at a time, by seeking to key frames) and ``write`` (``write_video``, and ``VideoWriter`` for one frame at a time).
"""

from studio.io.video.base import Video, VideoError
from studio.io.video.probe import probe_video
from studio.io.video.read import VideoFrames, read_video
from studio.io.video.write import MP4_SUFFIXES, VideoWriter, write_video

__all__ = ["MP4_SUFFIXES", "Video", "VideoError", "VideoFrames", "VideoWriter", "probe_video", "read_video", "write_video"]
