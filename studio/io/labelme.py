"""Named query points from labelme annotation files (``.json``).

A labelme file describes one image: ``shapes`` is a list of objects with
``label``, ``points`` (``[[x, y], ...]``) and ``shape_type``; only
``shape_type: "point"`` shapes are query points here, other shapes are
ignored with a notice. ``imageHeight`` / ``imageWidth`` give the size of the
annotated image when present.

Pixel convention: labelme draws the image with its top-left *corner* at
``(0, 0)`` and every pixel one unit wide, so a click in the middle of pixel
column ``i`` is stored as ``x = i + 0.5`` and the image spans ``[0, W] x [0, H]``.
The studio puts integer coordinates on pixel *centres* (``studio.conventions``),
so a labelme point becomes ``(x - 0.5, y - 0.5)`` here, and the image bounds
``[0, W]`` become ``[-0.5, W - 0.5]``, exactly the studio's frame.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path

import numpy as np

from studio.io.jsonfile import read_json_object
from studio.results import InputError

LABELME_TO_STUDIO = -0.5
"""Added to labelme's ``(x, y)`` to get studio pixels (corner origin -> centre origin)."""

MAX_LABELME_BYTES = 64 * 1024 * 1024
"""Largest file read (labelme may embed the image as base64 ``imageData``)."""


def read_labelme_points(
    path: str | os.PathLike, frame_size: tuple[int, int] | None = None
) -> tuple[list[str], np.ndarray, list[str]]:
    """The point shapes of a labelme file as named points in studio pixels.

    Args:
      path: a labelme ``.json`` file.
      frame_size: ``(H, W)`` of the frame the points will be used on; when given
        and the file records a different ``imageHeight`` / ``imageWidth``, the file
        is refused (its points belong to another image size).

    Returns:
      ``(names, points_xy, notices)``: ``names`` a list of N labels in file order
      (an empty label becomes ``point<i>``); ``points_xy`` float32 [N, 2] ``(x, y)``
      in studio pixels (integer = pixel centre); ``notices`` sentences about what was
      ignored or changed (other shape types, empty or repeated labels).

    Raises:
      InputError: the file is missing, too large, not JSON, not a labelme file,
        holds a malformed or non-finite point, a point outside the recorded image,
        a size that differs from ``frame_size``, or no point shape at all.
    """
    path = Path(path)
    doc = _load(path)
    name = path.name
    shapes = doc.get("shapes")
    if not isinstance(shapes, list):
        raise InputError(f"{name} is not a labelme file: it has no 'shapes' list")
    size = _image_size(doc, name)
    if frame_size is not None and size is not None and tuple(size) != tuple(frame_size):
        raise InputError(
            f"{name} was made on a {size[1]}x{size[0]} image, but the video's frames are "
            f"{frame_size[1]}x{frame_size[0]}"
        )
    names: list[str] = []
    points: list[tuple[float, float]] = []
    ignored: Counter[str] = Counter()
    unnamed = 0
    for i, shape in enumerate(shapes):
        if not isinstance(shape, dict):
            raise InputError(f"{name}: shape {i} is not an object")
        kind = shape.get("shape_type") or "polygon"  # labelme's default for files without the field
        if kind != "point":
            ignored[str(kind)] += 1
            continue
        x, y = _point(shape.get("points"), name, i)
        label = shape.get("label")
        label = label.strip() if isinstance(label, str) else ""
        if not label:
            unnamed += 1
            label = f"point{len(names)}"
        names.append(label)
        points.append((x + LABELME_TO_STUDIO, y + LABELME_TO_STUDIO))
        if size is not None and not (0 <= x <= size[1] and 0 <= y <= size[0]):
            raise InputError(
                f"{name}: point {label!r} at ({x:g}, {y:g}) lies outside the {size[1]}x{size[0]} image"
            )
    if not points:
        what = ", ".join(f"{n} {k}" for k, n in sorted(ignored.items())) or "no shapes"
        raise InputError(f"{name} has no point shapes (shape_type 'point'); it holds {what}")
    notices = []
    if ignored:
        listed = ", ".join(f"{n} {k}" for k, n in sorted(ignored.items()))
        notices.append(f"{name}: ignored shapes that are not points ({listed})")
    if unnamed:
        notices.append(f"{name}: {unnamed} point(s) without a label were named point<index>")
    repeated = sorted(k for k, n in Counter(names).items() if n > 1)
    if repeated:
        notices.append(f"{name}: labels used by more than one point: {', '.join(repeated)}")
    return names, np.asarray(points, dtype=np.float32).reshape(-1, 2), notices


def _load(path: Path) -> dict:
    return read_json_object(path, "labelme file", MAX_LABELME_BYTES)


def _image_size(doc: dict, name: str) -> tuple[int, int] | None:
    h, w = doc.get("imageHeight"), doc.get("imageWidth")
    if h is None or w is None:
        return None
    if isinstance(h, bool) or isinstance(w, bool) or not isinstance(h, int) or not isinstance(w, int) or h < 1 or w < 1:
        raise InputError(f"{name}: imageHeight and imageWidth must be positive integers, got {h!r} and {w!r}")
    return h, w


def _point(raw, name: str, i: int) -> tuple[float, float]:
    ok = isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], list) and len(raw[0]) == 2
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw[0])
    if ok:
        x, y = float(raw[0][0]), float(raw[0][1])
    else:
        raise InputError(f"{name}: point shape {i} must hold one [x, y] pair, got {raw!r}"[:300])
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InputError(f"{name}: point shape {i} has a non-finite coordinate ({x}, {y})")
    return x, y
