"""Track-On family (track_on, track_on2_dinov2, track_on2, track_on_r): layout, loading, equivalence, streaming.

``fixtures/track_on_keys.json`` holds the official key names and shapes at 384x512, recorded
by building the upstream modules (gorkaydemir/track_on, three branches) outside this project.
``fixtures/track_on_golden.npz`` holds outputs of the *upstream* code run outside this project
(CPU, with pure-torch stand-ins for mmcv's deformable attention taken from mmcv's own CPU
path) on weights made by ``studio.trackers.track_on.random_weights`` from a seed and the key
list, on 4 frames of ``examples/hopper_orbit.mp4`` (stored in the fixture) with 5 queries on
frames 0-2 plus upstream's 20x20 support grid, each model built at a reduced 96x128 model
frame (upstream's ``input_size`` option; only the position embeddings change shape) so that
the four runs take seconds. Our code must reproduce them to 1e-3 px with identical visibility.
The same comparison at 384x512 is ``bench/bench_track_on.py --compare-cmd``.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hubcache import put_in_cache

from studio.hub import CheckpointMismatch, WeightsUnavailable
from studio.registry import create_tracker, list_trackers, query_trackers, tracker_info, weight_status
from studio.results import InputError
from studio.trackers.track_on.predictor import TrackOnTracker, build_model, build_tracker, support_grid
from studio.trackers.track_on.random_weights import seeded_weights
from studio.trackers.track_on.variants import DINOV2_REPO, DINOV3_REPO, VARIANTS

FIXTURES = Path(__file__).parent / "fixtures"
KEYS = json.loads((FIXTURES / "track_on_keys.json").read_text())
GOLDEN = np.load(FIXTURES / "track_on_golden.npz")
NAMES = list(VARIANTS)
TEST_SIZE = (96, 128)
PREFIX = {"dinov2": "backbone.vit_encoder.dinov2.", "dinov3": "backbone.vit_encoder.dinov3."}


# ---------------------------------------------------------------------------------------------
# helpers


def official_keys(name: str, size: tuple[int, int] = (384, 512)) -> dict[str, list[int]]:
    """The official key -> shape map of ``name``; at another model size the position embedding follows it."""
    keys = {}
    for part in KEYS["models"][name]:
        keys.update(KEYS["parts"][part])
    for k in ("backbone.frame_pos_embedding", "backbone.pos_embedding"):
        if k in keys:
            keys[k] = [1, 256, size[0] // 4, size[1] // 4]
    return keys


@functools.lru_cache(maxsize=4)
def official_state(name: str, size=TEST_SIZE, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded weights in the official layout, in float16 (loading tests only need the layout; half the I/O).

    Cached: callers must not modify the dict.
    """
    sd = seeded_weights(official_keys(name, size), seed)
    return {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}


def backbone_part(sd: dict, vit: str) -> tuple[dict, dict]:
    """Split a full state dict into (file without the ViT, ViT weights with Hugging Face names)."""
    prefix = PREFIX[vit]
    rest = {k: v for k, v in sd.items() if not k.startswith(prefix)}
    return rest, {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def save_safetensors(sd: dict, path: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


@functools.lru_cache(maxsize=6)
def seeded_model(name: str, seed: int = 0, size=TEST_SIZE) -> torch.nn.Module:
    model = build_model(VARIANTS[name], size)
    model.load_state_dict(seeded_weights(official_keys(name, size), seed), strict=True)
    return model


def seeded_tracker(name: str, seed: int = 0, size=TEST_SIZE, **options) -> TrackOnTracker:
    """A tracker around the cached seeded network (trackers keep no state between requests)."""
    return TrackOnTracker(seeded_model(name, seed, size), VARIANTS[name], "cpu", **options)


@functools.lru_cache(maxsize=4)
def plain_run(name: str):
    """The test clip tracked without the support grid (fast), shared by several tests."""
    return seeded_tracker(name, support_grid=False).track(VIDEO, QUERIES)


def assert_loaded(tracker: TrackOnTracker, sd: dict) -> None:
    own = tracker.model.state_dict()
    assert set(own) == set(sd)
    for k, v in sd.items():
        assert torch.equal(own[k], v.to(own[k].dtype)), k


VIDEO = GOLDEN["video"]  # 4 frames, 72x96, from examples/hopper_orbit.mp4
QUERIES = GOLDEN["queries"]  # frames 0, 0, 1, 2, 0


# These networks are large for a CPU; one thread keeps them predictable on a shared 2-core machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def no_token(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("studio.hub.has_token", lambda: False)


# ---------------------------------------------------------------------------------------------
# registry, menus, key layout


def test_family_is_registered_with_files_licences_papers_and_in_every_menu(tmp_path):
    from studio.service import TrackingService

    assert set(NAMES) <= set(list_trackers("point")) and set(NAMES) <= set(query_trackers())
    for name, v in VARIANTS.items():
        e = tracker_info(name)
        assert e.kind == "point" and e.online and e.input_resolution == (384, 512)
        assert (e.checkpoint.repo_id, e.checkpoint.filename) == (v.repo_id, v.filename)
        assert "MIT" in e.license and ("DINOv3 License" if v.vit == "dinov3" else "Apache-2.0") in e.license
        assert ("2501.18487" if v.version == 1 else "2509.19115") in e.paper and "DINOv" in e.paper
        assert "no commit hash" in e.notes and "start/step/finish" in e.notes
    assert tracker_info("track_on").extra_files == ()
    dinov2 = tracker_info("track_on2_dinov2").extra_files
    assert [(f.repo_id, f.filename, f.gated) for f in dinov2] == [(DINOV2_REPO, "model.safetensors", False)]
    for name in ("track_on2", "track_on_r"):
        (f,) = tracker_info(name).extra_files
        assert (f.repo_id, f.gated) == (DINOV3_REPO, True) and "(gated)" in str(f)
        assert "licence" in tracker_info(name).notes and "HF_TOKEN" in tracker_info(name).notes
    service = TrackingService(output_root=tmp_path)
    track_menu = [n for _, n in service.model_choices()]  # Track tab and the Dense tab's initializer menu
    bench_menu = [n for _, n in service.model_choices(dense=True)]  # Benchmark tab
    assert set(NAMES) <= set(track_menu) and set(NAMES) <= set(bench_menu)
    row = next(r for r in service.models_table() if r["name"] == "track_on2")
    assert [f["repo_id"] for f in row["files"]] == ["gorkaydemir/track_on2", DINOV3_REPO]
    assert row["files"][1]["gated"] and "(gated)" in row["checkpoint"]


def test_benchmark_shows_the_published_numbers_of_each_release():
    from studio.benchmark.report import published_for

    assert [r.delta_avg for r in published_for("track_on2", "davis", "first")] == [79.9]
    assert [r.delta_avg for r in published_for("track_on_r", "robotap", "first")] == [82.6]
    assert [r.aj for r in published_for("track_on", "davis", "first")] == [65.0]
    assert [r.delta_avg for r in published_for("track_on2_dinov2", "kinetics", "first")] == [69.1]


@pytest.mark.parametrize("name", ["track_on", "track_on2_dinov2", "track_on2"])
def test_state_dict_matches_the_official_keys_shapes_and_sizes(name):
    model = build_model(VARIANTS[name])
    own = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert own == official_keys(name)
    assert sum(v.numel() for v in model.state_dict().values()) == KEYS["values"][name]


def test_support_grid_is_upstreams():
    g = support_grid(20, (384, 512))
    assert g.shape == (400, 2) and g.dtype == np.float32
    assert np.allclose(g[0], [8, 8]) and np.allclose(g[-1], [504, 376]) and np.allclose(g[1, 0] - g[0, 0], 496 / 19)


def test_deformable_attention_has_mmcv_semantics():
    """Against a direct transcription of the formula: grid_sample per level (zeros outside), softmax
    weights over levels x points, output projection, plus the query as mmcv's implicit identity."""
    import torch.nn.functional as F

    from studio.trackers.track_on.msda import MultiScaleDeformableAttention

    torch.manual_seed(0)
    shapes = [(6, 8), (3, 4)]
    attn = MultiScaleDeformableAttention(16, heads=2, levels=2, points=3)
    with torch.no_grad():
        attn.sampling_offsets.weight.mul_(20)  # push some samples off the map
    q, value = torch.randn(2, 5, 16), torch.randn(2, 6 * 8 + 3 * 4, 16)
    ref = torch.rand(2, 5, 2, 2)
    with torch.no_grad():
        got = attn(q, value, ref, shapes)
        v = attn.value_proj(value).view(2, -1, 2, 8)
        off = attn.sampling_offsets(q).view(2, 5, 2, 2, 3, 2)
        w = attn.attention_weights(q).view(2, 5, 2, 6).softmax(-1).view(2, 5, 2, 2, 3)
        out = torch.zeros(2, 5, 2, 8)
        start = 0
        for lv, (h, wd) in enumerate(shapes):
            v_l = v[:, start : start + h * wd].permute(0, 2, 3, 1).reshape(4, 8, h, wd)
            start += h * wd
            loc = ref[:, :, None, lv, None, :] + off[:, :, :, lv] / torch.tensor([wd, h])  # [2, 5, heads, P, 2]
            grid = (2 * loc - 1).permute(0, 2, 1, 3, 4).reshape(4, 5, 3, 2)
            s = F.grid_sample(v_l, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # [4, 8, 5, 3]
            s = s.view(2, 2, 8, 5, 3).permute(0, 3, 1, 4, 2)  # [B, Q, heads, P, d]
            out += (s * w[:, :, :, lv, :, None]).sum(3)
        want = attn.output_proj(out.reshape(2, 5, 16)) + q
    assert torch.allclose(got, want, atol=1e-5)
    assert (off.abs() > 10).any()  # the check covered samples outside the map


# ---------------------------------------------------------------------------------------------
# loading


@pytest.fixture(scope="module")
def track_on_file(tmp_path_factory):
    """What main.py saves: DDP-prefixed weights under "model", optimizer state and the argparse settings."""
    sd = official_state("track_on")
    obj = {"model": {"module." + k: v for k, v in sd.items()}, "optimizer": {"state": {}}, "epoch": 3,
           "args": argparse.Namespace(memory_size=12, input_size=[384, 512])}
    path = tmp_path_factory.mktemp("track_on") / "track_on_checkpoint.pt"
    torch.save(obj, path)
    return path


def test_track_on_training_checkpoint_loads_strictly(track_on_file):
    tracker = build_tracker("track_on", "cpu", track_on_file, input_size=TEST_SIZE)
    assert_loaded(tracker, official_state("track_on"))
    assert tracker.memory == 48 and tracker.threshold == 0.8


@pytest.mark.parametrize("layout", ["raw", "model", "state_dict", "model_state", "ema_state_dict"])
def test_every_layout_upstreams_loader_accepts_is_read(layout, tmp_path):
    from studio.trackers.track_on.predictor import read_checkpoint

    weights = {"module.fpn.output.0.weight": torch.ones(2), "module.t_embedding": torch.zeros(1, 3)}
    obj = weights if layout == "raw" else {layout: weights, "args": argparse.Namespace(M=24), "epoch": 1}
    torch.save(obj, tmp_path / "f.pt")
    assert set(read_checkpoint(tmp_path / "f.pt")) == {"fpn.output.0.weight", "t_embedding"}


def test_backbone_free_file_takes_the_backbone_from_the_hub_cache(empty_hub_cache, tmp_path):
    v = VARIANTS["track_on2_dinov2"]
    sd = official_state("track_on2_dinov2", size=(384, 512))
    head, vit = backbone_part(sd, "dinov2")
    torch.save({"model": {"module." + k: t for k, t in head.items()}}, tmp_path / "head.pt")
    put_in_cache(empty_hub_cache, v.repo_id, v.filename, tmp_path / "head.pt", "a" * 40)
    put_in_cache(empty_hub_cache, DINOV2_REPO, "model.safetensors", save_safetensors(vit, tmp_path / "vit.st"),
                 "b" * 40)
    assert weight_status("track_on2_dinov2") == "cached"
    tracker = create_tracker("track_on2_dinov2")  # offline: every file comes from the cache
    assert_loaded(tracker, sd)


def test_one_local_file_with_the_backbone_needs_nothing_else(empty_hub_cache, tmp_path, no_token):
    sd = official_state("track_on2")
    path = tmp_path / "all_in_one.pt"
    torch.save({"model": sd}, path)
    assert weight_status("track_on2") == "unavailable"  # nothing cached, offline
    tracker = build_tracker("track_on2", "cpu", path, input_size=TEST_SIZE)  # the gated repo is never asked
    assert_loaded(tracker, sd)


def test_checkpoint_folder_status_check_and_options(empty_hub_cache, tmp_path, monkeypatch, no_token):
    from studio.registry import add_checkpoint, check_checkpoint

    monkeypatch.setenv("STUDIO_CHECKPOINT_DIR", str(tmp_path / "folder"))
    sd = official_state("track_on2", size=(384, 512))
    head, _ = backbone_part(sd, "dinov3")
    torch.save({"model": head}, tmp_path / "head.pt")
    torch.save({"model": sd}, tmp_path / "all.pt")
    check_checkpoint("track_on2", tmp_path / "head.pt")  # the official file: checked without fetching the ViT
    kept = add_checkpoint("track_on2", tmp_path / "head.pt")
    assert kept.name == "trackon2_dinov3_checkpoint.pt"
    assert weight_status("track_on2") == "unavailable"  # the gated ViT is still missing
    add_checkpoint("track_on2", tmp_path / "all.pt")  # a file that holds the ViT too replaces it
    assert weight_status("track_on2") == "local file"
    tracker = create_tracker("track_on2", memory=72, threshold=0.5, support_grid=False)
    assert (tracker.memory, tracker.threshold, tracker.support_grid) == (72, 0.5, False)
    with pytest.raises(ValueError, match="does not take the options"):
        create_tracker("track_on2", window=8)
    torch.save({"model": official_state("track_on")}, tmp_path / "v1.pt")
    with pytest.raises(CheckpointMismatch, match="missing"):
        check_checkpoint("track_on2", tmp_path / "v1.pt")


def test_gated_dinov3_says_accept_the_licence_and_set_a_token(empty_hub_cache, tmp_path, monkeypatch, no_token):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("studio.hub.hub_reachable", lambda timeout=3.0: True)
    v = VARIANTS["track_on2"]
    head, _ = backbone_part(official_state("track_on2", size=(384, 512)), "dinov3")
    torch.save(head, tmp_path / "head.pt")
    put_in_cache(empty_hub_cache, v.repo_id, v.filename, tmp_path / "head.pt", "c" * 40)
    assert weight_status("track_on2") == "unavailable"
    with pytest.raises(WeightsUnavailable) as err:
        create_tracker("track_on2")
    msg = str(err.value)
    assert "gated" in msg and "licence" in msg and "HF_TOKEN" in msg and f"https://huggingface.co/{DINOV3_REPO}" in msg
    assert "'track_on2'" in msg and "model.safetensors" in msg
    monkeypatch.setattr("studio.hub.has_token", lambda: True)
    assert weight_status("track_on2") == "downloadable"
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError

    def refuse(repo_id, filename, **kw):
        # Built without __init__, whose HTTP-response argument differs between huggingface_hub versions.
        raise GatedRepoError.__new__(GatedRepoError, "403: access to this model is restricted")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)  # a token, but the licence not accepted
    with pytest.raises(WeightsUnavailable, match="GatedRepoError; the token may lack access: is the licence accepted"):
        create_tracker("track_on2")


def test_missing_dinov2_backbone_offline_names_the_file(empty_hub_cache, tmp_path):
    head, _ = backbone_part(official_state("track_on2_dinov2"), "dinov2")
    torch.save({"model": head}, tmp_path / "head.pt")
    with pytest.raises(WeightsUnavailable, match=f"model.safetensors from {DINOV2_REPO}.*HF_HUB_OFFLINE"):
        build_tracker("track_on2_dinov2", "cpu", tmp_path / "head.pt", input_size=TEST_SIZE)


def test_track_on_file_without_its_vit_takes_dinov2_small_renamed(empty_hub_cache, tmp_path):
    from studio.trackers.backbones.dinov2 import Dinov2

    sd = official_state("track_on")
    vit_names = ("cls_token", "pos_embed", "patch_embed.", "blocks.", "norm.")
    rest = {k: v for k, v in sd.items() if not k[len("backbone.vit_encoder."):].startswith(vit_names)}
    assert len(sd) - len(rest) == 174  # the ViT-S/14 tensors in Meta's names
    torch.save(rest, tmp_path / "no_vit.pt")
    hf = {k: v.half() for k, v in seeded_weights({k: list(t.shape) for k, t in Dinov2().state_dict().items()}, 5).items()}
    put_in_cache(empty_hub_cache, DINOV2_REPO, "model.safetensors", save_safetensors(hf, tmp_path / "vit.st"), "d" * 40)
    tracker = build_tracker("track_on", "cpu", tmp_path / "no_vit.pt", input_size=TEST_SIZE)
    own = tracker.model.state_dict()
    qkv = torch.cat([hf[f"encoder.layer.3.attention.attention.{p}.weight"] for p in ("query", "key", "value")])
    assert torch.equal(own["backbone.vit_encoder.blocks.3.attn.qkv.weight"], qkv.float())
    assert torch.equal(own["backbone.vit_encoder.blocks.11.ls2.gamma"], hf["encoder.layer.11.layer_scale2.lambda1"].float())
    assert torch.equal(own["backbone.vit_encoder.pos_embed"], hf["embeddings.position_embeddings"].float())
    assert torch.equal(own["backbone.token_projection.weight"], sd["backbone.token_projection.weight"].float())


def test_a_wrong_file_fails_naming_the_keys_before_fetching_anything(track_on_file, empty_hub_cache):
    with pytest.raises(CheckpointMismatch) as err:
        build_tracker("track_on2_dinov2", "cpu", track_on_file, input_size=TEST_SIZE)
    msg = str(err.value)
    assert "track_on_checkpoint.pt" in msg and "missing" in msg and "unexpected" in msg
    assert "missing: backbone.pos_embedding" in msg and "unexpected: backbone.frame_pos_embedding" in msg


# ---------------------------------------------------------------------------------------------
# equivalence with upstream


@pytest.fixture(scope="module")
def golden_runs():
    cache = {}

    def run(name):
        if name not in cache:
            tracker = seeded_tracker(name, int(GOLDEN[f"{name}/seed"]), tuple(GOLDEN["input_size"]),
                                     memory=int(GOLDEN[f"{name}/memory"]))
            cache[name] = tracker.track(VIDEO, QUERIES)
        return cache[name]

    return run


@pytest.mark.parametrize("name", NAMES)
def test_tracks_equal_upstream_on_shared_weights(name, golden_runs):
    result = golden_runs(name)
    want_tracks, want_visible = GOLDEN[f"{name}/tracks"], GOLDEN[f"{name}/visible"]
    frames = np.arange(len(VIDEO))[:, None]
    after = frames > QUERIES[None, :, 0]
    assert after.sum() == 12
    assert np.abs(result.tracks - want_tracks)[after].max() <= 1e-3
    assert np.array_equal(result.visible[after], want_visible[after])
    # The golden run moves points and mixes visible and hidden frames, so this comparison can fail.
    assert np.abs(result.tracks - QUERIES[None, :, 1:])[after].max() > 5
    # Online and forward only: before its frame a point waits at its query position, hidden.
    before = frames < QUERIES[None, :, 0]
    assert np.array_equal(result.tracks[before], np.broadcast_to(QUERIES[None, :, 1:], result.tracks.shape)[before])
    assert not result.visible[before].any()
    on = frames == QUERIES[None, :, 0]
    assert result.visible[on].all()


def test_golden_runs_cover_visible_and_hidden_frames():
    after = np.arange(len(VIDEO))[:, None] > QUERIES[None, :, 0]
    for name in NAMES:
        vis = GOLDEN[f"{name}/visible"][after]
        assert vis.any() and not vis.all(), name


# ---------------------------------------------------------------------------------------------
# streaming and the online protocol


@pytest.mark.parametrize("name", ["track_on", "track_on2"])
def test_streaming_frame_by_frame_equals_track(name):
    whole = plain_run(name)
    tracker = seeded_tracker(name, support_grid=False)
    tracker.start(QUERIES, VIDEO.shape[1:3])
    seen = []
    for t in range(len(VIDEO)):
        tracks, visible = tracker.step(VIDEO[t : t + 1])
        assert tracks.shape == (t + 1, len(QUERIES), 2) and visible.shape == (t + 1, len(QUERIES))
        seen.append((tracks[t].copy(), visible[t].copy()))
    tracks, visible = tracker.finish()
    # track() also sets each query frame to the query itself, as the stream does.
    assert np.array_equal(tracks, whole.tracks) and np.array_equal(visible, whole.visible)
    assert all(np.array_equal(a, tracks[t]) and np.array_equal(b, visible[t]) for t, (a, b) in enumerate(seen))
    tracker.start(QUERIES, VIDEO.shape[1:3])  # several frames per step give the same
    tracker.step(VIDEO[:1])
    tracker.step(VIDEO[1:])
    again = tracker.finish()
    assert np.array_equal(again[0], whole.tracks) and np.array_equal(again[1], whole.visible)


@pytest.mark.parametrize("name", ["track_on", "track_on2_dinov2"])
def test_memory_stays_bounded_however_long_the_stream(name):
    tracker = seeded_tracker(name, support_grid=False, memory=2)
    video = np.concatenate([VIDEO, VIDEO[-1:]])
    tracker.start(QUERIES, video.shape[1:3])
    shapes = []
    for t in range(len(video)):
        tracker.step(video[t : t + 1])
        state = tracker._stream.state
        tensors = [state.spatial, state.context, state.unqueried] if name == "track_on" else list(state)
        shapes.append([tuple(x.shape) for x in tensors])
    assert all(s[0][1] == 2 for s in shapes)  # two memory slots per point, whatever the frame
    assert shapes[2] == shapes[3] == shapes[4]  # once every point has started, the state no longer grows


def test_v1_threshold_also_decides_what_the_spatial_memory_reads():
    lax = seeded_tracker("track_on", support_grid=False, threshold=0.05).track(VIDEO, QUERIES)
    assert not np.allclose(plain_run("track_on").tracks, lax.tracks)


@pytest.mark.parametrize("name", ["track_on", "track_on2"])
def test_frames_before_every_query_cost_nothing_and_change_nothing(name):
    late = QUERIES.copy()
    late[:, 0] += 2
    video = np.concatenate([VIDEO[:2], VIDEO])
    tracker = seeded_tracker(name, support_grid=False)
    model = tracker.model
    calls = []
    model.encode = lambda frame, _encode=model.encode: calls.append(1) or _encode(frame)
    try:
        result = tracker.track(video, late)
    finally:
        del model.encode
    assert len(calls) == len(VIDEO)  # the two leading frames never reach the network
    assert np.array_equal(result.tracks[2:], plain_run(name).tracks)
    assert np.array_equal(result.visible[2:], plain_run(name).visible)


def test_all_queries_attend_to_each_other_in_one_batch():
    alone = seeded_tracker("track_on2", support_grid=False).track(VIDEO, QUERIES[:1])
    assert not np.array_equal(plain_run("track_on2").tracks[:, 0], alone.tracks[:, 0])


def test_points_can_join_a_running_stream():
    tracker = seeded_tracker("track_on2", support_grid=False)
    tracker.start(QUERIES[:1], VIDEO.shape[1:3])
    tracker.step(VIDEO[:2])
    with pytest.raises(InputError, match="must be >= 2"):
        tracker.add_queries(np.array([[1, 10.0, 10.0]], np.float32))
    tracker.add_queries(np.array([[2, 30.0, 40.0], [3, 50.0, 20.0]], np.float32))
    tracks, visible = tracker.step(VIDEO[2:])
    assert tracks.shape == (4, 3, 2)
    assert np.array_equal(tracks[:2, 1], [[30, 40], [30, 40]]) and not visible[:2, 1].any()
    assert np.array_equal(tracks[2, 1], [30, 40]) and visible[2, 1] and np.array_equal(tracks[3, 2], [50, 20])
    assert np.isfinite(tracks).all() and not np.array_equal(tracks[3, 1], [30, 40])


def test_stream_misuse_is_a_clear_error_and_loses_nothing():
    tracker = seeded_tracker("track_on2_dinov2", support_grid=False)
    with pytest.raises(RuntimeError, match="call start"):
        tracker.step(VIDEO[:1])
    with pytest.raises(InputError, match="outside"):
        tracker.start(np.array([[0, 500.0, 10.0]], np.float32), VIDEO.shape[1:3])
    with pytest.raises(InputError, match="non-negative integers"):
        tracker.start(np.array([[0.5, 5.0, 10.0]], np.float32), VIDEO.shape[1:3])
    tracker.start(QUERIES, VIDEO.shape[1:3])
    with pytest.raises(InputError, match="uint8"):
        tracker.step(VIDEO[:1].astype(np.float32))
    with pytest.raises(InputError, match="uint8"):
        tracker.step(VIDEO[:1, :10])
    tracks, _ = tracker.step(VIDEO[:2])  # the stream is intact after the refused frames
    assert tracks.shape == (2, 5, 2)


# ---------------------------------------------------------------------------------------------
# the Space front matter


def test_space_front_matter_lists_the_repos_and_preloads_registry_files():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    front = readme.split("---", 2)[1]
    models = re.findall(r"^  - ([\w.-]+/[\w.-]+)$", front.split("preload_from_hub:")[0], flags=re.M)
    for name in NAMES:
        for f in tracker_info(name).files:
            assert f.repo_id in models, f.repo_id
    files = {(f.repo_id, f.filename): f.revision
             for n in list_trackers() for f in tracker_info(n).files if hasattr(f, "repo_id")}
    preloads = re.findall(r"^  - (\S+) (\S+)(?: (\S+))?$", front.split("preload_from_hub:")[1].split("tags:")[0],
                          flags=re.M)
    assert preloads
    for repo, names, revision in preloads:
        for filename in names.split(","):
            assert (repo, filename) in files, (repo, filename)
            assert revision in ("", files[(repo, filename)]), (repo, filename, revision)
    # The gated DINOv3 files cannot be fetched at build time without the Space owner's token.
    assert DINOV3_REPO not in [p[0] for p in preloads]
