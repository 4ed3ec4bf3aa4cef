"""Human pose keypoints (COCO-17): names, the skeleton, OKS constants, and people among named points.

Named points are "pose keypoints" when their names are COCO-17 keypoint names
(``nose``, ``left_eye`` ... ``right_ankle``; case, spaces and hyphens are
ignored: ``"Left Wrist"`` is ``left_wrist``). Several people are told apart by a
prefix: ``"person2/left_wrist"`` is person ``person2``'s left wrist, a name
without ``/`` belongs to the one unnamed person ``""``. Renderers draw the
skeleton of each person (``pose_limbs``) and the benchmark scores poses per
person (``studio.benchmark.metrics.pose``).

The keypoint order, the limbs and the per-keypoint OKS sigmas are those of the
COCO keypoint task (``person_keypoints`` category and ``cocoeval``'s sigmas).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
"""The 17 COCO keypoints in COCO's order."""

COCO_SIGMAS: dict[str, float] = dict(
    zip(
        COCO_KEYPOINTS,
        np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89])
        / 10.0,
    )
)
"""Per-keypoint standard deviation of human annotations, as a fraction of the object scale (COCO OKS)."""

COCO_LIMBS: tuple[tuple[str, str], ...] = (
    ("left_ankle", "left_knee"),
    ("left_knee", "left_hip"),
    ("right_ankle", "right_knee"),
    ("right_knee", "right_hip"),
    ("left_hip", "right_hip"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("right_shoulder", "right_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_elbow", "right_wrist"),
    ("left_eye", "right_eye"),
    ("nose", "left_eye"),
    ("nose", "right_eye"),
    ("left_eye", "left_ear"),
    ("right_eye", "right_ear"),
    ("left_ear", "left_shoulder"),
    ("right_ear", "right_shoulder"),
)
"""The 19 limbs of the COCO person skeleton, as keypoint-name pairs."""

PERSON_SEPARATOR = "/"


def canonical_keypoint(name: str) -> str:
    """``"Left Wrist"`` / ``"left-wrist"`` -> ``"left_wrist"`` (lower case, runs of space/-/_ -> ``_``)."""
    return re.sub(r"[\s_-]+", "_", str(name).strip().lower()).strip("_")


def split_person(name: str) -> tuple[str, str]:
    """``"person2/left_wrist"`` -> ``("person2", "left_wrist")``; ``"nose"`` -> ``("", "nose")``.

    The keypoint part is ``canonical_keypoint``-ed; the person part is kept as written.
    """
    person, sep, keypoint = str(name).rpartition(PERSON_SEPARATOR)
    return (person.strip() if sep else ""), canonical_keypoint(keypoint)


def person_name(person: str, keypoint: str) -> str:
    """The point name of ``keypoint`` of ``person`` (just the keypoint when ``person`` is empty)."""
    return f"{person}{PERSON_SEPARATOR}{keypoint}" if person else keypoint


@dataclass(frozen=True)
class PosePoints:
    """Which points of a named set are COCO-17 keypoints, and of whom.

    Attributes:
      person: [N] person label of each point (``""`` = the unnamed person).
      keypoint: [N] COCO keypoint name, ``""`` for points that are not one.
    """

    person: tuple[str, ...]
    keypoint: tuple[str, ...]

    @property
    def is_pose(self) -> bool:
        """True when some person has at least two COCO keypoints (a skeleton or a box can be formed)."""
        counts: dict[str, int] = {}
        for p, k in zip(self.person, self.keypoint):
            if k:
                counts[p] = counts.get(p, 0) + 1
        return any(c >= 2 for c in counts.values())

    def people(self) -> list[str]:
        """Person labels with at least one COCO keypoint, in order of first appearance."""
        return list(dict.fromkeys(p for p, k in zip(self.person, self.keypoint) if k))

    def indices(self, person: str) -> dict[str, int]:
        """``{keypoint: point index}`` of one person (the first point if a keypoint repeats)."""
        out: dict[str, int] = {}
        for i, (p, k) in enumerate(zip(self.person, self.keypoint)):
            if k and p == person and k not in out:
                out[k] = i
        return out


def pose_points(names: Sequence[str] | None) -> PosePoints:
    """Classify named points (``None`` or empty names -> no keypoints)."""
    persons, keypoints = [], []
    for name in names or ():
        person, keypoint = split_person(name or "")
        persons.append(person)
        keypoints.append(keypoint if keypoint in COCO_SIGMAS else "")
    return PosePoints(tuple(persons), tuple(keypoints))


def pose_limbs(names: Sequence[str] | None) -> np.ndarray:
    """Point-index pairs of every COCO limb whose two ends are among ``names`` (per person).

    Returns:
      int64 [L, 2]; empty when the names form no pose.
    """
    pp = pose_points(names)
    pairs = []
    for person in pp.people():
        idx = pp.indices(person)
        pairs += [(idx[a], idx[b]) for a, b in COCO_LIMBS if a in idx and b in idx]
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def limb_sides(names: Sequence[str], limbs: np.ndarray) -> np.ndarray:
    """Side of each limb for colouring: 0 = left, 1 = right, 2 = across the body (or the face's middle).

    Args:
      names: point names.
      limbs: [L, 2] point-index pairs from ``pose_limbs``.

    Returns:
      int64 [L].
    """
    sides = []
    for a, b in np.asarray(limbs).reshape(-1, 2):
        ka, kb = split_person(names[a])[1], split_person(names[b])[1]
        if ka.startswith("left") and kb.startswith("left"):
            sides.append(0)
        elif ka.startswith("right") and kb.startswith("right"):
            sides.append(1)
        else:
            sides.append(2)
    return np.asarray(sides, dtype=np.int64)
