"""The Live tab: the page tracks its own camera picture with points the server computes.

The page (``live_page.js``, inside a ``gr.HTML``) owns the camera. It grabs a frame,
sends it as a JPEG to the server function ``live_frame`` (one plain POST, no queue),
and draws the frame it grabbed with the points the server returns (small JSON) on a
canvas: the picture shown and its points always belong to each other, and nothing
travels back but the points. Clicking the picture adds a point on the newest frame
(``live_click``); *Drop grid* adds an N×N grid; **Stop and save** ends the session and
offers the tracks (npz / CSV / JSON) and the recorded video; the next frame after it
starts a new session.

Why not Gradio's webcam streaming: its page encodes every frame with the synchronous
``canvas.toDataURL`` on the main thread, sends it through the queue, gets the drawn
frame back as a second JPEG and decodes it; on a 2-core machine that also runs the
server, that page work (its main thread was busy ~935 ms per second), not the server
(10-27 ms a frame), capped the frames shown (8-12 frames/s at 140-230 ms; see the
README's Live figures).

Each page load makes a random client id (``live_page.js``) and sends it with every
call; ``LiveClients`` keeps that page's ``LiveHolder`` (its running ``LiveSession``
and the model for the next one). The Gradio buttons get the id the same way (their
``js`` step puts it in a hidden textbox). Frames are never held in memory
(``LiveSession`` records them to a file as they come).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np

from studio.results import InputError
from studio.service import TrackingService
from studio.service.live_job import (
    LIVE_DEFAULT_MODEL,
    decode_frame_url,
    live_model_choices,
    open_live_session,
    parse_points_json,
    points_json,
    points_rows,
)
from studio.registry import NOT_USABLE, weight_status, where_to_get
from studio.ui.common import USER_ERRORS, message_of, user_errors

log = logging.getLogger(__name__)

JPEG_QUALITY = 0.92
"""Quality of the JPEG the page sends per frame (canvas.toBlob; Chromium's own default, ~60 kB at 640x480).
Measured with bench/bench_live.py: 0.8 sends smaller frames but doubles the tracking error against the clip's
exact motion (median 0.17 vs 0.10 px, p90 0.60 vs 0.28 px), for no clear gain in frames/s."""

MAX_IN_FLIGHT = 1
"""Frames the page may have on their way to the server at once. One: the next frame is grabbed when the last
one's points are back, so no frame waits behind another on the server. Two gave a few more frames/s at about
twice the latency (bench/bench_live.py at load ~10: 24.7 frames/s at 56 ms vs 22.0 at 32 ms); with more than
one, the server drops a frame that a newer one overtook."""

TAIL = 8
"""Frames of trail the page draws behind each point (as ``LiveSession`` draws them)."""

INTRO = (
    "**1.** Press **Start camera** (frames go to this app's server, which tracks them and records them for the "
    "download). **2.** Click on the picture to add points, or drop a grid. **3.** **Stop and save** to download the "
    "tracks (npz / CSV / JSON, pixels of the recorded video) and the recording. The line above the picture shows the "
    "frames/s shown (each with its own tracked points) and the latency from grabbing a frame to showing it tracked. "
    "`lk` needs no weights; other online models are listed with their weight status."
)

PAGE_HTML = """\
<div class="live-page">
  <div class="live-bar"><button class="live-start" type="button">Start camera</button>
    <span class="live-stats">camera off</span></div>
  <canvas class="live-view" width="640" height="480" title="click to add a point"></canvas>
  <div class="live-note"></div>
  <video class="live-src" muted playsinline></video>
</div>
"""

PAGE_CSS = """\
.live-page { display: flex; flex-direction: column; gap: 6px; }
.live-bar { display: flex; align-items: center; gap: 12px; }
.live-start { white-space: nowrap; padding: 6px 14px; border-radius: 6px;
  border: 1px solid var(--border-color-primary); background: var(--button-primary-background-fill);
  color: var(--button-primary-text-color); cursor: pointer; }
.live-stats { font-family: var(--font-mono); font-size: 0.9em; }
.live-view { width: 100%; max-width: 640px; height: auto; background: #111; cursor: crosshair; }
.live-note { min-height: 1.2em; font-size: 0.9em; }
.live-src { display: none; }
"""

CLIENT_ID = re.compile(r"[0-9A-Za-z-]{8,64}")

# The Gradio buttons' ``js`` step: the page's client id in place of the hidden textbox's value.
_WITH_CLIENT = "(...args) => [(window.__studioLive || {}).id || '', ...args.slice(1, %d)]"


def page_script(max_side: int) -> str:
    """``live_page.js`` with this app's settings filled in."""
    text = (Path(__file__).with_name("live_page.js")).read_text()
    return text % {"max_side": max_side, "quality": JPEG_QUALITY, "in_flight": MAX_IN_FLIGHT, "tail": TAIL}


class LiveHolder:
    """One page's live state: the running session and the model for the next one."""

    def __init__(self):
        self.session = None
        self.model = LIVE_DEFAULT_MODEL
        self.error = ""  # why the chosen model could not start (not retried until the model changes)
        self.note = ""  # a note about the model menu, kept on the status line
        self.saved = ""  # what Stop saved, shown while the camera goes on untracked
        self.last_seq = -1  # the newest frame number taken from the page
        self.used = 0.0  # when the page last called (LiveClients' clock)
        # Frames, clicks and buttons come in on different threads: one call at a time.
        self.lock = threading.RLock()

    def __deepcopy__(self, memo) -> "LiveHolder":
        # gr.State copies its initial value for each browser session: a fresh holder (a lock cannot be copied).
        return LiveHolder()

    def close(self) -> None:
        """Discard the running session (its partial recording is removed)."""
        if self.session is not None:
            self.session.close()
            self.session = None


def _close_holder(holder) -> None:
    if isinstance(holder, LiveHolder):
        holder.close()


class LiveClients:
    """The Live tab's ``LiveHolder`` of each page, by the client id the page sends.

    A page gone quiet for ``idle_s`` seconds is closed (its unsaved recording removed) when
    another call comes; at most ``max_clients`` pages at once (a new one is refused while
    all are busy).
    """

    def __init__(self, max_clients: int = 32, idle_s: float = 600.0, clock=time.monotonic):
        self.max_clients, self.idle_s, self.clock = int(max_clients), float(idle_s), clock
        self._holders: dict[str, LiveHolder] = {}
        self._lock = threading.Lock()

    def get(self, client) -> LiveHolder:
        """The holder of page ``client`` (made on its first call).

        Raises:
          InputError: not a client id, or too many pages at once.
        """
        if not isinstance(client, str) or not CLIENT_ID.fullmatch(client):
            raise InputError("no live page id: reload the page and press Start camera")
        now = self.clock()
        with self._lock:
            for key, box in list(self._holders.items()):
                if key != client and now - box.used > self.idle_s:
                    del self._holders[key]
                    box.close()
            box = self._holders.get(client)
            if box is None:
                if len(self._holders) >= self.max_clients:
                    raise InputError(f"the Live tab serves {self.max_clients} pages at once; try again later")
                box = self._holders[client] = LiveHolder()
            box.used = now
            return box

    def close_all(self) -> None:
        with self._lock:
            for box in self._holders.values():
                box.close()
            self._holders.clear()


def _frame_status(box: LiveHolder) -> str:
    """The status line after a frame: the session's figures and what to do next."""
    session, stats = box.session, box.session.stats
    text = f"{session.model} · " + stats.describe()
    if session.stopped:
        text = box.saved + " · click on the picture or drop a grid to start a new session"
    elif stats.frames >= session.max_frames:
        text += f" · frame limit ({session.max_frames}) reached: press Stop and save"
    elif not stats.points:
        text += " · click on the picture or drop a grid to add points"
    return text + (f" · {box.note}" if box.note else "")


def _hex(colors: np.ndarray) -> list[str]:
    return ["#%02x%02x%02x" % tuple(int(v) for v in c) for c in colors]


def build_live(service: TrackingService, clients: LiveClients | None = None) -> dict:
    """Build the Live tab inside the current ``gr.Blocks``/``gr.Tab`` context; returns its components."""
    clients = clients or LiveClients()
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
    client = gr.Textbox(visible=False, elem_id="live-client")

    # ------------------------------------------------------------------ page calls (server functions)

    def live_frame(payload) -> dict:
        """One camera frame from the page -> its points; never raises (the stream goes on).

        ``payload``: ``{"client": id, "seq": n, "image": "data:image/jpeg;base64,..."}``. Returns
        ``{"seq", "size": [H, W], "points": [[x, y, visible], ...], "colors": ["#rrggbb", ...],
        "status"}``, ``{"skipped": true}`` for a frame overtaken by a newer one, or ``{"error"}``.
        """
        try:
            if not isinstance(payload, dict):
                raise InputError("a live frame must come as {client, seq, image}")
            box = clients.get(payload.get("client"))
            seq = payload.get("seq")
            if isinstance(seq, bool) or not isinstance(seq, int):
                raise InputError("a live frame needs its number (seq)")
            frame = decode_frame_url(payload.get("image"), service.limits)
            with box.lock:
                if seq <= box.last_seq:
                    return {"seq": seq, "skipped": True}
                box.last_seq = seq
                if box.session is None and not box.error:
                    try:
                        box.session = open_live_session(service, box.model)
                    except USER_ERRORS as exc:
                        box.error = (f"{box.model} cannot start: {message_of(exc)} "
                                     "Choose another model (lk needs no weights).")
                if box.session is None:  # the picture goes on, untracked, with the reason
                    h, w = frame.shape[:2]
                    return {"seq": seq, "size": [h, w], "points": [], "colors": [], "status": box.error}
                session = box.session
                # After Stop, and past the frame limit, frames are shown untracked (as LiveSession.step does).
                tracked = not session.stopped and session.stats.frames < session.max_frames
                session.step(frame, draw=False)
                tracks, visible = session.latest()
                return {
                    "seq": seq,
                    "size": list(session.size),
                    "points": points_rows(tracks, visible, digits=2) if tracked else [],
                    "colors": _hex(session.colors) if tracked else [],
                    "status": _frame_status(box),
                }
        except USER_ERRORS as exc:
            return {"error": message_of(exc)}
        except Exception as exc:  # a bug: log it, show it, keep the stream alive
            log.exception("live frame failed")
            return {"error": f"Something went wrong ({type(exc).__name__}: {exc})"}

    def live_click(payload) -> dict:
        """A click on the page's picture: ``{"client", "x", "y"}`` pixels of the frames sent -> ``{"status"}``."""
        try:
            if not isinstance(payload, dict):
                raise InputError("a click must come as {client, x, y}")
            box = clients.get(payload.get("client"))
            x, y = payload.get("x"), payload.get("y")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y)):
                raise InputError("a click needs x and y numbers")
            with box.lock:
                n = _live_session(box).add_points([[float(x), float(y)]])
            return {"status": f"{n} point{'s' if n != 1 else ''}: the new one starts on the next frame"}
        except USER_ERRORS as exc:
            return {"error": message_of(exc)}
        except Exception as exc:
            log.exception("live click failed")
            return {"error": f"Something went wrong ({type(exc).__name__}: {exc})"}

    page = gr.HTML(
        value="",
        html_template=PAGE_HTML,
        css_template=PAGE_CSS,
        js_on_load=page_script(service.limits.live_max_side),
        server_functions=[live_frame, live_click],
        elem_id="live-page",
    )
    status = gr.Textbox(label="Live status", interactive=False, elem_id="live-status")
    with gr.Row(equal_height=False):
        files = gr.File(label="Tracks (npz, CSV, JSON)", file_count="multiple", elem_id="live-files")
        recording = gr.Video(label="Recording", interactive=False, elem_id="live-video")

    # ------------------------------------------------------------------ buttons (Gradio events)

    def _live_session(box: LiveHolder):
        """The running session, or a new one after Stop (same picture size, so points can be placed at once)."""
        if box.session is None or box.session.stopped:
            size = box.session.size if box.session is not None else None
            box.close()
            box.session = open_live_session(service, box.model)
            box.session.size = size
        return box.session

    @user_errors
    def on_live_grid(client_id, n):
        box = clients.get(client_id)
        with box.lock:
            total = _live_session(box).add_grid(int(n))
        return f"{total} points: the grid starts on the next frame"

    @user_errors
    def on_live_stop(client_id):
        box = clients.get(client_id)
        with box.lock:
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

    @user_errors
    def on_live_model(client_id, name):
        box = clients.get(client_id)
        with box.lock:
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
    grid_button.click(
        on_live_grid, inputs=[client, grid_size], outputs=[status], js=_WITH_CLIENT % 2, queue=False, **ui
    )
    stop_button.click(on_live_stop, inputs=[client], outputs=[files, recording, status], js=_WITH_CLIENT % 1, **ui)
    model.change(on_live_model, inputs=[client, model], outputs=[status], js=_WITH_CLIENT % 2, queue=False, **ui)
    return {"page": page, "status": status, "files": files, "recording": recording, "clients": clients}


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
