"""Named query points from labelme and COCO keypoint files, names in track files, labels and skeletons in renders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio.io.coco_keypoints import read_coco_keypoints
from studio.io.labelme import read_labelme_points
from studio.io.named_points import detect_kind, named_queries
from studio.io.trackfile import load_tracks, save_tracks
from studio.pose import COCO_KEYPOINTS, pose_limbs
from studio.render import RenderOptions, render
from studio.render.annotations import draw_skeleton
from studio.render.points import draw_points
from studio.results import InputError, TrackResult
from studio.synthetic import make_clip
from test_cli import run


def labelme_doc(points, size=(120, 160), extra=()):
    return {
        "version": "5.4.1",
        "flags": {},
        "shapes": [{"label": n, "points": [[x, y]], "shape_type": "point", "group_id": None, "flags": {}}
                   for n, (x, y) in points] + list(extra),
        "imagePath": "frame.png",
        "imageData": None,
        "imageHeight": size[0],
        "imageWidth": size[1],
    }


def coco_doc(people, size=(120, 160), names=COCO_KEYPOINTS, image_id=7):
    """``people``: list of (track_id or None, [(x, y, v), ...])."""
    anns = []
    for k, (tid, kps) in enumerate(people):
        ann = {"id": k + 1, "image_id": image_id, "category_id": 1, "keypoints": [v for kp in kps for v in kp],
               "num_keypoints": sum(1 for kp in kps if kp[2] > 0)}
        if tid is not None:
            ann["track_id"] = tid
        anns.append(ann)
    return {
        "images": [{"id": image_id, "file_name": "000000.jpg", "height": size[0], "width": size[1]}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "person", "keypoints": list(names), "skeleton": []}],
    }


def write(tmp_path, name, doc):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


# ----------------------------------------------------------------------------- pixel conventions


def test_labelme_corner_pixels_become_our_centres_as_labelme_draws_them(tmp_path):
    """labelme's canvas puts the image's top-left *corner* at (0, 0); its own mask code draws a point with PIL,
    whose coordinates are corners too. A point drawn there lies around numpy pixel (x - 0.5, y - 0.5), which is
    where we read it."""
    x, y = 57.5, 33.5  # a click in the middle of pixel column 57, row 33
    path = write(tmp_path, "lm.json", labelme_doc([("tip", (x, y))]))
    names, xy, notices = read_labelme_points(path)
    assert names == ["tip"] and notices == []
    np.testing.assert_array_equal(xy, [[57.0, 33.0]])
    # Independent check: PIL's ellipse around (x, y) (as labelme's shape_to_mask does for points) covers pixels
    # whose centre of mass, in numpy indices (= our pixel centres), is the converted point.
    image = Image.new("L", (160, 120))
    r = 4
    ImageDraw.Draw(image).ellipse([x - r, y - r, x + r, y + r], fill=255)
    mask = np.asarray(image) > 0
    rows, cols = np.nonzero(mask)
    assert abs(cols.mean() - xy[0, 0]) < 0.05 and abs(rows.mean() - xy[0, 1]) < 0.05
    # The image spans [0, W] x [0, H] in labelme: its corners are our -0.5 and W - 0.5.
    corners = write(tmp_path, "c.json", labelme_doc([("a", (0, 0)), ("b", (160, 120))]))
    np.testing.assert_array_equal(read_labelme_points(corners)[1], [[-0.5, -0.5], [159.5, 119.5]])


def test_coco_keypoints_are_pixel_indices_like_ours(tmp_path):
    kps = [(0, 0, 0)] * 17
    kps[0] = (40, 30, 2)  # nose at pixel column 40, row 30
    kps[5] = (159, 119, 1)  # the bottom-right pixel, labelled but hidden
    names, xy, notices = read_coco_keypoints(write(tmp_path, "c.json", coco_doc([(None, kps)])))
    assert names == ["nose", "left_shoulder"]
    np.testing.assert_array_equal(xy, [[40, 30], [159, 119]])
    assert any("15 unlabelled" in n for n in notices) and any("labelled but hidden" in n for n in notices)


def test_labelme_point_tracks_from_the_pixel_the_user_clicked(tmp_path):
    """End to end: a labelme click on a pixel of frame 5 of a clip with exact ground truth is tracked from the
    centre of that pixel, and the tracks follow the truth."""
    clip = make_clip("translate", num_frames=12, size=(120, 160))
    px = np.array([[60.0, 40.0], [100.0, 80.0]])
    doc = labelme_doc([("left", tuple(px[0] + 0.5)), ("right", tuple(px[1] + 0.5))])
    names, q, _ = named_queries(write(tmp_path, "lm.json", doc), 5, clip.size, 12)
    np.testing.assert_array_equal(q, [[5, 60, 40], [5, 100, 80]])
    from studio.pipeline import track_video
    from studio.io.video import Video

    video = Video(frames=clip.video, fps=clip.fps, source_size=clip.size)
    result = track_video(video, q, "lk", names=names).result
    assert result.names == ["left", "right"]
    gt, gv = clip.ground_truth(q)
    err = np.linalg.norm(result.tracks - gt, axis=-1)[gv]
    assert np.median(err) < 0.5


# ----------------------------------------------------------------------------- COCO details


def test_coco_several_people_images_and_bad_files(tmp_path):
    a = [(10 + j, 20, 2) for j in range(17)]
    b = [(50 + j, 60, 2 if j % 2 else 0) for j in range(17)]
    path = write(tmp_path, "two.json", coco_doc([(3, a), (8, b)]))
    names, xy, _ = read_coco_keypoints(path, frame_size=(120, 160), image="000000.jpg")
    assert names[:2] == ["person3/nose", "person3/left_eye"] and names[17] == "person8/left_eye"
    assert len(names) == 17 + 8 and xy.shape == (25, 2)
    assert pose_limbs(names).shape[0] > 10
    with pytest.raises(InputError, match="no image with id or file name 'x.jpg'"):
        read_coco_keypoints(path, image="x.jpg")
    with pytest.raises(InputError, match="the image was 160x120, but the video's frames are 100x100"):
        read_coco_keypoints(path, frame_size=(100, 100))
    off = write(tmp_path, "off.json", coco_doc([(None, [(200, 20, 2)] + [(0, 0, 0)] * 16)]))
    with pytest.raises(InputError, match="'nose' at \\(200, 20\\) lies outside the 160x120 image"):
        read_coco_keypoints(off)
    bad = coco_doc([(None, a)])
    bad["annotations"][0]["keypoints"][2] = 5
    with pytest.raises(InputError, match="visibility 5"):
        read_coco_keypoints(write(tmp_path, "bad.json", bad))
    (tmp_path / "junk.json").write_text("[1, 2")
    with pytest.raises(InputError, match="not a JSON file"):
        read_coco_keypoints(tmp_path / "junk.json")
    with pytest.raises(InputError, match="neither a labelme file"):
        detect_kind(write(tmp_path, "other.json", {"hello": 1}))


# ----------------------------------------------------------------------------- names in track files


@pytest.mark.parametrize("fmt", ["npz", "csv", "json"])
def test_names_travel_with_the_tracks(tmp_path, fmt):
    rng = np.random.default_rng(0)
    result = TrackResult(tracks=rng.uniform(0, 50, (4, 3, 2)), visible=np.ones((4, 3), bool),
                         queries=np.array([[0, 1, 2], [0, 3, 4], [0, 5, 6]], np.float32),
                         size=(60, 80), names=["nose", "left wrist", "a,b \"quoted\""])
    path = save_tracks(result, tmp_path / f"t.{fmt}")
    back = load_tracks(path)
    assert back.names == result.names
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as z:  # plain strings: no pickle needed
            assert z["names"].dtype.kind == "U" and z["names"].tolist() == result.names
    if fmt == "csv":
        assert path.read_text().splitlines()[0] == "point,name,frame,x,y,visible"
    if fmt == "json":
        assert json.loads(path.read_text())["names"] == result.names
    # Unnamed tracks stay as before: no names field, no name column.
    plain = save_tracks(TrackResult(result.tracks, result.visible, result.queries), tmp_path / f"p.{fmt}")
    assert load_tracks(plain).names is None
    if fmt == "csv":
        assert plain.read_text().startswith("point,frame,")


def test_bad_names_in_track_files_are_refused(tmp_path):
    np.savez(tmp_path / "n.npz", tracks=np.zeros((2, 2, 2)), visible=np.ones((2, 2), bool),
             queries=np.zeros((2, 3)), names=np.array(["a"]))
    with pytest.raises(InputError, match="one name per point \\(2\\), got 1"):
        load_tracks(tmp_path / "n.npz")
    (tmp_path / "n.csv").write_text("point,name,frame,x,y,visible\n0,a,0,1,1,1\n0,b,1,1,1,1\n")
    with pytest.raises(InputError, match="point 0 has two names"):
        load_tracks(tmp_path / "n.csv")


# ----------------------------------------------------------------------------- renders


def test_skeleton_limb_only_while_both_ends_visible():
    video = np.zeros((2, 60, 80, 3), np.uint8)
    names = ["left_shoulder", "left_elbow", "nose"]
    tracks = np.array([[[10, 30], [70, 30], [40, 5]]] * 2, np.float32)
    visible = np.array([[True, True, True], [True, False, True]])
    out = draw_skeleton(video, tracks, visible, names)
    mid = out[:, 30, 25:55]  # halfway along the shoulder-elbow limb, away from the points
    assert (mid[0] > 0).any() and not (mid[1] > 0).any()
    # Left limbs are orange: red > blue.
    assert mid[0, :, 0].max() > mid[0, :, 2].max()
    # A name that is not a COCO keypoint forms no limb; unnamed tracks draw no skeleton.
    assert draw_skeleton(video, tracks, visible, ["a", "b", "c"]) is video


def test_labels_are_written_beside_visible_points_in_points_and_overlay_modes():
    video = np.full((3, 80, 120, 3), 30, np.uint8)
    tracks = np.array([[[20, 40], [90, 40]]] * 3, np.float32)
    visible = np.array([[True, True], [True, False], [True, True]])
    base = render(video, tracks, visible, "points", RenderOptions(tail=0, radius=3))
    for mode in ("points", "overlay"):
        opts = RenderOptions(tail=0, radius=3, names=("a", "bb"), labels=True)
        out = render(video, tracks, visible, mode, opts)
        right = (np.abs(out[:, 20:40, 94:120].astype(int) - 30).sum(axis=-1) > 40).sum(axis=(1, 2))
        assert right[0] > 10 and right[1] == 0 and right[2] > 10  # no label while the point is hidden
    assert (render(video, tracks, visible, "points", RenderOptions(tail=0, radius=3, names=("a", "bb")))
            == base).all()  # names alone write nothing
    with_labels = draw_points(video, tracks, visible, tail=0, radius=3, names=["a", "bb"], labels=True)
    assert (with_labels != draw_points(video, tracks, visible, tail=0, radius=3)).any()


# ----------------------------------------------------------------------------- command line


def test_track_cli_with_labelme_and_coco_files(tmp_path):
    clip = make_clip("translate", num_frames=10, size=(120, 160))
    from studio.io.video import write_video

    video = write_video(tmp_path / "clip.mp4", clip.video, 10.0)
    lm = write(tmp_path, "lm.json", labelme_doc([("eye", (60.5, 40.5)), ("hand", (100.5, 70.5))], extra=[
        {"label": "box", "points": [[1, 1], [9, 9]], "shape_type": "rectangle"}]))
    out = run("track", video, "--labelme", lm, "--frame", 3, "--out", tmp_path / "t.csv", "--video",
              tmp_path / "t.mp4", "--labels")
    assert out.returncode == 0, out.stderr
    assert "ignored shapes that are not points (1 rectangle)" in out.stderr
    r = load_tracks(tmp_path / "t.csv")
    assert r.names == ["eye", "hand"] and r.tracks[3].tolist() == [[60, 40], [100, 70]]
    kps = [(70 + 2 * j, 50 + j, 2) for j in range(17)]
    coco = write(tmp_path, "c.json", coco_doc([(None, kps)]))
    out = run("track", video, "--coco", coco, "--out", tmp_path / "c.npz", "--video", tmp_path / "c.mp4")
    assert out.returncode == 0, out.stderr
    r = load_tracks(tmp_path / "c.npz")
    assert r.names == list(COCO_KEYPOINTS) and r.tracks[0, 0].tolist() == [70, 50]
    out = run("track", video, "--coco", lm, "--out", tmp_path / "x.npz")
    assert out.returncode == 2 and "no 'annotations' list" in out.stderr
    out = run("track", video, "--labelme", lm, "--frame", 99, "--out", tmp_path / "x.npz")
    assert out.returncode == 2 and "frame 99 is outside the video's frames 0..9" in out.stderr
