"""In Chromium: the Track tab's reliability check and colouring, and the Compare tab end to end.

Waits only on what the app shows when it is done (status text, a new video source, links),
never on fixed sleeps. A second weight-free tracker (``test_lk_coarse``) is registered so a
comparison takes seconds.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

# The browser and a fresh page come from test_browser's fixtures, on this module's app.
from test_browser import CHROMIUM, browser, free_port, page, wait_text  # noqa: F401

from conftest import ROOT
from studio.registry import ModelEntry, register, unregister
from studio.trackers.lk import LKTracker

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:.*:Warning:gradio.queueing")]

PAN = ROOT / "examples" / "hopper_pan.mp4"  # 36 frames, 480x272
COARSE = "test_lk_coarse"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    from studio.service import TrackingService
    from studio.ui.app import build_demo, launch_kwargs

    register(ModelEntry(name=COARSE, kind="point", title="coarse LK (tests)",
                        build=lambda device, ckpt: LKTracker(window=7, levels=1, anchor=False)))
    demo = build_demo(TrackingService(output_root=tmp_path_factory.mktemp("out")))
    _, url, _ = demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **launch_kwargs()
    )
    yield url
    demo.close()
    unregister(COARSE)


def video_src(page, selector: str) -> str | None:
    return page.evaluate("s => { const v = document.querySelector(s + ' video'); return v ? v.src : null; }", selector)


def wait_new_video(page, selector: str, before: str | None) -> None:
    page.wait_for_function(
        "([s, b]) => { const v = document.querySelector(s + ' video'); return v !== null && v.src && v.src !== b; }",
        arg=[selector, before],
    )


def test_track_with_reliability_then_colour_and_hide(page):
    page.locator("#track-video input[type=file]").set_input_files(str(PAN))
    wait_text(page, "#track-video-info", "36 frames of 480×272")
    page.get_by_text("Grid of points (optionally inside a mask)").click()
    page.get_by_role("button", name="Add grid on this frame").click()
    wait_text(page, "#track-points", "64 points")
    page.locator("#track-reliability input[type=checkbox]").check()
    page.click("#track-button")
    wait_text(page, "#track-status", "reliability (jump check")
    status = page.locator("#track-status textarea").input_value()
    assert "lk: 64 points x 36 frames" in status and ("tracks become unreliable" in status or "stay reliable" in status)
    before = video_src(page, "#track-out")
    page.locator("#track-color-by").get_by_text("by reliability (red = unreliable)").click()
    wait_new_video(page, "#track-out", before)
    before = video_src(page, "#track-out")
    number = page.locator("#track-hide-below input[type=number]")
    number.fill("0.5")
    number.press("Tab")  # leaving the box is the slider's "release"
    wait_new_video(page, "#track-out", before)
    # The tracks on offer carry the reliability.
    href = page.locator("#track-files a[download$='.json']").get_attribute("href")
    with urllib.request.urlopen(href, timeout=30) as response:
        saved = json.loads(response.read())
    assert len(saved["reliability"]) == 36 and len(saved["cycle_error"][0]) == 64


def test_compare_two_trackers_in_the_browser(page):
    page.get_by_role("tab", name="Compare").click()
    page.locator("#compare-video input[type=file]").set_input_files(str(PAN))
    page.wait_for_selector("#compare-video video")
    # Swap dot_dis (preselected) for the quick test tracker.
    page.locator("#compare-models .token").filter(has_text="dot_dis").locator(".token-remove").click()
    models = page.locator("#compare-models input[role=combobox]")
    models.click()
    models.fill(COARSE)
    page.locator("ul[role=listbox] li").filter(has_text=COARSE).first.click()
    page.wait_for_function("() => document.querySelectorAll('#compare-models .token').length === 2")
    grid = page.locator("#compare-grid input[type=number]")
    grid.fill("4")
    grid.press("Enter")
    page.click("#compare-button")
    wait_text(page, "#compare-status", "2 models, 16 points x 36 frames")
    page.wait_for_selector("#compare-side video")
    page.wait_for_selector("#compare-overlay video")
    table = page.locator("#compare-table").inner_text()
    assert "lk" in table and COARSE in table and "agreement %" in table
    href = page.locator("#compare-files a[download$='_compare.json']").get_attribute("href")
    with urllib.request.urlopen(href, timeout=30) as response:
        report = json.loads(response.read())
    assert report["models"] == ["lk", COARSE] and report["points"] == 16
    assert all(row["mean_reliability"] is not None for row in report["table"])
