"""Bring your own checkpoint from the command line: ``--checkpoint`` on every command that takes a model,
``--option``, ``models --add``, and the checkpoint folder."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from test_gmrw import official_file as gmrw_file
from test_raft import official_file as raft_file

from studio.benchmark.datasets.tapvid import save_npz
from studio.cli import main
from studio.cli.model_args import parse_checkpoints, parse_options
from studio.conventions import pixels_to_tapvid
from studio.io.trackfile import load_tracks
from studio.io.video import write_video
from studio.synthetic import make_clip


def run(*args):
    """``python -m studio ARGS`` as a user runs it (a subprocess: slower, so used for the main paths)."""
    return subprocess.run([sys.executable, "-m", "studio", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


class Done:
    def __init__(self, returncode, out, err):
        self.returncode, self.stdout, self.stderr = returncode, out, err


@pytest.fixture
def cli(capsys):
    """The same command in this process (the CLI's own ``main``), for the many error paths."""

    def call(*args):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Done(code, captured.out, captured.err)

    return call


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("byo")
    clip = make_clip("translate", num_frames=3, size=(64, 96))
    write_video(folder / "clip.mp4", clip.video, 12.0)
    gmrw_file(folder / "kubric_73k.pth")
    raft_file("raft_cvo", folder / "wrong.pth")
    queries = np.array([[0, 30.0, 20.0], [0, 60.0, 40.0]], np.float32)
    tracks, visible = clip.ground_truth(queries)
    # Two frames: bench runs GMRW on one pair at 256x256.
    save_npz(folder / "tiny.npz", {"tiny": {"video": clip.video[:2], "points": pixels_to_tapvid(tracks[:2], (64, 96))
                                            .transpose(1, 0, 2), "occluded": ~visible[:2].T}})
    return folder


def test_parse_checkpoints_and_options():
    assert parse_checkpoints(["a.pth"], ["lk", "gmrw"]) == {"gmrw": "a.pth"}
    assert parse_checkpoints(["gmrw=a.pth", "gmrw_kinetics=b=c.pth"], ["gmrw", "gmrw_kinetics"]) == {
        "gmrw": "a.pth", "gmrw_kinetics": "b=c.pth"}
    with pytest.raises(ValueError, match="NAME=PATH"):
        parse_checkpoints(["a.pth"], ["gmrw", "gmrw_kinetics"])
    with pytest.raises(ValueError, match="twice"):
        parse_checkpoints(["a.pth", "gmrw=b.pth"], ["gmrw"])
    assert parse_options(["upsample=2", "threshold=0.5", "flow_method=argmax", "x=true"]) == {
        "upsample": 2, "threshold": 0.5, "flow_method": "argmax", "x": True}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_options(["upsample"])


def test_models_says_what_needs_a_file_and_add_keeps_only_a_good_one(files, checkpoint_folder, cli):
    out = cli("models")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[1:] if not line.startswith("#")}
    assert rows["gmrw"][3:5] == ["needs", "a"] and "kubric_73k.pth" in out.stdout
    assert f"# checkpoint folder: {checkpoint_folder}" in out.stdout
    assert "# gmrw needs a file: Download kubric_73k.pth from https://www.dropbox.com/" in out.stdout
    bad = cli("models", "--add", "gmrw", files / "wrong.pth")
    assert bad.returncode == 2 and "missing: backbone." in bad.stderr and "Traceback" not in bad.stderr
    assert not checkpoint_folder.exists() or not any(checkpoint_folder.iterdir())
    good = run("models", "--add", "gmrw", files / "kubric_73k.pth")
    assert good.returncode == 0, good.stderr
    assert f"kept as {checkpoint_folder / 'kubric_73k.pth'} (used by gmrw)" in good.stdout
    rows = {line.split()[0]: line.split() for line in cli("models").stdout.splitlines()[1:] if line[:1] != "#"}
    assert rows["gmrw"][3:5] == ["local", "file"]


def test_track_with_a_brought_checkpoint_and_options(files, tmp_path, checkpoint_folder, cli):
    missing = cli("track", files / "clip.mp4", "--model", "gmrw", "--grid", "2")
    assert missing.returncode == 2 and "needs kubric_73k.pth" in missing.stderr and "dropbox.com" in missing.stderr
    out = run("track", files / "clip.mp4", "--model", "gmrw", "--checkpoint", files / "kubric_73k.pth",
              "--points", "0,30,20; 2,60,40", "--option", "upsample=2", "--option", "size=64",
              "--out", tmp_path / "t.npz")
    assert out.returncode == 0, out.stderr
    saved = load_tracks(tmp_path / "t.npz")
    assert saved.model == "gmrw" and saved.tracks.shape == (3, 2, 2) and np.isfinite(saved.tracks).all()
    np.testing.assert_allclose(saved.tracks[[0, 2], [0, 1]], [[30, 20], [60, 40]], atol=1e-4)
    bad = cli("track", files / "clip.mp4", "--model", "gmrw", "--checkpoint", files / "kubric_73k.pth",
              "--grid", "2", "--option", "upsample=3")
    assert bad.returncode == 2 and "upsample must be one of (1, 2, 4)" in bad.stderr
    wrong = cli("track", files / "clip.mp4", "--model", "gmrw", "--checkpoint", files / "wrong.pth", "--grid", "2")
    assert wrong.returncode == 2 and "wrong.pth does not match GMRW" in wrong.stderr


def test_bench_and_dense_take_checkpoints_too(files, tmp_path, cli):
    out = cli("bench", files / "tiny.npz", "--model", "lk", "--model", "gmrw", "--query-mode", "first",
              "--checkpoint", f"gmrw={files / 'kubric_73k.pth'}", "--json", tmp_path / "r.json")
    assert out.returncode == 0, out.stderr
    assert "gmrw" in out.stdout and (tmp_path / "r.json").read_text().count('"gmrw"') >= 1
    wrong = cli("bench", files / "tiny.npz", "--model", "gmrw", "--query-mode", "first",
                "--checkpoint", files / "wrong.pth")
    assert wrong.returncode == 2 and "does not match GMRW" in wrong.stderr
    ambiguous = cli("bench", files / "tiny.npz", "--model", "gmrw", "--model", "gmrw_kinetics", "--query-mode",
                    "first", "--checkpoint", files / "kubric_73k.pth")
    assert ambiguous.returncode == 2 and "NAME=PATH" in ambiguous.stderr
    dense = cli("dense", files / "clip.mp4", "--initializer", "gmrw", "--initializer-checkpoint", files / "wrong.pth",
                "--out", tmp_path / "d.npz")
    assert dense.returncode == 2 and "wrong.pth does not match GMRW" in dense.stderr
    lonely = cli("dense", files / "clip.mp4", "--initializer-checkpoint", files / "kubric_73k.pth",
                 "--out", tmp_path / "d.npz")
    assert lonely.returncode == 2 and "needs --initializer" in lonely.stderr
