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
affine motion fitted to its nearest trusted neighbours. It is found again when LK
re-finds how it looked where it was last trusted near that prediction (the gain
between then and now may differ by ``max_gain``: lighting changes while a point is
hidden).

Robustness to the exact click (``support``): a request with few queries tracks
each query together with sub-points on the best-textured pixels within
``support_radius`` px. A query's sub-points are each other's neighbours, so a click
is judged and carried by the motion around it rather than by far-away clicks on
other objects (the neighbour test above assumes one smooth motion field, which
holds for a grid of points, not for seven clicks on a cat and a sofa); a hidden
sub-point comes back when its frame step agrees with its visible siblings', and
each step is also tried on the base pyramid level alone from where the last step
leads (see ``_step``). The query's position in a frame is the click carried by a
similarity fitted to its visible sub-points, and it is visible while most of them
are. Many queries (a grid, DOT's initial tracks) support each other and get no
sub-points: the total is capped at ``support_budget``, so only requests of up to 16
queries get them. Judged only by each other, a query's sub-points cannot tell when an
occluder's edge drags them all along; judged by other queries, points spread over one
scene can (on the TAP-Vid sample's ~40 queries per clip, sub-points cost 10 AJ).

All of it runs causally, one frame at a time, in ``LKSession``: ``LKTracker.track``
runs a session over the clip and another over the reversed clip (for frames before
each query), and ``studio.online`` feeds one a live stream (``start``/``step``/
``add_queries``/``finish``). A query's sub-points are picked when its frame arrives;
a stream fixes the sub-point count when it starts (see ``LKSession``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from studio.conventions import inside_frame
from studio.progress import ProgressFn
from studio.results import InputError, TrackBuffer, check_stream_frames, check_stream_queries
from studio.trackers.base import PointTracker

LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
"""OpenCV LK stopping rule (30 iterations or a step under 0.01 px), shared by every LK call of the project."""
_ANCHOR_LEVELS = 1
"""Pyramid levels above the base for re-finding a hidden point: the search is only a few pixels
around its predicted position, and a shallow pyramid lets the call work on a small crop."""
_MIN_SUPPORT = 4
"""Fewest sub-points per query worth having."""
_GAIN_MIN_CONTRAST = 8.0
"""Grey-level standard deviation below which a patch is too flat to tell a gain from a different surface."""


def patches_at(gray: np.ndarray, xy: np.ndarray, size: int) -> np.ndarray:
    """Bilinear patches of a grey image around sub-pixel points, all in one remap.

    Args:
      gray: uint8 [H, W].
      xy: [M, 2] ``(x, y)`` patch centres in pixels (integer = pixel centre); outside the
        image the border pixels are repeated.
      size: patch side in pixels.

    Returns:
      float32 [M, size, size] grey levels 0..255.
    """
    if len(xy) == 0:
        return np.zeros((0, size, size), np.float32)
    off = np.arange(size, dtype=np.float32) - (size - 1) / 2
    mx = (xy[:, 0, None, None] + off[None, None, :]).astype(np.float32)
    my = (xy[:, 1, None, None] + off[None, :, None]).astype(np.float32)
    mx, my = np.broadcast_arrays(mx, my)
    m = len(xy)
    out = cv2.remap(
        gray, np.ascontiguousarray(mx.reshape(m * size, size)), np.ascontiguousarray(my.reshape(m * size, size)),
        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
    )
    return out.reshape(m, size, size).astype(np.float32)


def to_gray(video: np.ndarray) -> np.ndarray:
    """[T, H, W, 3] uint8 RGB -> [T, H, W] uint8 luma.

    One conversion of the frames stacked as a [T * H, W, 3] image: the same pixels as frame by
    frame, a third of the CPU (no per-frame call, no stacking copy)."""
    t, h, w, _ = video.shape
    return cv2.cvtColor(np.ascontiguousarray(video).reshape(t * h, w, 3), cv2.COLOR_RGB2GRAY).reshape(t, h, w)


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
      anchor: re-match every point against its last trusted appearance (drift removal
        and re-detection after occlusion).
      anchor_visible: also re-match visible points (slower; off by default).
      min_eig: LK's minimum eigenvalue threshold (flat patches fail below it).
      max_gain: largest brightness ratio between a hidden point's last trusted
        appearance and a re-found one.
      support: sub-points per query (0 = the click alone).
      support_radius: how far from the click sub-points may lie, in pixels.
      support_budget: most sub-points per request: a request of N queries gets
        ``support_budget // N - 1`` per query (at most ``support``), none when that is under 4.
    """

    name = "lk"

    def __init__(
        self,
        window: int = 15,
        levels: int = 2,
        fb_threshold: float = 1.5,
        max_patch_error: float = 12.0,
        motion_tolerance: float = 3.0,
        neighbours: int = 24,
        anchor: bool = True,
        anchor_visible: bool = False,
        min_eig: float = 1e-4,
        max_gain: float = 1.5,
        support: int = 8,
        support_radius: float = 4.0,
        support_budget: int = 80,
    ):
        self.window = int(window)
        self.levels = int(levels)
        self.fb_threshold = float(fb_threshold)
        self.max_patch_error = float(max_patch_error)
        self.motion_tolerance = float(motion_tolerance)
        self.neighbours = int(neighbours)
        self.anchor = bool(anchor)
        self.anchor_visible = bool(anchor_visible)
        self.min_eig = float(min_eig)
        self.max_gain = float(max_gain)
        self.support = int(support)
        self.support_radius = float(support_radius)
        self.support_budget = int(support_budget)

    # ------------------------------------------------------------------ queries -> sub-points -> queries

    def _track(self, video: np.ndarray, queries: np.ndarray, progress: ProgressFn):
        gray = to_gray(video)
        t_len = gray.shape[0]
        starts = queries[:, 0].astype(int)
        xy = queries[:, 1:].astype(np.float32)
        k = self.sub_point_count(len(queries))
        tracks = np.zeros((t_len, len(queries), 2), np.float32)
        visible = np.zeros((t_len, len(queries)), bool)
        fwd = starts < t_len - 1
        bwd = starts > 0
        steps = max(1, (t_len - 1 - int(starts.min()) if fwd.any() else 0) + (int(starts.max()) if bwd.any() else 0))
        done = [0]

        def tick(desc: str) -> None:
            done[0] += 1
            progress(min(done[0] / steps, 1.0), desc)

        def count() -> None:  # the backward pass runs in a worker thread and only counts
            done[0] += 1

        # Forwards from each query frame; frames before it are filled by the backward pass. The
        # two passes are independent: the backward one runs in a second thread meanwhile (OpenCV
        # releases the GIL while it computes).
        rev = gray[::-1]
        with ThreadPoolExecutor(max_workers=1) as pool:
            back = pool.submit(self._propagate, rev, t_len - 1 - starts, xy, k, count) if bwd.any() else None
            f_tracks, f_vis = self._propagate(gray, starts, xy, k, lambda: tick("tracking"))
            if back is not None:
                b_tracks, b_vis = back.result()
        later = np.arange(t_len)[:, None] >= starts[None, :]
        tracks[later] = f_tracks[later]
        visible[later] = f_vis[later]
        if back is not None:
            b_tracks, b_vis = b_tracks[::-1], b_vis[::-1]
            earlier = ~later
            tracks[earlier] = b_tracks[earlier]
            visible[earlier] = b_vis[earlier]
        progress(1.0, "done")
        return tracks, visible, None

    def _propagate(self, gray: np.ndarray, starts: np.ndarray, xy: np.ndarray, k: int, tick) -> tuple[np.ndarray, np.ndarray]:
        """Track forwards in time from each query's start frame (frames of ``gray`` in order) with
        ``k`` sub-points per query; tracks [T, N, 2] and visible [T, N] of the queries."""
        t_len = gray.shape[0]
        tracks = np.zeros((t_len, len(starts), 2), np.float32)
        visible = np.zeros((t_len, len(starts)), bool)
        session = LKSession(self, starts, xy, support=k)
        for t in range(int(starts.min()), t_len):
            tracks[t], visible[t] = session.push(gray[t], t)
            if t > starts.min():
                tick()
        return tracks, visible

    def sub_point_count(self, n: int) -> int:
        """Sub-points per query (besides the click itself) for a request of ``n`` queries: as many
        as the budget allows, up to ``support``; none below ``_MIN_SUPPORT``, which could not judge
        each other (a step is tested against at least 3 trusted siblings)."""
        k = int(np.clip(self.support_budget // max(n, 1) - 1, 0, self.support))
        return k if k >= _MIN_SUPPORT else 0

    def _sub_points(self, gray: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each query followed by its sub-points, ``sub_point_count(len(queries))`` of them at most:
        ([M, 3] ``(t, x, y)`` float32, [M] owning query index). ``gray`` is [T, H, W] uint8."""
        k = self.sub_point_count(len(queries))
        if k == 0:
            return queries.astype(np.float32), np.arange(len(queries))
        rows, owner = [], []
        for i, (t, x, y) in enumerate(queries):
            picked = self._sub_points_at(gray[int(t)], x, y, k)
            rows.append(np.concatenate([np.full((len(picked), 1), t, np.float32), picked], 1))
            owner.append(np.full(len(picked), i))
        return np.concatenate(rows).astype(np.float32), np.concatenate(owner)

    def _sub_points_at(self, gray: np.ndarray, x, y, k: int) -> np.ndarray:
        """The click ``(x, y)`` on grey frame ``gray`` [H, W] uint8, then up to ``k`` sub-points:
        [1 + k' , 2] float32 ``(x, y)``.

        Sub-points are the best-textured pixels (largest minimum eigenvalue of the gradient
        structure tensor over an LK window) at integer offsets within ``support_radius`` of
        the click, at least 2 px from the click and from each other.
        """
        r = int(np.floor(self.support_radius))
        oy, ox = np.mgrid[-r : r + 1, -r : r + 1]
        keep = (ox**2 + oy**2 <= self.support_radius**2) & (ox**2 + oy**2 >= 4)
        offsets = np.stack([ox[keep], oy[keep]], 1).astype(np.float32)  # [C, 2]
        h, w = gray.shape
        half = r + self.window // 2 + 2
        cx, cy = int(round(float(x))), int(round(float(y)))
        x0, y0 = max(cx - half, 0), max(cy - half, 0)
        crop = gray[y0 : min(cy + half + 1, h), x0 : min(cx + half + 1, w)]
        eig = cv2.cornerMinEigenVal(crop, self.window, 3) if min(crop.shape) > 2 else np.zeros_like(crop, np.float32)
        cand = np.array([x, y], np.float32) + offsets
        ix = np.clip(np.rint(cand[:, 0]).astype(int) - x0, 0, crop.shape[1] - 1)
        iy = np.clip(np.rint(cand[:, 1]).astype(int) - y0, 0, crop.shape[0] - 1)
        inside = inside_frame(cand, (h, w))
        score = np.where(inside, eig[iy, ix], -1.0)
        picked = [np.array([x, y], np.float32)]
        for j in np.argsort(-score, kind="stable"):
            if len(picked) > k or score[j] < 0:
                break
            if min(np.linalg.norm(cand[j] - p) for p in picked) >= 2.0:
                picked.append(cand[j])
        return np.stack(picked)

    # ------------------------------------------------------------------ streaming

    def start(self, queries: np.ndarray, size: tuple[int, int]) -> None:
        """Begin a stream of frames of ``size = (H, W)`` with ``queries`` [N, 3] ``(t, x, y)`` input pixels.

        Points join when their query frame arrives; before it they are at their query position,
        not visible (a stream cannot look back, unlike ``track``'s backward pass). Each query gets
        ``sub_point_count(N)`` sub-points, picked on its own frame, as ``track`` gives it; the count
        is fixed here for the whole stream (see ``add_queries``).
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

        They come after the points already there and get as many sub-points as the queries given to
        ``start`` (their clicks are judged the same way): the result is what ``start`` with all of
        them gives whenever ``sub_point_count`` is the same for both counts (up to 8 clicks get 8
        sub-points each, 17 and more get none). A stream started with few clicks keeps sub-points
        for every click added later, beyond ``support_budget``.
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

    # ------------------------------------------------------------------ LK calls

    def _crop(self, shape: tuple[int, int], pts: np.ndarray, levels: int) -> tuple[int, int, int, int] | None:
        """``(x_lo, y_lo, x_hi, y_hi)`` of the part of a frame of ``shape`` that LK calls on points ``pts``
        [M, 2] with ``levels`` can reach, or None when that is most of the frame (then it is used whole).

        With few points in a small part of the frame, cropping both images saves building
        whole-frame pyramids (OpenCV's Python binding takes images, not prebuilt pyramids).
        """
        h, w = shape
        margin = (self.window + 2) * 2**levels + 8
        x_lo, y_lo = np.floor(pts.min(0)).astype(int) - margin
        x_hi, y_hi = np.ceil(pts.max(0)).astype(int) + margin + 1
        x_lo, y_lo, x_hi, y_hi = max(x_lo, 0), max(y_lo, 0), min(x_hi, w), min(y_hi, h)
        if x_hi > x_lo and y_hi > y_lo and (x_hi - x_lo) * (y_hi - y_lo) < 0.5 * h * w:
            return int(x_lo), int(y_lo), int(x_hi), int(y_hi)
        return None

    def _lk(self, img0, img1, p0: np.ndarray, guess: np.ndarray | None = None, levels: int | None = None,
            crop: tuple[int, int, int, int] | None | bool = True):
        """One LK call: returns (p1 [M,2], ok [M], err [M]).

        ``crop``: True picks the crop from ``p0`` and ``guess`` (``_crop``); a box or None (whole
        frame) gives it, so that a call on some of the points sees the images a call on all would.
        """
        levels = self.levels if levels is None else levels
        p0 = p0.reshape(-1, 2).astype(np.float32)
        if crop is True:
            crop = self._crop(img0.shape, p0 if guess is None else np.concatenate([p0, guess.reshape(-1, 2)]), levels)
        shift = np.zeros(2, np.float32)
        if crop is not None:
            x_lo, y_lo, x_hi, y_hi = crop
            img0, img1 = img0[y_lo:y_hi, x_lo:x_hi], img1[y_lo:y_hi, x_lo:x_hi]
            shift = np.array([x_lo, y_lo], np.float32)
        flags = 0
        p1 = None
        if guess is not None:
            flags = cv2.OPTFLOW_USE_INITIAL_FLOW
            p1 = (guess.reshape(-1, 1, 2) - shift).astype(np.float32)
        p1, status, err = cv2.calcOpticalFlowPyrLK(
            np.ascontiguousarray(img0),
            np.ascontiguousarray(img1),
            (p0 - shift).reshape(-1, 1, 2),
            p1,
            winSize=(self.window, self.window),
            maxLevel=levels,
            criteria=LK_CRITERIA,
            flags=flags,
            minEigThreshold=self.min_eig,
        )
        return p1.reshape(-1, 2) + shift, status.reshape(-1).astype(bool), err.reshape(-1)

    def _checked_lk(self, img0, img1, p0, guess=None, levels=None, patch_check=True, with_err=False, within=None):
        """LK forwards then backwards; a point is ``ok`` when the round trip closes (and, with
        ``patch_check``, LK's own patch difference is small; with ``within``, it lands less than
        that many pixels from ``guess``)."""
        p1, ok, err = self._lk(img0, img1, p0, guess, levels)
        if patch_check:
            ok &= err < self.max_patch_error
        if within is not None:
            ok &= np.linalg.norm(p1 - guess.reshape(-1, 2), axis=1) < within
        ok = self._round_trip(img0, img1, p0, p1, ok, levels)
        if with_err:
            return p1, ok, err
        return p1, ok

    def _round_trip(self, img0, img1, p0, p1, ok, levels=None, check=None) -> np.ndarray:
        """``ok`` [M] less the points whose LK way back from ``p1`` [M, 2] (in ``img1``) to ``img0`` ends
        ``fb_threshold`` px or more from ``p0`` [M, 2], or fails.

        Only points ``ok`` (and ``check``, when given) take the way back; the others keep their
        ``ok``. The way back sees the images (the same crop) that a round trip of all points
        would see, and each point's LK answer depends only on its own window, so checking a few
        gives them the answer that checking all would.
        """
        p0 = p0.reshape(-1, 2)
        go = np.nonzero(ok if check is None else ok & check)[0]
        if go.size == 0:
            return ok
        lv = self.levels if levels is None else levels
        crop = self._crop(img0.shape, np.concatenate([p1, p0]).astype(np.float32), lv)
        back, ok_b, _ = self._lk(img1, img0, p1[go], p0[go], levels, crop)
        ok = ok.copy()
        ok[go] &= ok_b & (np.linalg.norm(back - p0[go], axis=1) < self.fb_threshold)
        return ok

    def _step(self, img0, img1, p0: np.ndarray, velocity: np.ndarray, thorough: bool):
        """One frame step t -> t+1 of points ``p0`` [M, 2]. Returns (p1 [M, 2], ok [M]).

        The pyramid's coarse levels see tens of pixels around a point, so a strong edge or a
        passing occluder nearby can drag a point and its round trip alike. A ``thorough`` step
        also runs LK on the base level alone from where the point's last step leads
        (``velocity`` [M, 2]), which sees only the point's own window; where the two answers
        differ by a pixel or more, the one whose patch matches better wins.
        """
        p1, ok, err = self._checked_lk(img0, img1, p0, with_err=True)
        if not thorough:
            return p1, ok
        pa, ok_a, err_a = self._lk(img0, img1, p0, p0 + velocity, 0)
        ok_a &= err_a < self.max_patch_error
        agree = np.linalg.norm(pa - p1, axis=1) < 1.0
        # Where the full step passed and the base-level answer agrees with it, the base-level
        # answer changes nothing (neither the position nor ``ok``): its round trip is skipped.
        ok_a = self._round_trip(img0, img1, p0, pa, ok_a, 0, check=~(ok & agree))
        use_a = ok_a & (~ok | (~agree & (err_a < err)))
        p1[use_a] = pa[use_a]
        return p1, ok | ok_a

    def _patches(self, gray: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """Bilinear [M, window, window] float32 patches of ``gray`` centred on ``xy`` [M, 2]."""
        return patches_at(gray, xy, self.window)

    def _mismatch(self, before: np.ndarray, now: np.ndarray, gain: bool = True) -> np.ndarray:
        """Mean absolute grey-level difference [M] of patches [M, k, k], with ``gain`` after matching
        their brightness (a gain of at most ``max_gain`` either way).

        Only textured patches get a gain: their texture has to agree after it, while two flat
        patches of different brightness would match under any gain.
        """
        if not gain:
            return np.abs(now - before).mean(axis=(1, 2))
        m0 = before.mean(axis=(1, 2))
        m1 = np.maximum(now.mean(axis=(1, 2)), 1.0)
        g = np.clip(m0 / m1, 1 / self.max_gain, self.max_gain)
        textured = np.minimum(before.std(axis=(1, 2)), now.std(axis=(1, 2))) >= _GAIN_MIN_CONTRAST
        g = np.where(textured, g, 1.0)
        return np.abs(now * g[:, None, None] - before).mean(axis=(1, 2))

    # ------------------------------------------------------------------ neighbours

    def _nearest(self, p: np.ndarray, groups: np.ndarray | None, rows: np.ndarray, k: int) -> np.ndarray:
        """Indices [R, k] of the ``k`` nearest other points of ``p`` [M, 2] for points ``rows`` [R]
        (-1 where there are fewer); with ``groups``, a point's own group comes first."""
        m = len(p)
        out = np.full((len(rows), k), -1, np.int64)
        kk = min(k, m - 1)
        if kk <= 0 or len(rows) == 0:
            return out
        # float32 is plenty for plain distances; the group penalty below needs float64's range.
        p = np.ascontiguousarray(p, np.float32 if groups is None else np.float64)
        sq = (p * p).sum(axis=1)
        # Blocks of [chunk, M] distances: small enough that BLAS computes the (2-deep) product in
        # one thread; its threads cost more than they save on so thin a product (on a busy 2-core
        # machine 25x more: 8 ms instead of 0.3 ms for 512 x 2025 points).
        chunk = int(np.clip(65536 // m, 1, 512))
        for a in range(0, len(rows), chunk):
            r = np.asarray(rows[a : a + chunk])
            d2 = sq[r, None] + sq[None, :] - 2.0 * (p[r] @ p.T)
            if groups is not None:
                d2 += np.where(groups[r, None] == groups[None, :], 0.0, 1e12)
            d2[np.arange(len(r)), r] = np.inf  # not its own neighbour
            out[a : a + len(r), :kk] = np.argpartition(d2, kk - 1, axis=1)[:, :kk]
        return out

    def _neighbour_motion(
        self, p0: np.ndarray, disp: np.ndarray, trusted: np.ndarray, table: np.ndarray, targets: np.ndarray,
        groups: np.ndarray | None = None,
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """Predict the motion of points ``targets`` from a local affine fit to their trusted neighbours.

        Args:
          p0: [M, 2] positions at frame t.
          disp: [M, 2] measured motion t -> t+1 (used only where ``trusted``).
          trusted: [M] bool.
          table: [M, K] neighbour indices (-1 = none).
          targets: [B] indices into p0 to predict.
          groups: [M] group of each point or None; with groups, a target with at least 3
            trusted neighbours in its own group is predicted from those alone.

        Returns:
          ([B, 2] predicted motion, or None when nothing is trusted; [B] bool ``local``: the
          prediction rests on at least 3 trusted neighbours (of the target's own group, with groups)).
        """
        if not trusted.any():
            return None, np.zeros(len(targets), bool)
        if table.shape[1] == 0:
            fallback = np.median(disp[trusted], axis=0)
            return np.broadcast_to(fallback, (len(targets), 2)).copy(), np.zeros(len(targets), bool)
        # np.take gathers rows ~10x faster than fancy indexing with a 2-D index (same values).
        near = np.take(table, targets, axis=0)  # [B, K]
        w = (np.take(trusted, np.maximum(near, 0)) & (near >= 0)).astype(np.float64)  # untrusted neighbours do not vote
        near = np.maximum(near, 0)
        if groups is None:
            local = w.sum(axis=1) >= 3
        else:
            same = w * (np.take(groups, near) == np.take(groups, targets)[:, None])
            local = same.sum(axis=1) >= 3
            w = np.where(local[:, None], same, w)
        # Affine fit centred on each target: disp ~ A (p - p_target) + b; b is the prediction.
        x = np.empty(near.shape + (3,))  # [B, K, 3]: (x, y) relative to the target, 1
        x[..., :2] = np.take(p0, near, axis=0) - np.take(p0, targets, axis=0)[:, None, :]
        x[..., 2] = 1.0
        # A little ridge keeps the fit sane when neighbours are few or nearly collinear.
        xw = np.swapaxes(x * w[..., None], 1, 2)  # [B, 3, K]
        xtx = xw @ x + np.diag([1e-2, 1e-2, 1e-6])
        xty = xw @ np.take(disp, near, axis=0).astype(np.float64)
        pred = np.linalg.solve(xtx, xty)[:, 2, :]
        few = w.sum(axis=1) < 3
        if few.any():  # the median of all trusted motion, only where it is needed
            pred[few] = np.median(disp[trusted], axis=0)
        return pred, local


class LKSession:
    """Causal LK: one frame at a time, forwards from each query's start frame.

    ``LKTracker`` runs it over a whole clip (forwards, and over the reversed clip for frames
    before each query); ``studio.online`` feeds it a live stream. Each query is tracked as a
    group of points, the click and its ``support`` sub-points, picked on the query's frame
    when it arrives (``LKTracker._sub_points_at``); ``support = 0`` tracks the click alone.
    The sub-point count is fixed for the session: queries added later get as many as those
    given at the start, and the session's points are judged group by group (``support > 0``)
    or all together. The state is per point; the only frames kept are the previous one and
    those where a hidden point was last trusted (its appearance there is looked for again),
    so memory does not grow with the stream's length.

    Args:
      lk: the ``LKTracker`` whose settings and LK steps are used.
      starts: [N] int frame where each query starts.
      xy: [N, 2] float32 ``(x, y)`` start positions in frame pixels.
      support: sub-points per query; default ``lk.sub_point_count(N)``.
    """

    def __init__(self, lk: LKTracker, starts: np.ndarray, xy: np.ndarray, support: int | None = None):
        self.lk = lk
        self.support = lk.sub_point_count(len(starts)) if support is None else int(support)
        self.q_starts = np.zeros(0, int)  # per query
        self.q_xy = np.zeros((0, 2), np.float32)
        # Per point: query i owns points [i * (1 + support), (i + 1) * (1 + support)), the click
        # first; those its frame has no sub-point for never become ``alive``.
        w = lk.window
        self.starts, self.owner = np.zeros(0, int), np.zeros(0, int)
        self.xy, self.pos, self.seen_xy = (np.zeros((0, 2), np.float32) for _ in range(3))
        self.vel = np.zeros((0, 2), np.float32)  # each point's last step
        self.alive, self.lost, self.active, self.trusted, self.new = (np.zeros(0, bool) for _ in range(5))
        self.seen_at = np.zeros(0, int)  # last frame where each point was trusted, and where it was
        self.ref = np.zeros((0, w, w), np.float32)  # patch where LK last followed it (``trusted`` = on its last step)
        # Each point's nearest neighbours (point ids, -1 = none). Nearness changes slowly under
        # smooth motion, so the table is rebuilt every 8 frames from the first step on; a point
        # that starts in between gets its own row at once.
        self.nbr = np.zeros((0, 0), np.int64)
        self.nbr_at: int | None = None
        self.slot = np.zeros(0, np.int64)  # point id -> position among the active points
        self.frames: dict[int, np.ndarray] = {}  # grey frames still needed, by index
        self.t = -1  # index of the last frame pushed
        self.add(starts, xy)

    def add(self, starts: np.ndarray, xy: np.ndarray) -> None:
        """Add queries (after the existing ones) that start at frames ``starts`` [M] >= the next frame."""
        starts, xy = np.asarray(starts, int), np.asarray(xy, np.float32).reshape(-1, 2)
        per = 1 + self.support
        first = len(self.q_starts)
        self.q_starts = np.concatenate([self.q_starts, starts])
        self.q_xy = np.concatenate([self.q_xy, xy])
        m = len(starts) * per
        self.starts = np.concatenate([self.starts, np.repeat(starts, per)])
        self.owner = np.concatenate([self.owner, np.repeat(np.arange(first, first + len(starts)), per)])
        pts = np.repeat(xy, per, axis=0)
        self.xy, self.pos, self.seen_xy = (np.concatenate([a, pts]) for a in (self.xy, self.pos, self.seen_xy))
        self.vel = np.concatenate([self.vel, np.zeros((m, 2), np.float32)])
        self.alive, self.lost, self.active, self.trusted, self.new = (
            np.concatenate([a, np.zeros(m, bool)]) for a in (self.alive, self.lost, self.active, self.trusted, self.new))
        self.seen_at = np.concatenate([self.seen_at, np.zeros(m, int)])
        self.ref = np.concatenate([self.ref, np.zeros((m, *self.ref.shape[1:]), np.float32)])
        self.slot = np.concatenate([self.slot, np.full(m, -1, np.int64)])
        # Table width: min(neighbours, points - 1). Columns that cannot be filled yet stay -1.
        n = len(self.starts)
        width = min(self.lk.neighbours, n - 1) if n > 1 else 0
        nbr = np.full((n, width), -1, np.int64)
        nbr[: len(self.nbr), : self.nbr.shape[1]] = self.nbr
        self.nbr = nbr

    def push(self, gray: np.ndarray, t: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Add grey frame ``t`` ([H, W] uint8; default: the one after the last) and track into it.

        Returns:
          ``(tracks [N, 2] float32 (x, y), visible [N] bool)`` of the queries at frame ``t``;
          queries that have not started are at their start position and not visible.
        """
        t = self.t + 1 if t is None else int(t)
        if self.t >= 0 and self.active.any():
            self._advance(self.frames[self.t], gray, self.t)
        self.frames[t] = gray
        self.t = t
        per = 1 + self.support
        arriving = np.nonzero(self.q_starts == t)[0]
        if self.support == 0:  # the click alone, already in ``xy``
            self.alive[arriving] = True
        for i in arriving if self.support else ():
            picked = self.lk._sub_points_at(gray, self.q_xy[i, 0], self.q_xy[i, 1], self.support)
            rows = slice(i * per, i * per + len(picked))
            self.xy[rows], self.alive[rows] = picked, True
        new = self.new = (self.starts == t) & self.alive
        self.pos[new], self.lost[new], self.active[new] = self.xy[new], False, True
        self.seen_at[new], self.seen_xy[new], self.trusted[new], self.vel[new] = t, self.xy[new], True, 0.0
        # Keep only frames a point may be re-found in (where it was last trusted) and this one.
        keep = set(self.seen_at[self.active].tolist()) | {t}
        for old in [k for k in self.frames if k not in keep]:
            del self.frames[old]
        return self._queries_now()

    def _queries_now(self) -> tuple[np.ndarray, np.ndarray]:
        """The queries' tracks [N, 2] and visible [N] from their points' (``combine_groups``)."""
        started = self.q_starts <= self.t
        tracks, visible = self.q_xy.copy(), np.zeros(len(self.q_starts), bool)
        if self.support == 0:
            tracks[started], visible[started] = self.pos[started], ~self.lost[started]
            return tracks, visible
        per = 1 + self.support
        q = np.nonzero(started)[0]
        if q.size:
            rows = q[:, None] * per + np.arange(per)  # [Q, per]
            tracks[q], visible[q] = combine_groups(self.pos[rows], ~self.lost[rows], self.xy[rows], self.q_xy[q],
                                                   self.alive[rows])
        return tracks, visible

    def _advance(self, g0: np.ndarray, g1: np.ndarray, t: int) -> None:
        """Move every active point from frame ``t`` (grey ``g0``) to ``t + 1`` (grey ``g1``)."""
        lk = self.lk
        h, w = g0.shape
        idx = np.nonzero(self.active)[0]
        grp = self.owner[idx] if self.support else None
        p0 = self.pos[idx]
        p1 = p0.copy()
        ok = np.zeros(len(idx), bool)
        was_lost = self.lost[idx]
        # Hidden sub-points step too, from where their query's other sub-points carry them.
        stepping = np.ones(len(idx), bool) if grp is not None else ~was_lost
        if stepping.any():
            p1[stepping], ok[stepping] = lk._step(g0, g1, p0[stepping], self.vel[idx[stepping]], thorough=grp is not None)
        disp = p1 - p0
        slot, nbr = self.slot, self.nbr
        slot[idx] = np.arange(len(idx))
        if self.nbr_at is None or t - self.nbr_at >= 8:
            rows, self.nbr_at = np.arange(len(idx)), t
        else:
            rows = slot[np.nonzero(self.new)[0]]
        width = nbr.shape[1]
        if rows.size and width:
            found = lk._nearest(p0, grp, rows, width)
            nbr[idx[rows]] = np.where(found >= 0, idx[np.maximum(found, 0)], -1)
        table = np.where(nbr[idx] >= 0, slot[np.maximum(nbr[idx], 0)], -1)
        # Steps that disagree with the local motion are occlusions or slips.
        voters = ok & ~was_lost
        judged = np.nonzero(ok)[0]
        if voters.sum() >= 3 and judged.size:
            pred, local = lk._neighbour_motion(p0, disp, voters, table, judged, grp)
            dev = np.linalg.norm(disp[judged] - pred, axis=1)
            tol = np.maximum(lk.motion_tolerance, 0.5 * np.linalg.norm(pred, axis=1))
            # A query's sub-points are judged only by each other: other queries may lie on
            # other objects. Without sub-points every point is judged by its nearest ones.
            bad = dev > tol if grp is None else (dev > tol) & local
            # A hidden sub-point comes back only on a step that its visible neighbours confirm
            # closely: its appearance may have changed (a turning object), its motion has not.
            back = was_lost[judged]
            bad |= back & ~(local & (dev < lk.fb_threshold))
            ok[judged[bad]] = False
        else:
            ok &= ~was_lost
        failed = np.nonzero(~ok)[0]
        if failed.size:
            pred, _ = lk._neighbour_motion(p0, disp, ok, table, failed, grp)
            p1[failed] = p0[failed] + (pred if pred is not None else 0.0)
        if lk.anchor:
            self._refind(g1, t, idx, p1, ok)
        # LK gives no answer on flat texture; such a point is still visible if its patch
        # looks as it did when LK last followed it (an occluder would change it).
        # Points carried outside the frame are hidden whatever their patch says (a panning camera
        # leaves many), so only those inside are compared.
        lk_ok = ok.copy()
        inside = inside_frame(p1, (h, w))
        failed = np.nonzero(~lk_ok)[0]
        if failed.size:
            newly = failed[self.trusted[idx[failed]]]
            self.ref[idx[newly]] = lk._patches(g0, p0[newly])
            failed = failed[inside[failed]]
            diff = lk._mismatch(self.ref[idx[failed]], lk._patches(g1, p1[failed]), gain=False)
            ok[failed[diff < lk.max_patch_error]] = True
        ok &= inside
        self.vel[idx] = p1 - p0
        self.pos[idx] = p1
        self.lost[idx] = ~ok
        self.trusted[idx] = lk_ok
        self.seen_at[idx[lk_ok]] = t + 1
        self.seen_xy[idx[lk_ok]] = p1[lk_ok]

    def _refind(self, g1: np.ndarray, t: int, idx: np.ndarray, p1: np.ndarray, ok: np.ndarray) -> None:
        """Re-find points that failed the step to frame ``t + 1`` (grey ``g1``) by how they looked
        where they were last trusted (close in time, so rotation and scale have changed them
        least); updates ``p1``, ``ok``.

        Points carried outside the frame are not looked for (a panning camera leaves many)."""
        lk, seen_at, seen_xy = self.lk, self.seen_at, self.seen_xy
        wanted = (lk.anchor_visible | ~ok) & inside_frame(p1, g1.shape)
        for t0 in np.unique(seen_at[idx[wanted]]):
            gap = t + 1 - int(t0)
            # Long-hidden points are looked for every 4th frame: each look costs two LK calls.
            if gap > 4 and gap % 4:
                continue
            members = np.nonzero((seen_at[idx] == t0) & wanted)[0]
            if members.size == 0:
                continue
            g0 = self.frames[int(t0)]
            src = seen_xy[idx[members]]
            # Accept a re-match only near the prediction, so a look-alike elsewhere cannot capture it,
            # and only if it looks the same up to a change of brightness.
            pa, ok_a = lk._checked_lk(g0, g1, src, p1[members], _ANCHOR_LEVELS, patch_check=False,
                                      within=max(4.0, lk.fb_threshold * 4))
            if ok_a.any():
                diff = lk._mismatch(lk._patches(g0, src[ok_a]), lk._patches(g1, pa[ok_a]))
                ok_a[np.nonzero(ok_a)[0][diff >= lk.max_patch_error]] = False
            p1[members[ok_a]] = pa[ok_a]
            ok[members[ok_a]] = True


def _similarity(src: np.ndarray, dst: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarities ``dst ~ a * src + b``, one per row, on complex coordinates.

    Args:
      src, dst: [Q, K] complex; use: [Q, K] bool, the pairs each row's fit uses.

    Returns:
      ``(a [Q], b [Q])`` complex (``a = 1`` where the used ``src`` hardly spread).
    """
    n = np.maximum(use.sum(axis=1), 1)
    ms = np.where(use, src, 0).sum(axis=1) / n
    md = np.where(use, dst, 0).sum(axis=1) / n
    s = np.where(use, src - ms[:, None], 0)
    d = np.where(use, dst - md[:, None], 0)
    den = (np.abs(s) ** 2).sum(axis=1)
    spread = den > 1e-9
    a = np.where(spread, (np.conj(s) * d).sum(axis=1) / np.where(spread, den, 1.0), 1.0 + 0j)
    return a, md - a * ms


def _median(x: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Median of each row of ``x`` [Q, K] float over its entries ``use`` [Q, K] (as ``np.median`` of
    them; NaN where a row uses none)."""
    n = use.sum(axis=1)
    ordered = np.sort(np.where(use, x, np.inf), axis=1)
    lo = np.take_along_axis(ordered, np.maximum((n - 1) // 2, 0)[:, None], 1)[:, 0]
    hi = np.take_along_axis(ordered, np.minimum(n // 2, x.shape[1] - 1)[:, None], 1)[:, 0]
    return np.where(n > 0, (lo + hi) / 2, np.nan)


def combine_groups(
    now: np.ndarray, visible: np.ndarray, start: np.ndarray, click: np.ndarray, alive: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's position and visibility in one frame from its sub-points', all queries at once.

    A click is carried by a similarity (rotation, scale, shift) fitted to its visible
    sub-points, refitted once without those more than 1.5 px (or 3x the median residual)
    off; with fewer than 3 visible, by their median shift; with none, by the median of all
    its sub-points' carried positions. A query is visible when at least half of its
    sub-points are, the click itself counting twice.

    Args:
      now: [Q, K, 2] the sub-points' ``(x, y)`` in this frame, each query's click first;
      visible: [Q, K] bool; start: [Q, K, 2] their start positions; click: [Q, 2] the
      queries' ``(x, y)``; alive: [Q, K] bool, which sub-points exist (default all; the
      click always does).

    Returns:
      ``(x, y)`` [Q, 2] float32 and visible [Q] bool.
    """
    start = start.astype(np.float64)
    now = now.astype(np.float64)
    click = click.astype(np.float64)
    alive = np.ones(visible.shape, bool) if alive is None else alive
    v = visible & alive
    weight = alive.astype(np.float64)
    weight[:, 0] *= 2.0
    seen = (weight * v).sum(axis=1) >= weight.sum(axis=1) / 2
    src = start[..., 0] + 1j * start[..., 1]
    dst = now[..., 0] + 1j * now[..., 1]
    count = v.sum(axis=1)
    a, b = _similarity(src, dst, v)
    res = np.abs(a[:, None] * src + b[:, None] - dst)
    good = v & (res <= np.maximum(1.5, 3 * _median(res, v))[:, None])
    n_good = good.sum(axis=1)
    refit = (n_good >= 3) & (n_good < count)
    if refit.any():
        a2, b2 = _similarity(src, dst, good)
        a, b = np.where(refit, a2, a), np.where(refit, b2, b)
    z = a * (click[:, 0] + 1j * click[:, 1]) + b
    out = np.stack([z.real, z.imag], axis=1)
    few = count < 3
    if few.any():
        use = np.where((count > 0)[:, None], v, alive)
        shift = np.stack([_median(now[..., c] - start[..., c], use) for c in range(2)], axis=1)
        out[few] = (click + shift)[few]
    return out.astype(np.float32), seen


def combine_sub_points(
    tracks: np.ndarray, visible: np.ndarray, subs: np.ndarray, owner: np.ndarray, queries: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One track per query from its sub-points' tracks, frame by frame (``combine_groups``).

    Args:
      tracks: [T, M, 2], visible: [T, M] of the sub-points.
      subs: [M, 3] their ``(t, x, y)`` starts; owner: [M] query index of each (the click first).
      queries: [N, 3].

    Returns:
      tracks [T, N, 2] float32, visible [T, N] bool.
    """
    t_len, n = tracks.shape[0], len(queries)
    out = np.zeros((t_len, n, 2), np.float32)
    vis = np.zeros((t_len, n), bool)
    for i in range(n):  # one query's frames at once
        rows = np.nonzero(owner == i)[0]
        start = np.broadcast_to(subs[rows, 1:], (t_len, len(rows), 2))
        out[:, i], vis[:, i] = combine_groups(tracks[:, rows], visible[:, rows], start,
                                              np.broadcast_to(queries[i, 1:], (t_len, 2)))
    return out, vis
