"""Bring-your-own-data in the app: the Track tab's point-file and HDF5 uploads, labels in the Render tab, and the
/track (points_file) and /annotate endpoints through gradio_client."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import handler_named

pytestmark = pytest.mark.filterwarnings("ignore:.*:Warning:gradio.queueing")

gr = pytest.importorskip("gradio")
pytest.importorskip("gradio_client")
from gradio_client import handle_file

from studio.benchmark.datasets import load_videos
from studio.io.trackfile import load_tracks
from studio.service import TrackingService
from studio.service.render_job import rerender
from studio.ui.app import build_demo
from test_app_api import PAN, app, client  # noqa: F401 (fixtures)
from test_h5log import H, STEPS, W, write_log
from test_named_points import coco_doc, labelme_doc, write


def test_track_tab_adds_named_points_from_a_file_and_tracks_with_names(tmp_path):
    service = TrackingService(output_root=tmp_path / "out")
    demo = build_demo(service)
    path = str(PAN)  # 36 frames, 480x272
    handler_named(demo, "on_video")(path, progress=None)
    lm = write(tmp_path, "lm.json", labelme_doc([("eye", (120.5, 80.5)), ("ear", (300.5, 150.5))], size=(272, 480)))
    points, image, summary = handler_named(demo, "on_point_file")(path, 4, [[0, 10.0, 10.0]], str(lm), "")
    assert points == [[0, 10.0, 10.0], [4, 120.0, 80.0, "eye"], [4, 300.0, 150.0, "ear"]]
    assert "3 points" in summary and "frame 4 (2)" in summary and image.shape == (272, 480, 3)
    rendered, _, files, status, latest, _ = handler_named(demo, "on_track")(path, points, "lk", 8, True,
                                                                            progress=None)
    saved = load_tracks(latest["tracks"])
    assert saved.names == ["", "eye", "ear"] and saved.tracks[4, 1].tolist() == [120, 80]
    csv = next(f for f in files if f.endswith(".csv"))
    assert open(csv).readline().strip() == "point,name,frame,x,y,visible"
    # The Render tab draws the names when asked (and the file's names travel into the options).
    plain = rerender(service, path, latest["tracks"], "points", {"tail": 0})
    labelled = rerender(service, path, latest["tracks"], "points", {"tail": 0, "labels": True})
    assert (labelled.frames != plain.frames).any()
    coco = write(tmp_path, "c.json", coco_doc([(None, [(50 + j, 60, 2) for j in range(17)])], size=(100, 100)))
    with pytest.raises(gr.Error, match="the image was 100x100, but the video's frames are 480x272"):
        handler_named(demo, "on_point_file")(path, 0, [], str(coco), "")
    with pytest.raises(gr.Error, match="upload a labelme or COCO keypoint .json first"):
        handler_named(demo, "on_point_file")(path, 0, [], None, "")


def test_track_tab_opens_a_camera_of_an_hdf5_log(tmp_path):
    from studio.synthetic import make_clip

    clips = [make_clip("translate", num_frames=STEPS, size=(H, W)), make_clip("rotate", num_frames=STEPS, size=(H, W))]
    log = write_log(tmp_path / "robot.h5", clips)
    service = TrackingService(output_root=tmp_path / "out")
    demo = build_demo(service)
    cameras = handler_named(demo, "on_h5_file")(str(log))
    assert cameras["choices"] == [("camera 0", 0), ("camera 1", 1)] and cameras["value"] == 0
    source, points, _, frame, info, *_ = handler_named(demo, "on_h5_load")(str(log), 1, progress=None)
    assert source.endswith("robot.h5::camera=1") and points == []
    np.testing.assert_array_equal(frame, clips[1].video[0])
    assert f"robot.h5 camera 1**: {STEPS} frames of {W}×{H} at 10 fps" in info
    _, _, _, _, latest, _ = handler_named(demo, "on_track")(source, [[0, 40.0, 30.0]], "lk", 8, progress=None)
    gt, gv = clips[1].ground_truth(np.array([[0, 40.0, 30.0]]))
    assert np.abs(load_tracks(latest["tracks"]).tracks - gt)[gv].max() < 1.0
    # The Render tab's "use latest" gets a playable mp4 of that camera.
    assert handler_named(demo, "use_latest_track")(latest)[0].endswith("robot_camera1.mp4")
    # Write the keypoints into a copy of the log; then camera 0 into the same copy.
    write_back = handler_named(demo, "on_h5_write")
    out, copy = write_back(latest, None)
    assert out.endswith("robot_keypoints.h5") and copy["log"] == str(log)
    source0, *_ = handler_named(demo, "on_h5_load")(str(log), 0, progress=None)
    _, _, _, _, latest0, _ = handler_named(demo, "on_track")(source0, [[0, 20.0, 20.0]], "lk", 8, progress=None)
    out2, copy2 = write_back(latest0, copy)
    assert out2 == out and copy2 == copy
    from studio.io.h5log import read_keypoints

    names, kps = read_keypoints(out)
    assert kps.shape == (STEPS, 2, 1, 3) and np.isfinite(kps).all() and names == ["point0"]
    np.testing.assert_array_equal(kps[:, 1, :, :2], load_tracks(latest["tracks"]).tracks)
    with pytest.raises(gr.Error, match="track a camera of an HDF5 log first"):
        write_back({"video": str(PAN), "tracks": latest["tracks"]}, None)
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF nonsense")
    with pytest.raises(gr.Error, match="bad.h5 is not a readable HDF5 file"):
        handler_named(demo, "on_h5_file")(str(bad))


def test_track_endpoint_with_a_points_file_and_the_annotate_endpoint(client, tmp_path):  # noqa: F811
    lm = write(tmp_path, "lm.json", labelme_doc([("eye", (120.5, 80.5))], size=(272, 480)))
    _, npz, _, status = client.predict(video=handle_file(str(PAN)), points_file=handle_file(str(lm)), grid_frame=2,
                                       labels=True, api_name="/track")
    saved = load_tracks(npz)
    assert saved.names == ["eye"] and saved.queries.tolist() == [[2, 120, 80]] and "lk: 1 points" in status

    keys = {"points": [{"name": "left_wrist", "keys": [[0, 100, 100], [20, 140, 110]], "hidden": [[8, 10]]},
                       {"name": "right_wrist", "keys": [[5, 300, 150]]}]}
    pkl, npz, status = client.predict(video=handle_file(str(PAN)), keyframes_json=json.dumps(keys),
                                      model="interpolate", video_name="pan", api_name="/annotate")
    video = load_videos(npz)[0]
    assert video.name == "pan" and video.names == ["left_wrist", "right_wrist"] and load_videos(pkl)[0].name == "pan"
    assert video.occluded[0, 8:11].all() and not video.occluded[1].any()
    # Straight line between the keyframes (0.6 of the way on frame 12), also through the hidden frames.
    np.testing.assert_allclose(video.points[0, 12] * np.array([480, 272]) - 0.5, [124, 106], atol=1e-3)
    np.testing.assert_allclose(video.points[0, 9] * np.array([480, 272]) - 0.5, [118, 104.5], atol=1e-3)
    assert "left_wrist — keyframes 0, 20; hidden 8–10" in status
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="'keys' must be"):
        client.predict(video=handle_file(str(PAN)), keyframes_json='{"points": [{"keys": [1, 2]}]}',
                       api_name="/annotate")
