import numpy as np
import pytest

from studio.conventions import inside_frame
from studio.registry import create_tracker
from studio.results import InputError
from studio.synthetic import MOTIONS


def _epe(clip, flow, t, t1=None):
    t1 = t + 1 if t1 is None else t1
    gt = clip.flow(t, t1)
    h, w = clip.size
    ys, xs = np.mgrid[0:h, 0:w]
    xy = np.stack([xs, ys], -1).astype(float)
    # Score pixels that stay on screen and are not under the occluder in either frame.
    clear = ~clip.occluded_at(t, xy) & ~clip.occluded_at(t1, xy + gt) & inside_frame(xy + gt, clip.size)
    return np.linalg.norm(flow - gt, axis=-1)[clear]


@pytest.mark.parametrize("motion", MOTIONS)
def test_dis_flow_matches_exact_motion(clips, motion):
    # Measured mean end-point error 0.18-0.23 px on consecutive frames (README, "Accuracy").
    clip = clips(motion)
    dis = create_tracker("dis")
    err = np.concatenate([_epe(clip, dis.flow(clip.video[t], clip.video[t + 1]), t) for t in (0, 10, 20)])
    assert err.mean() < 0.35 and np.mean(err < 1) > 0.95


def test_dis_uses_its_initial_flow(clips):
    # ~60 px/frame: too far for DIS alone, easy from a start 0.5 px off.
    clip = clips("translate", speed=40.0, occluder=False)
    dis = create_tracker("dis")
    gt = clip.flow(0, 2)
    cold = _epe(clip, dis.flow(clip.video[0], clip.video[2]), 0, 2)
    warm = _epe(clip, dis.flow(clip.video[0], clip.video[2], init=gt + 0.5), 0, 2)
    assert warm.mean() < 0.5 < cold.mean()


def test_dis_rejects_mismatched_frames():
    dis = create_tracker("dis")
    with pytest.raises(InputError):
        dis.flow(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(ValueError):
        dis.flow(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10, 3), np.uint8), init=np.zeros((5, 5, 2)))
