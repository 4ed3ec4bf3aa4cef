"""The TAP-Vid evaluation protocol: how a dataset video is posed to a tracker and scored.

It follows the TAP-Vid reference: the video is resized to 256x256, ground truth
is scaled to 256x256 raster pixels (normalised x 256), queries are sampled
``first`` (first visible frame of each track) or ``strided`` (every visible point
on frames 0, 5, 10, ...), and metrics are computed in those 256x256 pixels.
Trackers get studio queries ``(t, x, y)`` (integer = pixel centre,
``studio.conventions``) and their tracks are mapped back to 256x256 raster pixels
for the metrics (``studio.benchmark.metrics``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.benchmark.datasets.tapvid import TapVidVideo
from studio.conventions import pixels_to_tapvid, tapvid_to_pixels

METRIC_SIZE: tuple[int, int] = (256, 256)
"""``(H, W)`` of the pixel space TAP-Vid metrics are defined in."""

QUERY_STRIDE = 5
"""Frame stride of ``strided`` query sampling in the reference protocol."""


@dataclass
class QuerySet:
    """Queries sampled from ground-truth tracks, one GT track per query.

    Attributes:
      frames: [M] int query frame.
      xy: [M, 2] ``(x, y)`` at the query frame, in the coordinates of ``points``.
      points: [M, T, 2] the ground-truth track of each query (duplicated in strided mode).
      occluded: [M, T] bool.
      track_index: [M] index of the source track (``trackgroup`` in the reference).
    """

    frames: np.ndarray
    xy: np.ndarray
    points: np.ndarray
    occluded: np.ndarray
    track_index: np.ndarray

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def sample_queries_first(occluded: np.ndarray, points: np.ndarray) -> QuerySet:
    """One query per track at its first visible frame; never-visible tracks are dropped.

    Args:
      occluded: [N, T] bool.
      points: [N, T, 2] ``(x, y)`` in any units.
    """
    visible = ~np.asarray(occluded, dtype=bool)
    keep = np.nonzero(visible.any(axis=1))[0]
    frames = np.argmax(visible[keep], axis=1)
    return QuerySet(frames, points[keep, frames], points[keep], ~visible[keep], keep)


def sample_queries_strided(occluded: np.ndarray, points: np.ndarray, stride: int = QUERY_STRIDE) -> QuerySet:
    """A query for every track visible at frames 0, stride, 2*stride, ...; grouped by frame.

    Args:
      occluded: [N, T] bool.
      points: [N, T, 2] ``(x, y)`` in any units.
      stride: frame step (5 in the reference protocol).
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    occluded = np.asarray(occluded, dtype=bool)
    starts = np.arange(0, occluded.shape[1], stride)
    # nonzero on [frame, track] orders queries by frame, then track, as the reference does.
    f_idx, tracks = np.nonzero(~occluded[:, starts].T)
    frames = starts[f_idx]
    return QuerySet(frames, points[tracks, frames], points[tracks], occluded[tracks], tracks)


def sample_queries(occluded: np.ndarray, points: np.ndarray, query_mode: str, stride: int = QUERY_STRIDE) -> QuerySet:
    """``sample_queries_first`` or ``sample_queries_strided`` by name."""
    if query_mode == "first":
        return sample_queries_first(occluded, points)
    if query_mode == "strided":
        return sample_queries_strided(occluded, points, stride)
    raise ValueError(f"Unknown query mode {query_mode!r}; expected 'first' or 'strided'")


def resize_video(video: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize every frame to ``size = (H, W)`` with a Lanczos filter (as the reference's mediapy does)."""
    from PIL import Image

    h, w = size
    if video.shape[1:3] == (h, w):
        return video
    out = np.empty((video.shape[0], h, w, 3), np.uint8)
    for i, frame in enumerate(video):
        out[i] = np.asarray(Image.fromarray(frame).resize((w, h), resample=Image.Resampling.LANCZOS))
    return out


@dataclass
class PreparedVideo:
    """A video ready for a tracker and for ``compute_tapvid_metrics``.

    Attributes:
      name: video name.
      video: uint8 [T, H, W, 3] at the working resolution the tracker sees.
      queries: float32 [M, 3] studio queries ``(t, x, y)`` in working-video pixels
        (integer = pixel centre), clipped onto the frame.
      query_points: float64 [M, 3] ``(t, y, x)`` in 256x256 raster pixels (reference layout).
      gt_tracks: float64 [M, T, 2] ``(x, y)`` ground truth in 256x256 raster pixels.
      gt_occluded: bool [M, T].
      track_index: [M] source track of each query.
      source_size: ``(H, W)`` of the stored video.
      names: the dataset's N track names, when it has them (pose metrics need them).
      truth_points: with ``names``: all N ground-truth tracks [N, T, 2], normalised (pose boxes).
      truth_occluded: with ``names``: [N, T] bool.
    """

    name: str
    video: np.ndarray
    queries: np.ndarray
    query_points: np.ndarray
    gt_tracks: np.ndarray
    gt_occluded: np.ndarray
    track_index: np.ndarray
    source_size: tuple[int, int]
    names: list[str] | None = None
    truth_points: np.ndarray | None = None
    truth_occluded: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        return int(self.video.shape[1]), int(self.video.shape[2])


def prepare_video(
    record: TapVidVideo,
    query_mode: str,
    resolution: tuple[int, int] | None = METRIC_SIZE,
    stride: int = QUERY_STRIDE,
) -> PreparedVideo:
    """Decode, resize and sample queries for one video, as the reference protocol does.

    Args:
      record: a validated video.
      query_mode: ``"first"`` or ``"strided"``.
      resolution: ``(H, W)`` the tracker works at; ``(256, 256)`` is the standard
        protocol, None keeps the stored resolution ("full resolution", reported as
        a separate category; metrics are still in 256x256 pixels).
      stride: strided-mode frame step.

    Returns:
      ``PreparedVideo``.
    """
    frames = record.frames()
    source_size = (int(frames.shape[1]), int(frames.shape[2]))
    if resolution is not None:
        frames = resize_video(frames, resolution)
    size = (int(frames.shape[1]), int(frames.shape[2]))
    qs = sample_queries(record.occluded, np.asarray(record.points, dtype=np.float64), query_mode, stride)
    mh, mw = METRIC_SIZE
    scale = np.array([mw, mh], dtype=np.float64)
    gt_tracks = qs.points * scale  # normalised -> 256x256 raster, as the reference scales by the frame size
    q_raster = qs.xy * scale
    query_points = np.stack([qs.frames.astype(np.float64), q_raster[:, 1], q_raster[:, 0]], axis=-1)
    xy = tapvid_to_pixels(qs.xy, size)
    # Annotations may sit a fraction of a pixel outside the image; a tracker needs the query on it.
    xy = np.clip(xy, -0.5, np.array([size[1] - 0.5, size[0] - 0.5], dtype=np.float32))
    queries = np.concatenate([qs.frames[:, None].astype(np.float32), xy], axis=-1).astype(np.float32)
    return PreparedVideo(
        name=record.name,
        video=frames,
        queries=queries,
        query_points=query_points.reshape(-1, 3),
        gt_tracks=gt_tracks.reshape(-1, record.num_frames, 2),
        gt_occluded=qs.occluded.reshape(-1, record.num_frames),
        track_index=qs.track_index,
        source_size=source_size,
        names=record.names,
        truth_points=np.asarray(record.points, np.float64) if record.names is not None else None,
        truth_occluded=np.asarray(record.occluded, bool) if record.names is not None else None,
    )


def tracks_to_metric_space(tracks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Studio tracks [T, M, 2] in pixels of a ``size = (H, W)`` video -> [M, T, 2] 256x256 raster pixels."""
    norm = pixels_to_tapvid(tracks, size).astype(np.float64)
    mh, mw = METRIC_SIZE
    return np.swapaxes(norm * np.array([mw, mh], dtype=np.float64), 0, 1)
