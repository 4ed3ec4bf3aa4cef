"""Typed containers for what trackers take and return, with their validation.

Shapes and coordinates follow ``studio.conventions`` (integer pixel = centre).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from studio.conventions import CONVENTION


class InputError(ValueError):
    """A video, query set or track file that does not meet the contract.

    The message is one sentence meant for the user; nothing was changed.
    """


def check_video(video: np.ndarray) -> np.ndarray:
    """Validate a video array.

    Args:
      video: [T, H, W, 3] uint8 RGB.

    Returns:
      The same array (C-contiguous).

    Raises:
      InputError: wrong dtype, rank, channel count or an empty axis.
    """
    if not isinstance(video, np.ndarray):
        raise InputError(f"video must be a numpy array, got {type(video).__name__}")
    if video.ndim != 4 or video.shape[-1] != 3:
        raise InputError(f"video must have shape [T, H, W, 3], got {list(video.shape)}")
    if video.dtype != np.uint8:
        raise InputError(f"video must be uint8 (0..255), got {video.dtype}")
    if min(video.shape[:3]) == 0:
        raise InputError(f"video has an empty axis: shape {list(video.shape)}")
    return np.ascontiguousarray(video)


def check_queries(queries: np.ndarray, video_shape: tuple[int, ...]) -> np.ndarray:
    """Validate queries against a video.

    Args:
      queries: [N, 3] ``(t, x, y)``; ``t`` an integer frame index, ``x, y`` pixels.
      video_shape: ``(T, H, W, ...)`` of the video they refer to.

    Returns:
      float32 [N, 3] copy.

    Raises:
      InputError: wrong shape, non-finite values, a frame index outside the video
        or a point outside the frame. The message names the first bad query.
    """
    q = np.asarray(queries, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != 3:
        raise InputError(f"queries must have shape [N, 3] as (t, x, y), got {list(q.shape)}")
    if q.shape[0] == 0:
        raise InputError("no query points were given: add at least one point or a grid")
    t_len, h, w = video_shape[:3]
    for i, (t, x, y) in enumerate(q):
        if not np.all(np.isfinite([t, x, y])):
            raise InputError(f"query {i} has a non-finite value: (t={t}, x={x}, y={y})")
        if t != round(t) or not 0 <= t < t_len:
            raise InputError(f"query {i} is on frame {t:g}, but the video has frames 0..{t_len - 1}")
        if not (-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5):
            raise InputError(
                f"query {i} at (x={x:g}, y={y:g}) is outside the {w}x{h} frame "
                f"(x must be in [-0.5, {w - 0.5}], y in [-0.5, {h - 0.5}])"
            )
    return q.astype(np.float32)


def percent_text(share: float) -> str:
    """A share in [0, 1] as a whole percentage, except that it reads 0% or 100% only when it is exactly that
    (one hidden frame in 261 is "99.6%", not "100%"): one decimal, clamped to 0.1..99.9, near the ends."""
    p = 100.0 * float(share)
    if 0.0 < share < 1.0 and round(p) in (0, 100):
        return f"{min(max(p, 0.1), 99.9):.1f}%"
    return f"{p:.0f}%"


@dataclass
class TrackResult:
    """Point tracks in input-video pixels.

    Attributes:
      tracks: [T, N, 2] float32 ``(x, y)`` pixels, integer = pixel centre. Points
        that are not visible still carry the tracker's best guess of where they are.
      visible: [T, N] bool, True where the point is visible.
      queries: [N, 3] float32 ``(t, x, y)`` the tracks were asked for.
      confidence: optional [T, N] float32 in [0, 1], the tracker's certainty.
      fps: frames per second of the video, for exports and renders.
      size: ``(H, W)`` of the video the pixels refer to.
      model: registry name of the tracker that made the tracks.
      convention: coordinate convention name (``studio.conventions.CONVENTION``).
      extras: anything else a tracker wants to hand back (not saved).
      names: optional list of N point names (``""`` = unnamed), from labelme / COCO
        files or the Annotate tab; saved with the tracks and drawn as labels. Names
        that are COCO-17 keypoints make a pose (``studio.pose``).
      reliability: optional [T, N] float32 in [0, 1], how far each position can be trusted
        without ground truth (1 = trustworthy; ``studio.reliability``).
      cycle_error: optional [T, N] float32 pixels (>= 0), how far each position lands from its
        query when tracked back to the query frame (0 on the query frame).
    """

    tracks: np.ndarray
    visible: np.ndarray
    queries: np.ndarray
    confidence: np.ndarray | None = None
    fps: float = 0.0
    size: tuple[int, int] = (0, 0)
    model: str = ""
    convention: str = CONVENTION
    extras: dict = field(default_factory=dict)
    reliability: np.ndarray | None = None
    cycle_error: np.ndarray | None = None
    names: list[str] | None = None

    def __post_init__(self) -> None:
        self.tracks = np.asarray(self.tracks, dtype=np.float32)
        self.visible = np.asarray(self.visible).astype(bool)
        self.queries = np.asarray(self.queries, dtype=np.float32)
        if self.confidence is not None:
            self.confidence = np.asarray(self.confidence, dtype=np.float32)
        if self.reliability is not None:
            self.reliability = np.asarray(self.reliability, dtype=np.float32)
        if self.cycle_error is not None:
            self.cycle_error = np.asarray(self.cycle_error, dtype=np.float32)
        self.size = (int(self.size[0]), int(self.size[1]))
        self.fps = float(self.fps)
        if self.names is not None and not isinstance(self.names, (str, bytes)):
            self.names = [str(n) if isinstance(n, str) else n for n in self.names]
        self.validate()

    @property
    def num_frames(self) -> int:
        return int(self.tracks.shape[0])

    @property
    def num_points(self) -> int:
        return int(self.tracks.shape[1])

    def validate(self) -> None:
        """Raise ``InputError`` unless all arrays agree in shape and kind."""
        if self.tracks.ndim != 3 or self.tracks.shape[2] != 2:
            raise InputError(f"tracks must have shape [T, N, 2], got {list(self.tracks.shape)}")
        t_len, n = self.tracks.shape[:2]
        if self.visible.shape != (t_len, n):
            raise InputError(f"visible must have shape [T, N] = {[t_len, n]}, got {list(self.visible.shape)}")
        if self.queries.shape != (n, 3):
            raise InputError(f"queries must have shape [N, 3] = {[n, 3]}, got {list(self.queries.shape)}")
        for name in ("confidence", "reliability", "cycle_error"):
            value = getattr(self, name)
            if value is not None and value.shape != (t_len, n):
                raise InputError(f"{name} must have shape [T, N] = {[t_len, n]}, got {list(value.shape)}")
        if self.reliability is not None and not (
            np.isfinite(self.reliability).all() and (self.reliability >= 0).all() and (self.reliability <= 1).all()
        ):
            raise InputError("reliability must hold numbers in [0, 1]")
        if self.cycle_error is not None and not (np.isfinite(self.cycle_error).all() and (self.cycle_error >= 0).all()):
            raise InputError("cycle_error must hold finite pixel distances >= 0")
        if not np.all(np.isfinite(self.queries)):
            raise InputError("queries contain non-finite values")
        if n and (self.queries[:, 0].min() < 0 or self.queries[:, 0].max() >= t_len):
            raise InputError(f"a query frame lies outside the {t_len} frames of the tracks")
        if not np.isfinite(self.fps) or self.fps < 0:
            raise InputError(f"fps must be a non-negative number, got {self.fps}")
        if min(self.size) < 0:
            raise InputError(f"size must be (H, W) >= 0, got {self.size}")
        if self.names is not None:
            check_names(self.names, n)


MAX_NAME_CHARS = 200
"""Longest point name accepted (names come from uploaded files)."""


def check_names(names, n: int) -> list[str]:
    """Validate point names: a list of ``n`` strings of at most ``MAX_NAME_CHARS`` characters.

    Returns:
      The names as a list of ``str``.

    Raises:
      InputError: not a list of strings, a different count, or a name that is too long.
    """
    if isinstance(names, (str, bytes)) or not hasattr(names, "__len__"):
        raise InputError(f"names must be a list of {n} strings, got {type(names).__name__}")
    out = list(names)
    if len(out) != n:
        raise InputError(f"names must hold one name per point ({n}), got {len(out)}")
    for i, name in enumerate(out):
        if not isinstance(name, str):
            raise InputError(f"name {i} must be a string, got {type(name).__name__}")
        if len(name) > MAX_NAME_CHARS:
            raise InputError(f"name {i} is longer than {MAX_NAME_CHARS} characters")
    return out


def check_stream_queries(queries: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Validate queries for a stream of unknown length (every check of ``check_queries`` but
    the last frame index).

    Args:
      queries: [N, 3] ``(t, x, y)``; ``t`` a non-negative integer frame index, ``x, y`` pixels.
      size: ``(H, W)`` of the stream's frames.

    Returns:
      float32 [N, 3] copy.

    Raises:
      InputError: as ``check_queries``, or a negative / fractional frame index.
    """
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != 3 or len(q) == 0:
        raise InputError(f"queries must have shape [N, 3] as (t, x, y) with N >= 1, got {list(q.shape)}")
    check_queries(np.column_stack([np.zeros(len(q)), q[:, 1:]]), (1, int(size[0]), int(size[1])))
    if not np.isfinite(q[:, 0]).all() or (q[:, 0] < 0).any() or (q[:, 0] != np.round(q[:, 0])).any():
        raise InputError("query frames must be non-negative integers")
    return q.copy()


def check_stream_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frames`` as uint8 [F, H, W, 3] (F >= 1) of the stream's ``size``; ``InputError`` otherwise."""
    frames = np.asarray(frames)
    h, w = int(size[0]), int(size[1])
    if frames.ndim != 4 or frames.shape[1:] != (h, w, 3) or frames.dtype != np.uint8 or not len(frames):
        raise InputError(f"frames must be uint8 [F, {h}, {w}, 3] with F >= 1, got {frames.dtype} {list(frames.shape)}")
    return frames


class TrackBuffer:
    """Per-frame tracks of a stream: ``tracks [T, N, 2]`` float32 and ``visible [T, N]`` bool,
    grown by doubling along time as frames are appended."""

    def __init__(self, n: int):
        self.n = int(n)
        self._tracks = np.zeros((16, self.n, 2), np.float32)
        self._visible = np.zeros((16, self.n), bool)
        self.frames = 0

    def append(self, tracks: np.ndarray, visible: np.ndarray) -> None:
        """Add ``tracks [F, N, 2]`` and ``visible [F, N]`` for the next F frames."""
        f = len(tracks)
        while self.frames + f > len(self._tracks):
            self._tracks = np.concatenate([self._tracks, np.zeros_like(self._tracks)])
            self._visible = np.concatenate([self._visible, np.zeros_like(self._visible)])
        self._tracks[self.frames : self.frames + f] = tracks
        self._visible[self.frames : self.frames + f] = visible
        self.frames += f

    def add_points(self, xy: np.ndarray) -> None:
        """Add M points (after the others): at ``xy`` [M, 2] and not visible on the frames so far."""
        xy = np.asarray(xy, np.float32)
        self._tracks = np.concatenate([self._tracks, np.broadcast_to(xy, (len(self._tracks), *xy.shape))], axis=1)
        self._visible = np.concatenate([self._visible, np.zeros((len(self._visible), len(xy)), bool)], axis=1)
        self.n += len(xy)

    def view(self, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Read-only views of frames ``[start, stop)`` (default: all)."""
        stop = self.frames if stop is None else min(int(stop), self.frames)
        t, v = self._tracks[start:stop], self._visible[start:stop]
        t.flags.writeable = False
        v.flags.writeable = False
        return t, v
