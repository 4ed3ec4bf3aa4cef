"""The "Compare" tab: the same points through 2-4 trackers, side by side, to see which one to trust.

Queries come from a grid on a chosen frame, from JSON ``[[t, x, y], ...]`` (the Track
tab's points can be copied over with one button), or from a ground-truth file for the
clip, whose queries are then tracked and whose metrics join the table. The compute is
``studio.service.compare_job``; ``build_api`` adds the headless ``/compare`` endpoint.
"""

from __future__ import annotations

import json

import gradio as gr
import pandas as pd

from studio.compare import MAX_MODELS, MIN_MODELS, TABLE_HEADERS, check_models, disagreement_figure, table
from studio.results import InputError
from studio.service import TrackingService
from studio.ui.common import progress_adapter, user_errors
from studio.ui.tab_track import GPU_CONCURRENCY, video_input

INTRO = f"""\
Which tracker can you trust on **your** video? Run the same points through {MIN_MODELS}–{MAX_MODELS} trackers \
and look at them side by side (same colour per point in every panel) and on top of each other (one marker \
shape per model). The plot shows, per point and frame, how far apart the models are; the table gives each \
model's time, share of visible positions, mean reliability (each position tracked back to its query frame) \
and agreement with the consensus (the median position). With ground truth for the clip (a TAP-Vid file, or a \
track file such as the bundled `*_truth.npz`) the table adds AJ, δavg and OA.
"""


def default_models(service: TrackingService) -> list[str]:
    """The two models preselected: the weight-free ones that work everywhere, else the first two."""
    names = [n for _, n in service.model_choices(dense=True)]
    free = [n for n in ("lk", "dot_dis") if n in names]
    return free if len(free) == 2 else names[:2]


def build_compare(service: TrackingService, context: dict | None = None) -> None:
    """Build the Compare tab inside the current ``gr.Tab``.

    Args:
      service: the shared ``TrackingService``.
      context: what earlier tabs returned; ``context["track"]`` (the Track tab) lets the
        user copy its video and points.
    """
    track = (context or {}).get("track")
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            video = video_input("compare-video", height=280)
            if track is not None:
                from_track = gr.Button("Use the Track tab's video and points", size="sm", elem_id="compare-from-track")
        with gr.Column(scale=1):
            models = gr.Dropdown(
                choices=service.model_choices(dense=True),
                value=default_models(service),
                multiselect=True,
                max_choices=MAX_MODELS,
                label=f"Trackers to compare ({MIN_MODELS} to {MAX_MODELS})",
                elem_id="compare-models",
            )
            with gr.Row():
                grid_size = gr.Slider(1, 30, value=8, step=1, label="Grid N (N×N points)", elem_id="compare-grid")
                grid_frame = gr.Number(value=0, precision=0, minimum=0, label="on frame", elem_id="compare-grid-frame")
            queries_text = gr.Textbox(
                label="…or points as JSON [[t, x, y], …] in your video's pixels (used instead of the grid)",
                lines=2, elem_id="compare-queries",
            )
            truth = gr.File(
                label="Optional ground truth for this clip (TAP-Vid .pkl/.npz, or a track file .npz/.csv/.json): "
                "its points are used and AJ / δavg / OA are added",
                file_types=[".pkl", ".npz", ".csv", ".json"], elem_id="compare-truth",
            )
            with gr.Row():
                reliability = gr.Checkbox(value=True, label="Check reliability (about one more pass per model)",
                                          elem_id="compare-reliability")
                run_button = gr.Button("Compare", variant="primary", elem_id="compare-button")
    status = gr.Textbox(label="Status", interactive=False, lines=2, elem_id="compare-status")
    results = gr.Dataframe(value=pd.DataFrame(columns=list(TABLE_HEADERS)), label="Per model", interactive=False,
                           elem_id="compare-table")
    with gr.Row(equal_height=False):
        side = gr.Video(label="Side by side", autoplay=True, loop=True, interactive=False, elem_id="compare-side")
        over = gr.Video(label="Overlay (one marker shape per model)", autoplay=True, loop=True, interactive=False,
                        elem_id="compare-overlay")
    with gr.Row(equal_height=False):
        plot = gr.Plot(label="Disagreement per point over time", elem_id="compare-plot")
        files = gr.File(label="Download (report JSON, each model's tracks, plot, videos)", file_count="multiple",
                        interactive=False, elem_id="compare-files")

    @user_errors
    def on_compare_models(path, names, n, frame, text, truth_file, check, progress=gr.Progress()):
        if not path:
            raise InputError("load a video first (upload one, pick an example or record one)")
        names = check_models(list(names or []))  # every argument is checked before the video is decoded
        queries = None
        if not truth_file:
            if (text or "").strip():
                queries = service.parse_queries(text)
            else:
                queries, _ = service.grid(path, int(n), int(frame or 0))
        out = service.compare(
            path, queries, names, reliability=bool(check), truth_path=truth_file or None,
            progress=progress_adapter(progress),
        )
        heads, rows = table(out.comparison)
        return (
            out.status(),
            pd.DataFrame(rows, columns=heads),
            str(out.side_by_side),
            str(out.overlay),
            disagreement_figure(out.comparison),
            [str(p) for p in out.files()],
        )

    run_button.click(
        on_compare_models,
        inputs=[video, models, grid_size, grid_frame, queries_text, truth, reliability],
        outputs=[status, results, side, over, plot, files],
        show_progress_on=[status],
        concurrency_id="gpu",
        concurrency_limit=GPU_CONCURRENCY,
        api_visibility="undocumented",
    )

    if track is not None:
        def take_from_track(path, points):
            if not path:
                raise gr.Error("the Track tab has no video yet")
            text = json.dumps([[int(t), float(x), float(y)] for t, x, y in points]) if points else ""
            return path, text

        from_track.click(take_from_track, inputs=[track.source_path, track.queries], outputs=[video, queries_text],
                         queue=False, api_visibility="undocumented")


def build_api(service: TrackingService) -> None:
    """The headless ``/compare`` endpoint (hidden components, callable with ``gradio_client``).

    Inputs: ``video`` (file), ``models`` (comma-separated, 2-4), ``queries_json``
    (``[[t, x, y], ...]`` source pixels), ``grid_size`` (> 0: an N x N grid instead),
    ``grid_frame``, ``truth`` (optional ground-truth file), ``reliability`` (bool).
    Outputs: side-by-side MP4, overlay MP4, report JSON, status line.
    """
    with gr.Group(visible=False):
        video = gr.File(label="video")
        models = gr.Textbox(label="models", value="")
        queries_json = gr.Textbox(label="queries_json", value="")
        grid_size = gr.Number(label="grid_size", value=0, precision=0)
        grid_frame = gr.Number(label="grid_frame", value=0, precision=0)
        truth = gr.File(label="truth")
        check = gr.Checkbox(label="reliability", value=True)
        out_side = gr.File(label="side_by_side")
        out_overlay = gr.File(label="overlay")
        out_report = gr.File(label="report_json")
        out_status = gr.Textbox(label="status")
        trigger = gr.Button("compare", visible=False)

    @user_errors
    def compare(video, models="", queries_json="", grid_size=0, grid_frame=0, truth=None, reliability=True,
                progress=gr.Progress()):
        """Track the same points with 2-4 trackers and compare them.

        Args:
            video: the video file.
            models: 2 to 4 registry names, comma-separated (e.g. "lk,dot_dis").
            queries_json: JSON list of [t, x, y] in source-video pixels; ignored when grid_size > 0 or truth is given.
            grid_size: N > 0 tracks an N x N grid on grid_frame instead.
            grid_frame: frame index of the grid.
            truth: optional ground truth for the clip (TAP-Vid .pkl/.npz or a track file); its queries are used
                and the report adds AJ, delta_avg and OA per model.
            reliability: check every model's positions (mean reliability in the table).

        Returns:
            side-by-side MP4, overlay MP4, report JSON and a status line.
        """
        if not video:
            raise InputError("no video file given")
        path = str(video)
        # Every argument is checked before the video is decoded.
        names = check_models((models or "").split(","))
        queries = None
        if not truth:
            n = int(grid_size or 0)
            queries = service.grid(path, n, int(grid_frame or 0))[0] if n > 0 else service.parse_queries(queries_json)
        out = service.compare(path, queries, names, reliability=bool(reliability),
                              truth_path=str(truth) if truth else None, progress=progress_adapter(progress))
        return str(out.side_by_side), str(out.overlay), str(out.report), out.status()

    trigger.click(
        compare,
        inputs=[video, models, queries_json, grid_size, grid_frame, truth, check],
        outputs=[out_side, out_overlay, out_report, out_status],
        api_name="compare",
        concurrency_id="gpu",
        concurrency_limit=GPU_CONCURRENCY,
    )


__all__ = ["build_api", "build_compare", "default_models"]
