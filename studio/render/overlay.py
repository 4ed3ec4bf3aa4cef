"""Overlay mode (DOT's ``plot_overlay``): tracks at their current positions, blended over the frame.

Per frame the visible tracks are splatted in their colours (``rainbow``, with
alpha ``a``) and blended as ``out = f * a * rainbow + (1 - f * a) * frame`` with
``f = overlay_factor`` (0.75). With ``stripes`` the hidden tracks are splatted
too, in their colour with white diagonal stripes on the pixels where
``(row + col) % 9 < 3``, and the visible layer goes over them:
``rainbow = a * rainbow + (1 - a) * rainbow_hidden``, ``a = a + (1 - a) * a_hidden``
(premultiplied here, so anti-aliased edges blend correctly).

Dense tracks use DOT's radius-1 splat (the four pixels around each point, alpha 1
wherever something landed); sparse tracks use anti-aliased discs.
"""

from __future__ import annotations

import numpy as np

from studio.progress import ProgressFn
from studio.render import _splat
from studio.render.annotations import draw_skeleton, label_stream, named_tracks
from studio.render.options import RenderOptions, default_radius
from studio.render.tracksets import mode_tracks


_WHITE = _splat.Canvas.pack(np.array([[255, 255, 255]], np.uint8))[0]


def render_overlay(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    options: RenderOptions | None = None,
    *,
    stripes: bool = False,
    use_mask: bool = False,
    queries: np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Blend every track's current position over its frame.

    Args:
      video: [T, H, W, 3] uint8 RGB.
      tracks: [T, N, 2] (sparse) or [T, H, W, 2] (dense) float ``(x, y)`` pixels,
        integer = pixel centre.
      visible: [T, N] or [T, H, W] bool.
      options: ``overlay_factor``, ``radius``, ``dense_grid``, colours, ``mask``.
      stripes: also draw hidden tracks, with white diagonal stripes.
      use_mask: keep only tracks starting inside ``options.mask``.
      queries: optional sparse [N, 3] ``(t, x, y)`` start positions.
      progress: optional ``progress(fraction, text)``.

    Returns:
      [T, H, W, 3] uint8 RGB, a new array.
    """
    stream = overlay_stream(video, tracks, visible, options, stripes=stripes, use_mask=use_mask, queries=queries)
    return stream.collect(progress)


def overlay_stream(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    options: RenderOptions | None = None,
    *,
    stripes: bool = False,
    use_mask: bool = False,
    queries: np.ndarray | None = None,
) -> _splat.FrameStream:
    """Check inputs and set up ``render_overlay``; frames are drawn as the stream is read."""
    opts = options or RenderOptions()
    video, ts, colors = mode_tracks(
        video, tracks, visible, opts, grid=opts.dense_grid or 1, queries=queries, use_mask=use_mask
    )
    names = named_tracks(opts, ts)
    if names is not None and opts.skeleton:
        video = draw_skeleton(video, ts.tracks, ts.visible, names)
    t_len, h, w, _ = video.shape
    m = ts.num_tracks
    if opts.radius is not None:
        radius = float(opts.radius)
    else:
        radius = 1.0 if ts.dense else default_radius(h, w)
    bilinear = radius <= 1.0
    stamp = None if bilinear else _splat.disc_stamp(radius)
    pad = 2 * (2 if bilinear else stamp.reach) + 2
    shown = _splat.KeyBuffer(h, w, pad, max(m, 1))
    hidden = _splat.KeyBuffer(h, w, pad, max(m, 1)) if stripes else None
    striped = _splat.stripes_mask(h, w, pad) if stripes else None
    canvas = _splat.Canvas(h, w, pad)
    packed = _splat.Canvas.pack(colors)
    factor = np.float32(opts.overlay_factor)
    all_ids = np.arange(m)

    def splat(buf: _splat.KeyBuffer, t: int, sel: np.ndarray) -> None:
        if sel.all():  # common for dense tracks: no gather of 400k positions
            xy, ids = ts.tracks[t], all_ids
        else:
            ids = np.flatnonzero(sel)
            if ids.size == 0:
                return
            xy = ts.tracks[t, ids]
        if bilinear:
            _splat.splat_bilinear(buf, xy, ids)
        else:
            _splat.splat_stamp(buf, xy, ids, stamp)

    finite = np.isfinite(ts.tracks).all(axis=-1) if stripes else None

    def frames():
        for t in range(t_len):
            canvas.load(video[t])
            splat(shown, t, ts.visible[t])
            if not stripes:
                idx, keys = shown.take()
                alpha, which = shown.decode(keys, binary=bilinear)
                canvas.paint(idx, alpha * factor, np.take(packed, which))
            else:
                splat(hidden, t, ~ts.visible[t] & finite[t])
                idx, (keys_v, keys_h) = _splat.take_many([shown, hidden])
                a_v, id_v = shown.decode(keys_v, binary=bilinear)
                a_h, id_h = hidden.decode(keys_h, binary=bilinear)
                col_h = np.take(packed, id_h)
                col_h[striped[idx]] = _WHITE
                # Visible over hidden: A = a_v + (1 - a_v) a_h, colour = (a_v c_v + (1 - a_v) a_h c_h) / A,
                # i.e. c_h blended towards c_v by a_v / A.
                alpha = a_v + (1.0 - a_v) * a_h
                toward_v = a_v / np.maximum(alpha, np.float32(1e-6))
                colour = _splat.blend_packed(col_h, np.take(packed, id_v), toward_v)
                canvas.paint(idx, alpha * factor, colour)
            yield canvas

    stream = _splat.FrameStream(frames(), (t_len, h, w), "drawing overlay")
    if names is not None and opts.labels:
        stream = label_stream(stream, ts.tracks, ts.visible, names, colors, max(radius, 2.0))
    return stream
