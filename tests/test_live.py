"""LiveSession (studio.live) and the Live tab's service side, on generated clips with exact ground truth."""

from __future__ import annotations

import base64
import io
import os

import numpy as np
import pytest
from PIL import Image

from studio.io.trackfile import load_tracks
from studio.io.video import read_video
from studio.live import LiveSession
from studio.online import NotOnline, online_names, open_online
from studio.results import InputError
from studio.synthetic import make_clip


class FakeClock:
    """A camera at exactly ``fps`` frames per second: each ``step`` reads the clock twice."""

    def __init__(self, fps: float = 15.0):
        self.t, self.calls, self.fps = 0.0, 0, fps

    def __call__(self) -> float:
        self.calls += 1
        if self.calls % 2 == 1:  # the arrival of a new frame
            self.t += 1.0 / self.fps
        return self.t


@pytest.fixture(scope="module")
def clip():
    return make_clip("translate", num_frames=24, size=(240, 320), speed=0.7, occluder=True)


def session(tmp_path, **kw) -> LiveSession:
    return LiveSession(open_online("lk"), tmp_path, clock=FakeClock(), **kw)


class CannotJoin:
    """An online tracker that, like the online CoTrackers, cannot take points mid-stream."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def add_queries(self, queries):
        raise NotOnline("this model cannot add points to a running stream")


def run_with_click(tmp_path, clip, tracker=None, click_after: int = 11, grid: int = 5):
    """Grid on frame 0, one click on frame ``click_after``, the whole clip; returns the saved result."""
    tmp_path.mkdir(exist_ok=True)
    s = LiveSession(tracker or open_online("lk"), tmp_path, clock=FakeClock())
    s.step(clip.video[0])
    s.add_grid(grid)
    for t in range(1, click_after + 1):
        s.step(clip.video[t])
    if click_after:
        s.add_points([[150.0, 90.0]])
    for t in range(click_after + 1, len(clip.video)):
        s.step(clip.video[t])
    return s.stop().result


def check_against_truth(clip, r) -> None:
    gt, gt_vis = clip.ground_truth(r.queries)
    err = np.linalg.norm(r.tracks - gt, axis=-1)
    after = np.arange(len(gt))[:, None] > r.queries[None, :, 0]
    judged = after & gt_vis & r.visible
    assert np.median(err[judged]) < 0.5
    assert np.percentile(err[judged], 95) < 2.0
    # The occluder hides some grid points; the live tracker says so for most of those moments.
    hidden = after & ~gt_vis & np.isfinite(gt).all(-1)
    assert hidden.sum() > 10
    assert (~r.visible[hidden]).mean() > 0.6
    assert r.visible[after & gt_vis].mean() > 0.9


def test_grid_and_a_point_joining_mid_stream_follow_the_truth(tmp_path, clip):
    r = run_with_click(tmp_path, clip)
    assert r.tracks.shape == (24, 26, 2) and r.visible.shape == (24, 26)
    # The grid starts on its own frame; the click joins the running tracker on the next frame, where it was put.
    assert np.all(r.queries[:25, 0] == 0) and r.queries[25].tolist() == [12.0, 150.0, 90.0]
    np.testing.assert_allclose(r.tracks[12, 25], [150.0, 90.0])
    # Before its query frame a live point is not seen: query position, hidden.
    assert not r.visible[:12, 25].any()
    np.testing.assert_allclose(r.tracks[:12, 25], np.broadcast_to([150.0, 90.0], (12, 2)))
    check_against_truth(clip, r)
    # Joining does not restart anyone: up to the join the grid's tracks are exactly those of a session without
    # the click, and after it they differ only by LK's neighbour-motion checks now counting the new point.
    alone = run_with_click(tmp_path / "alone", clip, click_after=0)
    np.testing.assert_array_equal(r.tracks[:13, :25], alone.tracks[:13])
    np.testing.assert_array_equal(r.visible[:13, :25], alone.visible[:13])
    # (Most by far less than 0.5 px; up to 0.72 px on the one grid point that drifts ~7 px near the occluder,
    # where the new point is among the neighbours whose motion carries it: the same in a whole-clip ``track``.)
    diff = np.abs(r.tracks[:, :25] - alone.tracks).max(axis=(0, 2))
    assert diff.max() < 1.0 and (diff < 0.5).sum() >= 24, diff


def test_a_model_that_cannot_join_restarts_on_the_clicked_frame(tmp_path, clip):
    r = run_with_click(tmp_path, clip, tracker=CannotJoin(open_online("lk")))
    # The new segment starts on the frame the click was made on, exactly there.
    assert np.all(r.queries[:25, 0] == 0) and r.queries[25].tolist() == [11.0, 150.0, 90.0]
    np.testing.assert_allclose(r.tracks[11, 25], [150.0, 90.0])
    assert not r.visible[:11, 25].any()
    check_against_truth(clip, r)
    # Up to the clicked frame the tracks are the undisturbed run's, visibility included (on frame 11 the
    # restarted segment restates every point as "visible"; the earlier segment's word is kept).
    alone = run_with_click(tmp_path / "alone", clip, click_after=0)
    np.testing.assert_array_equal(r.tracks[:12, :25], alone.tracks[:12])
    np.testing.assert_array_equal(r.visible[:12, :25], alone.visible[:12])
    assert not alone.visible[11].all()  # the occluder covers some grid points on frame 11


def test_a_grid_after_a_click_is_tracked_as_plain_grid_points_as_track_does(tmp_path, clip):
    """``lk`` gives sub-points to the clicks of a small request only (``track`` decides it per request). A
    session started by one click has them; a grid dropped later must not get them too: the session restarts
    with every point as one request, so from the grid's frame on the result is ``track``'s for that request."""
    from studio.queries import grid_queries
    from studio.registry import create_tracker

    s = session(tmp_path)
    s.step(clip.video[0])
    s.add_points([[150.0, 90.0]])
    for t in range(1, 6):
        s.step(clip.video[t])
    s.add_grid(5)  # dropped on frame 5
    for t in range(6, len(clip.video)):
        s.step(clip.video[t])
    r = s.stop().result
    assert r.tracks.shape == (24, 26, 2)
    # The grid's query frame is the frame it was dropped on.
    assert np.all(r.queries[1:, 0] == 5)
    # ``track`` on frames 5.. with the click where the session had it on frame 5, and the grid.
    q = np.concatenate([[[0.0, *r.tracks[5, 0]]], grid_queries((240, 320), 5)]).astype(np.float32)
    offline = create_tracker("lk").track(clip.video[5:], q)
    np.testing.assert_allclose(r.tracks[6:], offline.tracks[1:], atol=1e-4)
    np.testing.assert_array_equal(r.visible[6:], offline.visible[1:])


def test_stop_writes_track_files_and_the_recording(tmp_path, clip):
    s = session(tmp_path)
    for t in range(10):
        s.step(clip.video[t])
        if t == 0:
            s.add_points([[100.0, 120.0], [200.0, 60.0]])
    out = s.stop()
    assert set(out.files) == {"npz", "csv", "json"}
    for fmt, path in out.files.items():
        loaded = load_tracks(path)
        np.testing.assert_allclose(loaded.tracks, out.result.tracks, atol=1e-3, err_msg=fmt)
        np.testing.assert_array_equal(loaded.visible, out.result.visible)
    video = read_video(out.video)
    assert video.num_frames == 10 and video.size == (240, 320)
    assert video.fps == pytest.approx(15.0, rel=0.05)  # the camera's own rate, from the frame times
    assert out.result.fps == pytest.approx(15.0, rel=0.05)
    # The recording is the camera's frames in order (lossy, so not bit-exact): each is nearest its own.
    diff = np.abs(video.frames[:, None].astype(np.int16) - clip.video[None, :10].astype(np.int16)).mean(axis=(2, 3, 4))
    assert np.array_equal(diff.argmin(axis=1), np.arange(10))
    assert diff.diagonal().max() < 6.0
    assert s.stop() is out  # idempotent
    with pytest.raises(InputError, match="stopped"):
        s.add_points([[5.0, 5.0]])


def test_stats_count_frames_rate_and_points(tmp_path, clip):
    s = session(tmp_path)
    for t in range(6):
        s.step(clip.video[t])
        if t == 0:
            s.add_grid(2)
    assert s.stats.frames == 6 and s.stats.points == 4
    assert s.stats.fps == pytest.approx(15.0)
    assert "frames/s" in s.stats.describe() and "4 points" in s.stats.describe()


def test_large_frames_are_shrunk_and_a_changed_camera_size_is_followed(tmp_path, clip):
    s = session(tmp_path, max_side=160)
    big = np.ascontiguousarray(np.repeat(np.repeat(clip.video[0], 2, axis=0), 2, axis=1))  # 480x640
    out = s.step(big)
    assert out.shape == (120, 160, 3) and s.size == (120, 160)
    s.add_points([[80.0, 60.0]])
    out = s.step(clip.video[1])  # 240x320 now: resized to the session's size
    assert out.shape == (120, 160, 3)
    r = s.stop().result
    assert r.size == (120, 160)


def test_bad_input_is_refused_and_the_session_goes_on(tmp_path, clip):
    s = session(tmp_path, max_points=10)
    with pytest.raises(InputError, match="no camera frame yet"):
        s.add_points([[1.0, 1.0]])
    with pytest.raises(InputError, match="uint8"):
        s.step(np.zeros((240, 320, 3), np.float32))
    with pytest.raises(InputError, match="uint8"):
        s.step(np.zeros((4, 4), np.uint8))
    s.step(clip.video[0])
    with pytest.raises(InputError, match="on the 320×240 picture"):
        s.add_points([[400.0, 10.0]])
    with pytest.raises(InputError, match="on the 320×240 picture"):
        s.add_points([[np.nan, 10.0]])
    with pytest.raises(InputError, match="at most 10 points"):
        s.add_grid(4)
    with pytest.raises(InputError, match="grid size"):
        s.add_grid(0)
    assert s.num_points == 0
    s.add_points([[100.0, 100.0]])
    s.step(clip.video[1])
    assert s.stop().result.num_points == 1


def test_frame_limit_stops_recording_but_keeps_showing(tmp_path, clip):
    s = session(tmp_path, max_frames=5)
    for t in range(8):
        out = s.step(clip.video[t])
        assert out.shape == (240, 320, 3)
    assert s.stats.frames == 5
    assert read_video(s.stop().video).num_frames == 5


def test_close_without_stop_leaves_no_files(tmp_path, clip):
    s = session(tmp_path)
    for t in range(3):
        s.step(clip.video[t])
    s.close()
    assert list(tmp_path.iterdir()) == []


def test_live_models_are_the_online_ones_and_offline_ones_are_refused(tmp_path):
    from studio.service import TrackingService
    from studio.service.live_job import live_model_choices, open_live_session

    choices = live_model_choices()
    names = [n for _, n in choices]
    assert names == online_names() and names[0] == "lk"
    assert "cotracker3_offline" not in names
    service = TrackingService(output_root=tmp_path)
    live = open_live_session(service, "lk")
    assert live.model == "lk" and live.out_dir.parent == tmp_path
    with pytest.raises(InputError, match="not online"):
        open_live_session(service, "cotracker3_offline")
    with pytest.raises(InputError, match="unknown model"):
        open_live_session(service, "no_such_model")


def test_live_limits_come_from_the_environment(tmp_path, monkeypatch):
    from studio.limits import Limits
    from studio.service import TrackingService
    from studio.service.live_job import open_live_session

    monkeypatch.setenv("STUDIO_LIVE_MAX_SIDE", "320")
    monkeypatch.setenv("STUDIO_LIVE_MAX_FRAMES", "3")
    monkeypatch.setenv("STUDIO_LIVE_MAX_POINTS", "7")
    live = open_live_session(TrackingService(limits=Limits.from_env(), output_root=tmp_path))
    assert (live.max_side, live.max_frames, live.max_points) == (320, 3, 7)
    monkeypatch.setenv("STUDIO_LIVE_MAX_SIDE", "8")
    with pytest.raises(ValueError, match="STUDIO_LIVE_MAX_SIDE must be >= 16"):
        Limits.from_env()


def test_points_json_is_checked_before_and_after_parsing():
    from studio.service.live_job import parse_points_json

    np.testing.assert_array_equal(parse_points_json("[[1, 2.5], [3, 4]]"), [[1, 2.5], [3, 4]])
    assert parse_points_json("  ").shape == (0, 2)
    for bad, message in [
        ("[[1, 2]", "valid JSON"),
        ("[[1, 2, 3]]", "pairs"),
        ('[["1", 2]]', "pairs"),
        ("[[true, 2]]", "pairs"),
        ('{"x": 1}', "pairs"),
        ("[" * 100000 + "]" * 100000, "too long"),
        ("[[1, 2]]" + " " * 60000, "too long"),
    ]:
        with pytest.raises(InputError, match=message):
            parse_points_json(bad, max_points=1000)
    with pytest.raises(InputError, match="nested too deeply"):
        parse_points_json("[" * 5000 + "]" * 5000, max_points=1000)


def jpeg_url(image: np.ndarray, quality: int = 92) -> str:
    """uint8 [H, W, 3] RGB as the page sends it: a JPEG data URL."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def test_frames_from_the_page_are_decoded_and_bad_ones_refused(clip):
    from studio.limits import Limits
    from studio.io.guards import LimitExceeded
    from studio.service.live_job import decode_frame_url

    frame = decode_frame_url(jpeg_url(clip.video[3]))
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
    err = np.abs(frame.astype(int) - clip.video[3].astype(int)).mean()
    assert err < 0.2 * np.abs(clip.video[3].astype(int) - clip.video[12].astype(int)).mean()  # it is this frame
    png = io.BytesIO()
    Image.fromarray(clip.video[3]).save(png, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")
    np.testing.assert_array_equal(decode_frame_url(url), clip.video[3])
    for bad, why in [
        (None, "data:image"), ("http://example.com/a.jpg", "data:image"), ("data:image/svg+xml;base64,PHN2Zz4=", "base64 jpeg"),
        ("data:image/jpeg,rawtext", "base64 jpeg"), ("data:image/jpeg;base64,@@@", "valid base64"),
        ("data:image/jpeg;base64," + base64.b64encode(b"not a picture").decode(), "not an image"),
        ("data:image/jpeg;base64," + "A" * 17_000_000, "at most"),
    ]:
        with pytest.raises(InputError, match=why):
            decode_frame_url(bad)
    # A picture with more pixels than allowed is refused from its header, before it is decoded.
    with pytest.raises(LimitExceeded):
        decode_frame_url(jpeg_url(clip.video[3]), Limits(max_image_pixels=1000))


def test_live_clients_keep_one_holder_per_page_and_close_idle_ones():
    from studio.ui.tab_live import LiveClients

    now = [0.0]
    clients = LiveClients(max_clients=2, idle_s=60, clock=lambda: now[0])
    a = clients.get("page-aaaaaaaa")
    assert clients.get("page-aaaaaaaa") is a
    b = clients.get("page-bbbbbbbb")
    with pytest.raises(InputError, match="2 pages at once"):
        clients.get("page-cccccccc")
    for bad in (None, "", "short", "x" * 65, "../../etc", 42):
        with pytest.raises(InputError, match="page id"):
            clients.get(bad)

    class Session:
        closed = False

        def close(self):
            self.closed = True

    a.session = Session()
    now[0] = 61.0  # page a went quiet; page b calls again
    assert clients.get("page-bbbbbbbb") is b
    assert a.session is None  # closed: its unsaved recording removed
    assert clients.get("page-cccccccc") is not a  # there is room again


@pytest.mark.filterwarnings("ignore:.*:Warning:gradio.queueing")
def test_headless_live_frames_and_stop(tmp_path, clip):
    """``/live_frame`` per frame and ``/live_stop`` through gradio_client: one session per client."""
    import json

    from gradio_client import Client, handle_file

    from studio.service import TrackingService
    from studio.ui.app import build_demo, launch_kwargs
    from test_app_api import free_port

    demo = build_demo(TrackingService(output_root=tmp_path / "out"))
    _, url, _ = demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **launch_kwargs()
    )
    try:
        client = Client(url, verbose=False)
        frames = []
        for t in range(6):
            path = tmp_path / f"f{t}.png"
            Image.fromarray(clip.video[t]).save(path)
            frames.append(handle_file(str(path)))
        _, points, status = client.predict(frames[0], "[[100, 60], [220.5, 150]]", 0, "lk", api_name="/live_frame")
        assert json.loads(points) == [] and "1 frames" in status
        seen = []
        for t in range(1, 6):
            image, points, status = client.predict(frames[t], "", 0, "lk", api_name="/live_frame")
            seen.append(json.loads(points))
        assert "6 frames" in status and "2 points" in status
        assert np.asarray(Image.open(image)).shape == (240, 320, 3)
        gt, _ = clip.ground_truth(np.array([[0, 100, 60], [0, 220.5, 150]], np.float32))
        got = np.array([[p[:2] for p in row] for row in seen], float)  # frames 1..5
        assert np.abs(got - gt[1:6]).max() < 1.0
        npz, json_file, csv, video, status = client.predict(api_name="/live_stop")
        assert status.startswith("saved lk") and video.endswith(".mp4")
        saved = load_tracks(npz)
        assert saved.tracks.shape == (6, 2, 2)
        np.testing.assert_allclose(saved.tracks[1:], got, atol=1e-3)
        with pytest.raises(Exception, match="valid JSON"):
            client.predict(frames[0], "[[1, 2]", 0, "lk", api_name="/live_frame")
    finally:
        demo.close()


def test_live_tab_page_calls_and_buttons_track_click_stop_and_a_model_without_weights(tmp_path, clip, monkeypatch):
    """The Live tab as its page calls it: frames and clicks (server functions), the grid, model and Stop
    buttons (Gradio handlers), all for one page id; a model that cannot start says why; frames out of order."""
    from conftest import handler_named
    from studio.service import TrackingService
    from studio.ui.app import build_demo

    demo = build_demo(TrackingService(output_root=tmp_path))
    (page,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "live-page"]
    on_grid, on_stop, on_model = (handler_named(demo, n) for n in ("on_live_grid", "on_live_stop", "on_live_model"))
    me = "test-page-0001"

    def frame(t, seq=None):
        return page.live_frame({"client": me, "seq": t if seq is None else seq, "image": jpeg_url(clip.video[t])})

    monkeypatch.setattr("studio.service.live_job.weight_status", lambda name: "unavailable")
    monkeypatch.setattr("studio.ui.tab_live.weight_status", lambda name: "unavailable")
    assert "cotracker3_online" in on_model(me, "cotracker3_online")  # says where to get the weights
    out = frame(0)
    assert out["points"] == [] and out["size"] == [240, 320]
    assert "cotracker3_online cannot start" in out["status"] and "lk needs no weights" in out["status"]
    monkeypatch.undo()

    assert on_model(me, "lk") == "switched to lk"
    out = frame(1)
    assert out["status"].startswith("lk · 1 frames") and "click on the picture" in out["status"]
    assert page.live_click({"client": me, "x": 100, "y": 60})["status"].startswith("1 point")
    assert on_grid(me, 2).startswith("5 points")
    for t in range(2, 6):
        out = frame(t)
    assert "5 points" in out["status"] and len(out["points"]) == 5 and len(out["colors"]) == 5
    assert all(c.startswith("#") and len(c) == 7 for c in out["colors"])
    # The points follow the clip: the click (its query frame is frame 1 of the clip) is near the truth on frame 5.
    gt, _ = clip.ground_truth(np.array([[1, 100, 60]], np.float32))
    assert np.abs(np.array(out["points"][0][:2]) - gt[5, 0]).max() < 1.0 and out["points"][0][2] is True
    # A frame overtaken by a newer one is dropped, not tracked out of order.
    assert frame(4, seq=3) == {"seq": 3, "skipped": True}
    # Bad calls get a message and the next frame still works.
    assert "page id" in page.live_frame({"client": "x", "seq": 9, "image": ""})["error"]
    assert "data:image" in page.live_frame({"client": me, "seq": 9, "image": "hello"})["error"]
    assert "error" in page.live_frame("not a dict") and "error" in page.live_click({"client": me, "x": "1"})
    assert "must lie on" in page.live_click({"client": me, "x": 5000, "y": 1})["error"]
    out = frame(6)
    assert "6 frames" in out["status"]  # frames 1..6; the failed start on frame 0 is not a session frame

    files, video, text = on_stop(me)
    assert sorted(os.path.basename(f) for f in files) == ["live_lk.csv", "live_lk.json", "live_lk.npz"]
    assert video.endswith("live.mp4") and text.startswith("saved lk · 6 frames")
    saved = load_tracks([f for f in files if f.endswith(".npz")][0])
    # The click and the grid came before tracking started: all start on the frame they were put on.
    assert saved.queries[0].tolist() == [0.0, 100.0, 60.0] and np.all(saved.queries[1:, 0] == 0)
    # After Stop the camera goes on untracked, the saved summary stays on the status line.
    out = frame(7)
    assert out["status"].startswith("saved lk · 6 frames") and "start a new session" in out["status"]
    assert out["points"] == []  # the stopped session's points are not drawn on new frames
    assert "nothing to save" in on_stop("other-page-01")[2]
