"""One dense-tracking request for the app: video + mask -> dense tracks, their files and a rendering.

The compute behind the Dense tab (no gradio here). Models come from the
service's cache: the dense model (``dot_dis``, ``dot``) is built once, and a
request's options (initializer, number of initial tracks, working resolution)
go to a shallow copy of it, with the initializer also taken from the cache, so
no click rebuilds a model.

Dense tracks live on the grid of the frames the app decoded (the source video,
or its shrunk copy when it is larger than the limits; a notice says so), because
a dense result is one track per pixel of that grid.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.io.atomic import atomic_path
from studio.progress import ProgressFn
from studio.registry import tracker_info
from studio.render import dense_default_mode, parse_mode
from studio.results import InputError, percent_text
from studio.service.outputs import safe_stem
from studio.service.render_job import mask_on_frames, rerender
from studio.service.zerogpu import GPU_SECONDS_BASE, GPU_SECONDS_MAX, SERVICES, gpu, on_zero_gpu

DEFAULT_MODEL = "dot_dis"
DEFAULT_NUM_TRACKS = 2048
DEFAULT_MAX_SIDE = 512
MAX_NUM_TRACKS = 16384


@dataclass
class DenseOutput:
    """What one dense request produced.

    Attributes:
      result: the ``DenseResult`` (tracks [T, H, W, 2] in the pixels of the decoded frames).
      npz: the compressed dense track file.
      rendered: the rendered mp4, in ``mode``.
      mode: the render mode used.
      mask_png: the mask as a PNG (for the Render tab), or None.
      seconds: wall time of the tracking.
      notices: what was cut, shrunk or resized.
    """

    result: Any
    npz: Path
    rendered: Path
    mode: str
    mask_png: Path | None
    seconds: float
    notices: list[str] = field(default_factory=list)

    def status(self) -> str:
        r = self.result
        t, h, w = r.tracks.shape[:3]
        region = int(r.mask.sum()) if r.mask is not None else h * w
        seen = float(r.visible[:, r.mask].mean()) if r.mask is not None and r.mask.any() else float(r.visible.mean())
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in r.timings.items())
        line = (f"{r.model}: {region} pixels tracked from frame {r.query_frame} through {t} frames of {w}×{h} "
                f"in {self.seconds:.1f} s ({stages}); visible {percent_text(seen)} of the time")
        return "\n".join([line] + [f"note: {n}" for n in self.notices])


def dense_models() -> list[str]:
    """Registry names of the dense models (the Dense tab's menu)."""
    from studio.registry import list_trackers

    return list_trackers("dense")


def check_options(model: str, initializer: str, num_tracks: int, max_side: int) -> None:
    """Refuse a dense request's options before any work.

    Raises:
      InputError: not a dense model, an initializer that is not a point tracker, options out of range.
      KeyError: an unknown model name.
    """
    entry = tracker_info(model)
    if entry.kind != "dense":
        raise InputError(f"'{model}' is a {entry.kind} model; choose a dense model ({', '.join(dense_models())})")
    if tracker_info(initializer).kind != "point":
        raise InputError(f"initializer '{initializer}' is not a point tracker")
    if not 1 <= int(num_tracks) <= MAX_NUM_TRACKS:
        raise InputError(f"number of initial tracks must be 1..{MAX_NUM_TRACKS}, got {num_tracks}")
    if not 32 <= int(max_side) <= 2048:
        raise InputError(f"working resolution must be 32..2048 px on the long side, got {max_side}")


def configured_tracker(service: Any, model: str, initializer: str, num_tracks: int, max_side: int) -> Any:
    """The cached dense model ``model`` with one request's options (``check_options``), on a shallow copy."""
    check_options(model, initializer, num_tracks, max_side)
    tracker = copy.copy(service.tracker(model))
    tracker.initializer = service.tracker(initializer)
    tracker.num_tracks = int(num_tracks)
    tracker.max_side = int(max_side)
    return tracker


def _dense_seconds(service_key, path, num_frames, mask, query_frame, model, *rest) -> int:
    """``spaces.GPU`` duration: a few seconds per frame for the refiner, capped like tracking."""
    return int(min(GPU_SECONDS_MAX, GPU_SECONDS_BASE + 2.0 * num_frames))


@gpu(duration=_dense_seconds)
def _dense_on_device(service_key, path, num_frames, mask, query_frame, model, initializer, num_tracks, max_side,
                     progress=None):
    """The one GPU step of a dense request; light, picklable arguments (see ``track_job._track_on_device``)."""
    service = SERVICES[service_key]
    video = service.load_video(path)
    tracker = configured_tracker(service, model, initializer, num_tracks, max_side)
    return tracker.track_dense(video.frames[:num_frames], query_frame=query_frame, mask=mask, fps=video.fps,
                               progress=progress)


def run_dense(
    service: Any,
    path: str,
    mask_image: np.ndarray | None = None,
    query_frame: int = 0,
    model: str = DEFAULT_MODEL,
    initializer: str = "lk",
    num_tracks: int = DEFAULT_NUM_TRACKS,
    max_side: int = DEFAULT_MAX_SIDE,
    mode: str | None = None,
    progress: ProgressFn | None = None,
) -> DenseOutput:
    """Dense tracks from every pixel of ``query_frame`` (inside the mask) to every frame.

    Args:
      service: a ``TrackingService`` (caches, limits, output folders).
      path: the video file.
      mask_image: optional [h, w] or [h, w, C] image of the query frame (any size with the
        video's aspect); pixels > 0, or painted alpha, are inside. None = the whole frame.
      query_frame: the frame the tracks start from.
      model, initializer, num_tracks, max_side: the dense model and its options.
      mode: render mode of the preview (default ``studio.render.dense_default_mode``).
      progress: optional ``ProgressFn``.

    Returns:
      ``DenseOutput`` with files in a fresh output folder.

    Raises:
      InputError / VideoError: bad video, mask or options. WeightsUnavailable: ``dot`` without weights.
    """
    import cv2

    # Every argument is checked before the video is decoded or anything is tracked.
    check_options(model, initializer, num_tracks, max_side)
    if mode:
        parse_mode(mode)
    report = progress or (lambda f, d="": None)
    video = service.load_video(path)
    notices = list(video.notices)
    frames = video.frames
    keep = service.limits.dense_max_frames
    if frames.shape[0] > keep:
        notices.append(f"dense tracking keeps the first {keep} of {frames.shape[0]} frames")
        frames = frames[:keep]
    if video.size != video.source_size:
        notices.append(f"dense tracks are on the {video.size[1]}×{video.size[0]} frames the app decoded")
    query_frame = int(query_frame)
    if not 0 <= query_frame < frames.shape[0]:
        raise InputError(f"query frame {query_frame} is outside the frames 0..{frames.shape[0] - 1}")
    mask = None
    if mask_image is not None:
        mask, more = mask_on_frames(mask_image, video.size, video.source_size)
        notices += more
        if not mask.any():
            raise InputError("the mask is empty: paint over the region to track, or clear it to track everything")
    if mask is None:
        notices.append("no region painted or uploaded: tracked the whole frame")
    report(0.02, f"loading {model}")
    configured_tracker(service, model, initializer, num_tracks, max_side)  # load before any GPU worker forks
    # ZeroGPU pickles the arguments; a progress closure does not pickle.
    track_progress = None if on_zero_gpu() else (lambda f, d="": report(0.05 + 0.8 * f, d))
    tic = time.perf_counter()
    result = _dense_on_device(id(service), os.path.abspath(path), len(frames), mask, query_frame, model,
                              initializer, int(num_tracks), int(max_side), track_progress)
    seconds = time.perf_counter() - tic
    if hasattr(service, "estimates"):  # later estimates follow this machine's speed
        service.estimates.observe(model, service.workload(path, dense=True, num_tracks=num_tracks,
                                                          work_side=max_side, max_frames=len(frames)), seconds)
    out_dir = service.new_output_dir()
    stem = safe_stem(path)
    report(0.86, "saving the dense tracks")
    npz = result.save(out_dir / f"{stem}_dense.npz")
    mask_png = None
    if mask is not None:
        mask_png = out_dir / f"{stem}_mask.png"
        png = cv2.imencode(".png", mask.astype(np.uint8) * 255)[1]
        with atomic_path(mask_png) as tmp:
            tmp.write_bytes(png.tobytes())
    mode = mode or dense_default_mode(mask is not None)
    report(0.9, f"drawing {mode}")
    drawn = rerender(service, path, str(npz), mode, {})
    return DenseOutput(result, npz, drawn.path, mode, mask_png, seconds, notices)
