"""GMRW behind the studio's ``PointTracker`` contract, and the registry's builder.

Conversions owned here:

* video: uint8 [T, H, W, 3] -> float 0..255 frames at the working size (256 x 256 like
  upstream's TAP-Vid evaluation; resized with antialiasing when shrinking), then
  upsampled by the factor (bilinear, align-corners, as upstream) for the network only;
  flows and tracks stay at the working size;
* queries: studio pixels ``(t, x, y)`` of the input -> working pixels (the image area
  scales, ``studio.conventions.rescale_pixels``) -> upstream's raster, where the flow-map
  pixel ``i`` sits at ``i`` but TAP-Vid points are scaled without the half-pixel shift, so
  a studio pixel centre ``x`` is ``x + 0.5`` there; tracks come back the same way (``- 0.5``).

Speed: the transformer is symmetric (features of A attending to B come out the same
whichever frame is listed first) and the CNN sees one frame at a time, so each frame is
encoded once and each pair goes through the transformer once; the backward flow is the
same pair's affinity normalised over the other frame. Upstream encodes four frames and
runs the transformer twice per pair; the results agree to float rounding.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from studio.conventions import rescale_pixels
from studio.hub import load_strict, read_state_dict, strip_prefixes
from studio.progress import ProgressFn
from studio.results import InputError
from studio.trackers.base import PointTracker
from studio.trackers.gmrw.matching import affinity_flow
from studio.trackers.gmrw.model import GMRW, MULTIPLE
from studio.trackers.gmrw.tracking import chain_tracks, visibility
from studio.trackers.gmrw.variants import (
    CONFIGS,
    FB_THRESHOLD,
    FLOW_METHODS,
    UPSAMPLE_FACTORS,
    WORKING_SIZE,
    GmrwConfig,
)

CHECKPOINT_GLOBALS = (argparse.Namespace,)
"""The only Python object the official files hold besides tensors and plain containers: the
training arguments (``{"model", "optimizer", "epoch", "args": Namespace, "global_step"}``)."""


def read_checkpoint(path: str | Path) -> dict:
    """The state dict of an official GMRW file (or a bare state dict), DDP's ``module.`` prefix removed.

    Loaded with ``torch.load(weights_only=True)``; only ``argparse.Namespace`` is allowed
    besides tensors, so no other object in the file can be built, let alone run.
    """
    sd = read_state_dict(path, unwrap=("model",), allowed_globals=CHECKPOINT_GLOBALS)
    return strip_prefixes(("module.",))(sd)


def default_upsample(device) -> int:
    """x2 on CUDA (upstream's standard evaluation), x1 elsewhere (x2 costs about 16 times as much)."""
    return 2 if torch.device(device).type == "cuda" else 1


def build_tracker(name: str, device, checkpoint: str | Path | None, **options) -> GMRWTracker:
    """Registry builder: the tracker of ``name`` with weights from ``checkpoint``.

    Args:
      name: ``"gmrw"`` or ``"gmrw_kinetics"``.
      device: ``torch.device`` (``create_tracker`` picks it).
      checkpoint: an official file; None keeps random weights (tests, benchmarks).
      **options: passed to ``GMRWTracker``.

    Raises:
      CheckpointMismatch: the file does not fit the model (names the keys), or holds
        objects other than weights.
    """
    model = GMRW()
    if checkpoint is not None:
        load_strict(model, read_checkpoint(checkpoint), source=Path(checkpoint).name)
    return GMRWTracker(model, CONFIGS[name], device=device, **options)


class GMRWTracker(PointTracker):
    """Point tracking with GMRW's frame-pair flows.

    Args:
      model: the ``GMRW`` network (weights loaded).
      config: the checkpoint's ``GmrwConfig`` (name, flow method).
      device: where it runs (None = CPU).
      upsample: 1, 2 or 4: the network sees frames this many times larger (more accurate;
        the affinity has (factor^2 * cells)^2 entries, so time grows with the 4th power).
        None: 2 on CUDA (upstream's standard evaluation), 1 elsewhere.
      flow_method: ``"weighted_sum"``, ``"weighted_argmax"`` or ``"argmax"``; None = the
        method the checkpoint was trained with.
      window: radius in feature cells for ``"weighted_argmax"``; None = the checkpoint's.
      size: ``(H, W)`` working size, or one number for a square, multiples of 8 (default 256 x 256).
      threshold: forward-backward limit in working pixels (upstream: 3).
    """

    def __init__(
        self,
        model: GMRW,
        config: GmrwConfig,
        device=None,
        upsample: int | None = None,
        flow_method: str | None = None,
        window: float | None = None,
        size: tuple[int, int] | int = WORKING_SIZE,
        threshold: float = FB_THRESHOLD,
    ):
        self.name = config.name
        self.config = config
        self.device = torch.device(device if device is not None else "cpu")
        self.model = model.to(self.device).eval().requires_grad_(False)
        if upsample is None:
            upsample = default_upsample(self.device)
        if upsample not in UPSAMPLE_FACTORS:
            raise ValueError(f"upsample must be one of {UPSAMPLE_FACTORS}, got {upsample!r}")
        self.upsample = int(upsample)
        self.flow_method = flow_method or config.flow_method
        if self.flow_method not in FLOW_METHODS:
            raise ValueError(f"flow_method must be one of {FLOW_METHODS}, got {self.flow_method!r}")
        self.window = window if window is not None else config.window
        if self.flow_method == "weighted_argmax" and self.window is None:
            raise ValueError("flow_method 'weighted_argmax' needs a window (feature cells)")
        size = (int(size), int(size)) if isinstance(size, (int, float)) else (int(size[0]), int(size[1]))
        if size[0] % MULTIPLE or size[1] % MULTIPLE or min(size) < 2 * MULTIPLE:
            raise ValueError(f"working size must be multiples of {MULTIPLE}, at least {2 * MULTIPLE}, got {size}")
        self.size = size
        self.threshold = float(threshold)

    # -- frames and flows ------------------------------------------------------------------

    def to_working(self, video: np.ndarray) -> torch.Tensor:
        """uint8 [T, H, W, 3] -> float [T, 3, h, w] values 0..255 at the working size, on the device."""
        x = torch.from_numpy(np.ascontiguousarray(video)).to(self.device).permute(0, 3, 1, 2).float()
        if tuple(x.shape[-2:]) == self.size:
            return x
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)

    def _network_input(self, frame: torch.Tensor) -> torch.Tensor:
        if self.upsample == 1:
            return frame[None]
        big = (self.size[0] * self.upsample, self.size[1] * self.upsample)
        return F.interpolate(frame[None], size=big, mode="bilinear", align_corners=True)

    @torch.inference_mode()
    def pair_flows(self, feat_a: torch.Tensor, feat_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward (A -> B) and backward (B -> A) flows [2, h, w] at the working size from encoded frames."""
        a, b = self.model.match(feat_a, feat_b)
        kw = {"size": self.size, "method": self.flow_method, "window": self.window}
        return affinity_flow(a[0], b[0], **kw), affinity_flow(b[0], a[0], **kw)

    @torch.inference_mode()
    def flows(self, frames: torch.Tensor, progress: ProgressFn | None = None) -> tuple[list, list]:
        """All consecutive-pair flows of working-size frames.

        Args:
          frames: [T, 3, h, w] float 0..255 (``to_working``).

        Returns:
          (forward, backward): T-1 tensors [2, h, w] each; ``forward[t]`` moves frame t's
          pixels to frame t+1, ``backward[t]`` frame t+1's to frame t (working pixels).
        """
        forward, backward = [], []
        n = frames.shape[0] - 1
        prev = self.model.encode(self._network_input(frames[0])) if n > 0 else None
        for t in range(n):
            cur = self.model.encode(self._network_input(frames[t + 1]))
            f, b = self.pair_flows(prev, cur)
            forward.append(f)
            backward.append(b)
            prev = cur
            if progress is not None:
                progress((t + 1) / n, f"GMRW flows {t + 1}/{n} (x{self.upsample})")
        return forward, backward

    # -- tracking --------------------------------------------------------------------------

    def _track(self, video: np.ndarray, queries: np.ndarray, progress: ProgressFn):
        t_len, h, w = video.shape[:3]
        if t_len > 1 and min(h, w) < 2:
            raise InputError(f"GMRW needs frames at least 2 x 2 pixels, got {h} x {w}")
        frames = self.to_working(video)
        forward, backward = self.flows(frames, progress)
        # Studio pixels of the input -> working pixels -> upstream's raster (+0.5).
        xy = rescale_pixels(queries[:, 1:], (h, w), self.size) + 0.5
        qt = torch.from_numpy(queries[:, 0].astype(np.int64)).to(self.device)
        qxy = torch.from_numpy(np.ascontiguousarray(xy, dtype=np.float32)).to(self.device)
        if t_len == 1:
            tracks = qxy[None]
            vis = torch.ones((1, len(qt)), dtype=torch.bool, device=self.device)
        else:
            tracks = chain_tracks(qt, qxy, forward, backward)
            vis = visibility(tracks, qt, forward, backward, self.size, self.threshold)
        out = rescale_pixels(tracks.cpu().numpy() - 0.5, self.size, (h, w))
        return out.astype(np.float32), vis.cpu().numpy(), None
