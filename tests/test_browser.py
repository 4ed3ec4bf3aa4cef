"""End to end in a real browser: upload, click two points on two frames, Track, download the npz.

Drives Debian's Chromium (``apt-get install chromium``) through Playwright; skips
when ``/usr/bin/chromium`` is missing. Clicks land on exact image pixels: the
position is computed from the frame image's box and natural size the way the
frontend maps clicks back (``object-fit`` scale-down, centred).
"""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:.*:Warning:gradio.queueing"),
]

CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "examples" / "hopper_orbit.mp4"  # 48 frames, 480x360
MEDIA = ROOT.parent / "shared" / "media"
TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    from studio.service import TrackingService
    from studio.ui.app import build_demo, launch_kwargs

    demo = build_demo(TrackingService(output_root=tmp_path_factory.mktemp("out")))
    _, url, _ = demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **launch_kwargs()
    )
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    """A fresh tab (a fresh Gradio session) on the app."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url)
    yield page
    page.close()


def click_image_pixel(page, selector: str, x: int, y: int) -> tuple[float, float]:
    """Click image pixel ``(x, y)`` (natural pixels) of the ``<img>`` at ``selector``.

    Mouse events carry whole CSS pixels (Chromium truncates fractions), so the click
    goes to the whole CSS pixel nearest the image pixel's centre.

    Returns:
      Where the click really landed, in image pixels with integer = pixel centre
      (within about half a display pixel of ``(x, y)``).
    """
    img = page.locator(selector)
    box = img.bounding_box()
    natural_w, natural_h = img.evaluate("e => [e.naturalWidth, e.naturalHeight]")
    # The frontend shows the image scaled down to fit (never up) and centred in its box.
    scale = min(box["width"] / natural_w, box["height"] / natural_h, 1.0)
    left = box["x"] + (box["width"] - natural_w * scale) / 2
    top = box["y"] + (box["height"] - natural_h * scale) / 2
    cx, cy = round(left + (x + 0.5) * scale), round(top + (y + 0.5) * scale)
    page.mouse.click(cx, cy)
    return (cx - left) / scale - 0.5, (cy - top) / scale - 0.5


def wait_text(page, selector: str, text: str) -> None:
    """Wait until the element (its text, or the value of a textarea inside it) contains ``text``."""
    page.wait_for_function(
        """([sel, text]) => {
            const el = document.querySelector(sel);
            if (!el) return false;
            const box = el.querySelector('textarea');
            return (el.innerText || '').includes(text) || (box !== null && box.value.includes(text));
        }""",
        arg=[selector, text],
    )


CASES = {
    # clip, (frames, width, height), clicks as (frame, x, y) in image pixels (= source pixels: no shrinking)
    "bundled": (CLIP, (48, 480, 360), [(0, 140, 100), (12, 330, 250)]),
    # Portrait and taller than the frame box, so the picture is shown scaled down.
    "cat": (MEDIA / "cat.mp4", (87, 368, 480), [(0, 190, 230), (12, 60, 400)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_click_points_track_and_download(page, tmp_path, case):
    from studio.io.trackfile import load_tracks

    clip, (frames, width, height), clicks = CASES[case]
    if not clip.is_file():
        pytest.skip(f"{clip} is not present")
    page.locator("#track-video input[type=file]").set_input_files(str(clip))
    page.wait_for_selector("#track-frame img")
    wait_text(page, "#track-video-info", f"{frames} frames of {width}×{height}")
    natural = page.locator("#track-frame img").evaluate("e => [e.naturalWidth, e.naturalHeight]")
    assert natural == [width, height]
    landed = [click_image_pixel(page, "#track-frame img", *clicks[0][1:])]
    wait_text(page, "#track-points", "1 point")

    before = page.locator("#track-frame img").get_attribute("src")
    number = page.locator("#track-slider input[type=number]")
    number.fill(str(clicks[1][0]))
    number.press("Enter")
    page.wait_for_function("s => document.querySelector('#track-frame img').src !== s", arg=before)
    landed.append(click_image_pixel(page, "#track-frame img", *clicks[1][1:]))
    wait_text(page, "#track-points", "2 points")
    wait_text(page, "#track-points", f"frame {clicks[1][0]} (1)")

    page.click("#track-button")
    page.wait_for_selector("#track-out video")
    wait_text(page, "#track-status", f"lk: 2 points x {frames} frames")
    link = page.locator("#track-files a[download$='.npz']")
    href = link.get_attribute("href")
    target = tmp_path / "tracks.npz"
    with urllib.request.urlopen(href, timeout=30) as response:
        target.write_bytes(response.read())

    saved = load_tracks(target)
    assert saved.size == (height, width) and saved.num_frames == frames and saved.num_points == 2
    for i, (t, x, y) in enumerate(clicks):
        assert saved.queries[i, 0] == t and saved.visible[t, i]
        # The mouse hit the pixel aimed at (or, at a display scale below 1, its neighbour) ...
        clicked_pixel = np.floor(np.asarray(landed[i]) + 0.5)
        np.testing.assert_allclose(clicked_pixel, [x, y], atol=1.0)
        # ... each track starts at the clicked pixel (+-1 px) ...
        np.testing.assert_allclose(saved.tracks[t, i], clicked_pixel, atol=1.0)
        # ... and within half a pixel of where the mouse really was (the frontend rounds to whole pixels).
        np.testing.assert_allclose(saved.tracks[t, i], landed[i], atol=0.5 + 1e-3)


def test_dense_paint_a_region_track_download_and_rerender(page, tmp_path):
    """Dense tab: paint over part of a frame with the mouse, track densely, download the npz, switch the
    view, then re-draw the same result in the Render tab, all in a real browser."""
    from studio.dense.result import DenseResult

    page.get_by_role("tab", name="Dense").click()
    page.locator("#dense-video input[type=file]").set_input_files(str(CLIP))
    canvas = page.locator("#dense-editor canvas").first
    canvas.wait_for()
    page.wait_for_timeout(1500)  # the frame is drawn into the editor
    box = canvas.bounding_box()
    # One horizontal stroke across the middle of the frame with the (default) brush.
    y = box["y"] + box["height"] * 0.5
    page.mouse.move(box["x"] + box["width"] * 0.35, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.65, y, steps=12)
    page.mouse.up()
    # The editor hands its layers to the app a moment after the stroke; a click right away
    # would still see an empty layer (and track the whole frame, as the status would say).
    page.wait_for_timeout(3000)
    page.click("#dense-button")
    wait_text(page, "#dense-status", "pixels tracked from frame 0 through 48 frames of 480×360")
    status = page.locator("#dense-status textarea").input_value()
    painted = int(status.split(": ", 1)[1].split(" pixels", 1)[0])
    assert 0 < painted < 480 * 360 // 4  # a brush stroke, not the whole frame

    link = page.locator("#dense-files a[download$='.npz']")
    target = tmp_path / "dense.npz"
    with urllib.request.urlopen(link.get_attribute("href"), timeout=30) as response:
        target.write_bytes(response.read())
    r = DenseResult.load(target)
    assert r.tracks.shape == (48, 360, 480, 2) and int(r.mask.sum()) == painted and r.model == "dot_dis"
    ys, xs = np.nonzero(r.mask)
    assert 0.25 * 480 < xs.mean() < 0.75 * 480 and 0.3 * 360 < ys.mean() < 0.7 * 360  # where the stroke went

    view = page.locator("#dense-view input")
    view.click()
    page.get_by_role("option", name="spaghetti_first_last_mask", exact=True).click()
    wait_text(page, "#dense-status", "spaghetti_first_last_mask: 48 frames of 960×720")

    page.get_by_role("tab", name="Render").click()
    page.get_by_role("button", name="Use latest Dense result").click()
    wait_text(page, "#render-status", "172800 dense tracks")
    assert "points_mask" in page.locator("#render-status textarea").input_value()


def test_models_tab_refuses_a_wrong_checkpoint_and_keeps_a_good_one(page, tmp_path, checkpoint_folder):
    """Models tab: pick gmrw (it needs a file), upload a file of another model (refused, key differences
    shown, nothing kept), then the right one (kept under its official name, status 'local file')."""
    from test_gmrw import official_file as gmrw_file
    from test_raft import official_file as raft_file

    wrong, good = tmp_path / "wrong.pth", tmp_path / "download.pth"
    raft_file("raft_cvo", wrong)
    gmrw_file(good)
    page.get_by_role("tab", name="Models").click()
    assert "status here: needs a file" in page.locator("#checkpoint-where").inner_text()
    upload = page.locator("#checkpoint-file input[type=file]")
    result = page.locator("#checkpoint-result")
    upload.set_input_files(str(wrong))
    page.wait_for_timeout(1500)  # the upload reaches the server before the click
    page.click("#checkpoint-keep")
    result.get_by_text("Refused, nothing kept").wait_for()
    assert "missing: backbone.conv1.weight" in result.inner_text()
    assert not checkpoint_folder.exists() or not any(checkpoint_folder.iterdir())
    upload.set_input_files(str(good))
    page.wait_for_timeout(1500)
    page.click("#checkpoint-keep")
    result.get_by_text("passed the strict check").wait_for()
    assert [p.name for p in checkpoint_folder.iterdir()] == ["kubric_73k.pth"]
    assert "status here: local file" in page.locator("#checkpoint-where").inner_text()
