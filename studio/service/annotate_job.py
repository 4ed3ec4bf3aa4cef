"""The Annotate tab's compute: start, edit, draw, save and reopen an annotation (no gradio here).

The annotation (``studio.annotate.Annotation``) lives in the browser session; the
video stays in the service's decode cache, known by its source string (a file, a
log camera, or a video inside a dataset file when an annotation is reopened).
Proposals are tracked on the working frames (the video as shown, maybe shrunk) and
kept in source pixels, like every track in the studio.

Saved files are TAP-Vid datasets (``studio.benchmark.datasets.build``): the working
frames, the points normalised, ``occluded`` = not visible, the names and the
keyframe codes, as a DAVIS-style ``.pkl`` and a pickle-free ``.npz``; both are what
``python -m studio bench`` and the Benchmark tab score, and what ``open_annotation``
reads back to continue.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.annotate import INTERPOLATE, Annotation
from studio.annotate.draw import draw_annotation
from studio.benchmark.datasets.build import save_dataset, tracks_record
from studio.benchmark.datasets.tapvid import KEYFRAME_HIDDEN, KEYFRAME_PLACED, DatasetError, open_dataset
from studio.conventions import tapvid_to_pixels
from studio.io.sources import dataset_source, source_stem
from studio.pipeline import to_source, to_working
from studio.progress import ProgressFn
from studio.registry import QUERY_KINDS, tracker_info
from studio.results import InputError
from studio.service.outputs import safe_stem


def check_model(model: str | None) -> str:
    """A proposal model: ``INTERPOLATE`` or a registry point tracker / dense model.

    Raises:
      KeyError: unknown name. InputError: a model that does not track queries.
    """
    model = (model or "").strip() or INTERPOLATE
    if model != INTERPOLATE and tracker_info(model).kind not in QUERY_KINDS:
        raise InputError(f"'{model}' is a {tracker_info(model).kind} model; choose a point tracker or 'interpolate'")
    return model


def start(service: Any, source: str, model: str | None = None) -> Annotation:
    """A new, empty annotation of the video ``source`` (decoded now, within the limits)."""
    video = service.load_video(source)
    return Annotation(video.num_frames, tuple(video.source_size), check_model(model))


def tracker_span(service: Any, source: str, model: str):
    """The ``TrackSpan`` that tracks keyframes of ``source`` with ``model`` (None for ``INTERPOLATE``)."""
    if model == INTERPOLATE:
        return None

    def track(lo: int, hi: int, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        video = service.load_video(source)
        part = replace(video, frames=video.frames[lo : hi + 1])
        q = to_working(keys, video)
        q[:, 0] -= lo
        result = service.device_tracker(model).track(part.frames, q)
        return to_source(result.tracks, video), np.asarray(result.visible, bool)

    return track


def place(service: Any, source: str, ann: Annotation, index: int, t: int, x: float, y: float):
    """Place point ``index`` at working-frame pixel ``(x, y)`` on frame ``t``; returns the ``Edit``."""
    sx, sy = service.click_to_source(source, x, y)
    return ann.place(index, t, sx, sy, tracker_span(service, source, ann.model))


def hide(service: Any, source: str, ann: Annotation, index: int, first: int, last: int | None = None):
    return ann.hide(index, first, last, tracker_span(service, source, ann.model))


def clear(service: Any, source: str, ann: Annotation, index: int, t: int):
    return ann.clear(index, t, tracker_span(service, source, ann.model))


def counted_span(track, total: int, progress: ProgressFn | None):
    """``track`` reporting ``progress`` after each keyframe it tracks, out of at most ``total``
    (cached keyframes are not tracked again, so the count may end early)."""
    if track is None or progress is None:
        return track
    done = [0]

    def counted(lo: int, hi: int, keys: np.ndarray):
        out = track(lo, hi, keys)
        done[0] += 1
        progress(min(done[0] / max(total, 1), 1.0), f"proposing: keyframe {done[0]} of up to {total}")
        return out

    return counted


def set_model(service: Any, source: str, ann: Annotation, model: str | None, progress: ProgressFn | None = None):
    """Re-propose every point with ``model``; ``progress`` follows the keyframes tracked."""
    model = check_model(model)
    total = sum(len(p.keys) for p in ann.points)
    edits = ann.set_model(model, counted_span(tracker_span(service, source, model), total, progress))
    if progress is not None:
        progress(1.0, "done")
    return edits


def frame_image(service: Any, source: str, ann: Annotation, t: int, current: int | None = None) -> np.ndarray:
    """Working frame ``t`` with the annotation's points drawn (``studio.annotate.draw``)."""
    frame = service.frame(source, t)
    n = len(ann.points)
    if n == 0:
        return frame
    xy = ann.tracks[int(t)]
    known = np.isfinite(xy).all(axis=-1)
    work = np.full_like(xy, np.nan)
    if known.any():
        q = np.concatenate([np.zeros((known.sum(), 1), np.float32), xy[known]], axis=1)
        work[known] = service.source_to_working(source, q)[:, 1:]
    placed = np.array([int(t) in p.keys for p in ann.points])
    hidden = np.array([int(t) in p.hidden for p in ann.points])
    return draw_annotation(frame, work, ann.visible[int(t)], placed, hidden, ann.names, current)


def save(service: Any, source: str, ann: Annotation, name: str | None = None) -> dict[str, Path]:
    """Write the annotation as ``<name>.pkl`` (DAVIS-style pickle) and ``<name>.npz`` in a new output folder.

    Returns:
      ``{"pkl": path, "npz": path}``.

    Raises:
      InputError: no point, or a point without a keyframe.
    """
    ann.check_complete()
    video = service.load_video(source)
    video_name = (name or "").strip() or source_stem(source)
    record = tracks_record(video.frames, ann.tracks, ann.visible, ann.size, names=ann.names,
                           keyframes=ann.keyframe_codes())
    out_dir = service.new_output_dir()
    stem = safe_stem(video_name)
    return {fmt: save_dataset(out_dir / f"{stem}.{fmt}", {video_name: record}) for fmt in ("pkl", "npz")}


def open_annotation(service: Any, path: str | os.PathLike, video: str | None = None,
                    model: str | None = None, progress: ProgressFn | None = None) -> tuple[str, Annotation, list[str]]:
    """Reopen a saved annotation (or any TAP-Vid file) to continue it.

    Args:
      path: a ``.pkl``/``.npz`` dataset file.
      video: the video's name in it (None = the first).
      model: the proposal model to continue with.
      progress: optional ``ProgressFn`` while the video is read.

    Returns:
      ``(source string, annotation, notices)``; the video is read from the file itself.

    Raises:
      DatasetError: unreadable file or no such video.
    """
    found = None
    names = []
    for item in open_dataset(path).items():
        names.append(item.video.name)
        if video in (None, "", item.video.name):
            found = item.video
            break
    if found is None:
        raise DatasetError(f"{Path(path).name} has no video named {video!r} (it has {', '.join(names[:8])})")
    source = dataset_source(path, found.name)
    loaded = service.load_video(source, progress=progress)
    size = tuple(loaded.source_size)
    tracks = np.swapaxes(tapvid_to_pixels(found.points, size), 0, 1)
    visible = ~np.asarray(found.occluded, bool).T
    ann, notices = Annotation.from_tracks(tracks, visible, size, found.names, found.keyframes, check_model(model))
    if loaded.num_frames != ann.num_frames:
        raise InputError(f"{found.name} has {ann.num_frames} frames, more than the {loaded.num_frames} kept here "
                         "(STUDIO_MAX_FRAMES); it cannot be continued whole")
    placed = int((found.keyframes == KEYFRAME_PLACED).sum()) if found.keyframes is not None else None
    hidden = int((found.keyframes == KEYFRAME_HIDDEN).sum()) if found.keyframes is not None else None
    if placed is not None:
        notices.append(f"{placed} keyframes and {hidden} hidden marks restored")
    return source, ann, notices + list(loaded.notices)


def apply_keyframes(service: Any, source: str, ann: Annotation, points: list[dict],
                    progress: ProgressFn | None = None) -> None:
    """Add points with keyframes and hidden ranges given in source pixels (the ``/annotate`` endpoint).

    Args:
      points: ``[{"name": str, "keys": [[t, x, y], ...], "hidden": [[first, last] or [frame], ...]}, ...]``.
      progress: optional ``ProgressFn`` following the keyframes tracked.
    """
    total = sum(len(spec.get("keys", [])) + len(spec.get("hidden", [])) for spec in points)
    track = counted_span(tracker_span(service, source, ann.model), total, progress)
    for spec in points:
        index = ann.add_point(spec.get("name", ""))
        for t, x, y in spec.get("keys", []):
            ann.place(index, t, float(x), float(y), track)
        for span in spec.get("hidden", []):
            ann.hide(index, span[0], span[-1], track)
