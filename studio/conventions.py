"""The one coordinate convention of Tracking Studio, and converters to the others.

Every tracker, file and renderer in the studio speaks this contract:

* ``video``: ``uint8 [T, H, W, 3]``, RGB, values 0..255.
* ``queries``: ``float32 [N, 3]`` rows ``(t, x, y)``: ``t`` is a frame index
  (0..T-1), ``x``/``y`` are pixel coordinates in the *input video*.
* ``tracks``: ``float32 [T, N, 2]`` rows ``(x, y)`` in the same pixels;
  ``visible``: ``bool [T, N]``.

Pixel coordinates put **integer values at pixel centres**: the pixel in column
``i`` and row ``j`` spans ``[i - 0.5, i + 0.5] x [j - 0.5, j + 0.5]`` and its
centre is ``(x, y) = (i, j)``. The visible image therefore covers
``x in [-0.5, W - 0.5]`` and ``y in [-0.5, H - 0.5]``. This is the convention of
OpenCV's ``remap``/``warpPerspective`` and of ``numpy`` indexing, so a click
on pixel ``(i, j)`` is the query ``(t, i, j)`` with no offset.

TAP-Vid stores points *normalised* to ``[0, 1]`` with ``(0, 0)`` the top-left
corner of the top-left pixel and ``(1, 1)`` the bottom-right corner of the
bottom-right pixel, so a pixel centre ``i`` is ``(i + 0.5) / W`` there.
"""

from __future__ import annotations

import numpy as np

CONVENTION = "xy-pixel-centres-v1"
"""Name written into track files so readers know which convention they hold."""

CONVENTION_TEXT = (
    "tracks [T,N,2] and queries [N,3]=(t,x,y) in input-video pixels; "
    "integer coordinates are pixel centres; visible [T,N] True = visible"
)


def pixels_to_tapvid(xy: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Studio pixels to TAP-Vid normalised coordinates.

    Args:
      xy: [..., 2] float, ``(x, y)`` in pixels, integer = pixel centre.
      size: ``(H, W)`` of the video the pixels refer to.

    Returns:
      [..., 2] float32 ``(x, y)`` in ``[0, 1]`` for points inside the frame.
    """
    h, w = size
    xy = np.asarray(xy, dtype=np.float64)
    return ((xy + 0.5) / np.array([w, h], dtype=np.float64)).astype(np.float32)


def tapvid_to_pixels(xy_norm: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """TAP-Vid normalised coordinates to studio pixels (inverse of ``pixels_to_tapvid``).

    Args:
      xy_norm: [..., 2] float ``(x, y)``, ``(0, 0)`` = top-left corner of the image.
      size: ``(H, W)`` of the target video.

    Returns:
      [..., 2] float32 ``(x, y)`` pixels, integer = pixel centre.
    """
    h, w = size
    xy_norm = np.asarray(xy_norm, dtype=np.float64)
    return (xy_norm * np.array([w, h], dtype=np.float64) - 0.5).astype(np.float32)


def rescale_pixels(xy: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Map pixel coordinates between two resolutions of the same image.

    The image *area* is what scales (corner to corner), so pixel centres move by
    half a pixel of each grid: ``x_dst = (x_src + 0.5) * W_dst / W_src - 0.5``.

    Args:
      xy: [..., 2] ``(x, y)`` in pixels of a ``src_size = (H, W)`` image.
      src_size: ``(H, W)`` the coordinates refer to.
      dst_size: ``(H, W)`` to map them to.

    Returns:
      [..., 2] float32 ``(x, y)`` in pixels of the ``dst_size`` image.
    """
    return tapvid_to_pixels(pixels_to_tapvid(xy, src_size), dst_size)


def inside_frame(xy: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """True where ``(x, y)`` lies on the image area ``[-0.5, W-0.5] x [-0.5, H-0.5]``.

    Args:
      xy: [..., 2] ``(x, y)`` pixels.
      size: ``(H, W)``.

    Returns:
      [...] bool.
    """
    h, w = size
    xy = np.asarray(xy)
    x, y = xy[..., 0], xy[..., 1]
    return (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5) & np.isfinite(x) & np.isfinite(y)
