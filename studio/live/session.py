"""``LiveSession``: one webcam stream tracked as it arrives (no gradio here; the Live tab drives it).

A session takes frames one at a time (``step``), tracks its points with an online
tracker (``studio.online``), records each camera frame into an MP4 as it comes and
returns the frame with the points drawn. Points are added on the newest frame
(``add_points``, ``add_grid``); ``stop`` writes the tracks (npz / CSV / JSON) and closes
the recording. Nothing grows with the stream but the tracks themselves
(``[T, N, 2]`` float32, a few kB per frame) and the recording file, and both stop at
``max_frames``.

Adding points mid-stream: the first points start the tracker on the frame they were
clicked on. Later ones join the running tracker (``OnlineTracker.add_queries``: ``lk``,
Track-On) from the next frame on, at the clicked position, and the other points carry
on undisturbed; the saved query frame is that next frame. A grid dropped on a running
``lk`` session whose first points were clicks (which ``lk`` tracks with sub-points) restarts it
instead, as below, with every point as one request: ``lk`` then decides sub-points for all of
them as ``track`` would (none for a grid and its few clicks). A model that cannot take points
mid-stream (the online CoTrackers) runs in *segments* instead: the running segment is
finished (its final tracks are kept) and a new one starts on the clicked frame with every
point so far as a query at its latest estimate; a point hidden at that moment restarts
from its predicted position there.

Coordinates are pixels of the *working* frame (the camera frame shrunk so its longer
side is at most ``max_side``), which is also what is recorded, so the saved tracks and
the saved video agree; integer = pixel centre; queries ``(t, x, y)``.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from studio.conventions import CONVENTION
from studio.io.trackfile import save_tracks
from studio.io.video import VideoWriter
from studio.online import NotOnline
from studio.queries import grid_queries
from studio.render.points import draw_points, point_colors
from studio.results import InputError, TrackResult

TRACK_FORMATS = ("npz", "csv", "json")


def _locked(method):
    """Run ``method`` holding the session's lock."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return run


@dataclass
class LiveStats:
    """Running figures of a session, exponentially averaged over the last ~20 frames.

    Attributes:
      frames: frames taken so far.
      fps: frames per second arriving (and processed: one result per frame).
      step_ms: milliseconds of tracking + drawing + recording per frame (the server's share of latency).
      points: points being tracked.
    """

    frames: int = 0
    fps: float = 0.0
    step_ms: float = 0.0
    points: int = 0

    def describe(self) -> str:
        return f"{self.frames} frames · {self.fps:.1f} frames/s · {self.step_ms:.0f} ms per frame · {self.points} points"


@dataclass
class LiveOutcome:
    """What ``stop`` saved: the track files by format, the recorded video, and the tracks."""

    files: dict[str, Path]
    video: Path | None
    result: TrackResult | None
    stats: LiveStats = field(default_factory=LiveStats)


@dataclass
class _Segment:
    """One run of the tracker with a fixed query set: starts at global frame ``first``."""

    first: int
    ids: np.ndarray  # [n] global point ids, in the tracker's query order
    tracks: np.ndarray | None = None  # [F, n, 2] once finished
    visible: np.ndarray | None = None  # [F, n]


class LiveSession:
    """Track a live stream frame by frame with an online tracker, record it, save on stop.

    Args:
      tracker: an ``studio.online.OnlineTracker`` (``open_online(name)``); started and
        restarted by the session.
      out_dir: existing folder for the recording and the track files.
      model: name written into the track files.
      max_side: longer side of the working frame; larger camera frames are shrunk.
      max_frames: frames recorded and tracked at most; later frames are only shown.
      max_points: points at most.
      tail: frames of trail drawn behind each point.
      clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self,
        tracker,
        out_dir: str | Path,
        model: str = "lk",
        max_side: int = 640,
        max_frames: int = 9000,
        max_points: int = 1000,
        tail: int = 8,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.tracker = tracker
        self.out_dir = Path(out_dir)
        self.model = model
        self.max_side = int(max_side)
        self.max_frames = int(max_frames)
        self.max_points = int(max_points)
        self.tail = int(tail)
        self.clock = clock
        self.size: tuple[int, int] | None = None  # (H, W) of the working frames
        self.queries = np.zeros((0, 3), np.float32)  # global (t, x, y) of every point
        self.stats = LiveStats()
        self.stopped = False
        self._pending = np.zeros((0, 2), np.float32)  # points to add on the newest frame
        self._pending_grid = False  # a grid is among them
        self._request = 0  # points given to the tracker's last ``start`` (its sub-point count follows it)
        self._segments: list[_Segment] = []
        self._running: _Segment | None = None
        self._last_frame: np.ndarray | None = None
        self._recent = collections.deque(maxlen=self.tail + 1)  # (tracks [N,2], visible [N]) of the last frames
        self._writer: VideoWriter | None = None
        self._t0: float | None = None
        self._last_arrival: float | None = None
        self._colors = np.zeros((0, 3), np.uint8)
        self._can_join = hasattr(tracker, "add_queries")
        # The stream and the buttons call in from different threads; one call at a time.
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ points

    @property
    def num_points(self) -> int:
        """Points tracked or waiting to start."""
        return len(self.queries) + len(self._pending)

    @_locked
    def add_points(self, xy) -> int:
        """Add points on the newest frame; they start with the next frame.

        Args:
          xy: [M, 2] ``(x, y)`` pixels of the working frame (what ``step`` returned).

        Returns:
          The number of points now.

        Raises:
          InputError: no frame yet, the session stopped, a point outside the frame, or too many points.
        """
        if self.stopped:
            raise InputError("this live session has stopped; start a new one to add points")
        if self.size is None:
            raise InputError("no camera frame yet: start the camera first, then click on the picture")
        xy = np.asarray(xy, np.float32).reshape(-1, 2)
        h, w = self.size
        if not np.isfinite(xy).all() or (xy < -0.5).any() or (xy[:, 0] > w - 0.5).any() or (xy[:, 1] > h - 0.5).any():
            raise InputError(f"points must lie on the {w}×{h} picture")
        if self.num_points + len(xy) > self.max_points:
            raise InputError(f"at most {self.max_points} points in a live session ({self.num_points} already)")
        self._pending = np.concatenate([self._pending, xy])
        return self.num_points

    @_locked
    def add_grid(self, n: int) -> int:
        """Add an ``n``×``n`` grid of points over the newest frame (see ``studio.queries.grid_queries``)."""
        if self.size is None:
            raise InputError("no camera frame yet: start the camera first, then drop a grid")
        n = int(n)
        if not 1 <= n <= 64:
            raise InputError(f"grid size must be 1..64, got {n}")
        q = grid_queries(self.size, n)
        total = self.add_points(q[:, 1:])
        self._pending_grid = True
        return total

    # ------------------------------------------------------------------ frames

    def working_frame(self, frame: np.ndarray) -> np.ndarray:
        """The camera frame as the session tracks it: uint8 [H, W, 3], shrunk to ``max_side`` (even sides)."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8 or min(frame.shape[:2]) < 16:
            raise InputError(f"a camera frame must be uint8 [H, W, 3] of at least 16 px, got {frame.dtype} {list(frame.shape)}")
        frame = frame[..., :3]
        if self.size is None:
            h, w = frame.shape[:2]
            scale = min(1.0, self.max_side / max(h, w))
            # Even sides: the recording is yuv420p, and an odd side would be padded there.
            self.size = (max(16, int(h * scale) // 2 * 2), max(16, int(w * scale) // 2 * 2))
        h, w = self.size
        if frame.shape[:2] != (h, w):
            # A shrunk camera frame, or a camera that changed resolution mid-stream: keep one size.
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(frame)

    @property
    def colors(self) -> np.ndarray:
        """uint8 [N, 3] RGB of every point, as ``step`` draws them."""
        return self._colors

    @_locked
    def step(self, frame: np.ndarray, draw: bool = True) -> np.ndarray:
        """Take the next camera frame: record it, track the points into it, draw them.

        Args:
          frame: uint8 [H, W, 3] RGB as the camera gave it.
          draw: False returns the working frame undrawn (a page that draws the points itself
            from ``latest``).

        Returns:
          uint8 [h, w, 3] RGB working frame with the points (filled disc = visible, ring =
          hidden) and their tails drawn.
        """
        arrival = self.clock()
        frame = self.working_frame(frame)
        if self.stopped or self.stats.frames >= self.max_frames:
            return frame  # shown, not tracked or recorded
        t = self.stats.frames
        if self._t0 is None:
            self._t0 = arrival
            self._writer = VideoWriter(self.out_dir / "live.mp4", 15.0, crf=23, preset="ultrafast", timed=True)
        self._writer.write(frame, arrival - self._t0)
        if len(self._pending) and self._last_frame is None:
            self._restart(t)  # points placed before the first frame (a session started by a click)
            tracks, visible = self.tracker.step(frame[None])
        elif len(self._pending) and self._running is not None and not self._grid_changes_request() and self._join(t):
            tracks, visible = self.tracker.step(frame[None])
        elif len(self._pending):
            # Points were clicked on the previous frame: a new segment starts there.
            self._restart(t - 1)
            tracks, visible = self.tracker.step(np.stack([self._last_frame, frame]))
            tracks, visible = tracks[1:], visible[1:]
        elif self._running is not None:
            tracks, visible = self.tracker.step(frame[None])
        if self._running is not None:
            row_t = np.full((len(self.queries), 2), np.nan, np.float32)
            row_v = np.zeros(len(self.queries), bool)
            row_t[self._running.ids], row_v[self._running.ids] = tracks[0], visible[0]
            self._recent.append((row_t, row_v))
        self._last_frame = frame
        self.stats.frames = t + 1
        out = self._draw(frame) if draw else frame
        self._update_stats(arrival)
        return out

    def _grid_changes_request(self) -> bool:
        """True when a pending grid would be tracked differently joined than as part of one request.

        ``lk`` gives sub-points per request (``LKTracker.sub_point_count``: the clicks of a small
        request get them, a grid does not), and points that join a running stream get as many as
        the first ones did. So a grid dropped on a session started by a click would get the click's
        sub-points; instead the session restarts with every point as one request, which is what
        ``track`` does with the same points.
        """
        count = getattr(getattr(self.tracker, "model", self.tracker), "sub_point_count", None)
        if not self._pending_grid or count is None:
            return False
        return count(self._request) != count(len(self.queries) + len(self._pending))

    def _join(self, t: int) -> bool:
        """Add the pending points to the running tracker from frame ``t`` on (``OnlineTracker.add_queries``:
        the other points carry on undisturbed); False when the model cannot (the CoTrackers), so the
        caller restarts instead."""
        if not self._can_join:
            return False
        new = np.column_stack([np.full(len(self._pending), t, np.float32), self._pending]).astype(np.float32)
        try:
            self.tracker.add_queries(new)
        except NotOnline:
            self._can_join = False
            return False
        self.queries = np.concatenate([self.queries, new])
        self._pending, self._pending_grid = np.zeros((0, 2), np.float32), False
        self._running.ids = np.arange(len(self.queries))
        self._grow(len(new))
        return True

    def _grow(self, added: int) -> None:
        """Colours for every point, and room for ``added`` new points in the tails drawn so far."""
        self._colors = point_colors(len(self.queries))
        self._recent = collections.deque(
            ((np.concatenate([r[0], np.full((added, 2), np.nan, np.float32)]), np.concatenate([r[1], np.zeros(added, bool)]))
             for r in self._recent),
            maxlen=self.tail + 1,
        )
        self.stats.points = len(self.queries)

    def _restart(self, t: int) -> None:
        """Start a segment at frame ``t`` (the newest one taken) with every point: old ones at their
        estimate on it, new ones where they were clicked on it."""
        old = len(self.queries)
        if self._running is not None:
            self._finish_segment()
        if old and self._recent:
            current = np.where(np.isfinite(self._recent[-1][0]), self._recent[-1][0], self.queries[:, 1:])
        else:
            current = self.queries[:, 1:]
        new = np.column_stack([np.full(len(self._pending), t, np.float32), self._pending])
        self.queries = np.concatenate([self.queries, new]).astype(np.float32)
        self._pending, self._pending_grid = np.zeros((0, 2), np.float32), False
        self._request = len(self.queries)
        starts = np.concatenate([current, new[:, 1:]])
        # Clamp estimates that drifted off the frame: the tracker wants query points on it.
        h, w = self.size
        starts = np.column_stack([np.clip(starts[:, 0], 0, w - 1), np.clip(starts[:, 1], 0, h - 1)])
        self.tracker.start(np.column_stack([np.zeros(len(starts)), starts]).astype(np.float32), self.size)
        self._running = _Segment(first=t, ids=np.arange(len(self.queries)))
        self._grow(len(new))

    def _finish_segment(self) -> None:
        seg, self._running = self._running, None
        seg.tracks, seg.visible = self.tracker.finish()
        self._segments.append(seg)

    def _draw(self, frame: np.ndarray) -> np.ndarray:
        if not self._recent or not len(self.queries):
            return frame.copy()
        tracks = np.stack([r[0] for r in self._recent])  # [K+1, N, 2], this frame last
        visible = np.stack([r[1] for r in self._recent])
        k = len(tracks) - 1
        # Only this frame is drawn; the K before it give the tails.
        return draw_points(frame[None], tracks, visible, tail=k, colors=self._colors, first=k)[0]

    def _update_stats(self, arrival: float) -> None:
        spent = (self.clock() - arrival) * 1000.0
        s = self.stats
        a = 0.1 if s.frames > 10 else 1.0 / s.frames  # plain mean over the first frames, then a running one
        s.step_ms += a * (spent - s.step_ms)
        if self._last_arrival is not None:
            gap = arrival - self._last_arrival
            if gap > 0:
                s.fps += (0.1 if s.frames > 10 else 1.0 / (s.frames - 1)) * (1.0 / gap - s.fps)
        self._last_arrival = arrival

    # ------------------------------------------------------------------ results

    @_locked
    def latest(self) -> tuple[np.ndarray, np.ndarray]:
        """Every point on the newest frame: ``tracks [N, 2]`` float32 ``(x, y)`` (NaN for a point that
        starts with the next frame) and ``visible [N]`` bool."""
        n = len(self.queries)
        if not self._recent:
            return np.full((n, 2), np.nan, np.float32), np.zeros(n, bool)
        tracks, visible = self._recent[-1]
        return tracks.copy(), visible.copy()

    def _result(self) -> TrackResult | None:
        """Every recorded frame's tracks as a ``TrackResult`` (None without points); ends the running segment.

        Before its query frame a point sits at its query position, not visible (a live
        tracker cannot look back).
        """
        if self._running is not None:
            self._finish_segment()
        n, t_len = len(self.queries), self.stats.frames
        if n == 0 or t_len == 0:
            return None
        tracks = np.broadcast_to(self.queries[None, :, 1:], (t_len, n, 2)).copy()
        visible = np.zeros((t_len, n), bool)
        for seg in self._segments:
            rows = slice(seg.first, seg.first + len(seg.tracks))
            tracks[rows, seg.ids], visible[rows, seg.ids] = seg.tracks, seg.visible
        # A segment's first frame is the last of the one before: there the older points keep what that
        # segment said (the new one only restated their positions as queries, all "visible").
        for before, seg in zip(self._segments, self._segments[1:]):
            r = seg.first - before.first
            if 0 <= r < len(before.tracks):
                tracks[seg.first, before.ids] = before.tracks[r]
                visible[seg.first, before.ids] = before.visible[r]
        span = (self._last_arrival or 0.0) - (self._t0 or 0.0)
        return TrackResult(
            tracks=tracks.astype(np.float32),
            visible=visible,
            queries=self.queries.copy(),
            fps=float((t_len - 1) / span) if t_len > 1 and span > 0 else 0.0,
            size=self.size,
            model=self.model,
            convention=CONVENTION,
        )

    @_locked
    def stop(self, formats=TRACK_FORMATS) -> LiveOutcome:
        """End the session: close the recording, write the tracks in ``formats``; idempotent.

        Returns:
          ``LiveOutcome`` with the paths (no track files when no point was added; no video
          when no frame came).
        """
        if self.stopped:
            return self._outcome
        self.stopped = True
        video = None
        if self._writer is not None:
            self._writer.close()
            video = Path(self._writer.path)
            self._writer = None
        result = self._result()
        files = {}
        if result is not None:
            for fmt in formats:
                files[fmt] = save_tracks(result, self.out_dir / f"live_{self.model}.{fmt}")
        self._outcome = LiveOutcome(files=files, video=video, result=result, stats=self.stats)
        return self._outcome

    @_locked
    def close(self) -> None:
        """Discard everything unsaved (the browser went away without Stop)."""
        self.stopped = True
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
