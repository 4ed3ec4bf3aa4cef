"""The TAPIR family behind the studio's ``PointTracker`` contract.

Every conversion lives here:

* frames: uint8 RGB -> the working resolution (256 x 256 by default, the whole frame, aspect
  ratio not kept, Lanczos as the official demos' ``mediapy.resize_video``) -> float in [-1, 1];
* queries: studio ``(t, x, y)`` pixels of the input video, integer = pixel centre -> the
  network's raster pixels of the working frames, where pixel ``i`` spans ``[i, i + 1)``:
  ``x_raster = (x + 0.5) * W_work / W``; tracks back with the inverse;
* visibility: ``confidence = (1 - sigmoid(occlusion)) * (1 - sigmoid(expected_dist))``,
  visible where it exceeds 0.5 (the official rule), returned as ``TrackResult.confidence``.

``TapirTracker`` runs the offline models on the whole clip at once: every query is tracked
before and after its frame in one pass. ``TapirOnline`` runs the causal model frame by frame
and offers a streaming API; its ``track`` is exactly a stream over the clip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from studio.hub import load_strict, read_state_dict
from studio.progress import ProgressFn
from studio.results import check_stream_frames, check_stream_queries
from studio.trackers.base import PointTracker
from studio.trackers.tapir.model import Estimate, TapirNet, refinement_resolutions
from studio.trackers.tapir.variants import MODEL_RESOLUTION, VARIANTS, Variant

VISIBLE_ABOVE = 0.5
"""The official threshold on the confidence product."""


def build_model(variant: Variant, **kwargs) -> TapirNet:
    """An untrained network of the variant's architecture (weights come from ``load_strict``)."""
    return TapirNet(
        pyramid_level=variant.pyramid_level,
        extra_convs=variant.extra_convs,
        causal=variant.causal,
        softmax_temperature=variant.softmax_temperature,
        **kwargs,
    )


def build_tracker(name: str, device, checkpoint: str | Path | None, **options) -> TapirTracker:
    """The adapter of registry variant ``name`` with weights from ``checkpoint``.

    Args:
      name: a key of ``VARIANTS``.
      device: ``torch.device`` (``create_tracker`` picks it with ``studio.device.pick_device``).
      checkpoint: an official-layout file (a raw state dict); None leaves random weights (benchmarks).
      **options: passed to the adapter (``resolution``, ``threshold``).

    Raises:
      CheckpointMismatch: the file does not fit; the message names the keys.
    """
    variant = VARIANTS[name]
    model = build_model(variant)
    if checkpoint is not None:
        load_strict(model, read_state_dict(checkpoint), source=Path(checkpoint).name)
    cls = TapirOnline if variant.causal else TapirTracker
    return cls(model, variant, device=device, **options)


def check_resolution(resolution, minimum: tuple[int, int] = MODEL_RESOLUTION) -> tuple[int, int]:
    """A working resolution: ``(H, W)``, one number for a square, or ``"HxW"``; whole multiples of 8,
    at least the training size ``minimum``. Returns ``(H, W)``."""
    value = resolution
    if isinstance(value, str):  # "512" or "384x512", as the command line's --option gives it
        parts = value.lower().split("x")
        value = parts * 2 if len(parts) == 1 else parts
    elif isinstance(value, (int, np.integer)):
        value = (value, value)
    try:
        h, w = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"resolution must be (height, width), one number or 'HxW', got {resolution!r}") from None
    if h % 8 or w % 8 or h < minimum[0] or w < minimum[1]:
        raise ValueError(f"resolution must be multiples of 8 and at least {tuple(minimum)}, got {(h, w)}")
    return h, w


def resize_video(video: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 [T, H, W, 3] -> uint8 [T, *size, 3], Lanczos per frame (PIL), unchanged when already that size."""
    if tuple(video.shape[1:3]) == tuple(size):
        return video
    return np.stack([np.asarray(Image.fromarray(f).resize(size[::-1], Image.Resampling.LANCZOS)) for f in video])


class TapirTracker(PointTracker):
    """An offline TAPIR-family model behind the studio's contract.

    Args:
      model: the network (weights loaded).
      variant: its ``Variant``.
      device: where it runs.
      resolution: working resolution the clip is resized to: ``(H, W)``, one number for a
        square or ``"HxW"`` (``check_resolution``). The default (None) is the network's initial
        resolution, 256 x 256 for the released models: the training size and what the official
        demos use. Larger sizes (multiples of 8) add refinement passes at log-spaced sizes up to
        it (``refinement_resolutions``) and average them, which upstream recommends for accuracy
        (512 x 512 for BootsTAPIR); memory and time grow with the area (every frame is encoded at
        every refinement size).
      threshold: visibility threshold on the confidence (default 0.5, the official rule).
    """

    def __init__(self, model: TapirNet, variant: Variant, device=None, resolution=None,
                 threshold: float = VISIBLE_ABOVE):
        self.name = variant.name
        self.variant = variant
        self.device = torch.device(device if device is not None else "cpu")
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.resolution = model.initial_resolution if resolution is None else resolution
        self.threshold = float(threshold)

    @property
    def resolution(self) -> tuple[int, int]:
        return self._resolution

    @resolution.setter
    def resolution(self, value) -> None:
        self._resolution = check_resolution(value, self.model.initial_resolution)

    @property
    def refinement_resolutions(self) -> list[tuple[int, int]]:
        """Sizes refinement runs at for the current working resolution."""
        return refinement_resolutions(self.resolution, self.model.initial_resolution)

    # -- conversions ------------------------------------------------------------------------

    def model_frames(self, video: np.ndarray) -> torch.Tensor:
        """uint8 [T, H, W, 3] -> float32 [T, H_work, W_work, 3] in [-1, 1] on the device."""
        frames = torch.from_numpy(np.ascontiguousarray(resize_video(video, self.resolution))).to(self.device)
        return frames.float() / 255 * 2 - 1

    def to_raster(self, xy: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Studio pixels ``(x, y)`` of a ``size`` video -> raster pixels of the working frames."""
        h, w = size
        hw, ww = self.resolution
        return ((np.asarray(xy, np.float64) + 0.5) * [ww / w, hw / h]).astype(np.float32)

    def from_raster(self, xy: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Raster pixels of the working frames -> studio pixels of a ``size`` video (inverse of ``to_raster``)."""
        h, w = size
        hw, ww = self.resolution
        return (np.asarray(xy, np.float64) * [w / ww, h / hw] - 0.5).astype(np.float32)

    def model_queries(self, queries: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
        """Studio queries [N, 3] -> the network's [N, 3] ``(t, x, y)`` raster queries on the device."""
        q = np.asarray(queries, np.float32).copy()
        q[:, 1:] = self.to_raster(q[:, 1:], size)
        return torch.from_numpy(q).to(self.device)

    def outputs(self, est: Estimate, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Network estimate [N, T] -> studio tracks [T, N, 2], visible [T, N], confidence [T, N]."""
        conf = (1 - torch.sigmoid(est.occlusion)) * (1 - torch.sigmoid(est.expected_dist))
        tracks = self.from_raster(est.tracks.transpose(0, 1).float().cpu().numpy(), size)
        conf = conf.transpose(0, 1).float().cpu().numpy()
        return tracks, conf > self.threshold, conf

    # -- tracking --------------------------------------------------------------------------

    @torch.inference_mode()
    def _track(self, video: np.ndarray, queries: np.ndarray, progress: ProgressFn):
        size = video.shape[1:3]
        frames = self.model_frames(video)
        progress(0.05, "tracking")
        est = self.model.track(frames, self.model_queries(queries, size),
                               progress=lambda f: progress(0.05 + 0.95 * f, "tracking"))
        progress(1.0, "done")
        return self.outputs(est, size)


class TapirOnline(TapirTracker):
    """The causal (online) BootsTAPIR: frame by frame, with a streaming API.

    Each point is tracked from its query frame on: its features are taken from that frame
    when it arrives and its temporal history starts empty there (as upstream's live demo
    adds points). Before its query frame a point is reported at its query position and not
    visible (nothing is known there yet). ``track`` is exactly a stream over the clip::

        tracker.start(queries, (H, W))       # queries (t, x, y) in input pixels; t may lie ahead
        for frames in source:                # uint8 [F, H, W, 3], F >= 1
            tracks, visible = tracker.step(frames)   # every frame so far; final at once
        tracks, visible = tracker.finish()

    Memory does not grow with the clip beyond the outputs: one frame is encoded at a time.
    """

    step_frames = 8
    """Frames ``track`` feeds per step (for progress reports; the result does not depend on it)."""

    @torch.inference_mode()
    def _track(self, video: np.ndarray, queries: np.ndarray, progress: ProgressFn):
        stream = _Stream(self, queries, video.shape[1:3])
        t_len = video.shape[0]
        for i in range(0, t_len, self.step_frames):
            stream.push(video[i : i + self.step_frames])
            progress(min(i + self.step_frames, t_len) / t_len, "tracking")
        return stream.result()

    # -- streaming -------------------------------------------------------------------------

    def start(self, queries: np.ndarray, size: tuple[int, int]) -> None:
        """Begin a stream of frames of ``size = (H, W)`` with ``queries`` [N, 3] ``(t, x, y)`` input pixels.

        Query frames may lie in the future; those points join when their frame arrives.
        """
        self._stream = _Stream(self, check_stream_queries(queries, size), size)

    def step(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed the next frames of the stream.

        Args:
          frames: uint8 [F, H, W, 3] (F >= 1), the frames after those already given.

        Returns:
          tracks [T_done, N, 2] float32 input pixels and visible [T_done, N] bool for every
          frame given so far (each frame is final as soon as it is processed).
        """
        stream = getattr(self, "_stream", None)
        if stream is None:
            raise RuntimeError("call start(queries, size) before step(frames)")
        frames = check_stream_frames(frames, stream.size)
        with torch.inference_mode():
            stream.push(frames)
        return stream.result()[:2]

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Tracks and visibility for every frame given (nothing is pending in this model)."""
        if getattr(self, "_stream", None) is None:
            raise RuntimeError("call start(queries, size) before finish()")
        return self._stream.result()[:2]


class _Stream:
    """One stream of frames through a ``TapirOnline``: the network state and the outputs so far."""

    def __init__(self, adapter: TapirOnline, queries: np.ndarray, size: tuple[int, int]):
        self.adapter = adapter
        self.queries = np.asarray(queries, np.float32)
        self.size = (int(size[0]), int(size[1]))
        self.raster = torch.from_numpy(adapter.to_raster(self.queries[:, 1:], self.size)).to(adapter.device)
        self.state = adapter.model.start_stream(len(self.queries), adapter.resolution, adapter.device)
        self.tracks: list[np.ndarray] = []
        self.confidence: list[np.ndarray] = []

    def push(self, frames: np.ndarray) -> None:
        """Track the points through uint8 [F, H, W, 3] frames, one after the other."""
        a = self.adapter
        x = a.model_frames(frames)
        for i in range(x.shape[0]):
            new = torch.from_numpy(self.queries[:, 0] == len(self.tracks)).to(a.device)
            tracks, _, conf = a.outputs(a.model.stream_step(x[i : i + 1], self.state, new, self.raster), self.size)
            self.tracks.append(tracks[0])
            self.confidence.append(conf[0])

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """tracks [T_done, N, 2], visible [T_done, N], confidence [T_done, N] in the studio's terms."""
        q = self.queries
        n = len(q)
        if not self.tracks:
            return np.zeros((0, n, 2), np.float32), np.zeros((0, n), bool), np.zeros((0, n), np.float32)
        tracks = np.stack(self.tracks)
        conf = np.stack(self.confidence)
        visible = conf > self.adapter.threshold
        frame = np.arange(len(tracks))[:, None]
        # Before its query frame a point is unknown: its query position, not visible.
        before = frame < q[None, :, 0]
        tracks[before] = np.broadcast_to(q[None, :, 1:], tracks.shape)[before]
        conf[before] = 0.0
        visible[before] = False
        # On its query frame it is where it was given, visible (as every studio tracker reports).
        on = frame == q[None, :, 0]
        tracks[on] = np.broadcast_to(q[None, :, 1:], tracks.shape)[on]
        visible[on] = True
        return tracks, visible, conf
