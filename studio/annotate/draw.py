"""Pictures of an annotation: one frame with its points, and a timeline of every point.

Frame: proposals are filled discs (visible) or rings (hidden) in the point's colour;
keyframes placed by hand get a white ring around the disc, frames marked hidden a
dashed-looking double ring; the current point is drawn larger; names are written
beside the points. Timeline: one row per point, a column per frame: keyframes
dark, proposed-visible frames light, marked-hidden frames grey.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from studio.render.annotations import draw_labels
from studio.render.points import draw_points, point_colors


def draw_annotation(
    frame: np.ndarray,
    xy: np.ndarray,
    visible: np.ndarray,
    placed: np.ndarray,
    marked_hidden: np.ndarray,
    names: list[str],
    current: int | None = None,
) -> np.ndarray:
    """The frame with every point of the annotation drawn on it.

    Args:
      frame: uint8 [h, w, 3] RGB (the working frame shown to the user).
      xy: float [N, 2] positions in ``frame``'s pixels (NaN = not known yet).
      visible: bool [N]; placed: bool [N] keyframe here; marked_hidden: bool [N] marked hidden here.
      names: N names (written beside the points).
      current: index of the point being edited (drawn larger), or None.

    Returns:
      uint8 [h, w, 3] RGB, a new array.
    """
    n = len(names)
    if n == 0:
        return np.array(frame, copy=True)
    h, w = frame.shape[:2]
    colors = point_colors(n)
    radius = max(3.0, min(h, w) / 90)
    known = np.isfinite(xy).all(axis=-1)
    pts = np.where(known[:, None], xy, -1e4).astype(np.float32)[None]
    image = frame[None]
    big = np.zeros(n, bool)
    if current is not None and 0 <= current < n:
        big[current] = True
    # Halo rings first: white for keyframes (and the current point), black for marked-hidden frames.
    for sel, color, extra in ((placed | big, 255, 2.5), (marked_hidden, 0, 2.5)):
        if sel.any():
            idx = np.flatnonzero(sel & known)
            sizes = np.where(big[idx], radius * 1.6, radius) + extra
            for r in np.unique(sizes):
                keep = idx[sizes == r]
                image = draw_points(image, pts[:, keep], np.ones((1, keep.size), bool), tail=0, radius=float(r),
                                    colors=np.full((keep.size, 3), color, np.uint8))
    for r, sel in ((radius, ~big), (radius * 1.6, big)):
        idx = np.flatnonzero(sel & known)
        if idx.size:
            image = draw_points(image, pts[:, idx], visible[None, idx], tail=0, radius=float(r), colors=colors[idx])
    out = np.ascontiguousarray(image[0]).copy()
    idx = np.flatnonzero(known)
    draw_labels(out, xy[idx], [names[i] for i in idx], colors[idx], radius * 1.6)
    return out


def timeline_figure(visible: np.ndarray, codes: np.ndarray, names: list[str], frame: int | None = None) -> Figure:
    """Rows = points, columns = frames: keyframes (dark), proposed visible (light), marked hidden (grey).

    Args:
      visible: bool [T, N]; codes: int8 [N, T] ``KEYFRAME_*`` (``Annotation.keyframe_codes``).
      names: N names; frame: the frame shown now (a vertical line).
    """
    from studio.benchmark.datasets.tapvid import KEYFRAME_HIDDEN, KEYFRAME_PLACED

    t_len, n = visible.shape
    fig = Figure(figsize=(8, 0.6 + 0.32 * max(n, 1)), dpi=100, layout="constrained")
    ax = fig.subplots()
    image = np.full((max(n, 1), t_len, 3), 1.0, np.float32)
    if n:
        colors = point_colors(n).astype(np.float32) / 255.0
        light = 1.0 - 0.35 * (1.0 - colors)
        dark = colors * 0.75
        shown = visible.T
        image[shown] = np.repeat(light[:, None, :], t_len, axis=1)[shown]
        image[codes == KEYFRAME_HIDDEN] = (0.55, 0.55, 0.55)
        placed = codes == KEYFRAME_PLACED
        image[placed] = np.repeat(dark[:, None, :], t_len, axis=1)[placed]
    ax.imshow(image, aspect="auto", interpolation="nearest", extent=(-0.5, t_len - 0.5, max(n, 1) - 0.5, -0.5))
    ax.set_yticks(range(n), [f"{i}: {s}" for i, s in enumerate(names)], fontsize=8)
    ax.set_xlabel("frame (dark = keyframe, light = proposed visible, grey = marked hidden, white = proposed hidden)",
                  fontsize=8)
    if frame is not None:
        ax.axvline(frame, color="black", lw=1)
    return fig
