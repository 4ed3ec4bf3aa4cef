"""The two interfaces every model in the registry implements.

``PointTracker.track`` owns the I/O contract (see ``studio.conventions``): it
validates the video and queries once, calls the model-specific ``_track``, and
checks what comes back, so each adapter only converts to and from its model.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from studio.progress import ProgressFn, no_progress
from studio.results import InputError, TrackResult, check_queries, check_video


class PointTracker:
    """Base class of point trackers.

    Subclasses set ``name`` and implement ``_track``; a model that follows points only forwards
    in time from their query frame (an online one) sets ``tracks_backward = False``.
    """

    name: str = ""
    tracks_backward: bool = True
    """False: positions before a query's frame are not tracked (the reliability check then
    tracks back on the time-reversed video, ``studio.reliability.returns``)."""

    def track(self, video: np.ndarray, queries: np.ndarray, progress: ProgressFn | None = None) -> TrackResult:
        """Track query points through a video.

        Args:
          video: [T, H, W, 3] uint8 RGB.
          queries: [N, 3] ``(t, x, y)``, input-video pixels, integer = pixel centre.
          progress: optional ``ProgressFn``.

        Returns:
          ``TrackResult`` with tracks [T, N, 2] ``(x, y)`` and visible [T, N] in the
          input video's pixels; every point is visible at its own query frame.
        """
        video = check_video(video)
        queries = check_queries(queries, video.shape)
        tracks, visible, confidence = self._track(video, queries, progress or no_progress)
        t_len, n = video.shape[0], queries.shape[0]
        if tracks.shape != (t_len, n, 2) or visible.shape != (t_len, n):
            raise RuntimeError(
                f"{self.name} returned tracks {list(tracks.shape)} / visible {list(visible.shape)}, "
                f"expected {[t_len, n, 2]} / {[t_len, n]}"
            )
        # A query point is where the user put it, on the frame they put it on.
        rows = np.arange(n)
        frames = queries[:, 0].astype(int)
        tracks = tracks.astype(np.float32, copy=True)
        visible = visible.astype(bool, copy=True)
        tracks[frames, rows] = queries[:, 1:]
        visible[frames, rows] = True
        return TrackResult(
            tracks=tracks,
            visible=visible,
            queries=queries,
            confidence=confidence,
            size=video.shape[1:3],
            model=self.name,
        )

    def _track(
        self, video: np.ndarray, queries: np.ndarray, progress: ProgressFn
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Model-specific tracking on validated inputs: returns (tracks, visible, confidence|None)."""
        raise NotImplementedError


class FlowModel(Protocol):
    """Dense optical flow between two frames."""

    name: str

    def flow(self, frame0: np.ndarray, frame1: np.ndarray, init: np.ndarray | None = None) -> np.ndarray:
        """Motion of every pixel of ``frame0`` into ``frame1``.

        Args:
          frame0, frame1: [H, W, 3] uint8 RGB.
          init: optional [H, W, 2] float32 initial flow.

        Returns:
          [H, W, 2] float32 ``(dx, dy)`` pixels: pixel ``(x, y)`` of frame0 is at
          ``(x + dx, y + dy)`` in frame1.
        """
        ...


def check_frame_pair(frame0: np.ndarray, frame1: np.ndarray) -> None:
    """Raise ``InputError`` unless both are uint8 [H, W, 3] of the same size."""
    for name, f in (("frame0", frame0), ("frame1", frame1)):
        if not isinstance(f, np.ndarray) or f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
            raise InputError(f"{name} must be a uint8 [H, W, 3] array")
    if frame0.shape != frame1.shape:
        raise InputError(f"frames differ in size: {frame0.shape[:2]} vs {frame1.shape[:2]}")
