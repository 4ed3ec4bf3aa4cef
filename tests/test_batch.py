"""``python -m studio batch`` and the local process pool, as a user runs them."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from batchclips import KillOneBusyWorker, make_many, make_tree, same_tracks
from conftest import ROOT
from studio.batch.engine import EngineError, WorkerSpec
from studio.batch.inputs import expand_inputs
from studio.batch.manifest import read_manifest
from studio.batch.pool import LocalPool
from studio.batch.run import run_batch
from studio.batch.track_jobs import TrackSettings, TrackTask, TrackWorker
from studio.cli import main
from studio.io.trackfile import load_tracks
from studio.results import InputError


def studio_cli(*args):
    return subprocess.run([sys.executable, "-m", "studio", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    return root, make_tree(root)


def lines(manifest):
    return [json.loads(line) for line in manifest.read_text().splitlines()]


def test_batch_tracks_a_folder_tree_records_each_item_and_reruns_skip_done_and_retry_failed(tree, tmp_path):
    root, paths = tree
    out = tmp_path / "out"
    first = studio_cli("batch", root, "--grid", 4, "--out", out, "--workers", 2, "--video")
    assert first.returncode == 1, first.stderr  # the broken video failed; the others went on
    recs = {os.path.relpath(r["input"], root): r for r in lines(out / "manifest.jsonl")}
    assert set(recs) == {"a.mp4", "sub/b.mp4", "sub/deeper/c.mov", "sub/broken.mp4"}  # not notes.txt, not .hidden
    for rel, target in [("a.mp4", "a"), ("sub/b.mp4", "sub/b"), ("sub/deeper/c.mov", "sub/deeper/c")]:
        r = recs[rel]
        assert (r["status"], r["output"], r["video"], r["error"]) == ("done", f"{target}.npz",
                                                                      f"{target}_tracked.mp4", None)
        assert r["seconds"] > 0 and r["frames"] == 16 and r["points"] == 16 and r["attempts"] == 1
        assert (out / r["output"]).is_file() and (out / r["video"]).stat().st_size > 1000
    bad = recs["sub/broken.mp4"]
    assert bad["status"] == "failed" and bad["output"] is None and "damaged or truncated" in bad["error"]
    assert "failed: " in first.stderr and "4/4" in first.stderr and "<00:00" in first.stderr  # bar with time left
    assert "3 done, 1 failed, 0 skipped" in first.stdout

    # The file equals what the single-video command writes.
    single = studio_cli("track", paths["b"], "--grid", 4, "--out", tmp_path / "single.npz")
    assert single.returncode == 0, single.stderr
    assert same_tracks(out / "sub" / "b.npz", tmp_path / "single.npz")

    stamp = (out / "a.npz").stat().st_mtime_ns
    again = studio_cli("batch", root, "--grid", 4, "--out", out, "--workers", 2, "--video")
    assert again.returncode == 1 and "0 done, 1 failed, 3 skipped" in again.stdout
    latest = read_manifest(out / "manifest.jsonl")
    assert latest[str(paths["a"])]["status"] == "skipped" and latest[str(paths["a"])]["output"] == "a.npz"
    assert latest[str(paths["broken"])]["worker"]  # retried, not skipped
    assert (out / "a.npz").stat().st_mtime_ns == stamp

    # Other settings are not "done": a different grid runs again.
    moved = tmp_path / "moved"
    shutil.copytree(root, moved, ignore=shutil.ignore_patterns("broken.mp4"))
    third = studio_cli("batch", moved, "--grid", 3, "--out", out, "--workers", 1, "--quiet")
    assert third.returncode == 0 and "3 done, 0 failed" in third.stdout
    assert load_tracks(out / "sub" / "b.npz").num_points == 9


def test_inputs_files_folders_and_globs_mirror_the_tree_below_them(tree, tmp_path):
    root, paths = tree
    rels = lambda videos: [v.rel.as_posix() for v in videos]  # noqa: E731
    assert rels(expand_inputs([str(root / "sub")])) == ["b.mp4", "broken.mp4", "deeper/c.mov"]
    assert rels(expand_inputs([str(root / "sub" / "**" / "*.mov")])) == ["deeper/c.mov"]
    assert rels(expand_inputs([str(root / "*" / "b.mp4")])) == ["sub/b.mp4"]
    assert rels(expand_inputs([str(paths["c"]), str(root / "notes.txt")])) == ["c.mov", "notes.txt"]  # as given
    # Each video once; the output folder's own files are never inputs.
    assert rels(expand_inputs([str(paths["a"]), str(root / "*.mp4")])) == ["a.mp4"]
    assert rels(expand_inputs([str(root / "sub")], exclude=root / "sub" / "deeper")) == ["b.mp4", "broken.mp4"]
    shutil.copy(paths["a"], tmp_path / "a.mov")
    with pytest.raises(InputError, match="would both write a"):
        expand_inputs([str(paths["a"]), str(tmp_path / "a.mov")])
    with pytest.raises(InputError, match="no such file or folder"):
        expand_inputs([str(root / "nope.mp4")])
    with pytest.raises(InputError, match="matches no video"):
        expand_inputs([str(root / "*.avi")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no video files"):
        expand_inputs([str(empty)])


def test_points_and_labelme_queries_with_names_beside_the_tracks(tree, tmp_path):
    root, paths = tree
    lm = tmp_path / "labelme"
    (lm / "sub").mkdir(parents=True)
    (lm / "elsewhere").mkdir()
    shape = lambda label, x, y: {"label": label, "points": [[x, y]], "shape_type": "point"}  # noqa: E731
    doc = lambda *shapes: json.dumps({"shapes": list(shapes), "imageHeight": 96, "imageWidth": 128})  # noqa: E731
    (lm / "a.json").write_text(doc(shape("eye", 40.5, 30.5), shape("ear", 80.5, 50.5)))  # mirrors a.mp4
    (lm / "elsewhere" / "b.json").write_text(doc(shape("tip", 60, 40)))  # found by stem
    (lm / "sub" / "broken.json").write_text(doc(shape("x", 1, 1)))
    out = tmp_path / "out"
    settings = TrackSettings(model="lk", labelme_dir=str(lm), frame=2)
    summary = run_batch([str(root)], settings, out, lambda: LocalPool(2), show_progress=False)
    recs = {os.path.basename(r["input"]): r for r in summary.records}
    assert recs["c.mov"]["status"] == "failed" and "no labelme file c.json" in recs["c.mov"]["error"]
    assert recs["broken.mp4"]["status"] == "failed"
    a = load_tracks(out / "a.npz")
    assert np.array_equal(a.queries, [[2, 40, 30], [2, 80, 50]])  # labelme centre + 0.5 -> studio pixel
    assert np.allclose(a.tracks[2], [[40, 30], [80, 50]])
    names = json.loads((out / recs["a.mp4"]["names"]).read_text())
    assert names["names"] == ["eye", "ear"] and names["source"] == str(lm / "a.json")
    assert json.loads((out / "sub" / "b.names.json").read_text())["names"] == ["tip"]
    assert summary.failed == 2

    # --points: the same points in every video; one off the frame of a video fails only that video.
    out2 = tmp_path / "out2"
    settings = TrackSettings(model="lk", points="0,10,10; 3,120,90", fmt="csv")
    summary = run_batch([str(paths["a"]), str(paths["b"])], settings, out2, lambda: LocalPool(1),
                        show_progress=False)
    assert [r["status"] for r in summary.records] == ["done", "done"]
    assert np.array_equal(load_tracks(out2 / "b.csv").tracks[3, 1], [120, 90])
    summary = run_batch([str(paths["a"])], TrackSettings(model="lk", points="0,500,10"), tmp_path / "o3",
                        lambda: LocalPool(1), show_progress=False)
    assert summary.failed == 1 and "outside the 128x96 frame" in summary.records[0]["error"]


def test_killing_a_worker_mid_batch_loses_no_item(tmp_path):
    root = make_many(tmp_path / "many", copies=3)
    settings = TrackSettings(model="lk", grid=6)
    kill = KillOneBusyWorker()
    out = tmp_path / "out"
    summary = run_batch([str(root)], settings, out, lambda: LocalPool(2), on_record=kill, show_progress=False)
    assert kill.killed is not None
    assert [r["status"] for r in summary.records] == ["done"] * 6
    retried = [r for r in summary.records if r["attempts"] == 2]
    assert len(retried) == 1 and str(kill.killed[0]) not in retried[0]["worker"]
    # Identical to tracking each video on its own in this process.
    worker = TrackWorker(settings)
    for r in summary.records:
        worker(TrackTask(input=r["input"], output=str(tmp_path / "ref.npz")))
        assert same_tracks(out / r["output"], tmp_path / "ref.npz"), r["input"]


class Crasher:
    """A worker that kills its own process on task "crash" and doubles numbers otherwise."""

    def __init__(self, fail_on_start=False):
        if fail_on_start:
            raise InputError("this worker cannot start")

    def __call__(self, task):
        if task == "crash":
            os.kill(os.getpid(), 9)
        if task == "raise":
            raise InputError("a bad item")
        return task * 2


def test_the_pool_restarts_dead_workers_gives_up_on_an_item_after_three_deaths_and_reports_start_errors():
    pool = LocalPool(2, threads=1)
    outcomes = sorted(pool.map(WorkerSpec(Crasher), [1, "crash", 2, "raise", 3]), key=lambda o: o.index)
    assert [o.value for o in outcomes] == [2, None, 4, None, 6]
    assert outcomes[1].error == "the worker process died on this item 3 times (killed by SIGKILL)"
    assert outcomes[1].attempts == 3 and outcomes[3].error == "a bad item"
    with pytest.raises(EngineError, match="a worker could not start: this worker cannot start"):
        list(LocalPool(1).map(WorkerSpec(Crasher, (True,)), [1, 2]))


def test_a_model_that_cannot_load_stops_the_batch_with_one_line(tree, tmp_path, capsys):
    root, paths = tree
    rc = main(["batch", str(paths["a"]), "--model", "cotracker3_offline", "--checkpoint", str(tmp_path / "no.pth"),
               "--grid", "2", "--out", str(tmp_path / "out"), "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "a worker could not start" in err and "no.pth" in err and "does not exist" in err
    rc = main(["batch", str(paths["a"]), "--option", "wings=2", "--grid", "2", "--out", str(tmp_path / "out"),
               "--workers", "1", "--quiet"])
    assert rc == 2 and "does not take the options ['wings']" in capsys.readouterr().err


def test_ray_missing_says_how_to_install_it(tree, tmp_path, monkeypatch, capsys):
    root, paths = tree
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    rc = main(["batch", str(paths["a"]), "--grid", "2", "--out", str(tmp_path / "out"), "--ray"])
    assert rc == 2 and "pip install -r requirements-ray.txt" in capsys.readouterr().err
    assert "ray" in (ROOT / "requirements-ray.txt").read_text()


def test_sharded_benchmark_gives_the_same_numbers_as_one_process(tmp_path):
    sample = ROOT / "assets" / "tapvid_sample" / "tapvid_sample.pkl"
    one = studio_cli("bench", sample, "--model", "lk", "--query-mode", "strided", "--json", tmp_path / "one.json")
    two = studio_cli("bench", sample, "--model", "lk", "--query-mode", "strided", "--workers", "2",
                     "--json", tmp_path / "two.json")
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert "local pool, 2 worker" in two.stderr
    strip = lambda doc: [{k: v for k, v in r.items() if k != "seconds"} | {  # noqa: E731
        "videos": [{k: v for k, v in x.items() if k != "seconds"} for x in r["videos"]]} for r in doc["results"]]
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("one.json", "two.json"))
    assert len(a["results"][0]["videos"]) == 5 and strip(a) == strip(b)


def test_a_bare_ray_flag_before_the_inputs_gives_them_back(tree):
    from studio.cli import build_parser
    from studio.cli.batch import ray_address

    root, paths = tree
    args = build_parser().parse_args(["batch", "--ray", str(root), "--grid", "2", "--out", "x"])
    inputs = list(args.inputs)
    assert ray_address(args, inputs) == (True, None) and inputs == [str(root)]
    args = build_parser().parse_args(["batch", str(root), "--ray", "auto", "--grid", "2", "--out", "x"])
    assert ray_address(args, list(args.inputs)) == (True, "auto")
    args = build_parser().parse_args(["batch", str(root), "--grid", "2", "--out", "x"])
    assert ray_address(args, list(args.inputs)) == (False, None)


def test_the_manifest_passes_over_a_line_cut_short_by_a_crash(tmp_path):
    m = tmp_path / "manifest.jsonl"
    good = {"input": "/v/a.mp4", "output": "a.npz", "status": "done", "seconds": 1.0, "error": None}
    m.write_text(json.dumps(good) + "\n" + json.dumps({**good, "status": "failed"})[:30] + "\n")
    assert read_manifest(m) == {"/v/a.mp4": good}
