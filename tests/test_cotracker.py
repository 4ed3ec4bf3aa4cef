"""CoTracker family: official checkpoint layout, strict loading, golden outputs and the tracker contract.

The official key names and shapes come from ``fixtures/cotracker_keys.json``, which was
recorded by building the upstream modules outside this project; "official-layout" files
here are made from that list alone, so they test the loader independently of our model code.
Behaviour tests use small randomly initialised models at a small model resolution, because
the real 384x512 resolution is slow on a CPU; one test runs the real resolution end to end.
Golden outputs (``fixtures/cotracker_golden.npz``) were recorded with this code and a fixed
seed; regenerate them with ``STUDIO_REGEN_GOLDEN=1 python -m pytest tests/test_cotracker.py``
only after checking a change against the upstream implementation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hubcache import put_in_cache

from studio.hub import CheckpointMismatch
from studio.registry import create_tracker, list_trackers, tracker_info, weight_status
from studio.trackers.cotracker.cotracker1 import CoTracker1
from studio.trackers.cotracker.cotracker2 import CoTracker2
from studio.trackers.cotracker.cotracker3 import CoTracker3
from studio.trackers.cotracker.predictor import CoTrackerOffline, CoTrackerOnline, strip_prefixes
from studio.trackers.cotracker.variants import VARIANTS

FIXTURES = Path(__file__).parent / "fixtures"
KEYS = json.loads((FIXTURES / "cotracker_keys.json").read_text())
GOLDEN = FIXTURES / "cotracker_golden.npz"
SMALL = (64, 96)  # model resolution for fast tests (feature maps 16 x 24)
ONE_PER_ARCH = ["cotracker3_offline", "cotracker3_online", "cotracker2", "cotracker2v1", "cotracker1"]


# ---------------------------------------------------------------------------------------------
# helpers


def official_file(name: str, path: Path, prefix: str = "") -> dict:
    """Write a file with the official keys and shapes of ``name`` (random values); return its dict."""
    gen = torch.Generator().manual_seed(0)
    arch = KEYS["architectures"][KEYS["models"][name]]["keys"]
    sd = {prefix + k: torch.randn(shape, generator=gen) * 0.02 for k, shape in arch.items()}
    torch.save(sd, path)
    return sd


def small_tracker(name: str, seed: int = 0, **options):
    """A seeded random model of the variant at the small test resolution, behind its adapter."""
    v = VARIANTS[name]
    torch.manual_seed(seed)
    if v.version == 3:
        model = CoTracker3(v.window_len, SMALL)
    elif v.version == 2:
        model = CoTracker2(v.window_len, SMALL)
    else:
        model = CoTracker1(v.window_len, SMALL)
    # Larger output heads than the training init, so that points actually move.
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for key, p in model.named_parameters():
            if any(h in key for h in ("flow_head", "vis_conf_head", "vis_predictor")):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.003)
    cls = CoTrackerOnline if v.online else CoTrackerOffline
    return cls(model, v, "cpu", **{"iters": 1, **options})


def clip(num_frames: int = 8, size=(36, 52), seed: int = 0) -> np.ndarray:
    """A smooth random uint8 video [T, H, W, 3]."""
    import cv2

    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (num_frames, *size, 3), dtype=np.uint8)
    return np.stack([cv2.GaussianBlur(f, (0, 0), 2) for f in frames])


QUERIES = np.array([[0, 4.0, 5.0], [3, 30.5, 20.25], [6, 51.0, 35.0]], np.float32)





# ---------------------------------------------------------------------------------------------
# registry and checkpoints


def test_family_is_registered_with_pinned_files_and_without_importing_torch():
    names = set(list_trackers("point"))
    assert set(VARIANTS) <= names
    for name, v in VARIANTS.items():
        e = tracker_info(name)
        assert e.kind == "point" and e.input_resolution == (384, 512) and e.online == v.online
        assert e.license == "CC-BY-NC 4.0" and "arXiv:" in e.paper and e.visibility and e.notes
        assert e.checkpoint.repo_id == v.repo_id and e.checkpoint.filename == v.filename
        assert len(e.checkpoint.revision) == 40 or "no commit hash" in e.notes
    code = "import sys, studio.registry as r; r.list_trackers(); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1], check=False
    )
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("name", ONE_PER_ARCH)
def test_official_layout_file_loads_strictly_and_round_trips(name, tmp_path):
    # DOT stores the v1 weights under "model.model."; the others are raw state dicts.
    prefix = "model.model." if name == "cotracker1" else ""
    path = tmp_path / VARIANTS[name].filename
    sd = official_file(name, path, prefix)
    tracker = create_tracker(name, device="cpu", checkpoint=path)
    own = tracker.model.state_dict()
    expected = KEYS["architectures"][KEYS["models"][name]]["keys"]
    assert {k: list(v.shape) for k, v in own.items()} == expected
    for k, v in sd.items():
        assert torch.equal(own[k[len(prefix):]], v), k
    assert tracker.name == name and tracker.threshold == VARIANTS[name].threshold


def test_every_variant_builds_the_official_key_set():
    # The window length sets buffer shapes, so each variant is checked, not only each architecture.
    from studio.trackers.cotracker.predictor import build_model

    for name, v in VARIANTS.items():
        model = build_model(v)
        expected = KEYS["architectures"][KEYS["models"][name]]["keys"]
        assert {k: list(t.shape) for k, t in model.state_dict().items()} == expected, name


def test_cached_file_loads_through_the_pinned_hub_revision(empty_hub_cache, tmp_path):
    v = VARIANTS["cotracker3_online_baseline"]
    path = tmp_path / "payload.pth"
    sd = official_file(v.name, path)
    put_in_cache(empty_hub_cache, v.repo_id, v.filename, path, v.revision)
    assert weight_status(v.name) == "cached"
    tracker = create_tracker(v.name)
    assert torch.equal(tracker.model.time_emb, sd["time_emb"])
    assert tracker.device.type == "cpu"


def test_wrong_file_fails_naming_the_keys(tmp_path):
    v2 = tmp_path / "v2.pth"
    official_file("cotracker2", v2)
    with pytest.raises(CheckpointMismatch) as err:
        create_tracker("cotracker3_offline", device="cpu", checkpoint=v2)
    msg = str(err.value)
    assert "v2.pth" in msg and "missing" in msg and "corr_mlp.fc1.weight" in msg and "unexpected" in msg
    online = tmp_path / "online.pth"
    official_file("cotracker3_online", online)
    with pytest.raises(CheckpointMismatch, match=r"time_emb: checkpoint \(1, 16, 1110\) vs model \(1, 60, 1110\)"):
        create_tracker("cotracker3_offline", device="cpu", checkpoint=online)


def test_prefix_filter_accepts_raw_and_prefixed_layouts():
    f = strip_prefixes(VARIANTS["cotracker1"].key_prefixes)
    raw = {"fnet.conv1.weight": 1, "norm.weight": 2}
    assert f(raw) == raw
    assert f({"model.model." + k: v for k, v in raw.items()}) == raw
    assert f({"module." + k: v for k, v in raw.items()}) == raw


# ---------------------------------------------------------------------------------------------
# golden outputs


GOLDEN_NAMES = ["cotracker3_offline", "cotracker3_online", "cotracker2", "cotracker2v1_online", "cotracker1"]


def _golden_run(name: str) -> dict:
    r = small_tracker(name, iters=2, threshold=0.5).track(clip(), QUERIES)
    out = {"tracks": r.tracks, "visible": r.visible}
    if r.confidence is not None:
        out["confidence"] = r.confidence
    return out


@pytest.fixture(scope="module")
def golden():
    if os.environ.get("STUDIO_REGEN_GOLDEN"):
        arrays = {f"{n}/{k}": v for n in GOLDEN_NAMES for k, v in _golden_run(n).items()}
        np.savez_compressed(GOLDEN, **arrays)
    return np.load(GOLDEN)


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden_outputs_hold(name, golden):
    got = _golden_run(name)
    for k, v in got.items():
        ref = golden[f"{name}/{k}"]
        if k == "visible":
            assert (v == ref).mean() > 0.98, k
        else:
            np.testing.assert_allclose(v, ref, atol=2e-3, rtol=0, err_msg=f"{name} {k}")
    assert (f"{name}/confidence" in golden.files) == (VARIANTS[name].version == 3)


# ---------------------------------------------------------------------------------------------
# contract


@pytest.fixture(scope="module")
def v3_offline():
    return small_tracker("cotracker3_offline")


def test_contract_shapes_dtypes_and_query_frames(v3_offline):
    video = clip()
    r = v3_offline.track(video, QUERIES)
    assert r.tracks.shape == (8, 3, 2) and r.tracks.dtype == np.float32
    assert r.visible.shape == (8, 3) and r.visible.dtype == bool
    assert r.confidence.shape == (8, 3) and ((r.confidence >= 0) & (r.confidence <= 1)).all()
    assert np.isfinite(r.tracks).all() and r.model == "cotracker3_offline"
    rows = np.arange(3)
    frames = QUERIES[:, 0].astype(int)
    # The adapter itself (not only the base class) puts each query on its own frame, visible.
    tracks, visible, _ = v3_offline._track(video, QUERIES, lambda f, d: None)
    np.testing.assert_array_equal(tracks[frames, rows], QUERIES[:, 1:])
    assert visible[frames, rows].all()


def test_support_points_are_added_and_stripped(v3_offline):
    video = clip()
    q = v3_offline.model_queries(QUERIES, video.shape[1:3])
    assert q.shape == (3 + 36, 3) and (q[3:, 0] == 0).all()
    # Model pixels: align-corners scaling of the user's points, support grid inside the frame.
    sx, sy = (SMALL[1] - 1) / (52 - 1), (SMALL[0] - 1) / (36 - 1)
    np.testing.assert_allclose(q[:3, 1:].numpy(), QUERIES[:, 1:] * [sx, sy], rtol=1e-6)
    assert float(q[3:, 1].min()) == SMALL[1] / 64 and float(q[3:, 1].max()) == SMALL[1] - SMALL[1] / 64
    without = small_tracker("cotracker3_offline", support_grid=False).track(video, QUERIES)
    with_grid = v3_offline.track(video, QUERIES)
    assert without.tracks.shape == with_grid.tracks.shape == (8, 3, 2)
    assert not np.allclose(without.tracks, with_grid.tracks)  # the support points do take part


def test_backward_pass_fills_frames_before_each_query():
    video = clip()
    both = small_tracker("cotracker3_offline", support_grid=False)
    forward = small_tracker("cotracker3_offline", support_grid=False, backward_tracking=False)
    tracks, _, _ = both._track(video, QUERIES, lambda f, d: None)
    # Frames before each query come from tracking the reversed video from the same point.
    flipped_q = QUERIES.copy()
    flipped_q[:, 0] = len(video) - 1 - flipped_q[:, 0]
    rev, _, _ = forward._track(video[::-1].copy(), flipped_q, lambda f, d: None)
    fwd, _, _ = forward._track(video, QUERIES, lambda f, d: None)
    for i, t in enumerate(QUERIES[:, 0].astype(int)):
        np.testing.assert_allclose(tracks[:t, i], rev[::-1][:t, i], atol=1e-4)
        np.testing.assert_allclose(tracks[t:, i], fwd[t:, i], atol=1e-4)


def test_visibility_threshold_and_confidence_are_options():
    video = clip()
    t = small_tracker("cotracker3_offline", threshold=0.0)
    assert t.track(video, QUERIES).visible.all()
    strict = small_tracker("cotracker3_offline", threshold=1.0).track(video, QUERIES)
    assert strict.visible.sum() == 3  # only the query frames
    _, _, conf = small_tracker("cotracker3_offline")._track(video, QUERIES, lambda f, d: None)
    assert conf is not None
    assert small_tracker("cotracker3_online").use_confidence and not small_tracker("cotracker3_offline").use_confidence
    with pytest.raises(ValueError, match="confidence"):
        small_tracker("cotracker2", use_confidence=True)
    with pytest.raises(ValueError, match="autocast"):
        small_tracker("cotracker3_offline", autocast="int8")
    # Mixed precision only applies on CUDA; on the CPU the option is accepted and ignored.
    assert np.isfinite(small_tracker("cotracker3_offline", autocast="bf16").track(video, QUERIES).tracks).all()


def test_online_streaming_matches_the_whole_video_run():
    video = clip(num_frames=21, seed=1)
    q = np.array([[0, 4.0, 5.0], [9, 30.0, 20.0], [17, 40.0, 30.0]], np.float32)
    tracker = small_tracker("cotracker3_online", backward_tracking=False)
    tracks, visible, _ = tracker._track(video, q, lambda f, d: None)
    tracker.start(q, video.shape[1:3])
    lengths = []
    for i in range(0, 21, 5):
        st, sv = tracker.step(video[i : i + 5])
        lengths.append(len(st))
    st, sv = tracker.finish()
    assert lengths == [0, 0, 0, 16, 16] and st.shape == (21, 3, 2)
    after = np.arange(21)[:, None] >= q[None, :, 0]
    np.testing.assert_allclose(st[after], tracks[after], atol=1e-5)
    assert (sv[after] == visible[after]).all()
    # Before a query's frame the stream knows nothing about the point: query position, hidden.
    assert not sv[:9, 1].any() and np.allclose(st[:17, 2], q[2, 1:])
    with pytest.raises(Exception, match="uint8"):
        tracker.step(video[:2].astype(np.float32))


@pytest.mark.parametrize("name", ["cotracker3_online", "cotracker2_online", "cotracker2"])
def test_windowed_models_handle_clips_shorter_than_half_a_window(name):
    r = small_tracker(name).track(clip(num_frames=3), np.array([[0, 4.0, 5.0], [2, 10.0, 9.0]], np.float32))
    assert r.tracks.shape == (3, 2, 2) and np.isfinite(r.tracks).all()


def test_single_frame_clip_returns_the_queries(v3_offline):
    r = v3_offline.track(clip(num_frames=1), QUERIES[:1])
    np.testing.assert_array_equal(r.tracks[0], QUERIES[:1, 1:])
    assert r.visible.all()


def test_real_resolution_end_to_end_through_create_tracker(tmp_path):
    path = tmp_path / "scaled_offline.pth"
    official_file("cotracker3_offline", path)
    tracker = create_tracker("cotracker3_offline", checkpoint=path)
    video = clip(num_frames=3, size=(45, 80))
    q = np.array([[0, 10.0, 10.0], [2, 70.0, 40.0]], np.float32)
    r = tracker.track(video, q)
    assert r.tracks.shape == (3, 2, 2) and np.isfinite(r.tracks).all() and r.confidence is not None
    assert tracker.resolution == (384, 512)
