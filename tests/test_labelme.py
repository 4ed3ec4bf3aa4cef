"""labelme point files: names, labelme's corner-origin pixels -> the studio's centre-origin pixels, bad files."""

import json

import numpy as np
import pytest

from studio.io.labelme import read_labelme_points
from studio.results import InputError, check_queries


def labelme_file(path, shapes, height=48, width=64, **extra):
    doc = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": "frame.png", "imageData": None,
           "imageHeight": height, "imageWidth": width, **extra}
    path.write_text(json.dumps(doc))
    return path


def point(label, x, y):
    return {"label": label, "points": [[x, y]], "group_id": None, "description": "", "shape_type": "point",
            "flags": {}}


def test_a_click_on_a_pixel_centre_lands_on_that_pixel_and_the_image_edges_on_the_frame_edges(tmp_path):
    # labelme paints pixel column i over [i, i+1): its centre is i + 0.5 there and i in the studio.
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[21, 37] = 255  # one bright pixel: column 37, row 21
    f = labelme_file(tmp_path / "a.json", [point("bright", 37.5, 21.5), point("top_left", 0, 0),
                                            point("bottom_right", 64, 48)])
    names, xy, notices = read_labelme_points(f, frame_size=(48, 64))
    assert names == ["bright", "top_left", "bottom_right"] and notices == []
    assert xy.dtype == np.float32 and xy.shape == (3, 2)
    col, row = np.rint(xy[0]).astype(int)
    assert frame[row, col].max() == 255 and np.array_equal(xy[0], [37.0, 21.0])
    # The image's corners are the frame's corners, [-0.5, W-0.5] x [-0.5, H-0.5]: valid queries, no more.
    assert np.array_equal(xy[1:], [[-0.5, -0.5], [63.5, 47.5]])
    queries = np.concatenate([np.zeros((3, 1), np.float32), xy], axis=1)
    check_queries(queries, (1, 48, 64))
    with pytest.raises(InputError):
        check_queries(queries + [0, 0.01, 0], (1, 48, 64))


def test_other_shapes_unnamed_and_repeated_points_give_notices(tmp_path):
    shapes = [
        point("nose", 10, 12),
        {"label": "body", "points": [[1, 1], [9, 1], [9, 9]], "shape_type": "polygon"},
        {"label": "box", "points": [[1, 1], [9, 9]], "shape_type": "rectangle"},
        {"label": "old", "points": [[1, 1], [5, 5], [1, 5]]},  # no shape_type: labelme reads a polygon
        point("", 20, 22),
        point("nose", 30, 32),
    ]
    names, xy, notices = read_labelme_points(labelme_file(tmp_path / "b.json", shapes))
    assert names == ["nose", "point1", "nose"]
    assert np.array_equal(xy, np.array([[9.5, 11.5], [19.5, 21.5], [29.5, 31.5]], np.float32))
    text = " | ".join(notices)
    assert "2 polygon" in text and "1 rectangle" in text
    assert "without a label" in text and "more than one point: nose" in text


def test_a_file_without_image_size_is_read_and_a_size_mismatch_is_refused(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"shapes": [point("a", 5, 6)]}))
    names, xy, _ = read_labelme_points(f, frame_size=(10, 10))
    assert names == ["a"] and np.array_equal(xy, [[4.5, 5.5]])
    g = labelme_file(tmp_path / "d.json", [point("a", 5, 6)], height=480, width=640)
    with pytest.raises(InputError, match=r"640x480 image, but the video's frames are 320x240"):
        read_labelme_points(g, frame_size=(240, 320))


@pytest.mark.parametrize("content, message", [
    ("not json {", "is not a JSON file"),
    ("[1, 2]", "not an object"),
    ('{"version": "5"}', "no 'shapes' list"),
    ('{"shapes": []}', "no point shapes"),
    ('{"shapes": [{"label": "a", "points": [[1, 2]], "shape_type": "circle"}]}', "holds 1 circle"),
    ('{"shapes": [{"label": "a", "points": [[1, 2], [3, 4]], "shape_type": "point"}]}', "one \\[x, y\\] pair"),
    ('{"shapes": [{"label": "a", "points": [["1", 2]], "shape_type": "point"}]}', "one \\[x, y\\] pair"),
    ('{"shapes": [{"label": "a", "points": [[NaN, 2]], "shape_type": "point"}]}', "non-finite"),
    ('{"shapes": [{"label": "a", "points": [[70, 2]], "shape_type": "point"}], "imageHeight": 48, '
     '"imageWidth": 64}', "'a' at \\(70, 2\\) lies outside the 64x48 image"),
    ('{"shapes": [], "imageHeight": "48", "imageWidth": 64}', "positive integers"),
    ('{"shapes": ["x"]}', "shape 0 is not an object"),
])
def test_bad_files_are_refused_with_a_sentence(tmp_path, content, message):
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(InputError, match=message):
        read_labelme_points(f)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="'gone.json' does not exist"):
        read_labelme_points(tmp_path / "gone.json")
