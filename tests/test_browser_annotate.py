"""The Annotate tab in a real browser: add a named point, place it, correct it on a later frame, mark it hidden,
save, score the saved file like an independently written one, and open it again to continue.

Every step waits on the sentence the status line ends with (the app's completion signal), never on a fixed delay.
Uses the app, browser and click helpers of ``test_browser``.
"""

from __future__ import annotations

import pickle
import urllib.request

import numpy as np
import pytest

from test_browser import CLIP, ROOT, app_url, browser, click_image_pixel, page, wait_text  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:.*:Warning:gradio.queueing"),
]

TRUTH = ROOT / "examples" / "hopper_orbit_truth.npz"  # exact tracks of 36 points through CLIP (48 frames, 480x360)


def go_to_frame(page, t: int) -> None:
    before = page.locator("#annotate-frame img").get_attribute("src")
    number = page.locator("#annotate-slider input[type=number]")
    number.fill(str(t))
    number.press("Enter")
    page.wait_for_function("s => document.querySelector('#annotate-frame img').src !== s", arg=before)


def download(page, selector: str, target):
    with urllib.request.urlopen(page.locator(selector).get_attribute("href"), timeout=30) as response:
        target.write_bytes(response.read())
    return target


def test_annotate_correct_hide_save_score_and_continue(page, tmp_path):
    from studio.benchmark.datasets import load_videos
    from studio.benchmark.datasets.tapvid import KEYFRAME_HIDDEN, KEYFRAME_PLACED
    from studio.benchmark.runner import evaluate

    with np.load(TRUTH) as z:
        truth, truth_vis = z["tracks"], z["visible"]
    i = int(np.flatnonzero(truth_vis[[0, 20]].all(axis=0))[0])  # a point visible on frames 0 and 20
    first = np.round(truth[0, i]).astype(int)
    later = np.round(truth[20, i]).astype(int)

    page.get_by_role("tab", name="Annotate").click()
    page.locator("#annotate-video input[type=file]").set_input_files(str(CLIP))
    wait_text(page, "#annotate-status", "loaded hopper_orbit.mp4")
    page.locator("#annotate-name textarea").fill("tip")
    page.click("#annotate-add")
    wait_text(page, "#annotate-status", "added tip (point 0)")

    landed = [click_image_pixel(page, "#annotate-frame img", *first)]
    wait_text(page, "#annotate-status", "tip placed on frame 0")
    wait_text(page, "#annotate-status", "re-tracked frames 0–47 from keyframe 0 with lk")

    go_to_frame(page, 20)
    landed.append(click_image_pixel(page, "#annotate-frame img", *later))
    wait_text(page, "#annotate-status", "tip placed on frame 20")
    wait_text(page, "#annotate-status", "re-tracked frames 0–47 from keyframe 20 with lk")

    go_to_frame(page, 30)
    page.click("#annotate-hide")
    wait_text(page, "#annotate-status", "tip marked hidden on frame 30")
    wait_text(page, "#annotate-points", "tip — keyframes 0, 20; hidden 30")

    page.click("#annotate-save")
    wait_text(page, "#annotate-status", "saved 1 points x 48 frames: hopper_orbit.pkl, hopper_orbit.npz")
    saved = download(page, "#annotate-files a[download$='.npz']", tmp_path / "gt.npz")
    pkl = download(page, "#annotate-files a[download$='.pkl']", tmp_path / "gt.pkl")
    video = load_videos(saved)[0]
    assert video.names == ["tip"] and video.num_frames == 48
    assert video.keyframes[0, [0, 20]].tolist() == [KEYFRAME_PLACED] * 2 and video.keyframes[0, 30] == KEYFRAME_HIDDEN
    assert video.occluded[0, 30] and not video.occluded[0, [0, 20]].any()
    for t, where in zip((0, 20), landed):
        # Stored normalised: back to pixels, the keyframe is where the mouse landed (the frontend rounds to
        # whole pixels, so within half a pixel).
        xy = video.points[0, t] * np.array([480, 360]) - 0.5
        np.testing.assert_allclose(xy, where, atol=0.5 + 1e-3)

    # The saved files score exactly like a dataset file written independently from the same arrays.
    with open(tmp_path / "independent.pkl", "wb") as f:
        pickle.dump({"hopper_orbit": {"video": video.frames(), "points": np.array(video.points),
                                      "occluded": np.array(video.occluded)}}, f)
    reference = evaluate("lk", tmp_path / "independent.pkl", "first")
    for path in (saved, pkl):
        assert [v.metrics for v in evaluate("lk", path, "first").videos] == [v.metrics for v in reference.videos]

    # Open the saved file again and continue from where it stopped.
    page.reload()
    page.get_by_role("tab", name="Annotate").click()
    page.locator("#annotate-resume input[type=file]").set_input_files(str(saved))
    wait_text(page, "#annotate-status", "continuing gt.npz: hopper_orbit: 1 points")
    wait_text(page, "#annotate-points", "tip — keyframes 0, 20; hidden 30")
