"""Generated clips with exact ground truth, for tests, benchmarks and the bundled examples.

* ``clips``: a real photo under a known motion (homography, deformation, lighting, blur) with a
  moving object and an occluder — ``make_clip``, the workhorse;
* ``hard``: harder clips layered over those (a region turning to noise, a moving occluder), for
  the reliability benchmark — ``make_hard_clip``;
* ``turn``: a textured cylinder turning in front of a background, each pixel's visibility exact —
  for dense visibility on a turning object.
"""

from studio.synthetic.clips import (
    APPEARANCES,
    MOTIONS,
    Appearance,
    SyntheticClip,
    accuracy_summary,
    apply_homography,
    deformation,
    make_clip,
    motion_homography,
    object_pose,
    sample_photo,
)

__all__ = [
    "APPEARANCES", "MOTIONS", "Appearance", "SyntheticClip", "accuracy_summary", "apply_homography", "deformation",
    "make_clip", "motion_homography", "object_pose", "sample_photo",
]
