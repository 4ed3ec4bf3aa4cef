"""Comparing trackers: the measures, the views, ground truth, the CLI, the service and the /compare endpoint.

A second weight-free tracker is registered for these tests (``test_lk_coarse``: LK with a
small window, no re-finding), so comparisons run in seconds; it really tracks differently.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from studio.compare import (
    SHAPES, check_models, compare_runs, disagreement_figure, load_truth, overlay, side_by_side, table,
)
from studio.io.trackfile import load_tracks, save_tracks
from studio.io.video import read_video, write_video
from studio.pipeline import TrackRun
from studio.registry import ModelEntry, register, unregister
from studio.results import InputError, TrackResult
from studio.synthetic import make_clip
from studio.trackers.lk import LKTracker

COARSE = "test_lk_coarse"
ORBIT = ROOT / "examples" / "hopper_orbit.mp4"
ORBIT_TRUTH = ROOT / "examples" / "hopper_orbit_truth.npz"


@pytest.fixture(scope="module", autouse=True)
def coarse_model():
    register(ModelEntry(name=COARSE, kind="point", title="coarse LK (tests)",
                        build=lambda device, ckpt: LKTracker(window=7, levels=1, anchor=False)))
    yield COARSE
    unregister(COARSE)


def run_of(model: str, tracks, visible, queries, size=(100, 200), reliability=None, seconds=1.0) -> TrackRun:
    r = TrackResult(np.asarray(tracks, np.float32), np.asarray(visible, bool), np.asarray(queries, np.float32),
                    size=size, model=model, reliability=reliability)
    return TrackRun(result=r, seconds=seconds, notices=[])


def test_disagreement_consensus_and_agreement_are_exact():
    t_len = 5
    q = np.array([[0, 10, 10], [0, 50, 50]], np.float32)
    base = np.broadcast_to(q[None, :, 1:], (t_len, 2, 2)).astype(np.float32).copy()
    shifted = base.copy()
    shifted[:, 1, 0] += np.arange(t_len) * 3.0  # point 1 drifts right by 3 px a frame in model b
    vis = np.ones((t_len, 2), bool)
    rel = np.full((t_len, 2), 0.75, np.float32)
    runs = {"a": run_of("a", base, vis, q, reliability=rel), "b": run_of("b", base, vis, q),
            "c": run_of("c", shifted, vis, q, seconds=2.0)}
    c = compare_runs(runs)
    np.testing.assert_allclose(c.disagreement[:, 0], 0.0)
    np.testing.assert_allclose(c.disagreement[:, 1], np.arange(t_len) * 3.0)
    np.testing.assert_allclose(c.consensus, base)  # the median of a, b, c is a = b
    assert c.tolerance == 4.0 * 200 / 256
    rows = {r.model: r for r in c.rows}
    # c is off the consensus (3.125 px tolerance) on point 1 from frame 2 on: 3 of its 8 judged positions.
    assert rows["a"].agreement == 1.0 and rows["c"].agreement == pytest.approx(5 / 8)
    assert rows["a"].reliability == pytest.approx(0.75) and rows["b"].reliability is None
    headers, body = table(c)
    assert headers[:6] == ["model", "seconds", "reliability check s", "visible %", "mean reliability", "agreement %"]
    assert body[2][:6] == ["c", 2.0, "", 100.0, "", 62.5]
    report = c.to_dict()
    assert report["table"][2]["agreement"] == 0.625 and report["disagreement_px"]["per_frame_and_point"][4] == [0, 12]
    assert "more than 3.1 px apart on 38% of the positions (most on point 1: 3 frames)" in c.status()
    # A single position apart: one decimal below 10%, and "1 frame".
    long_q = np.broadcast_to(q[None, :, 1:], (12, 2, 2)).astype(np.float32).copy()
    jump = long_q.copy()
    jump[7, 1, 0] += 20.0
    one = compare_runs({"a": run_of("a", long_q, np.ones((12, 2), bool), q),
                        "b": run_of("b", jump, np.ones((12, 2), bool), q)})
    assert "apart on 4.5% of the positions (most on point 1: 1 frame)" in one.status()  # 1 of 2 x 11 judged
    with pytest.raises(InputError, match="other queries"):
        compare_runs({"a": runs["a"], "d": run_of("d", base, vis, q + 1)})


def test_model_lists_are_checked():
    assert check_models(["lk", " dot_dis "]) == ["lk", "dot_dis"]
    for bad, words in ((["lk"], "compare 2 to 4"), (["lk", "lk"], "named twice"),
                       (["lk", "dot_dis", COARSE, "lk", "dis"], "named twice"), (["lk", "dis"], "flow model")):
        with pytest.raises(InputError, match=words):
            check_models(bad)
    with pytest.raises(KeyError, match="unknown model"):
        check_models(["lk", "nope"])


def test_views_keep_colours_per_point_and_shapes_per_model():
    frames = np.full((3, 60, 80, 3), 128, np.uint8)
    q = np.array([[0, 20, 30], [0, 60, 30]], np.float32)
    tr = np.broadcast_to(q[None, :, 1:], (3, 2, 2)).astype(np.float32).copy()
    vis = np.ones((3, 2), bool)
    tracks = {"a": (tr, vis), "b": (tr + np.float32([0, 10]), vis), "c": (tr, vis), "d": (tr, vis)}
    side = side_by_side(frames, tracks, tail=0)
    assert side.shape == (3, 120, 160, 3)  # 2 x 2 panels
    # The same point has the same colour in every panel (model a top left, c bottom left).
    assert np.array_equal(side[1, 30, 20], side[1, 90, 20]) and not np.array_equal(side[1, 30, 20], [128] * 3)
    assert side_by_side(frames, dict(list(tracks.items())[:3])).shape == (3, 60, 240, 3)
    over = overlay(frames, tracks, size=4)
    assert over.shape == frames.shape and not np.array_equal(over[0, 40, 20], [128] * 3)  # b's marker, 10 px lower
    assert len(SHAPES) == 4
    with pytest.raises(InputError):
        overlay(frames, {**tracks, "e": (tr, vis)})


def test_truth_from_a_track_file_and_from_a_tapvid_file(tmp_path):
    from studio.benchmark.datasets.tapvid import save_npz
    from studio.conventions import pixels_to_tapvid

    truth = load_tracks(ORBIT_TRUTH)
    t = load_truth(ORBIT_TRUTH, (360, 480), 48)
    assert t.query_mode == "strided" and t.tracks.shape == (48, 36, 2)
    perfect = TrackResult(t.tracks, t.visible, t.queries, size=(360, 480))
    scores = t.score(perfect, (360, 480))
    assert scores["average_jaccard"] == 1.0 and scores["occlusion_accuracy"] == 1.0
    # The same truth as a TAP-Vid file: queries at each track's first visible frame, normalised points.
    path = save_npz(tmp_path / "orbit.npz", {"orbit": {
        "video": np.zeros((48, 4, 4, 3), np.uint8),
        "points": pixels_to_tapvid(np.swapaxes(truth.tracks, 0, 1), (360, 480)),
        "occluded": ~truth.visible.T,
    }})
    tv = load_truth(path, (360, 480), 40)  # a video cut to 40 frames keeps the first 40
    assert tv.query_mode == "first" and tv.tracks.shape == (40, 36, 2)
    np.testing.assert_allclose(tv.tracks, truth.tracks[:40], atol=1e-3)
    with pytest.raises(InputError, match="has 48 frames but the video has 60"):
        load_truth(ORBIT_TRUTH, (360, 480), 60)
    (tmp_path / "x.txt").write_text("no")
    with pytest.raises(InputError, match="TAP-Vid"):
        load_truth(tmp_path / "x.txt", (360, 480), 48)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "studio", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_cli_compare_with_ground_truth(tmp_path):
    # A test model is registered in this process only, so the CLI compares lk with dot_dis on a short cut.
    out = run_cli("compare", ORBIT, "--models", "lk,dot_dis", "--truth", ORBIT_TRUTH, "--max-frames", "12",
                  "--out", tmp_path / "c.mp4", "--json", tmp_path / "c.json", "--plot", tmp_path / "c.png",
                  "--tracks-dir", tmp_path / "tracks")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["models"] == ["lk", "dot_dis"] and report["points"] == 36 and report["frames"] == 12
    for row in report["table"]:
        assert 0.5 < row["average_jaccard"] <= 1 and 0.5 < row["average_pts_within_thresh"] <= 1
        assert 0 < row["mean_reliability"] <= 1 and row["occlusion_accuracy"] > 0.5
    assert "| lk |" in out.stdout and "AJ" in out.stdout
    side, over = read_video(tmp_path / "c.mp4"), read_video(tmp_path / "c_overlay.mp4")
    assert side.frames.shape == (12, 360, 960, 3) and over.frames.shape == (12, 360, 480, 3)
    assert load_tracks(tmp_path / "tracks" / "dot_dis.npz").reliability is not None
    assert (tmp_path / "c.png").stat().st_size > 10_000


@pytest.mark.parametrize("args,words", [
    (["--models", "lk"], "compare 2 to 4"),
    (["--models", "lk,dot_dis"], "give the queries"),
    (["--models", "lk,dot_dis", "--grid", "3", "--truth", str(ORBIT_TRUTH)], "leave out --points and --grid"),
    (["--models", "lk,dot_dis", "--grid", "3", "--out", "x.avi"], "must end in .mp4"),
])
def test_cli_compare_refuses_bad_arguments(args, words):
    out = run_cli("compare", ORBIT, *args)
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    clip = make_clip("mixed", num_frames=14, size=(120, 160))
    path = tmp_path_factory.mktemp("cmp") / "small.mp4"
    write_video(path, clip.video, 12.0)
    return clip, path


def test_service_compare_writes_views_report_and_tracks(tmp_path, small_clip):
    from studio.service import TrackingService

    clip, path = small_clip
    service = TrackingService(output_root=tmp_path)
    q, _ = service.grid(str(path), 4, 0)
    out = service.compare(str(path), q, ["lk", COARSE], reliability=True)
    assert [r.model for r in out.comparison.rows] == ["lk", COARSE]
    assert all(r.reliability is not None and r.check_seconds is not None for r in out.comparison.rows)
    assert read_video(out.side_by_side).frames.shape == (14, 120, 320, 3)
    assert read_video(out.overlay).frames.shape == (14, 120, 160, 3)
    report = json.loads(Path(out.report).read_text())
    assert report["truth"] is None and len(report["disagreement_px"]["per_frame_and_point"]) == 14
    assert {p.suffix for p in out.files()} == {".json", ".npz", ".png", ".mp4"}
    assert "2 models, 16 points x 14 frames" in out.status()
    assert len(disagreement_figure(out.comparison).axes) == 3  # two panels and a colour bar
    with pytest.raises(InputError, match="outside"):
        service.compare(str(path), np.array([[0, 500, 5]], np.float32), ["lk", COARSE])


@pytest.mark.filterwarnings("ignore:.*:Warning:gradio.queueing")
def test_compare_endpoint_and_tab_handler(tmp_path, small_clip):
    gr = pytest.importorskip("gradio")
    from conftest import handler_named
    from gradio_client import Client, handle_file

    from studio.service import TrackingService
    from studio.ui.app import build_demo, launch_kwargs
    from test_app_api import free_port

    clip, path = small_clip
    demo = build_demo(TrackingService(output_root=tmp_path / "out"))
    truth = save_tracks(TrackResult(*clip.ground_truth(np.array([[0, 40, 40], [3, 100, 60]], np.float32)),
                                    queries=np.array([[0, 40, 40], [3, 100, 60]], np.float32), size=(120, 160)),
                        tmp_path / "truth.json")
    status, frame, side, over, figure, files = handler_named(demo, "on_compare_models")(
        str(path), ["lk", COARSE], 3, 2, "", str(truth), True, progress=None)
    assert list(frame.columns)[-3:] == ["AJ", "δavg", "OA"] and len(frame) == 2
    assert "best AJ" in status and side.endswith(".mp4") and over.endswith(".mp4") and len(files) == 6
    with pytest.raises(gr.Error, match="compare 2 to 4"):
        handler_named(demo, "on_compare_models")(str(path), ["lk"], 3, 0, "", None, True, progress=None)

    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                            **launch_kwargs())
    try:
        client = Client(url, verbose=False)
        side, over, report, status = client.predict(
            video=handle_file(str(path)), models=f"lk,{COARSE}", queries_json="[[0, 40, 40], [5, 90, 70]]",
            reliability=False, api_name="/compare")
        data = json.loads(Path(report).read_text())
        assert data["models"] == ["lk", COARSE] and data["points"] == 2
        assert data["table"][0]["mean_reliability"] is None
        assert read_video(side).frames.shape[2] == 320 and "2 models, 2 points x 14 frames" in status
        from gradio_client.exceptions import AppError

        with pytest.raises(AppError, match="compare 2 to 4"):
            client.predict(video=handle_file(str(path)), models="lk", grid_size=3, api_name="/compare")
        # The app still serves after a refused request.
        assert client.predict(video=handle_file(str(path)), models=f"lk,{COARSE}", grid_size=2,
                              api_name="/compare")[3].startswith("2 models, 4 points")
    finally:
        demo.close()
