"""Numpy-facing wrapper of DOT's RAFT: the studio's ``FlowModel`` plus DOT's refine step.

Conversions owned here:

* frames: uint8 [H, W, 3] RGB -> float [1, 3, H, W] in [0, 1] on the model's device;
* sizes: ``flow`` accepts any H x W and pads on the bottom/right by edge replication to
  multiples of P (and to at least ``MIN_CELLS`` coarse cells a side), then crops, so the
  coordinates of the original pixels are unchanged; ``encode`` / ``refine`` work on
  frames the caller already sized to multiples of P, as DOT does;
* flows: full-resolution pixels ``(dx, dy)`` outside; the network's initial flow lives
  on the coarse grid in coarse pixels (full-resolution pixels / P).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from studio.hub import load_strict, read_state_dict
from studio.results import InputError
from studio.trackers.base import check_frame_pair
from studio.trackers.raft.model import RAFT
from studio.trackers.raft.variants import CONFIGS, RaftConfig

# The correlation pyramid halves the target grid three times; a 1-cell-wide last level
# makes the lookup divide by zero (NaN flow), so every coarse side needs >= 2 * 2**3 cells.
MIN_CELLS = 16


def build_model(config: RaftConfig) -> RAFT:
    """An untrained network of ``config``'s architecture (weights come from ``load_strict``)."""
    return RAFT(**config.model_kwargs())


def build_flow(name: str, device, checkpoint: str | Path | None, **options) -> RAFTFlow:
    """Registry builder: the adapter of ``name`` with weights from ``checkpoint``.

    Args:
      name: ``"raft_cvo"`` or ``"raft_refiner"``.
      device: ``torch.device`` (``create_tracker`` picks it with ``studio.device.pick_device``).
      checkpoint: path of an official-layout file (raw state dict, no prefix); None keeps
        random weights (tests, benchmarks).
      **options: passed to ``RAFTFlow`` (``num_iter``).

    Raises:
      CheckpointMismatch: the file does not fit (names the keys).
    """
    config = CONFIGS[name]
    model = build_model(config)
    if checkpoint is not None:
        load_strict(model, read_state_dict(checkpoint), source=Path(checkpoint).name)
    return RAFTFlow(model, name=name, device=device, **options)


def _as_tensor(x, device, dtype=torch.float32) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype)
    return torch.from_numpy(np.ascontiguousarray(x)).to(device=device, dtype=dtype)


class RAFTFlow:
    """A DOT RAFT network behind the studio's flow interface.

    Args:
      model: the ``RAFT`` network (weights loaded).
      name: registry name.
      device: where it runs (``torch.device`` or string; None = CPU).
      num_iter: update iterations per call; None = the model's trained number.

    Attributes:
      name, patch_size, refine_alpha, device, model, num_iter.
    """

    def __init__(self, model: RAFT, name: str = "raft", device=None, num_iter: int | None = None):
        self.name = name
        self.device = torch.device(device if device is not None else "cpu")
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.patch_size = model.patch_size
        self.refine_alpha = model.refine_alpha
        self.num_iter = model.num_iter if num_iter is None else int(num_iter)

    # -- conversions -------------------------------------------------------------------------

    def to_tensor(self, frame: np.ndarray) -> torch.Tensor:
        """uint8 [H, W, 3] RGB -> float32 [1, 3, H, W] in [0, 1] on the device."""
        x = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device)
        return x.permute(2, 0, 1)[None].float() / 255.0

    def _check_multiple(self, what: str, h: int, w: int) -> None:
        p = self.patch_size
        if h % p or w % p:
            raise InputError(f"{self.name}: {what} must be a multiple of {p} in height and width, got {h}x{w}")

    # -- FlowModel ---------------------------------------------------------------------------

    @torch.inference_mode()
    def flow(self, frame0: np.ndarray, frame1: np.ndarray, init: np.ndarray | None = None) -> np.ndarray:
        """Motion of every pixel of ``frame0`` into ``frame1``.

        Args:
          frame0, frame1: [H, W, 3] uint8 RGB, any size.
          init: optional [H, W, 2] float ``(dx, dy)`` full-resolution starting flow; it is
            edge-padded like the frames, averaged over each P x P cell and divided by P to
            give the network's coarse initial flow.

        Returns:
          [H, W, 2] float32 ``(dx, dy)`` pixels: pixel ``(x, y)`` of frame0 is at
          ``(x + dx, y + dy)`` in frame1.
        """
        check_frame_pair(frame0, frame1)
        h, w = frame0.shape[:2]
        p = self.patch_size
        ph = max(-(-h // p) * p, MIN_CELLS * p) - h
        pw = max(-(-w // p) * p, MIN_CELLS * p) - w

        def pad(x: torch.Tensor) -> torch.Tensor:
            return F.pad(x, (0, pw, 0, ph), mode="replicate") if (ph or pw) else x

        src, tgt = pad(self.to_tensor(frame0)), pad(self.to_tensor(frame1))
        coarse = None
        if init is not None:
            init = np.asarray(init, dtype=np.float32)
            if init.shape != (h, w, 2):
                raise InputError(f"init flow must have shape {[h, w, 2]}, got {list(init.shape)}")
            full = pad(_as_tensor(init, self.device).permute(2, 0, 1)[None])
            coarse = (F.avg_pool2d(full, p) / p).permute(0, 2, 3, 1)
        out, _ = self.model(src_frame=src, tgt_frame=tgt, coarse_flow=coarse, num_iter=self.num_iter)
        return out[0, :h, :w].float().cpu().numpy()

    # -- DOT's building blocks ---------------------------------------------------------------

    @torch.inference_mode()
    def encode(self, frame: np.ndarray) -> torch.Tensor:
        """Cacheable features of one frame.

        Args:
          frame: uint8 [H, W, 3] RGB, H and W multiples of P.

        Returns:
          float32 [1, 512, H/P, W/P] on the device (matching features, then context features).
        """
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError("frame must be a uint8 [H, W, 3] array")
        self._check_multiple("the frame", *frame.shape[:2])
        return self.model.encode(self.to_tensor(frame))

    @torch.inference_mode()
    def refine(
        self,
        frame0: np.ndarray | None,
        frame1: np.ndarray | None,
        coarse_flow,
        coarse_alpha=None,
        feats0: torch.Tensor | None = None,
        feats1: torch.Tensor | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """DOT's refinement of a coarse flow / visibility field between two frames.

        Args:
          frame0, frame1: uint8 [H, W, 3] RGB, H and W multiples of P; a frame may be None
            when its ``feats`` are given.
          coarse_flow: [H/P, W/P, 2] float ``(dx, dy)`` in coarse-grid pixels (numpy or torch).
          coarse_alpha: [H/P, W/P] in [0, 1]; None = all visible.
          feats0, feats1: optional cached ``encode`` outputs [1, 512, H/P, W/P] used instead
            of encoding the frames.

        Returns:
          flow float32 [H, W, 2] ``(dx, dy)`` full-resolution pixels, and alpha float32
          [H, W] in [0, 1] (all ones for a model without alpha). DOT thresholds alpha at 0.8.
        """
        feats = []
        for i, (frame, cached) in enumerate(((frame0, feats0), (frame1, feats1))):
            if cached is None:
                if frame is None:
                    raise InputError(f"frame{i} or feats{i} must be given")
                cached = self.encode(frame)
            feats.append(cached.to(self.device))
        cf = _as_tensor(coarse_flow, self.device)[None]
        ca = None if coarse_alpha is None else _as_tensor(coarse_alpha, self.device)[None]
        flow, alpha = self.refine_batch(cf, ca, src_feats=feats[0], tgt_feats=feats[1])
        return flow[0].float().cpu().numpy(), alpha[0].float().cpu().numpy()

    @torch.inference_mode()
    def refine_batch(
        self,
        coarse_flow: torch.Tensor,
        coarse_alpha: torch.Tensor | None = None,
        src_frames: torch.Tensor | None = None,
        tgt_frames: torch.Tensor | None = None,
        src_feats: torch.Tensor | None = None,
        tgt_feats: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched torch form of ``refine``, for pipelines that keep everything on the device.

        Args:
          coarse_flow: [B, h, w, 2] ``(dx, dy)`` coarse-grid pixels (h = H/P, w = W/P).
          coarse_alpha: [B, h, w] in [0, 1] or None (= 1).
          src_frames, tgt_frames: [B, 3, H, W] float in [0, 1]; or instead
          src_feats, tgt_feats: [B, 512, h, w] from ``encode`` / ``RAFT.encode`` (a [1, ...]
            feature map is broadcast over the batch, e.g. one source against many targets).

        Returns:
          flow [B, H, W, 2] full-resolution pixels and alpha [B, H, W] in [0, 1] (ones when
          the model has no alpha), float32 tensors on the device.
        """
        b, h, w = coarse_flow.shape[:3]
        if coarse_flow.shape[3:] != (2,):
            raise InputError(f"coarse flow must be [B, h, w, 2], got {list(coarse_flow.shape)}")
        if coarse_alpha is not None and tuple(coarse_alpha.shape) != (b, h, w):
            raise InputError(f"coarse alpha must be {[b, h, w]}, got {list(coarse_alpha.shape)}")
        if h < MIN_CELLS or w < MIN_CELLS:
            p = self.patch_size
            raise InputError(f"{self.name}: frames must be at least {MIN_CELLS * p}x{MIN_CELLS * p} pixels "
                             f"({MIN_CELLS} cells of {p} a side), got {h * p}x{w * p}")
        if src_feats is None:
            src_feats = self.model.encode(src_frames.to(self.device))
        if tgt_feats is None:
            tgt_feats = self.model.encode(tgt_frames.to(self.device))
        src_feats, tgt_feats = (f.expand(b, -1, -1, -1) if f.shape[0] == 1 else f for f in (src_feats, tgt_feats))
        if tuple(src_feats.shape[2:]) != (h, w) or tuple(tgt_feats.shape[2:]) != (h, w):
            raise InputError(f"features {list(src_feats.shape[2:])} / {list(tgt_feats.shape[2:])} do not match "
                             f"the coarse grid {[h, w]}")
        flow, alpha = self.model(src_feats=src_feats, tgt_feats=tgt_feats, coarse_flow=coarse_flow.to(self.device),
                                 coarse_alpha=None if coarse_alpha is None else coarse_alpha.to(self.device),
                                 num_iter=self.num_iter)
        if alpha is None:
            alpha = flow.new_ones(flow.shape[:3])
        return flow, alpha
