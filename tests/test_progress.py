"""Progress with the time left: the estimate, the CLI's bar and the app's descriptions."""

from __future__ import annotations

import numpy as np
import pytest
from test_app_service import ORBIT
from test_cli import run

from studio.progress import TimeLeft, format_seconds, tqdm_progress, with_time_left
from studio.service import Limits, TrackingService


class FakeClock:
    def __init__(self, step: float = 0.0):
        self.now, self.step = 100.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_time_left_follows_the_pace_and_restarts_with_each_phase():
    clock = FakeClock()
    left = TimeLeft(clock)
    assert left(0.0) is None
    clock.now += 0.5
    assert left(0.1) is None  # under a second: too little to go on
    clock.now += 9.5
    assert left(0.25) == pytest.approx(30.0)  # 10 s for a quarter: 30 s for the rest
    clock.now += 10
    assert left(0.5) == pytest.approx(20.0)
    assert left(1.0) == 0.0
    clock.now += 5
    assert left(0.0) is None  # a new phase starts the clock again
    clock.now += 4
    assert left(0.8) == pytest.approx(1.0)


def test_seconds_read_as_a_person_says_them():
    assert [format_seconds(s) for s in (0.2, 41, 59.5, 61, 600, 3599, 3600, 3900)] == [
        "about 1 s", "about 41 s", "about 1 min", "about 2 min", "about 10 min", "about 1 h", "about 1 h",
        "about 1 h 5 min"]


def test_descriptions_get_the_time_left_once_it_is_known():
    seen = []
    clock = FakeClock(step=2.0)  # every reading is 2 s after the previous one (the first when it is made)
    report = with_time_left(lambda f, d: seen.append((f, d)), clock)
    report(0.0, "tracking")
    report(0.5, "tracking")
    report(0.75, "")
    report(1.0, "done")
    assert seen[0] == (0.0, "tracking") and seen[-1] == (1.0, "done")
    assert seen[1] == (0.5, "tracking · about 4 s left")  # 4 s for half
    assert seen[2] == (0.75, "about 2 s left")  # 6 s for three quarters


def test_terminal_bar_shows_elapsed_and_left_and_restarts_per_phase(capsys):
    bar, progress = tqdm_progress("reading")
    progress(0.5, "reading")
    assert bar.n == 500
    progress(0.2, "tracking")  # a new phase
    assert bar.n == 200
    bar.refresh()
    bar.close()
    err = capsys.readouterr().err
    assert "tracking" in err and " left" in err and "elapsed" in err


def test_cli_track_reports_time_left(tmp_path):
    out = run("track", ORBIT, "--grid", 4, "--out", tmp_path / "t.npz")
    assert out.returncode == 0, out.stderr
    assert " left" in out.stderr and "elapsed" in out.stderr


@pytest.mark.parametrize("cap", [300, 12])  # the whole clip, and a stream past the frame cap
def test_app_track_descriptions_carry_the_time_left(tmp_path, monkeypatch, cap):
    """``progress_adapter`` (every Gradio handler's bar) adds the time left to a real Track request."""
    import studio.progress

    from studio.ui.common import progress_adapter

    clock = FakeClock(step=0.25)
    monkeypatch.setattr(studio.progress.time, "monotonic", clock)
    descs = []

    class FakeGradioProgress:
        def __call__(self, fraction, desc=None):
            descs.append((fraction, desc))

    svc = TrackingService(limits=Limits(max_frames=cap), output_root=tmp_path)
    svc.track(str(ORBIT), np.array([[0, 100.0, 100.0]], np.float32), model="lk",
              progress=progress_adapter(FakeGradioProgress()))
    with_left = [d for f, d in descs if d and " left" in d]
    assert with_left and all(0 < f < 1 for f, d in descs if d and " left" in d)
    assert descs[-1] == (1.0, "done")


def test_every_gradio_handler_with_a_bar_reports_through_progress_adapter():
    """Each ``gr.Progress()`` handler passes it on through ``progress_adapter`` (and so shows the time left)."""
    import inspect

    from studio.ui import tab_annotate, tab_benchmark, tab_dense, tab_render, tab_track

    for module in (tab_annotate, tab_benchmark, tab_dense, tab_render, tab_track):
        src = inspect.getsource(module)
        assert src.count("gr.Progress()") <= src.count("progress_adapter(progress)"), module.__name__


def test_annotate_proposals_report_progress_per_keyframe(tmp_path):
    from studio.service import annotate_job as job

    svc = TrackingService(limits=Limits(max_frames=300), output_root=tmp_path)
    ann = job.start(svc, str(ORBIT), "interpolate")
    for name, keys in (("a", [(0, 100.0, 100.0), (30, 120.0, 110.0)]), ("b", [(10, 200.0, 150.0)])):
        i = ann.add_point(name)
        for t, x, y in keys:
            job.place(svc, str(ORBIT), ann, i, t, *svc.source_to_working(str(ORBIT), np.array([[t, x, y]]))[0, 1:])
    seen = []
    job.set_model(svc, str(ORBIT), ann, "lk", progress=lambda f, d: seen.append((f, d)))
    assert [round(f, 3) for f, _ in seen] == [0.333, 0.667, 1.0, 1.0]
    assert seen[0][1] == "proposing: keyframe 1 of up to 3" and seen[-1] == (1.0, "done")
