"""Vectorised splatting: thousands of small stamps composited onto a frame with numpy.

Every renderer draws through a ``KeyBuffer``. For each pixel it keeps the
*maximum* of packed unsigned keys ``(priority << id_bits) | id`` over everything
splatted there (``np.maximum.at``, no Python loop per point). The priority is

* a quantised coverage for anti-aliased discs, rings and lines: where stamps
  overlap, the one covering the pixel most wins; or
* a time order for spaghetti trails: the newest sample wins, as when each
  sub-step is composited over the previous ones.

``take()`` returns the touched pixels with their keys and clears only those, so a
frame costs in proportion to what is drawn, never a full-frame pass per point or
per tail segment. Decoding a key gives an alpha and the id whose colour to paint.

Canvases are padded by ``pad`` pixels on every side so that stamps never need
clipping: studio pixel ``(x, y)`` (integer = pixel centre, ``studio.conventions``)
is padded pixel ``(x + pad, y + pad)``; points whose stamps would leave the
padded area are dropped (with ``pad >= 2 * reach + 2`` they cannot reach the frame).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

LEVELS = 1023
"""Coverage is quantised to 10 bits: 1..LEVELS (0 = nothing drawn)."""

SUBPIXEL = 16
"""Sub-pixel bins per axis for precomputed disc stamps (1/16 px, OpenCV's ``shift=4``)."""

IDX = np.int32
"""Flat pixel indices: canvases stay far below 2**31 pixels, and int32 halves the memory traffic."""


class KeyBuffer:
    """Per-pixel maximum of packed keys on a padded ``height x width`` canvas.

    Args:
      height, width: size of the visible canvas in pixels.
      pad: padding on every side, in pixels.
      num_ids: how many distinct ids (tracks) will be drawn; picks uint32 or uint64 keys.
    """

    def __init__(self, height: int, width: int, pad: int, num_ids: int):
        self.height, self.width, self.pad = int(height), int(width), int(pad)
        self.stride = self.width + 2 * self.pad
        self.rows = self.height + 2 * self.pad
        if num_ids < 2**22:
            self.dtype, self.id_bits = np.dtype(np.uint32), 22
        else:
            self.dtype, self.id_bits = np.dtype(np.uint64), 40
        self.id_mask = (1 << self.id_bits) - 1
        self.keys = np.zeros(self.rows * self.stride, self.dtype)
        self._touched: list[np.ndarray] = []

    def bounds(self, reach: int) -> tuple[float, float, float, float]:
        """``(x_min, x_max, y_min, y_max)`` a stamp anchor (floor of its centre) may take."""
        p = self.pad
        return -p + reach, self.width - 1 + p - reach - 1, -p + reach, self.height - 1 + p - reach - 1

    def add(self, idx: np.ndarray, priority: np.ndarray, ids: np.ndarray, all_positive: bool = False) -> None:
        """Splat keys; entries with priority 0 are skipped.

        Args:
          idx: int flat indices into the padded canvas (any shape).
          priority: unsigned ints in 0..1023, same shape.
          ids: ints (colour indices), broadcastable to that shape.
          all_positive: the caller guarantees no zero priority (skips the search).
        """
        bits = self.dtype.type(self.id_bits)
        keys = (priority.astype(self.dtype) << bits) | np.asarray(ids).astype(self.dtype)
        if all_positive:
            sel = None
        else:
            sel = np.flatnonzero(priority)
            if sel.size == 0:
                return
        if sel is None or sel.size == priority.size:
            idx, keys = idx.ravel(), keys.ravel()
        else:
            idx, keys = np.take(idx, sel), np.take(keys, sel)
        np.maximum.at(self.keys, idx, keys)
        self._touched.append(idx)

    def touched(self) -> np.ndarray:
        """Flat indices hit since the last ``clear`` (may repeat)."""
        if not self._touched:
            return np.zeros(0, IDX)
        return self._touched[0] if len(self._touched) == 1 else np.concatenate(self._touched)

    def clear(self, idx: np.ndarray) -> None:
        """Reset the given pixels (those returned by ``touched``) to empty."""
        self.keys[idx] = 0
        self._touched = []

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """Touched pixels and their keys, then clear them.

        Returns:
          ``(idx [M] intp, keys [M])``; ``idx`` may repeat a pixel, with the same key.
        """
        idx, (keys,) = take_many([self])
        return idx, keys

    def ids(self, keys: np.ndarray) -> np.ndarray:
        """The id part of keys, intp."""
        return (keys & self.dtype.type(self.id_mask)).astype(np.intp)

    def decode(self, keys: np.ndarray, binary: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Keys to ``(alpha float32 [M] in [0, 1], ids intp [M])``; alpha is 0 for empty keys.

        Args:
          keys: keys from ``take`` or ``self.keys[idx]``.
          binary: alpha 1 wherever anything landed (DOT's splats) instead of the coverage.
        """
        pri = keys >> self.dtype.type(self.id_bits)
        if binary:
            return (pri > 0).astype(np.float32), self.ids(keys)
        return pri.astype(np.float32) * np.float32(1.0 / LEVELS), self.ids(keys)


def take_many(buffers: list[KeyBuffer]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Pixels touched in any of several same-sized buffers, each buffer's keys there; then clear all.

    When many entries were splatted (dense tracks), scanning the whole buffer once
    beats following every entry, and it yields each pixel once.

    Returns:
      ``(idx [M] intp, [keys [M] per buffer])``.
    """
    total = sum(sum(t.size for t in b._touched) for b in buffers)
    if total > buffers[0].keys.size // 4:
        hit = buffers[0].keys != 0
        for b in buffers[1:]:
            hit |= b.keys != 0
        idx = np.flatnonzero(hit)
        keys = [np.take(b.keys, idx) for b in buffers]
        for b in buffers:
            b.keys[...] = 0
            b._touched = []
        return idx, keys
    idx = np.concatenate([t for b in buffers for t in b._touched]) if total else np.zeros(0, IDX)
    keys = [np.take(b.keys, idx) for b in buffers]
    for b in buffers:
        b.clear(idx)
    return idx, keys


class Canvas:
    """A padded RGBA canvas addressed one uint32 per pixel, so gathers and scatters are fast.

    Args:
      height, width: visible size.
      pad: padding on every side (match the ``KeyBuffer``).
    """

    def __init__(self, height: int, width: int, pad: int):
        self.height, self.width, self.pad = int(height), int(width), int(pad)
        self.rgba = np.zeros((self.height + 2 * pad, self.width + 2 * pad, 4), np.uint8)
        self.rgba[..., 3] = 255
        self.px = self.rgba.view(np.uint32).reshape(-1)
        self.inner = self.rgba[pad : pad + self.height, pad : pad + self.width]

    def load(self, frame: np.ndarray) -> None:
        """Copy a [H, W, 3] uint8 RGB frame into the visible area."""
        done = cv2.cvtColor(frame, cv2.COLOR_RGB2RGBA, dst=self.inner)  # writes into the strided view
        if done is not self.inner:  # OpenCV made a new array instead
            self.inner[...] = done

    def fill(self, color) -> None:
        """Fill the whole canvas (padding included) with one RGB colour."""
        self.px[...] = self.pack(np.asarray(color, np.uint8).reshape(1, 3))[0]

    def copy_from(self, other: "Canvas") -> None:
        np.copyto(self.rgba, other.rgba)

    def shift_from(self, other: "Canvas", dx: int, dy: int, fill) -> None:
        """This canvas = ``other`` moved by whole pixels ``(dx, dy)``, uncovered parts filled with RGB ``fill``."""
        src, dst = other.rgba.view(np.uint32)[..., 0], self.rgba.view(np.uint32)[..., 0]
        rows, cols = src.shape
        fill4 = self.pack(np.asarray(fill, np.uint8).reshape(1, 3))[0]
        if abs(dx) >= cols or abs(dy) >= rows:
            dst[...] = fill4
            return
        ys, yd = (slice(0, rows - dy), slice(dy, rows)) if dy >= 0 else (slice(-dy, rows), slice(0, rows + dy))
        xs, xd = (slice(0, cols - dx), slice(dx, cols)) if dx >= 0 else (slice(-dx, cols), slice(0, cols + dx))
        dst[yd, xd] = src[ys, xs]
        if dy > 0:
            dst[:dy] = fill4
        elif dy < 0:
            dst[rows + dy :] = fill4
        if dx > 0:
            dst[:, :dx] = fill4
        elif dx < 0:
            dst[:, cols + dx :] = fill4

    def store(self, out: np.ndarray, origin: tuple[int, int] = (0, 0)) -> None:
        """Write the visible area into ``out`` [H', W', 3] uint8 (C-contiguous).

        Args:
          out: the destination; its size is the part of the visible area that is copied.
          origin: ``(y, x)`` of that part's top-left corner in the visible area (a crop).
        """
        y0, x0 = origin
        h, w = out.shape[:2]
        done = cv2.cvtColor(self.inner[y0 : y0 + h, x0 : x0 + w], cv2.COLOR_RGBA2RGB, dst=out)
        if done is not out:
            out[...] = done

    @staticmethod
    def pack(colors: np.ndarray) -> np.ndarray:
        """RGB [N, 3] (uint8, or float in [0, 255]) -> uint32 [N] opaque pixels."""
        c = np.empty((len(colors), 4), np.uint8)
        c[:, :3] = colors if colors.dtype == np.uint8 else np.clip(np.rint(colors), 0, 255)
        c[:, 3] = 255
        return c.view(np.uint32).reshape(-1)

    def set(self, idx: np.ndarray, packed: np.ndarray) -> None:
        """Overwrite pixels with packed colours (alpha 1)."""
        self.px[idx] = packed

    def paint(self, idx: np.ndarray, alpha: np.ndarray, colors: np.ndarray) -> None:
        """Alpha-blend colours over pixels in place: ``c = c + alpha * (colour - c)``.

        Blends packed pixels in uint32 arithmetic (``blend_packed``), alpha in 1/256 steps.

        Args:
          idx: [M] flat pixel indices (repeats allowed when they carry the same values).
          alpha: [M] float in [0, 1].
          colors: [M] uint32 packed (``pack``) or [M, 3] RGB in [0, 255].
        """
        if idx.size == 0:
            return
        if colors.ndim == 2:
            colors = self.pack(colors)
        self.px[idx] = blend_packed(np.take(self.px, idx), colors, alpha)


def blend_packed(base: np.ndarray, top: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``base + alpha * (top - base)`` per channel on packed RGBA uint32 pixels; alpha of the result is 255.

    Two channels at a time (R and B in one word, G in another) with alpha in 1/256 steps.

    Args:
      base, top: [M] uint32 packed pixels (``Canvas.pack``).
      alpha: [M] float in [0, 1].

    Returns:
      [M] uint32 packed pixels.
    """
    a = (alpha * np.float32(256) + np.float32(0.5)).astype(np.uint32)
    inv = np.uint32(256) - a
    rb_mask, g_mask = np.uint32(0x00FF00FF), np.uint32(0x0000FF00)
    rb = (base & rb_mask) * inv
    rb += (top & rb_mask) * a
    rb += np.uint32(0x00800080)
    rb >>= np.uint32(8)
    rb &= rb_mask
    g = (base & g_mask) * inv
    g += (top & g_mask) * a
    g += np.uint32(0x00008000)
    g >>= np.uint32(8)
    g &= g_mask
    rb |= g
    rb |= np.uint32(0xFF000000)
    return rb


# --------------------------------------------------------------------------- stamps


@dataclass(frozen=True)
class Stamp:
    """A disc or ring, precomputed for ``SUBPIXEL x SUBPIXEL`` sub-pixel centre positions.

    Attributes:
      dx, dy: [K] int pixel offsets from the anchor ``floor(centre)``.
      cover: [K, SUBPIXEL * SUBPIXEL] float32 coverage in [0, 1]; column
        ``y_bin * SUBPIXEL + x_bin`` for the centre's sub-pixel fraction.
      reach: largest ``|offset|`` plus a margin, for padding.
    """

    dx: np.ndarray
    dy: np.ndarray
    cover: np.ndarray
    reach: int

    def flat_offsets(self, stride: int) -> np.ndarray:
        return (self.dy * stride + self.dx).astype(IDX)


@lru_cache(maxsize=32)
def disc_stamp(radius: float, ring_width: float = 0.0) -> Stamp:
    """Anti-aliased disc (``ring_width == 0``) or ring of outer radius ``radius``.

    Coverage falls linearly over one pixel across the edge: a pixel whose centre
    is at distance ``d`` from the disc centre gets ``clip(radius + 0.5 - d, 0, 1)``;
    a ring keeps ``radius - ring_width <= d <= radius`` the same way.
    """
    k = int(math.ceil(radius + 0.5))
    o = np.arange(-k, k + 2)
    dy, dx = np.meshgrid(o, o, indexing="ij")
    dy, dx = dy.ravel(), dx.ravel()
    f = (np.arange(SUBPIXEL) + 0.5) / SUBPIXEL
    ddx = dx[:, None, None] - f[None, None, :]  # [K, 1, Qx]
    ddy = dy[:, None, None] - f[None, :, None]  # [K, Qy, 1]
    d = np.sqrt(ddx**2 + ddy**2).reshape(dx.size, -1)  # [K, Qy * Qx]
    cover = np.clip(radius + 0.5 - d, 0.0, 1.0)
    if ring_width > 0:
        cover = np.minimum(cover, np.clip(d - (radius - ring_width) + 0.5, 0.0, 1.0))
    keep = cover.max(axis=1) > 0
    return Stamp(dx[keep], dy[keep], np.ascontiguousarray(cover[keep], dtype=np.float32), k + 2)


@lru_cache(maxsize=32)
def hard_disc_offsets(radius: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Offsets ``(dx, dy, reach)`` of DOT's disc: pixels within ``radius`` of the rounded centre."""
    k = int(math.ceil(radius))
    o = np.arange(-k, k + 1)
    dy, dx = np.meshgrid(o, o, indexing="ij")
    keep = (dx**2 + dy**2) <= radius**2
    return dx[keep].ravel(), dy[keep].ravel(), k + 1


def _anchor(buf: KeyBuffer, xy: np.ndarray, reach: int) -> tuple[np.ndarray, ...]:
    """Floor of each centre, its fraction, and which centres fit in the padded canvas.

    Returns:
      ``(ok [M] bool, bx, by [S] intp, fx, fy [S] float32)`` for the S centres that fit.
    """
    xy = np.asarray(xy, np.float32)
    x, y = xy[:, 0], xy[:, 1]
    x0, x1, y0, y1 = buf.bounds(reach)
    ok = (x >= x0) & (x < x1 + 1) & (y >= y0) & (y < y1 + 1)  # also False for NaN
    if not ok.all():
        x, y = x[ok], y[ok]
    fx, fy = np.floor(x), np.floor(y)
    return ok, fx.astype(IDX), fy.astype(IDX), x - fx, y - fy


def _subset(values, ok: np.ndarray, n: int) -> np.ndarray:
    """``values`` (scalar or [M]) restricted to ``ok``, as an array of length ``ok.sum()``."""
    v = np.asarray(values)
    if v.ndim == 0:
        return np.broadcast_to(v, (n,))
    return v if n == v.size else v[ok]


def splat_stamp(
    buf: KeyBuffer,
    xy: np.ndarray,
    ids: np.ndarray,
    stamp: Stamp,
    weight: np.ndarray | float | None = None,
) -> None:
    """Anti-aliased discs or rings at sub-pixel centres; priority = coverage.

    Args:
      buf: target buffer.
      xy: [M, 2] float ``(x, y)`` studio pixels; non-finite or far-outside rows are skipped.
      ids: [M] ints (colour indices).
      stamp: from ``disc_stamp``.
      weight: optional [M] or scalar factor in [0, 1] on the coverage.
    """
    if len(xy) == 0:
        return
    ok, bx, by, fx, fy = _anchor(buf, xy, stamp.reach)
    n = bx.size
    if n == 0:
        return
    qx = np.minimum((fx * SUBPIXEL).astype(np.intp), SUBPIXEL - 1)
    qy = np.minimum((fy * SUBPIXEL).astype(np.intp), SUBPIXEL - 1)
    cover = np.take(stamp.cover, qy * SUBPIXEL + qx, axis=1)  # [K, S]
    scale = np.float32(LEVELS)
    if weight is not None:
        scale = _subset(np.asarray(weight, np.float32), ok, n)[None, :] * scale
    pri = (cover * scale + 0.5).astype(np.uint32)
    base = (by + buf.pad) * buf.stride + (bx + buf.pad)
    idx = base[None, :] + stamp.flat_offsets(buf.stride)[:, None]
    buf.add(idx, pri, _subset(ids, ok, n)[None, :])


def splat_hard(
    buf: KeyBuffer,
    xy: np.ndarray,
    ids: np.ndarray,
    radius: float,
    priority: np.ndarray | int = 1,
) -> None:
    """DOT's disc splat: every pixel within ``radius`` of the rounded centre, hard edged.

    Args:
      buf: target buffer.
      xy: [M, 2] float ``(x, y)`` pixels.
      ids: [M] ints.
      radius: disc radius in pixels (DOT's ``spaghetti_radius``).
      priority: [M] or scalar ints in 1..1023; larger wins where discs overlap.
    """
    if len(xy) == 0:
        return
    dx, dy, reach = hard_disc_offsets(float(radius))
    ok, bx, by, fx, fy = _anchor(buf, xy, reach)
    n = bx.size
    if n == 0:
        return
    # Round half up from the floor and its fraction (DOT rounds the centre).
    bx = bx + (fx >= 0.5)
    by = by + (fy >= 0.5)
    base = (by + buf.pad) * buf.stride + (bx + buf.pad)
    idx = base[None, :] + (dy * buf.stride + dx).astype(IDX)[:, None]
    pri = np.broadcast_to(_subset(np.asarray(priority, np.uint32), ok, n)[None, :], idx.shape)
    buf.add(idx, pri, _subset(ids, ok, n)[None, :], all_positive=bool(np.all(np.asarray(priority) > 0)))


def splat_bilinear(buf: KeyBuffer, xy: np.ndarray, ids: np.ndarray) -> None:
    """DOT's radius-1 splat: the four pixels around each point, weighted bilinearly (+0.01).

    The pixel keeps the id of its heaviest contributor; decode with ``binary=True``
    for DOT's alpha (1 wherever anything landed).
    """
    if len(xy) == 0:
        return
    ok, bx, by, fx, fy = _anchor(buf, xy, 2)
    n = bx.size
    if n == 0:
        return
    base = (by + buf.pad) * buf.stride + (bx + buf.pad)
    s = buf.stride
    idx = np.stack([base, base + 1, base + s, base + s + 1])
    gx, gy = 1 - fx, 1 - fy
    w = np.stack([gx * gy, fx * gy, gx * fy, fx * fy]) + np.float32(0.01)
    pri = (w * np.float32(LEVELS - 10) + 0.5).astype(np.uint32)  # 0.01 * 1013 >= 10: never 0; 1.01 * 1013 < LEVELS
    buf.add(idx, pri, _subset(ids, ok, n)[None, :], all_positive=True)


@lru_cache(maxsize=16)
def _line_table(width: float) -> tuple[np.ndarray, np.ndarray]:
    """Cross-section coverage of an anti-aliased line, per (cos, sub-pixel offset) bin.

    Returns:
      ``(o [K] int offsets across the line from floor(minor), cover [K, Q*Q] float32)``;
      column ``cos_bin * Q + frac_bin``, with cos in [1/sqrt(2), 1] (sampling along the major axis).
    """
    half = width / 2.0 + 0.5
    k = int(math.ceil(half * math.sqrt(2.0)))
    o = np.arange(-k, k + 2)
    centres = (np.arange(SUBPIXEL) + 0.5) / SUBPIXEL
    cos = math.sqrt(0.5) + (1.0 - math.sqrt(0.5)) * centres
    dist = np.abs(o[:, None, None] - centres[None, None, :]) * cos[None, :, None]  # [K, Qc, Qf]
    cover = np.clip(half - dist, 0.0, 1.0).reshape(o.size, -1)
    keep = cover.max(axis=1) > 0
    return o[keep].astype(IDX), np.ascontiguousarray(cover[keep], np.float32)


def splat_lines(
    buf: KeyBuffer,
    a: np.ndarray,
    b: np.ndarray,
    ids: np.ndarray,
    width: float,
    weight: np.ndarray | float = 1.0,
) -> None:
    """Anti-aliased line segments ``a -> b`` of a given width, all at once.

    Each segment is sampled once per pixel along its major axis; at each sample the
    pixels across it get ``clip(width/2 + 0.5 - distance_to_line, 0, 1) * weight``
    (a vectorised Wu-style rasteriser; the cross-section comes from a table binned
    by slope and sub-pixel offset). Priority = coverage.

    Args:
      buf: target buffer.
      a, b: [M, 2] float ``(x, y)`` end points in pixels.
      ids: [M] ints.
      width: line width in pixels.
      weight: [M] or scalar factor in [0, 1] (e.g. a tail's fade).
    """
    if len(a) == 0:
        return
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    p = buf.pad
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    # Skip non-finite segments and those entirely outside the padded canvas (they could be long).
    ok = (hi[:, 0] >= -p) & (lo[:, 0] <= buf.width + p) & (hi[:, 1] >= -p) & (lo[:, 1] <= buf.height + p)
    w_seg = np.broadcast_to(np.asarray(weight, np.float32), (len(a),))
    ids = np.broadcast_to(np.asarray(ids), (len(a),))
    if not ok.all():
        a, b, w_seg, ids = a[ok], b[ok], w_seg[ok], ids[ok]
        if len(a) == 0:
            return
    d = b - a
    xmaj = np.abs(d[:, 0]) >= np.abs(d[:, 1])
    maj_a = np.where(xmaj, a[:, 0], a[:, 1])
    min_a = np.where(xmaj, a[:, 1], a[:, 0])
    d_maj = np.where(xmaj, d[:, 0], d[:, 1])
    d_min = np.where(xmaj, d[:, 1], d[:, 0])
    length = np.hypot(d[:, 0], d[:, 1])
    slope = np.divide(d_min, d_maj, out=np.zeros_like(d_min), where=d_maj != 0)
    cos = np.divide(np.abs(d_maj), length, out=np.ones_like(d_maj), where=length > 0)
    cos_bin = np.clip(((cos - math.sqrt(0.5)) / (1 - math.sqrt(0.5)) * SUBPIXEL).astype(np.intp), 0, SUBPIXEL - 1)
    s0 = np.rint(maj_a).astype(IDX)
    s1 = np.rint(maj_a + d_maj).astype(IDX)
    n = np.abs(s1 - s0) + 1
    step = np.where(s1 >= s0, 1, -1).astype(IDX)
    # Per segment: the minor coordinate at the first sample and its change per sample; the
    # flat index of the first sample's row/column and the flat steps along and across.
    minor0 = (min_a + (s0 - maj_a) * slope).astype(np.float32)
    dminor = (step * slope).astype(np.float32)
    across = np.where(xmaj, buf.stride, 1).astype(IDX)
    along = np.where(xmaj, 1, buf.stride).astype(IDX) * step
    start = np.where(xmaj, s0 + p, p) + np.where(xmaj, p, s0 + p) * buf.stride  # minor part added per sample
    seg = np.repeat(np.arange(len(a), dtype=IDX), n)
    j = np.arange(seg.size, dtype=IDX) - np.repeat((np.cumsum(n) - n).astype(IDX), n)
    minor = np.take(minor0, seg) + j.astype(np.float32) * np.take(dminor, seg)
    mq = np.floor(minor)
    frac_bin = np.minimum(((minor - mq) * SUBPIXEL).astype(np.intp), SUBPIXEL - 1)
    mq = mq.astype(IDX)
    o, table = _line_table(float(width))
    k = int(max(-o.min(), o.max())) + 1
    # Keep samples whose cross-section fits in the padded canvas.
    m = np.take(s0, seg) + j * np.take(step, seg)
    fit = (m >= -p + k) & (mq >= -p + k)
    fit &= np.where(np.take(xmaj, seg), (m < buf.width + p - k) & (mq < buf.height + p - k),
                    (m < buf.height + p - k) & (mq < buf.width + p - k))
    if not fit.all():
        seg, j, mq, frac_bin = seg[fit], j[fit], mq[fit], frac_bin[fit]
    cover = np.take(table, np.take(cos_bin, seg) * SUBPIXEL + frac_bin, axis=1)  # [K, S]
    pri = (cover * (np.take(w_seg, seg) * np.float32(LEVELS))[None, :] + 0.5).astype(np.uint32)
    acr = np.take(across, seg)
    base = np.take(start, seg) + j * np.take(along, seg) + mq * acr
    idx = base[None, :] + o[:, None] * acr[None, :]
    buf.add(idx, pri, np.take(ids, seg)[None, :])


def stripes_mask(height: int, width: int, pad: int, period: int = 9, on: int = 3) -> np.ndarray:
    """DOT's diagonal stripes on the padded canvas: flat bool, True where ``(row + col) % period < on``."""
    r = np.arange(-pad, height + pad)
    c = np.arange(-pad, width + pad)
    return (((r[:, None] + c[None, :]) % period) < on).ravel()


# --------------------------------------------------------------------------- frame streams


@dataclass
class FrameStream:
    """A renderer's frames, drawn one at a time onto a reused canvas.

    Attributes:
      canvases: yields the canvas once per output frame; store it before the next step.
      shape: ``(T, H', W')`` of the output.
      text: progress description.
      origin: ``(y, x)`` in the canvas of the output's top-left corner (a crop; (0, 0) = none).
    """

    canvases: Iterator["Canvas"]
    shape: tuple[int, int, int]
    text: str
    origin: tuple[int, int] = (0, 0)

    def collect(self, progress=None) -> np.ndarray:
        """All frames as uint8 [T, H', W', 3]."""
        t_len, h, w = self.shape
        out = np.empty((t_len, h, w, 3), np.uint8)
        every = max(1, t_len // 50)
        for t, canvas in enumerate(self.canvases):
            canvas.store(out[t], self.origin)
            if progress is not None and (t % every == 0 or t == t_len - 1):
                progress((t + 1) / t_len, self.text)
        return out

    def frames(self) -> Iterator[np.ndarray]:
        """Each frame as a new uint8 [H', W', 3] array."""
        _, h, w = self.shape
        for canvas in self.canvases:
            frame = np.empty((h, w, 3), np.uint8)
            canvas.store(frame, self.origin)
            yield frame
