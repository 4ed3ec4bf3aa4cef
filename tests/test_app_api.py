"""The Gradio app through its headless API (gradio_client), plus its composition and click handlers."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import handler_named

pytestmark = pytest.mark.filterwarnings("ignore:.*:Warning:gradio.queueing")

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file

from studio.io.trackfile import load_tracks
from studio.io.video import read_video
from studio.service import Limits, TrackingService
from studio.ui.app import TABS, TabSpec, available_tabs, build_demo, launch_kwargs

ROOT = Path(__file__).resolve().parents[1]
PAN = ROOT / "examples" / "hopper_pan.mp4"  # 36 frames, 480x272
CAT = ROOT.parent / "shared" / "media" / "cat.mp4"  # 87 frames, 368x480 (portrait)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(demo: gr.Blocks) -> str:
    """Start ``demo`` on a free local port without blocking; returns its URL."""
    _, url, _ = demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **launch_kwargs()
    )
    return url


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The real demo (default limits) served locally, with its service."""
    service = TrackingService(output_root=tmp_path_factory.mktemp("out"))
    demo = build_demo(service)
    url = launch(demo)
    yield url, service
    demo.close()


@pytest.fixture(scope="module")
def client(app) -> Client:
    return Client(app[0], verbose=False)


def track(client: Client, video, queries=None, **kw):
    args = {"video": handle_file(str(video)), "api_name": "/track", **kw}
    if queries is not None:
        args["queries_json"] = json.dumps(queries)
    return client.predict(**args)


def check_result(result, queries, size, frames):
    """The API's outputs: a playable mp4 of the working frames and tracks starting at the queries."""
    rendered, npz, tracks_json, status = result
    assert Path(rendered).suffix == ".mp4" and Path(npz).suffix == ".npz" and Path(tracks_json).suffix == ".json"
    saved = load_tracks(npz)
    q = np.asarray(queries, np.float32)
    assert saved.size == size and saved.num_frames == frames and saved.num_points == len(q)
    np.testing.assert_allclose(saved.queries, q)
    np.testing.assert_allclose(saved.tracks[q[:, 0].astype(int), np.arange(len(q))], q[:, 1:], atol=1e-3)
    assert saved.visible[q[:, 0].astype(int), np.arange(len(q))].all()
    np.testing.assert_allclose(load_tracks(tracks_json).tracks, saved.tracks)
    video = read_video(rendered)
    assert video.num_frames == frames and video.codec == "h264"
    assert f"{len(q)} points x {frames} frames" in status
    return saved, video


def test_api_lists_named_endpoints(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/track", "/models"} <= set(endpoints)
    names = [p["parameter_name"] for p in endpoints["/track"]["parameters"]]
    assert names == ["video", "queries_json", "grid_size", "grid_frame", "model", "mask", "points_file", "labels"]
    assert all(p["parameter_has_default"] for p in endpoints["/track"]["parameters"][1:])


def test_dense_endpoint_with_a_mask(client, tmp_path):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    names = [p["parameter_name"] for p in endpoints["/dense"]["parameters"]]
    assert names == ["video", "mask", "query_frame", "model", "initializer", "num_tracks", "mode"]
    frames = read_video(PAN).frames[:8]
    clip = tmp_path / "short.mp4"
    from studio.io.video import write_video

    write_video(clip, frames, 12)
    mask = np.zeros((272, 480), np.uint8)
    mask[80:200, 150:330] = 255
    import cv2

    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    rendered, npz, status = client.predict(
        video=handle_file(str(clip)), mask=handle_file(str(tmp_path / "mask.png")), num_tracks=512,
        mode="spaghetti_first_last_mask", api_name="/dense")
    from studio.dense.result import DenseResult

    r = DenseResult.load(npz)
    assert r.tracks.shape == (8, 272, 480, 2) and r.mask.sum() == 120 * 180 and r.model == "dot_dis"
    assert read_video(rendered).size == (544, 960)  # the spaghetti view is 2x
    assert "21600 pixels tracked from frame 0 through 8 frames" in status
    with pytest.raises(Exception, match="not an image"):
        client.predict(video=handle_file(str(clip)), mask=handle_file(str(clip)), api_name="/dense")


def test_track_bundled_example(client):
    queries = [[0, 120, 80], [10, 300.5, 150], [35, 50, 200]]
    saved, video = check_result(track(client, PAN, queries), queries, (272, 480), 36)
    assert video.size == (272, 480)
    assert saved.model == "lk"


def test_track_real_clip(client):
    if not CAT.is_file():
        pytest.skip("../shared/media/cat.mp4 is not present")
    queries = [[0, 180, 240], [40, 100, 300]]
    _, video = check_result(track(client, CAT, queries, model="lk"), queries, (480, 368), 87)
    assert video.size == (480, 368)


def test_track_grid_with_mask(client, tmp_path):
    import cv2

    mask = np.zeros((272, 480), np.uint8)
    mask[100:200, 200:400] = 255
    mask_path = tmp_path / "mask.png"
    cv2.imwrite(str(mask_path), mask)
    _, npz, _, status = track(client, PAN, grid_size=4, grid_frame=5, mask=handle_file(str(mask_path)))
    saved = load_tracks(npz)
    assert saved.num_points == 16 and np.all(saved.queries[:, 0] == 5)
    assert saved.queries[:, 1].min() >= 200 and saved.queries[:, 1].max() <= 399
    assert saved.queries[:, 2].min() >= 100 and saved.queries[:, 2].max() <= 199
    _, _, _, status = track(client, PAN, grid_size=3)
    assert "9 points x 36 frames" in status


def test_models_endpoint(client):
    rows = client.predict(api_name="/models")
    lk = next(r for r in rows if r["name"] == "lk")
    assert lk["status"] == "built-in" and lk["kind"] == "point"
    assert {"checkpoint", "license", "paper", "input_resolution", "online"} <= set(lk)


@pytest.mark.parametrize(
    "make_input, kwargs, message",
    [
        ("text", {"queries_json": "[[0, 10, 10]]"}, "notes.txt is a text file, not a video"),
        ("pan", {"queries_json": "[[0, 900, 10]]"}, "outside the 480x272 frame"),
        ("pan", {"queries_json": "[[99, 10, 10]]"}, "frames 0..35"),
        ("pan", {"queries_json": "[[0, 10, 10]"}, "not valid JSON"),
        ("pan", {"queries_json": ""}, "no queries given"),
        ("pan", {"queries_json": "[[0, 10, 10]]", "model": "no_such_model"}, "unknown model 'no_such_model'"),
        ("pan", {"grid_size": 99}, "grid size must be"),
    ],
)
def test_bad_input_is_a_clear_error_and_the_next_request_works(client, tmp_path, make_input, kwargs, message):
    video = PAN
    if make_input == "text":
        video = tmp_path / "notes.txt"
        video.write_text("definitely not a video\n" * 50)
    with pytest.raises(gradio_client.exceptions.AppError, match=message):
        client.predict(video=handle_file(str(video)), api_name="/track", **kwargs)
    ok = track(client, PAN, [[0, 10.0, 20.0]])
    assert load_tracks(ok[1]).num_points == 1


def test_four_clients_at_once_get_their_own_results(app):
    url, _ = app
    results: dict[int, object] = {}
    errors: list[Exception] = []

    def run(i: int) -> None:
        try:
            queries = [[i, 40 + 60 * i, 30 + 40 * i], [2 * i, 400 - 50 * i, 250 - 30 * i]]
            out = track(Client(url, verbose=False), PAN, queries)
            results[i] = (queries, load_tracks(out[1]))
        except Exception as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(results) == [0, 1, 2, 3]
    for queries, saved in results.values():
        np.testing.assert_allclose(saved.queries, queries)
        q = np.asarray(queries)
        np.testing.assert_allclose(saved.tracks[q[:, 0].astype(int), [0, 1]], q[:, 1:], atol=1e-3)


# --------------------------------------------------------------------------- composition and UI handlers


def test_tabs_are_composed_from_the_list_and_missing_modules_are_skipped(monkeypatch):
    monkeypatch.setattr("studio.ui.app.TABS", TABS + [TabSpec("not_written_yet", "Later")])
    keys = [spec.key for spec, _ in available_tabs()]
    assert keys[0] == "track" and "models" in keys and "not_written_yet" not in keys


def test_click_handlers_on_a_shrunk_video_store_source_pixels(tmp_path):
    """Click -> query in source pixels; undo / clear frame / clear all edit the light query list."""
    service = TrackingService(limits=Limits(max_side=240), output_root=tmp_path)  # 480x272 shown at 240x136
    demo = build_demo(service)
    on_video, on_click = handler_named(demo, "on_video"), handler_named(demo, "on_click")
    # The notice is shown to the user (a gr.Warning toast; outside a request Gradio warns instead).
    with pytest.warns(UserWarning, match="resized 480×272 → 240×136"):
        path, points, _, frame, info, *_ = on_video(str(PAN), progress=None)
    assert path == str(PAN) and points == [] and frame.shape == (136, 240, 3)
    assert "shown and tracked at 240×136" in info

    def click(t, x, y, pts):
        evt = gr.SelectData(None, {"index": [x, y], "value": None, "selected": True})
        return on_click(path, t, pts, evt)

    points, image, summary = click(0, 50, 30, [])
    # Index 50 means 49.5 in pixel-centre coordinates on the 240-wide frame -> (49.5 + 0.5) * 2 - 0.5 in the source.
    assert points == [[0, 99.5, 59.5]]
    assert image.shape == (136, 240, 3) and not np.array_equal(image, frame)
    points, _, _ = click(4, 10, 10, points)
    points, _, summary = click(4, 20, 20, points)
    assert "3 points" in summary and "frame 4 (2)" in summary
    points, _, _ = handler_named(demo, "on_undo")(path, 4, points)
    assert len(points) == 2
    points, _, _ = handler_named(demo, "on_clear_frame")(path, 4, points)
    assert points == [[0, 99.5, 59.5]]
    points, image, summary = handler_named(demo, "on_clear_all")(path, 0, points)
    assert points == [] and np.array_equal(image, frame) and summary.startswith("No points")
    with pytest.raises(gr.Error, match="load a video first"):
        on_click(None, 0, [], gr.SelectData(None, {"index": [1, 1], "value": None}))


def test_track_handler_fills_the_latest_result_for_other_tabs(tmp_path):
    service = TrackingService(output_root=tmp_path)
    demo = build_demo(service)
    rendered, figure, files, status, latest, _ = handler_named(demo, "on_track")(
        str(PAN), [[0, 100.0, 100.0], [3, 200.0, 120.0]], "lk", 8, progress=None
    )
    assert latest["video"] == str(PAN) and latest["model"] == "lk"
    assert load_tracks(latest["tracks"]).num_points == 2
    assert sorted(Path(f).suffix for f in files) == [".csv", ".json", ".npz"]
    assert rendered == latest["rendered"] and "lk: 2 points x 36 frames" in status
    assert len(figure.axes) == 2
    with pytest.raises(gr.Error, match="no query points"):
        handler_named(demo, "on_track")(str(PAN), [], "lk", 8, progress=None)


def test_models_tab_table_and_precache_commands(tmp_path, monkeypatch):
    from studio.hub import HubFile
    from studio.registry import ModelEntry, list_trackers, register, unregister
    from studio.trackers.lk import LKTracker
    from studio.ui.tab_models import COLUMNS, precache_commands, table_rows

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    revision = "1234567890abcdef1234567890abcdef12345678"
    register(
        ModelEntry(
            name="test_tab_neural",
            kind="point",
            title="fake neural",
            build=lambda device, ckpt: LKTracker(),
            checkpoint=HubFile("example/fake-tracker", "weights.pth", revision),
            input_resolution=(384, 512),
            license="MIT",
            paper="Someone et al. 2099",
        )
    )
    try:
        service = TrackingService(output_root=tmp_path)
        rows = {r[0]: dict(zip([k for k, _ in COLUMNS], r)) for r in table_rows(service)}
        assert set(rows) == set(list_trackers())
        fake = rows["test_tab_neural"]
        assert fake["status"] == "unavailable" and fake["input_resolution"] == "384x512" and fake["online"] == "no"
        assert fake["checkpoint"] == "example/fake-tracker/weights.pth@1234567890ab"
        assert rows["lk"]["status"] == "built-in"
        assert f"hf download example/fake-tracker weights.pth --revision {revision}  # test_tab_neural" in (
            precache_commands(service)
        )
        # Unavailable weights are listed in the menu, but never the default.
        assert "test_tab_neural" in [name for _, name in service.model_choices()]
        assert service.default_model() != "test_tab_neural"
    finally:
        unregister("test_tab_neural")
