"""Points mode: coloured points with fading tails, drawn on the video frames.

Visible points are filled anti-aliased discs; hidden points are hollow rings (or
left out). Tails join a point's positions over its last ``tail`` frames (only
between frames where it is visible) and fade with age. Everything in a frame is
splatted at once with numpy (``studio.render._splat``): no per-point Python loop
and no full-frame copy per tail segment.
"""

from __future__ import annotations

import numpy as np

from studio.progress import ProgressFn
from studio.render import _splat
from studio.render.annotations import draw_skeleton, label_stream, named_tracks
from studio.render.options import RenderOptions, default_radius
from studio.render.tracksets import check_tracks, mode_tracks
from studio.results import InputError, check_video

DENSE_POINTS_GRID = 16
"""Default stride in pixels when dense tracks are drawn as points."""


def point_colors(n: int, cmap: str = "gist_rainbow") -> np.ndarray:
    """Distinct colours for ``n`` points in query order.

    Returns:
      uint8 [n, 3] RGB.
    """
    from matplotlib import colormaps

    if n == 0:
        return np.zeros((0, 3), np.uint8)
    values = colormaps[cmap](np.linspace(0.0, 1.0, n, endpoint=False) if n > 1 else np.array([0.0]))
    return np.round(values[:, :3] * 255).astype(np.uint8)


def render_points(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    options: RenderOptions | None = None,
    *,
    queries: np.ndarray | None = None,
    use_mask: bool = False,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Draw points with fading tails on every frame (``points_stream(...).collect()``).

    Args:
      video: [T, H, W, 3] uint8 RGB.
      tracks: [T, N, 2] (sparse) or [T, H, W, 2] (dense) float ``(x, y)`` pixels,
        integer = pixel centre.
      visible: [T, N] or [T, H, W] bool.
      options: ``radius``, ``tail``, ``hide_occluded``, colours, ``dense_grid``.
      queries: optional [N, 3] ``(t, x, y)``: start positions for colour order and mask.
      use_mask: keep only tracks starting inside ``options.mask``.
      progress: optional ``progress(fraction, text)``.

    Returns:
      [T, H, W, 3] uint8 RGB, a new array.
    """
    return points_stream(video, tracks, visible, options, queries=queries, use_mask=use_mask).collect(progress)


def points_stream(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    options: RenderOptions | None = None,
    *,
    queries: np.ndarray | None = None,
    use_mask: bool = False,
) -> _splat.FrameStream:
    """Check inputs and set up ``render_points``; frames are drawn as the stream is read."""
    opts = options or RenderOptions()
    video, ts, colors = mode_tracks(
        video, tracks, visible, opts, grid=opts.dense_grid or DENSE_POINTS_GRID, queries=queries, use_mask=use_mask
    )
    names = named_tracks(opts, ts)
    if names is not None and opts.skeleton:
        video = draw_skeleton(video, ts.tracks, ts.visible, names)
    stream = _stream(video, ts.tracks, ts.visible, colors, opts.tail, opts.radius, opts.hide_occluded)
    if names is not None and opts.labels:
        radius = default_radius(*video.shape[1:3]) if opts.radius is None else float(opts.radius)
        stream = label_stream(stream, ts.tracks, ts.visible, names, colors, radius)
    return stream



def _stream(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    colors: np.ndarray,
    tail: int,
    radius: float | None,
    hide_occluded: bool,
    first: int = 0,
) -> _splat.FrameStream:
    # ``video`` holds frames ``first..T-1``; the tracks hold all T (earlier frames give the tails).
    _, h, w, _ = video.shape
    t_len = tracks.shape[0]
    m = tracks.shape[1]
    radius = default_radius(h, w) if radius is None else float(radius)
    line = max(1.0, float(round(radius / 2)))
    disc = _splat.disc_stamp(radius)
    ring = _splat.disc_stamp(radius, ring_width=max(1.0, line))
    reach = max(disc.reach, int(np.ceil(line / 2 + 1.5)) + 2)
    pad = 2 * reach + 2
    buf = _splat.KeyBuffer(h, w, pad, max(m, 1))
    canvas = _splat.Canvas(h, w, pad)
    palette = _splat.Canvas.pack(colors)

    def frames():
        for t in range(first, t_len):
            canvas.load(video[t - first])
            # Tails, rings and discs go into one buffer: where they overlap, the stamp covering
            # a pixel most wins, so discs (full coverage) sit on top of faded tails.
            k = min(tail, t)
            if k > 0 and m:
                ok = visible[t - k : t] & visible[t - k + 1 : t + 1]  # [k, M], oldest first
                age = np.arange(k, 0, -1)  # the segment ending at frame t is 1 frame old
                fade = (1.0 - (age - 1) / max(tail, 1)).astype(np.float32)
                rows, cols = np.nonzero(ok)
                a = tracks[t - k + rows, cols]
                b = tracks[t - k + 1 + rows, cols]
                _splat.splat_lines(buf, a, b, cols, line, fade[rows])
            if not hide_occluded:
                hidden = np.flatnonzero(~visible[t] & np.isfinite(tracks[t]).all(axis=-1))
                _splat.splat_stamp(buf, tracks[t, hidden], hidden, ring)
            shown = np.flatnonzero(visible[t])
            _splat.splat_stamp(buf, tracks[t, shown], shown, disc)
            idx, keys = buf.take()
            alpha, which = buf.decode(keys)
            canvas.paint(idx, alpha, np.take(palette, which))
            yield canvas

    return _splat.FrameStream(frames(), (t_len - first, h, w), "drawing points")


def draw_points(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    tail: int = 8,
    radius: float | None = None,
    colors: np.ndarray | None = None,
    hide_occluded: bool = False,
    first: int = 0,
    names: list[str] | None = None,
    labels: bool = False,
    skeleton: bool = True,
) -> np.ndarray:
    """Draw tracked points with tails of their last ``tail`` positions.

    A long video can be drawn piece by piece: ``video`` then holds frames ``first..T-1``
    only, while ``tracks`` and ``visible`` also hold the ``first`` frames before (their tails).

    Args:
      video: [T, H, W, 3] uint8 RGB.
      tracks: [T, N, 2] float ``(x, y)`` pixels, integer = pixel centre.
      visible: [T, N] bool.
      tail: frames of trail behind each point (0 = none); older parts fade out.
      radius: disc radius in pixels (default scales with the frame size).
      colors: optional uint8 [N, 3] RGB per point (default: rainbow by query order).
      hide_occluded: leave hidden points out instead of drawing rings.
      first: how many frames of ``tracks`` come before ``video``'s first frame.
      names: optional N point names; COCO-17 keypoints get their skeleton drawn (``skeleton``).
      labels: write each visible point's name beside it (needs ``names``).
      skeleton: draw pose limbs when ``names`` hold COCO-17 keypoints.

    Returns:
      [T - first, H, W, 3] uint8 RGB, a new array.
    """
    video = check_video(video)
    if isinstance(first, bool) or not isinstance(first, (int, np.integer)) or first < 0:
        raise InputError(f"first must be an integer >= 0, got {first!r}")
    tracks, visible = check_tracks((video.shape[0] + int(first), *video.shape[1:]), tracks, visible)
    if tracks.ndim != 3:
        raise InputError("draw_points takes sparse tracks [T, N, 2]; use render_points for dense tracks")
    n = tracks.shape[1]
    colors = point_colors(n) if colors is None else np.asarray(colors, np.uint8)
    if colors.shape != (n, 3):
        raise InputError(f"colors must be [N, 3] = {[n, 3]}, got {list(colors.shape)}")
    visible = visible & np.isfinite(tracks).all(axis=-1)
    if names is not None and len(names) != n:
        raise InputError(f"names must hold one name per point ({n}), got {len(names)}")
    first = int(first)
    # Skeletons and labels are drawn on the frames of ``video`` only (the tracks' last T - first frames).
    if names is not None and skeleton:
        video = draw_skeleton(video, tracks[first:], visible[first:], names)
    stream = _stream(video, tracks, visible, colors, int(tail), radius, hide_occluded, first)
    if names is not None and labels:
        r = default_radius(*video.shape[1:3]) if radius is None else float(radius)
        stream = label_stream(stream, tracks[first:], visible[first:], names, colors, r)
    return stream.collect()
