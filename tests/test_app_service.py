"""The app's compute layer (studio.service) without gradio: caches, limits, defaults, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from studio.hub import HubFile, WeightsUnavailable
from studio.io.trackfile import load_tracks
from studio.io.video import VideoError, read_video
from studio.registry import ModelEntry, register, unregister
from studio.results import InputError
from studio.service import Limits, TrackingService, catalog, parse_queries_json, track_job, tracking_service, zerogpu
from studio.service.zerogpu import estimate_gpu_seconds
from studio.trackers.lk import LKTracker

ROOT = Path(__file__).resolve().parents[1]
ORBIT = ROOT / "examples" / "hopper_orbit.mp4"  # 48 frames, 480x360
PAN = ROOT / "examples" / "hopper_pan.mp4"  # 36 frames, 480x272


@pytest.fixture
def service(tmp_path) -> TrackingService:
    return TrackingService(limits=Limits(), output_root=tmp_path / "out")


@pytest.fixture
def counting_model():
    """A temporary point tracker 'test_counting' whose builds are counted (slow to build, like a real model)."""
    builds = []

    def build(device, checkpoint):
        builds.append(device)
        time.sleep(0.2)  # long enough for concurrent first requests to overlap
        return LKTracker()

    register(ModelEntry(name="test_counting", kind="point", title="counting LK", build=build))
    register(ModelEntry(name="test_counting_b", kind="point", title="counting LK b", build=build))
    yield builds
    unregister("test_counting")
    unregister("test_counting_b")


def test_compute_layer_does_not_import_gradio():
    code = (
        "import sys, studio.service, studio.pipeline, studio.cli, studio.io.trackfile, studio.io.video\n"
        "import studio.service.render_job, studio.service.dense_job, studio.service.bench_job\n"
        "import studio.service.bench_view, studio.benchmark.report, studio.dense.tracker\n"
        "bad = [m for m in sys.modules if m == 'gradio' or m.startswith('gradio.')]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_model_cache_builds_once_under_concurrency(service, counting_model):
    got = []
    threads = [threading.Thread(target=lambda: got.append(service.tracker("test_counting"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(counting_model) == 1
    assert service.model_loads["test_counting"] == 1
    assert len({id(m) for m in got}) == 1  # every request got the same instance
    service.tracker("test_counting")
    assert len(counting_model) == 1


def test_model_cache_is_lru(tmp_path, counting_model):
    service = TrackingService(model_cache_size=1, output_root=tmp_path)
    first = service.tracker("test_counting")
    service.tracker("test_counting_b")
    assert service.loaded_models() == ["test_counting_b"]
    again = service.tracker("test_counting")
    assert again is not first  # evicted, so built anew
    assert service.model_loads == {"test_counting": 2, "test_counting_b": 1}


def test_weight_free_models_get_no_device(service, counting_model):
    service.tracker("test_counting")
    assert counting_model == [None]  # no torch device chosen for a weight-free model


@pytest.fixture
def neural_models(monkeypatch):
    """Two fake neural point trackers with controllable weight status."""
    names = ["cotracker3_offline_fake", "zz_other_neural"]
    for name in names:
        register(
            ModelEntry(
                name=name,
                kind="point",
                title=name,
                build=lambda device, ckpt: LKTracker(),
                checkpoint=HubFile("example/repo", f"{name}.pth", "0" * 40),
            )
        )
    # Every other registered model (real ones included) counts as unavailable here.
    status = {"lk": "built-in", "dis": "built-in"}
    monkeypatch.setattr(catalog, "weight_status", lambda n: status.get(n, "unavailable"))
    yield status
    for name in names:
        unregister(name)


def test_default_model_prefers_cached_neural_over_lk(service, neural_models):
    neural_models.update({"cotracker3_offline_fake": "cached", "zz_other_neural": "cached"})
    assert service.default_model() == "cotracker3_offline_fake"
    neural_models.update({"cotracker3_offline_fake": "unavailable"})
    assert service.default_model() == "zz_other_neural"


def test_default_model_never_unavailable_and_lk_before_downloads(service, neural_models, monkeypatch):
    neural_models.update({"cotracker3_offline_fake": "downloadable", "zz_other_neural": "unavailable"})
    assert service.default_model() == "lk"
    monkeypatch.setenv("STUDIO_DEFAULT_MODEL", "zz_other_neural")  # asked for, but unavailable: ignored
    assert service.default_model() == "lk"
    monkeypatch.setenv("STUDIO_DEFAULT_MODEL", "cotracker3_offline_fake")
    assert service.default_model() == "cotracker3_offline_fake"


def test_model_choices_label_weight_status(service, neural_models):
    neural_models.update({"cotracker3_offline_fake": "cached", "zz_other_neural": "unavailable"})
    choices = service.model_choices()
    labels = {name: label for label, name in choices}
    assert labels["lk"].endswith("built-in")
    assert labels["cotracker3_offline_fake"].endswith("cached")
    # Models that cannot run here come last, marked (the app's CSS greys them out) with the reason.
    assert "unavailable here (not cached" in labels["zz_other_neural"]
    order = [name for _, name in choices]
    usable = [n for n in order if "unavailable here" not in labels[n]]
    assert order[: len(usable)] == usable and order.index("zz_other_neural") > order.index("cotracker3_offline_fake")
    assert "dis" not in labels  # a flow model is not a point tracker


def test_models_table_is_json_ready(service):
    rows = service.models_table()
    json.dumps(rows)
    lk = next(r for r in rows if r["name"] == "lk")
    assert lk["status"] == "built-in" and lk["kind"] == "point" and lk["checkpoint"].startswith("none")


def test_video_cache_decodes_once(service):
    a = service.load_video(PAN)
    b = service.load_video(str(PAN))
    assert a is b and service.video_decodes == 1
    assert service.frame(str(PAN), 5).shape == (272, 480, 3)


@pytest.fixture
def offline_lk():
    """A temporary registry entry: LK marked offline, as a model that needs the whole clip."""
    register(ModelEntry(name="lk_whole_clip_test", kind="point", title="LK (offline, test)",
                        build=lambda device, checkpoint: LKTracker(), online=False))
    yield "lk_whole_clip_test"
    unregister("lk_whole_clip_test")


@pytest.mark.parametrize("online", [False, True])
def test_limits_cut_and_shrink_with_notices_and_tracks_stay_in_source_pixels(tmp_path, offline_lk, online):
    svc = TrackingService(limits=Limits(max_frames=12, max_side=240), output_root=tmp_path)
    video = svc.load_video(ORBIT)
    assert video.num_frames == 12 and video.size == (180, 240) and video.source_size == (360, 480)
    assert any("kept frames 0–11 of 48" in n for n in video.notices)
    assert any("resized 480×360 → 240×180" in n for n in video.notices)

    queries = np.array([[0, 101.0, 120.0], [7, 300.0, 200.0]], np.float32)
    out = svc.track(str(ORBIT), queries, model="lk" if online else offline_lk, formats=("npz", "csv"))
    # Over the frame cap an offline model tracks the first frames; an online one streams the whole file.
    frames = 48 if online else 12
    if online:
        assert ("longer than the 12-frame cap: lk is online, so all 48 frames were streamed (and backwards to "
                "frame 0 from points placed later)") in out.status()
    else:
        assert "kept frames 0–11 of 48" in out.status()
    assert "resized" in out.status()
    assert set(out.files) == {"npz", "csv"}
    saved = load_tracks(out.files["npz"])
    assert saved.size == (360, 480) and saved.num_frames == frames
    np.testing.assert_allclose(saved.queries, queries)
    if online:
        # The reliability check needs the clip at once: with it, lk tracks up to the cap and says so.
        checked = svc.track(str(ORBIT), queries, model="lk", formats=("npz",), reliability=True)
        assert "kept frames 0–11 of 48" in checked.status() and "streamed" not in checked.status()
        assert load_tracks(checked.files["npz"]).reliability.shape == (12, 2)
    np.testing.assert_allclose(saved.tracks[[0, 7], [0, 1]], queries[:, 1:], atol=1e-3)
    rendered = read_video(out.rendered)
    assert rendered.num_frames == frames and rendered.size == (180, 240)
    if online:  # the first frames are what the whole-clip run on them gives (frames 0-6 of the point
        # queried on frame 7 by the stream's backward pass)
        cut = load_tracks(svc.track(str(ORBIT), queries, model=offline_lk, formats=("npz",)).files["npz"])
        np.testing.assert_array_equal(saved.tracks[:12], cut.tracks)
        np.testing.assert_array_equal(saved.visible[:12], cut.visible)
        assert saved.visible[:7, 1].any()


def test_limits_from_environment(monkeypatch):
    monkeypatch.setenv("STUDIO_MAX_FRAMES", "7")
    monkeypatch.setenv("STUDIO_MAX_SIDE", "64")
    assert Limits.from_env() == Limits(max_frames=7, max_side=64)
    monkeypatch.setenv("STUDIO_MAX_FRAMES", "lots")
    with pytest.raises(ValueError, match="STUDIO_MAX_FRAMES"):
        Limits.from_env()


def test_clicks_on_a_shrunk_frame_map_to_source_pixels(tmp_path):
    svc = TrackingService(limits=Limits(max_side=240), output_root=tmp_path)
    # Working 240x180 of a 480x360 source: scale 2, pixel centres move by half a pixel.
    assert svc.click_to_source(str(ORBIT), 10.0, 20.0) == (20.5, 40.5)
    back = svc.source_to_working(str(ORBIT), np.array([[3, 20.5, 40.5]], np.float32))
    np.testing.assert_allclose(back, [[3, 10.0, 20.0]])
    # Clamped onto the image area.
    assert svc.click_to_source(str(ORBIT), 1000.0, -9.0) == (479.5, -0.5)


def test_errors_are_one_sentence_and_the_service_keeps_working(service, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a video\n" * 20)
    with pytest.raises(VideoError, match=r"notes.txt is (a text file|not a video file)"):
        service.track(str(text), np.array([[0, 1, 1]]))
    garbage = tmp_path / "noise.mp4"
    garbage.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(VideoError, match="noise.mp4"):
        service.track(str(garbage), np.array([[0, 1, 1]]))
    with pytest.raises(VideoError, match="does not exist"):
        service.load_video(str(tmp_path / "missing.mp4"))
    with pytest.raises(InputError, match=r"outside the 480x272 frame"):
        service.track(str(PAN), np.array([[0, 900, 10]]))
    with pytest.raises(InputError, match="frames 0..35"):
        service.track(str(PAN), np.array([[36, 10, 10]]))
    with pytest.raises(InputError, match="no query points"):
        service.track(str(PAN), np.zeros((0, 3)))
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        service.track(str(PAN), np.array([[0, 10, 10]]), model="nope")
    with pytest.raises(InputError, match="flow model"):
        service.track(str(PAN), np.array([[0, 10, 10]]), model="dis")
    out = service.track(str(PAN), np.array([[0, 10.0, 10.0]]), model="lk")
    assert out.result.num_points == 1 and out.rendered.is_file()


def test_missing_weights_are_a_clean_error(service, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    register(
        ModelEntry(
            name="test_weighted",
            kind="point",
            title="weighted",
            build=lambda device, ckpt: LKTracker(),
            checkpoint=HubFile("example/not-cached", "weights.pth", "0" * 40),
        )
    )
    try:
        with pytest.raises(WeightsUnavailable, match="HF_HUB_OFFLINE"):
            service.track(str(PAN), np.array([[0, 10, 10]]), model="test_weighted")
        assert service.track(str(PAN), np.array([[0, 10.0, 10.0]]), model="lk").result.model == "lk"
    finally:
        unregister("test_weighted")


def test_too_many_points_are_refused(tmp_path):
    svc = TrackingService(limits=Limits(max_points=4), output_root=tmp_path)
    with pytest.raises(InputError, match="more than the 4 allowed"):
        svc.check_queries(str(PAN), np.tile([[0, 5.0, 5.0]], (5, 1)))
    with pytest.raises(InputError, match="grid size must be 1..2"):
        svc.grid(str(PAN), 3, 0)


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "no queries given"),
        ("[[0, 1, 2]", "not valid JSON"),
        ('{"a": 1}', "non-empty JSON list"),
        ("[]", "non-empty JSON list"),
        ("[[0, 1]]", "query 0"),
        ('[[0, 1, 2], [0, "x", 2]]', "query 1"),
        ("[[0, 1, true]]", "query 0"),
    ],
)
def test_parse_queries_json_errors(text, match):
    with pytest.raises(InputError, match=match):
        parse_queries_json(text)


def test_parse_queries_json_accepts_list_and_object():
    np.testing.assert_array_equal(parse_queries_json("[[0, 1.5, 2], [3, 4, 5]]"), [[0, 1.5, 2], [3, 4, 5]])
    assert parse_queries_json('{"queries": [[1, 2, 3]]}').shape == (1, 3)


def test_grid_and_mask_grid_in_source_pixels(service):
    grid, notices = service.grid(str(PAN), 4, 3)
    assert grid.shape == (16, 3) and not notices and np.all(grid[:, 0] == 3)
    mask = np.zeros((272, 480), np.uint8)
    mask[50:150, 100:300] = 255
    inside, _ = service.grid(str(PAN), 5, 0, mask=mask)
    assert len(inside) == 25
    assert inside[:, 1].min() >= 100 and inside[:, 1].max() <= 299
    assert inside[:, 2].min() >= 50 and inside[:, 2].max() <= 149
    # A half-size mask of the same aspect is scaled up, with a notice; a wrong aspect is refused.
    small, notices = service.grid(str(PAN), 5, 0, mask=mask[::2, ::2])
    assert notices == ["mask resized 240×136 → 480×272"] and len(small) == 25
    with pytest.raises(InputError, match="mask is 100x100"):
        service.grid(str(PAN), 5, 0, mask=np.ones((100, 100), np.uint8))
    # An RGBA mask: the alpha channel decides.
    rgba = np.zeros((272, 480, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[200:260, 10:60, 3] = 255
    q, _ = service.grid(str(PAN), 3, 0, mask=rgba)
    assert len(q) == 9 and q[:, 2].min() >= 200


def test_gpu_duration_grows_with_frames_and_points():
    small = estimate_gpu_seconds(50, 10)
    assert estimate_gpu_seconds(300, 10) > small
    assert estimate_gpu_seconds(50, 500) > small
    assert estimate_gpu_seconds(300, 2500) == zerogpu.GPU_SECONDS_MAX


def test_gpu_entry_point_is_plain_off_zero_gpu(service):
    assert not zerogpu.on_zero_gpu()
    # Without ZeroGPU `spaces.GPU` returns the function itself, so it is called in-process.
    assert track_job._track_on_device.__module__ == "studio.service.track_job"
    assert not hasattr(track_job._track_on_device, "zerogpu")
    frames = track_job._track_duration(id(service), str(PAN), np.zeros((10, 3)), "lk")
    assert frames == estimate_gpu_seconds(36, 10)


def test_device_tracker_gives_one_call_per_clip_on_zero_gpu(service, monkeypatch):
    """On ZeroGPU the benchmark tracks each clip through the GPU entry point; elsewhere with the model itself."""
    assert service.device_tracker("lk") is service.tracker("lk")
    monkeypatch.setattr(tracking_service, "on_zero_gpu", lambda: True)
    proxy = service.device_tracker("lk")
    assert isinstance(proxy, zerogpu.DeviceTracker)
    calls = []
    real = zerogpu.track_arrays_on_device
    monkeypatch.setattr(zerogpu, "track_arrays_on_device", lambda *a: calls.append(a) or real(*a))
    video = read_video(PAN).frames[:6]
    queries = np.array([[0, 100.0, 80.0], [5, 200.0, 150.0]], np.float32)
    result = proxy.track(video, queries, progress=lambda f, d="": None)
    assert len(calls) == 1 and calls[0][:2] == (id(service), "lk")
    np.testing.assert_allclose(result.tracks, service.tracker("lk").track(video, queries).tracks)
    assert zerogpu._arrays_duration(id(service), "lk", video, queries) == estimate_gpu_seconds(6, 2)


def test_output_folders_are_pruned_by_age(tmp_path):
    svc = TrackingService(output_root=tmp_path, output_ttl_s=60)
    old = svc.new_output_dir()
    past = time.time() - 120
    os.utime(old, (past, past))
    fresh = svc.new_output_dir()
    assert not old.exists() and fresh.is_dir()
    assert fresh.parent == tmp_path
