"""The "Live" tab: track points on the webcam stream as it comes, save the session on Stop.

The webcam box streams frames (``gr.Image(streaming=True).stream``); each frame goes to
the browser session's ``LiveSession`` (``studio.live``), which tracks, records and draws
it; the drawn frame comes back in the picture next to the camera. Clicking that
picture adds a point on the frame shown; *Drop grid* adds an N×N grid. **Stop and save**
ends the session and offers the tracks (npz / CSV / JSON) and the recorded video; the
next frame after it starts a new session.

Per browser session the state is a ``LiveHolder`` (a mutable box, so the stream and the
buttons never overwrite each other's state): the running ``LiveSession`` and the model
chosen for the next one. Frames are never held in memory (``LiveSession`` records them
to a file as they come).
"""

from __future__ import annotations

import base64
import logging

import cv2
import gradio as gr
import numpy as np
from gradio.data_classes import Base64ImageData

from studio.service import TrackingService
from studio.service.live_job import (
    LIVE_DEFAULT_MODEL,
    live_model_choices,
    open_live_session,
    parse_points_json,
    points_json,
)
from studio.registry import NOT_USABLE, weight_status, where_to_get
from studio.ui.common import USER_ERRORS, click_to_pixel, message_of, user_errors

log = logging.getLogger(__name__)

STREAM_EVERY_S = 0.055
"""The browser captures and sends a camera frame this often (18/s), whether or not the last one
has come back. Faster only queues frames a 2-core server cannot keep up with (each costs the
page a JPEG encode and the server a decode): measured with bench/bench_live.py at load ~7, 0.04 s
showed 11-12 tracked frames/s at 130-170 ms latency, 0.055 s 15-16 frames/s at 55-100 ms (the
figures swing with the machine's load; see the README)."""

TIME_LIMIT_S = 600
"""A stream ends after 10 minutes (the recording stops earlier at STUDIO_LIVE_MAX_FRAMES)."""

INTRO = """\
**1.** Press the camera button, then **Record** to start streaming (frames go to this app's server, \
which tracks them and records them for the download). **2.** Click on the tracked picture to add points, or drop a \
grid. **3.** **Stop and save** to download the tracks (npz / CSV / JSON, pixels of the recorded video) and the \
recording. `lk` needs no weights; other online models are listed with their weight status.
"""


JPEG_QUALITY = 70


def jpeg_data_url(image: np.ndarray, quality: int = JPEG_QUALITY) -> str:
    """uint8 [H, W, 3] RGB -> ``data:image/jpeg;base64,...``."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def send_inline(image: gr.Image) -> gr.Image:
    """Make the output ``image`` carry numpy frames inside the event message as JPEG data URLs.

    A plain ``gr.Image`` output saves every frame as a file in Gradio's cache and the
    browser fetches it with a second request; at 15 frames/s those fetches compete
    with tracking for the server and the browser drops pictures that a newer one
    overtook (measured with a handler that only returns the frame, at load ~8: 4 instead of
    13 frames/s shown, 270 instead of 106 ms latency). The frontend shows any ``url`` it is given, so a data URL needs no fetch
    and leaves no cache file. Only this instance's ``postprocess`` changes (a subclass
    would make Gradio write a ``.pyi`` stub next to this module and need its own
    frontend name); in the browser it is Gradio's image component, clicks included.
    """
    plain = image.postprocess

    def postprocess(value):
        if isinstance(value, np.ndarray) and value.ndim == 3 and value.shape[2] == 3 and value.dtype == np.uint8:
            return Base64ImageData(url=jpeg_data_url(value))
        return plain(value)

    image.postprocess = postprocess
    return image


class LiveHolder:
    """One browser session's live state: the running session and the model for the next one."""

    def __init__(self):
        self.session = None
        self.model = LIVE_DEFAULT_MODEL
        self.error = ""  # why the chosen model could not start (not retried until the model changes)
        self.note = ""  # a note about the model menu, kept on the status line
        self.saved = ""  # what Stop saved, shown while the camera goes on untracked

    def close(self) -> None:
        """Discard the running session (its partial recording is removed)."""
        if self.session is not None:
            self.session.close()
            self.session = None


def _close_holder(holder) -> None:
    if isinstance(holder, LiveHolder):
        holder.close()


def build_live(service: TrackingService) -> dict:
    """Build the Live tab inside the current ``gr.Blocks``/``gr.Tab`` context; returns its components."""
    holder = gr.State(LiveHolder(), delete_callback=_close_holder)
    gr.Markdown(INTRO)
    with gr.Row(equal_height=True):
        model = gr.Dropdown(
            choices=live_model_choices(),
            value=LIVE_DEFAULT_MODEL,
            label="Online model (weight status)",
            scale=3,
            elem_id="live-model",
        )
        grid_size = gr.Slider(1, 32, value=8, step=1, label="Grid size N (N×N points)", scale=2, elem_id="live-grid-size")
        grid_button = gr.Button("Drop grid", scale=1, elem_id="live-grid")
        stop_button = gr.Button("Stop and save", variant="primary", scale=1, elem_id="live-stop")
    with gr.Row(equal_height=False):
        camera = gr.Image(
            label="Camera",
            sources=["webcam"],
            streaming=True,
            type="numpy",
            height=360,
            # Not mirrored: the tracked picture, the clicks and the recording all show the camera's own view.
            webcam_options=gr.WebcamOptions(mirror=False),
            elem_id="live-camera",
        )
        tracked = send_inline(
            gr.Image(
                label="Tracked (click to add a point)",
                type="numpy",
                interactive=False,
                height=360,
                elem_id="live-out",
            )
        )
    status = gr.Textbox(label="Live status", interactive=False, elem_id="live-status")
    with gr.Row(equal_height=False):
        files = gr.File(label="Tracks (npz, CSV, JSON)", file_count="multiple", elem_id="live-files")
        recording = gr.Video(label="Recording", interactive=False, elem_id="live-video")

    # ------------------------------------------------------------------ handlers

    def on_live_frame(frame, box: LiveHolder):
        """One camera frame in, the tracked frame and the status out; never raises (the stream goes on)."""
        if frame is None:
            return gr.update(), gr.update()
        try:
            if box.session is None:
                if box.error:
                    return frame, box.error  # the chosen model cannot start; another choice clears this
                box.session = open_live_session(service, box.model)
            image = box.session.step(frame)
            stats = box.session.stats
            text = f"{box.session.model} · " + stats.describe()
            if box.session.stopped:
                text = box.saved + " · click on the picture or drop a grid to start a new session"
            elif stats.frames >= box.session.max_frames:
                text += f" · frame limit ({box.session.max_frames}) reached: press Stop and save"
            elif not stats.points:
                text += " · click on the picture or drop a grid to add points"
            return image, text + (f" · {box.note}" if box.note else "")
        except USER_ERRORS as exc:
            box.error = f"{box.model} cannot start: {message_of(exc)} Choose another model (lk needs no weights)."
            return frame, box.error
        except Exception as exc:  # a bug: log it, show it, keep the stream alive
            log.exception("live frame failed")
            box.error = f"Something went wrong ({type(exc).__name__}: {exc})"
            return frame, box.error

    def _live_session(box: LiveHolder):
        """The running session, or a new one after Stop (same picture size, so points can be placed at once)."""
        if box.session is None or box.session.stopped:
            size = box.session.size if box.session is not None else None
            box.close()
            box.session = open_live_session(service, box.model)
            box.session.size = size
        return box.session

    @user_errors
    def on_live_click(box: LiveHolder, evt: gr.SelectData):
        x, y = click_to_pixel(evt.index)
        n = _live_session(box).add_points([[x, y]])
        return f"{n} point{'s' if n != 1 else ''}: the new one starts on the next frame"

    @user_errors
    def on_live_grid(box: LiveHolder, n):
        total = _live_session(box).add_grid(int(n))
        return f"{total} points: the grid starts on the next frame"

    @user_errors
    def on_live_stop(box: LiveHolder):
        session = box.session
        if session is None:
            return None, None, "nothing to save: no live session yet"
        box.note = ""
        outcome = session.stop()
        paths = [str(p) for p in outcome.files.values()]
        text = f"saved {session.model} · " + outcome.stats.describe()
        if not paths:
            text += " · no points were added, so only the recording is saved"
        box.saved = text
        return paths or None, str(outcome.video) if outcome.video else None, text

    def on_live_model(box: LiveHolder, name):
        box.model = name or LIVE_DEFAULT_MODEL
        box.error = ""
        running = box.session is not None and not box.session.stopped
        if running and not box.session.num_points:
            box.close()  # nothing tracked yet: switch at once
            running = False
        box.note = f"{box.model} from the next session (Stop and save first)" if running else ""
        if weight_status(box.model) in NOT_USABLE:
            box.note = (box.note + " · " if box.note else "") + f"{box.model} has no weights here: {where_to_get(box.model)}"
        return box.note or f"switched to {box.model}"

    ui = {"api_visibility": "undocumented"}
    camera.stream(
        on_live_frame,
        inputs=[camera, holder],
        outputs=[tracked, status],
        stream_every=STREAM_EVERY_S,
        time_limit=TIME_LIMIT_S,
        concurrency_limit=None,  # each browser streams its own session; heavy models still share the device
        show_progress="hidden",
        **ui,
    )
    tracked.select(on_live_click, inputs=[holder], outputs=[status], queue=False, show_progress="hidden", **ui)
    grid_button.click(on_live_grid, inputs=[holder, grid_size], outputs=[status], queue=False, **ui)
    stop_button.click(on_live_stop, inputs=[holder], outputs=[files, recording, status], **ui)
    model.change(on_live_model, inputs=[holder, model], outputs=[status], queue=False, **ui)
    return {"camera": camera, "tracked": tracked, "status": status, "files": files, "recording": recording}


def build_api(service: TrackingService) -> None:
    """Headless live tracking: ``/live_frame`` per camera frame, ``/live_stop`` to save (``gradio_client``).

    A ``gradio_client.Client`` keeps one session (its own ``LiveHolder``) across calls::

        client.predict(handle_file("f0.png"), "[[120, 80]]", 0, "lk", api_name="/live_frame")
        image, points, status = client.predict(handle_file("f1.png"), "", 0, "lk", api_name="/live_frame")
        npz, json_file, csv, video, status = client.predict(api_name="/live_stop")

    ``/live_frame`` tracks the frame, then adds ``points_json`` (``[[x, y], ...]``) and/or an
    N×N grid on it (they are tracked from the next frame on); it returns the frame drawn,
    ``[[x, y, visible], ...]`` of every point on this frame, and the status line. ``model``
    is used when a session starts (the first frame, or the first after ``/live_stop``).
    """
    holder = gr.State(LiveHolder(), delete_callback=_close_holder)
    with gr.Group(visible=False):
        frame = gr.Image(label="frame", type="numpy")
        new_points = gr.Textbox(label="points_json", value="")
        grid = gr.Number(label="grid_size", value=0, precision=0)
        model = gr.Textbox(label="model", value=LIVE_DEFAULT_MODEL)
        drawn = gr.Image(label="tracked_frame", type="numpy", format="jpeg")
        positions = gr.Textbox(label="points")
        status = gr.Textbox(label="status")
        out_npz = gr.File(label="tracks_npz")
        out_json = gr.File(label="tracks_json")
        out_csv = gr.File(label="tracks_csv")
        out_video = gr.File(label="recording")
        frame_button = gr.Button("live_frame", visible=False)
        stop_button = gr.Button("live_stop", visible=False)

    @user_errors
    def live_frame(frame, points_json_text="", grid_size=0, model=LIVE_DEFAULT_MODEL, box: LiveHolder = None):
        """Track one live frame; then add points on it.

        Args:
            frame: the camera frame (image file).
            points_json_text: JSON [[x, y], ...] in this frame's pixels, tracked from the next frame on.
            grid_size: N > 0 adds an N x N grid on this frame.
            model: online model for a new session (empty = lk).

        Returns:
            the frame with the points drawn, JSON [[x, y, visible], ...] of every point on it, a status line.
        """
        if frame is None:
            raise InputError("no frame given")
        add = parse_points_json(points_json_text, service.limits.live_max_points)
        if box.session is None or box.session.stopped:
            box.close()
            box.session = open_live_session(service, (model or "").strip() or LIVE_DEFAULT_MODEL)
        session = box.session
        image = session.step(frame)
        tracks, visible = session.latest()
        if len(add):
            session.add_points(add)
        if int(grid_size or 0) > 0:
            session.add_grid(int(grid_size))
        return image, points_json(tracks, visible), f"{session.model} · " + session.stats.describe()

    @user_errors
    def live_stop(box: LiveHolder = None):
        """End the live session and save it.

        Returns:
            tracks .npz, .json and .csv (None without points), the recording (MP4), a status line.
        """
        if box.session is None:
            raise InputError("no live session: send a frame to /live_frame first")
        outcome = box.session.stop()
        files = [str(outcome.files[f]) if f in outcome.files else None for f in ("npz", "json", "csv")]
        video = str(outcome.video) if outcome.video else None
        return (*files, video, f"saved {box.session.model} · " + outcome.stats.describe())

    frame_button.click(
        live_frame,
        inputs=[frame, new_points, grid, model, holder],
        outputs=[drawn, positions, status],
        api_name="live_frame",
        concurrency_limit=None,
    )
    stop_button.click(
        live_stop, inputs=[holder], outputs=[out_npz, out_json, out_csv, out_video, status], api_name="live_stop"
    )
