"""Named keypoints from COCO keypoint files, for one frame (queries) or a whole video (PoseTrack-style).

A COCO keypoint file is JSON with ``images`` (``id``, ``width``, ``height``,
``file_name``), ``annotations`` (``image_id``, ``category_id``, ``keypoints`` =
``[x1, y1, v1, x2, y2, v2, ...]``, optionally ``track_id``) and ``categories``
(``id``, ``keypoints`` = the keypoint names, e.g. COCO's 17 ``nose`` ...
``right_ankle``). PoseTrack files are the same with one image per video frame
(``frame_id``; ``is_labeled`` false on frames nobody annotated) and a ``track_id``
per person.

Visibility flags: ``v = 0`` not labelled, ``1`` labelled but not visible, ``2``
labelled and visible (COCO). PoseTrack 2018 writes ``1`` for every labelled
keypoint; a file that never uses ``2`` is read that way (``1`` = visible).

Pixel convention: COCO keypoints are integer *pixel indices*, ``x`` in
``[0, W - 1]`` (detectron2's COCO loader says so and adds 0.5 to reach its
corner-origin coordinates). That is the studio's convention already (integer =
pixel centre, ``studio.conventions``), so coordinates are taken as they are.

People: with one person the points are named by keypoint (``"left_wrist"``);
with several, ``"person<k>/left_wrist"`` where ``k`` is the ``track_id`` (or the
annotation's 1-based position on the image), as ``studio.pose`` expects.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.io.jsonfile import read_json_object
from studio.pose import COCO_KEYPOINTS, person_name
from studio.results import InputError

MAX_COCO_BYTES = 64 * 1024 * 1024
"""Largest keypoint file read."""

MAX_KEYPOINTS = 1000
"""Most keypoints one category may name."""

MAX_FRAMES = 100_000
"""Most images a PoseTrack-style file may list."""


def read_coco_keypoints(
    path: str | os.PathLike,
    frame_size: tuple[int, int] | None = None,
    image: str | int | None = None,
) -> tuple[list[str], np.ndarray, list[str]]:
    """The labelled keypoints of one image of a COCO keypoint file, as named points in studio pixels.

    Args:
      path: a COCO keypoint ``.json``.
      frame_size: ``(H, W)`` of the frame the points will be used on; a file whose image
        records another size is refused.
      image: which image: its ``id`` or ``file_name`` (or the file name's last part); None =
        the first image that has keypoint annotations (a notice says which when there are several).

    Returns:
      ``(names, points_xy, notices)``: ``names`` N strings (see module doc), ``points_xy``
      float32 [N, 2] ``(x, y)`` studio pixels (integer = pixel centre), ``notices`` sentences
      about what was skipped (unlabelled keypoints) or chosen.

    Raises:
      InputError: missing, too large, not JSON, not a COCO keypoint file, the image is not
        there or has no keypoints, a malformed or off-image keypoint, or a size mismatch.
    """
    path = Path(path)
    doc = _load(path)
    name = path.name
    images = _images(doc, name)
    by_id = {im["id"]: im for im in images}
    anns = [a for a in _annotations(doc, name) if a["keypoints"]]
    if not anns:
        raise InputError(f"{name} has no annotation with keypoints")
    notices: list[str] = []
    if image is None:
        chosen = anns[0]["image_id"]
        with_kps = list(dict.fromkeys(a["image_id"] for a in anns))
        if len(with_kps) > 1:
            im = by_id.get(chosen, {})
            notices.append(
                f"{name} has keypoints on {len(with_kps)} images; used the first, "
                f"{im.get('file_name') or chosen!s} (choose another by its id or file name)"
            )
    else:
        chosen = _find_image(images, image, name)
    size = _image_size(by_id.get(chosen), name)
    if frame_size is not None and size is not None and tuple(size) != tuple(frame_size):
        raise InputError(
            f"{name}: the image was {size[1]}x{size[0]}, but the video's frames are {frame_size[1]}x{frame_size[0]}"
        )
    on_image = [a for a in anns if a["image_id"] == chosen]
    if not on_image:
        raise InputError(f"{name}: image {image!r} has no keypoint annotation")
    categories = _categories(doc, name)
    several = len(on_image) > 1
    names: list[str] = []
    points: list[tuple[float, float]] = []
    unlabelled = hidden = 0
    for k, ann in enumerate(on_image):
        kp_names = _keypoint_names(categories, ann, name, notices)
        person = _person(ann, k) if several else ""
        for j, (x, y, v) in enumerate(ann["keypoints"]):
            if v == 0:
                unlabelled += 1
                continue
            hidden += v == 1
            if size is not None and not (-0.5 <= x <= size[1] - 0.5 and -0.5 <= y <= size[0] - 0.5):
                raise InputError(
                    f"{name}: keypoint {kp_names[j]!r} at ({x:g}, {y:g}) lies outside the {size[1]}x{size[0]} image"
                )
            names.append(person_name(person, kp_names[j]))
            points.append((x, y))
    if not points:
        raise InputError(f"{name}: every keypoint on the image is unlabelled (visibility 0)")
    if unlabelled:
        notices.append(f"{name}: left out {unlabelled} unlabelled keypoint(s) (visibility 0)")
    if hidden and _uses_two(doc):
        notices.append(
            f"{name}: {hidden} keypoint(s) are labelled but hidden (visibility 1); they are tracked from there"
        )
    return names, np.asarray(points, dtype=np.float32).reshape(-1, 2), notices


@dataclass
class PoseTrackTruth:
    """Keypoint tracks of every person through a video, from a PoseTrack-style file.

    Attributes:
      names: N point names (``person<k>/<keypoint>`` with several people).
      tracks: float32 [T, N, 2] ``(x, y)`` studio pixels; NaN where not labelled.
      visible: bool [T, N].
      size: ``(H, W)`` the images record, or None.
      first_frame: index of the file's first kept image in the file's frame order (frames
        before the first labelled image are left out).
      notices: sentences about what was left out or assumed.
    """

    names: list[str]
    tracks: np.ndarray
    visible: np.ndarray
    size: tuple[int, int] | None
    first_frame: int = 0
    notices: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.tracks.shape[0])


def read_posetrack(path: str | os.PathLike) -> PoseTrackTruth:
    """Every person's keypoints through a video from a PoseTrack-style (COCO with one image per frame) file.

    Frames are the images in ``frame_id`` order (file order when there is none). When images
    carry ``is_labeled``, only the span from the first to the last labelled image is kept (the
    video must be cut the same way: ``first_frame`` says where it starts); unlabelled images
    inside the span count as "not visible" for every point, with a notice. A person is one
    ``track_id``; each of its keypoints becomes a track.

    Raises:
      InputError: not a keypoint file, no ``track_id``, a person twice on one image, a
        malformed keypoint, or no labelled keypoint at all.
    """
    path = Path(path)
    doc = _load(path)
    name = path.name
    images = _images(doc, name)
    if not images:
        raise InputError(f"{name} lists no images (a PoseTrack-style file has one image per frame)")
    if len(images) > MAX_FRAMES:
        raise InputError(f"{name} lists {len(images)} images; at most {MAX_FRAMES} frames are read")
    if all("frame_id" in im for im in images):
        images = sorted(images, key=lambda im: _number(im["frame_id"], f"{name}: frame_id"))
    frame_of = {im["id"]: t for t, im in enumerate(images)}
    labelled = [t for t, im in enumerate(images) if im.get("is_labeled", True) is not False]
    anns = _annotations(doc, name)
    if not anns:
        raise InputError(f"{name} has no keypoint annotations")
    categories = _categories(doc, name)
    notices: list[str] = []
    people: dict[object, list[str]] = {}
    for a in anns:
        if "track_id" not in a["raw"]:
            raise InputError(f"{name}: annotation {a['raw'].get('id', '?')} has no 'track_id' (PoseTrack-style "
                             "files name each person with one)")
        if a["image_id"] not in frame_of:
            raise InputError(f"{name}: an annotation refers to image {a['image_id']!r}, which is not listed")
        tid = a["raw"]["track_id"]
        if tid not in people:
            people[tid] = _keypoint_names(categories, a, name, notices)
    lo, hi = (labelled[0], labelled[-1]) if labelled else (0, len(images) - 1)
    t_len = hi - lo + 1
    several = len(people) > 1
    columns: dict[tuple[object, int], int] = {}
    names: list[str] = []
    for tid, kp_names in people.items():
        for j, kp in enumerate(kp_names):
            columns[(tid, j)] = len(names)
            names.append(person_name(f"person{tid}" if several else "", kp))
    tracks = np.full((t_len, len(names), 2), np.nan, np.float32)
    visible = np.zeros((t_len, len(names)), bool)
    two = _uses_two(doc)
    seen: set[tuple[object, int]] = set()
    for a in anns:
        t = frame_of[a["image_id"]] - lo
        tid = a["raw"]["track_id"]
        if not 0 <= t < t_len:
            continue
        if (tid, t) in seen:
            raise InputError(f"{name}: person {tid} appears twice on frame {t + lo}")
        seen.add((tid, t))
        for j, (x, y, v) in enumerate(a["keypoints"]):
            if v == 0 or (tid, j) not in columns:
                continue
            col = columns[(tid, j)]
            tracks[t, col] = (x, y)
            visible[t, col] = v == 2 if two else v >= 1
    if not visible.any():
        raise InputError(f"{name}: no keypoint is labelled visible on any frame")
    if labelled and (lo > 0 or hi < len(images) - 1):
        notices.append(f"kept frames {lo}–{hi} of the file's {len(images)} (the span with labelled images)")
    gaps = t_len - sum(1 for t in labelled if lo <= t <= hi)
    if gaps:
        notices.append(f"{gaps} unlabelled frame(s) inside that span count as 'not visible' for every point")
    if not two:
        notices.append("visibility flags are 0/1 (PoseTrack style): 1 counts as visible")
    size = _image_size(images[lo], name)
    return PoseTrackTruth(names, tracks, visible, size, lo, notices)


def looks_like_coco(path: str | os.PathLike) -> bool:
    """True when ``path`` is a JSON object with ``annotations`` and ``images`` (read within the size cap)."""
    p = Path(path)
    if p.suffix.lower() != ".json" or not p.is_file() or p.stat().st_size > MAX_COCO_BYTES:
        return False
    try:
        doc = _load(p)
    except InputError:
        return False
    return isinstance(doc.get("annotations"), list) and isinstance(doc.get("images"), list)


# ----------------------------------------------------------------------------- parsing


def _load(path: Path) -> dict:
    return read_json_object(path, "COCO keypoint file", MAX_COCO_BYTES)


def _number(v, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InputError(f"{what} must be a finite number, got {v!r}"[:200])
    return float(v)


def _images(doc: dict, name: str) -> list[dict]:
    images = doc.get("images", [])
    if not isinstance(images, list) or not all(isinstance(im, dict) and "id" in im for im in images):
        raise InputError(f"{name}: 'images' must be a list of objects with an 'id'")
    return images


def _annotations(doc: dict, name: str) -> list[dict]:
    anns = doc.get("annotations")
    if not isinstance(anns, list):
        raise InputError(f"{name} is not a COCO keypoint file: it has no 'annotations' list")
    out = []
    for i, a in enumerate(anns):
        if not isinstance(a, dict):
            raise InputError(f"{name}: annotation {i} is not an object")
        raw = a.get("keypoints")
        if raw is None or raw == []:
            out.append({"image_id": a.get("image_id"), "category_id": a.get("category_id"), "keypoints": [],
                        "raw": a})
            continue
        if not isinstance(raw, list) or len(raw) % 3 or len(raw) > 3 * MAX_KEYPOINTS:
            raise InputError(f"{name}: annotation {i}'s 'keypoints' must be a flat list [x, y, v, ...]")
        kps = []
        for j in range(0, len(raw), 3):
            x = _number(raw[j], f"{name}: annotation {i}, keypoint {j // 3} x")
            y = _number(raw[j + 1], f"{name}: annotation {i}, keypoint {j // 3} y")
            v = _number(raw[j + 2], f"{name}: annotation {i}, keypoint {j // 3} visibility")
            if v not in (0, 1, 2):
                raise InputError(f"{name}: annotation {i}, keypoint {j // 3} has visibility {v:g} (expected 0, 1 or 2)")
            kps.append((x, y, int(v)))
        out.append({"image_id": a.get("image_id"), "category_id": a.get("category_id"), "keypoints": kps, "raw": a})
    return out


def _categories(doc: dict, name: str) -> dict:
    cats = doc.get("categories", [])
    if not isinstance(cats, list):
        raise InputError(f"{name}: 'categories' must be a list")
    out = {}
    for c in cats:
        if isinstance(c, dict) and isinstance(c.get("keypoints"), list):
            kps = c["keypoints"]
            if len(kps) > MAX_KEYPOINTS or not all(isinstance(k, str) and len(k) <= 100 for k in kps):
                raise InputError(f"{name}: category {c.get('id')!r} has malformed keypoint names")
            out[c.get("id")] = [k.strip() or f"keypoint{j}" for j, k in enumerate(kps)]
    return out


def _keypoint_names(categories: dict, ann: dict, name: str, notices: list[str]) -> list[str]:
    n = len(ann["keypoints"])
    kp = categories.get(ann["category_id"])
    if kp is None and len(categories) == 1:
        kp = next(iter(categories.values()))
    if kp is None:
        if n == len(COCO_KEYPOINTS):
            note = f"{name}: no category names the keypoints; took COCO's 17 (nose ... right_ankle)"
            if note not in notices:
                notices.append(note)
            return list(COCO_KEYPOINTS)
        return [f"keypoint{j}" for j in range(n)]
    if len(kp) != n:
        raise InputError(f"{name}: an annotation has {n} keypoints but its category names {len(kp)}")
    return kp


def _person(ann: dict, k: int) -> str:
    tid = ann["raw"].get("track_id")
    return f"person{tid}" if isinstance(tid, (int, str)) and not isinstance(tid, bool) else f"person{k + 1}"


def _find_image(images: list[dict], image: str | int, name: str):
    text = str(image).strip()
    for im in images:
        fn = str(im.get("file_name", ""))
        if str(im["id"]) == text or fn == text or (fn and Path(fn).name == text):
            return im["id"]
    raise InputError(f"{name} has no image with id or file name {text!r}")


def _image_size(im: dict | None, name: str) -> tuple[int, int] | None:
    if not im or im.get("height") is None or im.get("width") is None:
        return None
    h, w = im["height"], im["width"]
    if isinstance(h, bool) or isinstance(w, bool) or not isinstance(h, int) or not isinstance(w, int) or h < 1 or w < 1:
        raise InputError(f"{name}: image height and width must be positive integers, got {h!r} and {w!r}")
    return h, w


def _uses_two(doc: dict) -> bool:
    """True when any keypoint has visibility 2 (COCO flags); False for PoseTrack 2018's 0/1 flags."""
    for a in doc.get("annotations", []):
        raw = a.get("keypoints") if isinstance(a, dict) else None
        if isinstance(raw, list) and any(v == 2 for v in raw[2::3]):
            return True
    return False
