"""Named query points from annotation files: labelme (``shapes``) or COCO keypoints (``annotations``).

``named_queries`` is what ``python -m studio track --labelme/--coco`` and the Track
tab's upload use: the file's points become queries ``(t, x, y)`` on one chosen frame,
in studio pixels, with their names (``studio.io.labelme``, ``studio.io.coco_keypoints``
state each format's pixel convention and how it is converted).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from studio.io.jsonfile import read_json_object
from studio.results import InputError

KINDS = ("labelme", "coco")


def detect_kind(path: str | os.PathLike) -> str:
    """``"labelme"`` (a ``shapes`` list) or ``"coco"`` (an ``annotations`` list) from the file's content.

    Raises:
      InputError: missing, too large, not JSON, or neither layout.
    """
    from studio.io.labelme import MAX_LABELME_BYTES

    p = Path(path)
    doc = read_json_object(p, "point file", MAX_LABELME_BYTES)
    if isinstance(doc, dict) and isinstance(doc.get("shapes"), list):
        return "labelme"
    if isinstance(doc, dict) and isinstance(doc.get("annotations"), list):
        return "coco"
    raise InputError(
        f"{p.name} is neither a labelme file (a 'shapes' list) nor a COCO keypoint file (an 'annotations' list)"
    )


def read_named_points(
    path: str | os.PathLike,
    frame_size: tuple[int, int] | None = None,
    kind: str | None = None,
    image: str | int | None = None,
) -> tuple[list[str], np.ndarray, list[str]]:
    """``(names, points_xy float32 [N, 2] studio pixels, notices)`` from a labelme or COCO file.

    Args:
      path: the file.
      frame_size: ``(H, W)`` of the video frame; files made on another image size are refused.
      kind: ``"labelme"``, ``"coco"`` or None (from the content).
      image: COCO only: which image's keypoints (id or file name; None = the first).
    """
    from studio.io.coco_keypoints import read_coco_keypoints
    from studio.io.labelme import read_labelme_points

    kind = kind or detect_kind(path)
    if kind == "labelme":
        return read_labelme_points(path, frame_size=frame_size)
    if kind == "coco":
        return read_coco_keypoints(path, frame_size=frame_size, image=image)
    raise InputError(f"unknown point file kind {kind!r}; use one of {', '.join(KINDS)}")


def named_queries(
    path: str | os.PathLike,
    frame: int,
    frame_size: tuple[int, int],
    num_frames: int,
    kind: str | None = None,
    image: str | int | None = None,
) -> tuple[list[str], np.ndarray, list[str]]:
    """The file's points as queries on ``frame``: ``(names, queries float32 [N, 3] (t, x, y), notices)``.

    Raises:
      InputError: see ``read_named_points``; ``frame`` outside ``0..num_frames-1``.
    """
    if isinstance(frame, bool) or not 0 <= int(frame) < num_frames:
        raise InputError(f"frame {frame} is outside the video's frames 0..{num_frames - 1}")
    names, xy, notices = read_named_points(path, frame_size, kind, image)
    t = np.full((len(xy), 1), int(frame), np.float32)
    return names, np.concatenate([t, xy], axis=1).astype(np.float32), notices
