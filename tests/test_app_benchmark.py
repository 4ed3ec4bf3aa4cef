"""The Benchmark tab: same numbers as ``studio.benchmark.runner`` and the CLI, safe with hostile uploads,
plots and viewer."""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore:.*:Warning:gradio.queueing")

gr = pytest.importorskip("gradio")
pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file
from matplotlib.figure import Figure

from studio.benchmark.report import guess_benchmark, published_table, results_table, table_rows
from studio.benchmark.runner import evaluate
from studio.cli.bench import main as cli_main
from studio.results import InputError
from studio.service import TrackingService
from studio.service.bench_job import SAMPLE
from studio.service.bench_view import parse_point_selection
from studio.ui import tab_benchmark
from studio.ui.app import build_demo, launch_kwargs

VIDEOS = ["hopper-translate", "hopper-rotate", "hopper-scale", "hopper-perspective", "hopper-mixed"]


@pytest.fixture(autouse=True, scope="module")
def offline():
    """No network: a model with weights fails at once with the message naming its file."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield
    if old is None:
        os.environ.pop("HF_HUB_OFFLINE", None)
    else:
        os.environ["HF_HUB_OFFLINE"] = old


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return TrackingService(output_root=tmp_path_factory.mktemp("bench-out"))


@pytest.fixture(scope="module")
def cli_outputs(tmp_path_factory):
    """The CLI's CSV and JSON for lk on the sample, per query mode."""
    out = {}
    d = tmp_path_factory.mktemp("cli")
    for mode in ("first", "strided"):
        js, cs = d / f"{mode}.json", d / f"{mode}.csv"
        assert cli_main([str(SAMPLE), "--model", "lk", "--query-mode", mode, "--json", str(js), "--csv", str(cs)]) == 0
        out[mode] = (json.loads(js.read_text()), cs.read_text())
    return out


@pytest.fixture(scope="module")
def tab(service):
    with gr.Blocks():
        parts = tab_benchmark.build_benchmark(service)
    return parts


# ------------------------------------------------------------------------ same numbers as the CLI


@pytest.mark.parametrize("mode", ["first", "strided"])
def test_tab_run_equals_evaluate_and_cli(tab, cli_outputs, mode):
    out = tab["handlers"]["run"]([str(SAMPLE)], ["lk"], mode, "256", 0, "auto")
    status, table_update, note, published, delta, aj, downloads, state = out[:8]
    table = table_update["value"]
    # Columns sized to their contents: the whole table fits a page (no sideways scroll, no cut headers).
    widths = [int(w.removesuffix("px")) for w in table_update["column_widths"]]
    assert len(widths) == table.shape[1] and sum(widths) < 1150 and widths[1] >= 28 + 8.5 * len("hopper-perspective")
    ref = evaluate("lk", SAMPLE, mode)
    # The table shows the CLI's strings for every video and the mean; the mean row comes first,
    # so it shows without scrolling.
    _, cli_rows = table_rows(ref)
    shown = [row[1:-1] for row in table.values.tolist()]
    assert shown == [cli_rows[-1]] + cli_rows[:-1]
    assert list(table["model"]) == ["lk"] * 6 and table["video"].tolist()[1:] == VIDEOS
    assert table["video"].tolist()[0] == "mean (5 videos)"
    m = ref.mean()
    assert f"AJ {m['average_jaccard']:.1f}, δavg {m['average_pts_within_thresh']:.1f}" in status
    # Downloads: the CLI's --csv (the same cells but for the timings), and its --json results.
    csv_path, json_path = (Path(p) for p in downloads)
    cli_doc, cli_csv = cli_outputs[mode]
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert _csv_but_seconds(csv_path.read_text()) == _csv_but_seconds(cli_csv)
    doc = json.loads(json_path.read_text())
    assert doc["results"] == cli_doc["results"] or _same_but_seconds(doc["results"], cli_doc["results"])
    assert doc["query_mode"] == mode and doc["resolution"] == [256, 256]
    assert rows[-1]["video"] == "mean"
    assert float(rows[-1]["average_jaccard"]) == pytest.approx(m["average_jaccard"], abs=1e-4)
    # The CSV carries the seconds the table shows: per video, and the mean per video in the mean row.
    by_video = {r["video"]: float(r["seconds"]) for r in rows}
    secs = dict(zip(table["video"].tolist(), table["sec"].tolist()))
    for v in doc["results"][0]["videos"]:
        assert by_video[v["name"]] == pytest.approx(v["seconds"], abs=1e-3)
        assert float(secs[v["name"]]) == pytest.approx(by_video[v["name"]], abs=0.006)
    assert by_video["mean"] == pytest.approx(np.mean([by_video[v] for v in VIDEOS]), abs=1e-3)
    assert float(secs["mean (5 videos)"]) == pytest.approx(by_video["mean"], abs=0.006)
    # Plots and the sample's "no published benchmark" note.
    assert isinstance(delta, Figure) and isinstance(aj, Figure)
    assert len(delta.axes[0].lines) == 1 and len(aj.axes[0].patches) == 5
    assert "not one of the published benchmarks" in note
    assert published.values.tolist()[0][:2] == ["lk", "—"]
    assert state["models"] == ["lk"] and state["videos"]["lk"] == VIDEOS


def _csv_but_seconds(text: str) -> list[dict]:
    """A results CSV's rows without the (timing-dependent) seconds column."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(io.StringIO(text))]


def _same_but_seconds(a, b) -> bool:
    def strip(results):
        out = []
        for r in results:
            r = {k: v for k, v in r.items() if k != "seconds"}
            r["videos"] = [{k: v for k, v in x.items() if k != "seconds"} for x in r["videos"]]
            out.append(r)
        return out

    return strip(a) == strip(b)


def test_full_resolution_and_video_cap(tab):
    out = tab["handlers"]["run"]([str(SAMPLE)], ["lk"], "first", "full", 2, "auto")
    ref = evaluate("lk", SAMPLE, "first", resolution=None, max_videos=2)
    cli_rows = table_rows(ref)[1]
    assert [row[1:-1] for row in out[1]["value"].values.tolist()] == [cli_rows[-1]] + cli_rows[:-1]
    assert json.loads(Path(out[6][1]).read_text())["resolution"] == "full"
    assert "tracked at full resolution" in out[0]


def test_viewer_draws_ground_truth_beside_prediction(tab, tmp_path):
    state = tab["handlers"]["run"]([str(SAMPLE)], ["lk"], "first", "256", 0, "auto")[7]
    mp4, still, info = tab["handlers"]["view"](state, "lk", "hopper-rotate", "0, 3, 5-7", 4)
    assert Path(mp4).suffix == ".mp4" and Path(mp4).stat().st_size > 0
    assert still.shape == (256, 2 * 256 + 8, 3) and still.dtype == np.uint8
    assert "queries 0, 3, 5, 6, 7 of 43" in info and "median" in info
    with pytest.raises(gr.Error, match="does not exist"):
        tab["handlers"]["view"](state, "lk", "hopper-rotate", "99", 0)
    with pytest.raises(gr.Error, match="not in the last run"):
        tab["handlers"]["view"](state, "cotracker3_offline", "hopper-rotate", "", 0)
    with pytest.raises(gr.Error, match="run a benchmark first"):
        tab["handlers"]["view"](None, "lk", "hopper-rotate", "", 0)


def test_sample_button_copies_the_sample(tab):
    (path,) = tab["handlers"]["sample"]()
    assert Path(path).name == SAMPLE.name and Path(path).read_bytes() == SAMPLE.read_bytes()


# ------------------------------------------------------------------------ bad inputs, in process


class RunsShell:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def hostile_pickle(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v": {"video": np.zeros((2, 4, 4, 3), np.uint8), "x": RunsShell(marker)}}))
    return path, marker


def bad_files(tmp_path: Path) -> list[tuple[Path, str]]:
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle at all")
    schema = tmp_path / "schema.pkl"
    schema.write_bytes(pickle.dumps({"clip": {"video": np.zeros((2, 4, 4, 3), np.uint8),
                                              "points": np.zeros((3, 2, 2), np.float32)}}))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    return [(garbage, "not a readable pickle"), (schema, "'occluded'"), (text, "expected a .pkl"),
            (empty, "empty")]


def test_hostile_and_malformed_uploads_are_refused(tab, tmp_path):
    run = tab["handlers"]["run"]
    evil, marker = hostile_pickle(tmp_path)
    with pytest.raises(gr.Error, match="refused") as err:
        run([str(evil)], ["lk"], "first", "256", 0, "auto")
    assert "evil.pkl" in str(err.value) and not marker.exists()
    for path, words in bad_files(tmp_path):
        with pytest.raises(gr.Error, match=words):
            run([str(path)], ["lk"], "first", "256", 0, "auto")
    with pytest.raises(gr.Error, match="no dataset"):
        run([], ["lk"], "first", "256", 0, "auto")
    with pytest.raises(gr.Error, match="at least one tracker"):
        run([str(SAMPLE)], [], "first", "256", 0, "auto")
    # The next request works.
    assert "AJ 88.8" in run([str(SAMPLE)], ["lk"], "first", "256", 0, "auto")[0]


def test_models_without_weights_are_named_and_skipped(tab):
    out = tab["handlers"]["run"]([str(SAMPLE)], ["cotracker3_offline", "lk"], "first", "256", 1, "davis")
    status, table, note, published = out[:4]
    table = table["value"]
    assert "cotracker3_offline: not run" in status and "scaled_offline.pth" in status
    assert set(table["model"]) == {"lk"}
    # Published numbers are shown for the skipped model too, with their source.
    rows = published.values.tolist()
    ct3 = [r for r in rows if r[0] == "cotracker3_offline"]
    assert ct3 and ct3[0][1:5] == ["CoTracker3 offline", "64.4", "76.9", "91.2"] and "TAPTRv3" in ct3[0][6]
    assert "TAP-Vid-DAVIS" in note
    with pytest.raises(gr.Error, match="no tracker could be run.*scaled_offline.pth"):
        tab["handlers"]["run"]([str(SAMPLE)], ["cotracker3_offline"], "first", "256", 0, "auto")


def test_helpers():
    assert guess_benchmark("tapvid_davis") == "davis" and guess_benchmark("tapvid_rgb_stacking") == "rgb_stacking"
    assert guess_benchmark("robotap_split1") == "robotap" and guess_benchmark("tapvid_sample") is None
    assert parse_point_selection("", 43).tolist() == list(range(10))
    assert parse_point_selection("first 3", 43).tolist() == [0, 1, 2]
    assert parse_point_selection("all", 4).tolist() == [0, 1, 2, 3]
    assert parse_point_selection("5, 1-2 5", 43).tolist() == [5, 1, 2]
    for bad in ("x", "50", "first 0"):
        with pytest.raises(InputError):
            parse_point_selection(bad, 43)
    rows = published_table(["cotracker3_online", "cotracker3_online_baseline"], "davis", "first")
    notes = {r[0]: r[7] for r in rows}
    assert notes["cotracker3_online_baseline"] == "trained on Kubric only"
    assert all("Kubric only" not in r[7] for r in rows if r[0] == "cotracker3_online")
    assert results_table([])[1] == []
    assert tab_benchmark.parse_models("lk, cotracker3_offline lk") == ["lk", "cotracker3_offline", "lk"]


# ------------------------------------------------------------------------ the /bench endpoint


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(service):
    demo = build_demo(service)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                            **launch_kwargs())
    yield url
    demo.close()


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def test_bench_endpoint_matches_cli_and_survives_bad_uploads(client, cli_outputs, tmp_path):
    params = [p["parameter_name"] for p in
              client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/bench"]["parameters"]]
    assert params == ["dataset", "use_sample", "models", "query_mode", "full_resolution", "max_videos"]

    doc, csv_path, json_path, status = client.predict(use_sample=True, models="lk", query_mode="strided",
                                                      api_name="/bench")
    cli_doc, cli_csv = cli_outputs["strided"]
    assert _csv_but_seconds(Path(csv_path).read_text()) == _csv_but_seconds(cli_csv)
    assert _same_but_seconds(doc["results"], cli_doc["results"])
    assert json.loads(Path(json_path).read_text()) == doc
    assert "lk: AJ 90.7" in status

    evil, marker = hostile_pickle(tmp_path)
    with pytest.raises(Exception, match="refused to load posix.system|refused to load os.system|refused"):
        client.predict(dataset=[handle_file(str(evil))], models="lk", api_name="/bench")
    assert not marker.exists()
    garbage = bad_files(tmp_path)[0][0]
    with pytest.raises(Exception, match="not a readable pickle"):
        client.predict(dataset=[handle_file(str(garbage))], models="lk", api_name="/bench")
    with pytest.raises(Exception, match="unknown model 'nope'"):
        client.predict(use_sample=True, models="nope", api_name="/bench")

    # An unknown model next to lk is an argument error, refused before any work.
    with pytest.raises(Exception, match="unknown model 'nope'; the benchmark scores lk"):
        client.predict(use_sample=True, models="nope, lk", api_name="/bench")
    # Several files are one dataset.
    npz = SAMPLE.with_suffix(".npz")
    doc, _, _, status = client.predict(dataset=[handle_file(str(SAMPLE)), handle_file(str(npz))],
                                       models="lk", max_videos=6, api_name="/bench")
    assert [v["name"] for v in doc["results"][0]["videos"]] == VIDEOS + VIDEOS[:1]


# ------------------------------------------------------------------------ in a real browser

CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
RUN_MS = 20 * 60_000
"""A benchmark run is waited for by its status line, however long a loaded machine takes; this only stops
a wait on an app that hangs."""


@pytest.mark.browser
def test_browser_sample_run_then_hostile_upload_then_run_again(app_url, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    evil, marker = hostile_pickle(tmp_path)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(app_url)
            page.get_by_role("tab", name="Benchmark").click()
            # The sample button loads the sample and runs it: no second click needed.
            page.click("#bench-sample")
            page.locator("#bench-files").get_by_text("tapvid_sample", exact=True).wait_for()
            page.wait_for_function(
                "document.querySelector('#bench-status textarea').value.includes('lk: AJ 88.8, δavg 94.4, OA 97.9')",
                timeout=RUN_MS,
            )
            page.locator("#bench-view-still img").wait_for()
            table = page.locator("#bench-table").inner_text()
            assert "mean (5 videos)" in table and "88.8" in table
            # The mean row is the first row: visible without scrolling the table.
            first_row = page.locator("#bench-table [data-testid='cell-0-1']").inner_text()
            assert first_row.startswith("mean")
            assert ".csv" in page.locator("#bench-downloads").inner_text()

            page.locator("#bench-files input[type=file]").set_input_files(str(evil))
            page.locator("#bench-files").get_by_text("evil", exact=True).wait_for()
            page.click("#bench-run")
            page.get_by_text("refused to load").first.wait_for(timeout=RUN_MS)
            assert not marker.exists()
            # The failed run left no old result beside its error.
            assert "88.8" not in page.locator("#bench-table").inner_text()
            assert ".csv" not in page.locator("#bench-downloads").inner_text()
            assert page.locator("#bench-view-still img").count() == 0

            page.locator("#bench-mode").get_by_text("strided").click()
            page.click("#bench-sample")
            page.wait_for_function(
                "document.querySelector('#bench-status textarea').value.includes('query mode strided')",
                timeout=RUN_MS,
            )
        finally:
            browser.close()
