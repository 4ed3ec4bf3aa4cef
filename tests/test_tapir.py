"""TAPIR family (``tapir``, ``bootstapir``, ``bootstapir_online``): layout, loading, equivalence, adapter, streaming.

``fixtures/tapir_keys.json`` holds the official key names, shapes and parameter counts,
recorded by building google-deepmind's PyTorch modules outside this project.
``fixtures/tapir_golden.npz`` holds outputs of those *upstream* modules
(``fixtures/make_tapir_golden.py``, run in a separate environment) on weights made by
``tapir_weights.official_state_dict`` (a seeded recipe from the key list, shared by both
sides, so no weights are stored) and on frames of ``examples/hopper_orbit.mp4``, with queries
on several frames. Our trackers must reproduce them through the public API to 1e-3 px with
identical visibility. Behaviour tests use the same architectures at a 64 x 64 initial
resolution, which is 16 times cheaper than the released 256 x 256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hubcache import put_in_cache
from tapir_weights import official_state_dict

from studio.hub import CheckpointMismatch, WeightsUnavailable
from studio.registry import create_tracker, list_trackers, tracker_info, weight_status
from studio.results import InputError
from studio.trackers.tapir.adapter import TapirOnline, TapirTracker, build_model, build_tracker, resize_video
from studio.trackers.tapir.model import refinement_resolutions
from studio.trackers.tapir.variants import HUB_REPO, HUB_REVISION, MODEL_RESOLUTION, VARIANTS

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
KEYS = json.loads((FIXTURES / "tapir_keys.json").read_text())["models"]
NAMES = ["tapir", "bootstapir", "bootstapir_online"]
TINY = (64, 64)


# ---------------------------------------------------------------------------------------------
# helpers

_WEIGHTS: dict[str, dict] = {}


def weights(name: str) -> dict:
    """The seeded official-layout weights of ``name`` (made once per session)."""
    if name not in _WEIGHTS:
        _WEIGHTS[name] = official_state_dict(name)
    return _WEIGHTS[name]


def tracker(name: str, initial=TINY, **options) -> TapirTracker:
    """The variant's adapter with the seeded weights, at initial resolution ``initial``."""
    v = VARIANTS[name]
    model = build_model(v, initial_resolution=initial)
    model.load_state_dict(weights(name), strict=True)
    return (TapirOnline if v.causal else TapirTracker)(model, v, "cpu", **options)


def clip(num_frames: int = 8, size=(48, 72), seed: int = 0) -> np.ndarray:
    """A smooth random uint8 video [T, H, W, 3] whose content drifts right by 2 px a frame."""
    import cv2

    rng = np.random.default_rng(seed)
    wide = cv2.GaussianBlur(rng.integers(0, 256, (size[0], size[1] + 2 * num_frames, 3), dtype=np.uint8), (0, 0), 2)
    return np.stack([np.ascontiguousarray(wide[:, 2 * (num_frames - t) : 2 * (num_frames - t) + size[1]])
                     for t in range(num_frames)])


QUERIES = np.array([[0, 4.0, 5.0], [3, 30.5, 20.25], [7, 71.5, 47.5], [5, -0.5, 30.0]], np.float32)


# ---------------------------------------------------------------------------------------------
# registry, layout and loading


def test_family_is_registered_with_pinned_hub_files():
    assert set(NAMES) <= set(list_trackers("point"))
    for name in NAMES:
        e, v = tracker_info(name), VARIANTS[name]
        assert e.kind == "point" and e.online == v.causal and e.input_resolution == MODEL_RESOLUTION == (256, 256)
        assert e.checkpoint.repo_id == HUB_REPO == "google/tapnet" and e.checkpoint.filename == v.filename
        assert e.checkpoint.revision == HUB_REVISION and len(HUB_REVISION) == 40
        assert e.license == "Apache-2.0" and "arXiv:" in e.paper and "sigmoid(expected_dist)" in e.visibility
        assert ("inferred, not confirmed" in e.notes) == (not v.verified_revision)
    assert "2306.08637" in tracker_info("tapir").paper and "2402.00847" in tracker_info("bootstapir").paper
    assert VARIANTS["bootstapir"].verified_revision
    assert [VARIANTS[n].softmax_temperature for n in NAMES] == [20.0, 10.0, 10.0]


@pytest.mark.parametrize("name", NAMES)
def test_network_has_the_official_keys_shapes_and_parameter_count(name):
    model = build_model(VARIANTS[name])
    assert {k: list(t.shape) for k, t in model.state_dict().items()} == KEYS[name]["keys"]
    assert sum(p.numel() for p in model.parameters()) == KEYS[name]["num_params"] == VARIANTS[name].num_params
    config, v = KEYS[name]["config"], VARIANTS[name]
    assert (config["pyramid_level"], config["extra_convs"], config["softmax_temperature"]) == (
        v.pyramid_level, v.extra_convs, v.softmax_temperature)
    assert config.get("use_casual_conv", False) == v.causal  # upstream's spelling


def test_official_file_loads_strictly_through_create_tracker(tmp_path):
    path = tmp_path / VARIANTS["tapir"].filename
    torch.save(weights("tapir"), path)
    t = create_tracker("tapir", device="cpu", checkpoint=path)
    assert isinstance(t, TapirTracker) and not isinstance(t, TapirOnline) and t.name == "tapir"
    own = t.model.state_dict()
    for k, v in weights("tapir").items():
        assert torch.equal(own[k], v), k
    assert t.resolution == (256, 256) and t.device.type == "cpu" and not t.model.training


def test_cached_hub_file_is_found_at_the_pinned_revision(empty_hub_cache, tmp_path):
    v = VARIANTS["bootstapir_online"]
    assert weight_status(v.name) == "unavailable"
    # A cheap file of the right layout: constant tensors (expanded, so the file is tiny).
    payload = tmp_path / "payload.pt"
    torch.save({k: torch.full((1,), 0.25).expand(shape) for k, shape in KEYS[v.name]["keys"].items()}, payload)
    put_in_cache(empty_hub_cache, HUB_REPO, v.filename, payload, HUB_REVISION)
    assert weight_status(v.name) == "cached"
    t = create_tracker(v.name)
    assert isinstance(t, TapirOnline) and t.model.causal
    assert bool((t.model.torch_pips_mixer.linear.weight == 0.25).all())


def test_wrong_or_prefixed_files_fail_naming_the_keys(tmp_path):
    def cheap_file(name: str, path: Path, prefix: str = "") -> Path:
        torch.save({prefix + k: torch.zeros(1).expand(s) for k, s in KEYS[name]["keys"].items()}, path)
        return path

    with pytest.raises(CheckpointMismatch) as err:
        create_tracker("bootstapir", device="cpu", checkpoint=cheap_file("tapir", tmp_path / "panning.pt"))
    msg = str(err.value)
    assert "panning.pt" in msg and "missing" in msg and "extra_convs.blocks.0.conv.weight" in msg
    assert "torch_pips_mixer.linear.weight: checkpoint (512, 486) vs model (512, 535)" in msg
    # The official files are raw state dicts: a prefixed copy is a different layout, said so.
    with pytest.raises(CheckpointMismatch, match=r"unexpected: module\.extra_convs"):
        create_tracker("bootstapir", device="cpu", checkpoint=cheap_file("bootstapir", tmp_path / "p.pt", "module."))
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        create_tracker("tapir", device="cpu", checkpoint=tmp_path / "nothing.pt")


# ---------------------------------------------------------------------------------------------
# equivalence with the upstream modules (outputs recorded outside the project)


@pytest.fixture(scope="module")
def golden():
    return np.load(FIXTURES / "tapir_golden.npz")


@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    from studio.io.video import read_video

    return read_video(ROOT / "examples" / "hopper_orbit.mp4").frames


GOLDEN_CASES = {
    # case: (model, working resolution, initial resolution)
    "tapir": ("tapir", (256, 256), (256, 256)),
    "bootstapir": ("bootstapir", (256, 256), (256, 256)),
    "bootstapir_online": ("bootstapir_online", (256, 256), (256, 256)),
    "tapir_multires": ("tapir", (96, 96), (64, 64)),
    "bootstapir_online_multires": ("bootstapir_online", (96, 96), (64, 64)),
}


@pytest.mark.parametrize("case", list(GOLDEN_CASES))
def test_tracks_match_the_upstream_modules(case, golden, hopper):
    name, work, initial = GOLDEN_CASES[case]
    frames = hopper[golden[f"{case}/clip_frames"]]
    # The model sees exactly the frames upstream saw.
    assert hashlib.md5(resize_video(frames, work).tobytes()).hexdigest() == str(golden[f"{case}/frames_md5"])
    t = tracker(name, initial, resolution=work)
    assert len(t.refinement_resolutions) == (2 if "multires" in case else 1)
    q = golden[f"{case}/queries"]
    r = t.track(frames, q)  # the public API: studio pixels of the 360x480 clip in and out
    ref_tracks = golden[f"{case}/tracks"].transpose(1, 0, 2)  # upstream [N, T, 2] raster pixels of the model input
    occ, expd = golden[f"{case}/occlusion"].T, golden[f"{case}/expected_dist"].T
    ref_conf = (1 - 1 / (1 + np.exp(-occ))) * (1 - 1 / (1 + np.exp(-expd)))
    # Compared in the model's pixels: ours mapped back with the convention under test.
    h, w = frames.shape[1:3]
    ours = (r.tracks + 0.5) * np.array([work[1] / w, work[0] / h], np.float32)
    frame = np.arange(len(frames))[:, None]
    tq = q[None, :, 0]
    known = frame >= tq if VARIANTS[name].causal else np.ones_like(frame >= tq)
    other = known & (frame != tq)  # the query frame itself is the query point (studio rule)
    assert np.abs(ours - ref_tracks)[other].max() <= 1e-3
    assert (r.visible[other] == (ref_conf[other] > 0.5)).all()
    assert np.abs(r.confidence - ref_conf)[known].max() <= 1e-4
    # Nothing trivial was compared: points move, some are visible and some are not.
    assert 0.05 < r.visible[other].mean() < 0.95 and np.abs(np.diff(ref_tracks, axis=0))[other[1:]].max() > 5
    if VARIANTS[name].causal:
        assert not r.visible[frame < tq].any()


# ---------------------------------------------------------------------------------------------
# adapter conventions


def test_pixels_to_raster_and_back():
    t = tracker("tapir")
    t.resolution = (256, 256)
    size = (360, 480)
    corners = np.array([[-0.5, -0.5], [479.5, 359.5], [0.0, 0.0]], np.float32)
    raster = t.to_raster(corners, size)
    np.testing.assert_allclose(raster[:2], [[0, 0], [256, 256]], atol=1e-5)  # image corners map to corners
    np.testing.assert_allclose(raster[2], [0.5 * 256 / 480, 0.5 * 256 / 360], atol=1e-6)  # centre of pixel 0
    np.testing.assert_allclose(t.from_raster(raster, size), corners, atol=1e-4)
    q = t.model_queries(np.array([[3, 0.0, 0.0]], np.float32), size)
    assert q.tolist()[0][0] == 3.0  # the frame index is untouched; x stays before y


def test_working_resolution_option_and_refinement_sizes(tmp_path):
    # The sizes upstream's generate_default_resolutions gives (recorded from its code).
    expected = {
        (256, 256): [(256, 256)],
        (320, 320): [(256, 256), (320, 320)],
        (512, 512): [(256, 256), (512, 512)],
        (384, 512): [(256, 256), (384, 512)],
        (480, 856): [(256, 256), (344, 464), (480, 856)],
        (1080, 1920): [(256, 256), (408, 496), (664, 976), (1080, 1920)],
    }
    for size, sizes in expected.items():
        assert refinement_resolutions(size, (256, 256)) == sizes, size
    t = tracker("tapir", initial=(256, 256))
    t.resolution = (512, 512)
    assert t.refinement_resolutions == [(256, 256), (512, 512)]
    for given, size in [(320, (320, 320)), ("384x512", (384, 512)), ("480", (480, 480)), ([264, 256], (264, 256))]:
        t.resolution = given
        assert t.resolution == size
    for bad in [(250, 256), (256, 260), 128, "big", "512x", (512,), None]:
        with pytest.raises(ValueError, match="resolution"):
            t.resolution = bad
    # As a registry option (the command line's --option resolution=512), on a file of the right layout.
    path = tmp_path / "panning.pt"
    torch.save({k: torch.zeros(1).expand(s) for k, s in KEYS["tapir"]["keys"].items()}, path)
    assert create_tracker("tapir", device="cpu", checkpoint=path, resolution=512).resolution == (512, 512)
    with pytest.raises(ValueError, match="does not take the options"):
        create_tracker("tapir", device="cpu", checkpoint=path, upsample=2)


@pytest.fixture(scope="module")
def tiny_tapir():
    return tracker("tapir")


def test_contract_shapes_confidence_and_query_frames(tiny_tapir):
    video = clip()
    r = tiny_tapir.track(video, QUERIES)
    assert r.tracks.shape == (8, 4, 2) and r.tracks.dtype == np.float32 and np.isfinite(r.tracks).all()
    assert r.visible.shape == (8, 4) and r.visible.dtype == bool and r.model == "tapir"
    assert r.confidence.shape == (8, 4) and ((r.confidence >= 0) & (r.confidence <= 1)).all()
    frames, rows = QUERIES[:, 0].astype(int), np.arange(4)
    np.testing.assert_array_equal(r.tracks[frames, rows], QUERIES[:, 1:])
    assert r.visible[frames, rows].all()
    off = np.ones((8, 4), bool)
    off[frames, rows] = False
    assert (r.visible[off] == (r.confidence[off] > 0.5)).all()
    # Offline: tracked before the query frame too, in the same pass.
    assert np.abs(r.tracks[:3, 1] - QUERIES[1, 1:]).max() > 0.5
    # The threshold is an option.
    assert tracker("tapir", threshold=0.0).track(video, QUERIES).visible.all()
    assert tracker("tapir", threshold=1.0).track(video, QUERIES).visible.sum() == 4


@pytest.mark.parametrize("frames, channels_in, channels_out, height, width", [(3, 48, 20, 10, 14), (2, 8, 4, 5, 6)])
def test_winograd_convolution_equals_the_direct_one(frames, channels_in, channels_out, height, width, monkeypatch):
    # BootsTAPIR's extra convolutions run as Winograd F(2x2, 3x3): same sums in another order.
    # Odd sizes (second case) fall back to the direct kernel; both must match float64.
    from studio.trackers.tapir import winograd

    g = torch.Generator().manual_seed(0)
    x = torch.randn(frames, height, width, channels_in, generator=g).permute(0, 3, 1, 2)  # channels-last
    w = torch.randn(channels_out, channels_in, 3, 3, generator=g) / (3 * channels_in**0.5)
    b = torch.randn(channels_out, generator=g)
    ref = torch.nn.functional.conv2d(x.double(), w.double(), b.double(), padding=1)
    for per_pass in (winograd.FRAMES_PER_PASS, 1):  # frames transformed together, then one by one
        monkeypatch.setattr(winograd, "FRAMES_PER_PASS", per_pass)
        y = winograd.conv3x3(x, w, b)
        assert y.shape == ref.shape and y.is_contiguous(memory_format=torch.channels_last)
        assert (y.double() - ref).abs().max() < 1e-5 * ref.abs().max()
    assert (winograd.conv3x3(x, w).double() - (ref - b.double()[:, None, None])).abs().max() < 1e-5 * ref.abs().max()


def test_chunked_work_gives_the_same_tracks(tiny_tapir):
    # A tiny work budget forces one frame and one query per chunk everywhere.
    video = clip(num_frames=4)
    q = QUERIES[:3].copy()
    q[2, 0] = 3
    small = tracker("bootstapir")
    small.model.work_floats = 1
    small.model.encoder_chunk = 1
    big = tracker("bootstapir")
    a, b = small.track(video, q), big.track(video, q)
    np.testing.assert_allclose(a.tracks, b.tracks, atol=1e-4)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-5)
    # And a query's result does not depend on the other queries.
    alone = big.track(video, q[1:2])
    np.testing.assert_allclose(alone.tracks[:, 0], b.tracks[:, 1], atol=1e-4)


def test_short_and_odd_sized_clips(tiny_tapir):
    one = tiny_tapir.track(clip(num_frames=1, size=(37, 53)), np.array([[0, 10.0, 20.0]], np.float32))
    assert one.tracks.shape == (1, 1, 2) and one.visible.all()
    two = tiny_tapir.track(clip(num_frames=2, size=(37, 53)), np.array([[1, 52.5, 36.5]], np.float32))
    assert two.tracks.shape == (2, 1, 2) and np.isfinite(two.tracks).all()
    with pytest.raises(InputError, match="outside"):
        tiny_tapir.track(clip(num_frames=2), np.array([[0, 100.0, 5.0]], np.float32))


# ---------------------------------------------------------------------------------------------
# online model: streaming


@pytest.fixture(scope="module")
def online():
    return tracker("bootstapir_online")


def test_track_equals_the_stream_fed_in_any_pieces(online):
    video = clip(num_frames=6, seed=2)
    q = np.array([[0, 4.0, 5.0], [2, 30.5, 20.25], [4, 50.0, 40.0]], np.float32)
    whole = online.track(video, q)
    online.start(q, video.shape[1:3])
    lengths = []
    for lo, hi in [(0, 1), (1, 3), (3, 4), (4, 6)]:
        tracks, visible = online.step(video[lo:hi])
        lengths.append(len(tracks))
    tracks, visible = online.finish()
    assert lengths == [1, 3, 4, 6] and tracks.shape == (6, 3, 2)
    np.testing.assert_allclose(tracks, whole.tracks, atol=1e-5)
    assert (visible == whole.visible).all()
    # Before its query frame a point is unknown: its query position, not visible; on it: the query, visible.
    assert not visible[:2, 1].any() and not visible[:4, 2].any()
    np.testing.assert_array_equal(tracks[:5, 2], np.broadcast_to(q[2, 1:], (5, 2)))
    assert visible[2, 1] and whole.confidence[:2, 1].max() == 0


def test_a_later_query_is_tracked_as_a_fresh_stream_from_its_frame(online):
    # Points do not interact, and a point's history starts empty at its query frame.
    video = clip(num_frames=6, seed=3)
    q = np.array([[0, 10.0, 12.0], [3, 33.0, 21.0]], np.float32)
    both = online.track(video, q)
    later = online.track(video[3:], np.array([[0, 33.0, 21.0]], np.float32))
    np.testing.assert_allclose(both.tracks[3:, 1], later.tracks[:, 0], atol=1e-4)
    np.testing.assert_allclose(both.confidence[3:, 1], later.confidence[:, 0], atol=1e-5)
    assert np.abs(both.tracks[4:, 1] - q[1, 1:]).max() > 0.1  # it does move after its frame


def test_stream_input_errors(online):
    fresh = tracker("bootstapir_online")
    with pytest.raises(RuntimeError, match="start"):
        fresh.step(clip(num_frames=1))
    with pytest.raises(RuntimeError, match="start"):
        fresh.finish()
    with pytest.raises(InputError, match="non-negative"):
        online.start(np.array([[-1, 3.0, 3.0]], np.float32), (48, 72))
    with pytest.raises(InputError, match="outside"):
        online.start(np.array([[0, 300.0, 3.0]], np.float32), (48, 72))
    online.start(np.array([[2, 3.0, 3.0]], np.float32), (48, 72))
    with pytest.raises(InputError, match="uint8"):
        online.step(clip(num_frames=2).astype(np.float32))
    with pytest.raises(InputError, match="uint8"):
        online.step(clip(num_frames=2, size=(40, 72)))
    tracks, visible = online.step(clip(num_frames=2))  # the stream still works after bad input
    assert tracks.shape == (2, 1, 2) and not visible.any()


def test_offline_and_online_entry_points_are_kept_apart(online, tiny_tapir):
    with pytest.raises(ValueError, match="frame by frame"):
        online.model.track(torch.zeros(2, 64, 64, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="online"):
        tiny_tapir.model.stream_step(torch.zeros(1, 64, 64, 3), None, torch.zeros(1, dtype=torch.bool),
                                     torch.zeros(1, 2))
    assert build_tracker("bootstapir_online", "cpu", None).__class__ is TapirOnline


# ---------------------------------------------------------------------------------------------
# as DOT's initializer


def test_every_family_member_is_an_initializer_choice_in_the_cli_and_the_dense_tab():
    import argparse

    from studio.cli.dense import add_dense_parser
    from studio.service import TrackingService

    parser = add_dense_parser(argparse.ArgumentParser().add_subparsers())
    choices = next(a.choices for a in parser._actions if a.dest == "initializer")
    assert set(NAMES) <= set(choices)
    # The Dense tab's "Initial tracks from" menu and the Track tab's model menu.
    assert set(NAMES) <= {name for _, name in TrackingService().model_choices()}


def test_cli_dense_with_a_tapir_initializer_from_a_local_file(tmp_path):
    from studio.cli import main
    from studio.dense import DenseResult
    from studio.io.video import write_video

    weights_file = tmp_path / "tapir_checkpoint_panning.pt"
    torch.save(weights("tapir"), weights_file)
    video = tmp_path / "clip.mp4"
    write_video(video, clip(num_frames=4, size=(48, 64), seed=5), 10)
    out = tmp_path / "dense.npz"
    code = main(["dense", str(video), "--initializer", "tapir", "--initializer-checkpoint", str(weights_file),
                 "--num-tracks", "32", "--out", str(out)])
    assert code == 0
    result = DenseResult.load(out)
    assert result.tracks.shape == (4, 48, 64, 2) and np.isfinite(result.tracks).all()


def test_dense_tracking_with_the_online_initializer():
    # Its points are unknown before their query frames; the dense pipeline uses what is visible.
    video = clip(num_frames=4, size=(48, 64), seed=4)
    dense = create_tracker("dot_dis")
    dense.initializer = tracker("bootstapir_online")
    dense.num_tracks = 48
    result = dense.track_dense(video, 0)
    assert result.tracks.shape == (4, 48, 64, 2) and np.isfinite(result.tracks).all()
    assert result.visible[0].all()


def test_dense_tab_request_with_bootstapir_kept_in_the_checkpoint_folder(checkpoint_folder, tmp_path):
    # The Dense tab's compute (run_dense) names the initializer; the service builds it from the file a
    # user keeps in the checkpoint folder, strictly, at the released 256 x 256 resolution.
    from studio.io.video import write_video
    from studio.service import Limits, TrackingService
    from studio.service.dense_job import configured_tracker, run_dense

    checkpoint_folder.mkdir(parents=True, exist_ok=True)
    torch.save(weights("bootstapir"), checkpoint_folder / VARIANTS["bootstapir"].filename)
    assert weight_status("bootstapir") == "local file"
    video = tmp_path / "clip.mp4"
    write_video(video, clip(num_frames=3, size=(48, 64), seed=6), 10)
    service = TrackingService(limits=Limits(), output_root=tmp_path / "out")
    out = run_dense(service, str(video), None, initializer="bootstapir", num_tracks=32, max_side=64)
    init = service.tracker("bootstapir")
    assert isinstance(init, TapirTracker) and init.variant.name == "bootstapir" and init.resolution == (256, 256)
    state = init.model.state_dict()
    assert all(torch.equal(state[k].cpu(), v) for k, v in weights("bootstapir").items())  # the kept file's weights
    assert configured_tracker(service, "dot_dis", "bootstapir", 32, 64).initializer is init
    assert out.result.tracks.shape == (3, 48, 64, 2) and np.isfinite(out.result.tracks).all()
    assert out.result.visible[0].all() and out.rendered.is_file()
