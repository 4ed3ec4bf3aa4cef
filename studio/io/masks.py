"""Mask images from files, as bool [H, W] at a given size (inside = True).

Two readings, each kept as its command has always read masks:

* ``read_mask_image`` (dense tracking: ``python -m studio dense --mask``): an image
  with a transparency channel that is not fully opaque uses that channel, else its
  brightest colour channel (``studio.queries.mask_plane``); a resized mask is reported
  as a notice, and a mask with no pixel inside is refused.
* ``read_mask`` (rendering ``_mask`` modes: ``python -m studio render --mask``): the
  image as grey levels, resized silently.

Both count a pixel inside when it is at least half on (``studio.queries.binary_mask``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from studio.queries import binary_mask, mask_plane
from studio.results import InputError


def read_mask_image(path: str | os.PathLike, size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """A mask image as bool [H, W] at ``size``: pixels at least half on are inside
    (``studio.queries.binary_mask``; a soft edge's faint halo stays outside).

    An image with a transparency channel that is not fully opaque uses that
    channel. A mask of another size is resized
    (nearest neighbour) with a notice.

    Returns:
      ``(mask, notices)``.

    Raises:
      InputError: missing or unreadable file, or a mask with no pixel inside.
    """
    import cv2

    name = Path(path).name
    image = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED) if Path(path).is_file() else None
    if image is None:
        raise InputError(f"mask {name!r} is missing or not an image")
    inside = binary_mask(mask_plane(image))
    notices = []
    h, w = size
    if inside.shape != (h, w):
        notices.append(f"resized mask {name} from {inside.shape[1]}x{inside.shape[0]} to the video's {w}x{h}")
        inside = cv2.resize(inside.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    if not inside.any():
        raise InputError(f"mask {name!r} is empty: no pixel is at least half on")
    return inside, notices


def read_mask(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """A mask image (any format OpenCV reads; at least 50% grey = inside, 0/1 masks as they are) as
    bool [H, W] at ``size``."""
    import cv2

    image = cv2.imread(os.fspath(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise InputError(f"mask {Path(path).name!r} is missing or not an image")
    h, w = size
    if image.shape != (h, w):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_NEAREST)
    return binary_mask(image)
