"""Adapters from the studio contract to the CoTracker models.

Every conversion lives here: uint8 RGB -> float 0..255 at the model resolution
(bilinear, align-corners for v2/v3, half-pixel for v1, as the official predictors do),
query pixels -> model pixels and back with the official scale factors, the 6 x 6
support grid on frame 0 appended to the user's queries and stripped again, a second
pass on the time-reversed video for the frames before each query's frame, the query
frame itself set to the query, and the visibility rule of the variant.

Offline models see the whole video at once (image features are computed in chunks of
frames). Online models run in sliding windows of ``window_len`` frames that move by
half a window, so memory does not grow with the video; ``CoTrackerOnline`` also offers
a streaming API (``start`` / ``step`` / ``finish``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from studio.hub import load_strict, read_state_dict, strip_prefixes
from studio.progress import ProgressFn
from studio.results import check_stream_frames, check_stream_queries
from studio.trackers.base import PointTracker
from studio.trackers.cotracker.variants import MODEL_RESOLUTION, SUPPORT_GRID, VARIANTS, Variant

# Frames converted and resized per call, to bound the float copy of a large video.
RESIZE_CHUNK = 16
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


# ---------------------------------------------------------------------------------------------
# Building


def build_model(variant: Variant) -> torch.nn.Module:
    """An untrained network of the variant's architecture (weights come from ``load_strict``)."""
    if variant.version == 3:
        from studio.trackers.cotracker.cotracker3 import CoTracker3

        return CoTracker3(window_len=variant.window_len, model_resolution=MODEL_RESOLUTION)
    if variant.version == 2:
        from studio.trackers.cotracker.cotracker2 import CoTracker2

        return CoTracker2(window_len=variant.window_len, model_resolution=MODEL_RESOLUTION)
    if variant.version == 1:
        from studio.trackers.cotracker.cotracker1 import CoTracker1

        return CoTracker1(window_len=variant.window_len)
    raise ValueError(f"unknown CoTracker version {variant.version}")


def build_tracker(name: str, device, checkpoint: str | Path | None, **options) -> CoTrackerOffline:
    """Build the adapter of registry variant ``name`` with weights from ``checkpoint``.

    Args:
      name: a key of ``VARIANTS``.
      device: ``torch.device`` (``create_tracker`` picks it with ``studio.device.pick_device``).
      checkpoint: path of an official-layout file; None leaves random weights (tests, benchmarks).
      **options: passed to the adapter (``threshold``, ``use_confidence``, ``autocast``, ...).

    Raises:
      CheckpointMismatch: the file does not fit (names the keys).
    """
    variant = VARIANTS[name]
    model = build_model(variant)
    if checkpoint is not None:
        load_strict(model, read_state_dict(checkpoint), key_filter=strip_prefixes(variant.key_prefixes),
                    source=Path(checkpoint).name)
    cls = CoTrackerOnline if variant.online else CoTrackerOffline
    return cls(model, variant, device=device, **options)


# ---------------------------------------------------------------------------------------------
# Coordinates


def support_grid(variant: Variant, resolution: tuple[int, int], device) -> torch.Tensor:
    """The 6 x 6 support queries on frame 0, [36, 3] ``(t, x, y)`` model pixels, row-major.

    They sit on a regular grid with a margin of ``W_model / 64`` pixels on every side.
    """
    h, w = resolution
    n = SUPPORT_GRID
    margin = w / 64
    if variant.version == 1:
        # v1 builds the grid from an integer margin and integer steps; kept for bit-level agreement.
        margin = w // 64
        steps = torch.linspace(0, n - 1, n, device=device) / float(n - 1)
        ys, xs = margin + steps * (h - 2 * margin), margin + steps * (w - 2 * margin)
    else:
        ys = torch.linspace(margin, h - margin, n, device=device)
        xs = torch.linspace(margin, w - margin, n, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([torch.zeros_like(gx), gx, gy], dim=-1).reshape(-1, 3)


def to_model_scale(
    variant: Variant, size: tuple[int, int], resolution: tuple[int, int] = MODEL_RESOLUTION
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Scale factors ``(sx, sy)`` input -> model pixels and model -> input pixels.

    v2/v3 map pixel centre 0 to 0 and ``W-1`` to ``W_model-1`` (align-corners), which is
    the studio's integer-at-centre convention under an align-corners resize. v1 scales
    by ``W_model / W`` (its official predictor).
    """
    h, w = size
    hm, wm = resolution
    if variant.align_corners:
        return ((wm - 1) / max(w - 1, 1), (hm - 1) / max(h - 1, 1)), ((w - 1) / (wm - 1), (h - 1) / (hm - 1))
    return (wm / w, hm / h), (w / wm, h / hm)


# ---------------------------------------------------------------------------------------------
# Adapters


class CoTrackerOffline(PointTracker):
    """A CoTracker model behind the studio's ``PointTracker`` contract.

    Args:
      model: the network (weights loaded).
      variant: its ``Variant``.
      device: where it runs.
      threshold: visibility threshold on the score (default: the variant's official one).
      use_confidence: score = vis * conf instead of vis (CoTracker3 only; default per variant).
      backward_tracking: run the time-reversed pass for frames before each query's frame.
      support_grid: append the official 6 x 6 support queries on frame 0.
      iters: update iterations per window (6 in the official predictors).
      encoder_chunk: frames per image-encoder call.
      autocast: None, ``"bf16"`` or ``"fp16"``; mixed precision on CUDA only (ignored elsewhere).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        variant: Variant,
        device=None,
        threshold: float | None = None,
        use_confidence: bool | None = None,
        backward_tracking: bool = True,
        support_grid: bool = True,
        iters: int = 6,
        encoder_chunk: int = 8,
        autocast: str | None = None,
    ):
        if autocast is not None and autocast not in _AUTOCAST:
            raise ValueError(f"autocast must be None, 'bf16' or 'fp16', got {autocast!r}")
        self.name = variant.name
        self.variant = variant
        self.device = torch.device(device if device is not None else "cpu")
        self.model = model.to(self.device).eval().requires_grad_(False)
        # Released weights all work at 384 x 512; tests build smaller models.
        self.resolution = tuple(getattr(model, "model_resolution", MODEL_RESOLUTION))
        self.threshold = variant.threshold if threshold is None else float(threshold)
        self.use_confidence = variant.use_confidence if use_confidence is None else bool(use_confidence)
        if self.use_confidence and variant.version < 3:
            raise ValueError(f"{variant.name} predicts no confidence; use_confidence needs CoTracker3")
        self.backward_tracking = bool(backward_tracking)
        self.support_grid = bool(support_grid)
        self.iters = int(iters)
        self.encoder_chunk = int(encoder_chunk)
        self.autocast = autocast

    # -- helpers ---------------------------------------------------------------------------

    def _context(self):
        if self.autocast and self.device.type == "cuda":
            return torch.autocast(device_type="cuda", dtype=_AUTOCAST[self.autocast])
        return contextlib.nullcontext()

    def resize(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 [F, H, W, 3] -> float [F, 3, H_model, W_model] values 0..255 on the device."""
        out = []
        for i in range(0, frames.shape[0], RESIZE_CHUNK):
            x = torch.from_numpy(np.ascontiguousarray(frames[i : i + RESIZE_CHUNK])).to(self.device)
            x = x.permute(0, 3, 1, 2).float()
            if self.variant.align_corners:
                x = F.interpolate(x, self.resolution, mode="bilinear", align_corners=True)
            else:
                x = F.interpolate(x, self.resolution, mode="bilinear")
            out.append(x)
        return torch.cat(out, dim=0)

    def model_queries(self, queries: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
        """Studio queries [N, 3] -> model queries [N (+36), 3] ``(t, x, y)`` on the device."""
        (sx, sy), _ = to_model_scale(self.variant, size, self.resolution)
        q = torch.from_numpy(np.asarray(queries, np.float32)).to(self.device).clone()
        q[:, 1:] *= q.new_tensor([sx, sy])
        if self.support_grid:
            q = torch.cat([q, support_grid(self.variant, self.resolution, self.device)], dim=0)
        return q

    def finalize(
        self, coords: torch.Tensor, vis: torch.Tensor, conf: torch.Tensor | None, queries: np.ndarray,
        size: tuple[int, int],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Model outputs (support points included) -> studio arrays.

        Args:
          coords: [T, N', 2] model pixels; vis, conf: [T, N'] probabilities.
          queries: [N, 3] the user's queries in input pixels.
          size: ``(H, W)`` of the input video.

        Returns:
          tracks [T, N, 2] float32 input pixels, visible [T, N] bool, confidence [T, N] or None.
        """
        n = queries.shape[0]
        coords, vis = coords[:, :n].float(), vis[:, :n].float()
        conf = None if conf is None else conf[:, :n].float()
        score = vis * conf if (self.use_confidence and conf is not None) else vis
        visible = score > self.threshold
        _, (bx, by) = to_model_scale(self.variant, size, self.resolution)
        tracks = (coords * coords.new_tensor([bx, by])).cpu().numpy()
        visible = visible.cpu().numpy()
        confidence = None if conf is None else conf.cpu().numpy()
        # The official predictors put each query exactly where it was given, visible.
        rows = np.arange(n)
        frames = queries[:, 0].astype(int)
        tracks[frames, rows] = queries[:, 1:]
        visible[frames, rows] = True
        return tracks.astype(np.float32), visible, confidence

    # -- tracking --------------------------------------------------------------------------

    def _pass(self, video: np.ndarray, queries: torch.Tensor, progress: ProgressFn):
        """One forward-in-time pass: (coords [T, N', 2], vis [T, N'], conf [T, N'] | None)."""
        frames = self.resize(video)
        progress(0.0, "tracking")
        out = self.model.forward_offline(frames, queries, iters=self.iters, encoder_chunk=self.encoder_chunk)
        progress(1.0, "tracking")
        return out

    @torch.inference_mode()
    def _track(self, video: np.ndarray, queries: np.ndarray, progress: ProgressFn):
        t_len = video.shape[0]
        size = video.shape[1:3]
        if t_len == 1:
            # Nothing to track: every point is its own query.
            conf = np.ones((1, len(queries)), np.float32) if self.variant.version == 3 else None
            return queries[None, :, 1:].copy(), np.ones((1, len(queries)), bool), conf
        q = self.model_queries(queries, size)
        need_backward = self.backward_tracking and bool((queries[:, 0] > 0).any())
        share = 0.5 if need_backward else 1.0
        with self._context():
            coords, vis, conf = self._pass(video, q, lambda f, d: progress(share * f, d))
            if need_backward:
                qb = q.clone()
                qb[:, 0] = t_len - 1 - qb[:, 0]

                def back(f: float, d: str) -> None:
                    progress(0.5 + 0.5 * f, d + " backwards")

                b_coords, b_vis, b_conf = self._pass(video[::-1], qb, back)
                before = torch.arange(t_len, device=q.device)[:, None] < q[None, :, 0]
                coords = torch.where(before[..., None], b_coords.flip(0), coords)
                vis = torch.where(before, b_vis.flip(0), vis)
                if conf is not None:
                    conf = torch.where(before, b_conf.flip(0), conf)
        progress(1.0, "done")
        return self.finalize(coords, vis, conf, queries, size)


class CoTrackerOnline(CoTrackerOffline):
    """An online CoTracker: sliding windows, plus a streaming API.

    ``track`` runs the windows over the whole video (and a time-reversed pass for the
    frames before each query's frame). For live input use::

        tracker.start(queries, (H, W))
        for frames in source:
            tracks, visible = tracker.step(frames)   # frames seen so far
        tracks, visible = tracker.finish()

    In streaming mode nothing is known about frames before a query's frame, so there
    the point is reported at its query position and not visible. The last half window
    of what ``step`` returns is provisional: the next window refines it.
    """

    def _new_run(self, queries_model: torch.Tensor) -> _OnlineRun:
        return _OnlineRun(self, queries_model)

    def _pass(self, video: np.ndarray, queries: torch.Tensor, progress: ProgressFn):
        run = self._new_run(queries)
        t_len = video.shape[0]
        step = self.variant.window_len // 2
        windows = max(1, len(range(0, max(t_len - step, 1), step)))
        for i in range(0, t_len, step):
            run.push(self.resize(video[i : i + step]))
            progress(min(run.windows_done / windows, 1.0), "tracking")
        run.finish()
        return run.outputs()

    # -- streaming -------------------------------------------------------------------------

    def start(self, queries: np.ndarray, size: tuple[int, int]) -> None:
        """Begin a stream of frames of ``size = (H, W)`` with ``queries`` [N, 3] ``(t, x, y)`` input pixels.

        Query frames may lie in the future; those points join when their frame arrives.
        """
        h, w = int(size[0]), int(size[1])
        q = check_stream_queries(queries, (h, w))
        self._stream = {"queries": q, "size": (h, w), "frames": 0}
        with torch.inference_mode():
            self._stream["run"] = self._new_run(self.model_queries(q, (h, w)))

    def step(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed the next frames of the stream.

        Args:
          frames: uint8 [F, H, W, 3] (F >= 1), the frames after those already given.

        Returns:
          tracks [T_done, N, 2] float32 input pixels and visible [T_done, N] bool for the
          frames processed so far (complete windows only; see ``finish``).
        """
        s = getattr(self, "_stream", None)
        if s is None:
            raise RuntimeError("call start(queries, size) before step(frames)")
        frames = check_stream_frames(frames, s["size"])
        with torch.inference_mode(), self._context():
            s["run"].push(self.resize(frames))
        s["frames"] += frames.shape[0]
        return self._stream_result()[:2]

    @property
    def settled_frames(self) -> int:
        """Frames of the running stream whose results no longer change: those before the next
        window's first frame (a window rewrites the second half of the previous one)."""
        s = getattr(self, "_stream", None)
        if s is None:
            return 0
        run = s["run"]
        return s["frames"] if run.finished else min(int(run.state.ind), s["frames"])

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Process what is left of the stream; returns tracks and visible for every frame given."""
        s = getattr(self, "_stream", None)
        if s is None:
            raise RuntimeError("call start(queries, size) before finish()")
        with torch.inference_mode(), self._context():
            s["run"].finish()
        return self._stream_result()[:2]

    def _stream_result(self):
        s = self._stream
        coords, vis, conf = s["run"].outputs()
        q = s["queries"]
        t_done = coords.shape[0]
        if t_done == 0:
            n = len(q)
            return np.zeros((0, n, 2), np.float32), np.zeros((0, n), bool), None
        # Only points whose query frame has been reached can be corrected and reported.
        reached = q[:, 0] < t_done
        safe_q = q.copy()
        safe_q[~reached, 0] = 0
        tracks, visible, confidence = self.finalize(coords, vis, conf, safe_q, s["size"])
        before = np.arange(t_done)[:, None] < q[None, :, 0]
        tracks[before] = np.broadcast_to(q[None, :, 1:], tracks.shape)[before]
        visible[before] = False
        if confidence is not None:
            confidence[before] = 0.0
        return tracks, visible, confidence


class _OnlineRun:
    """Sliding windows over a stream of model-resolution frames.

    Windows start every ``window_len // 2`` frames. The image features of a window's
    second half are kept for the next window, so each frame is encoded once. A window
    is processed once all its frames have arrived; ``finish`` processes the last,
    shorter one (padded by repeating its last frame, as the official model does).
    """

    def __init__(self, adapter: CoTrackerOffline, queries: torch.Tensor):
        self.adapter = adapter
        self.model = adapter.model
        self.size = adapter.variant.window_len
        self.step = self.size // 2
        self.state = self.model.start_online(queries)
        self.cache: list[torch.Tensor] | None = None  # features of frames [ind, ind + cached)
        self.pending: list[torch.Tensor] = []  # resized frames after the cached ones
        self.received = 0
        self.windows_done = 0
        self.finished = False

    def _cached(self) -> int:
        return 0 if self.cache is None else self.cache[0].shape[0]

    def _pending(self) -> int:
        return sum(p.shape[0] for p in self.pending)

    def push(self, frames: torch.Tensor) -> None:
        """Add [F, 3, H, W] model-resolution frames and process every window they complete."""
        if frames.shape[0]:
            self.pending.append(frames)
            self.received += frames.shape[0]
        while self._cached() + self._pending() >= self.size:
            self._window()

    def finish(self) -> None:
        """Process the remaining windows (the official loop runs windows while ``ind < T - step``)."""
        total = self.received
        self.finished = True
        if total == 0:
            return
        while self.state.ind < max(total - self.step, 1) and self._cached() + self._pending() > 0:
            self._window()

    def _window(self) -> None:
        take = min(self.size - self._cached(), self._pending())
        frames = torch.cat(self.pending, dim=0) if self.pending else None
        new, rest = frames[:take], frames[take:]
        self.pending = [rest] if rest.shape[0] else []
        feats = self.model.features(new, self.adapter.encoder_chunk)
        if self.cache is not None:
            feats = [torch.cat([c, f], dim=0) for c, f in zip(self.cache, feats)]
        n_real = feats[0].shape[0]
        padded = [torch.cat([f, f[-1:].expand(self.size - n_real, *f.shape[1:])], dim=0) for f in feats]
        self.model.online_window(self.state, padded, n_real, iters=self.adapter.iters)
        self.cache = [f[self.step : n_real] for f in feats]
        if self.cache[0].shape[0] == 0:
            self.cache = None
        self.windows_done += 1

    def outputs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(coords [T_done, N', 2] model pixels, vis, conf | None probabilities)."""
        st = self.state
        conf = None if st.conf is None else torch.sigmoid(st.conf)
        return st.coords, torch.sigmoid(st.vis), conf
