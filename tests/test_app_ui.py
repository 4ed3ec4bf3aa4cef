"""App-wide UI rules, checked on the built app and its handlers: the last choice wins, a new run clears the old
result, unusable models are marked and cannot start a run, slow runs are announced, markers read at any video
size, and the Dense tab's conveniences (the Track tab's video, the painted region, the brush)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import handler_named

from studio.io.video import Video
from studio.pipeline import render_tracks
from studio.render.markers import draw_markers, marker_radius
from studio.results import TrackResult
from studio.service import TrackingService
from studio.service.estimate import Estimator, Workload
from studio.ui.app import CSS, build_demo

ROOT = Path(__file__).resolve().parents[1]
PAN = ROOT / "examples" / "hopper_pan.mp4"  # 36 frames, 480x272

WORK_EVENTS = {"change", "input", "release", "edit"}
"""Events fired by a choice the user (or another handler) makes; those that start work must not drop it."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(TrackingService(output_root=tmp_path_factory.mktemp("out")))


def _graph(demo):
    deps = {d["id"]: d for d in demo.config["dependencies"]}
    comps = {c["id"]: c for c in demo.config["components"]}

    def elem(cid):
        return comps[cid].get("props", {}).get("elem_id") if cid in comps else None

    def name(d):
        return getattr(demo.fns[d["id"]].fn, "__name__", "?")

    def chain(d):
        """``d`` and every step that runs after it (``.then`` / ``.success``), in order."""
        out, todo = [], [d]
        while todo:
            step = todo.pop(0)
            out.append(step)
            todo += [x for x in deps.values() if x.get("trigger_after") == step["id"]]
        return out

    return deps, elem, name, chain


def test_every_event_that_starts_work_lets_the_last_choice_win(demo):
    """A view, mode, frame or cell chosen while the previous one is still being handled runs after it (Gradio's
    "always_last"); "once", the default for .input and .release, silently drops it and leaves the menu showing
    one choice and the video another."""
    deps, elem, name, chain = _graph(demo)
    starters = [d for d in deps.values() if any(ev in WORK_EVENTS for _, ev in d["targets"])]
    names = {name(d) for d in starters}
    # the ones the issue names are among them
    assert {"on_dense_view", "on_render", "clear_view", "clear_result", "on_dense_frame", "on_still"} & names
    for d in starters:
        for step in chain(d):
            assert step["trigger_mode"] == "always_last", (
                f"{name(step)} (after {[(elem(t), ev) for t, ev in d['targets']]}) would drop a later choice"
            )


RESULTS = {
    # trigger elem_id: (event, the result components a run replaces)
    "track-button": ("click", ["track-out", "track-plot", "track-files"]),
    "dense-button": ("click", ["dense-out", "dense-files"]),
    "dense-view": ("input", ["dense-out"]),
    "render-button": ("click", ["render-output", "render-still"]),
    "render-mode": ("input", ["render-output", "render-still"]),
    "bench-run": ("click", ["bench-table", "bench-downloads", "bench-view-still"]),
    "bench-sample": ("click", ["bench-table", "bench-downloads", "bench-view-still"]),
}
WORK = {"on_track", "on_dense_run", "on_dense_view", "on_render", "on_run"}


@pytest.mark.parametrize("trigger", sorted(RESULTS))
def test_a_new_run_clears_the_old_result_before_it_starts(demo, trigger):
    """So an error is never shown next to the previous run's result."""
    deps, elem, name, chain = _graph(demo)
    event, results = RESULTS[trigger]
    (first,) = [d for d in deps.values() if any(elem(t) == trigger and ev == event for t, ev in d["targets"])]
    steps = chain(first)
    work = [i for i, s in enumerate(steps) if name(s) in WORK]
    assert work, f"{trigger} starts no run"
    clears = [i for i, s in enumerate(steps[: work[0]]) if {elem(o) for o in s["outputs"]} >= set(results)]
    assert clears, f"{trigger}: nothing clears {results} before {name(steps[work[0]])}"
    clear = steps[clears[0]]
    values = demo.fns[clear["id"]].fn(*["x"] * len(clear["inputs"]))
    values = values if isinstance(values, tuple) else (values,)
    for out, value in zip(clear["outputs"], values):
        if elem(out) in results:
            assert value is None or len(value) == 0, f"{trigger}: {elem(out)} is set to {value!r}, not cleared"


@pytest.fixture
def unusable_model(empty_hub_cache):
    """A neural point tracker whose weights are not cached, with the hub switched off."""
    from studio.hub import HubFile
    from studio.registry import ModelEntry, register, unregister
    from studio.trackers.lk import LKTracker

    register(ModelEntry(name="zz_test_unusable", kind="point", title="fake neural",
                        build=lambda device, ckpt: LKTracker(),
                        checkpoint=HubFile("example/fake-tracker", "weights.pth", "0" * 40, 12.0)))
    yield "zz_test_unusable"
    unregister("zz_test_unusable")


def test_unusable_models_are_marked_last_and_cannot_start_a_run(tmp_path, unusable_model):
    service = TrackingService(output_root=tmp_path)
    demo = build_demo(service)
    track_menu = next(c for c in demo.config["components"] if c.get("props", {}).get("elem_id") == "track-model")
    choices = [tuple(c) for c in track_menu["props"]["choices"]]
    label = dict((v, k) for k, v in choices)[unusable_model]
    assert "unavailable here (not cached, offline)" in label
    names = [v for _, v in choices]
    assert names.index(unusable_model) > names.index("dot_dis")  # after every usable model, dense ones too
    # The page's CSS greys such entries out and takes the mouse away from them (the label says why).
    assert '[aria-label*="unavailable here"]' in CSS and "pointer-events: none" in CSS
    # Chosen anyway (keyboard, a stale page): the note says why and the Track button is disabled.
    note, button = handler_named(demo, "on_note")(None, [], unusable_model)
    assert "unavailable here" in note and "HF_HUB_OFFLINE is set" in note and "weights.pth" in note
    assert button["interactive"] is False
    note, button = handler_named(demo, "on_note")(None, [], "lk")
    assert note == "" and button["interactive"] is True
    # The Dense tab says the same of an unusable initializer.
    note, button = handler_named(demo, "on_dense_note")(str(PAN), "dot_dis", unusable_model, 2048, 512)
    assert "unavailable here" in note and button["interactive"] is False


def test_slow_choices_get_an_estimate_before_the_run(tmp_path):
    service = TrackingService(output_root=tmp_path)
    demo = build_demo(service)
    points = [[0, 100.0, 100.0], [5, 200.0, 120.0]]
    note, button = handler_named(demo, "on_note")(str(PAN), points, "dot_dis")
    assert "Estimated time: **about" in note and "36 frames of 480×272, 2 points on 2 frames" in note
    assert "rough" in note and button["interactive"] is True
    assert handler_named(demo, "on_note")(str(PAN), points, "lk")[0] == ""  # lk is quick: nothing to say
    note, _ = handler_named(demo, "on_dense_note")(str(PAN), "dot_dis", "lk", 2048, 512)
    assert "Estimated time" in note and "2048 initial tracks" in note
    # After a real run, estimates follow this machine.
    service.track(str(PAN), np.asarray(points, np.float32), model="lk")
    est = service.estimate("lk", service.workload(str(PAN), points))
    assert est is not None and est.basis == "from 1 earlier run here"


def test_estimator_scales_its_priors_by_the_runs_it_sees():
    est = Estimator()
    small, big = Workload(50, 480, 854, points=10), Workload(100, 480, 854, points=1000)
    prior = est.estimate("lk", big).seconds
    assert est.estimate("lk", big).basis.startswith("rough")
    est.observe("lk", small, 3 * est.estimate("lk", small).seconds)  # this machine is 3x slower
    assert est.estimate("lk", big).seconds == pytest.approx(3 * prior)
    # A model with no prior: unknown until it has run here, then from its own runs.
    assert est.estimate("some_neural", small) is None
    est.observe("some_neural", small, 10.0)
    assert est.estimate("some_neural", small).seconds == pytest.approx(10.0)
    assert est.estimate("some_neural", big).seconds > 10.0
    # CPU figures of neural models do not apply on another device.
    assert Estimator(on_cpu=True).estimate("dot", big) is not None
    assert Estimator(on_cpu=False).estimate("dot", big) is None


def _marker_width(frame_size, draw) -> int:
    h, w = frame_size
    out = draw(np.zeros((h, w, 3), np.uint8))
    cols = np.nonzero((out > 0).any(axis=(0, 2)))[0]
    return int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("size", [(120, 160), (480, 854), (576, 1024), (2160, 3840)])
def test_markers_read_the_same_on_screen_at_any_video_size(size):
    """A frame is shown fitted into a box about 640 px wide: markers must come out 10-20 px there, for a
    thumbnail, an 854-px clip and a 4K frame alike, in the click frame and in the tracked video."""
    h, w = size
    shown = min(1.0, 640 / max(h, w))
    centre = np.array([[w / 2, h / 2]], np.float32)
    width = _marker_width(size, lambda f: draw_markers(f, centre, np.array([[255, 0, 0]], np.uint8)))
    assert 10 <= width * shown <= 20, (size, width * shown)
    # the tracked video's discs (pipeline.render_tracks) the same
    result = TrackResult(centre[None].repeat(2, 0), np.ones((2, 1), bool), np.array([[0, w / 2, h / 2]]),
                         size=size)
    video = Video(frames=np.zeros((2, h, w, 3), np.uint8), fps=10.0, source_size=size)
    drawn = _marker_width(size, lambda f: render_tracks(video, result, tail=0)[0])
    assert 9 <= drawn * shown <= 20, (size, drawn * shown)
    # many points: markers shrink so a dense grid stays a grid
    assert marker_radius(h, w, 2500) <= max(3.0, np.sqrt(h * w / 2500) / 3)


def test_dense_tab_offers_the_track_tabs_video_and_counts_the_painted_region(demo):
    deps, elem, name, chain = _graph(demo)
    offer = handler_named(demo, "offer_track_video")
    assert offer(None)["visible"] is False
    shown = offer(str(PAN))
    assert shown["visible"] is True and "hopper_pan.mp4" in shown["value"]
    # A camera of an HDF5 log (Track tab) is no file for the video box here: not offered.
    from studio.io.sources import camera_source

    assert offer(camera_source("/data/robot.h5", 1))["visible"] is False
    (use,) = [d for d in deps.values() if any(elem(t) == "dense-use-track-video" for t, _ in d["targets"])]
    assert [elem(o) for o in use["outputs"]] == ["dense-video"]
    assert demo.fns[use["id"]].fn(str(PAN)) == str(PAN)  # the same file, no upload
    on_paint = handler_named(demo, "on_paint")
    assert on_paint(str(PAN), None).startswith("Nothing painted")
    layer = np.zeros((272, 480, 4), np.uint8)
    layer[100:120, 200:300, 3] = 115  # a translucent stroke still counts
    text = on_paint(str(PAN), {"background": None, "layers": [layer], "composite": None})
    assert "2000 pixels painted" in text and "1.5% of the frame" in text


def test_a_kept_checkpoint_wakes_the_model_up_in_every_menu(tmp_path, checkpoint_folder, empty_hub_cache):
    """gmrw needs a file: greyed out (unclickable) in the menus until one is kept in the Models tab; then every
    tab's menu lists it as usable without reloading the page."""
    from test_gmrw import official_file

    service = TrackingService(output_root=tmp_path)
    demo = build_demo(service)
    deps, elem, name, chain = _graph(demo)
    menu_ids = {"track-model", "dense-initializer", "bench-models"}

    def labels():
        (keep,) = [d for d in deps.values() if any(elem(t) == "checkpoint-keep" for t, _ in d["targets"])]
        (refresh,) = [s for s in chain(keep) if {elem(o) for o in s["outputs"]} >= menu_ids]
        updates = demo.fns[refresh["id"]].fn()
        out = {}
        for o, u in zip(refresh["outputs"], updates):
            out[elem(o)] = dict((v, k) for k, v in u["choices"])
        return out

    before = labels()
    for menu in menu_ids:
        assert "unavailable here (needs its checkpoint file)" in before[menu]["gmrw"], menu
    checkpoint_folder.mkdir(parents=True, exist_ok=True)
    official_file(tmp_path / "kubric_73k.pth")
    service.add_checkpoint("gmrw", str(tmp_path / "kubric_73k.pth"))
    after = labels()
    for menu in menu_ids:
        assert after[menu]["gmrw"].endswith("local file") and "unavailable" not in after[menu]["gmrw"], menu


def test_readme_names_the_use_latest_buttons_the_app_has(demo):
    """The README's *Use latest ... result* buttons are the app's: none missing, none invented."""
    import re

    shown = {c["props"]["value"] for c in demo.config["components"]
             if c.get("type") == "button" and str(c.get("props", {}).get("value", "")).startswith("Use latest")}
    text = re.sub(r"\s+", " ", (ROOT / "README.md").read_text())
    # "*Use latest Track result* and *Use latest Dense result*", or a shortened "(or *Dense result*)"
    named = set(re.findall(r"\*(Use latest \w+ result)\*", text))
    named |= {f"Use latest {w} result" for w in re.findall(r"\(or \*(\w+) result\*\)", text)}
    assert shown, "the app has no Use latest button"
    assert named == shown, (sorted(named), sorted(shown))
