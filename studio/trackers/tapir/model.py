"""TAPIR, BootsTAPIR and online BootsTAPIR as one network, ``TapirNet``.

A query is tracked in two steps (Doersch et al., ICCV 2023):

1. **Initial estimate**, every frame on its own: the query's stride-8 feature is correlated
   with the frame's stride-8 map; a small convolution head turns that score map into a heat
   map (soft-argmax near its peak gives the position) and into two logits, occlusion and
   expected distance (uncertainty).
2. **Refinement**, ``num_iters`` times per working resolution: correlations of the query
   (later: of the mixer's own features) with the 7 x 7 neighbourhood of the current position
   on the stride-4 map, the stride-8 map and its 2 x 2-pooled pyramid go through the temporal
   mixer, which returns corrections of position, logits and features.

Coordinates here are *raster* pixels of the frames the network is given: ``(0, 0)`` is the
top-left corner of the top-left pixel, so pixel ``i`` spans ``[i, i + 1)`` and its centre is
``i + 0.5`` (the convention the weights were trained with). Points are ``(x, y)``. During
refinement positions are kept in pixels of the 256 x 256 initial resolution and scaled to the
input at the end. The adapter (``adapter.py``) converts from and to the studio's pixels.

Memory stays bounded on long clips: frames go through the encoder in chunks, and score maps,
correlations and mixer activations are computed for chunks of queries and frames sized from
``work_floats``. What grows with the clip are the encoded maps themselves, about 3.3 MB per
frame at 256 x 256.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from studio.trackers.tapir.backbone import HIRES_DIM, LOWRES_DIM, ExtraConvs, ResNet, unit_length
from studio.trackers.tapir.mixer import MixerState, PipsMixer

WINDOW = 7  # refinement correlates a 7 x 7 neighbourhood around the current position
ARGMAX_RADIUS = 5.0  # the soft-argmax averages heat-map cells closer than this to the peak
FEATURE_DIM = 4 + HIRES_DIM + LOWRES_DIM  # mixer features: (2 unused, occlusion, distance, query features)


@dataclass
class FeatureMaps:
    """Encoded frames at one resolution.

    Attributes:
      hires: [T, H/4, W/4, 128] float32, unit length per pixel.
      lowres: [T, H/8, W/8, 256] float32, unit length per pixel.
      pooled: ``pyramid_level`` maps [T, H/16, W/16, 256], [T, H/32, ...]: 2 x 2 averages of lowres.
      size: ``(H, W)`` of the frames encoded.
    """

    hires: torch.Tensor
    lowres: torch.Tensor
    pooled: list[torch.Tensor]
    size: tuple[int, int]

    def grids(self) -> list[torch.Tensor]:
        """The maps refinement correlates against, in the mixer's input order."""
        return [self.hires, self.lowres, *self.pooled]


@dataclass
class QueryFeatures:
    """Features of the query points at one resolution: hires [N, 128], lowres [N, 256]."""

    hires: torch.Tensor
    lowres: torch.Tensor

    def per_grid(self, pyramid_level: int) -> list[torch.Tensor]:
        """The vector each of ``FeatureMaps.grids()`` is correlated with (pooled levels use lowres)."""
        return [self.hires, self.lowres] + [self.lowres] * pyramid_level


@dataclass
class Estimate:
    """Per-query, per-frame outputs: tracks [N, T, 2] ``(x, y)`` raster pixels, occlusion and
    expected_dist [N, T] logits (higher = more likely occluded / far from the truth)."""

    tracks: torch.Tensor
    occlusion: torch.Tensor
    expected_dist: torch.Tensor


@dataclass
class StreamState:
    """What the online model carries from frame to frame for N query points.

    Attributes:
      features: query features at the initial resolution, then at each refinement resolution.
      mixers: one ``MixerState`` per refinement step (resolutions x iterations).
      started: bool [N], True once a point's query frame has been seen.
    """

    features: list[QueryFeatures]
    mixers: list[MixerState]
    started: torch.Tensor


def refinement_resolutions(size: tuple[int, int], base: tuple[int, int]) -> list[tuple[int, int]]:
    """Sizes refinement runs at for input frames of ``size``: log-spaced from ``base`` up to ``size``.

    One level more than the number of doublings needed, each a multiple of 8 (rounded down);
    just ``[base]`` when the input is not larger. This is the rule of the official models.

    Args:
      size, base: ``(H, W)``.

    Returns:
      list of ``(H, W)``, starting with ``base``.
    """
    if tuple(size) == tuple(base):
        return [tuple(base)]
    levels = math.ceil(max(math.log2(s / b) for s, b in zip(size, base))) + 1
    if levels <= 1:
        return [tuple(base)]
    out = []
    for i in range(levels):
        f = i / (levels - 1)
        out.append(tuple(int(b * (s / b) ** f // 8) * 8 for s, b in zip(size, base)))
    return out


def resize_frames(frames: torch.Tensor, size: tuple[int, int], chunk: int = 16) -> torch.Tensor:
    """Bilinear resize (half-pixel centres, no antialiasing) of [T, H, W, 3] frames to ``size``."""
    out = []
    for i in range(0, frames.shape[0], chunk):
        x = frames[i : i + chunk].permute(0, 3, 1, 2)
        out.append(F.interpolate(x, size=size, mode="bilinear", align_corners=False).permute(0, 2, 3, 1))
    return torch.cat(out).contiguous()


def sample_border(grid: torch.Tensor, t: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear sample of ``grid[t]`` at cell coordinates ``(x, y)`` (cell centres at integers), clamped to the border.

    Args:
      grid: [T, h, w, C].
      t: [N] long frame indices.
      x, y: [N] float positions in cell units.

    Returns:
      [N, C].
    """
    _, h, w, _ = grid.shape
    x = x.clamp(0, w - 1)
    y = y.clamp(0, h - 1)
    x0, y0 = x.floor(), y.floor()
    ax, ay = (x - x0)[:, None], (y - y0)[:, None]
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    top = grid[t, y0, x0] * (1 - ax) + grid[t, y0, x1] * ax
    bottom = grid[t, y1, x0] * (1 - ax) + grid[t, y1, x1] * ax
    return top * (1 - ay) + bottom * ay


def soft_argmax(prob: torch.Tensor, radius: float = ARGMAX_RADIUS) -> torch.Tensor:
    """Centre of mass of each heat map, counting only cells within ``radius`` of its peak.

    Args:
      prob: [M, h, w] non-negative weights (a softmax over each map).

    Returns:
      [M, 2] ``(x, y)`` raster coordinates in cells (cell ``i`` spans ``[i, i + 1)``).
    """
    m, h, w = prob.shape
    peak = prob.reshape(m, -1).argmax(-1)
    xs = torch.arange(w, device=prob.device, dtype=prob.dtype) + 0.5
    ys = torch.arange(h, device=prob.device, dtype=prob.dtype) + 0.5
    px, py = xs[peak % w], ys[peak // w]
    near = (xs[None, None, :] - px[:, None, None]) ** 2 + (ys[None, :, None] - py[:, None, None]) ** 2 < radius**2
    wgt = prob * near
    total = wgt.sum((1, 2)).clamp(min=1e-12)
    return torch.stack([(wgt.sum(1) * xs).sum(-1) / total, (wgt.sum(2) * ys).sum(-1) / total], dim=-1)


class TapirNet(nn.Module):
    """The TAPIR-family network; parameter names are those of the official files.

    Args:
      pyramid_level: pooled levels of the stride-8 map used in refinement (0 TAPIR, 1 BootsTAPIR).
      extra_convs: BootsTAPIR's extra convolutions on the stride-8 map.
      causal: online model (the mixer only looks back; run it with ``start_stream`` / ``stream_step``).
      softmax_temperature: heat-map sharpness of the initial estimate.
      num_iters: refinement iterations per resolution.
      initial_resolution: ``(H, W)`` of the initial estimate (the training resolution).
      encoder_chunk: frames per encoder call.
      work_floats: size (in floats) of the chunks of intermediate results; bounds memory.
    """

    def __init__(
        self,
        pyramid_level: int = 1,
        extra_convs: bool = True,
        causal: bool = False,
        softmax_temperature: float = 20.0,
        num_iters: int = 4,
        initial_resolution: tuple[int, int] = (256, 256),
        encoder_chunk: int = 10,
        work_floats: int = 1 << 24,
    ):
        super().__init__()
        self.pyramid_level = pyramid_level
        self.causal = causal
        self.softmax_temperature = softmax_temperature
        self.num_iters = num_iters
        self.initial_resolution = tuple(initial_resolution)
        self.encoder_chunk = encoder_chunk
        self.work_floats = work_floats
        self.resnet_torch = ResNet()
        self.torch_cost_volume_track_mods = nn.ModuleDict(
            {
                "hid1": nn.Conv2d(1, 16, 3, padding=1),
                "hid2": nn.Conv2d(16, 1, 3, padding=1),
                "hid3": nn.Conv2d(16, 32, 3, stride=2),
                "hid4": nn.Linear(32, 16),
                "occ_out": nn.Linear(16, 2),
            }
        )
        corr_dim = (pyramid_level + 2) * WINDOW * WINDOW
        self.torch_pips_mixer = PipsMixer(FEATURE_DIM + corr_dim, FEATURE_DIM, causal=causal)
        self.extra_convs = ExtraConvs() if extra_convs else None

    # -- encoding --------------------------------------------------------------------------

    def encode(self, frames: torch.Tensor) -> FeatureMaps:
        """Feature maps of [T, H, W, 3] frames in [-1, 1] (H, W multiples of 8), in chunks of frames."""
        h, w = frames.shape[1:3]
        if h % 8 or w % 8:
            raise ValueError(f"frame size must be a multiple of 8, got {h}x{w}")
        his, los = [], []
        for i in range(0, frames.shape[0], self.encoder_chunk):
            hi, lo = self.resnet_torch(frames[i : i + self.encoder_chunk].permute(0, 3, 1, 2))
            lo = lo.permute(0, 2, 3, 1)
            if self.extra_convs is not None:
                lo = self.extra_convs(lo)
            his.append(unit_length(hi.permute(0, 2, 3, 1)).contiguous())
            los.append(unit_length(lo).contiguous())
        lowres = torch.cat(los)
        pooled, level = [], lowres
        for _ in range(self.pyramid_level):
            level = F.avg_pool2d(level.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1).contiguous()
            pooled.append(level)
        return FeatureMaps(torch.cat(his), lowres, pooled, (h, w))

    def encode_levels(self, frames: torch.Tensor, resolutions: list[tuple[int, int]]) -> list[FeatureMaps]:
        """Maps at the initial resolution, then at each refinement resolution (equal sizes share one encoding)."""
        size = tuple(frames.shape[1:3])
        done: dict[tuple[int, int], FeatureMaps] = {}
        out = []
        for res in [self.initial_resolution, *resolutions]:
            res = tuple(res)
            if res not in done:
                done[res] = self.encode(frames if res == size else resize_frames(frames, res))
            out.append(done[res])
        return out

    def query_features(self, maps: FeatureMaps, t: torch.Tensor, xy: torch.Tensor, size: tuple[int, int]) -> QueryFeatures:
        """Features at query points.

        Args:
          maps: the encoded frames.
          t: [N] long frame index into ``maps``.
          xy: [N, 2] raster ``(x, y)`` in pixels of frames of ``size``.
          size: ``(H, W)`` the coordinates refer to (the frames given to the network).
        """
        out = []
        for grid in (maps.hires, maps.lowres):
            gh, gw = grid.shape[1:3]
            # Raster -> cell index (centres at integers) on this grid.
            out.append(sample_border(grid, t, xy[:, 0] * gw / size[1] - 0.5, xy[:, 1] * gh / size[0] - 0.5))
        return QueryFeatures(*out)

    # -- initial estimate --------------------------------------------------------------------

    def initial_estimate(self, query: torch.Tensor, lowres: torch.Tensor) -> Estimate:
        """Position and logits per query and frame from the score map of its stride-8 feature.

        Args:
          query: [N, 256] query features.
          lowres: [T, h, w, 256] stride-8 maps at the initial resolution.

        Returns:
          ``Estimate`` with tracks in raster pixels of the initial resolution.
        """
        mods = self.torch_cost_volume_track_mods
        n = query.shape[0]
        t_len, h, w, c = lowres.shape
        # hid1's 16 channels and hid3's input dominate the memory per (query, frame).
        per_frame = n * h * w * 40
        chunk = max(1, self.work_floats // max(per_frame, 1))
        pts, logits = [], []
        for i in range(0, t_len, chunk):
            grid = lowres[i : i + chunk].reshape(-1, h * w, c)
            score = torch.matmul(query, grid.transpose(1, 2))  # [t, N, hw]
            hidden = torch.relu(mods["hid1"](score.reshape(-1, 1, h, w)))
            heat = mods["hid2"](hidden).reshape(-1, h * w) * self.softmax_temperature
            cells = soft_argmax(F.softmax(heat, dim=-1).reshape(-1, h, w))
            pts.append(cells.reshape(-1, n, 2))
            occ = torch.relu(mods["hid3"](F.pad(hidden, (0, 2, 0, 2)))).mean(dim=(-1, -2))
            logits.append(mods["occ_out"](torch.relu(mods["hid4"](occ))).reshape(-1, n, 2))
        h0, w0 = self.initial_resolution
        xy = torch.cat(pts).transpose(0, 1) * xy_scale(query, w0 / w, h0 / h)
        lg = torch.cat(logits).transpose(0, 1)
        return Estimate(xy, lg[..., 0], lg[..., 1])

    # -- refinement -----------------------------------------------------------------------

    def window_correlation(self, grid: torch.Tensor, query: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        """Correlation of the query with the 7 x 7 neighbourhood of a point, bilinear, zero outside the map.

        The score map (query . every cell) is computed first and then sampled: sampling is
        linear, so this equals correlating sampled features, at a fraction of the memory.

        Args:
          grid: [T, h, w, C].
          query: [N, C] (one vector per query) or [N, T, C] (one per query and frame).
          centre: [N, T, 2] raster ``(x, y)`` in cells of this grid.

        Returns:
          [N, T, 49], rows of the window first (offsets -3..3 in y, then in x).
        """
        t_len, h, w, c = grid.shape
        n = centre.shape[0]
        half = WINDOW // 2
        # All 49 samples share the fractional offset: blend an 8 x 8 block of whole cells.
        pos = centre - 0.5
        base = pos.floor()
        frac = pos - base
        base = base.long()
        steps = torch.arange(-half, half + 2, device=grid.device)
        cols = base[..., 0:1] + steps  # [N, T, 8]
        rows = base[..., 1:2] + steps
        inside = ((cols >= 0) & (cols < w))[..., None, :] & ((rows >= 0) & (rows < h))[..., :, None]
        index = (rows.clamp(0, h - 1)[..., :, None] * w + cols.clamp(0, w - 1)[..., None, :]).reshape(n, t_len, -1)
        chunk = max(1, self.work_floats // max(n * h * w, 1))
        blocks = []
        for i in range(0, t_len, chunk):
            g = grid[i : i + chunk].reshape(-1, h * w, c).transpose(1, 2)  # [t, C, hw]
            q = query if query.dim() == 2 else query[:, i : i + chunk].transpose(0, 1)
            score = torch.matmul(q, g).transpose(0, 1)  # [N, t, hw]
            blocks.append(torch.gather(score, 2, index[:, i : i + chunk]))
        block = (torch.cat(blocks, dim=1) * inside.reshape(n, t_len, -1)).reshape(n, t_len, WINDOW + 1, WINDOW + 1)
        fx, fy = frac[..., 0, None, None], frac[..., 1, None, None]
        top = block[..., :-1, :-1] * (1 - fx) + block[..., :-1, 1:] * fx
        bottom = block[..., 1:, :-1] * (1 - fx) + block[..., 1:, 1:] * fx
        return (top * (1 - fy) + bottom * fy).reshape(n, t_len, WINDOW * WINDOW)

    def refine_step(
        self,
        est: Estimate,
        features: torch.Tensor | None,
        query: QueryFeatures,
        maps: FeatureMaps,
        mix: Callable[[torch.Tensor], torch.Tensor],
    ) -> tuple[Estimate, torch.Tensor]:
        """One refinement iteration at the resolution of ``maps``.

        Args:
          est: current estimate (tracks in initial-resolution raster pixels).
          features: [N, T, 384] mixer features of the previous iteration, or None on the first
            iteration at this resolution (the query features are used).
          query: the queries' features at this resolution.
          maps: the frames encoded at this resolution.
          mix: the temporal mixer, [N, T, in] -> [N, T, 388].

        Returns:
          (new estimate, new features [N, T, 384]).
        """
        n, t_len = est.occlusion.shape
        h0, w0 = self.initial_resolution
        if features is None:
            vectors = query.per_grid(self.pyramid_level)
            features = torch.cat([query.hires, query.lowres], -1)[:, None].expand(n, t_len, -1)
        else:
            vectors = [features[..., :HIRES_DIM]] + [features[..., HIRES_DIM:]] * (1 + self.pyramid_level)
        corrs = []
        for grid, vec in zip(maps.grids(), vectors):
            gh, gw = grid.shape[1:3]
            corrs.append(self.window_correlation(grid, vec, est.tracks * xy_scale(est.tracks, gw / w0, gh / h0)))
        logits = torch.stack([est.occlusion, est.expected_dist], -1)
        inputs = torch.cat([torch.zeros_like(logits), logits, features, *corrs], dim=-1)
        out = mix(inputs)
        rh, rw = maps.size
        tracks = est.tracks + out[..., :2] * xy_scale(out, w0 / rw, h0 / rh)
        new = Estimate(tracks, est.occlusion + out[..., 2], est.expected_dist + out[..., 3])
        return new, features + out[..., 4:]

    def refine(
        self, est: Estimate, levels: list[tuple[FeatureMaps, QueryFeatures]], mix: Callable[[torch.Tensor, int], torch.Tensor]
    ) -> list[Estimate]:
        """All refinement iterations; returns the estimate after the last iteration of each resolution.

        At each new resolution the logits restart from the initial estimate and the mixer
        features from the query features; positions carry over.
        """
        outs, tracks, step = [], est.tracks, 0
        for maps, query in levels:
            cur, features = Estimate(tracks, est.occlusion, est.expected_dist), None
            for _ in range(self.num_iters):
                cur, features = self.refine_step(cur, features, query, maps, lambda x, s=step: mix(x, s))
                step += 1
            outs.append(cur)
            tracks = cur.tracks
        return outs

    # -- offline --------------------------------------------------------------------------

    def track(
        self,
        video: torch.Tensor,
        queries: torch.Tensor,
        resolutions: list[tuple[int, int]] | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> Estimate:
        """Track queries through a whole clip (offline models), both ways from each query frame.

        Args:
          video: [T, H, W, 3] float32 in [-1, 1], RGB, H and W multiples of 8.
          queries: [N, 3] ``(t, x, y)``: integer frame, raster pixels of ``video``.
          resolutions: refinement resolutions; default ``refinement_resolutions((H, W), initial)``.
          progress: optional callback with the fraction done.

        Returns:
          ``Estimate`` with tracks in raster pixels of ``video``: the mean, over refinement
          resolutions, of the result after each resolution's last iteration.
        """
        if self.causal:
            raise ValueError("the online model tracks frame by frame: use start_stream / stream_step")
        report = progress or (lambda f: None)
        size = tuple(video.shape[1:3])
        resolutions = refinement_resolutions(size, self.initial_resolution) if resolutions is None else resolutions
        maps = self.encode_levels(video, resolutions)
        report(0.3)
        t, xy = queries[:, 0].round().long(), queries[:, 1:]
        feats = [self.query_features(m, t, xy, size) for m in maps]
        n, t_len = queries.shape[0], video.shape[0]
        # Per (query, frame) a chunk holds the mixer's input, features and output (about 1,000
        # floats); score maps and mixer activations are chunked further inside.
        chunk = max(1, min(n, self.work_floats // (t_len * 1024)))
        h0, w0 = self.initial_resolution
        to_initial = xy_scale(xy, w0 / size[1], h0 / size[0])
        to_video = xy_scale(xy, size[1] / w0, size[0] / h0)
        parts = []
        for i in range(0, n, chunk):
            rows = slice(i, i + chunk)
            est = self.initial_estimate(feats[0].lowres[rows], maps[0].lowres)
            # On its own frame, a query starts exactly where it was given.
            k = torch.arange(est.tracks.shape[0], device=xy.device)
            est.tracks[k, t[rows]] = xy[rows] * to_initial
            levels = [(m, QueryFeatures(f.hires[rows], f.lowres[rows])) for m, f in zip(maps[1:], feats[1:])]
            outs = self.refine(est, levels, lambda x, s: self.torch_pips_mixer(x))
            parts.append(
                Estimate(
                    torch.stack([o.tracks for o in outs]).mean(0) * to_video,
                    torch.stack([o.occlusion for o in outs]).mean(0),
                    torch.stack([o.expected_dist for o in outs]).mean(0),
                )
            )
            report(0.3 + 0.7 * min(i + chunk, n) / n)
        return Estimate(*(torch.cat([getattr(p, f) for p in parts]) for f in ("tracks", "occlusion", "expected_dist")))

    # -- online ---------------------------------------------------------------------------

    def start_stream(self, num_points: int, size: tuple[int, int], device=None) -> StreamState:
        """An empty stream state for ``num_points`` queries on frames of ``size`` (no point started yet)."""
        levels = 1 + len(refinement_resolutions(size, self.initial_resolution))
        blocks = len(self.torch_pips_mixer.blocks)
        feats = [
            QueryFeatures(torch.zeros(num_points, HIRES_DIM, device=device), torch.zeros(num_points, LOWRES_DIM, device=device))
            for _ in range(levels)
        ]
        mixers = [MixerState.zeros(blocks, num_points, device) for _ in range((levels - 1) * self.num_iters)]
        return StreamState(feats, mixers, torch.zeros(num_points, dtype=torch.bool, device=device))

    def stream_step(self, frame: torch.Tensor, state: StreamState, new: torch.Tensor, xy: torch.Tensor) -> Estimate:
        """Advance the online model by one frame.

        Args:
          frame: [1, H, W, 3] float32 in [-1, 1].
          state: the stream's state (updated in place).
          new: bool [N], points whose query frame is this frame: their features are taken
            here and their mixer history starts empty (a point is tracked from its query frame on).
          xy: [N, 2] raster ``(x, y)`` of the queries in pixels of ``frame`` (used for ``new`` points).

        Returns:
          ``Estimate`` [N, 1] for this frame, raster pixels of ``frame``; rows of points not
          started yet are zeros. Output is the last resolution's last iteration (online models do not
          average resolutions).
        """
        if not self.causal:
            raise ValueError("stream_step needs the online (causal) model")
        size = tuple(frame.shape[1:3])
        maps = self.encode_levels(frame, refinement_resolutions(size, self.initial_resolution))
        if bool(new.any()):
            idx = new.nonzero()[:, 0]
            zero_t = torch.zeros_like(idx)
            for f, m in zip(state.features, maps):
                q = self.query_features(m, zero_t, xy[idx], size)
                f.hires[idx], f.lowres[idx] = q.hires, q.lowres
            for mixer in state.mixers:
                mixer.reset(idx)
            state.started |= new
        n = state.started.shape[0]
        out = Estimate(frame.new_zeros(n, 1, 2), frame.new_zeros(n, 1), frame.new_zeros(n, 1))
        started = state.started.nonzero()[:, 0]
        # A point's history is large (about 1 MB: 12 blocks x 4 steps x 2 frames x 2,560 floats),
        # so points go through in chunks and only a chunk's history is copied at a time.
        h, w = maps[0].lowres.shape[1:3]
        per_point = sum(m.row_floats() for m in state.mixers) + h * w * 40
        chunk = max(1, self.work_floats // per_point)
        for i in range(0, started.numel(), chunk):
            self._stream_points(maps, state, started[i : i + chunk], out)
        h0, w0 = self.initial_resolution
        out.tracks *= xy_scale(out.tracks, size[1] / w0, size[0] / h0)
        return out

    def _stream_points(self, maps: list[FeatureMaps], state: StreamState, idx: torch.Tensor, out: Estimate) -> None:
        """One frame for the started points ``idx``: their estimate into ``out`` (initial-resolution
        pixels), their mixer history updated in ``state``."""
        active = [QueryFeatures(f.hires[idx], f.lowres[idx]) for f in state.features]
        est = self.initial_estimate(active[0].lowres, maps[0].lowres)
        mixers = [m.select(idx) for m in state.mixers]

        def mix(x: torch.Tensor, s: int) -> torch.Tensor:
            y, mixers[s] = self.torch_pips_mixer.step(x, mixers[s])
            return y

        last = self.refine(est, list(zip(maps[1:], active[1:])), mix)[-1]
        for mine, theirs in zip(state.mixers, mixers):
            mine.update(idx, theirs)
        out.tracks[idx] = last.tracks
        out.occlusion[idx] = last.occlusion
        out.expected_dist[idx] = last.expected_dist


def xy_scale(like: torch.Tensor, sx: float, sy: float) -> torch.Tensor:
    """A [2] tensor ``(sx, sy)`` on ``like``'s device and dtype, to scale ``(x, y)`` coordinates."""
    return torch.tensor([sx, sy], device=like.device, dtype=like.dtype)
