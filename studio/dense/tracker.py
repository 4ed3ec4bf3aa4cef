"""``DenseTracker``: DOT's dense tracking (sparse tracks -> interpolation -> refinement).

1. The video is resized to the working resolution (long side at most
   ``max_side``, both sides multiples of the refiner's patch size).
2. ``num_tracks`` initial tracks are sampled over all frames, half on motion
   boundaries, and tracked by the ``initializer`` point tracker
   (``studio.dense.sampling``). A request that reads only part of the field
   (a mask, a few queries) gets them only there, at the same density: first the
   region's own tracks (or the queries') are followed, and tracks are sampled
   within ``MASK_MARGIN`` (``QUERY_MARGIN``) pixels of where they go.
3. For a source frame, every coarse cell takes the motion of its nearest
   visible track (``studio.dense.interpolation``) towards each target frame.
4. The refiner turns that coarse flow into full-resolution flow and visibility.
5. Results are mapped back to input-video pixels (``studio.conventions``).
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from studio.conventions import inside_frame, rescale_pixels
from studio.dense.interpolation import MAX_ELEMENTS, SparseToDense
from studio.dense.redetect import redetect
from studio.dense.result import DenseResult
from studio.dense.sampling import (
    InitialTracks,
    drop_inconsistent,
    initial_tracks,
    mask_tracks,
    regions_around,
    restrict_to_mask,
)
from studio.progress import ProgressFn, no_progress
from studio.results import InputError, TrackResult, check_video
from studio.trackers.base import PointTracker

MIN_SIDE = 16
"""Smallest working side in pixels (OpenCV's DIS needs 12)."""
MASK_MARGIN = 16.0
"""Initial tracks for a masked region are sampled within this many working pixels of its own tracks."""
QUERY_MARGIN = 48.0
"""Initial tracks for given queries are sampled within this many working pixels of the queries' paths."""
NEEDED_SHARE = 0.6
"""When the needed regions cover more than this share of the frames, initial tracks are sampled everywhere."""


def working_size(size: tuple[int, int], max_side: int | None, multiple: int) -> tuple[int, int]:
    """``(H, W)`` scaled so the long side is at most ``max_side`` (None = no cap), rounded to ``multiple``."""
    h, w = size
    s = 1.0 if not max_side else min(1.0, max_side / max(h, w))
    return tuple(max(multiple, int(round(n * s / multiple)) * multiple) for n in (h, w))


def resize_video(video: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[T, H, W, 3] uint8 resized to ``size = (h, w)`` (area filter when shrinking)."""
    h, w = size
    if video.shape[1:3] == (h, w):
        return video
    interp = cv2.INTER_AREA if h * w < video.shape[1] * video.shape[2] else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in video])


def check_mask(mask, size: tuple[int, int]) -> np.ndarray | None:
    """Validate a query-frame mask: bool [H, W] with at least one pixel inside, or None."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != tuple(size):
        raise InputError(f"mask must have the video's size {size[1]}x{size[0]}, got {list(mask.shape)}")
    mask = mask.astype(bool)
    if not mask.any():
        raise InputError("the mask is empty: mark at least one pixel as inside")
    return mask


class DenseTracker(PointTracker):
    """Dense point tracking in DOT's three steps, for any initializer and refiner.

    Modes: ``track_dense`` (every pixel of a query frame -> ``DenseResult``),
    ``track`` (given ``(t, x, y)`` queries -> ``TrackResult``, the ``PointTracker``
    contract; the dense field of each query frame is sampled bilinearly) and
    ``track_reinit`` (sparse tracks restarted every K frames on uncovered cells).
    Each call computes its own initial tracks; ``prepare`` + ``field`` expose the steps.

    Args:
      refiner: ``DISRefiner`` / ``RAFTRefiner`` (see ``studio.dense.refiners``).
      boundary_flow: ``FlowModel`` for the motion boundaries used in sampling.
      initializer: point tracker for the initial tracks, or a registry name
        (built on first use with ``create_tracker``).
      num_tracks: number of initial tracks.
      round_size: initial tracks per tracker call (None = all at once).
      max_side: cap on the long side of the working resolution (None = input size).
      seed: sampling seed.
      name: registry name reported in results.
      device: passed to ``create_tracker`` when the initializer is a name.
      max_elements: distance-matrix cap for the interpolation.
      mask_tracks: with a mask, ``track_dense`` adds ``num_tracks // 2`` tracks inside it
        and drives the region only by tracks inside it (``restrict_to_mask``).
      drop_outliers: the dense field from a source frame leaves out initial tracks whose
        motion disagrees with their neighbours' (``drop_inconsistent``).
      redetect: with a mask, the region's tracks that the initializer lost are found again by
        appearance where the region is seen again (``studio.dense.redetect``), and tracks that
        slid off it are hidden.
    """

    def __init__(
        self,
        refiner,
        boundary_flow,
        initializer: PointTracker | str = "lk",
        num_tracks: int = 2048,
        round_size: int | None = None,
        max_side: int | None = 512,
        seed: int = 0,
        name: str = "dense",
        device=None,
        max_elements: int = MAX_ELEMENTS,
        mask_tracks: bool = True,
        drop_outliers: bool = True,
        redetect: bool = True,
    ):
        self.refiner = refiner
        self.boundary_flow = boundary_flow
        self._initializer = initializer
        self.num_tracks = int(num_tracks)
        self.round_size = round_size
        self.max_side = None if max_side is None else int(max_side)
        self.seed = int(seed)
        self.name = name
        self.device = device
        self.max_elements = int(max_elements)
        self.mask_tracks = bool(mask_tracks)
        self.drop_outliers = bool(drop_outliers)
        self.redetect = bool(redetect)
        self._check_options()

    def _check_options(self) -> None:
        # Options are plain attributes (the CLI sets them after building), so they are checked on use too.
        if int(self.num_tracks) < 1:
            raise InputError(f"num_tracks must be at least 1, got {self.num_tracks}")
        if self.max_side is not None and int(self.max_side) < MIN_SIDE:
            raise InputError(f"max_side must be at least {MIN_SIDE}, got {self.max_side}")

    # ------------------------------------------------------------------ building blocks

    @property
    def initializer(self) -> PointTracker:
        if isinstance(self._initializer, str):
            from studio.registry import create_tracker, tracker_info

            if tracker_info(self._initializer).kind != "point":
                raise InputError(f"initializer '{self._initializer}' is not a point tracker")
            self._initializer = create_tracker(self._initializer, device=self.device)
        return self._initializer

    @initializer.setter
    def initializer(self, value: PointTracker | str) -> None:
        self._initializer = value

    def working_video(self, video: np.ndarray) -> np.ndarray:
        """The video [T, h, w, 3] uint8 at the working resolution (``working_size``)."""
        video = check_video(video)
        self._check_options()
        size = working_size(video.shape[1:3], self.max_side, self.refiner.patch_size)
        if min(size) < MIN_SIDE:
            raise InputError(f"the video is too small for dense tracking: {size[1]}x{size[0]} at the working "
                             f"resolution, at least {MIN_SIDE} px a side are needed")
        return resize_video(video, size)

    def prepare(
        self, video: np.ndarray, progress: ProgressFn = no_progress, work: np.ndarray | None = None,
        regions: np.ndarray | None = None,
    ) -> _Prepared:
        """Resize to the working resolution and compute the initial tracks.

        Args:
          video: [T, H, W, 3] uint8 input video.
          progress: ``ProgressFn``.
          work: the video at the working resolution when already made (``working_video``).
          regions: optional [T, h, w] bool at the working resolution: the part of each frame the
            request needs; initial tracks are sampled only there (``sample_queries``).
        """
        t0 = time.perf_counter()
        video = check_video(video)
        work = self.working_video(video) if work is None else work
        init = initial_tracks(work, self.initializer, self.boundary_flow, self.num_tracks, self.round_size,
                              self.seed, progress, regions)
        return _Prepared(video.shape[1:3], work.shape[1:3], work, init, {"init_tracks": time.perf_counter() - t0})

    def needed_regions(self, tracks: np.ndarray, size: tuple[int, int], radius: float) -> np.ndarray | None:
        """``regions_around`` the given working-resolution tracks, or None when they would cover
        most of the frame anyway (sampling everywhere then costs little more)."""
        if tracks.shape[1] == 0:
            return None
        regions = regions_around(tracks, size, radius)
        return regions if regions.mean() < NEEDED_SHARE else None

    def field(self, prep: _Prepared, source: int, targets, progress: ProgressFn = no_progress):
        """Dense flow from ``source`` to each target at the working resolution.

        Yields ``(t, flow [h, w, 2] float32 working pixels, visible [h, w] bool)``;
        the source frame itself gives zero flow, all visible.
        """
        p = self.refiner.patch_size
        h, w = prep.work_size
        coarse = (h // p, w // p)
        tic = time.perf_counter()
        init = drop_inconsistent(prep.init, source) if self.drop_outliers else prep.init
        fwd = SparseToDense(init.tracks, init.visible, source, prep.work_size, coarse, self.max_elements)
        prep.timings["interpolation"] = prep.timings.get("interpolation", 0.0) + time.perf_counter() - tic
        targets = list(targets)
        for k, t in enumerate(targets):
            if t == source:
                yield t, np.zeros((h, w, 2), np.float32), np.ones((h, w), bool)
                continue
            tic = time.perf_counter()
            cflow, calpha = fwd.flow_to(t)
            backward = None
            if getattr(self.refiner, "uses_backward", False):
                bwd = SparseToDense(init.tracks, init.visible, t, prep.work_size, coarse, self.max_elements)
                backward = bwd.flow_to(source)
            toc = time.perf_counter()
            # Only a region's own tracks say that its surface is gone; a frame-wide set loses tracks at
            # the frame's edges as the camera moves, which says nothing about the pixels in view.
            kept = 1.0
            if prep.region and init.visible[source].any():
                kept = float(init.visible[t][init.visible[source]].mean())
            # Tracks found again by appearance were checked against a view of the region, not followed
            # frame to frame: the pixels they carry are not suspect like the few survivors of a lost region.
            trusted = None if init.refound is None else fwd.of_nearest(init.refound, t)
            flow, visible = self.refiner.refine(prep.work[source], prep.work[t], cflow, calpha, backward, kept,
                                                trusted)
            prep.timings["interpolation"] += toc - tic
            prep.timings["refinement"] = prep.timings.get("refinement", 0.0) + time.perf_counter() - toc
            progress((k + 1) / len(targets), f"dense flow {source} -> {t}")
            yield t, flow, visible

    # ------------------------------------------------------------------ mode 1: dense tracks

    def track_dense(
        self, video: np.ndarray, query_frame: int = 0, mask: np.ndarray | None = None,
        progress: ProgressFn | None = None, fps: float = 0.0,
    ) -> DenseResult:
        """Dense tracks from every pixel of ``query_frame`` to every frame.

        Args:
          video: [T, H, W, 3] uint8 RGB.
          query_frame: the frame the tracks start from.
          mask: optional [H, W] bool on the query frame; pixels outside it are still
            tracked (the refiners are dense anyway) but marked not visible in every frame.
          progress: optional ``ProgressFn``.
          fps: frame rate recorded in the result.

        Returns:
          ``DenseResult`` in input-video pixels (``tracks`` [T, H, W, 2], ``visible`` [T, H, W]).
        """
        progress = progress or no_progress
        video = check_video(video)
        t_len, h, w = video.shape[:3]
        if not isinstance(query_frame, (int, np.integer)) or not 0 <= query_frame < t_len:
            raise InputError(f"query frame {query_frame} is outside the video's frames 0..{t_len - 1}")
        mask = check_mask(mask, (h, w))
        tic = time.perf_counter()
        work = self.working_video(video)
        hw, ww = work.shape[1:3]
        work_mask, more, regions = None, None, None
        if mask is not None and self.mask_tracks:
            work_mask = cv2.resize(mask.astype(np.uint8), (ww, hw), interpolation=cv2.INTER_NEAREST) > 0
            if work_mask.any():
                # The region's own tracks first: where they go is where the rest are needed.
                more = mask_tracks(work, self.initializer, work_mask, int(query_frame), self.num_tracks // 2, self.seed)
                spacing = np.sqrt(work_mask.sum() / max(more.tracks.shape[1], 1))
                regions = self.needed_regions(more.tracks, (hw, ww), max(MASK_MARGIN, 2 * spacing))
        setup = time.perf_counter() - tic
        prep = self.prepare(video, lambda f, d: progress(0.4 * f, d), work, regions)
        prep.timings["init_tracks"] += setup
        if more is not None:
            prep.init = restrict_to_mask(prep.init, work, self.initializer, work_mask, int(query_frame),
                                         0, self.seed, more=more)
            prep.region = True
            if self.redetect:
                tic = time.perf_counter()
                # Shown at the end of the initial tracks' share of the bar; it can take seconds.
                prep.init, _ = redetect(prep.init, work, work_mask, int(query_frame),
                                        lambda f, d: progress(0.4, d))
                prep.timings["redetect"] = time.perf_counter() - tic
        tracks = np.empty((t_len, h, w, 2), np.float32)
        visible = np.empty((t_len, h, w), bool)
        grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=-1)
        scale = np.array([w / prep.work_size[1], h / prep.work_size[0]], np.float32)
        for t, flow, vis in self.field(prep, int(query_frame), range(t_len), lambda f, d: progress(0.4 + 0.6 * f, d)):
            if t == query_frame:
                tracks[t] = grid
                visible[t] = True
                continue
            if prep.work_size != (h, w):
                flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * scale
                vis = cv2.resize(vis.astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_LINEAR) > 127
            tracks[t] = grid + flow
            visible[t] = vis & inside_frame(tracks[t], (h, w))
        if mask is not None:
            visible[:, ~mask] = False
        progress(1.0, "done")
        return DenseResult(tracks, visible, int(query_frame), mask, (h, w), self.name, fps, dict(prep.timings))

    # ------------------------------------------------------------------ mode 2: given queries

    def _track(self, video: np.ndarray, queries: np.ndarray, progress: ProgressFn):
        """Tracks for queries: the dense field of each query frame, sampled bilinearly at the queries."""
        t_len, h, w = video.shape[:3]
        tic = time.perf_counter()
        work = self.working_video(video)
        hw, ww = work.shape[1:3]
        # Only the field around the queries is read: initial tracks are needed only near their paths.
        near = self.initializer.track(work, np.concatenate([queries[:, :1], rescale_pixels(queries[:, 1:], (h, w), (hw, ww))], 1))
        regions = self.needed_regions(near.tracks, (hw, ww), QUERY_MARGIN)
        setup = time.perf_counter() - tic
        prep = self.prepare(video, lambda f, d: progress(0.4 * f, d), work, regions)
        prep.timings["init_tracks"] += setup
        tracks = np.zeros((t_len, len(queries), 2), np.float32)
        visible = np.zeros((t_len, len(queries)), bool)
        frames = np.unique(queries[:, 0].astype(int))
        for i, s in enumerate(frames):
            rows = np.nonzero(queries[:, 0].astype(int) == s)[0]
            q_work = rescale_pixels(queries[rows, 1:], (h, w), (hw, ww))
            base, span = 0.4 + 0.6 * i / len(frames), 0.6 / len(frames)
            for t, flow, vis in self.field(prep, int(s), range(t_len), lambda f, d: progress(base + span * f, d)):
                d = _bilinear(flow, q_work)
                v = _bilinear(vis.astype(np.float32)[..., None], q_work)[:, 0] > 0.5
                xy = rescale_pixels(q_work + d, (hw, ww), (h, w))
                tracks[t, rows] = xy
                visible[t, rows] = v & inside_frame(xy, (h, w))
        return tracks, visible, None

    # ------------------------------------------------------------------ mode 3: re-initialised sparse tracks

    def track_reinit(
        self, video: np.ndarray, every: int = 20, cell_size: int = 4, progress: ProgressFn | None = None
    ) -> TrackResult:
        """Sparse tracks started on a cell grid every ``every`` frames, only on cells no earlier track covers.

        DOT's "every cell in every frame" mode: source frames ``0, every, 2*every, ...``;
        from each, one track per ``cell_size`` x ``cell_size`` working-resolution cell
        that no visible earlier track occupies in that frame; after each source frame
        the cells its new tracks visit (while visible) are marked as covered.

        Args:
          video: [T, H, W, 3] uint8 RGB.
          every: frames between source frames (>= 1).
          cell_size: cell side in working pixels (>= 1).
          progress: optional ``ProgressFn``.

        Returns:
          ``TrackResult`` in input pixels; ``queries`` holds each track's start ``(t, x, y)``.
        """
        progress = progress or no_progress
        video = check_video(video)
        if int(every) < 1 or int(cell_size) < 1:
            raise InputError(f"every and cell_size must be at least 1, got {every} and {cell_size}")
        every, cell_size = int(every), int(cell_size)
        t_len, h, w = video.shape[:3]
        prep = self.prepare(video, lambda f, d: progress(0.4 * f, d))
        hw, ww = prep.work_size
        ch, cw = -(-hw // cell_size), -(-ww // cell_size)
        visited = np.zeros((t_len, ch, cw), bool)
        cy, cx = np.mgrid[0:ch, 0:cw]
        # The pixel nearest each cell's centre.
        px = np.minimum(cx * cell_size + cell_size // 2, ww - 1)
        py = np.minimum(cy * cell_size + cell_size // 2, hw - 1)
        sources = list(range(0, t_len, every))
        all_tracks, all_vis, all_q = [], [], []
        for i, s in enumerate(sources):
            new = ~visited[s]
            sx, sy = px[new], py[new]
            if len(sx) == 0:
                continue
            tr = np.empty((t_len, len(sx), 2), np.float32)
            vi = np.empty((t_len, len(sx)), bool)
            start = np.stack([sx, sy], -1).astype(np.float32)
            base, span = 0.4 + 0.6 * i / len(sources), 0.6 / len(sources)
            for t, flow, vis in self.field(prep, s, range(t_len), lambda f, d: progress(base + span * f, d)):
                xy = start + flow[sy, sx]
                tr[t] = xy
                vi[t] = vis[sy, sx] & inside_frame(xy, (hw, ww))
            for t in range(t_len):
                ok = vi[t]
                gx = np.clip(((tr[t, ok, 0] + 0.5) // cell_size).astype(int), 0, cw - 1)
                gy = np.clip(((tr[t, ok, 1] + 0.5) // cell_size).astype(int), 0, ch - 1)
                visited[t, gy, gx] = True
            all_tracks.append(tr)
            all_vis.append(vi)
            all_q.append(np.concatenate([np.full((len(sx), 1), s, np.float32), start], 1))
        tracks = rescale_pixels(np.concatenate(all_tracks, 1), (hw, ww), (h, w))
        queries = np.concatenate(all_q, 0)
        queries[:, 1:] = rescale_pixels(queries[:, 1:], (hw, ww), (h, w))
        visible = np.concatenate(all_vis, 1)
        visible[queries[:, 0].astype(int), np.arange(len(queries))] = True
        progress(1.0, "done")
        return TrackResult(tracks, visible, queries, size=(h, w), model=self.name,
                           extras={"timings": dict(prep.timings)})


class _Prepared:
    """Working-resolution video and initial tracks shared by the modes."""

    def __init__(self, size, work_size, work: np.ndarray, init: InitialTracks, timings: dict):
        self.size = tuple(size)
        self.work_size = tuple(work_size)
        self.work = work
        self.init = init
        self.timings = timings
        self.region = False
        """True when ``init`` holds only a masked region's tracks (``restrict_to_mask``)."""


def _bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``image`` [H, W, C] sampled at ``xy`` [N, 2] pixels (border clamped) -> [N, C] float32."""
    n = len(xy)
    cols = 4096  # OpenCV maps must stay under 32767 on each side
    rows = max(1, -(-n // cols))
    pad = np.zeros((rows * cols, 2), np.float32)
    pad[:n] = xy
    mx = pad[:, 0].reshape(rows, cols)
    my = pad[:, 1].reshape(rows, cols)
    out = cv2.remap(np.ascontiguousarray(image, np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * cols, -1)[:n]
