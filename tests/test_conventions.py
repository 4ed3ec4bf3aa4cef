import numpy as np
import pytest

from studio.conventions import inside_frame, pixels_to_tapvid, rescale_pixels, tapvid_to_pixels
from studio.render import draw_points
from studio.results import InputError, TrackResult, check_queries, check_video


def test_pixel_centres_map_to_tapvid_cell_centres():
    size = (4, 8)  # H, W
    xy = np.array([[0, 0], [7, 3], [-0.5, -0.5], [7.5, 3.5]], np.float32)
    norm = pixels_to_tapvid(xy, size)
    np.testing.assert_allclose(norm, [[0.5 / 8, 0.5 / 4], [7.5 / 8, 3.5 / 4], [0, 0], [1, 1]], atol=1e-7)


def test_tapvid_round_trip_is_exact_enough():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-0.5, 300, size=(1000, 2)).astype(np.float32)
    back = tapvid_to_pixels(pixels_to_tapvid(xy, (240, 320)), (240, 320))
    np.testing.assert_allclose(back, xy, atol=1e-4)


def test_rescale_keeps_the_image_corners_and_centres():
    # A 2x upscale: pixel centre 0 covers [-0.5, 0.5] -> [-0.5, 1.5] whose centre is 0.5.
    out = rescale_pixels(np.array([[0.0, 0.0], [-0.5, -0.5], [9.5, 4.5]]), (5, 10), (10, 20))
    np.testing.assert_allclose(out, [[0.5, 0.5], [-0.5, -0.5], [19.5, 9.5]], atol=1e-5)


def test_inside_frame_edges():
    pts = np.array([[-0.5, 0], [-0.51, 0], [9.5, 4.5], [9.51, 0], [np.nan, 0]])
    assert inside_frame(pts, (5, 10)).tolist() == [True, False, True, False, False]


def test_integer_coordinate_is_the_pixel_centre_when_drawn():
    video = np.zeros((1, 40, 60, 3), np.uint8)
    out = draw_points(video, np.array([[[17.0, 23.0]]]), np.array([[True]]), tail=0, radius=1.5,
                      colors=np.array([[255, 255, 255]], np.uint8))
    lum = out[0].sum(axis=-1)
    ys, xs = np.nonzero(lum)
    # The disc's weighted centre is the pixel (17, 23), not a half-pixel off (OpenCV's
    # anti-aliasing is itself off by up to ~0.2 px).
    cx = (xs * lum[ys, xs]).sum() / lum[ys, xs].sum()
    cy = (ys * lum[ys, xs]).sum() / lum[ys, xs].sum()
    assert abs(cx - 17) < 0.25 and abs(cy - 23) < 0.25


@pytest.mark.parametrize(
    "queries, words",
    [
        (np.array([[0, 400, 10]]), "outside the 320x240 frame"),
        (np.array([[0, 10, -1]]), "outside"),
        (np.array([[5, 10, 10]]), "frames 0..4"),
        (np.array([[1.5, 10, 10]]), "frame 1.5"),
        (np.array([[0, np.nan, 10]]), "non-finite"),
        (np.zeros((0, 3)), "no query points"),
        (np.zeros((3, 2)), "[N, 3]"),
    ],
)
def test_bad_queries_get_clear_errors(queries, words):
    with pytest.raises(InputError, match=None) as err:
        check_queries(queries, (5, 240, 320, 3))
    assert words in str(err.value)


def test_edge_queries_are_allowed():
    q = check_queries(np.array([[0, -0.5, -0.5], [4, 319.5, 239.5]]), (5, 240, 320, 3))
    assert q.dtype == np.float32


@pytest.mark.parametrize(
    "video",
    [np.zeros((2, 4, 4), np.uint8), np.zeros((2, 4, 4, 3), np.float32), np.zeros((0, 4, 4, 3), np.uint8), [[1]]],
)
def test_bad_videos_are_refused(video):
    with pytest.raises(InputError):
        check_video(video)


def test_track_result_checks_shapes():
    with pytest.raises(InputError, match="visible"):
        TrackResult(np.zeros((3, 2, 2)), np.zeros((3, 3), bool), np.zeros((2, 3)))
    with pytest.raises(InputError, match="query frame"):
        TrackResult(np.zeros((3, 1, 2)), np.zeros((3, 1), bool), np.array([[3, 0, 0]]))


def test_mask_images_are_cut_at_half_and_01_masks_kept():
    from studio.queries import binary_mask

    soft = np.array([[0, 3, 127, 128, 255]], np.uint8)  # a feathered edge: the faint halo stays out
    assert binary_mask(soft).tolist() == [[False, False, False, True, True]]
    assert binary_mask(np.array([[0, 1, 1]], np.uint8)).tolist() == [[False, True, True]]
    assert binary_mask(np.array([[0, 30000, 40000]], np.uint16)).tolist() == [[False, False, True]]
    assert binary_mask(np.array([[True, False]])).tolist() == [[True, False]]


def test_status_never_rounds_a_hidden_frame_away():
    """The Track tab showed "visible 100% of the time" for 3 points over 87 frames with one hidden frame."""
    from studio.pipeline import TrackRun
    from studio.results import percent_text

    visible = np.ones((87, 3), bool)
    visible[71, 1] = False
    result = TrackResult(np.zeros((87, 3, 2), np.float32), visible, np.zeros((3, 3), np.float32), model="lk")
    assert "visible 99.6% of the time" in TrackRun(result, 1.0, []).summary()
    assert [percent_text(s) for s in (0.0, 0.0004, 0.004, 0.5, 0.996, 0.9999, 1.0)] == [
        "0%", "0.1%", "0.4%", "50%", "99.6%", "99.9%", "100%"]
