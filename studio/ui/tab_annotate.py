"""The "Annotate" tab: make ground truth by hand, with a tracker proposing between keyframes.

Add points (optionally named), choose one and click on the frame to place it there
(a keyframe: visible, at that position); mark frames where it is hidden. Between
keyframes the chosen tracker proposes positions (``interpolate`` = straight lines);
correcting a frame places a new keyframe and re-tracks from it, changing only the
frames up to the neighbouring keyframes. Save writes a TAP-Vid dataset file (the
DAVIS-style ``.pkl`` and the pickle-free ``.npz``) that the Benchmark tab and
``python -m studio bench`` score; uploading it again continues the work.

The annotation (``studio.annotate.Annotation``) is kept in the browser session; the
compute is ``studio.service.annotate_job``. The status line ends every action with a
sentence that says what was done (the browser test waits on it).

The headless twin is ``build_api``: ``/annotate`` takes a video and keyframes as JSON
and returns the dataset files.
"""

from __future__ import annotations

import json
import os

import gradio as gr

from studio.annotate import INTERPOLATE, Annotation
from studio.annotate.draw import timeline_figure
from studio.io.sources import source_label
from studio.results import InputError
from studio.service import TrackingService
from studio.service import annotate_job as job
from studio.ui.common import click_to_pixel, progress_adapter, user_errors
from studio.ui.tab_track import GPU_CONCURRENCY, video_input

INTRO = """\
Make **ground truth** for your own clip. **1.** Load a video (or continue a saved annotation). \
**2.** Add points (a name is optional; COCO keypoint names such as `left_wrist` give pose metrics). \
**3.** Choose a point and click on the frame to place it: that frame becomes a *keyframe*. Between keyframes \
the chosen tracker proposes positions; move to a frame where the proposal is wrong and click again to correct \
it (it re-tracks from there). Mark frames where the point is hidden. **4.** Save: you get a TAP-Vid dataset \
file (`.pkl` DAVIS-style and pickle-free `.npz`) that the Benchmark tab and `python -m studio bench` score \
directly, and that you can upload here again to continue.
"""


def model_choices(service: TrackingService) -> list[tuple[str, str]]:
    """``interpolate`` first, then the point trackers and dense models with their weight status."""
    return [("interpolate (no tracker: straight lines between keyframes)", INTERPOLATE)] + service.model_choices(
        dense=True
    )


def point_choices(ann: Annotation | None) -> list[tuple[str, int]]:
    return [(f"{i}: {name}", i) for i, name in enumerate(ann.names)] if ann else []


def _summary(ann: Annotation | None) -> str:
    if ann is None:
        return "No video loaded."
    if not ann.points:
        return "No points yet: add one (a name is optional), then click on the frame to place it."
    return "\n".join(f"- {line}" for line in ann.summary())


def _need(source, ann) -> None:
    if not source or ann is None:
        raise InputError("load a video first (or upload a saved annotation to continue it)")


def _current(ann: Annotation, current) -> int:
    if current is None or current == "":
        raise InputError("add a point first (or choose one in the list)")
    index = int(current)
    if not 0 <= index < len(ann.points):
        raise InputError(f"there is no point {index}; choose one in the list")
    return index


def build_annotate(service: TrackingService) -> dict:
    """Build the Annotate tab inside the current ``gr.Tab``; returns its components and handlers."""
    source = gr.State(None)
    state = gr.State(None)
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            video = video_input("annotate-video", height=280)
            resume = gr.File(label="…or continue a saved annotation (.pkl / .npz)", file_types=[".pkl", ".npz"],
                             type="filepath", elem_id="annotate-resume", height=90)
            info = gr.Markdown("No video loaded.", elem_id="annotate-info")
            with gr.Row():
                name = gr.Textbox(label="New point's name (optional)", placeholder="e.g. left_wrist", scale=3,
                                  elem_id="annotate-name")
                add = gr.Button("Add point", size="sm", scale=1, elem_id="annotate-add")
            current = gr.Dropdown([], label="Point to place (click on the frame)", elem_id="annotate-point")
            with gr.Row():
                hide = gr.Button("Hidden on this frame", size="sm", elem_id="annotate-hide")
                clear = gr.Button("Remove the mark on this frame", size="sm", elem_id="annotate-clear")
            with gr.Row(equal_height=True):
                through = gr.Number(value=None, precision=0, label="Last hidden frame", minimum=0, scale=1,
                                    elem_id="annotate-through")
                hide_range = gr.Button("Hidden from this frame through the last", size="sm", scale=2,
                                       elem_id="annotate-hide-range")
            delete = gr.Button("Delete point", size="sm", variant="stop", elem_id="annotate-delete")
            choices = model_choices(service)
            model = gr.Dropdown(choices, value="lk" if any(v == "lk" for _, v in choices) else INTERPOLATE,
                                label="Proposals between keyframes", elem_id="annotate-model")
            retrack = gr.Button("Propose again with this tracker (all points)", size="sm", elem_id="annotate-retrack")
        with gr.Column(scale=2):
            frame = gr.Image(label="Click to place the chosen point on this frame", type="numpy", interactive=False,
                             height=460, elem_id="annotate-frame", buttons=["fullscreen"])
            slider = gr.Slider(0, 1, value=0, step=1, label="Frame", interactive=False, elem_id="annotate-slider")
            status = gr.Textbox(label="Status", interactive=False, lines=2, elem_id="annotate-status")
    points_md = gr.Markdown(_summary(None), elem_id="annotate-points")
    timeline = gr.Plot(label="Timeline", elem_id="annotate-timeline")
    with gr.Row(equal_height=True):
        dataset_name = gr.Textbox(label="Video name in the dataset (default: the file's name)", scale=3,
                                  elem_id="annotate-dataset-name")
        save = gr.Button("Save dataset", variant="primary", scale=1, elem_id="annotate-save")
    files = gr.File(label="Ground truth (.pkl DAVIS-style, .npz pickle-free)", file_count="multiple",
                    interactive=False, elem_id="annotate-files")

    # ------------------------------------------------------------------ handlers

    def view(src, ann, t, cur, message):
        """Everything that changes after an edit: state, frame, point list, summary, timeline, status."""
        t = int(t or 0)
        cur_index = None if cur in (None, "") else int(cur)
        image = job.frame_image(service, src, ann, t, cur_index)
        fig = timeline_figure(ann.visible, ann.keyframe_codes(), ann.names, t) if ann.points else None
        return (ann, image, gr.update(choices=point_choices(ann), value=cur_index), _summary(ann), fig, message)

    edit_outputs = [state, frame, current, points_md, timeline, status]

    def loaded(src, ann, notices, what):
        video_obj = service.load_video(src)
        h, w = video_obj.source_size
        text = f"**{source_label(src)}**: {video_obj.num_frames} frames of {w}×{h}"
        if video_obj.size != (h, w):
            text += f" (shown at {video_obj.size[1]}×{video_obj.size[0]}; positions are kept in {w}×{h} pixels)"
        if notices:
            text += "\n\n⚠️ " + "; ".join(notices)
        last = max(video_obj.num_frames - 1, 1)
        first = 0 if ann.points else None
        return (src, *view(src, ann, 0, first, what), gr.update(value=0, maximum=last,
                interactive=video_obj.num_frames > 1), text)

    load_outputs = [source, *edit_outputs, slider, info]

    @user_errors
    def annotate_video(path, model_name, progress=gr.Progress()):  # noqa: B008
        if not path:
            return (None, None, None, gr.update(choices=[], value=None), _summary(None), None, "",
                    gr.update(value=0, maximum=1, interactive=False), "No video loaded.")
        service.load_video(path, progress=progress_adapter(progress))
        ann = job.start(service, path, model_name)
        return loaded(path, ann, list(service.load_video(path).notices),
                      f"loaded {os.path.basename(path)}: add a point, then click on the frame to place it")

    @user_errors
    def annotate_resume(path, model_name, progress=gr.Progress()):  # noqa: B008
        if not path:
            return tuple(gr.update() for _ in load_outputs)
        src, ann, notices = job.open_annotation(service, path, model=model_name, progress=progress_adapter(progress))
        return loaded(src, ann, notices, f"continuing {source_label(src)}: {len(ann.points)} points")

    @user_errors
    def annotate_add(src, ann, t, point_name):
        _need(src, ann)
        index = ann.add_point(point_name or "")
        return (*view(src, ann, t, index, f"added {ann.names[index]} (point {index}): click on the frame to place it"),
                "")

    @user_errors
    def annotate_click(src, ann, t, cur, evt: gr.SelectData):
        _need(src, ann)
        index = _current(ann, cur)
        x, y = click_to_pixel(evt.index)
        edit = job.place(service, src, ann, index, int(t), x, y)
        return view(src, ann, t, index, edit.message)

    @user_errors
    def annotate_hide(src, ann, t, cur, last=None):
        _need(src, ann)
        index = _current(ann, cur)
        edit = job.hide(service, src, ann, index, int(t), None if last is None else int(last))
        return view(src, ann, t, index, edit.message)

    @user_errors
    def annotate_hide_range(src, ann, t, cur, last):
        if last in (None, ""):
            raise InputError("enter the last hidden frame first")
        return annotate_hide(src, ann, t, cur, int(last))

    @user_errors
    def annotate_clear(src, ann, t, cur):
        _need(src, ann)
        index = _current(ann, cur)
        edit = job.clear(service, src, ann, index, int(t))
        return view(src, ann, t, index, edit.message)

    @user_errors
    def annotate_delete(src, ann, t, cur):
        _need(src, ann)
        index = _current(ann, cur)
        gone = ann.names[index]
        ann.delete_point(index)
        nxt = min(index, len(ann.points) - 1) if ann.points else None
        return view(src, ann, t, nxt, f"deleted {gone}")

    @user_errors
    def annotate_retrack(src, ann, t, cur, model_name, progress=gr.Progress()):  # noqa: B008
        _need(src, ann)
        edits = job.set_model(service, src, ann, model_name, progress=progress_adapter(progress))
        tracked = sum(len(e.tracked) for e in edits)
        return view(src, ann, t, cur, f"proposals of {len(edits)} points redone with {ann.model} "
                                      f"({tracked} keyframes tracked)")

    @user_errors
    def annotate_model(ann, model_name):
        if ann is None:
            return ann, gr.update()
        ann.model = job.check_model(model_name)
        return ann, (f"new keyframes are tracked with {ann.model}; press 'Propose again' to redo the proposals "
                     "made so far")

    @user_errors
    def annotate_frame(src, ann, t, cur):
        if not src or ann is None:
            return None
        return job.frame_image(service, src, ann, int(t), None if cur in (None, "") else int(cur))

    @user_errors
    def annotate_save(src, ann, video_name):
        _need(src, ann)
        out = job.save(service, src, ann, video_name)
        return ([str(out["pkl"]), str(out["npz"])],
                f"saved {len(ann.points)} points x {ann.num_frames} frames: {out['pkl'].name}, {out['npz'].name}")

    # ------------------------------------------------------------------ wiring

    ui = {"api_visibility": "undocumented"}
    heavy = {"concurrency_id": "gpu", "concurrency_limit": GPU_CONCURRENCY, "show_progress_on": [status]}
    video.change(annotate_video, inputs=[video, model], outputs=load_outputs, concurrency_id="decode",
                 concurrency_limit=4, **ui)
    resume.change(annotate_resume, inputs=[resume, model], outputs=load_outputs, concurrency_id="decode",
                  concurrency_limit=4, **ui)
    add.click(annotate_add, inputs=[source, state, slider, name], outputs=[*edit_outputs, name], queue=False, **ui)
    frame.select(annotate_click, inputs=[source, state, slider, current], outputs=edit_outputs, **heavy, **ui)
    hide.click(annotate_hide, inputs=[source, state, slider, current], outputs=edit_outputs, **heavy, **ui)
    hide_range.click(annotate_hide_range, inputs=[source, state, slider, current, through], outputs=edit_outputs, **heavy,
                     **ui)
    clear.click(annotate_clear, inputs=[source, state, slider, current], outputs=edit_outputs, **heavy, **ui)
    delete.click(annotate_delete, inputs=[source, state, slider, current], outputs=edit_outputs, queue=False, **ui)
    retrack.click(annotate_retrack, inputs=[source, state, slider, current, model], outputs=edit_outputs, **heavy, **ui)
    model.input(annotate_model, inputs=[state, model], outputs=[state, status], queue=False, **ui)
    slider.change(annotate_frame, inputs=[source, state, slider, current], outputs=[frame], queue=False,
                  show_progress="hidden", **ui)
    current.input(annotate_frame, inputs=[source, state, slider, current], outputs=[frame], queue=False,
                  show_progress="hidden", **ui)
    save.click(annotate_save, inputs=[source, state, dataset_name], outputs=[files, status], concurrency_id="decode",
               concurrency_limit=4, **ui)
    return {
        "video": video, "resume": resume, "name": name, "add": add, "current": current, "hide": hide,
        "through": through, "hide_range": hide_range, "clear": clear, "delete": delete, "model": model, "retrack": retrack, "frame": frame,
        "slider": slider, "status": status, "points": points_md, "timeline": timeline, "save": save, "files": files,
        "state": state, "source": source,
        "handlers": {"video": annotate_video, "resume": annotate_resume, "add": annotate_add, "click": annotate_click, "hide": annotate_hide,
                     "hide_range": annotate_hide_range,
                     "clear": annotate_clear, "delete": annotate_delete, "retrack": annotate_retrack, "save": annotate_save},
    }


def build_api(service: TrackingService) -> None:
    """The headless ``/annotate`` endpoint: a video and keyframes as JSON -> TAP-Vid dataset files.

    ``keyframes_json``: ``{"points": [{"name": "nose", "keys": [[t, x, y], ...], "hidden": [[first, last], ...]},
    ...]}`` in source-video pixels (integer = pixel centre); ``model`` proposes between keyframes
    (empty = ``interpolate``). Outputs: the ``.pkl``, the ``.npz`` and a status text.
    """
    with gr.Group(visible=False):
        video = gr.File(label="video")
        keyframes_json = gr.Textbox(label="keyframes_json", value="")
        model = gr.Textbox(label="model", value="")
        video_name = gr.Textbox(label="video_name", value="")
        out_pkl = gr.File(label="dataset_pkl")
        out_npz = gr.File(label="dataset_npz")
        out_status = gr.Textbox(label="status")
        trigger = gr.Button("annotate", visible=False)

    @user_errors
    def annotate(video, keyframes_json="", model="", video_name="", progress=gr.Progress()):  # noqa: B008
        """Build ground truth from keyframes and save it as a TAP-Vid dataset.

        Args:
            video: the video file.
            keyframes_json: {"points": [{"name": str, "keys": [[t, x, y], ...], "hidden": [[first, last], ...]}]}
                in source-video pixels (integer = pixel centre).
            model: registry name of the tracker that proposes between keyframes; empty for "interpolate".
            video_name: the video's name inside the dataset (empty = the file's name).

        Returns:
            the dataset as .pkl (DAVIS-style) and .npz (pickle-free), and a status text.
        """
        if not video:
            raise InputError("no video file given")
        path = str(video)
        ann = job.start(service, path, model or INTERPOLATE)
        job.apply_keyframes(service, path, ann, parse_keyframes(keyframes_json), progress=progress_adapter(progress))
        out = job.save(service, path, ann, video_name)
        return str(out["pkl"]), str(out["npz"]), "\n".join(ann.summary())

    trigger.click(
        annotate,
        inputs=[video, keyframes_json, model, video_name],
        outputs=[out_pkl, out_npz, out_status],
        api_name="annotate",
        concurrency_id="gpu",
        concurrency_limit=GPU_CONCURRENCY,
    )


def parse_keyframes(text: str) -> list[dict]:
    """The ``/annotate`` keyframes JSON as a list of ``{"name", "keys", "hidden"}`` (checked for shape only)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError('no keyframes: pass JSON like {"points": [{"name": "nose", "keys": [[0, 120, 80]]}]}')
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"keyframes are not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    points = data.get("points") if isinstance(data, dict) else data
    if not isinstance(points, list) or not points:
        raise InputError('keyframes must be {"points": [...]} with at least one point')
    out = []
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            raise InputError(f"point {i} must be an object with 'name', 'keys' and optional 'hidden'")
        keys, hidden = p.get("keys", []), p.get("hidden", [])
        ok = isinstance(keys, list) and all(
            isinstance(k, list) and len(k) == 3 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                        for v in k) for k in keys)
        ok = ok and isinstance(hidden, list) and all(
            isinstance(h, list) and len(h) in (1, 2) and all(isinstance(v, int) and not isinstance(v, bool)
                                                             for v in h) for h in hidden)
        if not ok:
            raise InputError(f"point {i}: 'keys' must be [[t, x, y], ...] and 'hidden' [[first, last], ...]")
        name = p.get("name", "")
        if not isinstance(name, str):
            raise InputError(f"point {i}: 'name' must be a string")
        out.append({"name": name, "keys": keys, "hidden": hidden})
    return out


__all__ = ["build_annotate", "build_api", "model_choices", "parse_keyframes", "point_choices"]
