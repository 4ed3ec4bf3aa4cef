"""``OnlineTracker``: the one streaming interface over every online model.

A model qualifies when its registry entry says ``online=True`` (kind ``"point"``) and its
adapter has the stream API that ``lk``, the online CoTrackers and Track-On share:

* ``start(queries [N, 3], size (H, W))``;
* ``step(frames [F, H, W, 3] uint8) -> (tracks [T_done, N, 2], visible [T_done, N])`` for every
  frame processed so far (``T_done`` may trail the frames given: CoTracker works in windows);
* ``settled_frames``: how many of those frames will not change any more;
* ``finish() -> (tracks [T, N, 2], visible [T, N])`` for every frame given;
* optionally ``add_queries(queries [M, 3])``: more points mid-stream (``lk``, Track-On).

BootsTAPIR online (``tapir`` branch) joins by registering with ``online=True`` and giving its
adapter these four members; nothing here names models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.registry import create_tracker, list_trackers, tracker_info
from studio.results import InputError, check_stream_frames, check_stream_queries

STREAM_API = ("start", "step", "finish", "settled_frames")


class NotOnline(ValueError):
    """The model needs the whole clip at once (or lacks the stream API)."""


def online_names() -> list[str]:
    """Registry names of the point trackers marked online, in registry order (weight-free first)."""
    return [n for n in list_trackers("point") if tracker_info(n).online]


def open_online(name: str, device: Any = None, checkpoint: Any = None, **options: Any) -> "OnlineTracker":
    """Build registry model ``name`` (weights as ``create_tracker``) as an ``OnlineTracker``.

    Raises:
      KeyError: unknown name.
      NotOnline: an offline model; the message names the online ones and ``--max-frames``.
      WeightsUnavailable / CheckpointMismatch / ValueError: as ``create_tracker``.
    """
    entry = tracker_info(name)
    if entry.kind != "point" or not entry.online:
        raise NotOnline(
            f"Model '{name}' is not online: it needs the whole clip in memory at once. Track the first frames "
            f"only (--max-frames N), or stream with an online model: {', '.join(online_names())}."
        )
    model = create_tracker(name, device=device, checkpoint=checkpoint, **options)
    missing = [m for m in STREAM_API if not hasattr(model, m)]
    if missing:
        raise NotOnline(f"Model '{name}' is marked online but its adapter lacks {', '.join(missing)}")
    return OnlineTracker(name, model)


class OnlineTracker:
    """One causal tracking session at a time over an online model.

    Args:
      name: registry name (for messages and results).
      model: an adapter with the stream API (see the module docstring).
    """

    def __init__(self, name: str, model: Any):
        self.name = name
        self.model = model
        self._queries: np.ndarray | None = None

    # -- session --------------------------------------------------------------------------

    def start(self, queries: np.ndarray, size: tuple[int, int]) -> None:
        """Begin a session on frames of ``size = (H, W)``.

        Args:
          queries: float32 [N, 3] ``(t, x, y)`` in input pixels (integer = pixel centre); a
            point whose frame ``t`` comes later joins when that frame arrives.

        Raises:
          InputError: bad queries (shape, values, outside the frame).
        """
        q = check_stream_queries(queries, size)
        self.model.start(q, (int(size[0]), int(size[1])))
        self._queries = q
        self._size = (int(size[0]), int(size[1]))
        self._tracks = np.zeros((0, len(q), 2), np.float32)
        self._visible = np.zeros((0, len(q)), bool)
        self.frames_fed = 0

    def step(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed the next frames; returns the best estimate for exactly these frames.

        Args:
          frames: uint8 [k, H, W, 3] RGB (k >= 1), the frames after those already fed.

        Returns:
          tracks [k, N, 2] float32 ``(x, y)`` input pixels and visible [k, N] bool. Frames the
          model has not reached yet (a window still filling) hold each point's latest estimate;
          ``settled`` says which frames are final (``final`` reads them).

        Raises:
          InputError: frames of the wrong dtype or size (the session stays usable).
        """
        self._require("step(frames)")
        frames = check_stream_frames(frames, self._size)
        self._tracks, self._visible = self.model.step(frames)
        k = len(frames)
        self.frames_fed += k
        return self._latest(self.frames_fed - k, self.frames_fed)

    def add_queries(self, queries: np.ndarray) -> None:
        """Add points ``[M, 3]`` ``(t, x, y)`` mid-session, after the others; ``t`` >= ``frames_fed``.

        Raises:
          NotOnline: the model cannot take points mid-stream (the online CoTrackers: start again
            with all points).
          InputError: bad queries, or a frame already fed.
        """
        self._require("add_queries(queries)")
        if not hasattr(self.model, "add_queries"):
            raise NotOnline(f"{self.name} cannot add points to a running stream; start a new one with all points")
        q = check_stream_queries(queries, self._size)
        if (q[:, 0] < self.frames_fed).any():
            raise InputError(f"new query frames must be >= {self.frames_fed} (the next frame of the stream)")
        self.model.add_queries(q)
        self._queries = np.concatenate([self._queries, q])
        # Until the next step, the new points are where they were put, not visible.
        t = len(self._tracks)
        self._tracks = np.concatenate([self._tracks, np.broadcast_to(q[:, 1:], (t, len(q), 2))], axis=1)
        self._visible = np.concatenate([self._visible, np.zeros((t, len(q)), bool)], axis=1)

    @property
    def settled(self) -> int:
        """How many frames (from 0) have final results."""
        if self._queries is None:  # finished (all final) or never started
            return len(getattr(self, "_tracks", ()))
        return min(int(self.model.settled_frames), len(self._tracks))

    def final(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Final results of frames ``[start, stop)``, all below ``settled``: tracks [F, N, 2], visible [F, N]."""
        if not 0 <= start <= stop <= self.settled:
            raise IndexError(f"frames [{start}, {stop}) are not settled (settled: {self.settled})")
        return self._tracks[start:stop], self._visible[start:stop]

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """End the session: tracks [T, N, 2] float32 and visible [T, N] bool for every frame fed."""
        self._require("finish()")
        tracks, visible = self.model.finish()
        self._tracks, self._visible = np.asarray(tracks, np.float32), np.asarray(visible, bool)
        self._queries = None
        return self._tracks, self._visible

    # -- helpers --------------------------------------------------------------------------

    def _require(self, what: str) -> None:
        if self._queries is None:
            raise RuntimeError(f"call start(queries, size) before {what}")

    def _latest(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Estimates for frames ``[start, stop)``: the model's where it has them, else held."""
        q = self._queries
        done = len(self._tracks)
        tracks = np.empty((stop - start, len(q), 2), np.float32)
        visible = np.empty((stop - start, len(q)), bool)
        have = min(done, stop) - start
        if have > 0:
            tracks[:have] = self._tracks[start : start + have]
            visible[:have] = self._visible[start : start + have]
        have = max(have, 0)
        if have < stop - start:
            # Not processed yet: points the model has reached hold their last estimate; the others
            # are at their query position, visible only on their own frame.
            hold_t = self._tracks[done - 1] if done else q[:, 1:]
            hold_v = self._visible[done - 1] if done else np.zeros(len(q), bool)
            unknown = q[:, 0] >= done
            for i in range(have, stop - start):
                tracks[i] = np.where(unknown[:, None], q[:, 1:], hold_t)
                visible[i] = np.where(unknown, q[:, 0] == start + i, hold_v)
        return tracks, visible
