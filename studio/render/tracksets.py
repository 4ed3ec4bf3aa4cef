"""Sparse or dense tracks -> the set of tracks a mode draws, with their colours.

Sparse input: ``tracks [T, N, 2]`` float ``(x, y)`` pixels (integer = pixel centre)
and ``visible [T, N]`` bool. Dense input: ``tracks [T, H, W, 2]`` and
``visible [T, H, W]``, one track per pixel of the query frame, on the video's own
``H x W`` grid. Both become a ``TrackSet`` of M tracks: dense grids are
subsampled with a stride, masks and dropout select tracks, and colours come from
the colour map in the order ``color_by`` asks for, over the tracks kept (as DOT
does).
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from studio.render.options import RELIABILITY_CMAP
from studio.results import InputError, check_video


@dataclass
class TrackSet:
    """The tracks one render draws.

    Attributes:
      tracks: [T, M, 2] float32 ``(x, y)`` pixels.
      visible: [T, M] bool (False where a position is not finite).
      start: [M, 2] float32 start positions ``(x, y)``, for colour order and masks.
      index: [M] int, the kept tracks' indices in the input (flat pixel index for dense).
      dense: True when the input was dense.
    """

    tracks: np.ndarray
    visible: np.ndarray
    start: np.ndarray
    index: np.ndarray
    dense: bool

    @property
    def num_tracks(self) -> int:
        return int(self.tracks.shape[1])


def is_dense(tracks: np.ndarray) -> bool:
    """True for dense ``[T, H, W, 2]`` tracks, False for sparse ``[T, N, 2]``."""
    return np.ndim(tracks) == 4


def check_tracks(
    video_shape: tuple[int, ...], tracks: np.ndarray, visible: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Validate sparse or dense tracks against a video; returns float32 tracks and bool visible."""
    tracks = np.asarray(tracks)
    visible = np.asarray(visible)
    t_len, h, w = video_shape[:3]
    if tracks.ndim not in (3, 4) or tracks.shape[-1] != 2:
        raise InputError(f"tracks must be [T, N, 2] (sparse) or [T, H, W, 2] (dense), got {list(tracks.shape)}")
    if visible.shape != tracks.shape[:-1]:
        raise InputError(f"visible must have shape {list(tracks.shape[:-1])}, got {list(visible.shape)}")
    if tracks.shape[0] != t_len:
        raise InputError(f"tracks have {tracks.shape[0]} frames but the video has {t_len}")
    if tracks.ndim == 4 and tracks.shape[1:3] != (h, w):
        raise InputError(
            f"dense tracks are on a {tracks.shape[2]}x{tracks.shape[1]} grid but the video is {w}x{h}; "
            "resample them to the video first"
        )
    return tracks.astype(np.float32, copy=False), visible.astype(bool, copy=False)


def grid_indices(height: int, width: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns DOT keeps from a dense grid: every ``stride`` pixels from ``stride // 2``."""
    if stride <= 1:
        return np.arange(height), np.arange(width)
    stop = (-stride) // 2 + 1  # DOT's slice [G//2 : -G//2 + 1 : G]
    rows = np.arange(height)[stride // 2 : height + stop : stride]
    cols = np.arange(width)[stride // 2 : width + stop : stride]
    if rows.size == 0:
        rows = np.array([height // 2])
    if cols.size == 0:
        cols = np.array([width // 2])
    return rows, cols


def prepare_tracks(
    tracks: np.ndarray,
    visible: np.ndarray,
    *,
    grid: int = 1,
    queries: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    dropout: float = 0.0,
    seed: int = 0,
) -> TrackSet:
    """Select the tracks to draw.

    Args:
      tracks: [T, N, 2] or [T, H, W, 2] float ``(x, y)`` pixels (already checked).
      visible: [T, N] or [T, H, W] bool.
      grid: dense only: keep every ``grid``-th pixel from ``grid // 2`` (DOT's sampling).
      queries: sparse only, optional [N, 3] ``(t, x, y)``: start positions for colours
        and masks (default: the positions in frame 0).
      mask: optional [H, W] bool: keep tracks whose start position is on a True pixel.
      dropout: sparse only: leave out this share of the tracks at random.
      seed: random seed for the dropout.

    Returns:
      A ``TrackSet``.
    """
    if is_dense(tracks):
        t_len, h, w = tracks.shape[:3]
        rows, cols = grid_indices(h, w, grid)
        keep = np.zeros((h, w), bool)
        keep[np.ix_(rows, cols)] = True
        if mask is not None:
            keep &= _fit_mask(mask, (h, w))
        index = np.flatnonzero(keep)
        ys, xs = np.divmod(index, w)
        start = np.stack([xs, ys], axis=-1).astype(np.float32)
        flat = tracks.reshape(t_len, h * w, 2)
        vis = visible.reshape(t_len, h * w)
        if index.size == h * w:  # every pixel: a view, not a copy of a large array
            sel_tracks, sel_vis = flat, vis
        else:
            sel_tracks, sel_vis = flat[:, index], vis[:, index]
        dense = True
    else:
        t_len, n = tracks.shape[:2]
        if queries is not None:
            q = np.asarray(queries, np.float32)
            if q.shape != (n, 3):
                raise InputError(f"queries must be [N, 3] = {[n, 3]}, got {list(q.shape)}")
            start = q[:, 1:3].copy()
        else:
            start = tracks[0].copy() if t_len else np.zeros((n, 2), np.float32)
        keep = np.ones(n, bool)
        if mask is not None:
            m = mask
            h, w = m.shape
            px = np.floor(start + 0.5)
            inside = np.isfinite(px).all(axis=1) & (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
            ix = np.where(inside, px[:, 0], 0).astype(np.intp)
            iy = np.where(inside, px[:, 1], 0).astype(np.intp)
            keep &= inside & m[iy, ix]
        index = np.flatnonzero(keep)
        if dropout > 0 and index.size:
            rng = np.random.default_rng(seed)
            count = int((1 - dropout) * index.size)
            index = np.sort(rng.choice(index, count, replace=False))
        sel_tracks, sel_vis, start = tracks[:, index], visible[:, index], start[index]
        dense = False
    finite = np.isfinite(sel_tracks).all(axis=-1)
    return TrackSet(
        tracks=np.ascontiguousarray(sel_tracks, np.float32),
        visible=np.ascontiguousarray(sel_vis & finite),
        start=start.astype(np.float32),
        index=index,
        dense=dense,
    )


def _fit_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if mask.shape != size:
        raise InputError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the tracks' grid is {size[1]}x{size[0]}")
    return mask


def colormap_colors(values: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """Colours of a matplotlib colour map at ``values`` in [0, 1]: uint8 [..., 3] RGB."""
    from matplotlib import colormaps

    rgb = colormaps[cmap](np.clip(np.asarray(values, np.float64), 0.0, 1.0))[..., :3]
    return np.round(rgb * 255).astype(np.uint8)


def color_order(start: np.ndarray, color_by: str) -> np.ndarray:
    """Rank of each track along the colour map.

    Args:
      start: [M, 2] ``(x, y)`` start positions.
      color_by: ``"left_right"`` (column, then row: DOT's default), ``"up_down"``
        (row, then column) or ``"query"`` (given order).

    Returns:
      [M] int ranks 0..M-1.
    """
    m = len(start)
    if color_by == "query" or m == 0:
        return np.arange(m)
    # Whole pixels, as DOT's integer key does: one column's points go top to bottom.
    px = np.nan_to_num(np.floor(np.asarray(start, np.float64) + 0.5), nan=0.0)
    order = np.lexsort((px[:, 1], px[:, 0])) if color_by == "left_right" else np.lexsort((px[:, 0], px[:, 1]))
    rank = np.empty(m, np.intp)
    rank[order] = np.arange(m)
    return rank


def track_colors(
    ts: TrackSet, color_by: str = "left_right", cmap: str = "jet", colors: np.ndarray | None = None,
    reliability: np.ndarray | None = None,
) -> np.ndarray:
    """Colours of the kept tracks: uint8 [M, 3] RGB, or [T, M, 3] when they change per frame.

    ``colors`` (uint8 [N, 3] or [T, N, 3], sparse input only) gives each input track its own
    colour; ``color_by="reliability"`` colours each position by ``reliability`` [T, N]
    (``RELIABILITY_CMAP``); otherwise colour-map values ``rank / (M - 1)`` in ``color_by`` order.
    """
    if colors is not None:
        if ts.dense:
            raise InputError("per-track colours apply to sparse tracks only")
        colors = np.asarray(colors, np.uint8)
        if colors.shape[-2] <= (ts.index.max() if ts.index.size else -1):
            raise InputError(f"{colors.shape[-2]} colours were given for more tracks than that")
        if colors.ndim == 3 and colors.shape[0] != ts.tracks.shape[0]:
            raise InputError(f"colors has {colors.shape[0]} frames but the tracks have {ts.tracks.shape[0]}")
        return colors[..., ts.index, :]
    if color_by == "reliability":
        if ts.dense or reliability is None:
            raise InputError("colouring by reliability needs sparse tracks with reliability")
        return colormap_colors(reliability[:, ts.index], RELIABILITY_CMAP)
    m = ts.num_tracks
    rank = color_order(ts.start, color_by)
    values = rank / (m - 1) if m > 1 else np.zeros(m)
    return colormap_colors(values, cmap)


def mode_tracks(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    options,
    *,
    grid: int,
    queries: np.ndarray | None = None,
    use_mask: bool = False,
    dropout: float = 0.0,
) -> tuple[np.ndarray, TrackSet, np.ndarray]:
    """What every render mode does first: check the inputs, select the tracks, colour them.

    Args:
      video: [T, H, W, 3] uint8 RGB.
      tracks, visible: sparse or dense tracks (see the module docstring).
      options: the ``RenderOptions`` (mask, colours, colour order and map, seed).
      grid: dense only: stride of the kept pixels.
      queries: sparse only, optional [N, 3] ``(t, x, y)`` start positions.
      use_mask: keep only tracks that start inside ``options.mask`` (which must be set).
      dropout: sparse only: share of tracks left out at random (``options.seed``).

    Returns:
      ``(video, track set, colours uint8 [M, 3])`` with the video checked.

    Raises:
      InputError: bad shapes, a mask mode without a mask, bad colours.
    """
    video = check_video(video)
    tracks, visible = check_tracks(video.shape, tracks, visible)
    reliability = options.reliability
    if reliability is not None:
        if reliability.shape != tracks.shape[:-1] or tracks.ndim != 3:
            raise InputError(f"reliability must be [T, N] = {list(tracks.shape[:-1])} for sparse tracks, "
                             f"got {list(reliability.shape)}")
        if options.hide_below > 0:
            # A position that is not finite is not drawn by any mode.
            tracks = np.where((reliability < options.hide_below)[..., None], np.float32(np.nan), tracks)
    if use_mask and options.mask is None:
        raise InputError("this mode needs a mask: give RenderOptions(mask=...)")
    ts = prepare_tracks(
        tracks,
        visible,
        grid=grid,
        queries=queries,
        mask=options.mask if use_mask else None,
        dropout=dropout,
        seed=options.seed,
    )
    return video, ts, track_colors(ts, options.color_by, options.colormap, options.colors, reliability)


def frame_palette(colors: np.ndarray):
    """``palette(t)``: packed colours (``_splat.Canvas.pack``) of frame ``t`` for [M, 3] or [T, M, 3] colours."""
    from studio.render._splat import Canvas

    if colors.ndim == 2:
        packed = Canvas.pack(colors)
        return lambda t: packed
    return lambda t: Canvas.pack(colors[t])
