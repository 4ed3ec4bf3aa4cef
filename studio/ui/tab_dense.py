"""The "Dense" tab: paint a region on a frame (or upload a mask), track every pixel of it.

The compute is ``studio.service.dense_job.run_dense`` (DOT's recipe: a few thousand
point tracks, nearest-track interpolation, optical-flow refinement). The default
model ``dot_dis`` needs no weights (LK tracks + OpenCV DIS). The result is shown
in a render mode that can be switched without tracking again, and saved as a
dense ``.npz`` that the Render tab and ``python -m studio render`` read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import gradio as gr
import numpy as np

from studio.registry import tracker_info, weight_status
from studio.results import InputError
from studio.service import TrackingService
from studio.service.dense_job import (
    DEFAULT_MAX_SIDE,
    DEFAULT_MODEL,
    DEFAULT_NUM_TRACKS,
    MAX_NUM_TRACKS,
    dense_models,
    run_dense,
)
from studio.service.render_job import rerender
from studio.ui.common import progress_adapter, user_errors
from studio.ui.tab_track import GPU_CONCURRENCY, _read_mask, video_input

INTRO = """\
**1.** Upload a video (or pick an example). **2.** Choose the frame to start from and **paint over the region** \
to track (or upload a mask PNG; nothing painted = the whole frame). **3.** Press **Track densely**: every pixel \
of the region gets a track. Switch the view between overlay, occlusion stripes and spaghetti without tracking \
again; download the dense tracks (npz: `offsets` [T, H, W, 2] from each pixel in 1/64 px, `visible` [T, H, W], `mask`; \
`studio.dense.DenseResult.load` gives `tracks` in pixels) and the video.
"""

VIEW_MODES = ("overlay_stripes", "overlay", "spaghetti_first_last", "spaghetti_last_static", "spaghetti_every")
"""Render modes offered for a dense result; each also exists with ``_mask`` when a region was painted."""


@dataclass
class DenseTab:
    """Components other tabs may reuse.

    Attributes:
      latest: ``gr.State``: ``{"tracks": dense npz, "video": source path, "mask": PNG or None,
        "rendered": mp4, "model": name}`` of the last run, or None.
    """

    latest: gr.State
    video: gr.Video
    run_button: gr.Button
    rendered: gr.Video
    files: gr.File
    status: gr.Textbox


def painted_mask(editor_value) -> np.ndarray | None:
    """The painted region of a ``gr.ImageEditor`` value as uint8 [h, w] (255 inside), None if nothing is painted.

    Strokes are in the editor's layers (RGBA; painted = alpha > 0); the background
    is the frame itself and never counts.
    """
    if not isinstance(editor_value, dict):
        return None
    layers = [np.asarray(layer) for layer in editor_value.get("layers") or [] if layer is not None]
    painted = None
    for layer in layers:
        if layer.ndim == 3 and layer.shape[2] == 4:
            inside = layer[..., 3] > 0
            painted = inside if painted is None else painted | inside
    if painted is None or not painted.any():
        return None
    return painted.astype(np.uint8) * 255


def _model_choices() -> list[tuple[str, str]]:
    return [(f"{n} · {tracker_info(n).title} · {weight_status(n)}", n) for n in dense_models()]


def _mode_choices(has_mask: bool) -> list[str]:
    return [f"{m}_mask" for m in VIEW_MODES] + list(VIEW_MODES) if has_mask else list(VIEW_MODES)


def build_dense(service: TrackingService) -> DenseTab:
    """Build the Dense tab inside the current ``gr.Tab``."""
    latest = gr.State(None)
    source_path = gr.State(None)
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            video = video_input("dense-video", height=300)
            upload_mask = gr.Image(label="…or upload a mask PNG of that frame (white or opaque = inside)",
                                   type="numpy", image_mode=None, sources=["upload"], height=150,
                                   elem_id="dense-mask")
        with gr.Column(scale=1):
            editor = gr.ImageEditor(
                label="Paint the region to track on this frame",
                type="numpy",
                sources=[],
                brush=gr.Brush(colors=["#ff3030"], default_size=24, color_mode="fixed"),
                eraser=gr.Eraser(default_size=24),
                layers=False,
                height=380,
                elem_id="dense-editor",
            )
            frame_t = gr.Slider(0, 1, value=0, step=1, label="Start frame", interactive=False, elem_id="dense-frame")
    with gr.Row(equal_height=True):
        choices = _model_choices()
        model = gr.Dropdown(choices, value=DEFAULT_MODEL if DEFAULT_MODEL in dense_models() else None,
                            label="Dense model", scale=3, elem_id="dense-model")
        initializer = gr.Dropdown(service.model_choices(), value="lk", label="Initial tracks from", scale=2)
        run_button = gr.Button("Track densely", variant="primary", scale=1, elem_id="dense-button")
    with gr.Accordion("Options", open=False), gr.Row():
        num_tracks = gr.Slider(256, MAX_NUM_TRACKS, value=DEFAULT_NUM_TRACKS, step=256,
                               label="Initial tracks (DOT samples half at motion boundaries)")
        max_side = gr.Slider(128, 1024, value=DEFAULT_MAX_SIDE, step=32,
                             label="Working resolution (longer side, px)")
    status = gr.Textbox(label="Status", interactive=False, lines=2, elem_id="dense-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            rendered = gr.Video(label="Dense tracks", autoplay=True, loop=True, interactive=False,
                                elem_id="dense-out")
        with gr.Column(scale=1):
            view = gr.Dropdown(list(VIEW_MODES), value="overlay_stripes", label="View (no re-tracking)",
                               elem_id="dense-view")
            files = gr.File(label="Download (dense npz, mp4)", file_count="multiple", elem_id="dense-files")

    @user_errors
    def on_dense_video(path, progress=gr.Progress()):
        if not path:
            return None, gr.update(value=0, maximum=1, interactive=False), None, None
        v = service.load_video(path, progress=progress_adapter(progress))
        for notice in v.notices:
            gr.Warning(f"{os.path.basename(path)}: {notice}")
        last = max(v.num_frames - 1, 1)
        return path, gr.update(value=0, maximum=last, interactive=v.num_frames > 1), _editor_value(path, 0), None

    def _editor_value(path, t):
        return {"background": service.frame(path, int(t)), "layers": [], "composite": None}

    @user_errors
    def on_dense_frame(path, t):
        if not path:
            return None
        return _editor_value(path, t)

    @user_errors
    def on_dense_run(path, editor_value, mask_file, t, model_name, init_name, n_tracks, side, progress=gr.Progress()):
        if not path:
            raise InputError("load a video first (upload one or pick an example)")
        mask = painted_mask(editor_value)
        if mask is None and mask_file is not None:
            mask = np.asarray(mask_file)
        out = run_dense(service, path, mask, query_frame=int(t), model=model_name or DEFAULT_MODEL,
                        initializer=init_name or "lk", num_tracks=int(n_tracks), max_side=int(side),
                        progress=progress_adapter(progress))
        value = {"tracks": str(out.npz), "video": path, "mask": str(out.mask_png) if out.mask_png else None,
                 "rendered": str(out.rendered), "model": out.result.model}
        has_mask = out.mask_png is not None
        return (str(out.rendered), [str(out.npz), str(out.rendered)], out.status(), value,
                gr.update(choices=_mode_choices(has_mask), value=out.mode))

    @user_errors
    def on_dense_view(value, mode):
        if not value:
            raise InputError("track densely first; then switch views here")
        drawn = rerender(service, value["video"], value["tracks"], mode, {})
        return str(drawn.path), [value["tracks"], str(drawn.path)], drawn.status()

    ui = {"api_visibility": "undocumented"}
    video.change(on_dense_video, inputs=[video], outputs=[source_path, frame_t, editor, latest],
                 concurrency_id="decode", concurrency_limit=4, **ui)
    frame_t.release(on_dense_frame, inputs=[source_path, frame_t], outputs=[editor], queue=False, **ui)
    run_button.click(
        on_dense_run,
        inputs=[source_path, editor, upload_mask, frame_t, model, initializer, num_tracks, max_side],
        outputs=[rendered, files, status, latest, view],
        show_progress_on=[status],
        concurrency_id="gpu",
        concurrency_limit=GPU_CONCURRENCY,
        **ui,
    )
    view.input(on_dense_view, inputs=[latest, view], outputs=[rendered, files, status], show_progress_on=[status],
               concurrency_id="render", concurrency_limit=2, **ui)
    return DenseTab(latest=latest, video=video, run_button=run_button, rendered=rendered, files=files,
                    status=status)


def build_api(service: TrackingService) -> None:
    """The headless ``/dense`` endpoint (hidden components, callable with ``gradio_client``).

    Inputs: ``video`` (file), ``mask`` (optional PNG of ``query_frame``), ``query_frame``,
    ``model`` (dense registry name, empty = ``dot_dis``), ``initializer`` (point tracker,
    empty = ``lk``), ``num_tracks``, ``mode`` (render mode, empty = overlay stripes).
    Outputs: rendered MP4, dense tracks npz, status line.
    """
    with gr.Group(visible=False):
        video = gr.File(label="video")
        mask = gr.File(label="mask")
        query_frame = gr.Number(label="query_frame", value=0, precision=0)
        model = gr.Textbox(label="model", value="")
        initializer = gr.Textbox(label="initializer", value="")
        num_tracks = gr.Number(label="num_tracks", value=DEFAULT_NUM_TRACKS, precision=0)
        mode = gr.Textbox(label="mode", value="")
        out_video = gr.File(label="rendered_video")
        out_npz = gr.File(label="dense_npz")
        out_status = gr.Textbox(label="status")
        trigger = gr.Button("dense", visible=False)

    @user_errors
    def dense(video, mask=None, query_frame=0, model="", initializer="", num_tracks=DEFAULT_NUM_TRACKS, mode="",
              progress=gr.Progress()):
        """Track every pixel of a region (or of the whole frame) through a video.

        Args:
            video: the video file.
            mask: optional PNG mask of query_frame (white or opaque = inside); none = the whole frame.
            query_frame: the frame the tracks start from.
            model: dense registry model; empty for dot_dis (weight-free).
            initializer: point tracker for the initial tracks; empty for lk.
            num_tracks: number of initial tracks.
            mode: render mode of the video; empty for overlay_stripes(_mask).

        Returns:
            rendered MP4, dense tracks .npz and a status line.
        """
        if not video:
            raise InputError("no video file given")
        mask_image = _read_mask(mask, service.limits) if mask else None
        out = run_dense(service, str(video), mask_image, query_frame=int(query_frame or 0),
                        model=(model or "").strip() or DEFAULT_MODEL, initializer=(initializer or "").strip() or "lk",
                        num_tracks=int(num_tracks or DEFAULT_NUM_TRACKS), mode=(mode or "").strip() or None,
                        progress=progress_adapter(progress))
        return str(out.rendered), str(out.npz), out.status()

    trigger.click(
        dense,
        inputs=[video, mask, query_frame, model, initializer, num_tracks, mode],
        outputs=[out_video, out_npz, out_status],
        api_name="dense",
        concurrency_id="gpu",
        concurrency_limit=GPU_CONCURRENCY,
    )
