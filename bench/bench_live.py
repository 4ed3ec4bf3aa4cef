"""Live tab speed in a real browser: frames/s and end-to-end latency of a webcam stream with tracking.

Starts the app, opens Chromium with a fake camera playing a generated 640x480 clip
(``bench/live_driver.py``), drops an 8x8 grid (64 points) on the Live tab, lets it run
and reads the figures measured in the page: frames shown per second (each drawn with its own
tracked points), and the latency from the moment the page grabbed a frame from the camera to
the moment it drew it with its points (median and 90th percentile). The server's own share
(decode, tracking, recording per frame) is printed beside it. Then Stop and save, and the accuracy of the
saved tracks against the clip's exact motion.

Before the browser run, ``--server-frames`` frames go straight through a ``LiveSession`` (no
browser, no Gradio) with each stage timed: what the server alone can sustain.

Goal (issue #14): >= 15 frames/s and < 150 ms latency with ``lk`` at 640x480, 64 points, on a 2-core CPU.
The machine is shared: the 1-minute load average is printed with the figures.

Usage:
  python bench/bench_live.py                       # lk, 8x8 grid, 20 s
  python bench/bench_live.py --grid 8 --seconds 30 --size 480x640 --model lk
  python bench/bench_live.py --no-browser          # the server-side stages only
  python bench/bench_live.py --clip ../shared/media/paragliding.mp4   # a real clip as the camera (no accuracy)
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from live_driver import (  # noqa: E402
    camera_clip,
    camera_from_video,
    free_port,
    latency_figures,
    launch_browser,
    live_status,
    open_live_tab,
    reset_figures,
    wait_status,
)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lk")
    ap.add_argument("--grid", type=int, default=8, help="N for an NxN grid of points")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured streaming time after the grid is dropped")
    ap.add_argument("--size", default="480x640", help="HxW of the fake camera")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--server-frames", type=int, default=200, help="frames for the server-only timing (0 = skip)")
    ap.add_argument("--no-browser", action="store_true", help="server-only timing")
    ap.add_argument("--clip", help="a real video as the camera (resized to --size, looped; no ground truth)")
    ap.add_argument("--in-flight", type=int, help="frames the page may have on their way at once (default: the app's)")
    ap.add_argument("--quality", type=float, help="JPEG quality of the frames the page sends (default: the app's)")
    args = ap.parse_args(argv)
    h, w = (int(v) for v in args.size.lower().split("x"))
    figures = {"load_average_1min": os.getloadavg()[0]}
    if args.server_frames:
        figures["server"] = server_stages(args.model, args.grid, (h, w), args.server_frames)
        print(json.dumps(figures, indent=1), flush=True)
    if args.no_browser:
        return figures

    from playwright.sync_api import sync_playwright

    from studio.io.trackfile import load_tracks
    from studio.io.video import read_video
    from studio.service import TrackingService
    from studio.ui.app import build_demo, launch_kwargs

    import studio.ui.tab_live as tab_live

    if args.in_flight:
        tab_live.MAX_IN_FLIGHT = args.in_flight
    if args.quality:
        tab_live.JPEG_QUALITY = args.quality
    figures.update({"in_flight": tab_live.MAX_IN_FLIGHT, "jpeg_quality": tab_live.JPEG_QUALITY})
    work = tempfile.mkdtemp(prefix="bench-live-")
    if args.clip:
        cam = None
        y4m = camera_from_video(args.clip, os.path.join(work, "camera.y4m"), size=(h, w))
    else:
        cam = camera_clip(os.path.join(work, "camera.y4m"), size=(h, w))
        y4m = cam.path
    demo = build_demo(TrackingService(output_root=os.path.join(work, "out")))
    _, url, _ = demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **launch_kwargs()
    )
    try:
        with sync_playwright() as p:
            browser = launch_browser(p, y4m)
            page = open_live_tab(browser, url)
            if args.model != "lk":
                page.locator("#live-model input").fill(args.model)
                page.keyboard.press("Enter")
            size = page.locator("#live-grid-size input[type=number]")
            size.fill(str(args.grid))
            size.press("Enter")
            page.click("#live-grid")
            wait_status(page, f"{args.grid * args.grid} points")
            page.wait_for_timeout(2000)  # settle: the first frames after the grid start the tracker
            reset_figures(page)
            t0 = time.perf_counter()
            page.wait_for_timeout(int(args.seconds * 1000))
            figures.update(latency_figures(page))
            figures["wall_s"] = time.perf_counter() - t0
            figures["status"] = live_status(page)
            page.click("#live-stop")
            wait_status(page, "saved")
            browser.close()
    finally:
        demo.close()

    npz = glob.glob(os.path.join(work, "out", "*", f"live_{args.model}.npz"))
    result = load_tracks(npz[0])
    video = read_video(glob.glob(os.path.join(work, "out", "*", "live.mp4"))[0], max_frames=None)
    if cam is not None:
        figures.update(accuracy(cam, result, cam.match(video.frames)))
    else:
        figures["camera_clip"] = os.path.basename(args.clip)
    figures.update({"model": args.model, "points": int(result.num_points), "size": f"{w}x{h}",
                    "frames_recorded": int(video.num_frames), "recorded_fps": float(video.fps)})
    print(json.dumps(figures, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    return figures


def server_stages(model: str, grid: int, size: tuple[int, int], frames: int) -> dict:
    """Milliseconds per frame of each server stage, median over ``frames`` frames of the camera clip.

    Stages, as the Live tab's ``live_frame`` runs them: ``decode`` (the page's JPEG data URL -> RGB),
    ``step`` (LiveSession: track + record, undrawn: the page draws), of which ``track`` (the online
    tracker alone), and ``points_json`` (the points as the JSON rows sent back).
    """
    import base64
    import io
    import json as _json
    import time as _time

    from PIL import Image

    from studio.live import LiveSession
    from studio.online import open_online
    from studio.service.live_job import decode_frame_url, points_rows

    cam = camera_clip(os.path.join(tempfile.mkdtemp(prefix="bench-live-"), "camera.y4m"), size=size)
    video = cam.clip.video
    urls = []
    for f in video:
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, format="JPEG", quality=80)  # what the page sends (toBlob quality 0.8)
        urls.append("data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"))
    tracker = open_online(model)
    inner_step = tracker.step
    track_ms = []

    def timed_step(frames):
        t0 = _time.perf_counter()
        out = inner_step(frames)
        track_ms.append((_time.perf_counter() - t0) * 1000)
        return out

    tracker.step = timed_step
    session = LiveSession(tracker, tempfile.mkdtemp(prefix="bench-live-"), model=model)
    times = {"decode": [], "step": [], "points_json": []}
    for i in range(frames):
        t0 = _time.perf_counter()
        frame = decode_frame_url(urls[i % len(urls)])
        t1 = _time.perf_counter()
        session.step(frame, draw=False)
        t2 = _time.perf_counter()
        _json.dumps(points_rows(*session.latest(), digits=2))
        t3 = _time.perf_counter()
        if i == 0:
            session.add_grid(grid)
            continue
        times["decode"].append((t1 - t0) * 1000)
        times["step"].append((t2 - t1) * 1000)
        times["points_json"].append((t3 - t2) * 1000)
    session.stop()
    out = {k: round(float(np.median(v)), 2) for k, v in times.items()}
    out["track"] = round(float(np.median(track_ms[1:])), 2)
    out["total"] = round(out["decode"] + out["step"] + out["points_json"], 2)
    out["frames_per_s_if_alone"] = round(1000.0 / out["total"], 1)
    out.update({"frames": frames, "points": grid * grid, "size": f"{size[1]}x{size[0]}"})
    return out


def accuracy(cam, result, match: np.ndarray) -> dict:
    """Median and 90th-percentile error (px) of visible tracks, and the visible share of points on the picture."""
    q = result.queries.copy()
    q[:, 0] = match[q[:, 0].astype(int)]  # query frames as clip frames
    gt, gt_vis = cam.clip.ground_truth(q)
    gt, gt_vis = gt[match], gt_vis[match]
    after = np.arange(len(match))[:, None] > result.queries[None, :, 0]
    err = np.linalg.norm(result.tracks - gt, axis=-1)
    judged = after & result.visible & gt_vis
    on_picture = after & gt_vis
    return {
        "error_median_px": float(np.median(err[judged])) if judged.any() else float("nan"),
        "error_p90_px": float(np.percentile(err[judged], 90)) if judged.any() else float("nan"),
        "visible_share": float(result.visible[on_picture].mean()) if on_picture.any() else float("nan"),
    }


if __name__ == "__main__":
    main()
