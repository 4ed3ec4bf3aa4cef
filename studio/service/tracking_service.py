"""``TrackingService``: the one object the app holds; it wires the caches, limits, output folders and jobs.

Each responsibility lives in its own module beside this one: ``model_cache``
(models built once, LRU), ``video_cache`` (videos decoded once, LRU), ``catalog``
(the Models table, the default model, dropdown choices), ``limits``, ``outputs``
(per-request folders, pruned by age), ``zerogpu`` (GPU entry points) and the jobs of
the tabs (``track_job``, ``dense_job``, ``render_job``, ``bench_job``). What stays
here is the request-level view of a cached video: its working frames, the
conversion of clicks to source pixels, and query grids and checks within the limits.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from studio.io.video import Video
from studio.pipeline import grid_for, to_source, to_working
from studio.progress import ProgressFn
from studio.queries import check_grid_size, check_point_count, mask_grid_queries, mask_to_size
from studio.registry import add_checkpoint, create_tracker, names_using
from studio.results import InputError, check_queries
from studio.service import catalog
from studio.service.limits import Limits, env_int
from studio.service.model_cache import ModelCache
from studio.service.outputs import new_output_dir, sweep_now_and_then
from studio.service.track_job import parse_queries_json, run_track
from studio.service.video_cache import VideoCache
from studio.service.zerogpu import SERVICES, DeviceTracker, on_zero_gpu


class TrackingService:
    """Caches, limits and the tracking pipeline behind the app; thread-safe.

    Args:
      limits: per-request limits (default ``Limits.from_env()``).
      model_cache_size: models kept loaded (default ``STUDIO_MODEL_CACHE`` or 2).
      video_cache_size: decoded videos kept (default ``STUDIO_VIDEO_CACHE`` or 3).
      output_root: folder for per-request output folders (default
        ``<tempdir>/tracking-studio``, which Gradio is allowed to serve).
      output_ttl_s: output folders older than this are deleted when a new one is made.

    Attributes:
      sweep_dirs: more folders swept now and then of empty and half-saved files (the app
        adds Gradio's cache, where every upload leaves an empty ``tmp*`` file).
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
        self.models = ModelCache(model_cache_size or env_int("STUDIO_MODEL_CACHE", 2), create, device)
        self.videos = VideoCache(video_cache_size or env_int("STUDIO_VIDEO_CACHE", 3))
        self.output_root = Path(output_root or Path(tempfile.gettempdir()) / "tracking-studio")
        self.output_ttl_s = float(output_ttl_s)
        self.sweep_dirs: list[Path] = []
        self._playable: dict[str, str] = {}
        SERVICES[id(self)] = self

    # ------------------------------------------------------------------ models

    @property
    def device(self):
        """The torch device neural models are built on (chosen on first use)."""
        return self.models.device

    @property
    def model_loads(self) -> dict[str, int]:
        """Builds per model name, for tests and logs."""
        return self.models.loads

    def tracker(self, name: str) -> Any:
        """The model ``name``, built on first use and kept in the LRU cache (``ModelCache.get``)."""
        return self.models.get(name)

    def device_tracker(self, name: str) -> Any:
        """The model ``name`` for repeated tracking: on ZeroGPU a ``DeviceTracker`` (one GPU
        reservation per ``track`` call), elsewhere the cached model itself (with progress)."""
        return DeviceTracker(self, name) if on_zero_gpu() else self.tracker(name)

    def loaded_models(self) -> list[str]:
        """Names of the cached models, least recently used first."""
        return self.models.names()

    def add_checkpoint(self, name: str, path: str | os.PathLike | None) -> str:
        """Check ``path`` strictly as model ``name``'s checkpoint and keep it in the checkpoint folder.

        Models loaded from the file it replaces are dropped from the cache, so their next
        use loads the new one.

        Returns:
          One sentence for the user: where the file was kept and which models use it.

        Raises:
          InputError: uploads are switched off (``STUDIO_CHECKPOINT_UPLOAD=0``), no file was
            given, or the model takes no weights.
          KeyError, CheckpointMismatch: from ``studio.registry.add_checkpoint``.
        """
        if not catalog.checkpoint_uploads_allowed():
            raise InputError("Checkpoint uploads are switched off on this server (STUDIO_CHECKPOINT_UPLOAD=0).")
        if not path or not os.path.isfile(path):
            raise InputError("no checkpoint file: choose the file to upload first")
        try:
            kept = add_checkpoint(name, path)
        except ValueError as exc:  # a weight-free model
            raise InputError(str(exc)) from None
        users = names_using(kept.name)
        self.models.forget(users)
        return f"{kept.name} passed the strict check and is kept in {kept.parent}; used by {', '.join(users)}."

    def preload(self, name: str | None = None) -> str:
        """Build ``name`` (default: ``default_model()``) now, e.g. at Space start-up.

        Returns:
          The model's name.
        """
        name = name or self.default_model()
        self.tracker(name)
        return name

    def models_table(self) -> list[dict]:
        """One JSON-ready row per registry model (``catalog.models_table``)."""
        return catalog.models_table()

    def default_model(self) -> str:
        """The best point tracker usable here (``catalog.default_model``)."""
        return catalog.default_model()

    def model_choices(self, dense: bool = False) -> list[tuple[str, str]]:
        """``(label, name)`` pairs for a dropdown, dense models too when ``dense`` (``catalog.model_choices``)."""
        return catalog.model_choices(dense)

    # ------------------------------------------------------------------ videos and queries

    @property
    def video_decodes(self) -> int:
        """Files decoded so far, for tests and logs."""
        return self.videos.decodes

    def load_video(self, path: str | os.PathLike, progress: ProgressFn | None = None) -> Video:
        """Decode ``path`` within the limits, once; later calls return the cached ``Video``.

        Raises:
          VideoError: the file is missing or not a readable video.
        """
        return self.videos.load(path, self.limits.max_frames, self.limits.max_side, progress)

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
        n, t = int(n), int(t)
        check_grid_size(n, self.limits.max_points)  # before the video is decoded
        video = self.load_video(path)
        if not 0 <= t < video.num_frames:
            raise InputError(f"grid frame {t} is outside the video's frames 0..{video.num_frames - 1}")
        if mask is None:
            return grid_for(video, n, t), []
        binary, notices = mask_to_size(mask, video.source_size)
        return mask_grid_queries(binary, n, t), notices

    def parse_queries(self, text: str) -> np.ndarray:
        """Queries from JSON text within this service's limits (``track_job.parse_queries_json``)."""
        return parse_queries_json(text, self.limits)

    def check_queries(self, path: str, queries: np.ndarray) -> np.ndarray:
        """Validate source-pixel queries against the (cut) video: float32 [N, 3].

        Raises:
          InputError: no points, too many, a frame outside the kept frames, or a point off the frame.
        """
        video = self.load_video(path)
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 2:
            check_point_count(len(q), self.limits.max_points)
        h, w = video.source_size
        q = check_queries(q, (video.num_frames, h, w))
        return q

    def playable(self, source: str) -> str:
        """A video file for ``source`` that a browser video box can show: the file itself, or (for a log
        camera or a dataset video) an H.264 mp4 of its working frames, written once per source."""
        from studio.io.sources import source_stem, split_source
        from studio.io.video import write_video
        from studio.service.outputs import safe_stem

        if split_source(source)[1] is None:
            return source
        known = self._playable.get(source)
        if known and os.path.isfile(known):
            return known
        video = self.load_video(source)
        path = str(write_video(self.new_output_dir() / f"{safe_stem(source_stem(source))}.mp4", video.frames,
                               video.fps))
        self._playable[source] = path
        return path

    # ------------------------------------------------------------------ requests

    def new_output_dir(self) -> Path:
        """A fresh folder for one request's files; folders older than ``output_ttl_s`` are removed,
        and now and then leftovers (empty files, half saves) in ``output_root`` and ``sweep_dirs``."""
        for folder in (self.output_root, *self.sweep_dirs):
            sweep_now_and_then(folder)
        return new_output_dir(self.output_root, self.output_ttl_s)

    # One Track request: ``service.track(path, queries, model, tail, formats, progress)``; the
    # arguments, result and errors are documented on ``track_job.run_track``.
    track = run_track
