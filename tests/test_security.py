"""Issue #19: no upload may exhaust the server. Each attack is crafted here (a few kB on disk) and must be
refused with one sentence before anything large is allocated, and the next request must still work.

Memory is measured with ``tracemalloc`` (numpy and bytearray allocations are traced): "refused before
allocating" means the peak stays far below what the file declares. ``bench/bench_attacks.py`` runs the
same files at full size against a live app and prints peak RSS.
"""

from __future__ import annotations

import json
import os
import pickle
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import attack_files as attacks
import numpy as np
import pytest
from PIL import Image

from studio.benchmark.datasets import DatasetError, UnsafePickleError, open_dataset, safe_loads, save_npz
from studio.benchmark.datasets import safe_pickle
from studio.benchmark.datasets.make_sample import SAMPLE_NPZ
from studio.benchmark.runner import Budget, NothingScored, evaluate
from studio.dense.result import DenseResult
from studio.io.guards import LimitExceeded, NpzFile, install_pil_guard, parse_json, read_image
from studio.io.masks import read_mask, read_mask_image
from studio.io.track_readers import read_dense_npz, read_render_tracks
from studio.io.trackfile import load_tracks, save_tracks
from studio.io.video import read_video, write_video
from studio.limits import Limits, parse_size
from studio.results import InputError, TrackResult
from studio.service import TrackingService, parse_queries_json
from studio.service.bench_job import check_models, run_benchmark
from studio.service.dense_job import run_dense
from studio.service.outputs import sweep_stale
from studio.service.render_job import rerender
from studio.synthetic import make_clip

MB = 1024**2
SMALL = 64 * MB  # the most any refused attack may allocate in these tests


@contextmanager
def peak_alloc():
    """``peak[0]``: the most bytes Python and numpy held at once inside the block (tracemalloc)."""
    peak = [0]
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def refused(fn, match: str, exc=InputError):
    """Run ``fn``; it must raise ``exc`` matching ``match`` while allocating less than ``SMALL``."""
    with peak_alloc() as peak, pytest.raises(exc, match=match) as err:
        fn()
    assert peak[0] < SMALL, f"allocated {peak[0] / MB:.0f} MB before refusing"
    text = str(err.value)
    assert "allow_pickle" not in text and "weights_only" not in text and "Traceback" not in text
    return text


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory) -> Path:
    clip = make_clip("translate", num_frames=12, size=(96, 128))
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_video(path, clip.video, 12.0)
    return path


@pytest.fixture
def service(tmp_path) -> TrackingService:
    return TrackingService(limits=Limits(), output_root=tmp_path / "out")


# ------------------------------------------------------------------ 1. pickle memory bombs


def test_bytearray_of_a_number_is_refused_before_allocating(tmp_path):
    blob = attacks.pickle_bytearray_bomb(1_400_000_000)
    assert len(blob) < 64
    refused(lambda: safe_loads(blob), "empty buffer of 1400000000 bytes", UnsafePickleError)
    path = tmp_path / "bomb.pkl"
    path.write_bytes(blob)
    refused(lambda: list(open_dataset(path)), "bomb.pkl: .*empty buffer", DatasetError)


def test_tracks_backed_by_empty_buffers_are_refused(tmp_path):
    path = tmp_path / "tracks.pkl"
    path.write_bytes(attacks.pickle_tracks_bomb(500_000, 24))
    assert path.stat().st_size < 8000
    refused(lambda: list(open_dataset(path)), "empty buffer", DatasetError)


def test_tracks_frames_videos_and_bytes_a_dataset_declares_are_bounded(tmp_path):
    # 500k tracks declared in an npz header (no data): refused from the header.
    many = attacks.write_npz(tmp_path / "tracks.npz", {
        "video": np.zeros((24, 8, 8, 3), np.uint8), "points": ((500_000, 24, 2), np.float32),
        "occluded": ((500_000, 24), bool)}, full=False)
    refused(lambda: list(open_dataset(many)), r"500000 tracks, more than the 100000 .*STUDIO_MAX_TRACKS", DatasetError)
    # Frames, videos and pixels per frame, each with its setting named.
    long = attacks.write_npz(tmp_path / "long.npz", {
        "video": ((9000, 8, 8, 3), np.uint8), "points": ((4, 9000, 2), np.float32),
        "occluded": ((4, 9000), bool)}, full=False)
    refused(lambda: list(open_dataset(long)), "9000 frames, more than the 5000 .*STUDIO_MAX_VIDEO_FRAMES",
            DatasetError)
    wide = attacks.write_npz(tmp_path / "wide.npz", {
        "video": ((2, 8000, 8000, 3), np.uint8), "points": np.zeros((4, 2, 2), np.float32),
        "occluded": np.zeros((4, 2), bool)}, full=False)
    refused(lambda: list(open_dataset(wide)), "8000x8000 frames, more than the 40000000 pixels", DatasetError)
    rec = {"video": np.zeros((2, 4, 4, 3), np.uint8), "points": np.zeros((1, 2, 2), np.float32),
           "occluded": np.zeros((1, 2), bool)}
    listed = tmp_path / "listed.pkl"
    listed.write_bytes(pickle.dumps([rec] * 5))
    refused(lambda: list(open_dataset(listed, Limits(max_videos=4))), "5 videos, more than the 4", DatasetError)
    # A 3.2 GB video in a dataset npz (the 2 MB file): its header is enough to refuse it.
    bomb = attacks.dataset_npz_bomb(tmp_path / "video.npz", full=False)
    refused(lambda: list(open_dataset(bomb)), "declares a 64x4096x4096x3 uint8 array of 3 GiB, more than the 1 GiB",
            DatasetError)


def test_the_same_bytes_named_many_times_are_counted_each_time():
    blob = attacks.pickle_memo_bomb(chunk=256 * 1024, copies=64)  # 16 MB of copies from a 256 kB file
    assert len(blob) < 300_000
    refused(lambda: safe_loads(blob, max_bytes=8 * MB), r"copies more than 8 MiB", UnsafePickleError)
    assert len(safe_loads(blob, max_bytes=32 * MB)) == 64  # within the budget it loads: the budget is the cause
    # By default a pickle may copy about twice its own size (+16 MB): 50 MB from a 256 kB file is refused.
    refused(lambda: safe_loads(attacks.pickle_memo_bomb(chunk=256 * 1024, copies=200)),
            r"copies more than 16\.\d MiB of arrays while loading, more than its own data can fill", UnsafePickleError)


def test_opcode_floods_and_lengths_past_the_end_are_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(safe_pickle, "MAX_PICKLE_OPS", 10_000)
    flood = tmp_path / "flood.pkl"
    flood.write_bytes(attacks.pickle_opcode_bomb(20_000))
    refused(lambda: list(open_dataset(flood)), "more than 10000 opcodes", DatasetError)
    refused(lambda: safe_loads(attacks.pickle_length_bomb()), "declares 1152921504606846976 bytes where only 1",
            UnsafePickleError)
    # A real pickle of every supported kind still loads under the scan.
    ok = pickle.dumps({"a": np.arange(5), "b": [1, (2, 3)], "c": b"x" * 100}, protocol=5)
    assert safe_loads(ok)["c"] == b"x" * 100


# ------------------------------------------------------------------ 2. decompression bombs


def test_png_frames_in_a_pickle_are_checked_from_their_headers(tmp_path):
    big = tmp_path / "kinetics_big.pkl"
    big.write_bytes(attacks.kinetics_png_pickle(8000, 8000, 20, full=False))
    videos = list(open_dataset(big))  # frames are not decoded until a video is used
    # (the size in brackets is missing when PIL's own guard, set by an app built earlier, fires first)
    refused(videos[0].frames, r"frame 0 has 64000000 pixels( \(8000x8000\))?, more than the 40000000", DatasetError)
    # Frames within the pixel limit whose video exceeds the byte limit: refused before decoding any.
    many = tmp_path / "kinetics_many.pkl"
    many.write_bytes(attacks.kinetics_png_pickle(2000, 2000, 100, full=False))
    video = list(open_dataset(many, Limits(max_array_bytes=512 * MB)))[0]
    refused(video.frames, r"100 decoded frames declares a 100x2000x2000x3 uint8 array", DatasetError)
    # A real small PNG video decodes.
    small = tmp_path / "kinetics_small.pkl"
    small.write_bytes(attacks.kinetics_png_pickle(32, 24, 3, full=True))
    assert list(open_dataset(small))[0].frames().shape == (3, 24, 32, 3)


def test_render_track_npz_with_a_million_tracks_is_refused(tmp_path):
    bomb = attacks.sparse_tracks_bomb(tmp_path / "tracks.npz", full=False)
    refused(lambda: read_render_tracks(bomb), "1000000 tracks, more than the 100000")
    refused(lambda: load_tracks(bomb), "1000000 tracks")


def test_dense_npz_bombs_and_nan_positions_are_refused(tmp_path):
    bomb = attacks.dense_tracks_bomb(tmp_path / "dense.npz", full=False)
    refused(lambda: read_render_tracks(bomb), r"dense\.npz: the dense positions declares a 100x1080x1920x2 float32 "
            r"array of 1\.5 GiB, more than the 1 GiB")
    refused(lambda: read_dense_npz(bomb, Limits(max_image_pixels=10**6)), "1920x1080 dense grid, more than the 1000000")
    nan = np.zeros((2, 4, 5, 2), np.float32)
    nan[1, 2, 3] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, tracks=nan, visible=np.ones((2, 4, 5), bool))
    refused(lambda: read_render_tracks(path), "NaN or infinite positions")


def test_mask_png_bombs_are_refused_from_their_header(tmp_path):
    mask = tmp_path / "mask.png"
    mask.write_bytes(attacks.png_bytes(28000, 15867, full=False))
    refused(lambda: read_image(mask), r"mask.png has 444276000 pixels, more than the 40000000")
    medium = tmp_path / "medium.png"
    medium.write_bytes(attacks.png_bytes(3000, 2000, full=False))
    refused(lambda: read_image(medium, limits=Limits(max_image_pixels=1000)), r"has 6000000 pixels \(3000x2000\)")
    refused(lambda: read_mask_image(mask, (96, 128)), "444276000 pixels")
    refused(lambda: read_mask(mask, (96, 128)), "444276000 pixels")
    # PIL's own guard (images Gradio decodes before a handler runs) follows the same limit.
    before = Image.MAX_IMAGE_PIXELS
    try:
        install_pil_guard(Limits(max_image_pixels=1000))
        with pytest.raises(Image.DecompressionBombError):
            Image.open(mask)
    finally:
        Image.MAX_IMAGE_PIXELS = before


def test_npz_members_are_checked_before_reading_and_text_named_npz_says_what_it_is(tmp_path):
    bomb = attacks.npz_declaring(tmp_path / "huge.npz", 1e12)
    with NpzFile(bomb) as z:
        assert z.shape("points") == (50_000_000_000, 10, 2)  # the header alone
        refused(lambda: z["points"], "array 'points' declares a 50000000000x10x2 float32 array of")
    text = tmp_path / "notes.npz"
    text.write_text("just some notes, not arrays")
    for read in (load_tracks, read_render_tracks, lambda p: list(open_dataset(p))):
        msg = refused(lambda: read(text), "notes.npz is not an .npz file .*it is a text file")
        assert "pickle" not in msg
    pkl = tmp_path / "pickled.npz"
    pkl.write_bytes(pickle.dumps({"a": 1}))
    refused(lambda: load_tracks(pkl), "it is a Python pickle; refused")
    obj = tmp_path / "objects.npz"
    np.savez(obj, tracks=np.array([{"a": 1}], dtype=object))
    refused(lambda: load_tracks(obj), "holds Python objects")


# ------------------------------------------------------------------ 3. JSON text


def test_queries_json_is_capped_before_parsing_and_deep_nesting_is_one_sentence():
    limits = Limits(max_points=100)  # room for ~7.4k characters
    big = json.dumps([[0, 1.123456789, 2.123456789]] * 2000)
    refused(lambda: parse_queries_json(big, limits), r"the query text is \d+ characters long, more than the 7424")
    refused(lambda: parse_queries_json(attacks.json_nested(100_000)), "more than the 161024 accepted")
    refused(lambda: parse_queries_json(attacks.json_nested(5000)), "nests lists or objects too deeply")
    refused(lambda: parse_queries_json(json.dumps([[0, 1, 2]] * 101), limits), "101 query points is more than the 100")
    assert parse_queries_json("[[0, 1, 2]]", limits).tolist() == [[0, 1, 2]]
    with pytest.raises(InputError, match="nests"):
        parse_json("[" * 3000, "x", 10_000)


def test_text_track_files_are_capped_by_size(tmp_path):
    result = TrackResult(np.zeros((3, 2, 2)), np.ones((3, 2), bool), np.zeros((2, 3)), fps=10)
    for ext in ("csv", "json"):
        path = save_tracks(result, tmp_path / f"t.{ext}")
        assert load_tracks(path).num_points == 2
        refused(lambda: load_tracks(path, Limits(max_text_bytes=20)), "of text, more than the 20 bytes")


# ------------------------------------------------------------------ 4. budget and 5. /bench models


class SlowTracker:
    """Reports progress after ``delay`` seconds per video, then returns the queries where they are."""

    name = "slow"

    def __init__(self, delay: float):
        self.delay = delay

    def track(self, video, queries, progress=None):
        time.sleep(self.delay)
        if progress:
            progress(1.0, "done")
        t = video.shape[0]
        return TrackResult(np.repeat(queries[None, :, 1:], t, 0), np.ones((t, len(queries)), bool), queries)


def test_benchmark_time_and_query_budget():
    out = evaluate(SlowTracker(0.5), SAMPLE_NPZ, "first", budget=Budget(seconds=0.75))
    assert len(out.videos) == 1 and out.stopped.startswith("stopped after")
    assert out.to_dict()["stopped"] == out.stopped
    with pytest.raises(NothingScored, match="no video of tapvid_sample could be scored .*queries, more than the 2 "
                                            "a video may pose here"):
        evaluate(SlowTracker(0), SAMPLE_NPZ, "first", budget=Budget(max_queries=2))
    with pytest.raises(NothingScored, match="stopped after .*nothing to report"):
        evaluate(SlowTracker(0), SAMPLE_NPZ, "first", budget=Budget(seconds=0))


def test_app_benchmark_run_reports_its_budget(tmp_path):
    run = run_benchmark(lambda name: SlowTracker(0.5), open_dataset(SAMPLE_NPZ), ["lk"], "first", (256, 256), None,
                        tmp_path, limits=Limits(bench_max_seconds=1))
    assert 1 <= len(run.results[0].videos) < 5
    assert "stopped after" in run.status() and "STUDIO_BENCH_MAX_SECONDS" in run.status()
    assert "stopped" in json.loads(run.json.read_text())["results"][0]


def test_benchmark_models_are_checked_against_the_query_trackers():
    assert check_models(["lk", "lk", "dot_dis"]) == ["lk", "dot_dis"]
    with pytest.raises(InputError, match="'dis' is a flow model, which tracks no query points; the benchmark scores"):
        check_models(["lk", "dis"])
    with pytest.raises(InputError, match="unknown model 'nope'"):
        check_models(["nope"])
    with pytest.raises(InputError, match="choose at least one tracker"):
        check_models([])


def test_empty_datasets_and_datasets_without_visible_points_are_errors(tmp_path):
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(pickle.dumps({}))
    with pytest.raises(DatasetError, match="empty: the dataset holds no videos"):
        evaluate(SlowTracker(0), empty, "first")
    hidden = tmp_path / "hidden.npz"
    save_npz(hidden, {"clip": {"video": np.zeros((4, 8, 8, 3), np.uint8), "points": np.zeros((2, 4, 2), np.float32),
                               "occluded": np.ones((2, 4), bool)}})
    with pytest.raises(NothingScored, match="clip: no point is visible at a query frame"):
        evaluate(SlowTracker(0), hidden, "strided")


# ------------------------------------------------------------------ 6. files


def test_saves_are_atomic_and_a_killed_save_leaves_nothing(tmp_path, monkeypatch):
    r = DenseResult(np.zeros((2, 3, 4, 2)), np.ones((2, 3, 4), bool))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # what a stop mid-save looks like

    monkeypatch.setattr(np.lib.format, "write_array", killed)
    with pytest.raises(KeyboardInterrupt):
        r.save(tmp_path / "dense.npz")
    monkeypatch.setattr(np, "savez_compressed", killed)
    with pytest.raises(KeyboardInterrupt):
        save_tracks(TrackResult(np.zeros((1, 1, 2)), np.ones((1, 1), bool), np.zeros((1, 3))), tmp_path / "t.npz")
    assert list(tmp_path.iterdir()) == []  # no 0-byte npz, no temporary file


def test_stale_files_are_swept(tmp_path):
    old = time.time() - 7200
    stale_dir, fresh_dir = tmp_path / "0123abcd", tmp_path / "fresh"
    stale_dir.mkdir()
    fresh_dir.mkdir()
    (stale_dir / "upload.mp4").write_bytes(b"x")
    os.utime(stale_dir, (old, old))
    for name, data in (("tmpa1b2", b""), ("tmpc3d4", b""), (".x.npz.1234abcd.part", b"half")):
        (fresh_dir / name).write_bytes(data)
        os.utime(fresh_dir / name, (time.time() - 120,) * 2)
    (fresh_dir / "tmpnew").write_bytes(b"")  # still being written: kept
    (fresh_dir / "result.npz").write_bytes(b"data")
    assert sweep_stale(tmp_path, max_age_s=3600) == 4
    assert sorted(p.name for p in fresh_dir.iterdir()) == ["result.npz", "tmpnew"]
    assert not stale_dir.exists()


def test_dense_request_checks_every_argument_before_decoding(service, clip_path):
    for kwargs, words in (({"mode": "nope"}, "unknown render mode 'nope'"),
                          ({"model": "lk"}, "'lk' is a point model"),
                          ({"num_tracks": 10**6}, "number of initial tracks must be 1..16384")):
        with pytest.raises(InputError, match=words):
            run_dense(service, str(clip_path), **kwargs)
    with pytest.raises(InputError, match="grid size must be 1..50"):
        service.grid(str(clip_path), 10_000, 0)
    assert service.video_decodes == 0


# ------------------------------------------------------------------ 8. validation gaps


def test_track_file_fps_is_bounded_and_the_video_rate_wins(service, clip_path, tmp_path):
    fast = tmp_path / "fast.npz"
    np.savez(fast, tracks=np.zeros((12, 1, 2), np.float32), visible=np.ones((12, 1), bool),
             queries=np.zeros((1, 3), np.float32), fps=np.float64(1e9))
    refused(lambda: load_tracks(fast),
            r"'fps' in fast.npz must be a number of frames per second in 0..1000, got 1e\+09")
    with pytest.raises(InputError, match="fps must be at most 1000"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8, 3), np.uint8), 1e9)
    ok = tmp_path / "ok.npz"
    save_tracks(TrackResult(np.full((12, 1, 2), 5.0), np.ones((12, 1), bool), np.array([[0, 5, 5]]), fps=500),
                ok)
    out = rerender(service, str(clip_path), str(ok), "points")
    assert read_video(out.path).fps == pytest.approx(12.0)  # the video's rate, not the file's 500


def test_cli_applies_the_apps_limits_and_speaks_in_one_line(clip_path, tmp_path, capsys, monkeypatch):
    from studio.cli import main

    cases = [
        (["track", clip_path, "--points", ""], "no points given"),
        (["track", clip_path, "--grid", "10000"], "grid size must be 1..50 (at most 2500 points), got 10000"),
        (["bench", attacks.npz_declaring(tmp_path / "huge.npz"), "--model", "lk", "--query-mode", "first"],
         "50000000000 tracks, more than the 100000"),
    ]
    text = tmp_path / "text.npz"
    text.write_text("hello")
    cases.append((["bench", text, "--model", "lk", "--query-mode", "first"], "text.npz is not an .npz file"))
    wide = tmp_path / "wide.png"
    Image.fromarray(np.full((10, 100), 255, np.uint8)).save(wide)
    cases.append((["dense", clip_path, "--mask", wide, "--out", tmp_path / "d.npz"],
                  "the mask is 100x10 but the video is 128x96"))
    for args, words in cases:
        assert main([str(a) for a in args]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1 and "allow_pickle" not in err, err
    monkeypatch.setenv("STUDIO_MAX_POINTS", "4")
    assert main(["track", str(clip_path), "--points", "0,1,1;0,2,2;0,3,3;0,4,4;0,5,5"]) == 2
    assert "5 query points is more than the 4" in capsys.readouterr().err


def test_limit_settings_parse_sizes(monkeypatch):
    assert parse_size("200mb") == 200 * MB and parse_size("2gb") == 2 * 1024**3 and parse_size("512") == 512
    monkeypatch.setenv("STUDIO_MAX_ARRAY_BYTES", "16mb")
    monkeypatch.setenv("STUDIO_MAX_TRACKS", "7")
    limits = Limits.from_env()
    assert limits.max_array_bytes == 16 * MB and limits.max_tracks == 7
    monkeypatch.setenv("STUDIO_MAX_ARRAY_BYTES", "lots")
    with pytest.raises(ValueError, match="STUDIO_MAX_ARRAY_BYTES must be a size such as 200mb"):
        Limits.from_env()


# ------------------------------------------------------------------ the live app: every path, then a normal request

gr = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402

from studio.ui.app import build_demo, launch_kwargs  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory, clip_path):
    """The app on loopback, one request per client at a time; Gradio's cache in a folder with a crash's leftovers."""
    import socket

    cache = tmp_path_factory.mktemp("gradio")
    old = time.time() - 7200
    (cache / "stale-run").mkdir()
    (cache / "stale-run" / "upload.mp4").write_bytes(b"x")
    os.utime(cache / "stale-run", (old, old))
    (cache / "tmpleft").write_bytes(b"")
    os.utime(cache / "tmpleft", (old, old))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(cache))
        service = TrackingService(limits=Limits(max_client_requests=1), output_root=tmp_path_factory.mktemp("out"))
        demo = build_demo(service)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                                **launch_kwargs())
        yield {"url": url, "service": service, "demo": demo, "cache": cache, "client": Client(url, verbose=False)}
        demo.close()


def normal_request(client, clip_path) -> str:
    """The request every attack is followed by: two points on a 12-frame clip."""
    *_, status = client.predict(video=handle_file(str(clip_path)), queries_json="[[0, 40, 30], [5, 60, 50]]",
                                model="lk", api_name="/track")
    assert "lk: 2 points x 12 frames" in status
    return status


def test_start_up_swept_gradios_cache(live):
    assert not (live["cache"] / "stale-run").exists() and not (live["cache"] / "tmpleft").exists()
    assert live["demo"].client_cap == 1


def api_attacks(tmp: Path, clip_path: Path) -> list[tuple[str, dict, str]]:
    """``(endpoint, inputs, words of the refusal)`` for every upload path of the API."""
    (tmp / "mask.png").write_bytes(attacks.png_bytes(28000, 15867, full=False))
    (tmp / "bytearray.pkl").write_bytes(attacks.pickle_bytearray_bomb())
    (tmp / "kinetics.pkl").write_bytes(attacks.kinetics_png_pickle(8000, 8000, 20, full=False))
    (tmp / "notes.npz").write_text("not an npz at all")
    attacks.dataset_npz_bomb(tmp / "video.npz", full=False)
    video = handle_file(str(clip_path))
    mask = handle_file(str(tmp / "mask.png"))
    return [
        ("/track", {"video": video, "queries_json": json.dumps([[0, 1.0, 1.0]] * 20_000)}, "characters long"),
        ("/track", {"video": video, "queries_json": attacks.json_nested(5000)}, "nests lists or objects too deeply"),
        ("/track", {"video": video, "grid_size": 4, "mask": mask}, "444276000 pixels"),
        ("/track", {"video": video, "queries_json": "[[0, 4, 4]]", "mask": handle_file(str(clip_path))},
         "a mask only selects the points of a grid"),
        ("/dense", {"video": video, "mask": mask}, "444276000 pixels"),
        ("/dense", {"video": video, "mode": "nope"}, "unknown render mode 'nope'"),
        ("/bench", {"dataset": [handle_file(str(tmp / "bytearray.pkl"))]}, "empty buffer of 1400000000 bytes"),
        ("/bench", {"dataset": [handle_file(str(tmp / "video.npz"))]}, "declares a 64x4096x4096x3 uint8 array"),
        ("/bench", {"dataset": [handle_file(str(tmp / "notes.npz"))]}, "is not an .npz file"),
        ("/bench", {"use_sample": True, "models": "dis"}, "'dis' is a flow model, which tracks no query points"),
        ("/compare", {"video": video, "models": "lk,dot_dis", "queries_json": json.dumps([[0, 1.0, 1.0]] * 20_000)},
         "characters long"),
        ("/compare", {"video": video, "models": "lk,dot_dis", "truth": handle_file(str(tmp / "bytearray.pkl"))},
         "empty buffer of 1400000000 bytes"),
        ("/compare", {"video": video, "models": "lk,dot_dis", "truth": handle_file(str(tmp / "video.npz"))},
         "declares a 64x4096x4096x3 uint8 array"),
        ("/compare", {"video": video, "models": "lk,dis", "grid_size": 2}, "'dis' is a flow model"),
    ]


def test_every_api_attack_is_one_sentence_and_the_next_request_works(live, clip_path, tmp_path):
    client = live["client"]
    for endpoint, inputs, words in api_attacks(tmp_path, clip_path):
        with pytest.raises(Exception) as err:
            client.predict(**inputs, api_name=endpoint)
        text = str(err.value)
        assert words in text and "Traceback" not in text and "Something went wrong" not in text, (endpoint, text)
        assert "allow_pickle" not in text
        normal_request(client, clip_path)
    # The Kinetics-style pickle is accepted as a file; its frames are refused when the video is used.
    with pytest.raises(Exception, match=r"frame 0 has 64000000 pixels"):
        (tmp_path / "k.pkl").write_bytes(attacks.kinetics_png_pickle(8000, 8000, 20, full=False))
        client.predict(dataset=[handle_file(str(tmp_path / "k.pkl"))], api_name="/bench")
    normal_request(client, clip_path)


def test_a_resized_grid_mask_is_named_in_the_track_status(live, clip_path, tmp_path):
    mask = np.zeros((48, 64), np.uint8)  # the clip is 128x96: same aspect, half size
    mask[10:40, 10:50] = 255
    Image.fromarray(mask).save(tmp_path / "half.png")
    *_, status = live["client"].predict(video=handle_file(str(clip_path)), grid_size=4,
                                        mask=handle_file(str(tmp_path / "half.png")), api_name="/track")
    assert "note: mask resized 64×48 → 128×96" in status


@pytest.fixture(scope="module")
def long_dataset(tmp_path_factory) -> Path:
    """20 videos that take lk several seconds in all (each is tracked at 256x256)."""
    rng = np.random.default_rng(0)
    clip = make_clip("translate", num_frames=16, size=(64, 64))
    videos = {f"v{i:02d}": {"video": clip.video, "points": rng.uniform(0.1, 0.9, (200, 16, 2)).astype(np.float32),
                            "occluded": np.zeros((200, 16), bool)} for i in range(20)}
    return save_npz(tmp_path_factory.mktemp("long") / "long.npz", videos, compress=False)


def run_files(service) -> dict[str, int]:
    """Files per run folder of the service."""
    return {p.name: sum(1 for f in p.rglob("*") if f.is_file()) for p in service.output_root.iterdir()}


def wait_for_predictions(service, before: set, timeout: float = 30.0) -> None:
    """Until a new run folder holds a first video's predictions (the request is running, not waiting)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if any(v > 0 for k, v in run_files(service).items() if k not in before):
            return
        time.sleep(0.1)
    raise AssertionError("the benchmark never started")


def wait_until_stable(service, seconds: float = 2.0, timeout: float = 30.0) -> dict[str, int]:
    last, since, start = run_files(service), time.monotonic(), time.monotonic()
    while time.monotonic() - since < seconds and time.monotonic() - start < timeout:
        time.sleep(0.25)
        now = run_files(service)
        if now != last:
            last, since = now, time.monotonic()
    return last


def test_one_client_cannot_hold_the_queue_and_cancelled_work_stops(live, clip_path, long_dataset):
    client, service = live["client"], live["service"]
    before = set(run_files(service))
    job = client.submit(dataset=[handle_file(str(long_dataset))], models="lk", api_name="/bench")
    wait_for_predictions(service, before)
    with pytest.raises(Exception, match=r"this client already has 1 request waiting or running.*"
                                        r"STUDIO_MAX_CLIENT_REQUESTS = 1"):
        client.predict(use_sample=True, api_name="/bench")
    job.cancel()
    runs = {k: v for k, v in wait_until_stable(service).items() if k not in before}
    assert len(runs) == 1 and 0 < list(runs.values())[0] < 20  # some videos' predictions, then nothing more
    run = service.output_root / next(iter(runs))
    assert not (run / "results.csv").exists() and not (run / "results.json").exists()
    normal_request(client, clip_path)  # the cancelled request no longer counts against the client


def test_work_whose_client_disconnects_stops(live, clip_path, long_dataset):
    """A raw client joins the queue, reads a few progress messages and hangs up."""
    import uuid

    import httpx

    service = live["service"]
    before = set(run_files(service))
    api = live["url"].rstrip("/") + "/gradio_api"
    with open(long_dataset, "rb") as f:
        uploaded = httpx.post(f"{api}/upload", files={"files": ("long.npz", f)}).json()[0]
    fn = next(f for f in live["demo"].fns.values() if f.api_name == "bench")
    session = uuid.uuid4().hex
    data = [[{"path": uploaded, "meta": {"_type": "gradio.FileData"}, "orig_name": "long.npz"}], False, "lk",
            "first", False, 0]
    joined = httpx.post(f"{api}/queue/join", json={"data": data, "fn_index": fn._id, "session_hash": session,
                                                    "event_data": None, "trigger_id": None})
    assert joined.status_code == 200, joined.text
    with httpx.stream("GET", f"{api}/queue/data", params={"session_hash": session}, timeout=30) as stream:
        for line in stream.iter_lines():
            if "progress" in line and any(v > 0 for k, v in run_files(service).items() if k not in before):
                break  # hang up mid-run, once the first video is scored
    runs = {k: v for k, v in wait_until_stable(service).items() if k not in before}
    assert len(runs) == 1 and 0 < list(runs.values())[0] < 20
    assert not (service.output_root / next(iter(runs)) / "results.csv").exists()
    normal_request(live["client"], clip_path)
