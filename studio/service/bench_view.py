"""The Benchmark tab's viewer: ground truth beside the prediction for chosen queries of one video of a run.

Reads the per-video predictions a run saved (``studio.service.bench_job``) and
decodes only the chosen video's frames from the dataset files (the last one is
cached).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.benchmark.datasets.tapvid import DatasetError, TapVidDataset
from studio.benchmark.protocol import PreparedVideo, prepare_video
from studio.io.guards import NpzFile
from studio.results import InputError


def parse_point_selection(text: str, count: int, default: int = 10) -> np.ndarray:
    """Query indices from text: ``first 10``, ``all``, ``3, 5, 8-12`` (empty = the first ``default``).

    Raises:
      InputError: unreadable text or an index outside ``0..count-1``.
    """
    t = (text or "").strip().lower()
    if count <= 0:
        raise InputError("this video has no queries")
    if not t:
        return np.arange(min(default, count))
    if t == "all":
        return np.arange(count)
    m = re.fullmatch(r"first\s*(\d+)", t)
    if m:
        k = int(m.group(1))
        if k < 1:
            raise InputError("choose at least one point")
        return np.arange(min(k, count))
    out: list[int] = []
    for part in re.split(r"[,\s]+", t):
        if not part:
            continue
        r = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not r:
            raise InputError(
                f"cannot read {part!r} as point indices; write e.g. 'first 10', 'all' or '0, 3, 5-8'"
            )
        a, b = int(r.group(1)), int(r.group(2) or r.group(1))
        if b < a:
            a, b = b, a
        if b >= count:
            raise InputError(f"point {b} does not exist: this video has queries 0..{count - 1}")
        out += range(a, b + 1)
    return np.array(list(dict.fromkeys(out)), dtype=int)


@dataclass
class ViewData:
    """One video of a run, ready to draw: frames and tracks in working-video pixels."""

    name: str
    model: str
    frames: np.ndarray
    queries: np.ndarray
    pred_tracks: np.ndarray
    pred_visible: np.ndarray
    gt_tracks: np.ndarray
    gt_visible: np.ndarray
    names: list[str] | None = None  # each query's ground-truth track name (COCO-17 names draw a skeleton)


_VIEW_CACHE: dict[tuple, PreparedVideo] = {}


def load_view(state: dict[str, Any], model: str, video: str) -> ViewData:
    """The frames and tracks of one video of a run; only that video is decoded (the last one is cached).

    Raises:
      InputError: no run, or a model/video not in it. DatasetError: the dataset files are gone.
    """
    if not state or not state.get("predictions"):
        raise InputError("run a benchmark first")
    preds = state["predictions"].get(model)
    if preds is None:
        raise InputError(f"{model!r} is not in the last run; choose one of {', '.join(state['predictions'])}")
    if video not in preds:
        raise InputError(f"video {video!r} was not scored for {model} in the last run")
    npz_path = Path(preds[video])
    if not npz_path.is_file():
        raise InputError("the last run's files were cleaned up; run the benchmark again")
    res = tuple(state["resolution"]) if state.get("resolution") else None
    key = (tuple(state["files"]), video, state["query_mode"], res)
    prepared = _VIEW_CACHE.get(key)
    if prepared is None:
        files = [Path(f) for f in state["files"]]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise InputError(f"the dataset files are gone ({', '.join(missing)}); upload them and run again")
        ds = TapVidDataset(files[0], files)  # limits from the environment, as the run's
        for item in ds.items():
            if item.video.name == video:
                prepared = prepare_video(item.video, state["query_mode"], res)
                break
        if prepared is None:
            raise DatasetError(f"video {video!r} is no longer in the dataset files")
        _VIEW_CACHE.clear()
        _VIEW_CACHE[key] = prepared
    with NpzFile(npz_path) as z:
        data = {k: z[k] for k in z.files}
    if len(data["queries"]) != len(prepared.queries):
        raise InputError("the saved predictions do not match the dataset files; run the benchmark again")
    names = [prepared.names[i] for i in prepared.track_index] if prepared.names is not None else None
    return ViewData(video, model, prepared.video, data["queries"], data["pred_tracks"], data["pred_visible"],
                    data["gt_tracks"], data["gt_visible"], names)


def comparison_frames(view: ViewData, indices: np.ndarray, min_side: int = 256, tail: int = 4) -> np.ndarray:
    """Side-by-side frames: ground truth (left) and prediction (right) for the chosen queries.

    Both panels use the studio's point renderer with one colour per query: a filled
    disc where the point is visible, a ring where it is occluded. On the prediction
    panel a thin white line joins each point to its ground-truth position (where the
    ground truth is visible), so the error shows as a line's length.

    Returns:
      uint8 [T, H', 2 W' + gap, 3], frames upscaled so the shorter side is at least ``min_side``.
    """
    import cv2

    from studio.render.points import draw_points, point_colors

    frames = view.frames
    t_len, h, w, _ = frames.shape
    scale = max(1, math.ceil(min_side / min(h, w)))
    if scale > 1:
        frames = np.stack([cv2.resize(f, (w * scale, h * scale), interpolation=cv2.INTER_LINEAR) for f in frames])

    def up(xy: np.ndarray) -> np.ndarray:
        # Pixel centres: x_up = (x + 0.5) * s - 0.5.
        return (xy[:, indices].astype(np.float64) + 0.5) * scale - 0.5

    gt, pred = up(view.gt_tracks), up(view.pred_tracks)
    gt_vis, pred_vis = view.gt_visible[:, indices], view.pred_visible[:, indices]
    colors = point_colors(len(indices))
    radius = max(3.0, min(frames.shape[1:3]) / 80)
    names = [view.names[i] for i in indices] if view.names is not None else None
    left = draw_points(frames, gt, gt_vis, tail=tail, radius=radius, colors=colors, names=names)
    right = frames.copy()
    shift = 4
    for t in range(t_len):
        for j in np.flatnonzero(gt_vis[t]):
            a = tuple(round(v * (1 << shift)) for v in gt[t, j])
            b = tuple(round(v * (1 << shift)) for v in pred[t, j])
            cv2.line(right[t], a, b, (255, 255, 255), 1, cv2.LINE_AA, shift)
    right = draw_points(right, pred, pred_vis, tail=tail, radius=radius, colors=colors, names=names)
    base = left.shape[1] - 8  # captions at the bottom: players put their own labels at the top
    for panel, text in ((left, "ground truth"), (right, f"prediction: {view.model}")):
        for t, f in enumerate(panel):
            for txt, org in ((text, (6, base)), (f"{t}", (f.shape[1] - 8 - 9 * len(str(t)), base))):
                cv2.putText(f, txt, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(f, txt, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    gap = np.full((t_len, left.shape[1], 8, 3), 255, np.uint8)
    return np.concatenate([left, gap, right], axis=2)


def view_summary(view: ViewData, indices: np.ndarray) -> str:
    """Markdown: which points are shown and their error (working pixels) where the ground truth is visible."""
    gt_vis = view.gt_visible[:, indices]
    err = np.linalg.norm(view.pred_tracks[:, indices] - view.gt_tracks[:, indices], axis=-1)
    err = err[gt_vis & np.isfinite(err)]
    agree = (view.pred_visible[:, indices] == gt_vis).mean() * 100 if gt_vis.size else math.nan
    h, w = view.frames.shape[1:3]
    shown = ", ".join(str(i) for i in indices[:20]) + (f", … ({len(indices)} in all)" if len(indices) > 20 else "")
    text = (f"**{view.name}**, {view.model}: queries {shown} of {len(view.queries)}; "
            f"{view.frames.shape[0]} frames at {w}×{h}. ")
    if err.size:
        text += (f"Error where the point is visible: median {np.median(err):.2f} px, "
                 f"mean {err.mean():.2f} px; visibility agrees on {agree:.0f}% of frames.")
    return text


def render_comparison(view: ViewData, indices: np.ndarray, out_dir: str | os.PathLike, frame: int | None = None,
                      fps: float = 8.0) -> tuple[Path, np.ndarray]:
    """The side-by-side view as an MP4 in ``out_dir`` and one still frame (default: the middle one)."""
    from studio.io.video import write_video

    frames = comparison_frames(view, indices)
    t = frames.shape[0] // 2 if frame is None else int(np.clip(frame, 0, frames.shape[0] - 1))
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{view.model}_{view.name}")[:80]
    path = Path(write_video(Path(out_dir) / f"{stem}_gt_vs_pred.mp4", frames, fps))
    return path, frames[t]
