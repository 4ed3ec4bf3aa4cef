"""The Live tab in a real browser: a fake camera plays a generated clip, points are dropped and clicked on
the tracked picture, Stop and save gives track files and a recording, and the tracks follow the clip's truth.

Chromium's fake camera (``bench/live_driver.py``) loops a ``.y4m`` written here from
``studio.synthetic``, so each recorded frame is matched back to its clip frame and the
saved tracks are compared with the exact motion. Speed is not asserted here:
``bench/bench_live.py`` measures frames/s and latency.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from bench.live_driver import CHROMIUM, camera_clip, free_port, launch_browser, open_live_tab, wait_status

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:.*:Warning:gradio.queueing"),
]


@pytest.fixture(scope="module")
def live_app(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    from studio.service import TrackingService
    from studio.ui.app import build_demo, launch_kwargs

    out = tmp_path_factory.mktemp("live-out")
    demo = build_demo(TrackingService(output_root=out))
    _, url, _ = demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **launch_kwargs()
    )
    yield url, out
    demo.close()


# How many of the newest frame's visible points have their own colour at their centre on the page's canvas.
DRAWN_POINTS_JS = """() => {
  const c = document.querySelector('#live-page canvas.live-view'), ctx = c.getContext('2d');
  const res = window.__studioLive.last;
  let hits = 0;
  res.points.forEach((p, i) => {
    if (p[0] === null || !p[2]) return;
    const d = ctx.getImageData(Math.round((p[0] + 0.5) * c.width / res.size[1] - 0.5),
                               Math.round((p[1] + 0.5) * c.height / res.size[0] - 0.5), 1, 1).data;
    const want = res.colors[i].match(/[0-9a-f]{2}/g).map(h => parseInt(h, 16));
    if (Math.abs(d[0] - want[0]) + Math.abs(d[1] - want[1]) + Math.abs(d[2] - want[2]) < 30) hits++;
  });
  return hits;
}"""


def click_canvas_pixel(page, selector: str, x: int, y: int) -> None:
    """Click pixel ``(x, y)`` of the picture on the canvas at ``selector`` (its own pixels; shown scaled)."""
    box = page.locator(selector).bounding_box()
    w, h = page.locator(selector).evaluate("c => [c.width, c.height]")
    page.mouse.click(box["x"] + (x + 0.5) * box["width"] / w, box["y"] + (y + 0.5) * box["height"] / h)


def test_live_grid_click_stop_and_save(live_app, tmp_path):
    from playwright.sync_api import sync_playwright

    from studio.io.trackfile import load_tracks
    from studio.io.video import read_video

    url, out = live_app
    cam = camera_clip(tmp_path / "camera.y4m", size=(240, 320), frames=24)
    with sync_playwright() as p:
        browser = launch_browser(p, cam.path)
        try:
            page = open_live_tab(browser, url)
            wait_status(page, "frames/s shown")
            size = page.locator("#live-grid-size input[type=number]")
            size.fill("4")
            size.press("Enter")
            page.click("#live-grid")
            wait_status(page, "· 16 points")
            click_canvas_pixel(page, "#live-page canvas.live-view", 160, 100)
            wait_status(page, "· 17 points")
            # Let the stream run on: wait for 30 more frames after the click took effect.
            frames_now = page.evaluate("() => window.__studioLive.shown.length")
            page.wait_for_function("n => window.__studioLive.shown.length >= n", arg=frames_now + 30)
            # The page drew the newest frame's 17 points on the picture it shows (their colours, not the clip's).
            assert page.evaluate(DRAWN_POINTS_JS) >= 17
            # On another tab nothing is sent (or recorded); back on Live the stream goes on.
            page.get_by_role("tab", name="Track points").click()
            page.wait_for_timeout(500)  # a frame already on its way may still land
            sent = page.evaluate("() => window.__studioLive.sent")
            page.wait_for_timeout(1000)
            assert page.evaluate("() => window.__studioLive.sent") == sent
            page.get_by_role("tab", name="Live").click()
            page.wait_for_function("n => window.__studioLive.sent >= n", arg=sent + 10)
            page.click("#live-stop")
            wait_status(page, "saved lk")
            page.wait_for_selector("#live-files a[download$='.npz']")
            page.wait_for_selector("#live-video video")
            names = sorted(a.get_attribute("download") for a in page.locator("#live-files a[download]").all())
            assert names == ["live_lk.csv", "live_lk.json", "live_lk.npz"]
        finally:
            browser.close()

    (npz,) = out.glob("*/live_lk.npz")
    result = load_tracks(npz)
    video = read_video(npz.parent / "live.mp4")
    assert video.size == (240, 320) and result.size == (240, 320)
    assert result.num_frames == video.num_frames >= 30
    assert result.num_points == 17
    # The grid came first (one query frame), the click later, near where it was made.
    assert np.all(result.queries[:16, 0] == result.queries[0, 0])
    assert result.queries[16, 0] > result.queries[0, 0]
    assert np.abs(result.queries[16, 1:] - [160, 100]).max() <= 1.0

    # Match every recorded frame to the clip frame it shows, and compare with the exact motion.
    match = cam.match(video.frames)
    q = result.queries.copy()
    q[:, 0] = match[q[:, 0].astype(int)]
    gt, gt_vis = cam.clip.ground_truth(q)
    gt, gt_vis = gt[match], gt_vis[match]
    after = np.arange(len(match))[:, None] > result.queries[None, :, 0]
    judged = after & gt_vis & result.visible
    err = np.linalg.norm(result.tracks - gt, axis=-1)
    assert judged.sum() > 15 * 30
    assert np.median(err[judged]) < 1.0
    assert np.percentile(err[judged], 90) < 3.0
    assert result.visible[after & gt_vis].mean() > 0.9
    # The camera moved during the session, so the tracks were really followed (not a frozen picture).
    assert np.median(np.ptp(gt[:, :16, 0], axis=0)) > 3.0
