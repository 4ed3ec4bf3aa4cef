"""One entry point for every render mode."""

from __future__ import annotations

import numpy as np

from collections.abc import Iterator

from studio.progress import ProgressFn
from studio.render._splat import FrameStream
from studio.render.options import RenderOptions, parse_mode
from studio.render.overlay import overlay_stream
from studio.render.points import points_stream
from studio.render.spaghetti import spaghetti_stream


def render(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    mode: str = "points",
    options: RenderOptions | None = None,
    *,
    queries: np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Render tracks over a video in one of ``MODES``.

    Args:
      video: [T, H, W, 3] uint8 RGB in [0, 255].
      tracks: sparse [T, N, 2] or dense [T, H, W, 2] float ``(x, y)`` in the
        video's pixels, integer = pixel centre (``studio.conventions``). Dense
        tracks hold one track per pixel of the query frame, on the video's grid.
      visible: [T, N] or [T, H, W] bool, True = visible.
      mode: a name from ``MODES`` (e.g. ``"points"``, ``"overlay_stripes"``,
        ``"spaghetti_last_static"``).
      options: ``RenderOptions`` (None = defaults). ``*_mask`` modes need ``options.mask``.
      queries: optional sparse [N, 3] ``(t, x, y)``: start positions for colour order and masks.
      progress: optional ``progress(fraction in [0, 1], text)``.

    Returns:
      uint8 [T, H', W', 3] RGB frames, a new array: ``H' x W' = H x W`` for points and
      overlay, ``round(S*H) x round(S*W)`` for spaghetti (``S = spaghetti_scale``).

    Raises:
      InputError: unknown mode, bad shapes, a mask mode without a mask, bad options.
    """
    return _stream(video, tracks, visible, mode, options, queries).collect(progress)


def iter_render(
    video: np.ndarray,
    tracks: np.ndarray,
    visible: np.ndarray,
    mode: str = "points",
    options: RenderOptions | None = None,
    *,
    queries: np.ndarray | None = None,
) -> tuple[tuple[int, int, int], Iterator[np.ndarray]]:
    """Like ``render``, one frame at a time (for streaming encoders and long videos).

    Inputs are checked before this returns; frames are drawn as the iterator is read.

    Returns:
      ``((T, H', W'), frames)`` where ``frames`` yields T new uint8 [H', W', 3] arrays.
    """
    stream = _stream(video, tracks, visible, mode, options, queries)
    return stream.shape, stream.frames()


def _stream(video, tracks, visible, mode, options, queries) -> FrameStream:
    spec = parse_mode(mode)
    opts = options or RenderOptions()
    if spec.kind == "points":
        return points_stream(video, tracks, visible, opts, queries=queries, use_mask=spec.mask)
    if spec.kind == "overlay":
        return overlay_stream(video, tracks, visible, opts, stripes=spec.stripes, use_mask=spec.mask, queries=queries)
    return spaghetti_stream(
        video,
        tracks,
        visible,
        opts,
        first=spec.first,
        every=spec.every,
        last=spec.last,
        static=spec.static,
        use_mask=spec.mask,
        queries=queries,
    )
