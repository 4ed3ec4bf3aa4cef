"""Spaghetti mode (DOT's ``plot_spaghetti``): trails in a slanted space-time view.

Time becomes a third axis. A point ``(x, y)`` at time ``s`` (frames, possibly
fractional) is projected like DOT's ``project``: with ``u = 0.25 (x / (W-1) - 0.5)``,
``v = 0.25 (y / (H-1) - 0.5)`` and ``tau = 1 - s / (T-1)``::

    x' = (0.8 u + 0.5 tau + 0.25) (W - 1)
    y' = (-0.2 u + v + 0.1 tau + 0.45) (H - 1)

then scaled by ``spaghetti_scale`` S onto an ``S*H x S*W`` canvas. Each frame is
therefore drawn at about a quarter of its size (0.2 W x 0.25 H), sheared, and older
times sit further right and lower. Tracks are interpolated in time (Catmull-Rom, ``spaghetti_length``
samples per frame interval) and every sample is splatted as a disc of
``spaghetti_radius`` onto a persistent canvas, newest on top, so trails accumulate.
All samples are drawn, visible or not (as in DOT).

Background frames: ``first`` keeps frame 0 on the canvas, ``every`` keeps every
``spaghetti_every``-th frame, ``last`` draws the current frame for its output
frame only; a drawn frame gets the current points on top. ``static`` moves the
view so the current frame stays where the last frame will be (DOT translates the
finished picture with bilinear resampling; here the canvas moves by whole pixels
and the current frame and points are drawn at their exact place, so they neither
blur nor shimmer). Empty canvas is ``spaghetti_background`` (white).

The canvas is ``S*H x S*W``, but the projection only ever uses about its middle
(frames span ``0.15-0.85`` of its width and ``0.3-0.7`` of its height), so by
default (``spaghetti_crop``) the output is cropped to the box that the drawing
covers over the whole video (``spaghetti_window``), plus a small margin: the same
picture, without the empty border.
"""

from __future__ import annotations

import cv2
import numpy as np

from studio.progress import ProgressFn
from studio.render import _splat
from studio.render.options import RenderOptions
from studio.render.tracksets import frame_palette, mode_tracks


def catmull_rom(tracks: np.ndarray, t: int, u: np.ndarray) -> np.ndarray:
    """Positions between frames ``t`` and ``t + 1`` by uniform Catmull-Rom interpolation.

    Args:
      tracks: [T, M, 2] float ``(x, y)``.
      t: start frame of the interval, ``0 <= t < T - 1``.
      u: [L] fractions in [0, 1]; ``u = 0`` gives frame ``t``, ``u = 1`` frame ``t + 1``.

    Returns:
      [L, M, 2] float32.
    """
    t_len = tracks.shape[0]
    p1 = tracks[t].astype(np.float32)
    p2 = tracks[min(t + 1, t_len - 1)].astype(np.float32)
    # Past the ends, continue the first/last step in a straight line (a constant velocity stays exact).
    p0 = tracks[t - 1].astype(np.float32) if t >= 1 else 2 * p1 - p2
    p3 = tracks[t + 2].astype(np.float32) if t + 2 < t_len else 2 * p2 - p1
    u = np.asarray(u, np.float32)[:, None, None]
    c1 = p2 - p0
    c2 = 2 * p0 - 5 * p1 + 4 * p2 - p3
    c3 = -p0 + 3 * p1 - 3 * p2 + p3
    return p1 + 0.5 * u * (c1 + u * (c2 + u * c3))


def upsample_tracks(tracks: np.ndarray, length: int) -> np.ndarray:
    """Temporal upsampling of whole tracks: ``length`` samples per frame interval.

    Args:
      tracks: [T, M, 2] float ``(x, y)``.
      length: samples per interval (1 = unchanged).

    Returns:
      [(T - 1) * length + 1, M, 2] float32; sample ``t * length`` is frame ``t`` exactly.
    """
    t_len = tracks.shape[0]
    if length <= 1 or t_len < 2:
        return np.asarray(tracks, np.float32)
    u = np.arange(length) / length
    parts = [catmull_rom(tracks, t, u) for t in range(t_len - 1)]
    parts.append(np.asarray(tracks[-1:], np.float32))
    return np.concatenate(parts)


def _tau(s: np.ndarray | float, num_frames: int) -> np.ndarray:
    return 1.0 - np.asarray(s, np.float64) / (num_frames - 1) if num_frames > 1 else np.zeros_like(s, np.float64)


def projection_matrix(s: float, num_frames: int, size: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """The space-time projection at time ``s`` as an affine map of pixel coordinates.

    Args:
      s: time in frames (fractional allowed).
      num_frames: T of the video.
      size: ``(H, W)`` of the video.
      scale: canvas scale S.

    Returns:
      float64 [2, 3] ``A`` with canvas ``(x', y') = A @ (x, y, 1)``.
    """
    h, w = size
    tau = float(_tau(s, num_frames))
    wm, hm = max(w - 1, 1), max(h - 1, 1)
    a = np.array(
        [
            [0.2, 0.0, wm * (0.15 + 0.5 * tau)],
            [-0.05 * hm / wm, 0.25, hm * (0.35 + 0.1 * tau)],
        ]
    )
    return a * scale


def project_spacetime(
    xy: np.ndarray, s: np.ndarray | float, num_frames: int, size: tuple[int, int], scale: float = 1.0
) -> np.ndarray:
    """Project points at times ``s`` into the canvas (DOT's ``project`` times ``scale``).

    Args:
      xy: [..., 2] float ``(x, y)`` video pixels.
      s: time in frames, broadcastable to ``xy[..., 0]``.
      num_frames: T.
      size: ``(H, W)``.
      scale: canvas scale S.

    Returns:
      [..., 2] float32 canvas pixels (integer = pixel centre).
    """
    h, w = size
    xy = np.asarray(xy, np.float32)
    wm, hm = max(w - 1, 1), max(h - 1, 1)
    tau = _tau(s, num_frames).astype(np.float32)
    x = xy[..., 0] * np.float32(0.2) + wm * (0.15 + 0.5 * tau)
    y = xy[..., 0] * np.float32(-0.05 * hm / wm) + xy[..., 1] * np.float32(0.25) + hm * (0.35 + 0.1 * tau)
    return (np.stack(np.broadcast_arrays(x, y), axis=-1) * np.float32(scale)).astype(np.float32)


def _shrink(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``frame`` to ``(width, height)``, halving with ``pyrDown`` first while that stays larger."""
    ws, hs = size
    small = frame
    while small.shape[1] >= 2 * ws and small.shape[0] >= 2 * hs:
        small = cv2.pyrDown(small)
    if (small.shape[1], small.shape[0]) != (ws, hs):
        small = cv2.resize(small, (ws, hs), interpolation=cv2.INTER_LINEAR)
    return small


def _draw_frame(
    canvas: _splat.Canvas,
    frame: np.ndarray,
    s: float,
    num_frames: int,
    scale: float,
    offset: tuple[float, float] = (0.0, 0.0),
) -> None:
    """Draw ``frame`` through the projection at time ``s`` (plus ``offset`` canvas pixels) onto the canvas."""
    h, w = frame.shape[:2]
    hc, wc, pad = canvas.height, canvas.width, canvas.pad
    a = np.vstack([projection_matrix(s, num_frames, (h, w), scale), [0, 0, 1]])
    a[0, 2] += offset[0]
    a[1, 2] += offset[1]
    # Shrink first (DOT splats every pixel, which averages), then shear with bilinear sampling.
    ws, hs = max(1, int(round(0.2 * scale * w))), max(1, int(round(0.25 * scale * h)))
    small = _shrink(frame, (ws, hs))
    b = np.array([[w / ws, 0, 0.5 * w / ws - 0.5], [0, h / hs, 0.5 * h / hs - 0.5], [0, 0, 1]])
    m = a @ b  # small-image pixels -> canvas pixels
    corners = np.array([[-0.5, -0.5, 1], [ws - 0.5, -0.5, 1], [-0.5, hs - 0.5, 1], [ws - 0.5, hs - 0.5, 1]]) @ m.T
    x0 = max(int(np.floor(corners[:, 0].min())) - 1, 0)
    y0 = max(int(np.floor(corners[:, 1].min())) - 1, 0)
    x1 = min(int(np.ceil(corners[:, 0].max())) + 2, wc)
    y1 = min(int(np.ceil(corners[:, 1].max())) + 2, hc)
    if x1 <= x0 or y1 <= y0:
        return
    m[0, 2] -= x0
    m[1, 2] -= y0
    roi = canvas.rgba[pad + y0 : pad + y1, pad + x0 : pad + x1]
    # Transparent border: pixels that map outside the frame keep what the canvas had.
    dst = roi if roi.flags.c_contiguous else roi.copy()
    done = cv2.warpAffine(
        cv2.cvtColor(small, cv2.COLOR_RGB2RGBA), m[:2], (x1 - x0, y1 - y0), dst=dst,
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT,
    )
    if done is not dst:
        raise RuntimeError("OpenCV did not draw into the given array; the spaghetti frame would be lost")
    if dst is not roi:
        roi[...] = dst


def _static_offset(t: int, num_frames: int, size: tuple[int, int], scale: float) -> tuple[float, float]:
    """Canvas shift of the ``static`` view at output frame ``t``: the current frame stays where the last one is."""
    h, w = size
    tau = float(_tau(t, num_frames))
    return -scale * max(w - 1, 1) * 0.5 * tau, -scale * max(h - 1, 1) * 0.1 * tau


def _frame_box(s: float, num_frames: int, size: tuple[int, int], scale: float) -> np.ndarray:
    """``[x0, y0, x1, y1]`` canvas box of the whole frame projected at time ``s``."""
    h, w = size
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]], np.float32)
    p = project_spacetime(corners, s, num_frames, size, scale)
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()], np.float64)


def spaghetti_window(
    tracks: np.ndarray,
    size: tuple[int, int],
    scale: float,
    radius: float,
    *,
    first: bool = False,
    every: int = 0,
    last: bool = True,
    static: bool = False,
    margin: float = 6.0,
) -> tuple[int, int, int, int]:
    """The part of the ``S*H x S*W`` spaghetti canvas that any output frame draws on.

    Everything drawn at output frame ``t``: trail samples up to ``t``, the kept
    background frames up to ``t``, the current frame and points; in the static view
    all of it moved by that frame's shift. The union over all frames, grown by the
    line radius and ``margin``, clipped to the canvas, with even sides (H.264).

    Args:
      tracks: [T, M, 2] float ``(x, y)`` video pixels of the drawn tracks (NaN = not drawn).
      size: ``(H, W)`` of the video.
      scale: canvas scale S.
      radius: trail radius in canvas pixels.
      first, every, last, static: the mode's parts (``every`` = interval, 0 = off).
      margin: extra canvas pixels on every side.

    Returns:
      ``(y0, x0, height, width)`` in canvas pixels.
    """
    h, w = size
    t_len = tracks.shape[0]
    hc, wc = max(1, int(round(scale * h))), max(1, int(round(scale * w)))
    inf = np.inf
    # kept[s] / shown[s] = [x0, y0, x1, y1] (before any static shift) of what is drawn at frame s onto the
    # persistent canvas (trails, frames kept in the background) / for output frame s only (the current frame)
    kept = np.tile(np.array([inf, inf, -inf, -inf]), (t_len, 1))
    shown = kept.copy()

    def grow(boxes: np.ndarray, s: int, box: np.ndarray) -> None:
        if np.all(np.isfinite(box)):
            boxes[s, :2] = np.minimum(boxes[s, :2], box[:2])
            boxes[s, 2:] = np.maximum(boxes[s, 2:], box[2:])

    pts = np.asarray(tracks, np.float32)
    u = np.linspace(0.0, 1.0, 9, dtype=np.float32)[1:]
    for s in range(t_len):
        if first and s == 0 or every and s % every == 0:
            grow(kept, s, _frame_box(s, t_len, size, scale))
        if last:
            grow(shown, s, _frame_box(s, t_len, size, scale))
        if pts.shape[1] == 0:
            continue
        # trail samples in (s-1, s] (Catmull-Rom may swing a little beyond the frames' positions)
        seg = catmull_rom(pts, s - 1, u) if s > 0 else pts[:1]
        times = (s - 1 + u)[:, None] if s > 0 else np.zeros((1, 1), np.float32)
        xy = project_spacetime(seg, times, t_len, size, scale).reshape(-1, 2)
        xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy):
            grow(kept, s, np.concatenate([xy.min(axis=0), xy.max(axis=0)]).astype(np.float64))
    # Output frame t shows everything kept up to t plus its own frame, all shifted in the static view.
    lo = np.minimum(np.minimum.accumulate(kept[:, :2], axis=0), shown[:, :2])
    hi = np.maximum(np.maximum.accumulate(kept[:, 2:], axis=0), shown[:, 2:])
    if static and t_len > 1:
        shift = np.array([_static_offset(t, t_len, size, scale) for t in range(t_len)])
        lo, hi = lo + shift, hi + shift
    ok = np.isfinite(lo).all(axis=1)
    if not ok.any():
        return 0, 0, hc, wc
    grow_by = radius + 1.5 + margin
    x0, y0 = lo[ok].min(axis=0) - grow_by
    x1, y1 = hi[ok].max(axis=0) + grow_by
    x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    x1, y1 = min(wc, int(np.ceil(x1))), min(hc, int(np.ceil(y1)))
    width, height = max(2, x1 - x0), max(2, y1 - y0)
    # even sides for H.264's 4:2:0 chroma: grow by one pixel where the canvas allows, else shrink
    if width % 2:
        x0, width = (x0, width + 1) if x0 + width < wc else ((x0 - 1, width + 1) if x0 > 0 else (x0, width - 1))
    if height % 2:
        y0, height = (y0, height + 1) if y0 + height < hc else ((y0 - 1, height + 1) if y0 > 0 else (y0, height - 1))
    return y0, x0, min(height, hc), min(width, wc)


def render_spaghetti(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    options: RenderOptions | None = None,
    *,
    first: bool = False,
    every: bool = False,
    last: bool = True,
    static: bool = False,
    use_mask: bool = False,
    queries: np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Draw trails in the slanted space-time view.

    Args:
      video: [T, H, W, 3] uint8 RGB.
      tracks: [T, N, 2] (sparse) or [T, H, W, 2] (dense; subsampled every
        ``spaghetti_grid`` pixels) float ``(x, y)`` pixels, integer = pixel centre.
      visible: [T, N] or [T, H, W] bool (only used to check shapes: trails ignore it).
      options: the ``spaghetti_*`` settings, colours and ``mask``.
      first, every, last: background frames (see the module docstring).
      static: keep the current frame still.
      use_mask: keep only tracks starting inside ``options.mask``.
      queries: optional sparse [N, 3] start positions.
      progress: optional ``progress(fraction, text)``.

    Returns:
      uint8 RGB [T, H', W', 3]: the ``round(S*H) x round(S*W)`` canvas (``S = spaghetti_scale``),
      cropped to ``spaghetti_window`` unless ``options.spaghetti_crop`` is False.
    """
    stream = spaghetti_stream(
        video, tracks, visible, options, first=first, every=every, last=last, static=static, use_mask=use_mask,
        queries=queries,
    )
    return stream.collect(progress)


def spaghetti_stream(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    options: RenderOptions | None = None,
    *,
    first: bool = False,
    every: bool = False,
    last: bool = True,
    static: bool = False,
    use_mask: bool = False,
    queries: np.ndarray | None = None,
) -> _splat.FrameStream:
    """Check inputs and set up ``render_spaghetti``; frames are drawn as the stream is read."""
    opts = options or RenderOptions()
    video, ts, colors = mode_tracks(
        video, tracks, visible, opts, grid=opts.spaghetti_grid, queries=queries, use_mask=use_mask,
        dropout=opts.spaghetti_dropout,
    )
    t_len, h, w, _ = video.shape
    scale = float(opts.spaghetti_scale)
    hc, wc = max(1, int(round(scale * h))), max(1, int(round(scale * w)))
    m = ts.num_tracks
    length = int(opts.spaghetti_length)
    radius = float(opts.spaghetti_radius)
    reach = _splat.hard_disc_offsets(radius)[2]
    pad = 2 * reach + 2
    bg = tuple(int(c) for c in opts.spaghetti_background)
    canvas = _splat.Canvas(hc, wc, pad)
    canvas.fill(bg)
    scratch = _splat.Canvas(hc, wc, pad) if (last or static) else None
    buf = _splat.KeyBuffer(hc, wc, pad, max(m, 1))
    palette = frame_palette(colors)
    ids = np.arange(m)
    # Trails ignore visibility (as DOT); a sample that is not finite is simply skipped by the splat.
    pts = ts.tracks
    u = np.arange(1, length + 1, dtype=np.float32) / length  # (t-1, t]: newest sample last
    order = np.repeat(np.arange(1, length + 1, dtype=np.uint32), m)
    batch_ids = np.tile(ids, length)

    def paint_keys(target: _splat.Canvas, t: int) -> None:
        # Trails keep the colour of the frame they were drawn at (reliability changes along a track).
        idx, keys = buf.take()
        target.set(idx, np.take(palette(t), buf.ids(keys)))

    def head(target: _splat.Canvas, t: int, offset=(0.0, 0.0)) -> None:
        if m:
            xy = project_spacetime(pts[t], t, t_len, (h, w), scale) + np.asarray(offset, np.float32)
            _splat.splat_hard(buf, xy, ids, radius)
            paint_keys(target, t)

    def frames():
        for t in range(t_len):
            # 1. Trails: the samples in (t-1, t], newest on top, onto the persistent canvas.
            if m and t > 0:
                seg = catmull_rom(pts, t - 1, u)  # [L, M, 2]
                times = (t - 1 + u)[:, None]
                xy = project_spacetime(seg, times, t_len, (h, w), scale).reshape(-1, 2)
                _splat.splat_hard(buf, xy, batch_ids, radius, priority=order)
                paint_keys(canvas, t)
            elif t == 0:
                head(canvas, 0)
            # 2. Frames kept in the background, with the current points on top.
            if (first and t == 0) or (every and t % opts.spaghetti_every == 0):
                _draw_frame(canvas, video[t], t, t_len, scale)
                head(canvas, t)
            # 3. Static: move the view by whole pixels; the current frame and points below are then
            #    drawn at the exact (sub-pixel) static position, so they do not shimmer or blur.
            shown, offset = canvas, (0.0, 0.0)
            if static and t_len > 1:
                offset = _static_offset(t, t_len, (h, w), scale)
                scratch.shift_from(canvas, int(round(offset[0])), int(round(offset[1])), bg)
                shown = scratch
            elif last:
                scratch.copy_from(canvas)
                shown = scratch
            # 4. The current frame, for this output frame only.
            if last:
                _draw_frame(shown, video[t], t, t_len, scale, offset)
                head(shown, t, offset)
            yield shown

    if not opts.spaghetti_crop:
        return _splat.FrameStream(frames(), (t_len, hc, wc), "drawing spaghetti")
    y0, x0, hh, ww = spaghetti_window(
        pts, (h, w), scale, radius, first=first, every=opts.spaghetti_every if every else 0, last=last,
        static=static,
    )
    return _splat.FrameStream(frames(), (t_len, hh, ww), "drawing spaghetti", origin=(y0, x0))
