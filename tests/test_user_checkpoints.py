"""Bring your own checkpoint, for every registry entry: the checkpoint folder, statuses, strict checks, safe loading.

Files here are made by the family tests' recipes (official key layouts, random values) and
go through the real loading path; the hub is switched off (``empty_hub_cache``) wherever
a download could otherwise hide what is being tested.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hubcache import put_in_cache
from test_gmrw import official_file as gmrw_file
from test_raft import official_file as raft_file

from studio import hub
from studio.hub import CheckpointMismatch, CheckpointRefused, UserFile, checkpoint_dir, read_state_dict
from studio.registry import (
    add_checkpoint,
    check_checkpoint,
    create_tracker,
    list_trackers,
    names_using,
    tracker_info,
    weight_status,
    where_to_get,
)

NEURAL = [n for n in list_trackers() if tracker_info(n).checkpoint is not None]


def folder_contents(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_checkpoint_folder_is_the_variable_or_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_CHECKPOINT_DIR", str(tmp_path / "mine"))
    assert checkpoint_dir() == tmp_path / "mine"
    monkeypatch.delenv("STUDIO_CHECKPOINT_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert checkpoint_dir() == tmp_path / "cache" / "tracking-studio" / "checkpoints"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert checkpoint_dir() == Path.home() / ".cache" / "tracking-studio" / "checkpoints"


def test_distinct_checkpoints_never_share_an_official_file_name():
    # The folder is searched by file name, so one name must mean one file.
    sources: dict[str, set] = {}
    for name in NEURAL:
        file = tracker_info(name).checkpoint
        sources.setdefault(file.filename, set()).add(getattr(file, "repo_id", None) or file.url)
    assert all(len(s) == 1 for s in sources.values()), sources
    assert set(names_using("cotracker2.pth")) == {"cotracker2", "cotracker2_online"}
    assert set(names_using("movi_f_raft_patch_4_alpha.pth")) == {"raft_refiner", "dot"}


@pytest.mark.parametrize("name", NEURAL)
def test_every_entry_finds_its_official_file_in_the_folder(name, checkpoint_folder, empty_hub_cache):
    file = tracker_info(name).checkpoint
    assert weight_status(name) == ("needs a file" if isinstance(file, UserFile) else "unavailable")
    advice = where_to_get(name)
    assert file.filename in advice and "--checkpoint PATH" in advice and str(checkpoint_folder) in advice
    assert "STUDIO_CHECKPOINT_DIR" in advice and "Models tab" in advice
    if isinstance(file, UserFile):
        assert file.url in advice
    checkpoint_folder.mkdir()
    (checkpoint_folder / file.filename).write_bytes(b"placeholder")
    # Files the checkpoint does not hold (a backbone from another hub repository) come from the hub cache.
    for extra in tracker_info(name).extra_files:
        assert weight_status(name) == "unavailable"
        put_in_cache(empty_hub_cache, extra.repo_id, extra.filename, checkpoint_folder / file.filename, "0" * 40)
    assert weight_status(name) == "local file"


def test_a_hub_model_loads_from_the_folder_without_network(checkpoint_folder, empty_hub_cache):
    checkpoint_folder.mkdir()
    sd = raft_file("raft_cvo", checkpoint_folder / "cvo_raft_patch_8.pth", seed=4)
    flow = create_tracker("raft_cvo", device="cpu")
    assert torch.equal(flow.model.state_dict()["fnet.conv1.weight"], sd["fnet.conv1.weight"])


def test_add_checkpoint_keeps_a_good_file_under_its_official_name(tmp_path, checkpoint_folder, empty_hub_cache):
    upload = tmp_path / "download (1).pth"  # whatever the browser called it
    sd = gmrw_file(upload, seed=2)
    kept = add_checkpoint("gmrw", upload)
    assert kept == checkpoint_folder / "kubric_73k.pth" and folder_contents(checkpoint_folder) == ["kubric_73k.pth"]
    assert kept.read_bytes() == upload.read_bytes()
    assert weight_status("gmrw") == "local file" and weight_status("gmrw_kinetics") == "needs a file"
    tracker = create_tracker("gmrw", device="cpu")
    assert torch.equal(tracker.model.state_dict()["backbone.conv2.bias"], sd["backbone.conv2.bias"])
    # A hub model's file too, and DOT's file is checked as the refiner it is.
    refiner = tmp_path / "refiner.pth"
    raft_file("raft_refiner", refiner)
    assert add_checkpoint("dot", refiner) == checkpoint_folder / "movi_f_raft_patch_4_alpha.pth"
    assert weight_status("dot") == weight_status("raft_refiner") == "local file"


def test_a_wrong_file_is_refused_with_the_key_differences_and_nothing_is_kept(tmp_path, checkpoint_folder):
    wrong = tmp_path / "kubric_73k.pth"
    raft_file("raft_cvo", wrong)
    with pytest.raises(CheckpointMismatch) as err:
        add_checkpoint("gmrw", wrong)
    msg = str(err.value)
    assert "missing: backbone." in msg and "unexpected: cnet." in msg
    assert folder_contents(checkpoint_folder) == []
    # A good file already kept stays as it was.
    good = tmp_path / "good.pth"
    gmrw_file(good, seed=5)
    add_checkpoint("gmrw", good)
    before = (checkpoint_folder / "kubric_73k.pth").read_bytes()
    with pytest.raises(CheckpointMismatch):
        add_checkpoint("gmrw", wrong)
    assert (checkpoint_folder / "kubric_73k.pth").read_bytes() == before
    assert folder_contents(checkpoint_folder) == ["kubric_73k.pth"]
    with pytest.raises(ValueError, match="needs no weights"):
        check_checkpoint("lk", good)


def test_an_interrupted_copy_leaves_nothing_half_written(tmp_path, checkpoint_folder, monkeypatch):
    upload = tmp_path / "upload.pth"
    gmrw_file(upload, seed=6)
    add_checkpoint("gmrw", upload)
    before = (checkpoint_folder / "kubric_73k.pth").read_bytes()
    gmrw_file(upload, seed=7)

    def fail_halfway(src, dst, length=0):
        dst.write(src.read(1000))
        raise OSError("No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", fail_halfway)
    with pytest.raises(OSError, match="No space"):
        add_checkpoint("gmrw", upload)
    assert folder_contents(checkpoint_folder) == ["kubric_73k.pth"]
    assert (checkpoint_folder / "kubric_73k.pth").read_bytes() == before
    with pytest.raises(ValueError, match="plain file name"):
        hub.keep_checkpoint(upload, "../escape.pth")


class _Runs:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def _bad_files(folder: Path) -> dict[str, Path]:
    files = {}
    good = folder / "good.pth"
    torch.save({"w": torch.ones(3)}, good)
    for name, data in {
        "empty.pth": b"",
        "text.pth": b"just some text\n",
        "random.pth": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "truncated.pth": good.read_bytes()[: len(good.read_bytes()) // 2],
    }.items():
        (folder / name).write_bytes(data)
        files[name] = folder / name
    evil = {"w": torch.ones(3), "x": _Runs(folder / "ran")}
    torch.save(evil, folder / "evil_zip.pth")
    torch.save(evil, folder / "evil_legacy.pth", _use_new_zipfile_serialization=False)
    with open(folder / "evil_pickle.pth", "wb") as f:
        pickle.dump(evil, f)
    np.savez(folder / "arrays.npz", w=np.ones(3))
    for name in ("evil_zip.pth", "evil_legacy.pth", "evil_pickle.pth", "arrays.npz"):
        files[name] = folder / name
    return files


def test_bad_files_are_clear_errors_that_never_suggest_unsafe_loading(tmp_path, checkpoint_folder):
    for name, path in _bad_files(tmp_path).items():
        with pytest.raises(CheckpointMismatch) as err:
            read_state_dict(path)
        msg = str(err.value)
        assert name in msg, msg
        assert "weights_only" not in msg and "trust" not in msg.lower() and "add_safe_globals" not in msg, msg
        if name.startswith("evil"):
            assert isinstance(err.value, CheckpointRefused) and "mkdir" in msg, msg
        with pytest.raises(CheckpointMismatch):
            add_checkpoint("raft_cvo", path)
    assert not (tmp_path / "ran").exists()
    assert folder_contents(checkpoint_folder) == []


def test_allowed_globals_are_per_format():
    # The GMRW format needs argparse.Namespace; no other format does.
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "ns.pth"
        torch.save({"model": {"w": torch.ones(1)}, "args": argparse.Namespace(lr=1.0)}, path)
        assert read_state_dict(path, allowed_globals=(argparse.Namespace,)).keys() == {"w"}
        with pytest.raises(CheckpointRefused, match="argparse.Namespace"):
            read_state_dict(path)
