"""The "Benchmark" tab: score point trackers on TAP-Vid data, next to the published numbers.

Upload TAP-Vid pickles or ``.npz`` files (several files form one dataset, e.g.
Kinetics shards) or take the bundled 5-clip sample, pick trackers, a query mode
and a resolution, and run. The tab shows the same table as ``python -m studio
bench`` (both come from ``studio.benchmark.report``), the published numbers for the
same models and benchmark, a δ-by-threshold plot, per-video AJ bars, CSV/JSON
downloads in the CLI's ``--csv``/``--json`` formats, and a viewer that draws
ground truth beside a model's prediction for one video.

Pickles are read with the restricted unpickler (``studio.benchmark.datasets.safe_pickle``):
a file that would run code is refused with a message and nothing in it runs.
Runs keep one decoded video in memory at a time; the viewer re-reads only the
chosen video (predictions are saved per video in the run's folder).

The headless twin is ``build_api``: the ``/bench`` endpoint.
"""

from __future__ import annotations

import json
import os
import shutil

import gradio as gr
import pandas as pd

from studio.benchmark.metrics.tapvid import QUERY_MODES
from studio.benchmark.protocol import METRIC_SIZE
from studio.benchmark.report import (
    PUBLISHED_HEADERS,
    aj_figure,
    delta_figure,
    guess_benchmark,
    jitter_figure,
    published_table,
    results_table,
)
from studio.limits import Limits
from studio.results import InputError
from studio.service import TrackingService
from studio.service.bench_job import SAMPLE, check_models, open_files, run_benchmark
from studio.service.bench_view import load_view, parse_point_selection, render_comparison, view_summary
from studio.ui.common import progress_adapter, user_errors

GPU_CONCURRENCY = Limits.from_env().gpu_concurrency
"""Heavy jobs (concurrency_id "gpu", shared with the Track tab) that may run at once."""

INTRO = """\
Score point trackers on **TAP-Vid** data with the reference protocol (videos resized to 256×256, metrics in \
256×256 pixels, ×100). Upload one or more TAP-Vid files (`.pkl` in the DAVIS/RoboTAP dict or \
RGB-Stacking/Kinetics list layout, or the pickle-free `.npz`; several files are read as one dataset) or try the \
bundled sample. Pickles are read with a restricted loader: a file that would run code is refused. \
Files made in the Annotate tab or with `python -m studio gt export` score here directly; when their points are \
named COCO-17 keypoints, pose metrics are added (`PCK@0.1`, `PCK@0.2` box-normalised, OKS, jitter against the \
ground truth) and the viewer draws their skeleton. \
The numbers equal `python -m studio bench DATASET --model NAME --query-mode MODE`.
"""

RESOLUTIONS = [("256×256 (reference protocol)", "256"), ("full resolution (separate category)", "full")]

BENCHMARKS = [
    ("auto (from the file name)", "auto"),
    ("TAP-Vid-DAVIS", "davis"),
    ("TAP-Vid-Kinetics", "kinetics"),
    ("TAP-Vid-RGB-Stacking", "rgb_stacking"),
    ("RoboTAP", "robotap"),
    ("none", "none"),
]
BENCHMARK_TITLES = {v: k for k, v in BENCHMARKS}

EMPTY_PUBLISHED = pd.DataFrame(columns=PUBLISHED_HEADERS)


def _file_paths(files) -> list[str]:
    if not files:
        return []
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    return [str(getattr(f, "name", f)) for f in files if f]


def _resolution(value: str) -> tuple[int, int] | None:
    if value in ("full", "full resolution", None) or value is False:
        return None
    if value in ("256", "256x256", True, ""):
        return METRIC_SIZE
    raise InputError(f"unknown resolution {value!r}; choose '256' (reference protocol) or 'full'")


def _max_videos(value) -> int | None:
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise InputError(f"the video cap must be a whole number, got {value!r}") from None
    if n < 0:
        raise InputError(f"the video cap must be 0 (all videos) or more, got {n}")
    return n or None


def parse_models(value) -> list[str]:
    """Model names from a multiselect list or comma/space-separated text."""
    if value is None:
        return []
    if isinstance(value, str):
        return [m for m in (p.strip() for p in value.replace(",", " ").split()) if m]
    return [str(m).strip() for m in value if str(m).strip()]


def run(service: TrackingService, files, models, query_mode, resolution, max_videos, progress=None):
    """Check every argument, open the dataset and run ``run_benchmark`` with the service's model cache
    and limits; returns ``BenchRun``."""
    names = check_models(parse_models(models))
    mode = (query_mode or "").strip()
    if mode not in QUERY_MODES:
        raise InputError(f"unknown query mode {mode!r}; choose one of {', '.join(QUERY_MODES)}")
    size, cap = _resolution(resolution), _max_videos(max_videos)
    dataset = open_files(_file_paths(files), service.limits)
    return run_benchmark(service.device_tracker, dataset, names, mode, size, cap, service.new_output_dir(), progress,
                         service.limits)


def published_view(models: list[str], dataset: str, query_mode: str, choice: str) -> tuple[pd.DataFrame, str]:
    """The published-numbers table and its caption for a run's models."""
    bench = guess_benchmark(dataset) if choice in (None, "", "auto") else (None if choice == "none" else choice)
    rows = published_table(models, bench, query_mode)
    if bench is None:
        note = (
            f"**Published numbers**: `{dataset}` is not one of the published benchmarks (its name does not say "
            "davis, kinetics, rgb_stacking or robotap), so there is nothing to compare with; pick one under "
            "*Compare with* if the files are one of them."
        )
    else:
        note = (
            f"**Published numbers** on {BENCHMARK_TITLES.get(bench, bench)}, query mode {query_mode} (×100, at the "
            "resolution shown). [P] = the method's official README, [S] = a paper table read from a secondary copy; "
            "— = not published."
        )
    return pd.DataFrame(rows, columns=PUBLISHED_HEADERS), note


def model_choices(service: TrackingService) -> list[tuple[str, str]]:
    """Point trackers and dense models as ``(label, name)``; the label says whether weights are needed and their state."""
    return service.model_choices(dense=True)


def build_benchmark(service: TrackingService) -> dict:
    """Build the Benchmark tab inside the current ``gr.Tab``.

    Returns:
      the main components by name (for tests and other tabs).
    """
    state = gr.State(None)
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            files = gr.File(
                label="TAP-Vid dataset files (.pkl / .npz)",
                file_count="multiple",
                file_types=[".pkl", ".pickle", ".npz"],
                type="filepath",
                height=150,
                elem_id="bench-files",
            )
            sample = gr.Button("Try the bundled sample (5 clips)", size="sm", elem_id="bench-sample")
        with gr.Column(scale=3):
            choices = model_choices(service)
            names = [n for _, n in choices]
            default = ["lk"] if "lk" in names else names[:1]
            models = gr.Dropdown(
                choices=choices,
                value=default,
                multiselect=True,
                label="Trackers (weight status: built-in / cached / downloadable / unavailable)",
                elem_id="bench-models",
            )
            with gr.Row():
                query_mode = gr.Radio(list(QUERY_MODES), value="first", label="Query mode", elem_id="bench-mode")
                resolution = gr.Radio(RESOLUTIONS, value="256", label="Tracked at", elem_id="bench-resolution")
            with gr.Row():
                max_videos = gr.Number(value=0, precision=0, minimum=0, label="Videos (0 = all)", scale=1)
                compare = gr.Dropdown(BENCHMARKS, value="auto", label="Compare with", scale=2)
                run_button = gr.Button("Run benchmark", variant="primary", scale=1, elem_id="bench-run")
    status = gr.Textbox(label="Status", interactive=False, lines=2, max_lines=12, elem_id="bench-status")
    table = gr.Dataframe(
        value=pd.DataFrame(columns=results_table([])[0]),
        label="Results (×100; one row per model and video, then each model's mean)",
        interactive=False,
        wrap=False,
        max_height=420,
        column_widths=["64px", "172px", "80px", *["64px"] * 14, "60px"],
        elem_id="bench-table",
    )
    published_note = gr.Markdown("", elem_id="bench-published-note")
    published = gr.Dataframe(value=EMPTY_PUBLISHED, interactive=False, wrap=True, max_height=300,
                             elem_id="bench-published", show_label=False)
    with gr.Row(equal_height=False):
        delta_plot = gr.Plot(label="δ by threshold", elem_id="bench-delta")
        aj_plot = gr.Plot(label="AJ per video", elem_id="bench-aj")
        jitter_plot = gr.Plot(label="Pose jitter", visible=False, elem_id="bench-jitter")
    downloads = gr.File(label="Download results (CSV, JSON)", file_count="multiple", interactive=False,
                        elem_id="bench-downloads")

    gr.Markdown("### Ground truth vs prediction")
    with gr.Row(equal_height=True):
        view_model = gr.Dropdown([], label="Model", scale=2, elem_id="bench-view-model")
        view_video = gr.Dropdown([], label="Video", scale=2, elem_id="bench-view-video")
        view_points = gr.Textbox(value="first 10", label="Queries (first N, all, or 0, 3, 5-8)", scale=2,
                                 elem_id="bench-view-points")
        view_frame = gr.Slider(0, 1, value=0, step=1, label="Still frame", scale=2, elem_id="bench-view-frame")
        view_button = gr.Button("Show", scale=1, elem_id="bench-view-button")
    with gr.Row(equal_height=False):
        view_mp4 = gr.Video(label="Ground truth (left) vs prediction (right)", autoplay=True, loop=True,
                            interactive=False, elem_id="bench-view-video-out")
        view_still = gr.Image(label="Still frame", type="numpy", interactive=False, elem_id="bench-view-still")
    view_info = gr.Markdown("", elem_id="bench-view-info")

    # ------------------------------------------------------------------ handlers

    @user_errors
    def on_sample():
        folder = service.new_output_dir()
        copy = shutil.copy(SAMPLE, folder / SAMPLE.name)
        gr.Info("Bundled sample loaded: 5 synthetic clips (12 frames, 72×96) with exact ground truth.")
        return [str(copy)]

    @user_errors
    def on_run(files_value, models_value, mode, res, cap, choice, progress=gr.Progress()):  # noqa: B008
        result = run(service, files_value, models_value, mode, res, cap, progress_adapter(progress))
        for model, message in result.failures:
            gr.Warning(f"{model} was not run: {message}")
        headers, rows = results_table(result.results)
        pub, note = published_view([r.model for r in result.results] + [m for m, _ in result.failures],
                                   result.dataset, result.query_mode, choice)
        st = result.state()
        first_model = st["models"][0]
        videos = st["videos"][first_model]
        first_video = videos[0] if videos else None
        frames = st["num_frames"].get(first_video, 1)
        return (
            result.status(),
            pd.DataFrame(rows, columns=headers),
            note,
            pub,
            delta_figure(result.results),
            aj_figure(result.results),
            [str(result.csv), str(result.json)],
            st,
            gr.update(choices=st["models"], value=first_model),
            gr.update(choices=videos, value=first_video),
            gr.update(maximum=max(frames - 1, 1), value=frames // 2),
            gr.update(choices=model_choices(service)),  # a first use may have downloaded weights
            gr.update(value=jitter_figure(result.results), visible=any(r.has_pose for r in result.results)),
        )

    @user_errors
    def on_compare(st, choice):
        if not st:
            return EMPTY_PUBLISHED, ""
        pub, note = published_view(st["models"], st["dataset"], st["query_mode"], choice)
        return pub, note

    @user_errors
    def on_view_model(st, model, video):
        if not st or model not in st.get("videos", {}):
            return gr.update()
        videos = st["videos"][model]
        return gr.update(choices=videos, value=video if video in videos else (videos[0] if videos else None))

    @user_errors
    def on_view_video(st, video, t):
        if not st or not video:
            return gr.update()
        frames = st["num_frames"].get(video, 1)
        return gr.update(maximum=max(frames - 1, 1), value=min(int(t or 0), frames - 1))

    @user_errors
    def on_view(st, model, video, points, t):
        if not st:
            raise InputError("run a benchmark first")
        if not model or not video:
            raise InputError("choose a model and a video of the last run")
        view = load_view(st, model, video)
        indices = parse_point_selection(points, len(view.queries))
        mp4, still = render_comparison(view, indices, st["out_dir"], frame=int(t or 0))
        return str(mp4), still, view_summary(view, indices)

    # ------------------------------------------------------------------ wiring

    ui = {"api_visibility": "undocumented"}
    sample.click(on_sample, outputs=[files], queue=False, **ui)
    view_inputs = [state, view_model, view_video, view_points, view_frame]
    view_outputs = [view_mp4, view_still, view_info]
    run_event = run_button.click(
        on_run,
        inputs=[files, models, query_mode, resolution, max_videos, compare],
        outputs=[status, table, published_note, published, delta_plot, aj_plot, downloads, state,
                 view_model, view_video, view_frame, models, jitter_plot],
        show_progress_on=[status],
        concurrency_id="gpu",
        concurrency_limit=GPU_CONCURRENCY,
        **ui,
    )
    run_event.success(on_view, inputs=view_inputs, outputs=view_outputs, concurrency_id="decode",
                      concurrency_limit=4, **ui)
    compare.change(on_compare, inputs=[state, compare], outputs=[published, published_note], queue=False, **ui)
    view_model.input(on_view_model, inputs=[state, view_model, view_video], outputs=[view_video], queue=False, **ui)
    view_video.input(on_view_video, inputs=[state, view_video, view_frame], outputs=[view_frame], queue=False,
                     **ui)
    view_button.click(on_view, inputs=view_inputs, outputs=view_outputs, concurrency_id="decode",
                      concurrency_limit=4, **ui)
    return {
        "files": files, "sample": sample, "models": models, "query_mode": query_mode, "resolution": resolution,
        "max_videos": max_videos, "compare": compare, "run": run_button, "status": status, "table": table,
        "published": published, "delta_plot": delta_plot, "aj_plot": aj_plot, "jitter_plot": jitter_plot,
        "downloads": downloads,
        "state": state, "view_model": view_model, "view_video": view_video, "view_points": view_points,
        "view_frame": view_frame, "view_button": view_button, "view_video_out": view_mp4, "view_still": view_still,
        "handlers": {"sample": on_sample, "run": on_run, "view": on_view, "compare": on_compare},
    }


def build_api(service: TrackingService) -> None:
    """The headless ``/bench`` endpoint (hidden components, callable with ``gradio_client``)."""
    with gr.Group(visible=False):
        dataset = gr.File(label="dataset", file_count="multiple", type="filepath")
        use_sample = gr.Checkbox(label="use_sample", value=False)
        models = gr.Textbox(label="models", value="lk")
        query_mode = gr.Textbox(label="query_mode", value="first")
        full_resolution = gr.Checkbox(label="full_resolution", value=False)
        max_videos = gr.Number(label="max_videos", value=0, precision=0)
        out_doc = gr.JSON(label="results")
        out_csv = gr.File(label="results_csv")
        out_json = gr.File(label="results_json")
        out_status = gr.Textbox(label="status")
        trigger = gr.Button("bench", visible=False)

    @user_errors
    def bench(dataset=None, use_sample=False, models="lk", query_mode="first", full_resolution=False, max_videos=0,
              progress=gr.Progress()):  # noqa: B008
        """Score point trackers on a TAP-Vid dataset (TAP-Vid metrics x 100, as `python -m studio bench`).

        Args:
            dataset: one or more TAP-Vid files (.pkl or .npz) read as one dataset; ignored when use_sample is true.
            use_sample: score the bundled 5-clip sample instead.
            models: registry names of point trackers, comma-separated (e.g. "lk, cotracker3_offline").
            query_mode: "first" or "strided".
            full_resolution: track at each video's own size instead of 256x256.
            max_videos: score only the first N videos (0 = all).

        Returns:
            the CLI's --json document, the --csv file, the --json file and a status text
            (models that could not be loaded are named there and skipped).
        """
        files = [str(SAMPLE)] if use_sample else _file_paths(dataset)
        result = run(service, files, models, query_mode, "full" if full_resolution else "256", max_videos,
                     progress_adapter(progress))
        doc = json.loads(result.json.read_text())
        return doc, str(result.csv), str(result.json), result.status()

    trigger.click(
        bench,
        inputs=[dataset, use_sample, models, query_mode, full_resolution, max_videos],
        outputs=[out_doc, out_csv, out_json, out_status],
        api_name="bench",
        concurrency_id="gpu",
        concurrency_limit=GPU_CONCURRENCY,
    )


__all__ = ["build_api", "build_benchmark", "parse_models", "published_view", "run"]
