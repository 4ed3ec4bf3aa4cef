"""Drive the Live tab in Chromium with a fake camera playing a generated clip (bench and browser test).

The camera is Chromium's own fake device (``--use-file-for-fake-video-capture``) looping a
``.y4m`` made here from ``studio.synthetic`` (a real photo under a known motion, played
forwards then backwards so the loop has no jump), so every recorded frame can be matched
back to its clip frame and its exact ground truth.

Frames/s and latency are the page's own figures (``studio/ui/live_page.js`` keeps them in
``window.__studioLive``): a frame counts as *shown* when the page has drawn it with its tracked
points, and its latency runs from the moment the page grabbed it from the camera to that drawing
(JPEG encode, upload, the server's decode, tracking and recording, the points' way back, the
drawing), so it covers everything but the camera's own delay before the page sees a frame.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import numpy as np

from studio.io.video.y4m import write_y4m
from studio.synthetic import SyntheticClip, make_clip

CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
BASE_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]

@dataclass
class CameraClip:
    """The looped clip the fake camera plays: frames [T, H, W, 3] and their homographies [T, 3, 3]."""

    clip: SyntheticClip
    path: str

    def match(self, frames: np.ndarray) -> np.ndarray:
        """Index of the clip frame each of ``frames`` [F, H, W, 3] shows (nearest by mean squared difference).

        The ping-pong loop repeats every picture with the same ground truth, so either copy is right.
        """
        small = self.clip.video[:, ::8, ::8].astype(np.float32)
        out = np.empty(len(frames), int)
        for i, f in enumerate(frames):
            d = ((small - f[::8, ::8].astype(np.float32)) ** 2).mean(axis=(1, 2, 3))
            out[i] = int(np.argmin(d))
        return out


def camera_clip(path, size=(480, 640), frames: int = 30, fps: float = 30.0) -> CameraClip:
    """Write a looping fake-camera clip (``.y4m``) of the photo panning; returns it with its ground truth."""
    base = make_clip("translate", num_frames=frames, size=size, speed=0.5, occluder=False, fps=fps)
    # Forwards then backwards (without repeating the ends): the loop restarts where it left off.
    order = np.concatenate([np.arange(frames), np.arange(frames - 2, 0, -1)])
    clip = SyntheticClip(base.video[order], base.homographies[order], base.occluder_centres[order], 0.0, fps)
    write_y4m(path, clip.video, fps)
    return CameraClip(clip, str(path))


def camera_from_video(path, out_y4m, size=(480, 640), max_frames: int = 90) -> str:
    """Write a looping fake-camera ``.y4m`` of a real clip (its first ``max_frames`` frames, forwards then
    backwards, resized to ``size``); no ground truth."""
    import cv2

    from studio.io.video import read_video

    frames = read_video(path, max_frames=max_frames).frames
    h, w = size
    frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
    order = np.concatenate([np.arange(len(frames)), np.arange(len(frames) - 2, 0, -1)])
    return write_y4m(out_y4m, frames[order], 30.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_browser(playwright, y4m: str):
    """Chromium with the fake camera playing ``y4m``."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=BASE_ARGS + [f"--use-file-for-fake-video-capture={y4m}"]
    )


def open_live_tab(browser, url: str, timeout_ms: int = 60_000):
    """A page on the app's Live tab with the camera on and the first frame shown (no points yet)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(timeout_ms)
    page.goto(url)
    page.get_by_role("tab", name="Live").click()
    page.locator("#live-page button.live-start").click()
    page.wait_for_function("() => window.__studioLive && window.__studioLive.shown.length > 0")
    return page


def live_status(page) -> str:
    """The line under the picture (frames/s shown, latency, the server's status) and the buttons' status."""
    return page.evaluate(STATUS_JS)


STATUS_JS = """() => [document.querySelector('#live-page .live-stats'), document.querySelector('#live-page .live-note'),
  document.querySelector('#live-status textarea')].map(e => e ? (e.value !== undefined ? e.value : e.textContent) : '')
  .join(' | ')"""


def wait_status(page, text: str) -> None:
    page.wait_for_function(f"t => ({STATUS_JS})().includes(t)", arg=text)


def reset_figures(page) -> None:
    """Start the page's frames/s and latency figures afresh."""
    page.evaluate("() => { window.__studioLive.latencies = []; window.__studioLive.shown = []; }")


def latency_figures(page) -> dict:
    """Frames shown per second and latency (ms, grab -> drawn with its points) since ``reset_figures``."""
    data = page.evaluate("() => ({lat: window.__studioLive.latencies, shown: window.__studioLive.shown})")
    lat = np.asarray(data["lat"], float)
    shown = np.asarray(data["shown"], float)
    fps = (len(shown) - 1) / ((shown[-1] - shown[0]) / 1000.0) if len(shown) > 1 else 0.0
    return {
        "frames_shown": int(len(shown)),
        "fps": float(fps),
        "latency_median_ms": float(np.median(lat)) if len(lat) else float("nan"),
        "latency_p90_ms": float(np.percentile(lat, 90)) if len(lat) else float("nan"),
    }
