"""GMRW (``gmrw``, ``gmrw_kinetics``): layout, safe strict loading, equivalence with upstream, tracking contract.

``fixtures/gmrw_keys.json`` holds the key names and shapes of the network as upstream
(ayshrv/gmrw @ bf832bd) builds it for evaluation, recorded outside this project.
``fixtures/gmrw_golden.npz`` holds what *upstream's* evaluation code
(``test_on_tapvid.run_crw``, setting ``forward_backward_query_point``) returned, run outside
this project on weights made by ``official_weights`` below (a deterministic recipe from the
key list, so no weights are stored) and on frames of ``examples/hopper_pan.mp4`` stored in
the fixture at the working size: per case the frames, the queries in upstream's
``(t, y, x)`` raster, upstream's tracks ``[N, T, 2]`` and occlusion ``[N, T]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.hub import CheckpointMismatch, CheckpointRefused, WeightsUnavailable
from studio.registry import create_tracker, list_trackers, tracker_info, weight_status
from studio.results import InputError
from studio.trackers.gmrw.adapter import GMRWTracker, build_tracker, read_checkpoint
from studio.trackers.gmrw.matching import affinity_flow
from studio.trackers.gmrw.model import GMRW
from studio.trackers.gmrw.tracking import chain_tracks, sample_flow, visibility
from studio.trackers.gmrw.variants import CONFIGS, NUM_PARAMS, SOURCE_URL

FIXTURES = Path(__file__).parent / "fixtures"
KEYS = json.loads((FIXTURES / "gmrw_keys.json").read_text())
GOLDEN = FIXTURES / "gmrw_golden.npz"
NAMES = ["gmrw", "gmrw_kinetics"]


# ---------------------------------------------------------------------------------------------
# helpers (also used, outside the project, to make the weights upstream ran with)


def official_weights(seed: int = 0) -> dict:
    """Deterministic weights in GMRW's layout (unprefixed keys), made from the key list alone.

    Plain random weights make every position's features share one large common component
    (ReLU outputs are positive), so all points match the same few cells. Removing the mean
    over inputs from the last two convolutions, halving the transformer's norm scales and
    shrinking the features (so the soft-argmax averages over several cells) gives flows
    that are smooth enough for chained tracks to be well conditioned (a 1e-4 px change of
    a query moves its tracks by about 1e-3 px) while tracks still move several pixels and
    a good share of points fail the forward-backward check.
    """
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in sorted(KEYS["keys"].items()):
        if len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            sd[key] = torch.randn(shape, generator=gen) * (2.0 / fan_in) ** 0.5
        elif len(shape) == 2:
            sd[key] = torch.randn(shape, generator=gen) / shape[1] ** 0.5
        elif "norm" in key and key.endswith("weight"):
            sd[key] = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            sd[key] = 0.05 * torch.randn(shape, generator=gen)
        if key.startswith("transformer.") and "norm" in key:
            sd[key] *= 0.5
    for key in ("backbone.conv2.weight", "backbone.trident_conv.weight"):
        sd[key] -= sd[key].mean(dim=(1, 2, 3), keepdim=True)
    sd["backbone.trident_conv.weight"] *= 0.3
    return sd


def official_file(path: Path, seed: int = 0, prefix: str = "module.") -> dict:
    """Write a file shaped like the released ones and return its (unprefixed) weights.

    ``{"model": {prefix + key: tensor}, "optimizer", "epoch", "args": argparse.Namespace,
    "global_step"}``, as upstream's ``save_model_checkpoint`` writes from a DDP-wrapped model;
    the Namespace holds a ``torch.device`` as the real training arguments do.
    """
    sd = official_weights(seed)
    torch.save(
        {
            "model": {prefix + k: v for k, v in sd.items()},
            "optimizer": {"state": {}, "param_groups": [{"lr": 4e-5, "betas": (0.9, 0.999), "params": [0, 1]}]},
            "epoch": 12,
            "args": argparse.Namespace(device=torch.device("cpu"), lr=4e-5, compute_flow_method="weighted_sum",
                                       window_threshold=5, exp_name="train_kubric", local_rank=0),
            "global_step": 73000,
        },
        path,
    )
    return sd


def model_from(sd: dict) -> GMRW:
    model = GMRW()
    model.load_state_dict(sd, strict=True)
    return model.eval()


def studio_queries(queries_tyx: np.ndarray) -> np.ndarray:
    """Upstream's ``(t, y, x)`` raster (pixel centres at +0.5) -> the studio's ``(t, x, y)``."""
    return np.stack([queries_tyx[:, 0], queries_tyx[:, 2] - 0.5, queries_tyx[:, 1] - 0.5], axis=1).astype(np.float32)


def constant_flow_tracker(monkeypatch, forward_xy, backward_xy, size=(64, 64)) -> GMRWTracker:
    """A tracker whose frame-pair flows are given constants (working pixels), to test the procedure alone."""
    tr = GMRWTracker(GMRW(), CONFIGS["gmrw"], size=size)

    def flows(frames, progress=None):
        n = frames.shape[0] - 1
        f = torch.tensor(forward_xy, dtype=torch.float32)[:, None, None].expand(2, *size)
        b = torch.tensor(backward_xy, dtype=torch.float32)[:, None, None].expand(2, *size)
        return [f] * n, [b] * n

    monkeypatch.setattr(tr, "flows", flows)
    return tr


# ---------------------------------------------------------------------------------------------
# registry, layout and safe strict loading


def test_entries_are_point_trackers_whose_files_the_user_brings():
    assert set(NAMES) <= set(list_trackers("point"))
    for name in NAMES:
        e = tracker_info(name)
        assert e.checkpoint.filename == CONFIGS[name].filename and e.checkpoint.url == SOURCE_URL
        assert "dropbox.com" in e.checkpoint.url and "ayshrv/gmrw" in e.checkpoint.source
        assert e.license == "MIT" and "2409.16288" in e.paper and e.input_resolution == (256, 256)
        assert "(t, y, x)" in e.query_convention and "forward-backward" in e.visibility and not e.online
        assert "x4" in e.notes and "4th power" in e.notes and "float16" in e.notes
        assert weight_status(name) == "needs a file"
    assert tracker_info("gmrw").checkpoint.filename == "kubric_73k.pth"
    assert tracker_info("gmrw_kinetics").checkpoint.filename == "kinetics_144k.pth"
    assert "weighted_argmax (window 20" in tracker_info("gmrw_kinetics").notes


def test_state_dict_matches_the_official_keys_shapes_and_parameter_count():
    model = GMRW()
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == KEYS["keys"]
    assert sum(p.numel() for p in model.parameters()) == KEYS["num_params"] == NUM_PARAMS
    assert "_mean" not in model.state_dict()  # the ImageNet statistics are not part of the files


@pytest.mark.parametrize("name", NAMES)
def test_official_file_loads_strictly_through_the_registry(name, tmp_path):
    path = tmp_path / CONFIGS[name].filename
    sd = official_file(path)
    tracker = create_tracker(name, device="cpu", checkpoint=path)
    assert isinstance(tracker, GMRWTracker) and tracker.name == name and tracker.device.type == "cpu"
    own = tracker.model.state_dict()
    assert own.keys() == sd.keys() and all(torch.equal(own[k], v) for k, v in sd.items())
    assert not tracker.model.training and tracker.upsample == 1 and tracker.size == (256, 256)
    assert (tracker.flow_method, tracker.window) == (CONFIGS[name].flow_method, CONFIGS[name].window)


def test_options_reach_the_tracker_through_the_registry(tmp_path):
    path = tmp_path / "kubric_73k.pth"
    official_file(path)
    tracker = create_tracker("gmrw", device="cpu", checkpoint=path, upsample=4, flow_method="argmax")
    assert (tracker.upsample, tracker.flow_method, tracker.size) == (4, "argmax", (256, 256))
    with pytest.raises(ValueError, match="upsample"):
        create_tracker("gmrw", device="cpu", checkpoint=path, upsample=3)
    with pytest.raises(ValueError, match="does not take the options"):
        create_tracker("lk", upsample=2)


def test_kinetics_checkpoint_runs_with_the_method_it_was_trained_with():
    assert (CONFIGS["gmrw"].flow_method, CONFIGS["gmrw"].window) == ("weighted_sum", None)
    assert (CONFIGS["gmrw_kinetics"].flow_method, CONFIGS["gmrw_kinetics"].window) == ("weighted_argmax", 20)


def test_files_without_prefix_or_wrapper_load_too(tmp_path):
    sd = official_weights(3)
    bare = tmp_path / "bare.pth"
    torch.save(sd, bare)
    unprefixed = tmp_path / "unprefixed.pth"
    official_file(unprefixed, seed=3, prefix="")
    for path in (bare, unprefixed):
        got = read_checkpoint(path)
        assert got.keys() == sd.keys() and all(torch.equal(got[k], sd[k]) for k in sd)


def test_default_upsample_is_x2_on_cuda_and_x1_elsewhere():
    from studio.trackers.gmrw.adapter import default_upsample

    assert default_upsample(torch.device("cuda")) == 2 and default_upsample("cuda:1") == 2
    assert default_upsample("cpu") == 1 and default_upsample("mps") == 1


class _Payload:
    """Unpickling this would write a file: the proof that code ran."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "ran"))


@pytest.mark.parametrize("legacy", [False, True])
def test_other_objects_in_the_file_are_refused_by_name_and_never_run(tmp_path, legacy):
    marker = tmp_path / "marker.txt"
    path = tmp_path / "kubric_73k.pth"
    payload = {
        "model": {"module." + k: v for k, v in official_weights().items()},
        "args": argparse.Namespace(device=torch.device("cpu")),
        "extra": _Payload(str(marker)),
    }
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(CheckpointRefused) as err:
        create_tracker("gmrw", device="cpu", checkpoint=path)
    msg = str(err.value)
    assert not marker.exists()
    # Zip files are checked before loading and every object is listed; legacy files stop at the first.
    assert "kubric_73k.pth" in msg and ("getattr" if legacy else "pathlib.PosixPath") in msg and "refused" in msg
    assert "argparse.Namespace" not in msg  # the one object the format needs is allowed
    assert "weights_only" not in msg and "trust" not in msg.lower()


def test_wrong_or_damaged_files_fail_naming_the_keys(tmp_path):
    sd = official_weights()
    sd.pop("transformer.layers.5.cross_attn_ffn.norm2.bias")
    sd["backbone.layer4.0.conv1.weight"] = torch.zeros(1)
    sd["transformer.layers.0.self_attn.q_proj.weight"] = torch.zeros(64, 128)
    bad = tmp_path / "bad.pth"
    torch.save({"model": {"module." + k: v for k, v in sd.items()}}, bad)
    with pytest.raises(CheckpointMismatch) as err:
        create_tracker("gmrw", device="cpu", checkpoint=bad)
    msg = str(err.value)
    assert "bad.pth" in msg and "transformer.layers.5.cross_attn_ffn.norm2.bias" in msg
    assert "unexpected: backbone.layer4.0.conv1.weight" in msg
    assert "transformer.layers.0.self_attn.q_proj.weight: checkpoint (64, 128) vs model (128, 128)" in msg
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointMismatch, match="junk.pth is not"):
        create_tracker("gmrw_kinetics", device="cpu", checkpoint=junk)


@pytest.mark.parametrize("name", NAMES)
def test_missing_file_says_where_to_get_it_and_the_folder_is_searched(name, checkpoint_folder, empty_hub_cache):
    with pytest.raises(WeightsUnavailable) as err:
        create_tracker(name, device="cpu")
    msg = str(err.value)
    filename = CONFIGS[name].filename
    assert filename in msg and SOURCE_URL in msg and "--checkpoint PATH" in msg
    assert "STUDIO_CHECKPOINT_DIR" in msg and str(checkpoint_folder) in msg and "Models tab" in msg
    checkpoint_folder.mkdir()
    sd = official_file(checkpoint_folder / filename, seed=1)
    assert weight_status(name) == "local file"
    tracker = create_tracker(name, device="cpu")
    assert torch.equal(tracker.model.state_dict()["backbone.conv1.weight"], sd["backbone.conv1.weight"])


# ---------------------------------------------------------------------------------------------
# equivalence with upstream's evaluation code (outputs recorded outside the project)


@pytest.fixture(scope="module")
def golden():
    data = np.load(GOLDEN)
    return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def golden_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gmrw") / "kubric_73k.pth"
    official_file(path, seed=0)
    return path


CASES = ["sum_x1", "wargmax_x1", "argmax_x1", "sum_x2", "wargmax_x4", "sum_256"]


@pytest.mark.parametrize("case", CASES)
def test_tracks_match_upstreams_evaluation(case, golden, golden_file):
    g = {k.split("/", 1)[1]: v for k, v in golden.items() if k.startswith(case + "/")}
    assert int(g["seed"]) == 0
    rep = int(g["repeat"])
    frames = golden[f"clip/{g['clip']}"][: int(g["num_frames"])].repeat(rep, axis=1).repeat(rep, axis=2)
    method, window = str(g["method"]), int(g["window"])
    if case == "sum_256":
        # The registry's defaults: 256 x 256, x1 on a CPU, weighted sum.
        tracker = create_tracker("gmrw", device="cpu", checkpoint=golden_file)
        assert (tracker.size, tracker.upsample, tracker.flow_method) == ((256, 256), 1, method)
    else:
        name = "gmrw_kinetics" if method == "weighted_argmax" else "gmrw"
        tracker = build_tracker(name, "cpu", golden_file, size=frames.shape[1:3], upsample=int(g["upsample"]),
                                flow_method=method, window=None if window < 0 else window)
    result = tracker.track(frames, studio_queries(g["queries_tyx"]))
    expected = g["tracks"].transpose(1, 0, 2) - 0.5  # [T, N, 2], upstream's raster -> studio pixels
    visible = ~g["occluded"].T
    # The recorded case is not trivial: points move and some fail the consistency check.
    assert np.abs(expected - expected[:1]).max() > 2 and 0 < visible.mean() < 1
    np.testing.assert_allclose(result.tracks, expected, atol=1e-3, rtol=0)
    np.testing.assert_array_equal(result.visible, visible)


# ---------------------------------------------------------------------------------------------
# parts against ground truth


def test_flow_sampling_is_bilinear_with_border_clamping():
    rng = torch.Generator().manual_seed(0)
    flow = torch.randn(2, 7, 9, generator=rng)
    xy = torch.tensor([[0.0, 0.0], [8.0, 6.0], [3.25, 2.5], [-4.0, 3.5], [12.0, -2.0], [4.0, 9.5], [8.5, 6.5]])
    got = sample_flow(flow, xy)
    grid = torch.stack([xy[:, 0] / 8 * 2 - 1, xy[:, 1] / 6 * 2 - 1], 1)[None, None]
    ref = torch.nn.functional.grid_sample(flow[None], grid, mode="bilinear", padding_mode="border",
                                          align_corners=True)[0, :, 0].t()
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)
    assert torch.equal(got[0], flow[:, 0, 0]) and torch.equal(got[1], flow[:, 6, 8])
    torch.testing.assert_close(got[2], 0.5 * 0.75 * flow[:, 2, 3] + 0.5 * 0.25 * flow[:, 2, 4]
                               + 0.5 * 0.75 * flow[:, 3, 3] + 0.5 * 0.25 * flow[:, 3, 4])


def test_chained_tracks_and_visibility_follow_known_flows():
    size = (20, 30)  # H, W of the flow maps
    fwd = [torch.tensor([2.0, 1.0])[:, None, None].expand(2, *size) for _ in range(5)]
    bwd = [torch.tensor([-2.0, -1.0])[:, None, None].expand(2, *size) for _ in range(5)]
    bwd[3] = torch.tensor([-2.0, 2.5])[:, None, None].expand(2, *size)  # step 3 <-> 4 disagrees by 3.5 px
    qt = torch.tensor([0, 2, 5, 1])
    qxy = torch.tensor([[1.0, 1.0], [10.0, 5.0], [25.0, 15.0], [27.0, 18.0]])
    tracks = chain_tracks(qt, qxy, fwd, bwd)
    expected = torch.tensor([
        [[1, 1], [6, 3], [15, 13.5], [25, 17]],
        [[3, 2], [8, 4], [17, 14.5], [27, 18]],
        [[5, 3], [10, 5], [19, 15.5], [29, 19]],
        [[7, 4], [12, 6], [21, 16.5], [31, 20]],  # query 2 reached frame 3 through the odd backward step
        [[9, 5], [14, 7], [23, 14], [33, 21]],
        [[11, 6], [16, 8], [25, 15], [35, 22]],
    ])
    torch.testing.assert_close(tracks, expected)
    vis = visibility(tracks, qt, fwd, bwd, size, threshold=3.0)
    # Frames 3 and 4 touch the inconsistent step; query 3 leaves the frame (x >= 30) at frame 3.
    want = torch.tensor([
        [1, 1, 1, 1],
        [1, 1, 1, 1],
        [1, 1, 1, 1],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        [1, 1, 1, 0],
    ], dtype=torch.bool)
    assert torch.equal(vis, want)
    # A query on an inconsistent frame is still visible there.
    vis4 = visibility(tracks, torch.tensor([4, 2, 5, 1]), fwd, bwd, size, threshold=3.0)
    assert vis4[4, 0] and not vis4[4, 1]
    # A looser threshold accepts the odd step.
    assert visibility(tracks, qt, fwd, bwd, size, threshold=4.0)[3:5, :3].all()


def _one_hot_features(h: int, w: int, shift: tuple[int, int], strength: float = 30.0):
    """Features whose best match is the cell ``shift = (dx, dy)`` cells away (clamped at the border)."""
    c = h * w
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    a = torch.zeros(c, h, w)
    a[ys * w + xs, ys, xs] = strength
    b = torch.zeros(c, h, w)
    src = ((ys - shift[1]).clamp(0, h - 1) * w + (xs - shift[0]).clamp(0, w - 1))
    b[src, ys, xs] = strength  # the cell (x, y) of b looks like the cell (x - dx, y - dy) of a
    return a, b


@pytest.mark.parametrize("method", ["weighted_sum", "weighted_argmax", "argmax"])
def test_affinity_flow_finds_a_known_shift_and_scales_it_to_pixels(method):
    h, w = 6, 10
    a, b = _one_hot_features(h, w, (2, 1))
    flow = affinity_flow(a, b, size=(24, 40), method=method, window=2 if method == "weighted_argmax" else None)
    assert flow.shape == (2, 24, 40) and flow.dtype == torch.float32
    # Cells x 1..7, y 1..4 have one exact match 2 cells right and 1 down; the flow map (resized with
    # aligned corners, pixel p at cell p * (w - 1) / (W - 1)) is 8 px, 4 px there (4 px per cell).
    inner = flow[:, 5:19, 5:31].numpy()
    np.testing.assert_allclose(inner[0], 8.0, atol=1e-4)
    np.testing.assert_allclose(inner[1], 4.0, atol=1e-4)


def test_weighted_argmax_keeps_only_cells_near_the_best_match():
    h, w = 1, 12
    a = torch.zeros(4, h, w)
    a[0, 0, 0] = 1.0
    b = torch.zeros(4, h, w)
    b[0, 0, 2] = 6.0  # best match 2 cells to the right
    b[0, 0, 10] = 5.9  # nearly as good, far away
    kw = {"size": (h, w)}
    far = affinity_flow(a, b, method="weighted_sum", **kw)[0, 0, 0].item()
    near = affinity_flow(a, b, method="weighted_argmax", window=3, **kw)[0, 0, 0].item()
    best = affinity_flow(a, b, method="argmax", **kw)[0, 0, 0].item()
    assert best == 2.0 and 1.9 < near < 2.1 and far > 3  # the far cell pulls the plain soft-argmax away
    with pytest.raises(ValueError, match="window"):
        affinity_flow(a, b, method="weighted_argmax", **kw)


def test_half_precision_matching_from_the_size_upstream_switches_to_it(monkeypatch):
    from studio.trackers.gmrw import matching

    a, b = _one_hot_features(6, 10, (2, 1), strength=5.0)
    full = affinity_flow(a, b, size=(24, 40))
    monkeypatch.setattr(matching, "HALF_FROM", 6)
    half = affinity_flow(a, b, size=(24, 40))
    assert half.dtype == torch.float32 and not torch.equal(half, full)
    np.testing.assert_allclose(half.numpy(), full.numpy(), atol=0.05)


def test_queries_and_tracks_are_converted_between_input_and_working_pixels(monkeypatch):
    # Working frames 64 x 64; the flows move every point 8 working px right and 4 down per frame.
    tr = constant_flow_tracker(monkeypatch, (8.0, 4.0), (-8.0, -4.0))
    video = np.zeros((4, 100, 150, 3), np.uint8)
    queries = np.array([[0, 10.0, 20.0], [2, 75.0, 50.0], [0, 140.0, 50.0], [3, 149.4, 99.4]], np.float32)
    result = tr.track(video, queries)
    step = np.array([8 * 150 / 64, 4 * 100 / 64])  # one frame's motion in input pixels
    t = np.arange(4)[:, None, None]
    expected = queries[None, :, 1:] + (t - queries[None, :, :1]) * step
    np.testing.assert_allclose(result.tracks, expected, atol=1e-3)
    # Visible while inside the input frame [-0.5, W - 0.5) x [-0.5, H - 0.5); every query frame visible.
    inside = (expected[..., 0] >= -0.5) & (expected[..., 0] < 149.5) & (expected[..., 1] >= -0.5) & (
        expected[..., 1] < 99.5)
    inside[queries[:, 0].astype(int), np.arange(4)] = True
    np.testing.assert_array_equal(result.visible, inside)
    assert result.visible[:, :2].all() and result.visible[:, 2].tolist() == [True, False, False, False]
    assert result.visible[:, 3].all()  # comes from inside the frame to its last pixel


def test_inconsistent_flows_make_points_invisible_but_not_their_query_frame(monkeypatch):
    tr = constant_flow_tracker(monkeypatch, (1.0, 0.0), (2.5, 0.0))  # |f + b| = 3.5 px > 3
    video = np.zeros((3, 64, 64, 3), np.uint8)
    result = tr.track(video, np.array([[1, 30.0, 30.0]], np.float32))
    assert result.visible[:, 0].tolist() == [False, True, False]
    tr.threshold = 4.0
    assert tr.track(video, np.array([[1, 30.0, 30.0]], np.float32)).visible.all()


def test_options_are_checked():
    model = GMRW()
    with pytest.raises(ValueError, match="upsample"):
        GMRWTracker(model, CONFIGS["gmrw"], upsample=3)
    with pytest.raises(ValueError, match="flow_method"):
        GMRWTracker(model, CONFIGS["gmrw"], flow_method="mean")
    with pytest.raises(ValueError, match="multiples of 8"):
        GMRWTracker(model, CONFIGS["gmrw"], size=(60, 64))
    assert GMRWTracker(model, CONFIGS["gmrw_kinetics"], flow_method="weighted_sum").window == 20
    assert GMRWTracker(model, CONFIGS["gmrw"], flow_method="weighted_argmax", window=4).window == 4
    with pytest.raises(ValueError, match="window"):
        GMRWTracker(model, CONFIGS["gmrw"], flow_method="weighted_argmax")


def test_tracks_a_real_clip_through_the_contract(golden_file):
    from studio.io.video import read_video

    video = read_video(Path(__file__).parents[1] / "examples" / "hopper_pan.mp4", max_frames=4).frames
    truth = np.load(Path(__file__).parents[1] / "examples" / "hopper_pan_truth.npz")
    queries = truth["queries"][::4].copy()
    queries[1::2, 0] = 2  # some queries on a later frame: tracked backwards too
    tracker = build_tracker("gmrw", "cpu", golden_file, size=(64, 112))
    seen = []
    result = tracker.track(video, queries, progress=lambda f, text: seen.append((f, text)))
    assert result.tracks.shape == (4, len(queries), 2) and result.visible.shape == (4, len(queries))
    assert result.tracks.dtype == np.float32 and np.isfinite(result.tracks).all() and result.model == "gmrw"
    rows = np.arange(len(queries))
    np.testing.assert_array_equal(result.tracks[queries[:, 0].astype(int), rows], queries[:, 1:])
    assert result.visible[queries[:, 0].astype(int), rows].all()
    assert [round(f, 3) for f, _ in seen] == [0.333, 0.667, 1.0] and "x1" in seen[-1][1]
    # One frame: nothing to track, the queries themselves.
    one = tracker.track(video[:1], queries[queries[:, 0] == 0])
    assert one.visible.all() and np.array_equal(one.tracks[0], queries[queries[:, 0] == 0][:, 1:])
    with pytest.raises(InputError):
        tracker.track(video, np.array([[0, 500.0, 10.0]], np.float32))
