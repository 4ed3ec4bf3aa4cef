"""Ways to make query points: a grid, a grid inside a mask, or text the user typed.

Queries are float32 [N, 3] rows ``(t, x, y)`` in input-video pixels (integer = pixel centre).
"""

from __future__ import annotations

import math

import numpy as np

from studio.results import InputError


def check_grid_size(n: int, max_points: int) -> None:
    """Refuse an ``n x n`` grid of more than ``max_points`` points (``Limits.max_points``; app and CLI)."""
    if n < 1 or n * n > max_points:
        raise InputError(f"grid size must be 1..{math.isqrt(max_points)} (at most {max_points} points), got {n}")


def check_point_count(n: int, max_points: int) -> None:
    """Refuse more than ``max_points`` query points (``Limits.max_points``; app and CLI)."""
    if n > max_points:
        raise InputError(f"{n} query points is more than the {max_points} allowed per request")


def grid_queries(size: tuple[int, int], n: int, t: int = 0, margin: float = 0.05) -> np.ndarray:
    """An ``n x n`` grid of queries on frame ``t``.

    Args:
      size: ``(H, W)`` of the video.
      n: points per side (n >= 1).
      t: query frame.
      margin: inset of the grid from each side, as a fraction of that side.

    Returns:
      float32 [n*n, 3] ``(t, x, y)``, row-major (left to right, then top to bottom).
    """
    if n < 1:
        raise InputError(f"grid size must be at least 1, got {n}")
    h, w = size
    if n == 1:
        xs, ys = np.array([(w - 1) / 2]), np.array([(h - 1) / 2])
    else:
        xs = np.linspace(margin * (w - 1), (1 - margin) * (w - 1), n)
        ys = np.linspace(margin * (h - 1), (1 - margin) * (h - 1), n)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([np.full(gx.size, t), gx.ravel(), gy.ravel()], axis=-1).astype(np.float32)


def mask_grid_queries(mask: np.ndarray, n: int, t: int = 0) -> np.ndarray:
    """Grid points that fall inside a mask, spaced like an ``n x n`` grid over the mask's bounding box.

    Args:
      mask: [H, W] bool (or anything > 0 counts as inside).
      n: points per side of the grid over the mask's bounding box.
      t: query frame.

    Returns:
      float32 [M, 3] ``(t, x, y)`` with M <= n*n, all on pixels where ``mask`` is set.
    """
    mask = np.asarray(mask) > 0
    if mask.ndim != 2:
        raise InputError(f"mask must be a 2-D image, got shape {list(mask.shape)}")
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        raise InputError("the mask is empty: paint or upload a mask that covers part of the frame")
    gx = np.linspace(xs.min(), xs.max(), n) if n > 1 else np.array([(xs.min() + xs.max()) / 2])
    gy = np.linspace(ys.min(), ys.max(), n) if n > 1 else np.array([(ys.min() + ys.max()) / 2])
    px, py = np.meshgrid(np.rint(gx).astype(int), np.rint(gy).astype(int))
    keep = mask[py.ravel(), px.ravel()]
    pts = np.stack([px.ravel()[keep], py.ravel()[keep]], axis=-1).astype(np.float32)
    return np.concatenate([np.full((len(pts), 1), t, np.float32), pts], axis=1)


def parse_points(text: str) -> np.ndarray:
    """Parse ``"t,x,y; t,x,y; ..."`` into queries.

    Args:
      text: semicolon- or newline-separated triples; spaces are ignored.

    Returns:
      float32 [N, 3] ``(t, x, y)``.

    Raises:
      InputError: naming the first triple that is not three numbers.
    """
    rows = []
    for part in text.replace("\n", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        fields = [f.strip() for f in part.split(",")]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            values = []
        if len(values) != 3:
            raise InputError(f"could not read point {part!r}: write each point as t,x,y (e.g. 0,120,80)")
        rows.append(values)
    if not rows:
        raise InputError("no points given: write them as 't,x,y; t,x,y'")
    return np.asarray(rows, dtype=np.float32)


def binary_mask(image: np.ndarray) -> np.ndarray:
    """A grey mask image [H, W] as bool: inside where it is at least half on.

    Soft masks (anti-aliased or feathered edges, 0..255) are cut at 128, so the faint
    halo around an object stays outside; 16-bit masks at 32768; masks stored as 0/1
    are taken as they are.
    """
    m = np.asarray(image)
    if m.dtype == bool:
        return m
    top = m.max(initial=0)
    if top <= 1:
        return m > 0
    full = 255 if top <= 255 else 65535
    return m >= (full + 1) // 2


def mask_plane(image: np.ndarray) -> np.ndarray:
    """The plane of a mask image that holds the mask: [H, W] (grey) or [H, W, C] -> [H, W].

    A painted layer carries the mask in its alpha; an image whose alpha is one value
    everywhere (e.g. a black-and-white PNG read as RGBA) in its colours, the brightest
    channel counting. Cut it with ``binary_mask``.
    """
    m = np.asarray(image)
    if m.ndim != 3:
        return m
    if m.shape[2] == 4 and m[..., 3].min() != m[..., 3].max():
        return m[..., 3]
    return m[..., :3].max(axis=2)


def mask_to_size(mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """A mask image ([h, w] or [h, w, C]) as bool [H, W] at ``size = (H, W)``, with notices.

    The image is read with ``mask_plane`` and cut with ``binary_mask``; one of another
    size is resized (nearest neighbour, with a notice) if its aspect ratio is within 2%
    of the target's.

    Raises:
      InputError: not a 2-D image, or an aspect ratio that does not match.
    """
    import cv2

    m = mask_plane(mask)
    if m.ndim != 2 or min(m.shape) == 0:
        raise InputError(f"the mask must be a 2-D image, got shape {list(np.shape(mask))}")
    h, w = size
    if m.shape == (h, w):
        return binary_mask(m), []
    src_aspect, mask_aspect = w / h, m.shape[1] / m.shape[0]
    if abs(src_aspect / mask_aspect - 1) > 0.02:
        raise InputError(
            f"the mask is {m.shape[1]}x{m.shape[0]} but the video is {w}x{h}: use a mask of the video's first-frame size"
        )
    resized = cv2.resize(binary_mask(m).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    return resized, [f"mask resized {m.shape[1]}×{m.shape[0]} → {w}×{h}"]
