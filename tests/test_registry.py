"""Registry, hub cache resolution and strict checkpoint loading, with files made here."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from hubcache import put_in_cache
from studio import hub
from studio.hub import CheckpointMismatch, HubFile, UserFile, WeightsUnavailable, load_strict, read_state_dict
from studio.registry import ModelEntry, create_tracker, list_trackers, register, tracker_info, unregister, weight_status
from studio.trackers.base import PointTracker

REV = "0123456789abcdef0123456789abcdef01234567"


def test_builtin_models_are_registered_and_described():
    names = list_trackers()
    assert "lk" in names and "dis" in names
    assert list_trackers("point")[0] == "lk"
    assert "dis" in list_trackers("flow") and "dis" not in list_trackers("point")
    for name in names:
        e = tracker_info(name)
        assert e.kind in ("point", "flow", "dense")
        assert e.license and e.paper and e.visibility and e.query_convention
        if not e.needs_weights:
            assert weight_status(name) == "built-in"
        elif isinstance(e.checkpoint, UserFile):  # published outside the hub: the user brings it
            assert e.checkpoint.filename and e.checkpoint.url.startswith("https://") and e.checkpoint.source
            assert weight_status(name) == "needs a file"
        else:
            assert e.checkpoint.repo_id and e.checkpoint.filename and e.checkpoint.revision


def test_unknown_model_names_the_known_ones():
    with pytest.raises(KeyError, match="lk"):
        create_tracker("no-such-model")


def test_names_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="already registered"):
        register(ModelEntry(name="lk", kind="point", title="x", build=lambda d, c: None))


class TinyNet(torch.nn.Module):
    """Stands in for a neural tracker: a conv, a norm with running stats and a buffer."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Conv2d(3, 4, 3)
        self.norm = torch.nn.BatchNorm2d(4)
        self.register_buffer("time_emb", torch.zeros(1, 5, 4))


class TinyTracker(PointTracker):
    name = "tiny"

    def __init__(self, device, path):
        self.net = TinyNet().to(device)
        load_strict(self.net, read_state_dict(path), key_filter=lambda sd: {k.removeprefix("module."): v for k, v in sd.items()},
                    source=Path(path).name)

    def _track(self, video, queries, progress):
        t = video.shape[0]
        return np.repeat(queries[None, :, 1:], t, 0), np.ones((t, len(queries)), bool), None


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache and a registered model whose file lives there."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    file = HubFile("studio-test/tiny", "tiny.pth", REV)
    register(ModelEntry(name="tiny", kind="point", title="Tiny", build=TinyTracker, checkpoint=file,
                        license="test", paper="test", visibility="all"))
    yield cache, file
    unregister("tiny")


def _official_file(tmp_path: Path, wrap=None, prefix="") -> tuple[Path, dict]:
    torch.manual_seed(0)
    sd = {prefix + k: v.clone() for k, v in TinyNet().state_dict().items()}
    sd[prefix + "time_emb"] = torch.randn(1, 5, 4)
    path = tmp_path / "tiny.pth"
    torch.save(sd if wrap is None else {wrap: sd}, path)
    return path, sd


def test_missing_weights_offline_fail_with_one_clear_sentence(hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert weight_status("tiny") == "unavailable"
    with pytest.raises(WeightsUnavailable) as err:
        create_tracker("tiny")
    msg = str(err.value)
    assert "'tiny'" in msg and "tiny.pth" in msg and "studio-test/tiny" in msg and "'lk'" in msg
    assert msg.count(". ") == 0  # one sentence


def test_failed_download_says_what_to_do(hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("studio.hub.hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr("studio.registry.hub_reachable", lambda timeout=3.0: True)
    import huggingface_hub

    def refuse(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    assert weight_status("tiny") == "downloadable"
    with pytest.raises(WeightsUnavailable, match="could not be downloaded.*checkpoint=PATH"):
        create_tracker("tiny")


def test_download_goes_through_the_pinned_revision(hub_cache, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("studio.hub.hub_reachable", lambda timeout=3.0: True)
    path, _ = _official_file(tmp_path)
    calls = []
    import huggingface_hub

    def fake_download(repo_id, filename, revision=None, **kw):
        calls.append((repo_id, filename, revision))
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    create_tracker("tiny", device="cpu")
    assert calls == [("studio-test/tiny", "tiny.pth", REV)]


def test_unreachable_hub_fails_at_once_without_retries(hub_cache, monkeypatch):
    """No network: one quick connection attempt, then the clear sentence (no ~25 s of download retries)."""
    import socket
    import time

    import huggingface_hub

    from studio import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with socket.socket() as listener:  # a port that accepts connections...
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        hub._REACHABLE.clear()
        assert hub.hub_reachable()
    hub._REACHABLE.clear()  # ...and, closed, one that refuses them
    assert weight_status("tiny") == "unavailable"  # the menus say so too
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: pytest.fail("must not be called"))
    start = time.monotonic()
    with pytest.raises(WeightsUnavailable, match=f"127.0.0.1:{port}\\) cannot be reached.*'lk'"):
        create_tracker("tiny")
    assert time.monotonic() - start < 5
    hub._REACHABLE.clear()


def test_cached_official_file_loads_strictly_and_round_trips(hub_cache, monkeypatch, tmp_path):
    cache, file = hub_cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path, sd = _official_file(tmp_path, wrap="model", prefix="module.")
    put_in_cache(cache, file.repo_id, file.filename, path, file.revision)
    assert weight_status("tiny") == "cached"
    tracker = create_tracker("tiny", device="cpu")
    loaded = tracker.net.state_dict()
    assert set(loaded) == {k.removeprefix("module.") for k in sd}
    for k, v in sd.items():
        assert torch.equal(loaded[k.removeprefix("module.")], v)
    r = tracker.track(np.zeros((3, 8, 8, 3), np.uint8), np.array([[1, 2.0, 3.0]]))
    assert r.tracks.shape == (3, 1, 2) and r.model == "tiny"


def test_local_checkpoint_argument_is_used(hub_cache, tmp_path):
    path, sd = _official_file(tmp_path)
    tracker = create_tracker("tiny", device="cpu", checkpoint=path)
    assert torch.equal(tracker.net.time_emb, sd["time_emb"])
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        create_tracker("tiny", checkpoint=tmp_path / "nope.pth")


def test_strict_load_names_missing_unexpected_and_misshapen_keys(tmp_path):
    net = TinyNet()
    sd = dict(net.state_dict())
    sd.pop("norm.running_var")
    sd["head.weight"] = torch.zeros(2)
    sd["encoder.weight"] = torch.zeros(4, 3, 5, 5)
    with pytest.raises(CheckpointMismatch) as err:
        load_strict(net, sd, source="model.pth")
    msg = str(err.value)
    assert "model.pth" in msg and "norm.running_var" in msg and "head.weight" in msg
    assert "encoder.weight: checkpoint (4, 3, 5, 5) vs model (4, 3, 3, 3)" in msg


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/studio_pwned_by_checkpoint",))


def test_checkpoints_with_code_are_refused_without_running_it(tmp_path):
    marker = Path("/tmp/studio_pwned_by_checkpoint")
    marker.unlink(missing_ok=True)
    path = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "x": _Boom()}, path)
    with pytest.raises(CheckpointMismatch, match="evil.pth"):
        read_state_dict(path)
    assert not marker.exists()


def test_offline_flag_parsing(monkeypatch):
    for value, expected in [("1", True), ("true", True), ("0", False), ("", False)]:
        monkeypatch.setenv("HF_HUB_OFFLINE", value)
        assert hub.offline() is expected


def test_device_choice_honours_overrides(monkeypatch):
    from studio.device import pick_device

    monkeypatch.setenv("STUDIO_FORCE_CPU", "1")
    assert pick_device().type == "cpu"
    monkeypatch.setenv("STUDIO_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    assert pick_device("meta").type == "meta"
