"""The "Render" tab: re-draw tracks in any mode without tracking again.

Its input is a video plus a track file: the latest result of the Track or Dense
tab (one click fills both in), or files the user uploads. Every mode of
``studio.render.MODES`` and its options are offered; changing the mode renders
again at once, since drawing is cheap and the decoded video and the tracks are
cached by the service (``studio.service.render_job``). The output is an mp4, a still frame
chosen with a slider, and the mp4 as a download.
"""

from __future__ import annotations

import gradio as gr
import numpy as np

from studio.render import COLOR_BY, MODES, RenderOptions
from studio.results import InputError
from studio.service import TrackingService
from studio.service.render_job import rerender
from studio.ui.common import progress_adapter, user_errors

INTRO = """\
Re-draw tracks in any mode — points with tails, overlay, occlusion stripes, DOT's spaghetti views — \
**without tracking again**. Press *Use latest Track result* (or *Dense result*), or upload a video and a \
track file (npz / csv / json from this app or the CLI; dense npz from the Dense tab). Modes ending in \
`_mask` draw only tracks that start inside the mask.
"""

COLORMAPS = ("jet", "turbo", "rainbow", "hsv", "viridis", "plasma", "spring", "cool")
DEFAULTS = RenderOptions()


def _options(color_by, colormap, tail, radius, hide_occluded, overlay_factor, dense_grid,
             spaghetti_radius, spaghetti_grid, spaghetti_scale, spaghetti_every, labels=False, skeleton=True) -> dict:
    """The option widgets' values as ``RenderOptions`` fields (0 = automatic where it applies)."""
    return {
        "color_by": color_by,
        "colormap": colormap,
        "tail": int(tail),
        "radius": float(radius) if radius and radius > 0 else None,
        "hide_occluded": bool(hide_occluded),
        "overlay_factor": float(overlay_factor),
        "dense_grid": int(dense_grid) if dense_grid and dense_grid > 0 else None,
        "spaghetti_radius": float(spaghetti_radius),
        "spaghetti_grid": int(spaghetti_grid),
        "spaghetti_scale": float(spaghetti_scale),
        "spaghetti_every": int(spaghetti_every),
        "labels": bool(labels),
        "skeleton": bool(skeleton),
    }


def _latest_paths(latest, tab: str) -> tuple[str, str, object]:
    if not latest or not latest.get("tracks") or not latest.get("video"):
        raise InputError(f"no {tab} result yet: run the {tab} tab first (or upload a video and a track file)")
    return latest["video"], latest["tracks"], latest.get("mask")


def build_render(service: TrackingService, context: dict | None = None):
    """Build the Render tab inside the current ``gr.Tab``; returns its components as a dict."""
    context = context or {}
    gr.Markdown(INTRO)
    rendered_path = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1):
            video = gr.Video(label="Video", sources=["upload"], height=320, elem_id="render-video")
            tracks = gr.File(
                label="Tracks (.npz / .csv / .json)", file_types=[".npz", ".csv", ".json"], elem_id="render-tracks"
            )
            with gr.Row():
                sources = {}
                for key, title in (("track", "Track"), ("dense", "Dense")):
                    if key in context and hasattr(context[key], "latest"):
                        sources[key] = (title, gr.Button(f"Use latest {title} result", size="sm"))
            mask = gr.Image(label="Mask for *_mask modes (optional)", type="numpy", image_mode="RGBA", height=200)
        with gr.Column(scale=1):
            mode = gr.Dropdown(list(MODES), value="points", label="Mode", elem_id="render-mode")
            with gr.Row():
                color_by = gr.Radio(list(COLOR_BY), value=DEFAULTS.color_by, label="Colour order")
                colormap = gr.Dropdown(list(COLORMAPS), value=DEFAULTS.colormap, label="Colour map")
            with gr.Accordion("Points and overlay", open=True):
                with gr.Row():
                    tail = gr.Slider(0, 60, value=DEFAULTS.tail, step=1, label="Tail length (frames)")
                    radius = gr.Slider(0, 16, value=0, step=0.5, label="Point radius (0 = auto)")
                with gr.Row():
                    overlay_factor = gr.Slider(0, 1, value=DEFAULTS.overlay_factor, step=0.05, label="Overlay factor")
                    dense_grid = gr.Slider(0, 64, value=0, step=1, label="Dense density: grid stride (0 = auto)")
                hide_occluded = gr.Checkbox(value=False, label="Hide occluded points (default: rings)")
                with gr.Row():
                    labels = gr.Checkbox(value=False, label="Label points with their names", elem_id="render-labels")
                    skeleton = gr.Checkbox(value=True, label="Pose skeleton (COCO keypoint names)",
                                           elem_id="render-skeleton")
            with gr.Accordion("Spaghetti", open=False):
                with gr.Row():
                    spaghetti_radius = gr.Slider(0.5, 6, value=DEFAULTS.spaghetti_radius, step=0.25, label="Line width (radius)")
                    spaghetti_grid = gr.Slider(4, 64, value=DEFAULTS.spaghetti_grid, step=1, label="Dense trail stride")
                with gr.Row():
                    spaghetti_scale = gr.Slider(0.5, 3, value=DEFAULTS.spaghetti_scale, step=0.25, label="Output scale")
                    spaghetti_every = gr.Slider(1, 30, value=DEFAULTS.spaghetti_every, step=1, label="'every' interval")
            render_button = gr.Button("Render", variant="primary", elem_id="render-button")
            status = gr.Textbox(label="Status", lines=2, interactive=False, elem_id="render-status")
    with gr.Row():
        out_video = gr.Video(label="Rendered", interactive=False, elem_id="render-output")
        with gr.Column():
            still = gr.Image(label="Still frame", interactive=False, elem_id="render-still")
            still_t = gr.Slider(0, 1, value=0, step=1, label="Frame", elem_id="render-still-frame")
    download = gr.File(label="Download mp4", interactive=False)

    option_inputs = [color_by, colormap, tail, radius, hide_occluded, overlay_factor, dense_grid,
                     spaghetti_radius, spaghetti_grid, spaghetti_scale, spaghetti_every, labels, skeleton]

    @user_errors
    def on_render(video_path, tracks_file, mode_name, mask_image, t, previous, *opts, progress=gr.Progress()):
        if not video_path:
            raise InputError("no video: upload the video the tracks were made on, or use the latest result")
        if mask_image is not None and not np.asarray(mask_image).any():
            mask_image = None  # an empty editor layer is no mask
        out = rerender(
            service, video_path, tracks_file, mode_name, _options(*opts), mask=mask_image,
            progress=progress_adapter(progress),
        )
        last = out.frames.shape[0] - 1
        # The first still is the middle frame, where trails and tails already show.
        t = last // 2 if previous is None else int(min(max(int(t or 0), 0), last))
        return (
            str(out.path),
            out.frames[t],
            gr.update(maximum=max(last, 1), value=t),
            str(out.path),
            out.status(),
            str(out.path),
        )

    @user_errors
    def on_still(path, t):
        if not path:
            return None
        frames = service.load_video(path).frames
        return frames[int(min(max(int(t), 0), frames.shape[0] - 1))]

    def use_latest(tab: str):
        def handler(latest):
            video_path, tracks_path, mask_path = _latest_paths(latest, tab)
            # A log camera or a dataset video is not a file the video box can show: use an mp4 of its frames.
            return service.playable(video_path), tracks_path, mask_path

        handler.__name__ = f"use_latest_{tab.lower()}"  # one name per source, for logs and tests
        return user_errors(handler)

    ui = {"api_visibility": "undocumented"}
    outputs = [out_video, still, still_t, download, status, rendered_path]
    inputs = [video, tracks, mode, mask, still_t, rendered_path, *option_inputs]
    render_button.click(on_render, inputs=inputs, outputs=outputs, show_progress_on=[status],
                        concurrency_id="render", concurrency_limit=2, **ui)
    # Switching modes renders again straight away: no tracking, only drawing.
    mode.input(on_render, inputs=inputs, outputs=outputs, show_progress_on=[status],
               concurrency_id="render", concurrency_limit=2, **ui)
    still_t.release(on_still, inputs=[rendered_path, still_t], outputs=[still], queue=False, **ui)
    for key, (title, button) in sources.items():
        button.click(use_latest(title), inputs=[context[key].latest], outputs=[video, tracks, mask],
                     queue=False, **ui).then(
            on_render, inputs=inputs, outputs=outputs, show_progress_on=[status],
            concurrency_id="render", concurrency_limit=2, **ui)
    return {
        "video": video, "tracks": tracks, "mode": mode, "mask": mask, "render_button": render_button,
        "output": out_video, "still": still, "status": status, "download": download,
    }
