"""Streaming a video file frame by frame (``studio.online.stream``, ``track --stream``): the whole
video is tracked, drawn and written with only a few frames in memory, and gives what the
whole-clip run gives."""

from __future__ import annotations

from array import array

import numpy as np
import pytest
from conftest import visible_grid
from test_cli import run

from studio.io.trackfile import load_tracks
from studio.io.video import VideoFrames, VideoWriter, read_video, write_video
from studio.io.video.backward import frames_backward
from studio.online import open_online
from studio.online import stream as stream_module
from studio.online.stream import stream_track
from studio.registry import create_tracker
from studio.results import InputError
from studio.synthetic import accuracy_summary, make_clip

# The CoTracker test runs a network: one torch thread, which is faster on this shared 2-core machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


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
    q = np.concatenate([q0, visible_grid(clip, 4, 10), visible_grid(clip, 3, 22)])
    said = []
    run_ = stream_track(path, "lk", points=q, render=tmp_path / "s.mp4", tail=4, chunk=7,
                        progress=lambda f, d: said.append((f, d)))
    w = create_tracker("lk").track(read_video(path).frames, q)
    r = run_.result
    assert r.tracks.shape == (30, len(q), 2) and r.size == (120, 160) and r.fps == 15.0 and r.model == "lk"
    # Forwards from each query frame and, before it, backwards: what the whole-clip run gives.
    assert np.abs(r.tracks - w.tracks).max() <= 1e-4 and np.array_equal(r.visible, w.visible)
    gt, gv = clip.ground_truth(q)
    s = accuracy_summary(r.tracks, r.visible, gt, gv, q)
    assert s["median_px"] < 1.0 and s["within_4px"] > 0.9, s
    before = np.arange(30)[:, None] < q[None, :, 0]
    assert before.any(axis=0).sum() == len(q) - len(q0)  # the points queried on frames 10 and 22
    # Frames before a query's frame are filled now: near the truth and visible where it says so.
    err = np.linalg.norm(r.tracks - gt, axis=-1)[before & gv]
    assert np.median(err) < 1.0 and (r.visible[before] == gv[before]).mean() > 0.9
    assert r.visible[before].sum() > 0.9 * gv[before].sum()
    # Progress covers the three passes in order and ends at 1.
    fractions = [f for f, _ in said]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(d == "tracking frame 30/30" for _, d in said) and any(d == "tracking backwards, frame 23/23" for _, d in said)
    assert said[-1][1] == "drawing frame 30/30"
    # Drawn in the third pass, frame by frame as it was decoded again: never more than one frame held.
    assert pending_counter[0] == 1
    drawn = read_video(tmp_path / "s.mp4")
    assert drawn.frames.shape == (30, 120, 160, 3)
    # The drawing is the whole-clip drawing (same tracks, same tails), written by the same encoder.
    from studio.pipeline import render_tracks

    write_video(tmp_path / "ref.mp4", render_tracks(read_video(path), r, tail=4), 15.0)
    assert np.array_equal(drawn.frames, read_video(tmp_path / "ref.mp4").frames)


def test_queries_on_frame_0_take_one_pass(clip_file, tmp_path, pending_counter, monkeypatch):
    clip, path = clip_file
    q = visible_grid(clip, 4, 0)
    monkeypatch.setattr(stream_module, "frames_backward", None)  # never called
    said = []
    r = stream_track(path, "lk", points=q, render=tmp_path / "one.mp4", progress=lambda f, d: said.append(d)).result
    assert len(said) == 30 and all(d.startswith("tracking frame") for d in said)
    assert pending_counter[0] == 1 and read_video(tmp_path / "one.mp4").frames.shape == (30, 120, 160, 3)
    w = create_tracker("lk").track(read_video(path).frames, q)
    assert np.array_equal(r.tracks, w.tracks) and np.array_equal(r.visible, w.visible)


def _long_gop_clip(path, video, gop: int) -> None:
    """H.264 with a key frame every ``gop`` frames and B-frames (PyAV directly: the writer picks its own)."""
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=15)
        s.width, s.height, s.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
        s.options = {"g": str(gop), "keyint_min": str(gop), "bf": "2", "sc_threshold": "0"}
        for image in video:
            for packet in s.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)


@pytest.mark.parametrize("gop", [None, 12])
def test_chunked_reverse_decode_gives_exactly_the_frames_reversed(clip_file, tmp_path, gop):
    clip, path = clip_file
    if gop is not None:
        path = tmp_path / "gop.mp4"
        _long_gop_clip(path, clip.video, gop)
    source = VideoFrames(path, max_side=80)
    forwards = list(source)
    assert len(forwards) == 30
    if gop is not None:
        assert list(source.key_frames) == [0, 12, 24]  # key frames further apart than the chunks
    for chunk, stop in [(1, 30), (5, 30), (7, 23), (64, 17)]:
        backwards = list(frames_backward(source, stop, chunk))
        assert len(backwards) == stop
        assert all(np.array_equal(a, b) for a, b in zip(backwards, forwards[:stop][::-1])), (chunk, stop)


def _damaged_mp4(tmp_path) -> str:
    """An H.264 MP4 with 300 random bytes in the middle of its data: some packets do not decode."""
    from test_video import encode, pattern

    path = encode(tmp_path / "whole.mp4", pattern(40), container_options={"movflags": "+faststart"})
    data = bytearray(open(path, "rb").read())
    start = data.find(b"mdat")
    middle = start + (len(data) - start) // 2
    data[middle : middle + 300] = np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8).tobytes()
    (tmp_path / "bad.mp4").write_bytes(bytes(data))
    return str(tmp_path / "bad.mp4")


@pytest.mark.parametrize("kind", ["damaged", "rotated", "gif", "webm"])
def test_reverse_decode_keeps_rotation_resizing_and_skipped_frames(tmp_path, kind):
    from test_video import _gif_frames, encode, pattern

    if kind == "damaged":
        path = _damaged_mp4(tmp_path)
    elif kind == "rotated":
        path = encode(tmp_path / "r.mp4", pattern(20), rotation_ccw=90)
    elif kind == "gif":
        path = encode(tmp_path / "a.gif", _gif_frames(20), fps=10, codec="gif", pix_fmt="rgb8")
    else:
        path = encode(tmp_path / "v.webm", pattern(20), codec="libvpx-vp9")
    source = VideoFrames(path, max_side=48)
    forwards = list(source)
    assert any("resized" in n for n in source.notices)
    if kind == "damaged":
        assert 20 < len(forwards) < 40 and any("damaged packet" in n for n in source.notices)
    if kind == "rotated":
        assert any("rotated" in n for n in source.notices)
    backwards = list(frames_backward(source, len(forwards), 6))
    assert len(backwards) == len(forwards)
    assert all(np.array_equal(a, b) for a, b in zip(backwards, forwards[::-1]))


def test_reverse_decode_without_usable_timestamps_counts_from_the_start(clip_file):
    _, path = clip_file
    source = VideoFrames(path, max_side=80)
    forwards = list(source)
    source.frame_pts[:] = array("q", [7] * len(forwards))  # no frame can be told apart by its pts
    backwards = list(frames_backward(source, 20, 6))
    assert all(np.array_equal(a, b) for a, b in zip(backwards, forwards[:20][::-1]))


def test_windowed_model_holds_at_most_a_window_of_frames(clip_file, tmp_path, pending_counter):
    from test_cotracker import small_tracker

    from studio.online import OnlineTracker

    _, path = clip_file
    model = small_tracker("cotracker3_online", backward_tracking=False)
    tracker = OnlineTracker("cotracker3_online", model)
    q = np.array([[0, 20.0, 30.0], [0, 100.0, 60.0]], np.float32)
    r = stream_track(path, points=q, render=tmp_path / "c.mp4", tracker=tracker, max_side=80).result
    assert 8 <= pending_counter[0] <= 16  # a window of 16 frames settles 8 at a time
    assert r.tracks.shape == (30, 2, 2) and r.size == (120, 160)
    assert read_video(tmp_path / "c.mp4").frames.shape == (30, 60, 80, 3)
    # A point queried on frame 5: the backward pass (the same causal model over frames 5..0) fills
    # frames 0-4; tracks come back in source pixels, the query frames hold the queries exactly.
    q[1, 0] = 5
    r = stream_track(path, points=q, tracker=tracker, max_side=40, max_frames=6).result
    assert r.tracks.shape == (6, 2, 2)
    assert np.allclose(r.tracks[[0, 5], [0, 1]], q[:, 1:], atol=1e-4)
    assert not np.allclose(r.tracks[:5, 1], q[1, 1:], atol=0.5)  # no longer parked at the query


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
    assert "backwards" not in out.stderr
    out = run("track", path, "--points", "0,40,60; 12,100,60", "--stream", "--out", tmp_path / "b.npz",
              "--video", tmp_path / "b.mp4")
    assert out.returncode == 0, out.stderr
    assert "tracked backwards to frame 0" in out.stderr and "again to draw it" in out.stderr
    b = load_tracks(tmp_path / "b.npz")
    assert b.tracks.shape == (30, 2, 2) and read_video(tmp_path / "b.mp4").frames.shape == (30, 120, 160, 3)
    out = run("track", path, "--grid", 4, "--stream", "--model", "cotracker3_offline")
    assert out.returncode == 2 and "--max-frames" in out.stderr and "lk" in out.stderr
    assert "Traceback" not in out.stderr
    out = run("track", path, "--grid", 4, "--stream", "--reliability")
    assert out.returncode == 2 and "leave out one of --stream and --reliability" in out.stderr


def test_track_tab_says_online_models_track_a_long_video_whole(tmp_path):
    from test_app_service import ORBIT

    from studio.service import Limits, TrackingService
    from studio.ui.tab_track import track_video_facts

    short = track_video_facts(TrackingService(limits=Limits(max_frames=300), output_root=tmp_path), str(ORBIT))
    long = track_video_facts(TrackingService(limits=Limits(max_frames=12), output_root=tmp_path), str(ORBIT))
    assert "online model" not in short
    assert "Longer than 12 frames: an online model (lk, " in long and "first 12 frames" in long
