"""The "Track points" tab: load a video, click query points on any frame, track, download.

State kept per browser session is light: the video's file path and the list of
query points ``[[t, x, y], ...]`` in *source-video* pixels (integer = pixel
centre). Frames are never stored in ``gr.State``; the service decodes each video
once and serves frames from its cache. The frame shown for clicking is the
working frame (maybe shrunk to the size limit), so clicks are converted to source
pixels by the service.

The headless twin of this tab is ``build_api``: the ``/track`` endpoint takes the
video file, queries as JSON text (or a grid) and a model name, because
``gradio_client`` sends no click events.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

from studio.io.guards import read_image
from studio.io.sources import camera_source, source_label
from studio.limits import Limits
from studio.render.annotations import draw_labels
from studio.render.points import draw_points, point_colors
from studio.results import InputError
from studio.service import TrackingService
from studio.service.track_job import check_track_model, streams_whole
from studio.ui.common import (
    click_to_pixel,
    points_summary,
    progress_adapter,
    split_points,
    user_errors,
    visibility_figure,
)

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"

GPU_CONCURRENCY = Limits.from_env().gpu_concurrency
"""Heavy jobs (concurrency_id "gpu") that may run at once; the rest wait in the queue (``STUDIO_GPU_CONCURRENCY``)."""

INTRO = """\
**1.** Upload a video, pick an example or record one with the webcam. \
**2.** Choose a frame with the slider and click on it to add query points (any frame, any number). \
**3.** Pick a model and press **Track**. Filled discs are visible points, rings are occluded ones; \
download the tracks as npz, CSV or JSON (pixels of your video, integer = pixel centre, queries `(t, x, y)`). \
Points marked in **labelme** or **COCO keypoint** files can be added with their names (*Named points from a \
file*); robot logs in **HDF5** open camera by camera (*HDF5 robot log*).
"""


@dataclass
class TrackTab:
    """The components of the Track tab that other tabs may reuse.

    Attributes:
      video: the input video (a file path).
      source_path: ``gr.State``: path of the loaded video, or None.
      queries: ``gr.State``: ``[[t, x, y], ...]`` source pixels; a row may carry a fourth
        element, the point's name (points from a labelme / COCO file).
      latest: ``gr.State``: the last result, ``{"tracks": npz path, "video": source
        path, "rendered": mp4 path, "model": name, "files": {fmt: path}}`` or None.
        A Render tab can re-draw the tracks from it.
      model: the model dropdown (value = registry name).
      track_button, rendered, files, plot, status: the Track action and its outputs.
    """

    video: gr.Video
    source_path: gr.State
    queries: gr.State
    latest: gr.State
    frame: gr.Image
    slider: gr.Slider
    model: gr.Dropdown
    track_button: gr.Button
    rendered: gr.Video
    files: gr.File
    plot: gr.Plot
    status: gr.Textbox


def video_input(elem_id: str, height: int = 320) -> gr.Video:
    """A video upload/webcam box with the bundled example clips under it."""
    video = gr.Video(label="Video", sources=["upload", "webcam"], height=height, elem_id=elem_id)
    examples = example_videos()
    if examples:
        gr.Examples(
            examples=[[p] for p in examples],
            inputs=[video],
            label="Bundled examples",
            example_labels=[Path(p).stem for p in examples],
        )
    return video


def example_videos() -> list[str]:
    """Absolute paths of the bundled example clips (``examples/*.mp4``), sorted."""
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*.mp4"))


def draw_frame(service: TrackingService, path: str, t: int, queries: list) -> np.ndarray:
    """Working frame ``t`` with the query points placed on it, coloured as in the render.

    Returns:
      uint8 [h, w, 3] RGB.
    """
    frame = service.frame(path, t)
    if not queries:
        return frame
    q, names = split_points(queries)
    on = np.nonzero(q[:, 0].astype(int) == int(t))[0]
    if on.size == 0:
        return frame
    work = service.source_to_working(path, q[on])
    # Same colours as the rendered video: point_colors over the whole query list, in order.
    colors = point_colors(len(q))[on]
    h, w = frame.shape[:2]
    radius = max(3.0, min(h, w) / 90)
    xy = work[None, :, 1:]
    shown = np.ones((1, on.size), bool)
    # A white halo first, so a point stays visible on any background colour.
    halo = np.full((on.size, 3), 255, np.uint8)
    image = draw_points(frame[None], xy, shown, tail=0, radius=radius + 1.5, colors=halo)
    image = draw_points(image, xy, shown, tail=0, radius=radius, colors=colors)[0]
    if names is not None:
        image = np.ascontiguousarray(image)
        draw_labels(image, xy[0], [names[i] for i in on], colors, radius)
    return image


def _video_facts(service: TrackingService, path: str) -> str:
    video = service.load_video(path)
    h, w = video.source_size
    text = f"**{source_label(path)}**: {video.num_frames} frames of {w}×{h} at {video.fps:g} fps"
    if video.size != (h, w):
        text += f" (shown and tracked at {video.size[1]}×{video.size[0]}; tracks are saved in {w}×{h} pixels)"
    if video.notices:
        text += "\n\n⚠️ " + "; ".join(video.notices)
    if streams_whole(path, video, service.limits.max_frames):
        from studio.online import online_names

        text += (f"\n\nLonger than {service.limits.max_frames} frames: an online model ({', '.join(online_names())}) "
                 f"tracks the whole video frame by frame (place points on the first {video.num_frames}); an "
                 f"offline one tracks the first {video.num_frames} frames.")
    return text


def build_track(service: TrackingService) -> TrackTab:
    """Build the Track tab inside the current ``gr.Blocks``/``gr.Tab`` context.

    Args:
      service: the shared ``TrackingService``.

    Returns:
      ``TrackTab`` with the components other tabs may reuse.
    """
    source_path = gr.State(None)
    queries = gr.State([])
    latest = gr.State(None)

    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            video = video_input("track-video", height=320)
            video_info = gr.Markdown("No video loaded.", elem_id="track-video-info")
            with gr.Accordion("HDF5 robot log (step_<i>/obs/image, one video per camera)", open=False):
                h5_file = gr.File(label="Robot log (.h5 / .hdf5)", file_types=[".h5", ".hdf5", ".hdf"],
                                  type="filepath", height=90, elem_id="track-h5")
                with gr.Row():
                    h5_camera = gr.Dropdown([], label="Camera", scale=2, elem_id="track-h5-camera")
                    h5_load = gr.Button("Track this camera", size="sm", scale=1, elem_id="track-h5-load")
                h5_write = gr.Button("Write the tracks into a copy of the log (obs/keypoints)", size="sm",
                                     elem_id="track-h5-write")
                h5_out = gr.File(label="Log with keypoints (each camera you track and write is filled in)",
                                 interactive=False, elem_id="track-h5-out")
                h5_copy = gr.State(None)
        with gr.Column(scale=1):
            frame = gr.Image(
                label="Click to add points on this frame",
                type="numpy",
                interactive=False,
                height=420,
                elem_id="track-frame",
                buttons=["fullscreen"],
            )
            slider = gr.Slider(0, 1, value=0, step=1, label="Frame", interactive=False, elem_id="track-slider")
            with gr.Row():
                undo = gr.Button("Undo", size="sm")
                clear_frame = gr.Button("Clear frame", size="sm")
                clear_all = gr.Button("Clear all", size="sm")
            points_md = gr.Markdown(points_summary([]), elem_id="track-points")
            with gr.Accordion("Grid of points (optionally inside a mask)", open=False):
                with gr.Row():
                    grid_size = gr.Slider(1, 30, value=8, step=1, label="Grid size N (N×N points)")
                    add_grid = gr.Button("Add grid on this frame", size="sm")
                mask = gr.Image(
                    label="Optional mask of this frame (PNG; white or opaque = inside)",
                    type="numpy",
                    image_mode=None,
                    sources=["upload"],
                    height=160,
                )
            with gr.Accordion("Named points from a file (labelme or COCO keypoints)", open=False):
                point_file = gr.File(
                    label="labelme .json (point shapes) or COCO keypoint .json",
                    file_types=[".json"],
                    type="filepath",
                    height=90,
                    elem_id="track-point-file",
                )
                with gr.Row():
                    coco_image = gr.Textbox(label="COCO: image id or file name (empty = the first)", scale=2)
                    add_file_points = gr.Button("Add these points on this frame", size="sm", scale=1,
                                                elem_id="track-point-file-add")
    with gr.Row(equal_height=True):
        choices = service.model_choices(dense=True)
        model = gr.Dropdown(
            choices=choices,
            value=service.default_model() if choices else None,
            label="Model (weight status: built-in / cached / downloadable / unavailable)",
            scale=3,
            elem_id="track-model",
        )
        tail = gr.Slider(0, 30, value=8, step=1, label="Tail length (frames)", scale=2)
        labels = gr.Checkbox(value=False, label="Label points with their names", scale=1, elem_id="track-labels")
        track_button = gr.Button("Track", variant="primary", scale=1, elem_id="track-button")
    status = gr.Textbox(label="Status", interactive=False, elem_id="track-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            rendered = gr.Video(label="Tracked video", autoplay=True, loop=True, interactive=False, elem_id="track-out")
        with gr.Column(scale=1):
            plot = gr.Plot(label="Visibility over time")
            files = gr.File(label="Download tracks (npz, CSV, JSON)", file_count="multiple", elem_id="track-files")

    # ------------------------------------------------------------------ handlers

    def load_source(path, progress=None):
        cleared = (None, None, None, "", None)
        video = service.load_video(path, progress=progress)
        for notice in video.notices:
            gr.Warning(f"{source_label(path)}: {notice}")
        last = max(video.num_frames - 1, 1)  # a slider needs maximum > minimum
        return (
            path,
            [],
            gr.update(value=0, maximum=last, interactive=video.num_frames > 1),
            service.frame(path, 0),
            _video_facts(service, path),
            points_summary([]),
            *cleared,
        )

    @user_errors
    def on_video(path, progress=gr.Progress()):
        cleared = (None, None, None, "", None)
        if not path:
            return (
                None,
                [],
                gr.update(value=0, maximum=1, interactive=False),
                None,
                "No video loaded.",
                points_summary([]),
                *cleared,
            )
        return load_source(path, progress_adapter(progress))

    @user_errors
    def on_h5_file(path):
        from studio.io.h5log import read_layout

        if not path:
            return gr.update(choices=[], value=None)
        layout = read_layout(path)
        h, w = layout.size
        gr.Info(f"{os.path.basename(path)}: {layout.num_steps} steps, {layout.cameras} camera(s) of {w}×{h}")
        return gr.update(choices=[(f"camera {c}", c) for c in range(layout.cameras)], value=0)

    @user_errors
    def on_h5_load(path, camera, progress=gr.Progress()):
        if not path:
            raise InputError("upload an HDF5 robot log first")
        if camera in (None, ""):
            raise InputError("choose a camera")
        return load_source(camera_source(path, int(camera)), progress_adapter(progress))

    @user_errors
    def on_h5_write(latest, copy):
        """Write the last tracks (made on a log camera) into this session's copy of that log."""
        from studio.io.h5log import add_keypoints
        from studio.io.sources import split_source
        from studio.io.trackfile import load_tracks

        log, kind, camera = split_source((latest or {}).get("video") or "")
        if kind != "camera":
            raise InputError("track a camera of an HDF5 log first (Track this camera, then Track)")
        # One copy per log and session: writing another camera fills it in.
        if not copy or copy.get("log") != log or not os.path.isfile(copy.get("path", "")):
            copy = {"log": log, "path": str(service.new_output_dir() / f"{Path(log).stem}_keypoints{Path(log).suffix}")}
        out, notes = add_keypoints(log, load_tracks(latest["tracks"]), int(camera), copy["path"])
        gr.Info("; ".join(notes))
        return str(out), copy

    @user_errors
    def on_point_file(path, t, points, file_path, image):
        from studio.io.named_points import named_queries

        _need_video(path)
        if not file_path:
            raise InputError("upload a labelme or COCO keypoint .json first")
        video = service.load_video(path)
        names, q, notices = named_queries(file_path, int(t), tuple(video.source_size), video.num_frames,
                                          image=(image or "").strip() or None)
        for notice in notices:
            gr.Info(notice)
        points = list(points or []) + [[int(t), round(float(x), 3), round(float(y), 3), name]
                                       for (_, x, y), name in zip(q, names)]
        if len(points) > service.limits.max_points:
            raise InputError(f"{len(points)} points is more than the {service.limits.max_points} allowed per video")
        return points, draw_frame(service, path, int(t), points), points_summary(points)

    def _need_video(path) -> None:
        if not path:
            raise InputError("load a video first (upload one, pick an example or record one)")

    @user_errors
    def on_frame(path, t, points):
        if not path:
            return None
        return draw_frame(service, path, int(t), points)

    @user_errors
    def on_click(path, t, points, evt: gr.SelectData):
        _need_video(path)
        x, y = click_to_pixel(evt.index)
        sx, sy = service.click_to_source(path, x, y)
        points = list(points or []) + [[int(t), round(sx, 3), round(sy, 3)]]  # a click: no name
        if len(points) > service.limits.max_points:
            raise InputError(f"at most {service.limits.max_points} points per video")
        return points, draw_frame(service, path, int(t), points), points_summary(points)

    @user_errors
    def on_undo(path, t, points):
        points = list(points or [])[:-1]
        image = draw_frame(service, path, int(t), points) if path else None
        return points, image, points_summary(points)

    @user_errors
    def on_clear_frame(path, t, points):
        points = [p for p in (points or []) if int(p[0]) != int(t)]
        image = draw_frame(service, path, int(t), points) if path else None
        return points, image, points_summary(points)

    @user_errors
    def on_clear_all(path, t, points):
        image = draw_frame(service, path, int(t), []) if path else None
        return [], image, points_summary([])

    @user_errors
    def on_add_grid(path, t, points, n, mask_image):
        _need_video(path)
        grid, notices = service.grid(path, int(n), int(t), mask=mask_image)
        for notice in notices:
            gr.Info(notice)
        if len(grid) == 0:
            raise InputError("no grid point fell inside the mask; use a larger grid or a larger mask")
        points = list(points or []) + [[int(t), round(float(x), 3), round(float(y), 3)] for _, x, y in grid]
        if len(points) > service.limits.max_points:
            raise InputError(f"{len(points)} points is more than the {service.limits.max_points} allowed per video")
        return points, draw_frame(service, path, int(t), points), points_summary(points)

    @user_errors
    def on_track(path, points, model_name, tail_frames, label_points=False, progress=gr.Progress()):
        _need_video(path)
        if not points:
            raise InputError("no query points: click on the frame to add points, or add a grid")
        q, names = split_points(points)
        out = service.track(
            path,
            q,
            model=model_name or None,
            tail=int(tail_frames),
            progress=progress_adapter(progress),
            names=names,
            labels=bool(label_points),
        )
        latest_value = {
            "tracks": str(out.files["npz"]),
            "video": out.source,
            "rendered": str(out.rendered),
            "model": out.result.model,
            "files": {k: str(v) for k, v in out.files.items()},
        }
        return (
            str(out.rendered),
            visibility_figure(out.result),
            [str(p) for p in out.files.values()],
            out.status(),
            latest_value,
            # A first use may have downloaded weights: show the new status in the menu.
            gr.update(choices=service.model_choices(dense=True)),
        )

    # ------------------------------------------------------------------ wiring

    ui = {"api_visibility": "undocumented"}
    point_outputs = [queries, frame, points_md]
    video.change(
        on_video,
        inputs=[video],
        outputs=[source_path, queries, slider, frame, video_info, points_md, rendered, plot, files, status, latest],
        concurrency_id="decode",
        concurrency_limit=4,
        **ui,
    )
    # Cheap handlers skip the queue: they only draw one cached frame.
    slider.change(
        on_frame, inputs=[source_path, slider, queries], outputs=[frame], queue=False, show_progress="hidden", **ui
    )
    frame.select(
        on_click,
        inputs=[source_path, slider, queries],
        outputs=point_outputs,
        queue=False,
        show_progress="hidden",
        **ui,
    )
    undo.click(on_undo, inputs=[source_path, slider, queries], outputs=point_outputs, queue=False, **ui)
    clear_frame.click(on_clear_frame, inputs=[source_path, slider, queries], outputs=point_outputs, queue=False, **ui)
    clear_all.click(on_clear_all, inputs=[source_path, slider, queries], outputs=point_outputs, queue=False, **ui)
    add_grid.click(
        on_add_grid, inputs=[source_path, slider, queries, grid_size, mask], outputs=point_outputs, queue=False, **ui
    )
    load_outputs = [source_path, queries, slider, frame, video_info, points_md, rendered, plot, files, status, latest]
    h5_file.change(on_h5_file, inputs=[h5_file], outputs=[h5_camera], queue=False, **ui)
    h5_load.click(on_h5_load, inputs=[h5_file, h5_camera], outputs=load_outputs, concurrency_id="decode",
                  concurrency_limit=4, **ui)
    h5_write.click(on_h5_write, inputs=[latest, h5_copy], outputs=[h5_out, h5_copy], concurrency_id="decode",
                   concurrency_limit=4, **ui)
    add_file_points.click(on_point_file, inputs=[source_path, slider, queries, point_file, coco_image],
                          outputs=point_outputs, queue=False, **ui)
    track_button.click(
        on_track,
        inputs=[source_path, queries, model, tail, labels],
        outputs=[rendered, plot, files, status, latest, model],
        # Progress and errors show on the status line, not as "Error" badges on every output.
        show_progress_on=[status],
        concurrency_id="gpu",
        concurrency_limit=GPU_CONCURRENCY,
        **ui,
    )
    return TrackTab(
        video=video,
        source_path=source_path,
        queries=queries,
        latest=latest,
        frame=frame,
        slider=slider,
        model=model,
        track_button=track_button,
        rendered=rendered,
        files=files,
        plot=plot,
        status=status,
    )


def build_api(service: TrackingService) -> None:
    """The headless ``/track`` endpoint (hidden components, callable with ``gradio_client``).

    Inputs: ``video`` (file), ``queries_json`` (``[[t, x, y], ...]`` source pixels),
    ``grid_size`` (> 0: an N x N grid instead of queries), ``grid_frame``, ``model``
    (registry name, empty = default), ``mask`` (optional PNG: grid only inside it),
    ``points_file`` (optional labelme / COCO keypoint JSON: named points on ``grid_frame``),
    ``labels`` (names written in the rendered video).
    Outputs: rendered MP4, tracks npz, tracks JSON, status line.
    """
    with gr.Group(visible=False):
        video = gr.File(label="video")
        queries_json = gr.Textbox(label="queries_json", value="")
        grid_size = gr.Number(label="grid_size", value=0, precision=0)
        grid_frame = gr.Number(label="grid_frame", value=0, precision=0)
        model = gr.Textbox(label="model", value="")
        mask = gr.File(label="mask")
        points_file = gr.File(label="points_file")
        labels = gr.Checkbox(label="labels", value=False)
        out_video = gr.File(label="rendered_video")
        out_npz = gr.File(label="tracks_npz")
        out_json = gr.File(label="tracks_json")
        out_status = gr.Textbox(label="status")
        trigger = gr.Button("track", visible=False)

    @user_errors
    def track(video, queries_json="", grid_size=0, grid_frame=0, model="", mask=None, points_file=None, labels=False,
              progress=gr.Progress()):
        """Track points through a video.

        Args:
            video: the video file (mp4, mov, webm, gif, ...).
            queries_json: JSON list of [t, x, y] in source-video pixels (integer = pixel centre); ignored when grid_size > 0.
            grid_size: N > 0 tracks an N x N grid on grid_frame instead of queries_json.
            grid_frame: frame index of the grid.
            model: registry name of a point tracker; empty for the default.
            mask: optional PNG mask of grid_frame; the grid keeps only points inside it.
            points_file: optional labelme or COCO keypoint .json: its named points, placed on grid_frame,
                are tracked instead of queries_json (names are saved with the tracks).
            labels: write each point's name beside it in the rendered video.

        Returns:
            rendered MP4, tracks .npz, tracks .json and a status line.
        """
        # Every argument is checked before the video is decoded.
        if not video:
            raise InputError("no video file given")
        path = str(video)
        model_name = check_track_model((model or "").strip() or service.default_model())
        n = int(grid_size or 0)
        notices: list[str] = []
        names = None
        if points_file and n <= 0:
            from studio.io.named_points import named_queries

            loaded = service.load_video(path)
            names, q, notices = named_queries(str(points_file), int(grid_frame or 0), tuple(loaded.source_size),
                                              loaded.num_frames)
        elif n > 0:
            mask_image = _read_mask(mask, service.limits) if mask else None
            q, notices = service.grid(path, n, int(grid_frame or 0), mask=mask_image)
            if len(q) == 0:
                raise InputError("no grid point fell inside the mask")
        else:
            if mask:
                raise InputError("a mask only selects the points of a grid: set grid_size > 0 to track a grid "
                                 "inside it, or send no mask with queries_json")
            q = service.parse_queries(queries_json)
        out = service.track(
            path,
            q,
            model=model_name,
            formats=("npz", "json", "csv"),
            progress=progress_adapter(progress),
            notices=notices,
            names=names,
            labels=bool(labels),
        )
        return str(out.rendered), str(out.files["npz"]), str(out.files["json"]), out.status()

    trigger.click(
        track,
        inputs=[video, queries_json, grid_size, grid_frame, model, mask, points_file, labels],
        outputs=[out_video, out_npz, out_json, out_status],
        api_name="track",
        concurrency_id="gpu",
        concurrency_limit=GPU_CONCURRENCY,
    )


def _read_mask(path, limits: Limits | None = None) -> np.ndarray:
    """A mask image file -> uint8 array ([H, W] or [H, W, C]), its size checked from its header first
    (``studio.io.guards.read_image``); InputError if it is not an image or too large."""
    return read_image(path, f"mask {os.path.basename(str(path))}", limits)


__all__ = ["TrackTab", "build_api", "build_track", "draw_frame", "example_videos", "video_input"]
