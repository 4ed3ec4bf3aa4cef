"""The app's compute layer: ``TrackingService`` (caches, limits, GPU entry points) and the jobs of the tabs.

Nothing here imports gradio, so the CLI, tests and any other front end can use it;
``studio.ui`` turns the exceptions raised here into messages for the browser.

* **Models** are built once with ``create_tracker`` and kept in a small LRU cache
  (``STUDIO_MODEL_CACHE`` entries, default 2), guarded by locks so concurrent
  requests for a model that is not loaded yet build it only once.
* **Videos** are decoded once per file and kept in a small LRU cache, so that
  clicking points (which redraws a frame) never re-decodes the video.
* **Limits**: at most ``STUDIO_MAX_FRAMES`` frames (default 300) and a longer side
  of ``STUDIO_MAX_SIDE`` pixels (default 1024). ``read_video`` cuts and shrinks and
  says so in ``Video.notices``; every result carries those notices to the user.
* **Coordinates**: queries and tracks are in *source-video* pixels (integer =
  pixel centre, ``studio.conventions``); the UI shows the working (maybe shrunk)
  frames, and ``click_to_source`` / ``source_to_working`` convert between the two.
* **GPU**: the tracking call is a module-level function decorated with
  ``spaces.GPU`` (a no-op outside Hugging Face ZeroGPU) whose duration grows with
  frames x points. ``spaces`` is imported first (``studio.service.zerogpu``, the first
  import below), because it must be imported before torch initialises CUDA;
  ``app.py`` imports this package before anything else.

Modules: ``tracking_service`` (the facade the UI holds), ``model_cache``,
``video_cache``, ``catalog``, ``limits``, ``outputs``, ``zerogpu``, and one job per tab:
``track_job``, ``dense_job``, ``render_job``, ``bench_job`` (with ``bench_view``, the
Benchmark tab's ground-truth-vs-prediction viewer), ``annotate_job``. A video may also
be a camera of an HDF5 log or a video inside a dataset file (``studio.io.sources``).
"""

# isort: off
from studio.service.zerogpu import gpu, on_zero_gpu  # first: imports `spaces` before anything can initialise CUDA
from studio.service.limits import Limits
from studio.service.track_job import TrackOutput, parse_queries_json
from studio.service.tracking_service import TrackingService

# isort: on

__all__ = [
    "Limits",
    "TrackOutput",
    "TrackingService",
    "gpu",
    "on_zero_gpu",
    "parse_queries_json",
]
