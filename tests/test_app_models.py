"""The Models tab's "bring your own checkpoint": statuses, where to get a file, the upload, its API twin."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import handler_named
from test_gmrw import official_file as gmrw_file
from test_raft import official_file as raft_file

pytestmark = pytest.mark.filterwarnings("ignore:.*:Warning:gradio.queueing")

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file

from studio.service import TrackingService
from studio.trackers.gmrw.variants import SOURCE_URL
from studio.ui.app import build_demo, launch_kwargs
from studio.ui.tab_models import COLUMNS, files_to_bring, table_rows, upload_models, where_text

PAN = Path(__file__).resolve().parents[1] / "examples" / "hopper_pan.mp4"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    service = TrackingService(output_root=tmp_path_factory.mktemp("out"))
    demo = build_demo(service)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                            **launch_kwargs())
    yield demo, url, service
    demo.close()


def rows_by_name(service) -> dict[str, dict]:
    return {r[0]: dict(zip([k for k, _ in COLUMNS], r)) for r in table_rows(service)}


def test_the_table_says_needs_a_file_and_where_to_get_it(app):
    _, _, service = app
    rows = rows_by_name(service)
    assert rows["gmrw"]["status"] == "needs a file" and rows["gmrw_kinetics"]["status"] == "needs a file"
    assert rows["gmrw"]["checkpoint"] == "kubric_73k.pth (bring your own)"
    text = where_text("gmrw")
    assert "kubric_73k.pth" in text and SOURCE_URL in text and "needs a file" in text
    assert "`gmrw`" in files_to_bring() and "`gmrw_kinetics`" in files_to_bring()
    assert upload_models()[:2] == ["gmrw", "gmrw_kinetics"] and "lk" not in upload_models()
    table = {r["name"]: r for r in service.models_table()}
    assert table["gmrw"]["where_to_get"].startswith("Download kubric_73k.pth from https://www.dropbox.com/")


def test_upload_checks_strictly_then_keeps_and_reloads(app, tmp_path, checkpoint_folder):
    demo, _, service = app
    on_keep = handler_named(demo, "on_keep")
    wrong = tmp_path / "kubric_73k.pth"
    raft_file("raft_cvo", wrong)
    text, rows, note, where, cleared = on_keep("gmrw", str(wrong))
    assert text.startswith("**Refused, nothing kept:**")
    assert "missing: backbone." in text and "unexpected: cnet." in text
    assert not checkpoint_folder.exists() or not any(checkpoint_folder.iterdir())
    good = tmp_path / "my download.pth"
    first = gmrw_file(good, seed=1)
    text, rows, note, where, cleared = on_keep("gmrw", str(good))
    assert text.startswith("Kept: kubric_73k.pth passed the strict check") and "used by gmrw" in text
    assert sorted(p.name for p in checkpoint_folder.iterdir()) == ["kubric_73k.pth"] and cleared is None
    assert {r[0]: r for r in rows}["gmrw"][COLUMNS.index(("status", "status here"))] == "local file"
    assert "local file" in where and "`gmrw_kinetics`" in note and "`gmrw`:" not in note
    model = service.tracker("gmrw")
    assert torch.equal(model.model.state_dict()["backbone.conv1.weight"], first["backbone.conv1.weight"])
    # A new file replaces the kept one and the cached model is dropped, so the next use loads it.
    second = gmrw_file(good, seed=2)
    on_keep("gmrw", str(good))
    assert "gmrw" not in service.loaded_models()
    reloaded = service.tracker("gmrw")
    assert torch.equal(reloaded.model.state_dict()["backbone.conv1.weight"], second["backbone.conv1.weight"])
    text, *_ = on_keep("gmrw", None)
    assert "choose the file" in text


def test_uploads_can_be_switched_off(app, tmp_path, checkpoint_folder, monkeypatch):
    demo, _, _ = app
    monkeypatch.setenv("STUDIO_CHECKPOINT_UPLOAD", "0")
    good = tmp_path / "good.pth"
    gmrw_file(good)
    text, *_ = handler_named(demo, "on_keep")("gmrw", str(good))
    assert "switched off" in text and not checkpoint_folder.exists()


def test_add_checkpoint_endpoint_refuses_bad_files_and_keeps_good_ones(app, tmp_path, checkpoint_folder):
    _, url, _ = app
    client = Client(url, verbose=False)
    assert "/add_checkpoint" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    evil = tmp_path / "evil.pth"
    torch.save({"model": {}, "x": np.dtype("float32").__class__}, evil)  # refers to numpy's dtype class
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    for bad, words in ((evil, "refused"), (junk, "not a readable torch checkpoint")):
        with pytest.raises(Exception, match=words):
            client.predict("gmrw", handle_file(str(bad)), api_name="/add_checkpoint")
    assert not checkpoint_folder.exists() or not any(checkpoint_folder.iterdir())
    good = tmp_path / "kinetics.pth"
    gmrw_file(good, seed=3)
    message = client.predict("gmrw_kinetics", handle_file(str(good)), api_name="/add_checkpoint")
    assert "kinetics_144k.pth passed the strict check" in message
    assert (checkpoint_folder / "kinetics_144k.pth").read_bytes() == good.read_bytes()
    # The server still answers after the refusals.
    assert any(r["name"] == "gmrw_kinetics" and r["status"] == "local file"
               for r in client.predict(api_name="/models"))
