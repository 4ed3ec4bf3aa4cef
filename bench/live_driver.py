"""Drive the Live tab in Chromium with a fake camera playing a generated clip (bench and browser test).

The camera is Chromium's own fake device (``--use-file-for-fake-video-capture``) looping a
``.y4m`` made here from ``studio.synthetic`` (a real photo under a known motion, played
forwards then backwards so the loop has no jump), so every recorded frame can be matched
back to its clip frame and its exact ground truth.

Latency is measured in the page, end to end: each frame the webcam box captures gets a
16-bit counter stamped into its bottom-left corner (8 px blocks) just before it is
encoded; when the tracked picture shows a frame, the stamp is read back from its pixels,
and latency = shown time - capture time of that stamp. So it covers the browser's JPEG
encode, the upload, the server (decode, track, draw, record, encode) and the download
and decode of the picture.
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

STAMP_BITS = 16
STAMP_BLOCK = 8

# Wraps the canvas encoder the webcam box uses: stamp a counter, note the capture time; and on every
# picture shown in #live-out, read the stamp back and note the latency.
STAMP_SCRIPT = """
(() => {
  const BITS = %d, BLOCK = %d;
  window.__live = {captured: {}, latencies: [], shown: [], next: 1};
  const encode = HTMLCanvasElement.prototype.toDataURL;
  HTMLCanvasElement.prototype.toDataURL = function (...args) {
    if (this.width >= BITS * BLOCK && this.height >= BLOCK * 4) {
      const id = window.__live.next++ & 0xffff;
      const ctx = this.getContext('2d');
      for (let b = 0; b < BITS; b++) {
        ctx.fillStyle = (id >> b) & 1 ? '#fff' : '#000';
        ctx.fillRect(b * BLOCK, this.height - BLOCK, BLOCK, BLOCK);
      }
      window.__live.captured[id] = performance.now();
    }
    return encode.apply(this, args);
  };
  const probe = document.createElement('canvas');
  document.addEventListener('load', (e) => {
    const img = e.target;
    if (!(img instanceof HTMLImageElement) || !img.closest('#live-out')) return;
    const now = performance.now();
    // Only the stamp's strip is copied out of the picture: the probe costs the page next to nothing.
    probe.width = BITS * BLOCK; probe.height = BLOCK;
    const ctx = probe.getContext('2d', {willReadFrequently: true});
    ctx.drawImage(img, 0, img.naturalHeight - BLOCK, BITS * BLOCK, BLOCK, 0, 0, BITS * BLOCK, BLOCK);
    const px = ctx.getImageData(0, 0, BITS * BLOCK, BLOCK).data;
    let id = 0;
    for (let b = 0; b < BITS; b++) {
      const i = 4 * ((BLOCK / 2) * BITS * BLOCK + b * BLOCK + BLOCK / 2);
      if (px[i] + px[i + 1] + px[i + 2] > 3 * 128) id |= 1 << b;
    }
    const t0 = window.__live.captured[id];
    window.__live.shown.push(now);
    if (t0 !== undefined) window.__live.latencies.push(now - t0);
  }, true);
})();
""" % (STAMP_BITS, STAMP_BLOCK)


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


def open_live_tab(browser, url: str, stamp: bool = False, timeout_ms: int = 60_000):
    """A page on the app's Live tab with the camera streaming (``stamp``: measure latency, see the module)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(timeout_ms)
    if stamp:
        page.add_init_script(STAMP_SCRIPT)
    page.goto(url)
    page.get_by_role("tab", name="Live").click()
    page.locator("#live-camera button", has_text="Click to Access Webcam").click()
    page.locator("#live-camera button", has_text="Record").click()
    page.wait_for_selector("#live-out img")
    return page


def live_status(page) -> str:
    return page.locator("#live-status textarea").input_value()


def wait_status(page, text: str) -> None:
    page.wait_for_function(
        "t => (document.querySelector('#live-status textarea') || {}).value?.includes(t)", arg=text
    )


def latency_figures(page) -> dict:
    """Frames shown per second and end-to-end latency (ms) so far; needs ``stamp=True``."""
    data = page.evaluate("() => ({lat: window.__live.latencies, shown: window.__live.shown})")
    lat = np.asarray(data["lat"], float)
    shown = np.asarray(data["shown"], float)
    fps = (len(shown) - 1) / ((shown[-1] - shown[0]) / 1000.0) if len(shown) > 1 else 0.0
    return {
        "frames_shown": int(len(shown)),
        "fps": float(fps),
        "latency_median_ms": float(np.median(lat)) if len(lat) else float("nan"),
        "latency_p90_ms": float(np.percentile(lat, 90)) if len(lat) else float("nan"),
    }
