"""Adapters from the studio contract to the Track-On networks, and the checkpoint loading.

Conversions owned here:

* frames: uint8 ``[H, W, 3]`` -> float ``[1, 3, H, W]`` 0..255 on the device, one frame at a
  time (the network resizes to its 384x512 model frame itself);
* coordinates: upstream is corner-based (0 = left edge of pixel 0), the studio is
  centre-based, so upstream = studio + 0.5 on the way in and studio = upstream - 0.5 on the
  way out; v1 works in model pixels (``x * 512 / W``), v2 samples at ``x / W`` and scales
  its output by ``W / 512``, both exactly as upstream orders the arithmetic;
* support grid: upstream's evaluation appends 20 x 20 points on frame 0 (v1 in model pixels
  with margin 512/64, v2 in input pixels with margin W/64 on both axes); they are tracked
  with the user's points (they attend to each other) and dropped from the output;
* before a point's query frame nothing is known (the models are online and forward only):
  the track holds the query position and is not visible;
* visibility: ``sigmoid(logit) > threshold`` (v1) or ``>=`` (v2).

``track`` runs the same frame-by-frame stream as ``start`` / ``step`` / ``finish``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from studio.hub import CheckpointMismatch, HubFile, check_keys, fetch, load_strict, read_state_dict
from studio.progress import ProgressFn
from studio.results import InputError, check_stream_frames, check_stream_queries
from studio.trackers.base import PointTracker
from studio.trackers.track_on.variants import SUPPORT_GRID, VARIANTS, Backbone, Variant

UNWRAP = ("state_dict", "model", "model_state", "ema_state_dict")
"""Where upstream's loader looks for the weights inside a checkpoint, in its order."""

CHECKPOINT_GLOBALS = (argparse.Namespace,)
"""Python objects a Track-On training checkpoint holds besides tensors (its ``args``)."""


# ---------------------------------------------------------------------------------------------
# Building and loading


def build_model(variant: Variant, input_size: tuple[int, int] = (384, 512)) -> torch.nn.Module:
    """An untrained network of the variant's architecture (weights come from ``load_weights``)."""
    if variant.version == 1:
        from studio.trackers.track_on.trackon1 import TrackOn1

        return TrackOn1(input_size)
    from studio.trackers.track_on.trackon2 import TrackOn2

    return TrackOn2(variant.vit, input_size)


def backbone_file(backbone: Backbone) -> HubFile:
    return HubFile(backbone.repo_id, backbone.filename, backbone.revision, backbone.size_mb, gated=backbone.gated)


def _strip(sd: dict, prefix: str) -> dict:
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in sd.items()}


def backbone_state_dict(backbone: Backbone, path: str | Path) -> dict:
    """A ``transformers`` DINO file's weights, renamed and prefixed the way the tracker stores them."""
    sd = read_state_dict(path)
    # Some exports keep the model class's base prefix on every key.
    for base in ("dinov2.", "dinov3_vit.", "model."):
        if sd and all(k.startswith(base) for k in sd):
            sd = _strip(sd, base)
    if backbone.layout == "meta":
        from studio.trackers.backbones.dinov2 import hf_to_meta

        try:
            sd = hf_to_meta(sd)
        except KeyError as exc:
            raise CheckpointMismatch(f"{Path(path).name} is not a DINOv2 ViT-S/14 file: no key {exc}") from None
    return {backbone.prefix + k: v for k, v in sd.items()}


def backbone_keys(variant: Variant, keys) -> set[str]:
    """The names among ``keys`` that belong to the ViT (what a backbone file provides)."""
    prefix = variant.backbone.prefix
    if variant.backbone.layout == "meta":  # Meta's ViT sits among the adapter's own parameters
        vit = ("cls_token", "pos_embed", "patch_embed.", "blocks.", "norm.")
        return {k for k in keys if k.startswith(prefix) and k[len(prefix):].startswith(vit)}
    return {k for k in keys if k.startswith(prefix)}


def read_checkpoint(checkpoint: str | Path) -> dict:
    """The weights of an official-layout file: unwrapped as upstream's loader does, ``module.`` removed."""
    return _strip(read_state_dict(checkpoint, unwrap=UNWRAP, allowed_globals=CHECKPOINT_GLOBALS), "module.")


def expected_keys(variant: Variant) -> dict[str, tuple[int, ...]]:
    """Name -> shape of the variant's state dict at 384x512 (built on the meta device: no memory, no init)."""
    with torch.device("meta"):
        model = build_model(variant)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_file(name: str, path: str | Path) -> None:
    """Raise ``CheckpointMismatch`` unless ``path`` is a checkpoint of ``name``: the official file (no ViT)
    or one that also holds the ViT weights. Nothing is fetched or built."""
    variant = VARIANTS[name]
    expected = expected_keys(variant)
    sd = read_checkpoint(path)
    vit = backbone_keys(variant, expected)
    if not vit & set(sd):
        expected = {k: v for k, v in expected.items() if k not in vit}
    check_keys(expected, sd, Path(path).name, name)


_HOLDS: dict[tuple, bool] = {}


def holds_backbone(name: str, path: str | Path) -> bool:
    """Whether the checkpoint file at ``path`` already holds the ViT weights (remembered per file version)."""
    path = Path(path)
    try:
        st = path.stat()
        key = (name, str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _HOLDS:
            variant = VARIANTS[name]
            _HOLDS[key] = bool(backbone_keys(variant, read_checkpoint(path)))
        return _HOLDS[key]
    except Exception:  # unreadable: building will say why
        return False


def load_weights(variant: Variant, checkpoint: str | Path, expected: dict, fetch_backbone=None) -> dict:
    """The full state dict of ``variant`` from an official-layout file.

    Accepts what upstream's loader accepts: a raw state dict or one under ``state_dict`` /
    ``model`` / ``model_state`` / ``ema_state_dict``, with or without DDP's ``module.``
    prefix. When the file has no ViT weights, they are read from the variant's backbone
    file (``fetch_backbone(HubFile) -> path``, by default the hub cache/download) and merged
    under the names the tracker expects; a file that has them needs nothing else.

    Args:
      expected: name -> shape of the model's state dict; a file whose own keys do not fit is
        refused (naming the keys) before any backbone is fetched.
    """
    source = Path(checkpoint).name
    sd = read_checkpoint(checkpoint)
    vit = backbone_keys(variant, expected)
    if not vit & set(sd):
        head = {k: v for k, v in expected.items() if k not in vit}
        check_keys(head, sd, source, f"{variant.name} (without its ViT, which comes from {variant.backbone.repo_id})")
        get = fetch_backbone or (lambda f: fetch(f, variant.name))
        path = get(backbone_file(variant.backbone))
        extra = backbone_state_dict(variant.backbone, path)
        check_keys({k: expected[k] for k in vit}, extra, Path(path).name, f"the ViT of {variant.name}")
        sd.update(extra)
    return sd


def build_tracker(name: str, device, checkpoint: str | Path | None, **options) -> TrackOnTracker:
    """Build the adapter of registry variant ``name`` with weights from ``checkpoint``.

    Args:
      name: a key of ``VARIANTS``.
      device: ``torch.device`` (``create_tracker`` picks it with ``studio.device.pick_device``).
      checkpoint: an official-layout file; None keeps random weights (tests, benchmarks).
      **options: ``TrackOnTracker`` options (``memory``, ``threshold``, ``support_grid``, ``input_size``).

    Raises:
      CheckpointMismatch: the file does not fit (names the keys).
      WeightsUnavailable: the backbone is needed and cannot be had (says why, e.g. a gated repository).
    """
    variant = VARIANTS[name]
    input_size = tuple(options.pop("input_size", (384, 512)))
    model = build_model(variant, input_size)
    if checkpoint is not None:
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        load_strict(model, load_weights(variant, checkpoint, expected), source=Path(checkpoint).name)
    return TrackOnTracker(model, variant, device=device, **options)


# ---------------------------------------------------------------------------------------------
# Coordinates


def support_grid(n: int, size: tuple[int, int]) -> np.ndarray:
    """``n x n`` points ``(x, y)`` [n*n, 2] covering ``size = (H, W)`` with a margin of ``W / 64`` on both axes.

    Row-major, y outer. The bounds are written as upstream computes them (centre +- half
    extent -+ margin) so that the float32 values agree bit for bit.
    """
    h, w = size
    margin = w / 64
    ys = torch.linspace(margin - h / 2 + h / 2, h / 2 + h / 2 - margin, n)
    xs = torch.linspace(margin - w / 2 + w / 2, w / 2 + w / 2 - margin, n)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1).reshape(-1, 2).numpy()


# ---------------------------------------------------------------------------------------------
# The adapter


class TrackOnTracker(PointTracker):
    """A Track-On network behind the studio's ``PointTracker`` contract, online.

    Args:
      model: ``TrackOn1`` or ``TrackOn2`` (weights loaded).
      variant: its ``Variant``.
      device: where it runs.
      memory: memory slots per point (default: the variant's, upstream's DAVIS setting).
      threshold: visibility threshold (default 0.8); in v1 it also masks the spatial memory.
      support_grid: track upstream's 20 x 20 support points with the queries (default True).

    For live input::

        tracker.start(queries, (H, W))
        for frame in source:
            tracks, visible = tracker.step(frame[None])   # every frame so far
        tracks, visible = tracker.finish()

    Each frame is processed as it arrives and costs the same however long the stream is
    (the memory holds ``memory`` frames per point). ``add_queries`` adds points mid-stream.
    """

    def __init__(self, model: torch.nn.Module, variant: Variant, device=None, memory: int | None = None,
                 threshold: float | None = None, support_grid: bool = True):
        self.name = variant.name
        self.variant = variant
        self.device = torch.device(device if device is not None else "cpu")
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.memory = int(memory if memory is not None else variant.memory)
        self.threshold = float(threshold if threshold is not None else variant.threshold)
        if self.memory < 1 or not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"memory must be >= 1 and threshold in [0, 1], got {self.memory}, {self.threshold}")
        self.support_grid = bool(support_grid)
        self._stream: _Stream | None = None

    def _prepare(self) -> None:
        """Stretch the memory time embeddings to ``memory`` slots (done per stream, so weights
        loaded after construction are used)."""
        with torch.inference_mode():
            if self.variant.version == 1:
                self.model.set_memory(self.memory, self.threshold)
            else:
                self.model.set_memory(self.memory)

    # -- whole videos ------------------------------------------------------------------------

    def _track(self, video: np.ndarray, queries: np.ndarray, progress: ProgressFn):
        stream = _Stream(self, queries, video.shape[1:3])
        t_len = video.shape[0]
        for t in range(t_len):
            stream.push(video[t])
            progress((t + 1) / t_len, f"tracking frame {t + 1}/{t_len}")
        tracks, visible = stream.result()
        return tracks.copy(), visible.copy(), None

    # -- streaming ---------------------------------------------------------------------------

    def start(self, queries: np.ndarray, size: tuple[int, int]) -> None:
        """Begin a stream of frames of ``size = (H, W)`` with ``queries`` [N, 3] ``(t, x, y)`` input pixels.

        Query frames may lie in the future; those points join when their frame arrives.
        """
        h, w = int(size[0]), int(size[1])
        self._stream = _Stream(self, check_stream_queries(queries, (h, w)), (h, w))

    def add_queries(self, queries: np.ndarray) -> None:
        """Add points ``[N, 3]`` ``(t, x, y)`` to the running stream; ``t`` must not be before the next frame.

        They are tracked together with the others from their frame on (for ``track``-identical
        results give all points to ``start``: the order of points changes float rounding).
        """
        s = self._require_stream("add_queries(queries)")
        q = check_stream_queries(queries, s.size)
        if (q[:, 0] < s.frames).any():
            raise InputError(f"new query frames must be >= {s.frames} (the next frame of the stream)")
        s.add(q)

    def step(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed the next frames of the stream.

        Args:
          frames: uint8 ``[F, H, W, 3]`` (F >= 1), the frames after those already given.

        Returns:
          tracks ``[T_done, N, 2]`` float32 input pixels and visible ``[T_done, N]`` bool for every
          frame so far (read-only views; a frame's result never changes once returned).
        """
        s = self._require_stream("step(frames)")
        frames = check_stream_frames(frames, s.size)
        for frame in frames:
            s.push(frame)
        return s.result()

    @property
    def settled_frames(self) -> int:
        """Frames of the running stream whose results no longer change (all of them: no lag)."""
        return 0 if self._stream is None else self._stream.frames

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """End the stream; returns tracks and visible for every frame given (nothing is pending)."""
        s = self._require_stream("finish()")
        self._stream = None
        tracks, visible = s.result()
        return tracks.copy(), visible.copy()

    def _require_stream(self, what: str) -> _Stream:
        if self._stream is None:
            raise RuntimeError(f"call start(queries, size) before {what}")
        return self._stream


class _Stream:
    """One stream of frames through a Track-On network.

    Rows of the network's query batch: for v1 every point from the start (future ones masked
    inside the network), user points first, then the support grid; for v2 the points that
    have started, in the order they started (within a frame: user points in index order, then
    the grid on frame 0), as upstream's predictor adds them.
    """

    def __init__(self, tracker: TrackOnTracker, queries: np.ndarray, size: tuple[int, int]):
        self.tracker = tracker
        tracker._prepare()
        self.model = tracker.model
        self.version = tracker.variant.version
        self.device = tracker.device
        self.size = (int(size[0]), int(size[1]))
        self.frames = 0
        self.user = np.zeros((0, 3), np.float32)
        self.tracks = np.zeros((16, 0, 2), np.float32)  # grows by doubling along time
        self.visible = np.zeros((16, 0), bool)
        # Network rows: (t, x, y) in the network's query space, and which user point each is (-1 = grid).
        self.rows = np.zeros((0, 3), np.float32)
        self.owner = np.zeros(0, np.int64)
        self.active = 0  # v2: rows that have started (a prefix of the v2 row order)
        self.tracked = False  # a frame has gone through the network
        self.q_init = None
        self.state = None
        self.add(queries, with_grid=tracker.support_grid)

    # -- queries -----------------------------------------------------------------------------

    def _network_xy(self, xy: np.ndarray) -> np.ndarray:
        """Studio pixels -> the coordinates the network's query sampling takes (see module doc)."""
        h, w = self.size
        xy = torch.from_numpy(np.asarray(xy, np.float32)) + 0.5
        if self.version == 1:
            mh, mw = self.model.input_size
            xy = torch.stack([(xy[:, 0] / w) * mw, (xy[:, 1] / h) * mh], dim=-1)
        return xy.numpy()

    def add(self, queries: np.ndarray, with_grid: bool = False) -> None:
        n0 = len(self.user)
        q = np.asarray(queries, np.float32)
        self.user = np.concatenate([self.user, q])
        self.tracks = np.concatenate([self.tracks, np.zeros((self.tracks.shape[0], len(q), 2), np.float32)], axis=1)
        self.visible = np.concatenate([self.visible, np.zeros((self.visible.shape[0], len(q)), bool)], axis=1)
        self.tracks[: self.frames, n0:] = q[:, 1:]  # frames already seen are before these points' frames
        rows = np.column_stack([q[:, 0], self._network_xy(q[:, 1:])])
        owner = np.arange(n0, n0 + len(q))
        if with_grid:
            grid_size = self.model.input_size if self.version == 1 else self.size
            grid = support_grid(SUPPORT_GRID, grid_size)
            rows = np.concatenate([rows, np.column_stack([np.zeros(len(grid), np.float32), grid])])
            owner = np.concatenate([owner, -np.ones(len(grid), np.int64)])
        self.rows = np.concatenate([self.rows, rows.astype(np.float32)])
        self.owner = np.concatenate([self.owner, owner])
        if self.version == 1:
            self._grow_v1(len(rows))
        else:
            # Rows that have not started are kept in start order after the active prefix.
            pending = np.arange(self.active, len(self.rows))
            order = pending[np.argsort(self.rows[pending, 0], kind="stable")]
            self.rows[self.active:], self.owner[self.active:] = self.rows[order], self.owner[order]

    def _grow_v1(self, n_new: int) -> None:
        from studio.trackers.track_on.trackon1 import D, Memory1

        zeros = torch.zeros(n_new, D, device=self.device)
        if self.state is None:
            self.q_init = zeros
            self.state = Memory1.empty(n_new, self.model.memory, self.device)
        else:
            self.q_init = torch.cat([self.q_init, zeros])
            self.state.grow(n_new)

    # -- frames ------------------------------------------------------------------------------

    def _frame_tensor(self, frame: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device)
        return x.permute(2, 0, 1)[None].float()

    def _grid_coords(self, xy: np.ndarray) -> torch.Tensor:
        """Network query coordinates -> ``grid_sample`` coordinates in ``[-1, 1]``."""
        xy = torch.from_numpy(xy).to(self.device)
        if self.version == 1:
            mh, mw = self.model.input_size
            return torch.stack([(xy[:, 0] / mw) * 2 - 1, (xy[:, 1] / mh) * 2 - 1], dim=-1)
        h, w = self.size
        return torch.stack([xy[:, 0] / w, xy[:, 1] / h], dim=-1) * 2 - 1

    @torch.inference_mode()
    def push(self, frame: np.ndarray) -> None:
        """Track one uint8 ``[H, W, 3]`` frame."""
        t = self.frames
        if not (self.rows[:, 0] <= t).any():
            # No point has started: nothing to track, and the memories would only fill with empty slots.
            self._record(t, np.zeros(0, np.int64), None, None)
            return
        feats = self.model.encode(self._frame_tensor(frame))
        if self.version == 1:
            new = np.flatnonzero(self.rows[:, 0] == t)
            if len(new):
                self.q_init[torch.from_numpy(new)] = self.model.query_features(feats, self._grid_coords(self.rows[new, 1:]))
            started = torch.from_numpy(self.rows[:, 0] <= t).to(self.device)
            points, logits = self.model.track_frame(feats, self.q_init, self.state, started, first=not self.tracked)
            self.tracked = True
            visible = torch.sigmoid(logits) > self.tracker.threshold
            rows = np.arange(len(self.rows))
        else:
            n_new = int(np.sum(self.rows[self.active:, 0] == t))
            if n_new:
                new = self.rows[self.active : self.active + n_new, 1:]
                q_new = self.model.query_features(feats, self._grid_coords(new))
                self._grow_v2(q_new)
            points, logits, entry = self.model.track_frame(feats, self.q_init, self.state[0], self.state[1])
            memory = torch.cat([self.state[0][:, 1:], entry[:, None]], dim=1)
            empty = torch.cat([self.state[1][:, 1:], torch.zeros_like(self.state[1][:, :1])], dim=1)
            self.state = (memory, empty)
            visible = torch.sigmoid(logits) >= self.tracker.threshold
            rows = np.arange(self.active)
        self._record(t, rows, points, visible)

    def _grow_v2(self, q_new: torch.Tensor) -> None:
        from studio.trackers.track_on.trackon2 import D

        n = q_new.shape[0]
        m = self.model.memory
        if self.q_init is None:
            self.q_init = q_new
            self.state = (torch.zeros(n, m, D, device=self.device), torch.ones(n, m, dtype=torch.bool, device=self.device))
        else:
            self.q_init = torch.cat([self.q_init, q_new])
            self.state = (torch.cat([self.state[0], torch.zeros(n, m, D, device=self.device)]),
                          torch.cat([self.state[1], torch.ones(n, m, dtype=torch.bool, device=self.device)]))
        self.active += n

    def _record(self, t: int, rows: np.ndarray, points, visible) -> None:
        if t >= self.tracks.shape[0]:
            grow = self.tracks.shape[0]
            self.tracks = np.concatenate([self.tracks, np.zeros((grow, *self.tracks.shape[1:]), np.float32)])
            self.visible = np.concatenate([self.visible, np.zeros((grow, *self.visible.shape[1:]), bool)])
        # Before its query frame a point stays where it was given, not visible.
        self.tracks[t] = self.user[:, 1:]
        self.visible[t] = False
        if len(rows):
            owner = self.owner[rows]
            mine = owner >= 0
            if mine.any():
                h, w = self.size
                mh, mw = self.model.input_size
                p = points[torch.from_numpy(np.flatnonzero(mine)).to(self.device)]
                x = (p[:, 0] / mw) * w - 0.5
                y = (p[:, 1] / mh) * h - 0.5
                xy = torch.stack([x, y], dim=-1).cpu().numpy()
                vis = visible[torch.from_numpy(np.flatnonzero(mine)).to(self.device)].cpu().numpy()
                users = owner[mine]
                started = self.user[users, 0] <= t
                self.tracks[t, users[started]] = xy[started]
                self.visible[t, users[started]] = vis[started]
                # A point on its own query frame is where it was given, visible.
                now = users[self.user[users, 0] == t]
                self.tracks[t, now] = self.user[now, 1:]
                self.visible[t, now] = True
        self.frames = t + 1

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        tracks, visible = self.tracks[: self.frames], self.visible[: self.frames]
        tracks.flags.writeable = False
        visible.flags.writeable = False
        return tracks, visible
