"""DOT's RAFT (estimator ``raft_cvo``, refiner ``raft_refiner``): layout, loading, equivalence, adapter.

``fixtures/raft_keys.json`` holds the official key names and shapes and the parameter
counts, recorded by building the upstream modules (16lemoing/dot) outside this project.
``fixtures/raft_golden.npz`` holds outputs of the *upstream* network, run outside this
project on weights made by ``official_file`` below (a deterministic recipe from the key
list, so no weights are stored) and on small real frames stored in the fixture; our model
must reproduce them. The upstream run agreed with ours bit for bit (float32 and float64).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hubcache import put_in_cache

from studio.hub import CheckpointMismatch
from studio.registry import create_tracker, list_trackers, tracker_info, weight_status
from studio.results import InputError
from studio.trackers.raft import RAFT, RAFTFlow
from studio.trackers.raft.adapter import MIN_CELLS, build_model
from studio.trackers.raft.variants import CONFIGS, DOT_REPO

FIXTURES = Path(__file__).parent / "fixtures"
KEYS = json.loads((FIXTURES / "raft_keys.json").read_text())["models"]
GOLDEN = FIXTURES / "raft_golden.npz"
NAMES = ["raft_cvo", "raft_refiner"]
REV = "89abcdef0123456789abcdef0123456789abcdef"


# ---------------------------------------------------------------------------------------------
# helpers


def official_file(name: str, path: Path | None = None, seed: int = 0) -> dict:
    """Deterministic weights in the official layout of ``name``, made from the key list alone.

    Convolutions get fan-in scaled normal weights and small biases, batch norms moderately
    perturbed affine parameters and running statistics, so that all 12 iterations stay
    finite and the flow moves by a few pixels rather than off the frame. Written to ``path`` when given.
    """
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in sorted(KEYS[name]["keys"].items()):
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(1000)
        elif key.endswith("running_mean"):
            sd[key] = 0.2 * torch.randn(shape, generator=gen)
        elif key.endswith("running_var"):
            sd[key] = 0.5 + torch.rand(shape, generator=gen)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            sd[key] = torch.randn(shape, generator=gen) * (1.0 / fan_in) ** 0.5
        elif len(shape) == 1 and key.replace(".weight", ".running_var") in KEYS[name]["keys"]:
            sd[key] = 1 + 0.1 * torch.randn(shape, generator=gen)  # batch-norm scale
        else:
            sd[key] = 0.05 * torch.randn(shape, generator=gen)  # biases
        if ".flow_head.conv2." in key:
            sd[key] *= 0.1  # keeps 12 summed increments within the frame (a few pixels each)
    if path is not None:
        torch.save(sd, path)
    return sd


def model_from(name: str, sd: dict) -> RAFT:
    model = build_model(CONFIGS[name])
    model.load_state_dict(sd, strict=True)
    return model.eval()





def smooth_frames(size, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Two blurred random uint8 RGB frames, the second shifted 3 px right."""
    import cv2

    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.integers(0, 256, (size[0], size[1] + 3, 3), dtype=np.uint8), (0, 0), 2)
    return np.ascontiguousarray(big[:, 3:]), np.ascontiguousarray(big[:, :-3])


# ---------------------------------------------------------------------------------------------
# registry, layout and loading


def test_both_models_are_registered_as_flow_with_dot_hub_files():
    assert {"raft_cvo", "raft_refiner"} <= set(list_trackers("flow"))
    for name in NAMES:
        e = tracker_info(name)
        assert e.kind == "flow" and e.checkpoint.repo_id == DOT_REPO
        assert e.checkpoint.filename == CONFIGS[name].filename and e.checkpoint.size_mb
        assert e.checkpoint.revision == "main" and "no commit hash" in e.notes
        assert "MIT" in e.license and "BSD-3" in e.license and "2312.00786" in e.paper and "RAFT" in e.paper
    assert "alpha" in tracker_info("raft_refiner").visibility


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_matches_the_official_keys_shapes_and_parameter_count(name):
    model = build_model(CONFIGS[name])
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == KEYS[name]["keys"]
    n = sum(p.numel() for p in model.parameters())
    assert n == KEYS[name]["num_params"] == CONFIGS[name].num_params
    assert KEYS[name]["config"] == CONFIGS[name].model_kwargs()


@pytest.mark.parametrize("name", NAMES)
def test_official_layout_file_loads_strictly_through_the_registry(name, tmp_path):
    path = tmp_path / CONFIGS[name].filename
    sd = official_file(name, path)
    flow = create_tracker(name, device="cpu", checkpoint=path)
    assert isinstance(flow, RAFTFlow) and flow.name == name and flow.device.type == "cpu"
    assert flow.patch_size == CONFIGS[name].patch_size and flow.refine_alpha == CONFIGS[name].refine_alpha
    own = flow.model.state_dict()
    for k, v in sd.items():
        assert torch.equal(own[k], v), k
    assert not flow.model.training


def test_cached_hub_file_is_found_at_the_branch_revision(empty_hub_cache, tmp_path):
    payload = tmp_path / "payload.pth"
    sd = official_file("raft_refiner", payload)
    assert weight_status("raft_refiner") == "unavailable"
    put_in_cache(empty_hub_cache, DOT_REPO, CONFIGS["raft_refiner"].filename, payload, REV)
    assert weight_status("raft_refiner") == "cached"
    flow = create_tracker("raft_refiner", device="cpu")
    assert torch.equal(flow.model.state_dict()["update_block.alpha_head.conv2.bias"],
                       sd["update_block.alpha_head.conv2.bias"])


def test_damaged_or_wrong_files_fail_naming_the_keys(tmp_path):
    sd = official_file("raft_cvo")
    sd.pop("cnet.norm1.running_var")
    sd["fnet.extra.weight"] = torch.zeros(1)
    bad = tmp_path / "bad.pth"
    torch.save(sd, bad)
    with pytest.raises(CheckpointMismatch) as err:
        create_tracker("raft_cvo", device="cpu", checkpoint=bad)
    msg = str(err.value)
    assert "bad.pth" in msg and "cnet.norm1.running_var" in msg and "fnet.extra.weight" in msg
    # The estimator's file in the refiner: no alpha head, batch-norm keys, different mask size.
    cvo = tmp_path / "cvo.pth"
    official_file("raft_cvo", cvo)
    with pytest.raises(CheckpointMismatch) as err:
        create_tracker("raft_refiner", device="cpu", checkpoint=cvo)
    msg = str(err.value)
    assert "update_block.alpha_head" in msg and "unexpected: cnet." in msg and "running_mean" in msg
    assert "update_block.mask.2.weight: checkpoint (576, 256, 1, 1) vs model (144, 256, 1, 1)" in msg


# ---------------------------------------------------------------------------------------------
# equivalence with the upstream network (outputs recorded outside the project)


@pytest.fixture(scope="module")
def golden():
    return np.load(GOLDEN)


@pytest.mark.parametrize("name", NAMES)
def test_outputs_match_the_upstream_network(name, golden):
    model = model_from(name, official_file(name, seed=int(golden[f"{name}/seed"])))
    src = torch.from_numpy(golden[f"{name}/frame0"]).permute(2, 0, 1)[None].float() / 255
    tgt = torch.from_numpy(golden[f"{name}/frame1"]).permute(2, 0, 1)[None].float() / 255
    cf = torch.from_numpy(golden[f"{name}/coarse_flow"])[None]
    ca = torch.from_numpy(golden[f"{name}/coarse_alpha"])[None]
    with torch.no_grad():
        for case, kw in (("plain", {}), ("init", {"coarse_flow": cf, "coarse_alpha": ca})):
            flow, alpha = model(src, tgt, **kw)
            ref = golden[f"{name}/{case}/flow"]
            assert np.abs(ref).mean() > 0.5  # the recorded flow is not trivially zero
            np.testing.assert_allclose(flow[0].numpy(), ref, atol=1e-4, rtol=0, err_msg=f"{name} {case} flow")
            if CONFIGS[name].refine_alpha:
                np.testing.assert_allclose(alpha[0].numpy(), golden[f"{name}/{case}/alpha"], atol=1e-5, rtol=0)
            else:
                assert alpha is None


# ---------------------------------------------------------------------------------------------
# adapter conventions


def identity_refiner(name: str) -> RAFTFlow:
    """Weights whose update adds nothing and whose upsampling copies each cell to its P x P pixels.

    Flow and alpha heads are zeroed; the mask heads output a constant that puts all softmax
    weight on the centre neighbour (index 4 of the 3 x 3), so upsampling is nearest-neighbour.
    """
    sd = official_file(name)
    p = CONFIGS[name].patch_size
    for head in ("flow_head", "alpha_head"):
        for k in (f"update_block.{head}.conv2.weight", f"update_block.{head}.conv2.bias"):
            if k in sd:
                sd[k].zero_()
    for mask in ("mask", "alpha_mask"):
        if f"update_block.{mask}.2.weight" in sd:
            sd[f"update_block.{mask}.2.weight"].zero_()
            bias = torch.zeros(9, p * p)
            bias[4] = 400.0  # x 0.25 in the network: logit 100 against 0
            sd[f"update_block.{mask}.2.bias"] = bias.reshape(-1)
    # Two iterations are enough to show that nothing accumulates; more only cost time.
    return RAFTFlow(model_from(name, sd), name=name, num_iter=2)


@pytest.mark.parametrize("name", NAMES)
def test_refine_returns_the_upsampled_coarse_input_when_the_update_is_zero(name):
    flow = identity_refiner(name)
    p = flow.patch_size
    h, w = MIN_CELLS, MIN_CELLS + 2
    f0, f1 = smooth_frames((h * p, w * p))
    rng = np.random.default_rng(0)
    coarse = rng.normal(0, 2, (h, w, 2)).astype(np.float32)
    alpha_in = rng.uniform(0, 1, (h, w)).astype(np.float32)
    alpha_in[0, 0], alpha_in[0, 1] = 0.0, 1.0
    feats0, feats1 = flow.encode(f0), flow.encode(f1)
    out, alpha = flow.refine(f0, f1, coarse, alpha_in)
    assert out.shape == (h * p, w * p, 2) and out.dtype == np.float32 and alpha.shape == (h * p, w * p)
    expected = np.repeat(np.repeat(coarse, p, 0), p, 1) * p  # coarse pixels -> full-resolution pixels
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # Cached features (and a torch coarse flow) give the same result as frames.
    out2, _ = flow.refine(None, None, torch.from_numpy(coarse), alpha_in, feats0=feats0, feats1=feats1)
    np.testing.assert_array_equal(out2, out)
    if flow.refine_alpha:
        # The logit clamp (eps 1e-5) is the only change to alpha.
        expected_alpha = np.repeat(np.repeat(np.clip(alpha_in, 1e-5, 1 - 1e-5), p, 0), p, 1)
        np.testing.assert_allclose(alpha, expected_alpha, atol=1e-6)
        # None means "all visible".
        _, ones = flow.refine(None, None, coarse, feats0=feats0, feats1=feats1)
        np.testing.assert_allclose(ones, 1 - 1e-5, atol=1e-6)
    else:
        assert (alpha == 1).all()


@pytest.mark.parametrize("name", NAMES)
def test_flow_on_any_size_reproduces_a_constant_init_with_a_zero_update(name):
    flow = identity_refiner(name)
    f0, f1 = smooth_frames((37, 70))  # not a multiple of P, and below the minimum grid
    init = np.zeros((37, 70, 2), np.float32)
    init[..., 0], init[..., 1] = 2.5, -1.25
    out = flow.flow(f0, f1, init)
    assert out.shape == (37, 70, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out, init, atol=1e-5)
    np.testing.assert_allclose(flow.flow(f0, f1), 0, atol=1e-6)
    with pytest.raises(InputError, match="init flow"):
        flow.flow(f0, f1, init[:, :-1])


def test_flow_with_random_weights_is_finite_and_moves():
    flow = RAFTFlow(model_from("raft_cvo", official_file("raft_cvo")), name="raft_cvo", num_iter=3)
    f0, f1 = smooth_frames((50, 75))
    out = flow.flow(f0, f1)
    assert out.shape == (50, 75, 2) and np.isfinite(out).all() and np.abs(out).mean() > 0.1


def test_refine_batch_matches_single_calls_and_broadcasts_source_features():
    flow = RAFTFlow(model_from("raft_refiner", official_file("raft_refiner")), name="raft_refiner", num_iter=2)
    size = (MIN_CELLS * 4, MIN_CELLS * 4)
    f0, f1 = smooth_frames(size, seed=1)
    f2, _ = smooth_frames(size, seed=2)
    rng = np.random.default_rng(1)
    cf = torch.from_numpy(rng.normal(0, 1, (2, MIN_CELLS, MIN_CELLS, 2)).astype(np.float32))
    ca = torch.from_numpy(rng.uniform(0, 1, (2, MIN_CELLS, MIN_CELLS)).astype(np.float32))
    feats = [flow.encode(f) for f in (f0, f1, f2)]
    b_flow, b_alpha = flow.refine_batch(cf, ca, src_feats=feats[0], tgt_feats=torch.cat(feats[1:]))
    assert b_flow.shape == (2, *size, 2) and b_alpha.shape == (2, *size)
    for i, tgt in enumerate((f1, f2)):
        one_flow, one_alpha = flow.refine(f0, tgt, cf[i], ca[i])
        np.testing.assert_allclose(b_flow[i].numpy(), one_flow, atol=1e-4)
        np.testing.assert_allclose(b_alpha[i].numpy(), one_alpha, atol=1e-5)
    assert not np.allclose(b_flow[0].numpy(), b_flow[1].numpy())


def test_sizes_are_checked():
    flow = RAFTFlow(build_model(CONFIGS["raft_cvo"]), name="raft_cvo")
    with pytest.raises(InputError, match="multiple of 8"):
        flow.encode(np.zeros((60, 64, 3), np.uint8))
    small = np.zeros((64, 64, 3), np.uint8)  # multiple of 8, but an 8 x 8 grid: too small to correlate
    with pytest.raises(InputError, match="at least 128x128"):
        flow.refine(small, small, np.zeros((8, 8, 2), np.float32))
    with pytest.raises(InputError, match="frame0 or feats0"):
        flow.refine(None, small, np.zeros((8, 8, 2), np.float32))
