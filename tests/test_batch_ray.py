"""The Ray engine on a local 2-CPU Ray instance (loopback only, stopped at the end): same files and numbers
as the local pool, and a killed actor loses no item."""

import json

import pytest

from batchclips import KillOneBusyWorker, make_many, make_tree, same_tracks
from conftest import ROOT
from studio.batch.bench import evaluate_on
from studio.batch.pool import LocalPool
from studio.batch.ray_engine import RayEngine, import_ray, start_ray
from studio.batch.run import run_batch
from studio.batch.track_jobs import TrackSettings
from studio.benchmark.runner import evaluate
from studio.cli import main


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance for the module, started the way ``--ray`` starts it."""
    ray = import_ray(local=True)
    assert not ray.is_initialized()
    assert start_ray(local_cpus=2) is True
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    return root, make_tree(root)


def test_ray_listens_on_loopback_only(ray_local):
    nodes = [n for n in ray_local.nodes() if n["Alive"]]
    assert len(nodes) == 1 and nodes[0]["NodeManagerAddress"] == "127.0.0.1"
    assert ray_local.cluster_resources()["CPU"] == 2


def test_ray_batch_writes_the_same_files_as_the_local_pool(ray_local, tree, tmp_path, capsys):
    root, paths = tree
    rc = main(["batch", str(root), "--grid", "4", "--out", str(tmp_path / "ray"), "--ray", "--workers", "2",
               "--quiet"])
    captured = capsys.readouterr()
    assert rc == 1 and "3 done, 1 failed" in captured.out  # the broken video fails here too
    assert "Ray on this machine (2 CPUs, 0 GPUs), 2 actor(s)" in captured.err
    assert ray_local.is_initialized()  # a Ray that was running is left running
    pool = run_batch([str(root)], TrackSettings(model="lk", grid=4), tmp_path / "pool", lambda: LocalPool(2),
                     show_progress=False)
    recs = [json.loads(line) for line in (tmp_path / "ray" / "manifest.jsonl").read_text().splitlines()]
    done = sorted(r["output"] for r in recs if r["status"] == "done")
    assert done == ["a.npz", "sub/b.npz", "sub/deeper/c.npz"] and pool.failed == 1
    for rel in done:
        assert same_tracks(tmp_path / "ray" / rel, tmp_path / "pool" / rel), rel
    broken = next(r for r in recs if r["status"] == "failed")
    assert broken["input"] == str(paths["broken"]) and "damaged or truncated" in broken["error"]


def test_killing_an_actor_mid_batch_loses_no_item(ray_local, tmp_path):
    root = make_many(tmp_path / "many", copies=2)
    settings = TrackSettings(model="lk", grid=6)
    kill = KillOneBusyWorker()
    summary = run_batch([str(root)], settings, tmp_path / "ray", lambda: RayEngine(workers=2), on_record=kill,
                        show_progress=False)
    assert kill.killed is not None
    assert [r["status"] for r in summary.records] == ["done"] * 5
    workers = {r["worker"].rsplit(":", 1)[1] for r in summary.records}
    assert str(kill.killed[0]) not in workers and len(workers) >= 2  # the killed actor's item ran on a new process
    reference = run_batch([str(root)], settings, tmp_path / "ref", lambda: LocalPool(1), show_progress=False)
    for r in reference.records:
        assert same_tracks(tmp_path / "ray" / r["output"], tmp_path / "ref" / r["output"])


def test_ray_benchmark_gives_the_same_numbers_as_one_process(ray_local):
    sample = ROOT / "assets" / "tapvid_sample" / "tapvid_sample.pkl"
    local = evaluate("lk", sample, "first")
    engine = RayEngine(workers=2)
    try:
        sharded = evaluate_on(engine, "lk", sample, "first")
    finally:
        engine.close()
    assert [v.name for v in sharded.videos] == [v.name for v in local.videos] and len(local.videos) == 5
    assert [v.metrics for v in sharded.videos] == [v.metrics for v in local.videos]
    assert sharded.mean() == local.mean()
