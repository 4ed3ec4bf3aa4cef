"""The app's compute layer: model cache, device, limits, video cache and GPU entry points.

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
  frames x points. ``spaces`` is imported here, first, because it must be imported
  before torch initialises CUDA; ``app.py`` imports this module before anything else.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:  # Before torch: on ZeroGPU, `spaces` must patch torch before CUDA is initialised.
    import spaces
except ImportError:  # Not installed (a plain local install): GPU entry points run as they are.
    spaces = None

from studio.io.trackfile import save_tracks
from studio.io.video import Video, VideoError, read_video, write_video
from studio.pipeline import TrackRun, grid_for, render_tracks, to_source, to_working, track_video
from studio.progress import ProgressFn
from studio.queries import mask_grid_queries, mask_to_size
from studio.registry import QUERY_KINDS, create_tracker, list_trackers, query_trackers, tracker_info, weight_status
from studio.results import InputError, TrackResult, check_queries

log = logging.getLogger(__name__)

__all__ = [
    "Limits",
    "TrackOutput",
    "TrackingService",
    "gpu",
    "on_zero_gpu",
    "parse_queries_json",
]

STATUS_ORDER = ("cached", "built-in", "downloadable", "unavailable")
"""Weight states, best first, for choosing the default model."""

PREFERRED_MODELS = (
    "cotracker3_offline",
    "cotracker3",
    "track_on2",
    "trackon2",
    "track_on",
    "trackon",
    "bootstapir",
    "tapir.bootstap",
    "tapnext",
    "tapir",
    "locotrack",
    "cotracker2",
    "cotracker",
)
"""Name prefixes of neural point trackers, most accurate first (ties: registry order)."""

TEXT_ART_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
"""FFmpeg decoders that turn text files into pictures; their output is refused as a video."""

GPU_SECONDS_BASE = 20.0
"""Fixed part of a GPU reservation: moving weights and the clip to the device, warm-up."""

GPU_SECONDS_PER_POINT_FRAME = 2e-3
"""Extra reservation per (frame x point): a 300-frame clip with 900 points adds 540 s."""

GPU_SECONDS_PER_FRAME = 0.05
"""Extra reservation per frame (feature extraction does not depend on the point count)."""

GPU_SECONDS_MAX = 300
"""Longest reservation asked for; ZeroGPU favours short ones in its queue."""


def _env_int(name: str, default: int, low: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if value < low:
        raise ValueError(f"environment variable {name} must be >= {low}, got {value}")
    return value


def on_zero_gpu() -> bool:
    """True on a Hugging Face ZeroGPU Space (``spaces.GPU`` then really reserves a GPU)."""
    return spaces is not None and os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in {"1", "t", "true"}


def gpu(duration: Callable[..., float] | float):
    """``spaces.GPU(duration=...)`` when ``spaces`` is installed, else a decorator that changes nothing.

    Args:
      duration: seconds, or a callable taking the decorated function's arguments
        and returning seconds.
    """
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


# --------------------------------------------------------------------------- limits and results


@dataclass(frozen=True)
class Limits:
    """What one request may cost.

    Attributes:
      max_frames: frames kept from the start of a video; later ones are cut (with a notice).
      max_side: longer side in pixels of the frames the tracker sees; larger videos
        are shrunk (with a notice) and tracks are mapped back to source pixels.
      max_points: query points per request.
    """

    max_frames: int = 300
    max_side: int = 1024
    max_points: int = 2500

    @classmethod
    def from_env(cls) -> Limits:
        """Limits from ``STUDIO_MAX_FRAMES``, ``STUDIO_MAX_SIDE`` and ``STUDIO_MAX_POINTS``."""
        return cls(
            max_frames=_env_int("STUDIO_MAX_FRAMES", cls.max_frames),
            max_side=_env_int("STUDIO_MAX_SIDE", cls.max_side, low=16),
            max_points=_env_int("STUDIO_MAX_POINTS", cls.max_points),
        )

    def describe(self) -> str:
        return f"first {self.max_frames} frames, longer side shrunk to {self.max_side} px, {self.max_points} points"


@dataclass
class TrackOutput:
    """What one Track request produced.

    Attributes:
      run: the tracks (source-video pixels) and timing.
      rendered: path of the H.264 MP4 with the points drawn on the working frames.
      files: ``{"npz" | "csv" | "json": path}`` of the saved tracks.
      source: path of the input video.
      notices: what was changed on the input (cut, resized, rotated), as sentences.
    """

    run: TrackRun
    rendered: Path
    files: dict[str, Path]
    source: str
    notices: list[str] = field(default_factory=list)

    @property
    def result(self) -> TrackResult:
        return self.run.result

    def status(self) -> str:
        """One line for the user: model, points, frames, time, then the notices."""
        line = self.run.summary()
        if self.notices:
            line += " | note: " + "; ".join(self.notices)
        return line


# --------------------------------------------------------------------------- query parsing


def parse_queries_json(text: str) -> np.ndarray:
    """Queries from JSON text: ``[[t, x, y], ...]`` (or ``{"queries": [...]}``) in source pixels.

    Args:
      text: JSON; ``t`` an integer frame index, ``x``/``y`` pixels, integer = pixel centre.

    Returns:
      float32 [N, 3] ``(t, x, y)``; not yet checked against a video.

    Raises:
      InputError: not JSON, not a list of three-number lists, or empty.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError("no queries given: pass JSON like [[0, 120, 80], [0, 200, 90]] as (t, x, y)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"queries are not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "write them like [[0, 120, 80], [0, 200, 90]] as (t, x, y)"
        ) from None
    if isinstance(data, dict) and "queries" in data:
        data = data["queries"]
    if not isinstance(data, list) or not data:
        raise InputError("queries must be a non-empty JSON list of [t, x, y] triples, e.g. [[0, 120, 80]]")
    rows = []
    for i, item in enumerate(data):
        ok = (
            isinstance(item, list)
            and len(item) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in item)
        )
        if not ok:
            raise InputError(f"query {i} is {json.dumps(item)[:60]}, not a [t, x, y] triple of numbers")
        rows.append([float(v) for v in item])
    return np.asarray(rows, dtype=np.float32)


def _safe_stem(path: str | os.PathLike) -> str:
    """File-name stem that is safe in a URL and a download (letters, digits, ``-_.``)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem).strip("._") or "video"
    return stem[:60]


# --------------------------------------------------------------------------- GPU entry point

# Services by id, so the GPU entry point (a module-level function: ZeroGPU pickles its
# arguments into a forked worker, and a service with locks does not pickle) can find
# the caller's caches. The forked worker sees the models loaded before it was forked.
_SERVICES: weakref.WeakValueDictionary[int, TrackingService] = weakref.WeakValueDictionary()


def estimate_gpu_seconds(num_frames: int, num_points: int) -> int:
    """Seconds of GPU to reserve for tracking ``num_points`` through ``num_frames``.

    Grows linearly with frames x points (the cost of point trackers' correlation
    and update steps) and is capped at ``GPU_SECONDS_MAX``.
    """
    seconds = GPU_SECONDS_BASE + GPU_SECONDS_PER_FRAME * num_frames
    seconds += GPU_SECONDS_PER_POINT_FRAME * num_frames * num_points
    return int(min(GPU_SECONDS_MAX, math.ceil(seconds)))


def _track_duration(service_key: int, path: str, queries: np.ndarray, model: str, progress=None) -> int:
    """``spaces.GPU`` duration callable: same arguments as ``_track_on_device``."""
    service = _SERVICES.get(service_key)
    frames = service.limits.max_frames if service is None else service.load_video(path).num_frames
    return estimate_gpu_seconds(frames, len(queries))


@gpu(duration=_track_duration)
def _track_on_device(
    service_key: int, path: str, queries: np.ndarray, model: str, progress: ProgressFn | None = None
) -> TrackRun:
    """Run one tracker on one video: the only step that needs the GPU.

    Arguments are light and picklable (ZeroGPU sends them to a worker process):
    the video is found by path in the service's cache, the model by name.

    Args:
      service_key: ``id`` of the ``TrackingService`` whose caches to use.
      path: the video file.
      queries: float32 [N, 3] ``(t, x, y)`` source pixels, already validated.
      model: registry name of a point tracker.
      progress: optional ``ProgressFn`` (None on ZeroGPU: closures do not pickle).

    Returns:
      ``TrackRun`` in source-video pixels.
    """
    service = _SERVICES[service_key]
    video = service.load_video(path)
    tracker = service.tracker(model)
    return track_video(video, queries, model, tracker=tracker, progress=progress)


def _arrays_duration(service_key: int, model: str, video: np.ndarray, queries: np.ndarray) -> int:
    """``spaces.GPU`` duration callable for ``track_arrays_on_device``."""
    return estimate_gpu_seconds(int(np.shape(video)[0]), int(np.shape(queries)[0]))


@gpu(duration=_arrays_duration)
def track_arrays_on_device(service_key: int, model: str, video: np.ndarray, queries: np.ndarray) -> TrackResult:
    """Track decoded frames with a cached model: one GPU reservation per call (e.g. per benchmark video).

    Args:
      service_key: ``id`` of the ``TrackingService`` whose model cache to use.
      model: registry name of a model that tracks queries.
      video: uint8 [T, H, W, 3]; queries: float32 [N, 3] ``(t, x, y)`` pixels of ``video``.

    Returns:
      The model's ``TrackResult`` (no progress: ZeroGPU pickles the arguments).
    """
    return _SERVICES[service_key].tracker(model).track(video, queries)


class DeviceTracker:
    """A tracker whose ``track`` runs through ``track_arrays_on_device`` (a GPU reservation on ZeroGPU).

    Used where the app tracks many clips in a row (the Benchmark tab), so that each
    video gets its own reservation instead of one long one for the whole dataset.
    """

    def __init__(self, service: TrackingService, name: str):
        self.service_key = id(service)
        self.name = name
        service.tracker(name)  # load in this process, before any GPU worker is forked

    def track(self, video: np.ndarray, queries: np.ndarray, progress: ProgressFn | None = None) -> TrackResult:
        return track_arrays_on_device(self.service_key, self.name, video, queries)


# --------------------------------------------------------------------------- the service


def _scaled(progress: ProgressFn | None, start: float, stop: float) -> ProgressFn | None:
    """A ``ProgressFn`` mapping ``[0, 1]`` onto ``[start, stop]`` of ``progress``."""
    if progress is None:
        return None

    def report(fraction: float, desc: str = "") -> None:
        progress(start + (stop - start) * min(max(float(fraction), 0.0), 1.0), desc)

    return report


class TrackingService:
    """Caches, limits and the tracking pipeline behind the app; thread-safe.

    Args:
      limits: per-request limits (default ``Limits.from_env()``).
      model_cache_size: models kept loaded (default ``STUDIO_MODEL_CACHE`` or 2).
      video_cache_size: decoded videos kept (default ``STUDIO_VIDEO_CACHE`` or 3).
      output_root: folder for per-request output folders (default
        ``<tempdir>/tracking-studio``, which Gradio is allowed to serve).
      output_ttl_s: output folders older than this are deleted when a new one is made.
      create: model factory ``create(name, device=...)``; ``create_tracker`` by default.
      device: torch device for neural models; None = ``studio.device.pick_device()``
        on first use (honours ``STUDIO_DEVICE`` and ``STUDIO_FORCE_CPU``).
    """

    def __init__(
        self,
        limits: Limits | None = None,
        model_cache_size: int | None = None,
        video_cache_size: int | None = None,
        output_root: str | os.PathLike | None = None,
        output_ttl_s: float = 3600.0,
        create: Callable[..., Any] = create_tracker,
        device: Any = None,
    ):
        self.limits = limits or Limits.from_env()
        self.model_cache_size = model_cache_size or _env_int("STUDIO_MODEL_CACHE", 2)
        self.video_cache_size = video_cache_size or _env_int("STUDIO_VIDEO_CACHE", 3)
        self.output_root = Path(output_root or Path(tempfile.gettempdir()) / "tracking-studio")
        self.output_ttl_s = float(output_ttl_s)
        self._create = create
        self._device = device
        self._models: OrderedDict[str, Any] = OrderedDict()
        self._videos: OrderedDict[tuple, Video] = OrderedDict()
        self._lock = threading.Lock()  # guards the two caches and the per-model locks
        self._model_locks: dict[str, threading.Lock] = {}
        self.model_loads: dict[str, int] = {}  # builds per model name, for tests and logs
        self.video_decodes = 0
        _SERVICES[id(self)] = self

    # ------------------------------------------------------------------ device

    @property
    def device(self):
        """The torch device neural models are built on (chosen on first use)."""
        if self._device is None:
            from studio.device import pick_device

            self._device = pick_device()
        return self._device

    # ------------------------------------------------------------------ models

    def tracker(self, name: str) -> Any:
        """The model ``name``, built on first use and kept in the LRU cache.

        Raises:
          KeyError: unknown name (the message lists the known ones).
          WeightsUnavailable / CheckpointMismatch: from ``create_tracker``.
        """
        entry = tracker_info(name)
        with self._lock:
            if name in self._models:
                self._models.move_to_end(name)
                return self._models[name]
            lock = self._model_locks.setdefault(name, threading.Lock())
        # Build outside the cache lock (a download can take minutes) but under the
        # model's own lock, so concurrent first requests build it once.
        with lock:
            with self._lock:
                if name in self._models:
                    self._models.move_to_end(name)
                    return self._models[name]
            device = self.device if entry.needs_weights else None
            log.info("loading model %s on %s", name, device or "cpu")
            model = self._create(name, device=device)
            with self._lock:
                self.model_loads[name] = self.model_loads.get(name, 0) + 1
                self._models[name] = model
                evicted = []
                while len(self._models) > self.model_cache_size:
                    evicted.append(self._models.popitem(last=False))
        if evicted:
            self._free(evicted)
        return model

    def device_tracker(self, name: str) -> Any:
        """The model ``name`` for repeated tracking: on ZeroGPU a ``DeviceTracker`` (one GPU
        reservation per ``track`` call), elsewhere the cached model itself (with progress)."""
        return DeviceTracker(self, name) if on_zero_gpu() else self.tracker(name)

    def loaded_models(self) -> list[str]:
        """Names of the cached models, least recently used first."""
        with self._lock:
            return list(self._models)

    def _free(self, evicted: list) -> None:
        names = [name for name, _ in evicted]
        log.info("unloading models %s", ", ".join(names))
        evicted.clear()
        gc.collect()
        torch = sys.modules.get("torch")  # only if some model already imported it
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def preload(self, name: str | None = None) -> str:
        """Build ``name`` (default: ``default_model()``) now, e.g. at Space start-up.

        Returns:
          The model's name.
        """
        name = name or self.default_model()
        self.tracker(name)
        return name

    def models_table(self) -> list[dict]:
        """One row per registry model: what it is, where its weights are, and their status here.

        Returns:
          dicts with ``name, kind, title, online, input_resolution, license, paper,
          checkpoint, checkpoint_url, repo_id, filename, revision, status, notes``;
          strings and booleans only, JSON-ready.
        """
        rows = []
        for name in list_trackers():
            e = tracker_info(name)
            res = e.input_resolution
            rows.append(
                {
                    "name": name,
                    "kind": e.kind,
                    "title": e.title,
                    "online": bool(e.online),
                    "input_resolution": f"{res[0]}x{res[1]}" if res else "native",
                    "license": e.license,
                    "paper": e.paper,
                    "checkpoint": str(e.checkpoint) if e.checkpoint else "none (weight-free)",
                    "checkpoint_url": e.checkpoint.url if e.checkpoint else "",
                    "repo_id": e.checkpoint.repo_id if e.checkpoint else "",
                    "filename": e.checkpoint.filename if e.checkpoint else "",
                    "revision": e.checkpoint.revision if e.checkpoint else "",
                    "status": weight_status(name),
                    "notes": e.notes,
                }
            )
        return rows

    def default_model(self) -> str:
        """The best point tracker usable here.

        Order: ``STUDIO_DEFAULT_MODEL`` if set and usable; else by weight status
        (cached neural model, then a weight-free one, then a downloadable one), then
        by ``PREFERRED_MODELS``, then registry order. A model whose weights are
        ``"unavailable"`` is never the default.
        """
        names = list_trackers("point")
        if not names:
            raise InputError("no point tracker is registered")
        status = {n: weight_status(n) for n in names}
        wanted = os.environ.get("STUDIO_DEFAULT_MODEL", "").strip()
        if wanted in status and status[wanted] != "unavailable":
            return wanted

        def preference(name: str) -> int:
            for rank, prefix in enumerate(PREFERRED_MODELS):
                if name.startswith(prefix):
                    return rank
            return len(PREFERRED_MODELS)

        usable = [n for n in names if status[n] != "unavailable"]
        if not usable:
            return names[0]  # nothing works; the first one's error will say why
        return min(usable, key=lambda n: (STATUS_ORDER.index(status[n]), preference(n), names.index(n)))

    def model_choices(self, dense: bool = False) -> list[tuple[str, str]]:
        """``(label, name)`` pairs for a dropdown; the label shows weight status.

        Args:
          dense: also list the dense models, which track queries too (after the point trackers).
        """
        out = []
        for name in query_trackers() if dense else list_trackers("point"):
            e = tracker_info(name)
            out.append((f"{name} · {e.title} · {weight_status(name)}", name))
        return out

    # ------------------------------------------------------------------ videos

    def load_video(self, path: str | os.PathLike, progress: ProgressFn | None = None) -> Video:
        """Decode ``path`` within the limits, once; later calls return the cached ``Video``.

        Raises:
          VideoError: the file is missing or not a readable video.
        """
        if path is None or (isinstance(path, str) and not path.strip()):
            raise InputError("no video: upload one, pick an example or record with the webcam")
        path = os.path.abspath(os.fspath(path))
        try:
            st = os.stat(path)
            key = (path, st.st_mtime_ns, st.st_size, self.limits.max_frames, self.limits.max_side)
        except OSError:
            key = None  # read_video raises the right sentence for a missing file
        if key is not None:
            with self._lock:
                if key in self._videos:
                    self._videos.move_to_end(key)
                    return self._videos[key]
        video = read_video(path, max_frames=self.limits.max_frames, max_side=self.limits.max_side, progress=progress)
        if video.codec in TEXT_ART_CODECS:
            # FFmpeg's "tty" demuxer renders any text file as ANSI art; nobody means that as a video.
            raise VideoError(f"{os.path.basename(path)} is a text file, not a video file FFmpeg can read")
        with self._lock:
            self.video_decodes += 1
            if key is not None:
                self._videos[key] = video
                while len(self._videos) > self.video_cache_size:
                    self._videos.popitem(last=False)
        return video

    def frame(self, path: str, t: int) -> np.ndarray:
        """Working frame ``t`` (what the UI shows): uint8 [h, w, 3] RGB."""
        video = self.load_video(path)
        t = int(t)
        if not 0 <= t < video.num_frames:
            raise InputError(f"frame {t} is outside the video's frames 0..{video.num_frames - 1}")
        return video.frames[t]

    def click_to_source(self, path: str, x: float, y: float) -> tuple[float, float]:
        """A point on the working frame -> the same point in source-video pixels.

        Args:
          x, y: working-frame pixels, integer = pixel centre.

        Returns:
          ``(x, y)`` source pixels, clamped onto the frame.
        """
        video = self.load_video(path)
        sx, sy = to_source(np.array([[x, y]], np.float32), video)[0]
        h, w = video.source_size
        return float(np.clip(sx, -0.5, w - 0.5)), float(np.clip(sy, -0.5, h - 0.5))

    def source_to_working(self, path: str, queries: np.ndarray) -> np.ndarray:
        """Source-pixel queries [N, 3] -> working-frame pixels [N, 3] (for drawing them)."""
        video = self.load_video(path)
        q = np.asarray(queries, np.float32).reshape(-1, 3)
        return to_working(q, video) if len(q) else q

    def grid(self, path: str, n: int, t: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
        """An ``n x n`` grid of queries on frame ``t``, optionally only inside ``mask``.

        Args:
          path: the video.
          n: points per side, 1..``sqrt(max_points)``.
          t: query frame.
          mask: optional [h, w] (or [h, w, C]) image of the query frame; pixels > 0
            (any channel; alpha if present) are inside. It is resized (nearest) to the
            source video size when it differs, with a notice.

        Returns:
          ``(queries float32 [M, 3] source pixels, notices)``.
        """
        video = self.load_video(path)
        n, t = int(n), int(t)
        if n < 1 or n * n > self.limits.max_points:
            raise InputError(f"grid size must be 1..{math.isqrt(self.limits.max_points)}, got {n}")
        if not 0 <= t < video.num_frames:
            raise InputError(f"grid frame {t} is outside the video's frames 0..{video.num_frames - 1}")
        if mask is None:
            return grid_for(video, n, t), []
        binary, notices = mask_to_size(mask, video.source_size)
        return mask_grid_queries(binary, n, t), notices

    def check_queries(self, path: str, queries: np.ndarray) -> np.ndarray:
        """Validate source-pixel queries against the (cut) video: float32 [N, 3].

        Raises:
          InputError: no points, too many, a frame outside the kept frames, or a point off the frame.
        """
        video = self.load_video(path)
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 2 and len(q) > self.limits.max_points:
            raise InputError(f"{len(q)} query points is more than the {self.limits.max_points} allowed per request")
        h, w = video.source_size
        q = check_queries(q, (video.num_frames, h, w))
        return q

    # ------------------------------------------------------------------ tracking

    def new_output_dir(self) -> Path:
        """A fresh folder for one request's files; folders older than ``output_ttl_s`` are removed."""
        self.output_root.mkdir(parents=True, exist_ok=True)
        now = time.time()
        for old in self.output_root.iterdir():
            try:
                if old.is_dir() and now - old.stat().st_mtime > self.output_ttl_s:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass  # another request removed it first
        return Path(tempfile.mkdtemp(prefix="run-", dir=self.output_root))

    def track(
        self,
        path: str,
        queries: np.ndarray,
        model: str | None = None,
        tail: int = 8,
        formats: tuple[str, ...] = ("npz", "csv", "json"),
        progress: ProgressFn | None = None,
    ) -> TrackOutput:
        """Track ``queries`` through the video at ``path``, render them and save the tracks.

        Args:
          path: the video file.
          queries: [N, 3] ``(t, x, y)`` in source-video pixels (integer = pixel centre).
          model: registry name of a point tracker; None = ``default_model()``.
          tail: trail length in frames in the rendered video.
          formats: track files to write, any of ``"npz"``, ``"csv"``, ``"json"``.
          progress: optional ``ProgressFn`` over the whole request.

        Returns:
          ``TrackOutput`` with the run, the rendered MP4 and the track files, all in a
          fresh folder under ``output_root``.

        Raises:
          InputError / VideoError: bad video or queries (one sentence).
          KeyError: unknown model. WeightsUnavailable: the model's weights cannot be had.
        """
        model = model or self.default_model()
        entry = tracker_info(model)
        if entry.kind not in QUERY_KINDS:
            raise InputError(f"'{model}' is a {entry.kind} model; choose a point tracker or a dense model")
        video = self.load_video(path, progress=_scaled(progress, 0.0, 0.1))
        q = self.check_queries(path, queries)
        if progress is not None:
            progress(0.1, f"loading {model}")
        self.tracker(model)  # load in this process, before any GPU worker is forked
        # ZeroGPU pickles the arguments; a progress closure does not pickle.
        track_progress = None if on_zero_gpu() else _scaled(progress, 0.1, 0.8)
        run = _track_on_device(id(self), os.path.abspath(path), q, model, track_progress)

        out_dir = self.new_output_dir()
        stem = _safe_stem(path)
        if progress is not None:
            progress(0.8, "drawing the tracks")
        frames = render_tracks(video, run.result, tail=int(tail))
        rendered = Path(
            write_video(out_dir / f"{stem}_tracked.mp4", frames, video.fps, progress=_scaled(progress, 0.85, 0.97))
        )
        files = {fmt: save_tracks(run.result, out_dir / f"{stem}_tracks.{fmt}") for fmt in formats}
        if progress is not None:
            progress(1.0, "done")
        return TrackOutput(run=run, rendered=rendered, files=files, source=str(path), notices=list(video.notices))
