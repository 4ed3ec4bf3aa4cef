"""Compose the Gradio app from its tabs.

Tabs are listed in ``TABS``; each is a module ``studio.ui.tab_<key>`` with a
``build_<key>(service)`` function that builds its part inside the current
``gr.Tab``. A module that is not there yet is skipped, so tabs can be added by
dropping in their module. A builder that also takes ``context`` receives a dict of
what earlier tabs returned (``context["track"]`` is the Track tab's ``TrackTab``,
whose ``latest`` state holds the last result's npz and video paths).

A tab module may also define ``build_api(service)`` for headless endpoints; those
are built after the tabs, outside them.

Start-up and limits (``studio.limits.Limits``, from the service): Gradio's cache and
the app's output folder are swept of what a crash or stop left (``sweep_stale``) before
anything is cached; PIL's decompression-bomb guard is set to ``max_image_pixels``; the
queue holds ``queue_size`` requests and each client at most ``max_client_requests``
(``studio.ui.request_limits``).
"""

import importlib
import inspect
import logging
from dataclasses import dataclass

import gradio as gr

from studio.io.guards import install_pil_guard
from studio.limits import Limits
from studio.service import TrackingService, on_zero_gpu
from studio.service.outputs import sweep_stale
from studio.ui.request_limits import gradio_cache_dir, install_client_cap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TabSpec:
    """One tab: its title, and ``studio.ui.tab_<key>`` with ``build_<key>``."""

    key: str
    title: str

    @property
    def module(self) -> str:
        return f"studio.ui.tab_{self.key}"

    @property
    def builder(self) -> str:
        return f"build_{self.key}"


TABS = [
    TabSpec("track", "Track points"),
    TabSpec("live", "Live"),
    TabSpec("dense", "Dense"),
    TabSpec("render", "Render"),
    TabSpec("annotate", "Annotate"),
    TabSpec("benchmark", "Benchmark"),
    TabSpec("models", "Models"),
]
"""Tabs in display order; missing modules are skipped."""

HEADER = """\
# Tracking Studio
Track any point through a video with the tracker of your choice, look at the result and download the tracks.
"""

CSS = """
#track-frame img, #annotate-frame img { cursor: crosshair; }
#annotate-status textarea { font-family: ui-monospace, monospace; font-size: 0.9em; }
#track-status textarea { font-family: ui-monospace, monospace; font-size: 0.9em; }
"""

DELETE_CACHE = (1800, 3600)
"""Every 30 min, delete Gradio's cached uploads and outputs older than 1 h."""


def available_tabs() -> list[tuple[TabSpec, object]]:
    """``(spec, module)`` for each tab in ``TABS`` whose module exists."""
    found = []
    for spec in TABS:
        try:
            module = importlib.import_module(spec.module)
        except ModuleNotFoundError as exc:
            if exc.name != spec.module:
                raise  # the tab exists but something it imports is missing: say so
            continue
        found.append((spec, module))
    return found


def _call_builder(builder, service: TrackingService, context: dict):
    if "context" in inspect.signature(builder).parameters:
        return builder(service, context=context)
    return builder(service)


def build_demo(service: TrackingService | None = None) -> gr.Blocks:
    """The whole app: a header, one ``gr.Tab`` per available tab, the API endpoints, the queue.

    Args:
      service: the compute layer; a new ``TrackingService()`` (limits from the environment) if None.

    Returns:
      The ``gr.Blocks``, queued, not launched.
    """
    service = service or TrackingService()
    limits = service.limits
    # Before gr.Examples copies anything into Gradio's cache: what a crash or stop left there
    # (files older than the cache's age, the empty tmp* file Gradio leaves per upload, half saves).
    cache = gradio_cache_dir()
    for folder, age in ((cache, DELETE_CACHE[1]), (service.output_root, service.output_ttl_s)):
        removed = sweep_stale(folder, age)
        if removed:
            log.info("removed %d stale entries from %s", removed, folder)
    service.sweep_dirs.append(cache)  # the empty tmp* files keep coming while the app runs
    install_pil_guard(limits)
    if on_zero_gpu():
        # ZeroGPU wants models loaded at start-up, outside the GPU-decorated calls.
        try:
            service.preload()
        except Exception as exc:  # the app still works with other models
            log.warning("could not preload the default model: %s", exc)
    tabs = available_tabs()
    context: dict = {}
    with gr.Blocks(title="Tracking Studio", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(HEADER)
        with gr.Tabs():
            for spec, module in tabs:
                with gr.Tab(spec.title, id=spec.key, elem_id=f"tab-{spec.key}"):
                    context[spec.key] = _call_builder(getattr(module, spec.builder), service, context)
        for spec, module in tabs:
            if hasattr(module, "build_api"):
                module.build_api(service)
    demo.queue(max_size=limits.queue_size, default_concurrency_limit=1)
    install_client_cap(demo, limits.max_client_requests)
    demo.service = service  # for tests and scripts that launch the demo
    return demo


def launch_kwargs() -> dict:
    """Arguments for ``demo.launch`` (in Gradio 6 theme and css go here, not to ``gr.Blocks``)."""
    return {
        # 300 MB by default: room for every released checkpoint in the Models tab's upload (the largest,
        # BootsTAPIR, is 219 MB).
        "max_file_size": Limits.from_env().max_file_bytes,
        # Handlers turn every error into one sentence themselves; this shows the sentence of the few
        # raised before a handler runs (e.g. PIL's decompression-bomb guard on an image input).
        "show_error": True,
        "theme": gr.themes.Soft(),
        "css": CSS,
        "footer_links": ["api", "gradio", "settings"],
    }
