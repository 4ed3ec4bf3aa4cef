"""Ground truth for a clip being compared: a TAP-Vid file or a studio track file, and its metrics.

* A **TAP-Vid file** (``.pkl`` / ``.npz`` in any layout ``studio.benchmark.datasets`` reads)
  holding the clip: its normalised points become the video's pixels; queries are sampled as
  the protocol's ``first`` mode does (each track at its first visible frame) and scored on
  the frames after it.
* A **studio track file** (``.npz`` / ``.csv`` / ``.json``, e.g. ``examples/*_truth.npz`` or
  any tracks you corrected): its queries are used as they are and every frame but a
  track's query frame is scored (the protocol's ``strided`` rule, since queries may sit
  anywhere in the clip).

Scores are the TAP-Vid metrics (``studio.benchmark.metrics``) in 256x256 pixels, as the
Benchmark tab reports them at full resolution.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.benchmark.datasets.tapvid import DATASET_SUFFIXES, open_dataset
from studio.benchmark.metrics import compute_tapvid_metrics
from studio.benchmark.protocol import sample_queries_first, tracks_to_metric_space
from studio.conventions import rescale_pixels, tapvid_to_pixels
from studio.limits import Limits
from studio.results import InputError, TrackResult


@dataclass
class Truth:
    """Ground truth in the source video's pixels.

    Attributes:
      queries: [N, 3] float32 ``(t, x, y)``.
      tracks: [T, N, 2] float32 ``(x, y)``.
      visible: [T, N] bool.
      query_mode: ``"first"`` (score frames after each query) or ``"strided"`` (all but the query frame).
      source: where it came from, for reports.
    """

    queries: np.ndarray
    tracks: np.ndarray
    visible: np.ndarray
    query_mode: str
    source: str

    def score(self, result: TrackResult, size: tuple[int, int]) -> dict[str, float]:
        """TAP-Vid metrics of ``result`` (tracks for ``queries`` in pixels of a ``size`` video).

        Returns:
          ``average_jaccard``, ``average_pts_within_thresh``, ``occlusion_accuracy`` and the
          per-threshold numbers, as fractions in [0, 1].
        """
        gt = tracks_to_metric_space(self.tracks, size)  # [N, T, 2]
        q = tracks_to_metric_space(self.queries[None, :, 1:], size)[:, 0]  # [N, 2] (x, y)
        query_points = np.stack([self.queries[:, 0].astype(np.float64), q[:, 1], q[:, 0]], axis=-1)
        metrics = compute_tapvid_metrics(
            query_points[None], ~self.visible.T[None], gt[None],
            ~np.asarray(result.visible, bool).T[None], tracks_to_metric_space(result.tracks, size)[None],
            self.query_mode,
        )
        return {k: float(v[0]) for k, v in metrics.items()}


def load_truth(path: str | os.PathLike, size: tuple[int, int], num_frames: int, video_name: str | None = None,
               limits: Limits | None = None) -> Truth:
    """Ground truth for a video of ``size = (H, W)`` source pixels and ``num_frames`` frames.

    Args:
      path: a TAP-Vid dataset file or a studio track file.
      size: the source video's ``(H, W)``.
      num_frames: frames of the video as read (a longer truth is cut to them).
      video_name: which video of a TAP-Vid file holding several (default: the only one).
      limits: what the file may declare (default: from the environment; ``studio.limits``).

    Raises:
      InputError: unreadable file, no usable track, a frame count or video name that does not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"ground-truth file {path.name!r} does not exist")
    if path.suffix.lower() in (".csv", ".json") or (path.suffix.lower() == ".npz" and _is_track_file(path)):
        return _from_track_file(path, size, num_frames, limits)
    if path.suffix.lower() not in DATASET_SUFFIXES:
        raise InputError(f"ground truth must be a TAP-Vid .pkl/.npz or a track file (.npz/.csv/.json), "
                         f"got {path.name!r}")
    return _from_tapvid(path, size, num_frames, video_name, limits)


def _is_track_file(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return {"tracks.npy", "visible.npy", "queries.npy"} <= names


def _from_track_file(path: Path, size: tuple[int, int], num_frames: int, limits: Limits | None) -> Truth:
    from studio.io.trackfile import load_tracks

    r = load_tracks(path, limits)
    tracks, queries = r.tracks, r.queries.copy()
    if min(r.size) > 0 and tuple(r.size) != tuple(size):
        tracks = rescale_pixels(tracks, tuple(r.size), tuple(size))
        queries[:, 1:] = rescale_pixels(queries[:, 1:], tuple(r.size), tuple(size))
    return _cut(queries, tracks, r.visible, num_frames, "strided", path.name)


def _from_tapvid(path: Path, size: tuple[int, int], num_frames: int, video_name: str | None,
                 limits: Limits | None) -> Truth:
    videos = list(open_dataset(path, limits))
    if video_name:
        videos = [v for v in videos if v.name == video_name]
        if not videos:
            raise InputError(f"{path.name} has no video named {video_name!r}")
    elif len(videos) != 1:
        names = ", ".join(v.name for v in videos[:8])
        raise InputError(f"{path.name} holds {len(videos)} videos ({names}...): name the one this clip is")
    record = videos[0]
    qs = sample_queries_first(record.occluded, np.asarray(record.points, np.float64))
    if len(qs) == 0:
        raise InputError(f"{path.name}: no track is visible in any frame")
    tracks = tapvid_to_pixels(np.swapaxes(qs.points, 0, 1), size)  # [T, N, 2]
    queries = np.concatenate([qs.frames[:, None], tapvid_to_pixels(qs.xy, size)], axis=1).astype(np.float32)
    h, w = size
    queries[:, 1:] = np.clip(queries[:, 1:], -0.5, [w - 0.5, h - 0.5])
    return _cut(queries, tracks, ~qs.occluded.T, num_frames, "first", f"{path.name}:{record.name}")


def _cut(queries, tracks, visible, num_frames: int, mode: str, source: str) -> Truth:
    if tracks.shape[0] < num_frames:
        raise InputError(f"the ground truth ({source}) has {tracks.shape[0]} frames but the video has {num_frames}")
    keep = queries[:, 0] < num_frames
    if not keep.any():
        raise InputError(f"no ground-truth query lies in the first {num_frames} frames")
    return Truth(queries[keep].astype(np.float32), tracks[:num_frames, keep].astype(np.float32),
                 np.asarray(visible)[:num_frames, keep].astype(bool), mode, source)


METRICS_SHOWN = (("average_jaccard", "AJ"), ("average_pts_within_thresh", "δavg"), ("occlusion_accuracy", "OA"))
"""The metrics a comparison table shows, with their column names."""
