"""The generated clips' ground truth is exact, with real-world appearance changes too.

A scene point's colour must be found again at its true position in later frames (up to
resampling, and exactly the change the appearance preset applies); a truth that ignored
the deformation would put it elsewhere.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from studio.queries import grid_queries
from studio.synthetic import APPEARANCES, Appearance, apply_homography, deformation, make_clip

SIZE = (96, 128)


def _sample(frame: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear colours [N, 3] of ``frame`` at ``xy`` [N, 2]."""
    m = xy.astype(np.float32).reshape(1, -1, 2)
    return cv2.remap(frame.astype(np.float32), m[..., 0], m[..., 1], cv2.INTER_LINEAR)[0]


def _colour_drift(clip, t: int, tracks: np.ndarray, visible: np.ndarray, queries: np.ndarray) -> float:
    """Mean absolute colour difference between each query and its track in frame ``t``."""
    ok = visible[t] & visible[0]
    return float(np.abs(_sample(clip.video[t], tracks[t][ok]) - _sample(clip.video[0], queries[ok, 1:])).mean())


def test_rigid_is_the_default_and_unchanged():
    a = make_clip("rotate", num_frames=4, size=SIZE)
    b = make_clip("rotate", num_frames=4, size=SIZE, appearance="rigid")
    np.testing.assert_array_equal(a.video, b.video)
    assert a.appearance == Appearance()


def test_non_rigid_truth_follows_the_deformation():
    clip = make_clip("mixed", num_frames=20, size=SIZE, appearance="nonrigid", occluder=False)
    q = grid_queries(SIZE, 12, 0, margin=0.1)
    tracks, visible = clip.ground_truth(q)
    rigid = np.stack([apply_homography(clip.homographies[t], q[:, 1:]) for t in range(20)])
    t = 15
    assert np.abs(tracks[t] - rigid[t]).max() > 3  # the deformation really moves points off the rigid warp
    drift = _colour_drift(clip, t, tracks, visible, q)
    wrong = _colour_drift(clip, t, rigid.astype(np.float32), visible, q)
    assert drift < 3.0 and wrong > 3 * drift, (drift, wrong)


def test_truth_maps_back_and_forth_exactly():
    clip = make_clip("perspective", num_frames=12, size=SIZE, appearance="nonrigid")
    xy = np.random.default_rng(0).uniform(0, 90, (50, 2))
    np.testing.assert_allclose(clip.to_frame(9, clip.to_reference(9, xy)), xy, atol=1e-6)
    q = np.concatenate([np.full((50, 1), 9.0), xy], 1)
    tracks, _ = clip.ground_truth(q)
    np.testing.assert_allclose(tracks[9], xy, atol=1e-3)
    assert np.abs(deformation(5.0, 40.0, 0.0, xy)).max() == 0  # frame 0 is the reference


def test_lighting_changes_colours_not_positions():
    rigid = make_clip("translate", num_frames=16, size=SIZE, occluder=False)
    lit = make_clip("translate", num_frames=16, size=SIZE, occluder=False, appearance="lighting")
    np.testing.assert_array_equal(rigid.homographies, lit.homographies)
    first, last = (lit.video[t].astype(float).mean() / rigid.video[t].astype(float).mean() for t in (0, -1))
    assert last < 0.85 * first  # the gain ramp darkens the clip while the light moves across
    q = grid_queries(SIZE, 8, 0, margin=0.1)
    tracks, visible = lit.ground_truth(q)
    assert _colour_drift(rigid, 15, tracks, visible, q) < 3.0


def test_motion_blur_is_centred_on_the_truth():
    sharp = make_clip("translate", num_frames=8, size=SIZE, speed=3.0, occluder=False)
    blurred = make_clip("translate", num_frames=8, size=SIZE, speed=3.0, occluder=False, appearance=Appearance(blur=1.0))
    # Blur smooths the frames but does not shift them: the blurred frame correlates best with
    # the sharp one at zero offset.
    a = cv2.cvtColor(sharp.video[5], cv2.COLOR_RGB2GRAY).astype(np.float32)
    b = cv2.cvtColor(blurred.video[5], cv2.COLOR_RGB2GRAY).astype(np.float32)
    assert np.abs(np.diff(b, axis=1)).mean() < 0.8 * np.abs(np.diff(a, axis=1)).mean()
    (dx, dy), _ = cv2.phaseCorrelate(a, b)
    assert abs(dx) < 0.3 and abs(dy) < 0.3


def test_unknown_appearance_is_refused():
    with pytest.raises(ValueError, match="appearance"):
        make_clip("mixed", num_frames=2, size=SIZE, appearance="fog")
    assert set(APPEARANCES) >= {"rigid", "lighting", "blur", "nonrigid", "all"}
