"""Weight-free point tracker: pyramidal Lucas-Kanade with consistency checks.

Each query is followed forwards from its own frame to the end and backwards to
the start. A step from frame ``t`` to ``t+1`` is trusted when:

* LK converges both ways and the forward-backward round trip returns within
  ``fb_threshold`` pixels,
* the patch still looks like it did (LK's mean absolute patch difference is under
  ``max_patch_error``),
* the point moved like its neighbours (within ``motion_tolerance``) and is inside
  the frame.

A point that fails is marked hidden; while hidden it is carried along by a local
affine motion fitted to its nearest trusted neighbours, and every frame LK tries
to find its *query-frame* appearance again near that prediction. The same
query-frame match also pulls visible points back onto their original
appearance, which removes the drift of chained frame-to-frame steps.
"""

from __future__ import annotations

import cv2
import numpy as np

from studio.conventions import inside_frame
from studio.progress import ProgressFn
from studio.results import InputError, TrackBuffer, check_stream_frames, check_stream_queries
from studio.trackers.base import PointTracker

_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)


def to_gray(video: np.ndarray) -> np.ndarray:
    """[T, H, W, 3] uint8 RGB -> [T, H, W] uint8 luma."""
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video])


class LKTracker(PointTracker):
    """Pyramidal Lucas-Kanade point tracker (OpenCV), forwards and backwards from each query.

    Args:
      window: LK window side in pixels.
      levels: pyramid levels above the base image.
      fb_threshold: largest forward-backward round-trip error in pixels for a visible step.
      max_patch_error: largest mean absolute grey-level difference of the LK patch.
      motion_tolerance: a step is an outlier when it differs from its neighbours'
        motion by more than ``max(motion_tolerance, 0.5 * |neighbour motion|)`` pixels.
      neighbours: how many trusted neighbours predict a hidden point's motion.
      anchor: re-match every point against its query-frame appearance (drift removal
        and re-detection after occlusion).
    """

    name = "lk"

    def __init__(
        self,
        window: int = 15,
        levels: int = 3,
        fb_threshold: float = 1.5,
        max_patch_error: float = 12.0,
        motion_tolerance: float = 3.0,
        neighbours: int = 24,
        anchor: bool = True,
        anchor_visible: bool = False,
        min_eig: float = 1e-4,
    ):
        self.anchor_visible = bool(anchor_visible)
        self.min_eig = float(min_eig)
        self.window = int(window)
        self.levels = int(levels)
        self.fb_threshold = float(fb_threshold)
        self.max_patch_error = float(max_patch_error)
        self.motion_tolerance = float(motion_tolerance)
        self.neighbours = int(neighbours)
        self.anchor = bool(anchor)

    def _track(self, video: np.ndarray, queries: np.ndarray, progress: ProgressFn):
        t_len = video.shape[0]
        gray = to_gray(video)
        starts = queries[:, 0].astype(int)
        xy = queries[:, 1:].astype(np.float32)
        tracks = np.zeros((t_len, len(queries), 2), np.float32)
        visible = np.zeros((t_len, len(queries)), bool)

        fwd = starts < t_len - 1
        bwd = starts > 0
        steps = max(1, int(np.sum(t_len - 1 - starts.min()) if fwd.any() else 0) + int(starts.max() if bwd.any() else 0))
        done = [0]

        def tick(desc: str) -> None:
            done[0] += 1
            progress(min(done[0] / steps, 1.0), desc)

        # Forwards from each query frame; frames before it are filled by the backward pass.
        f_tracks, f_vis = self._propagate(gray, starts, xy, lambda: tick("tracking forwards"))
        later = np.arange(t_len)[:, None] >= starts[None, :]
        tracks[later] = f_tracks[later]
        visible[later] = f_vis[later]
        if bwd.any():
            rev = gray[::-1]
            b_tracks, b_vis = self._propagate(rev, t_len - 1 - starts, xy, lambda: tick("tracking backwards"))
            b_tracks, b_vis = b_tracks[::-1], b_vis[::-1]
            earlier = ~later
            tracks[earlier] = b_tracks[earlier]
            visible[earlier] = b_vis[earlier]
        progress(1.0, "done")
        return tracks, visible, None

    # -- streaming -----------------------------------------------------------------------------

    def start(self, queries: np.ndarray, size: tuple[int, int]) -> None:
        """Begin a stream of frames of ``size = (H, W)`` with ``queries`` [N, 3] ``(t, x, y)`` input pixels.

        Points join when their query frame arrives; before it they are at their query position,
        not visible (a stream cannot look back, unlike ``track``'s backward pass).
        """
        q = check_stream_queries(queries, size)
        self._stream = {"size": (int(size[0]), int(size[1])), "session": LKSession(self, q[:, 0].astype(int), q[:, 1:]),
                        "out": TrackBuffer(len(q))}

    def step(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed the next uint8 ``[F, H, W, 3]`` frames; returns read-only tracks ``[T_done, N, 2]`` and
        visible ``[T_done, N]`` for every frame so far (final: LK is causal, nothing is pending)."""
        s = self._require_stream("step(frames)")
        for frame in check_stream_frames(frames, s["size"]):
            t, v = s["session"].push(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
            s["out"].append(t[None], v[None])
        return s["out"].view()

    def add_queries(self, queries: np.ndarray) -> None:
        """Add points ``[M, 3]`` ``(t, x, y)`` to the running stream; ``t`` must not be before the next frame.

        They come after the points already there; the result is what ``start`` with all of them gives.
        """
        s = self._require_stream("add_queries(queries)")
        q = check_stream_queries(queries, s["size"])
        if (q[:, 0] < s["out"].frames).any():
            raise InputError(f"new query frames must be >= {s['out'].frames} (the next frame of the stream)")
        s["session"].add(q[:, 0].astype(int), q[:, 1:])
        s["out"].add_points(q[:, 1:])

    @property
    def settled_frames(self) -> int:
        """Frames of the running stream whose results no longer change (all of them)."""
        s = getattr(self, "_stream", None)
        return 0 if s is None else s["out"].frames

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """End the stream; returns tracks and visible for every frame given."""
        s = self._require_stream("finish()")
        self._stream = None
        t, v = s["out"].view()
        return t.copy(), v.copy()

    def _require_stream(self, what: str) -> dict:
        s = getattr(self, "_stream", None)
        if s is None:
            raise RuntimeError(f"call start(queries, size) before {what}")
        return s

    def _lk(self, pyr0, pyr1, p0: np.ndarray, guess: np.ndarray | None = None):
        """One LK call: returns (p1 [M,2], ok [M], err [M])."""
        flags = 0
        if guess is not None:
            flags = cv2.OPTFLOW_USE_INITIAL_FLOW
            p1 = guess.reshape(-1, 1, 2).astype(np.float32).copy()
        else:
            p1 = None
        p1, status, err = cv2.calcOpticalFlowPyrLK(
            pyr0,
            pyr1,
            p0.reshape(-1, 1, 2).astype(np.float32),
            p1,
            winSize=(self.window, self.window),
            maxLevel=self.levels,
            criteria=_CRITERIA,
            flags=flags,
            minEigThreshold=self.min_eig,
        )
        return p1.reshape(-1, 2), status.reshape(-1).astype(bool), err.reshape(-1)

    def _checked_lk(self, pyr0, pyr1, p0, guess=None):
        """LK forwards then backwards; a point is ``ok`` when the round trip closes and the patch matches."""
        p1, ok, err = self._lk(pyr0, pyr1, p0, guess)
        back, ok_b, _ = self._lk(pyr1, pyr0, p1, p0)
        fb = np.linalg.norm(back - p0, axis=1)
        ok &= ok_b & (fb < self.fb_threshold) & (err < self.max_patch_error)
        return p1, ok

    def _patches(self, gray: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """Bilinear [M, window, window] float32 patches of ``gray`` centred on ``xy`` [M, 2]."""
        if len(xy) == 0:
            return np.zeros((0, self.window, self.window), np.float32)
        r = (self.window - 1) / 2
        off = np.arange(self.window, dtype=np.float32) - r
        mx = (xy[:, 0, None, None] + off[None, None, :]).astype(np.float32)
        my = (xy[:, 1, None, None] + off[None, :, None]).astype(np.float32)
        mx, my = np.broadcast_arrays(mx, my)
        m = len(xy)
        out = cv2.remap(
            gray, np.ascontiguousarray(mx.reshape(m * self.window, self.window)),
            np.ascontiguousarray(my.reshape(m * self.window, self.window)),
            cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
        )
        return out.reshape(m, self.window, self.window).astype(np.float32)

    def _neighbour_table(self, p: np.ndarray) -> np.ndarray:
        """Indices [M, K] of each point's K nearest other points (K = min(neighbours, M-1)).

        Nearness changes slowly under smooth motion, so the table is rebuilt only now and then;
        rows are computed in chunks to keep the [chunk, M] distance block small.
        """
        m = len(p)
        k = min(self.neighbours, m - 1)
        if k <= 0:
            return np.zeros((m, 0), int)
        out = np.empty((m, k), int)
        for a in range(0, m, 1024):
            d2 = np.sum((p[a : a + 1024, None, :] - p[None, :, :]) ** 2, axis=-1)
            d2[np.arange(d2.shape[0]), np.arange(a, a + d2.shape[0])] = np.inf  # not its own neighbour
            out[a : a + 1024] = np.argpartition(d2, k - 1, axis=1)[:, :k]
        return out

    def _neighbour_motion(
        self, p0: np.ndarray, disp: np.ndarray, trusted: np.ndarray, table: np.ndarray, targets: np.ndarray
    ) -> np.ndarray | None:
        """Predict the motion of points ``targets`` from a local affine fit to their trusted neighbours.

        Args:
          p0: [M, 2] positions at frame t.
          disp: [M, 2] measured motion t -> t+1 (used only where ``trusted``).
          trusted: [M] bool.
          table: [M, K] neighbour indices from ``_neighbour_table``.
          targets: [B] indices into p0 to predict.

        Returns:
          [B, 2] predicted motion, or None when nothing is trusted.
        """
        if not trusted.any():
            return None
        fallback = np.median(disp[trusted], axis=0)
        if table.shape[1] == 0:
            return np.broadcast_to(fallback, (len(targets), 2)).copy()
        near = table[targets]  # [B, K]
        w = trusted[near].astype(np.float64)  # untrusted neighbours do not vote
        # Affine fit centred on each target: disp ~ A (p - p_target) + b; b is the prediction.
        rel = p0[near] - p0[targets, None, :]
        x = np.concatenate([rel, np.ones(rel.shape[:2] + (1,))], axis=-1)  # [B, K, 3]
        # A little ridge keeps the fit sane when neighbours are few or nearly collinear.
        xtx = np.einsum("bk,bki,bkj->bij", w, x, x) + np.diag([1e-2, 1e-2, 1e-6])
        xty = np.einsum("bk,bki,bkj->bij", w, x, disp[near])
        pred = np.linalg.solve(xtx, xty)[:, 2, :]
        few = w.sum(axis=1) < 3
        pred[few] = fallback
        return pred

    def _propagate(self, gray: np.ndarray, starts: np.ndarray, xy: np.ndarray, tick) -> tuple[np.ndarray, np.ndarray]:
        """Track forwards in time from each point's start frame (frames of ``gray`` in order)."""
        t_len = gray.shape[0]
        tracks = np.zeros((t_len, len(starts), 2), np.float32)
        visible = np.zeros((t_len, len(starts)), bool)
        session = LKSession(self, starts, xy)
        for t in range(int(starts.min()), t_len):
            tracks[t], visible[t] = session.push(gray[t], t)
            if t > starts.min():
                tick()
        return tracks, visible


class LKSession:
    """Causal LK: one frame at a time, forwards from each point's start frame.

    ``LKTracker`` runs it over a whole clip (forwards, and over the reversed clip for frames
    before each query); ``studio.online`` feeds it a live stream. The state is per point;
    the only frames kept are the previous one and those where a hidden point was last
    trusted (its appearance there is looked for again), so memory does not grow with the
    stream's length.

    Args:
      lk: the ``LKTracker`` whose settings and LK steps are used.
      starts: [N] int frame where each point starts.
      xy: [N, 2] float32 ``(x, y)`` start positions in frame pixels.
    """

    def __init__(self, lk: LKTracker, starts: np.ndarray, xy: np.ndarray):
        n = len(starts)
        self.lk = lk
        self.starts = np.asarray(starts, int)
        self.xy = np.asarray(xy, np.float32)
        self.pos = self.xy.copy()
        self.lost = np.zeros(n, bool)
        self.active = np.zeros(n, bool)
        self.seen_at = np.zeros(n, int)  # last frame where each point was trusted, and where it was
        self.seen_xy = self.xy.copy()
        self.trusted = np.zeros(n, bool)  # LK itself followed the point on its last step
        self.ref = np.zeros((n, lk.window, lk.window), np.float32)  # patch where LK last followed it
        self.table, self.table_for, self.table_at = None, -1, int(self.starts.min()) if n else 0
        self.frames: dict[int, np.ndarray] = {}  # grey frames still needed, by index
        self.t = -1  # index of the last frame pushed

    def add(self, starts: np.ndarray, xy: np.ndarray) -> None:
        """Add points (after the existing ones) that start at frames ``starts`` [M] >= the next frame."""
        m, w = len(starts), self.lk.window
        self.starts = np.concatenate([self.starts, np.asarray(starts, int)])
        xy = np.asarray(xy, np.float32)
        self.xy, self.pos, self.seen_xy = (np.concatenate([a, xy]) for a in (self.xy, self.pos, self.seen_xy))
        self.lost, self.active, self.trusted = (np.concatenate([a, np.zeros(m, bool)])
                                                for a in (self.lost, self.active, self.trusted))
        self.seen_at = np.concatenate([self.seen_at, np.zeros(m, int)])
        self.ref = np.concatenate([self.ref, np.zeros((m, w, w), np.float32)])

    def push(self, gray: np.ndarray, t: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Add grey frame ``t`` ([H, W] uint8; default: the one after the last) and track into it.

        Returns:
          ``(tracks [N, 2] float32 (x, y), visible [N] bool)`` at frame ``t``; points that have
          not started are at their start position and not visible.
        """
        t = self.t + 1 if t is None else int(t)
        if self.t >= 0 and self.active.any():
            self._step(self.frames[self.t], gray, self.t)
        self.frames[t] = gray
        self.t = t
        new = self.starts == t
        self.pos[new], self.lost[new], self.active[new] = self.xy[new], False, True
        self.seen_at[new], self.seen_xy[new], self.trusted[new] = t, self.xy[new], True
        # Keep only frames a point may be re-found in (where it was last trusted) and this one.
        keep = set(self.seen_at[self.active].tolist()) | {t}
        for old in [k for k in self.frames if k not in keep]:
            del self.frames[old]
        tracks = np.where(self.active[:, None], self.pos, self.xy).astype(np.float32)
        return tracks, self.active & ~self.lost

    def _step(self, g0: np.ndarray, g1: np.ndarray, t: int) -> None:
        """Move every active point from frame ``t`` (grey ``g0``) to ``t + 1`` (grey ``g1``)."""
        lk = self.lk
        h, w = g0.shape
        idx = np.nonzero(self.active)[0]
        p0 = self.pos[idx]
        p1 = p0.copy()
        ok = np.zeros(len(idx), bool)
        seen = ~self.lost[idx]
        # OpenCV's Python binding takes images, not prebuilt pyramids, so each call builds its own.
        if seen.any():
            p1[seen], ok[seen] = lk._checked_lk(g0, g1, p0[seen])
        disp = p1 - p0
        # Steps that disagree with the local motion are occlusions or slips.
        if len(idx) != self.table_for or t - self.table_at >= 8:
            self.table, self.table_for, self.table_at = lk._neighbour_table(p0), len(idx), t
        table = self.table
        if ok.sum() >= 3:
            pred = lk._neighbour_motion(p0, disp, ok, table, np.nonzero(ok)[0])
            dev = np.linalg.norm(disp[ok] - pred, axis=1)
            tol = np.maximum(lk.motion_tolerance, 0.5 * np.linalg.norm(pred, axis=1))
            bad = np.nonzero(ok)[0][dev > tol]
            ok[bad] = False
        failed = np.nonzero(~ok)[0]
        if failed.size:
            pred = lk._neighbour_motion(p0, disp, ok, table, failed)
            p1[failed] = p0[failed] + (pred if pred is not None else 0.0)
        seen_at, seen_xy = self.seen_at, self.seen_xy
        if lk.anchor:
            # Re-find each point by how it looked where it was last trusted: close in time, so
            # rotation and scale have changed it least.
            for t0 in np.unique(seen_at[idx]):
                gap = t + 1 - int(t0)
                # Long-hidden points are looked for every 4th frame: each look costs two LK calls.
                if gap > 4 and gap % 4:
                    continue
                members = np.nonzero((seen_at[idx] == t0) & (lk.anchor_visible | ~ok))[0]
                if members.size == 0:
                    continue
                pa, ok_a = lk._checked_lk(self.frames[int(t0)], g1, seen_xy[idx[members]], p1[members])
                # Accept a re-match only near the prediction, so a look-alike elsewhere cannot capture it.
                ok_a &= np.linalg.norm(pa - p1[members], axis=1) < max(4.0, lk.fb_threshold * 4)
                p1[members[ok_a]] = pa[ok_a]
                ok[members[ok_a]] = True
        # LK gives no answer on flat texture; such a point is still visible if its patch
        # looks as it did when LK last followed it (an occluder would change it).
        lk_ok = ok.copy()
        failed = np.nonzero(~lk_ok)[0]
        if failed.size:
            newly = failed[self.trusted[idx[failed]]]
            self.ref[idx[newly]] = lk._patches(g0, p0[newly])
            diff = np.abs(lk._patches(g1, p1[failed]) - self.ref[idx[failed]]).mean(axis=(1, 2))
            ok[failed[diff < lk.max_patch_error]] = True
        ok &= inside_frame(p1, (h, w))
        self.pos[idx] = p1
        self.lost[idx] = ~ok
        self.trusted[idx] = lk_ok
        seen_at[idx[lk_ok]] = t + 1
        seen_xy[idx[lk_ok]] = p1[lk_ok]
