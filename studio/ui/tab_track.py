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
from studio.io.sources import camera_source
from studio.limits import Limits
from studio.render.markers import draw_markers
from studio.render.points import point_colors
from studio.results import InputError
from studio.service import TrackingService
from studio.service.track_job import check_track_model, streams_whole
from studio.ui import points as plist
from studio.ui.common import (
    LAST_WINS,
    click_to_pixel,
    model_note,
    progress_adapter,
    user_errors,
    video_facts,
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
The point list under the frame shows every point; select a row to move the point with a click or delete it, \
edit a cell to name or place it exactly. \
Tick **Check reliability** to learn which tracks to trust without ground truth: every position is tracked back \
to its query frame (about one more pass), then colour points by reliability (red = unreliable) or hide the \
unreliable ones. Points marked in **labelme** or **COCO keypoint** files can be added with their names (*Named \
points from a file*); robot logs in **HDF5** open camera by camera (*HDF5 robot log*).
"""


@dataclass
class TrackTab:
    """The components of the Track tab that other tabs may reuse.

    Attributes:
      video: the input video (a file path).
      source_path: ``gr.State``: path of the loaded video, or None.
      queries: ``gr.State``: the point list, ``[[t, x, y(, name)], ...]`` source pixels (``studio.ui.points``);
        names are typed in the list or come with points from a labelme / COCO file.
      latest: ``gr.State``: the last result, ``{"tracks": npz path, "video": source
        path, "rendered": mp4 path, "model": name, "files": {fmt: path}}`` or None.
        A Render tab can re-draw the tracks from it.
      model: the model dropdown (value = registry name).
      track_button, rendered, files, plot, status: the Track action and its outputs.
      reliability: the "Check reliability" checkbox.
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
    reliability: gr.Checkbox | None = None


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


def draw_frame(service: TrackingService, path: str, t: int, points: list, selected: int | None = None) -> np.ndarray:
    """Working frame ``t`` with the query points on it: coloured as in the render, numbered (or named) as in
    the point list, the selected point ringed; markers sized to stay readable on screen
    (``studio.render.markers``).

    Args:
      points: the point list (``studio.ui.points``), source pixels.
      selected: index of the selected point, or None.

    Returns:
      uint8 [h, w, 3] RGB.
    """
    frame = service.frame(path, t)
    if not points:
        return frame
    q = plist.queries(points)
    on = np.nonzero(q[:, 0].astype(int) == int(t))[0]
    if on.size == 0:
        return frame
    work = service.source_to_working(path, q[on])
    # Same colours as the rendered video: point_colors over the whole query list, in order.
    colors = point_colors(len(q))[on]
    labels = [plist.label_of(points, int(i)) for i in on]
    where = np.nonzero(on == selected)[0] if selected is not None else []
    return draw_markers(frame, work[:, 1:], colors, labels, highlight=int(where[0]) if len(where) else None)


def track_video_facts(service: TrackingService, path: str) -> str:
    """``video_facts`` (a quiet line for decode notices), plus what happens to a video over the frame cap:
    an online model streams all of it, an offline one tracks the first frames."""
    text = video_facts(service, path)
    video = service.load_video(path)
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
    selected = gr.State(None)
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
            points_md = gr.Markdown(plist.summary([]), elem_id="track-points")
            point_table = gr.Dataframe(
                value=[],
                headers=plist.TABLE_HEADERS,
                datatype=["number", "str", "number", "number", "number"],
                type="array",
                interactive=True,
                static_columns=[0],
                column_widths=["12%", "34%", "16%", "19%", "19%"],
                max_height=220,
                label="Points (select a row to move or delete that point; edit a cell to name or place it)",
                elem_id="track-point-list",
            )
            with gr.Row():
                delete_point = gr.Button("Delete point", size="sm", interactive=False, elem_id="track-delete")
                deselect = gr.Button("Deselect", size="sm", interactive=False, elem_id="track-deselect")
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
            label="Model (weight status: built-in / cached / downloadable; unusable ones last, greyed out)",
            scale=3,
            elem_id="track-model",
        )
        tail = gr.Slider(0, 30, value=8, step=1, label="Tail length (frames)", scale=2)
        labels = gr.Checkbox(value=False, label="Label points with their names", scale=1, elem_id="track-labels")
        reliability = gr.Checkbox(
            value=False, label="Check reliability (about one more pass)", scale=1, elem_id="track-reliability",
            info="tracks every position back to its query frame",
        )
        track_button = gr.Button("Track", variant="primary", scale=1, elem_id="track-button")
    note = gr.Markdown("", elem_id="track-model-note")
    status = gr.Textbox(label="Status", interactive=False, elem_id="track-status")
    with gr.Row(equal_height=True):
        color_by = gr.Radio(
            [("one colour per point", "query"), ("by reliability (red = unreliable)", "reliability")],
            value="query", label="Colour points", elem_id="track-color-by", scale=2,
        )
        hide_below = gr.Slider(
            0, 1, value=0, step=0.05, label="Hide positions with reliability below", elem_id="track-hide-below",
            scale=2,
        )
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            rendered = gr.Video(label="Tracked video", autoplay=True, loop=True, interactive=False, elem_id="track-out")
        with gr.Column(scale=1):
            plot = gr.Plot(label="Visibility over time", elem_id="track-plot")
            files = gr.File(label="Download tracks (npz, CSV, JSON)", file_count="multiple", elem_id="track-files")

    # ------------------------------------------------------------------ handlers

    def point_view(path, t, points, chosen=None):
        """What every point edit returns: the list, the frame, the summary, the table, the selection and
        the selection buttons' state."""
        if chosen is not None and not 0 <= chosen < len(points):
            chosen = None
        image = draw_frame(service, path, int(t), points, chosen) if path else None
        buttons = gr.update(interactive=chosen is not None)
        return points, image, plist.summary(points, chosen), plist.table(points), chosen, buttons, buttons

    def load_source(path, progress=None):
        """A video file or a log camera, loaded: its first frame, an empty point list and no old result."""
        cleared = (None, None, None, "", None)
        video = service.load_video(path, progress=progress)
        last = max(video.num_frames - 1, 1)  # a slider needs maximum > minimum
        return (
            path,
            [],
            gr.update(value=0, maximum=last, interactive=video.num_frames > 1),
            service.frame(path, 0),
            track_video_facts(service, path),  # the decode notices too, as a quiet line
            plist.summary([]),
            [],
            None,
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
                plist.summary([]),
                [],
                None,
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
        points = list(points or []) + [plist.make_point(int(t), x, y, name) for (_, x, y), name in zip(q, names)]
        if len(points) > service.limits.max_points:
            raise InputError(f"{len(points)} points is more than the {service.limits.max_points} allowed per video")
        return point_view(path, t, points, None)

    def _need_video(path) -> None:
        if not path:
            raise InputError("load a video first (upload one, pick an example or record one)")

    @user_errors
    def on_frame(path, t, points, chosen):
        if not path:
            return None
        return draw_frame(service, path, int(t), points, chosen)

    @user_errors
    def on_click(path, t, points, chosen, evt: gr.SelectData):
        """A click adds a point on this frame, or, while a point is selected, moves that point here."""
        _need_video(path)
        x, y = click_to_pixel(evt.index)
        sx, sy = service.click_to_source(path, x, y)
        points = list(points or [])
        if chosen is not None and 0 <= chosen < len(points):
            points[chosen] = plist.make_point(int(t), sx, sy, plist.name_of(points[chosen]))
            return point_view(path, t, points, None)
        points.append(plist.make_point(int(t), sx, sy))
        if len(points) > service.limits.max_points:
            raise InputError(f"at most {service.limits.max_points} points per video")
        return point_view(path, t, points, None)

    @user_errors
    def on_select_row(path, t, points, evt: gr.SelectData):
        """Selecting a row of the point list selects that point and shows its frame."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        points = list(points or [])
        if not path or row is None or not 0 <= int(row) < len(points):
            return (None, gr.update(), gr.update(), plist.summary(points), gr.update(interactive=False),
                    gr.update(interactive=False))
        chosen = int(row)
        t_point = int(points[chosen][0])
        on = gr.update(interactive=True)
        return (chosen, gr.update(value=t_point), draw_frame(service, path, t_point, points, chosen),
                plist.summary(points, chosen), on, on)

    @user_errors
    def on_table_edit(path, t, points, chosen, rows):
        """Cells edited in the point list: names, frames and coordinates taken over, after checking them."""
        points = list(points or [])
        if not path:
            return point_view(path, t, [], None)
        video = service.load_video(path)
        try:
            edited = plist.from_table(rows, points, video.num_frames, video.source_size)
        except InputError as exc:
            gr.Warning(f"{exc}; the list is back as it was")
            return point_view(path, t, points, chosen)
        return point_view(path, t, edited, chosen if chosen is not None and chosen < len(edited) else None)

    @user_errors
    def on_delete(path, t, points, chosen):
        points = list(points or [])
        if chosen is None or not 0 <= chosen < len(points):
            raise InputError("select a point in the list first (click its row)")
        del points[chosen]
        return point_view(path, t, points, None)

    @user_errors
    def on_deselect(path, t, points):
        return point_view(path, t, list(points or []), None)

    @user_errors
    def on_undo(path, t, points):
        return point_view(path, t, list(points or [])[:-1], None)

    @user_errors
    def on_clear_frame(path, t, points):
        return point_view(path, t, [p for p in (points or []) if int(p[0]) != int(t)], None)

    @user_errors
    def on_clear_all(path, t, points):
        return point_view(path, t, [], None)

    @user_errors
    def on_add_grid(path, t, points, n, mask_image):
        _need_video(path)
        grid, notices = service.grid(path, int(n), int(t), mask=mask_image)
        for notice in notices:
            gr.Info(notice)
        if len(grid) == 0:
            raise InputError("no grid point fell inside the mask; use a larger grid or a larger mask")
        points = list(points or []) + [plist.make_point(int(t), x, y) for _, x, y in grid]
        if len(points) > service.limits.max_points:
            raise InputError(f"{len(points)} points is more than the {service.limits.max_points} allowed per video")
        return point_view(path, t, points, None)

    @user_errors
    def on_note(path, points, model_name):
        """The model note (unavailable here and why, a first download, the estimated time) and the Track
        button: disabled when the model cannot run here."""
        workload = service.workload(path, plist.queries(points)) if path else None
        text, runnable = model_note(service, model_name, workload)
        return text, gr.update(interactive=runnable)

    def clear_result(model_name):
        """Before a run: no old result stays next to the new run's progress or error."""
        return None, None, None, f"tracking with {model_name or 'the default model'}…"

    @user_errors
    def on_track(path, points, model_name, tail_frames, label_points=False, check=False, colour="query", cutoff=0.0,
                 progress=gr.Progress()):
        _need_video(path)
        if not points:
            raise InputError("no query points: click on the frame to add points, or add a grid")
        q, names = plist.queries(points), plist.names(points)
        out = service.track(
            path,
            q,
            model=model_name or None,
            tail=int(tail_frames),
            progress=progress_adapter(progress),
            names=names,
            labels=bool(label_points),
            reliability=bool(check),
            color_by=colour or "query",
            hide_below=float(cutoff or 0),
        )
        latest_value = {
            "tracks": str(out.files["npz"]),
            "video": out.source,
            "rendered": str(out.rendered),
            "model": out.result.model,
            "files": {k: str(v) for k, v in out.files.items()},
            "reliability": out.result.reliability is not None,
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

    @user_errors
    def on_redraw(latest_value, tail_frames, colour, cutoff, label_points=False):
        if not latest_value:
            return gr.update(), gr.update()  # nothing tracked yet: the choice applies to the next Track
        wants = colour == "reliability" or float(cutoff or 0) > 0
        if wants and not latest_value.get("reliability"):
            raise InputError("these tracks were made without the reliability check: tick Check reliability and "
                             "press Track again")
        video = service.redraw_track(
            latest_value["video"], latest_value["tracks"], int(tail_frames), colour or "query", float(cutoff or 0),
            labels=bool(label_points),
        )
        latest_value = {**latest_value, "rendered": str(video)}
        return str(video), latest_value

    # ------------------------------------------------------------------ wiring

    ui = {"api_visibility": "undocumented"}
    point_outputs = [queries, frame, points_md, point_table, selected, delete_point, deselect]
    load_outputs = [source_path, queries, slider, frame, video_info, points_md, point_table, selected,
                    rendered, plot, files, status, latest]
    video.change(
        on_video,
        inputs=[video],
        outputs=load_outputs,
        concurrency_id="decode",
        concurrency_limit=4,
        **ui,
    )
    # Cheap handlers skip the queue: they only draw one cached frame.
    slider.change(
        on_frame, inputs=[source_path, slider, queries, selected], outputs=[frame], queue=False,
        show_progress="hidden", **LAST_WINS, **ui,
    )
    frame.select(
        on_click,
        inputs=[source_path, slider, queries, selected],
        outputs=point_outputs,
        queue=False,
        show_progress="hidden",
        **ui,
    )
    point_table.select(
        on_select_row, inputs=[source_path, slider, queries],
        outputs=[selected, slider, frame, points_md, delete_point, deselect], queue=False, **ui,
    )
    point_table.input(
        on_table_edit, inputs=[source_path, slider, queries, selected, point_table], outputs=point_outputs,
        queue=False, **LAST_WINS, **ui,
    )
    delete_point.click(on_delete, inputs=[source_path, slider, queries, selected], outputs=point_outputs,
                       queue=False, **ui)
    deselect.click(on_deselect, inputs=[source_path, slider, queries], outputs=point_outputs, queue=False, **ui)
    undo.click(on_undo, inputs=[source_path, slider, queries], outputs=point_outputs, queue=False, **ui)
    clear_frame.click(on_clear_frame, inputs=[source_path, slider, queries], outputs=point_outputs, queue=False, **ui)
    clear_all.click(on_clear_all, inputs=[source_path, slider, queries], outputs=point_outputs, queue=False, **ui)
    add_grid.click(
        on_add_grid, inputs=[source_path, slider, queries, grid_size, mask], outputs=point_outputs, queue=False, **ui
    )
    # The note follows the model, the video and the points: before Track, say what it will cost.
    for trigger in (model, source_path, queries):
        trigger.change(on_note, inputs=[source_path, queries, model], outputs=[note, track_button], queue=False,
                       show_progress="hidden", **LAST_WINS, **ui)
    for event in (color_by.change, hide_below.release):  # release: one redraw per drag, not one per step
        event(
            on_redraw,
            inputs=[latest, tail, color_by, hide_below, labels],
            outputs=[rendered, latest],
            show_progress_on=[status],
            concurrency_id="render",
            concurrency_limit=2,
            **LAST_WINS,
            **ui,
        )
    h5_file.change(on_h5_file, inputs=[h5_file], outputs=[h5_camera], queue=False, **ui)
    h5_load.click(on_h5_load, inputs=[h5_file, h5_camera], outputs=load_outputs, concurrency_id="decode",
                  concurrency_limit=4, **ui)
    h5_write.click(on_h5_write, inputs=[latest, h5_copy], outputs=[h5_out, h5_copy], concurrency_id="decode",
                   concurrency_limit=4, **ui)
    add_file_points.click(on_point_file, inputs=[source_path, slider, queries, point_file, coco_image],
                          outputs=point_outputs, queue=False, **ui)
    track_button.click(
        clear_result, inputs=[model], outputs=[rendered, plot, files, status], queue=False, show_progress="hidden",
        **ui,
    ).then(
        on_track,
        inputs=[source_path, queries, model, tail, labels, reliability, color_by, hide_below],
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
        reliability=reliability,
    )


def build_api(service: TrackingService) -> None:
    """The headless ``/track`` endpoint (hidden components, callable with ``gradio_client``).

    Inputs: ``video`` (file), ``queries_json`` (``[[t, x, y], ...]`` source pixels),
    ``grid_size`` (> 0: an N x N grid instead of queries), ``grid_frame``, ``model``
    (registry name, empty = default), ``mask`` (optional PNG: grid only inside it),
    ``points_file`` (optional labelme / COCO keypoint JSON: named points on ``grid_frame``),
    ``labels`` (names written in the rendered video), ``reliability`` (check every position;
    the rendering is then coloured by reliability).
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
        check = gr.Checkbox(label="reliability", value=False)
        out_video = gr.File(label="rendered_video")
        out_npz = gr.File(label="tracks_npz")
        out_json = gr.File(label="tracks_json")
        out_status = gr.Textbox(label="status")
        trigger = gr.Button("track", visible=False)

    @user_errors
    def track(video, queries_json="", grid_size=0, grid_frame=0, model="", mask=None, points_file=None, labels=False,
              reliability=False, progress=gr.Progress()):
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
            reliability: also check every position by tracking it back to its query frame; the files then
                carry reliability [T, N] in [0, 1] and cycle_error (px), and the status says which tracks
                become unreliable (costs about one more pass).

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
            reliability=bool(reliability),
            color_by="reliability" if reliability else "query",
            notices=notices,
            names=names,
            labels=bool(labels),
        )
        return str(out.rendered), str(out.files["npz"]), str(out.files["json"]), out.status()

    trigger.click(
        track,
        inputs=[video, queries_json, grid_size, grid_frame, model, mask, points_file, labels, check],
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
