"""HDF5 robot logs: cameras as videos, tracking a camera, keypoints written back into a copy."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

from studio.io.h5log import LogError, add_keypoints, read_keypoints, read_layout, read_log_video
from studio.io.sources import camera_source, read_source
from studio.io.trackfile import load_tracks, save_tracks
from studio.results import TrackResult
from studio.synthetic import make_clip
from test_cli import run

STEPS, H, W = 10, 72, 96


@pytest.fixture(scope="module")
def clips():
    return [make_clip("translate", num_frames=STEPS, size=(H, W)), make_clip("rotate", num_frames=STEPS, size=(H, W))]


def write_log(path, clips, fps=10.0, keypoints=None):
    with h5py.File(path, "w") as f:
        if fps is not None:
            f.attrs["fps"] = fps
        f.attrs["robot"] = "arm-7"
        for i in range(STEPS):
            g = f.create_group(f"step_{i}")
            images = np.stack([c.video[i] for c in clips])[None].transpose(0, 1, 4, 2, 3)  # [1, C, 3, H, W]
            g.create_dataset("obs/image", data=images, compression="gzip")
            g.create_dataset("obs/joints", data=np.arange(7, dtype=np.float32) + i)
            g.create_dataset("action", data=np.full(3, i, np.float64))
            g.attrs["time"] = 0.1 * i
            g["obs"].attrs["note"] = f"step {i}"
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def everything(path):
    """Every dataset's values and every attribute of a file, except obs/keypoints."""
    out = {}

    def visit(name, obj):
        if name.endswith("obs/keypoints"):
            return
        out[name + "@attrs"] = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[...].tobytes()

    with h5py.File(path, "r") as f:
        out["/@attrs"] = {k: np.asarray(v).tolist() for k, v in f.attrs.items()}
        f.visititems(visit)
    return out


@pytest.fixture
def log(tmp_path, clips):
    return write_log(tmp_path / "log.h5", clips)


def test_each_camera_is_a_video(log, clips):
    layout = read_layout(log)
    assert layout.num_steps == STEPS and layout.cameras == 2 and layout.size == (H, W) and layout.fps == 10.0
    for cam in (0, 1):
        video = read_log_video(log, cam)
        np.testing.assert_array_equal(video.frames, clips[cam].video)  # exact: no codec in between
        assert video.fps == 10.0 and video.notices == []
    short = read_source(camera_source(log, 1), max_frames=4, max_side=48)
    assert short.frames.shape == (4, 36, 48, 3) and short.source_size == (H, W)
    assert short.notices == [f"kept frames 0–3 of {STEPS}", f"resized {W}×{H} → 48×36"]
    with pytest.raises(LogError, match="has 2 cameras; choose one"):
        read_log_video(log)
    with pytest.raises(LogError, match="cameras 0..1; there is no camera 5"):
        read_log_video(log, 5)


def test_track_a_camera_add_keypoints_and_fill_another_camera(log, clips, tmp_path):
    before = digest(log)
    out = run("track", log, "--camera", 1, "--points", "0,30,20; 0,60,40; 0,20,50", "--out", tmp_path / "c1.npz")
    assert out.returncode == 0, out.stderr
    c1 = load_tracks(tmp_path / "c1.npz")
    gt, gv = clips[1].ground_truth(c1.queries)
    assert np.median(np.linalg.norm(c1.tracks - gt, axis=-1)[gv]) < 0.5  # camera 1's motion, not camera 0's
    c1.names = ["grip", "cup", "lid"]
    save_tracks(c1, tmp_path / "c1.npz")

    target = tmp_path / "out.h5"
    out = run("h5", "add-keypoints", log, tmp_path / "c1.npz", "--camera", 1, "--out", target)
    assert out.returncode == 0, out.stderr
    assert digest(log) == before  # the log itself is never written
    names, kps = read_keypoints(target)
    assert names == ["grip", "cup", "lid"] and kps.shape == (STEPS, 2, 3, 3) and kps.dtype == np.float32
    np.testing.assert_array_equal(kps[:, 1, :, :2], c1.tracks)
    np.testing.assert_array_equal(kps[:, 1, :, 2], c1.visible.astype(np.float32))
    assert np.isnan(kps[:, 0]).all()  # camera 0 not tracked yet
    with h5py.File(target) as f:
        ds = f["step_3/obs/keypoints"]
        assert ds.shape == (1, 2, 3, 3) and "pixel centre" in ds.attrs["layout"]
    assert everything(target) == everything(log)  # every other dataset and attribute kept as it was

    # Camera 0 with the same points: run again on the log with the same --out; camera 1 is kept.
    c0 = TrackResult(tracks=np.full((STEPS, 3, 2), 5.0), visible=np.ones((STEPS, 3), bool),
                     queries=np.zeros((3, 3)), size=(H, W), names=["grip", "cup", "lid"])
    save_tracks(c0, tmp_path / "c0.json")
    out = run("h5", "add-keypoints", log, tmp_path / "c0.json", "--camera", 0, "--out", target)
    assert out.returncode == 0, out.stderr
    assert "cameras with keypoints now: 0, 1" in out.stderr
    _, kps2 = read_keypoints(target)
    np.testing.assert_array_equal(kps2[:, 1], kps[:, 1])
    assert (kps2[:, 0, :, :2] == 5).all() and (kps2[:, 0, :, 2] == 1).all()
    assert digest(log) == before

    # Other points for a camera of the same file: refused, nothing written.
    other = TrackResult(tracks=np.zeros((STEPS, 2, 2)), visible=np.ones((STEPS, 2), bool), queries=np.zeros((2, 3)))
    stamp = digest(target)
    with pytest.raises(LogError, match="written for another number of points"):
        add_keypoints(log, other, 0, target)
    assert digest(target) == stamp and not (tmp_path / "out.h5.part").exists()


def test_clear_messages_for_other_layouts_and_bad_requests(tmp_path, log, clips):
    tracks = TrackResult(tracks=np.zeros((STEPS, 1, 2)), visible=np.ones((STEPS, 1), bool), queries=np.zeros((1, 3)))
    with pytest.raises(LogError, match="--out must be a new file"):
        add_keypoints(log, tracks, 0, log)
    short = TrackResult(tracks=np.zeros((4, 1, 2)), visible=np.ones((4, 1), bool), queries=np.zeros((1, 3)))
    with pytest.raises(LogError, match="the tracks cover 4 frames but log.h5 has 10 steps"):
        add_keypoints(log, short, 0, tmp_path / "o.h5")
    sized = TrackResult(tracks=np.zeros((STEPS, 1, 2)), visible=np.ones((STEPS, 1), bool), queries=np.zeros((1, 3)),
                        size=(10, 10))
    with pytest.raises(LogError, match="made on 10×10 frames but camera 0 of log.h5 is 96×72"):
        add_keypoints(log, sized, 0, tmp_path / "o.h5")

    with h5py.File(tmp_path / "flat.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(LogError, match=r"no step_<i> groups at its top level \(found: images\); expected groups "
                                       r"step_0, step_1, \.\.\. each holding obs/image uint8 \[1, cameras, 3, H, W\]"):
        read_layout(tmp_path / "flat.h5")
    with h5py.File(tmp_path / "hwc.h5", "w") as f:
        f.create_dataset("step_0/obs/image", data=np.zeros((1, 2, 8, 8, 3), np.uint8))
    with pytest.raises(LogError, match=r"step_0/obs/image is uint8 \[1, 2, 8, 8, 3\]; expected uint8 \[1, cameras, 3"):
        read_layout(tmp_path / "hwc.h5")
    with h5py.File(tmp_path / "float.h5", "w") as f:
        f.create_dataset("step_0/obs/image", data=np.zeros((1, 1, 3, 8, 8), np.float32))
    with pytest.raises(LogError, match="is float32"):
        read_layout(tmp_path / "float.h5")
    with h5py.File(tmp_path / "mixed.h5", "w") as f:
        f.create_dataset("step_0/obs/image", data=np.zeros((1, 1, 3, 8, 8), np.uint8))
        f.create_dataset("step_1/obs/image", data=np.zeros((1, 1, 3, 8, 9), np.uint8))
    with pytest.raises(LogError, match="step_1/obs/image is uint8 \\[1, 1, 3, 8, 9\\] but step_0's"):
        read_layout(tmp_path / "mixed.h5")
    with h5py.File(tmp_path / "gap.h5", "w") as f:
        f.create_dataset("step_0/obs/image", data=np.zeros((1, 1, 3, 8, 8), np.uint8))
        f.create_group("step_1/obs")
    with pytest.raises(LogError, match="step_1 has no obs/image dataset"):
        read_layout(tmp_path / "gap.h5")
    # A link to another file would read that file: refused.
    with h5py.File(tmp_path / "linked.h5", "w") as f:
        f["step_0"] = h5py.ExternalLink(str(log), "step_0")
    with pytest.raises(LogError, match="step_0 is a link \\(ExternalLink\\)"):
        read_layout(tmp_path / "linked.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(LogError, match="text.h5 is not a readable HDF5 file"):
        read_layout(tmp_path / "text.h5")
    out = run("track", tmp_path / "flat.h5", "--grid", 2)
    assert out.returncode == 2 and "error: flat.h5 has no step_<i> groups" in out.stderr


def test_export_videos_and_a_log_without_a_frame_rate(tmp_path, clips):
    from studio.io.video import read_video

    log = write_log(tmp_path / "nofps.h5", clips, fps=None)
    assert "assumed 25 fps" in read_log_video(log, 0).notices[0]
    out = run("h5", "export-videos", log, "--out", tmp_path / "videos")
    assert out.returncode == 0, out.stderr
    for cam in (0, 1):
        video = read_video(tmp_path / "videos" / f"nofps_camera{cam}.mp4")
        assert video.frames.shape == (STEPS, H, W, 3)
        # H.264 (and a random occluder texture), but clearly this camera's pictures and not the other's.
        own = np.abs(video.frames.astype(int) - clips[cam].video).mean()
        other = np.abs(video.frames.astype(int) - clips[1 - cam].video).mean()
        assert own < 10 and own < other / 2
    out = run("h5", "info", log)
    assert out.returncode == 0 and f"nofps.h5: {STEPS} steps, 2 camera(s) of {W}x{H}, no frame rate" in out.stdout


def test_the_app_tracks_a_log_camera(tmp_path, log, clips):
    from studio.service import TrackingService

    service = TrackingService(output_root=tmp_path / "out")
    source = camera_source(log, 0)
    np.testing.assert_array_equal(service.load_video(source).frames, clips[0].video)
    out = service.track(source, np.array([[0, 40, 30]], np.float32), model="lk")
    gt, gv = clips[0].ground_truth(out.result.queries)
    assert np.abs(out.result.tracks - gt)[gv].max() < 1.0
    assert out.files["npz"].name == "log_tracks.npz" or out.files["npz"].suffix == ".npz"
    playable = service.playable(source)
    assert playable.endswith(".mp4") and service.playable(source) == playable
