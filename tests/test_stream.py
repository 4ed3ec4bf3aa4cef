"""Streaming a video file frame by frame (``studio.online.stream``, ``track --stream``): the whole
video is tracked, drawn and written with only a few frames in memory, and gives what the
whole-clip run gives."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import visible_grid
from test_cli import run

from studio.io.trackfile import load_tracks
from studio.io.video import VideoFrames, VideoWriter, read_video, write_video
from studio.online import open_online
from studio.online import stream as stream_module
from studio.online.stream import stream_track
from studio.pipeline import track_video
from studio.results import InputError
from studio.synthetic import accuracy_summary, make_clip


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    clip = make_clip("mixed", num_frames=30, size=(120, 160))
    path = tmp_path_factory.mktemp("stream") / "clip.mp4"
    write_video(path, clip.video, 15.0, crf=10)
    return clip, path


@pytest.fixture
def pending_counter(monkeypatch):
    """Records how many frames the streaming painter holds at most."""
    most = [0]
    real_draw = stream_module._Painter._draw

    def draw(self, settled):
        most[0] = max(most[0], len(self.pending))
        real_draw(self, settled)

    monkeypatch.setattr(stream_module._Painter, "_draw", draw)
    return most


def test_frames_come_one_at_a_time_as_read_video_gives_them(clip_file):
    _, path = clip_file
    source = VideoFrames(path, max_side=80)
    assert source.fps == 15.0 and source.expected == 30
    frames = list(source)
    whole = read_video(path, max_side=80)
    assert np.array_equal(np.stack(frames), whole.frames) and source.notices == whole.notices
    assert source.size == (60, 80) and source.source_size == (120, 160) and source.count == 30
    with pytest.raises(RuntimeError, match="once"):
        next(iter(source))


def test_writer_refuses_a_frame_of_another_size_and_leaves_no_file(tmp_path):
    path = tmp_path / "w.mp4"
    with pytest.raises(InputError, match=r"\[20, 30, 3\]"):
        with VideoWriter(path, 10) as out:
            out.write(np.zeros((20, 30, 3), np.uint8))
            out.write(np.zeros((20, 31, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
    with VideoWriter(path, 10) as out:
        for i in range(3):
            out.write(np.full((21, 31, 3), 40 * i, np.uint8))  # odd sizes are padded, as write_video does
    assert read_video(path).frames.shape == (3, 22, 32, 3)


def test_lk_stream_equals_the_whole_clip_run_and_is_close_to_the_truth(clip_file, tmp_path, pending_counter):
    clip, path = clip_file
    q0 = visible_grid(clip, 6, 0)
    q = np.concatenate([q0, visible_grid(clip, 4, 10)])
    n0 = len(q0)
    run_ = stream_track(path, "lk", points=q, render=tmp_path / "s.mp4", tail=4)
    whole = track_video(read_video(path), q, "lk")
    r, w = run_.result, whole.result
    assert r.tracks.shape == (30, len(q), 2) and r.size == (120, 160) and r.fps == 15.0 and r.model == "lk"
    after = np.arange(30)[:, None] >= q[None, :, 0]
    assert np.array_equal(r.tracks[after], w.tracks[after]) and np.array_equal(r.visible[after], w.visible[after])
    assert not r.visible[~after].any()  # a stream cannot look back before a query's frame
    gt, gv = clip.ground_truth(q)
    s = accuracy_summary(r.tracks[:, :n0], r.visible[:, :n0], gt[:, :n0], gv[:, :n0], q0)
    assert s["median_px"] < 1.0 and s["within_4px"] > 0.9, s
    # Each frame was drawn and written as soon as LK had it: never more than one frame held.
    assert pending_counter[0] == 1
    drawn = read_video(tmp_path / "s.mp4")
    assert drawn.frames.shape == (30, 120, 160, 3)
    # The drawing is the whole-clip drawing (same tracks, same tails), written by the same encoder.
    from studio.pipeline import render_tracks

    write_video(tmp_path / "ref.mp4", render_tracks(read_video(path), r, tail=4), 15.0)
    assert np.array_equal(drawn.frames, read_video(tmp_path / "ref.mp4").frames)


def test_windowed_model_holds_at_most_a_window_of_frames(clip_file, tmp_path, pending_counter):
    from test_cotracker import small_tracker

    from studio.online import OnlineTracker

    _, path = clip_file
    model = small_tracker("cotracker3_online", backward_tracking=False)
    tracker = OnlineTracker("cotracker3_online", model)
    q = np.array([[0, 20.0, 30.0], [5, 100.0, 60.0]], np.float32)
    r = stream_track(path, points=q, render=tmp_path / "c.mp4", tracker=tracker, max_side=80).result
    assert 8 <= pending_counter[0] <= 16  # a window of 16 frames settles 8 at a time
    assert r.tracks.shape == (30, 2, 2) and r.size == (120, 160)
    assert read_video(tmp_path / "c.mp4").frames.shape == (30, 60, 80, 3)
    # Tracks come back in source pixels: the query frames hold the queries exactly.
    assert np.allclose(r.tracks[[0, 5], [0, 1]], q[:, 1:], atol=1e-4)


def test_queries_past_the_end_are_refused_before_tracking(clip_file):
    _, path = clip_file
    with pytest.raises(InputError, match="frames 0..29"):
        stream_track(path, "lk", points=np.array([[30, 10.0, 10.0]], np.float32))
    with pytest.raises(InputError, match="either"):
        stream_track(path, "lk")


def test_cli_streams_and_offline_models_say_they_need_max_frames(clip_file, tmp_path):
    _, path = clip_file
    out = run("track", path, "--grid", 4, "--stream", "--out", tmp_path / "t.npz", "--video", tmp_path / "t.mp4",
              "--max-side", 80)
    assert out.returncode == 0, out.stderr
    assert "lk: 16 points x 30 frames" in out.stdout and "streamed" in out.stderr
    r = load_tracks(tmp_path / "t.npz")
    assert r.size == (120, 160) and r.tracks.shape == (30, 16, 2)
    assert read_video(tmp_path / "t.mp4").frames.shape == (30, 60, 80, 3)
    out = run("track", path, "--grid", 4, "--stream", "--model", "cotracker3_offline")
    assert out.returncode == 2 and "--max-frames" in out.stderr and "lk" in out.stderr
    assert "Traceback" not in out.stderr


def test_track_tab_says_online_models_track_a_long_video_whole(tmp_path):
    from test_app_service import ORBIT

    from studio.service import Limits, TrackingService
    from studio.ui.tab_track import _video_facts

    short = _video_facts(TrackingService(limits=Limits(max_frames=300), output_root=tmp_path), str(ORBIT))
    long = _video_facts(TrackingService(limits=Limits(max_frames=12), output_root=tmp_path), str(ORBIT))
    assert "online model" not in short
    assert "Longer than 12 frames: an online model (lk, " in long and "first 12 frames" in long
