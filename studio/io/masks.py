"""Mask images from files, as bool [H, W] at a given size (inside = True).

Two readings, each kept as its command has always read masks:

* ``read_mask_image`` (dense tracking: ``python -m studio dense --mask``): an image
  with a transparency channel that is not fully opaque uses that channel, else its
  brightest colour channel (``studio.queries.mask_plane``); a mask with no pixel inside
  is refused.
* ``read_mask`` (rendering ``_mask`` modes: ``python -m studio render --mask``): the
  image as grey levels.

Both count a pixel inside when it is at least half on (``studio.queries.binary_mask``),
read the image only after its header passed ``max_image_pixels``
(``studio.io.guards.read_image``), and fit it to the video as the app does
(``studio.queries.mask_to_size``): another size is resized with a notice if its aspect
ratio matches the video's, refused otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from studio.io.guards import read_image
from studio.limits import Limits
from studio.queries import binary_mask, mask_to_size
from studio.results import InputError


def read_mask_image(path: str | os.PathLike, size: tuple[int, int], limits: Limits | None = None
                    ) -> tuple[np.ndarray, list[str]]:
    """A mask image as bool [H, W] at ``size``: pixels at least half on are inside
    (``studio.queries.binary_mask``; a soft edge's faint halo stays outside).

    An image with a transparency channel that is not fully opaque uses that channel.
    A mask of another size with the video's aspect ratio is resized (nearest
    neighbour) with a notice.

    Returns:
      ``(mask, notices)``.

    Raises:
      InputError: missing or unreadable file, too many pixels, an aspect ratio that does
        not match the video's, or a mask with no pixel inside.
    """
    name = Path(path).name
    inside, notices = mask_to_size(read_image(path, f"mask {name!r}", limits), size)
    if not inside.any():
        raise InputError(f"mask {name!r} is empty: no pixel is at least half on")
    return inside, notices


def read_mask(path: str | os.PathLike, size: tuple[int, int], limits: Limits | None = None
              ) -> tuple[np.ndarray, list[str]]:
    """A mask image (at least 50% grey = inside, 0/1 masks as they are) as bool [H, W] at ``size``,
    with notices (a resized mask). Raises ``InputError`` as ``read_mask_image`` does (an empty mask is allowed)."""
    image = read_image(path, f"mask {Path(path).name!r}", limits)
    grey = image if image.ndim == 2 else _grey(image)
    binary, notices = mask_to_size(binary_mask(grey), size)
    return binary, notices


def _grey(image: np.ndarray) -> np.ndarray:
    """RGB(A) [H, W, C] -> grey [H, W] with the usual luma weights (alpha ignored)."""
    rgb = image[..., :3].astype(np.float32)
    return np.rint(rgb @ np.array([0.299, 0.587, 0.114], np.float32)).astype(image.dtype)
