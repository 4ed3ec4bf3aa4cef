"""``python -m studio gt export TRACKS --video VIDEO --out GT.pkl|GT.npz``: ground truth as a TAP-Vid dataset file.

``TRACKS`` is any track file (``.npz``/``.csv``/``.json`` from ``track``, the Track
tab or the Annotate tab) or a PoseTrack-style keypoint ``.json`` (COCO layout with
one image per frame and a ``track_id`` per person). The result is the file the
Benchmark tab and ``python -m studio bench`` score: the video's frames, the tracks
as normalised points, ``occluded`` = not visible, and the point names.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_gt_export(args: argparse.Namespace) -> int:
    from studio.benchmark.datasets.build import save_dataset
    from studio.io.sources import source_label

    record, notices = export_record(args.tracks, args.video, camera=args.camera, max_side=args.max_side)
    for notice in notices:
        print(f"note: {notice}", file=sys.stderr)
    name = args.name or Path(args.video).stem
    out = save_dataset(args.gt_out, {name: record})
    n, t_len = record["occluded"].shape
    h, w = record["video"].shape[1:3]
    print(f"{source_label(args.video)}: {n} tracks x {t_len} frames ({w}x{h}), "
          f"{int((~record['occluded']).sum())} visible positions")
    print(f"dataset -> {out}  (video {name!r})")
    return 0


def export_record(tracks_path: str, video_path: str, camera: int | None = None, max_side: int | None = None):
    """A TAP-Vid record from a track file (or PoseTrack-style JSON) and its video.

    Returns:
      ``(record, notices)``.

    Raises:
      InputError: the tracks do not fit the video (frame count, size), or unreadable files.
    """
    from studio.benchmark.datasets.build import tracks_record
    from studio.io.coco_keypoints import looks_like_coco, read_posetrack
    from studio.io.sources import read_source, source_label
    from studio.io.trackfile import load_tracks
    from studio.results import InputError

    notices: list[str] = []
    if looks_like_coco(tracks_path):
        truth = read_posetrack(tracks_path)
        notices += truth.notices
        tracks, visible, names, size = truth.tracks, truth.visible, truth.names, truth.size
        first = truth.first_frame
    else:
        result = load_tracks(tracks_path)
        tracks, visible, names = result.tracks, result.visible, result.names
        size = tuple(result.size) if min(result.size) > 0 else None
        first = 0
    t_len = tracks.shape[0]
    video = read_source(video_path, max_frames=first + t_len, max_side=max_side, camera=camera)
    notices += [n for n in video.notices if not n.startswith("kept frames")]
    label = source_label(video_path)
    if size is not None and tuple(size) != tuple(video.source_size):
        raise InputError(
            f"the tracks are in pixels of {size[1]}x{size[0]} frames but {label} is "
            f"{video.source_size[1]}x{video.source_size[0]}"
        )
    if video.num_frames < first + t_len:
        raise InputError(f"the tracks cover {first + t_len} frames but {label} has only {video.num_frames}")
    if video.source_frames is not None and video.source_frames > first + t_len:
        notices.append(f"kept frames {first}–{first + t_len - 1} of the video's {video.source_frames} "
                       "(the frames the tracks cover)")
    frames = video.frames[first:first + t_len]
    record = tracks_record(frames, tracks, visible, tuple(video.source_size), names=names)
    return record, notices


def add_gt_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``gt`` command (``gt export``) to the CLI's subparsers; returns its parser."""
    g = subparsers.add_parser("gt", help="ground truth: turn tracks into a TAP-Vid dataset file")
    sub = g.add_subparsers(dest="gt_command", required=True)
    e = sub.add_parser(
        "export",
        help="write a track file (or PoseTrack-style keypoints) and its video as a TAP-Vid .pkl/.npz",
        description=(
            "Turn a track file (.npz/.csv/.json from 'track' or the app) or a PoseTrack-style keypoint .json into "
            "a TAP-Vid dataset file that 'bench' and the Benchmark tab score: .pkl = the DAVIS-style pickle, "
            ".npz = the same without pickle. Visible = ground truth visible; names are kept (COCO-17 names get "
            "pose metrics)."
        ),
    )
    e.add_argument("tracks", help="track file (.npz, .csv, .json) or PoseTrack-style .json")
    e.add_argument("--video", required=True, help="the video the tracks were made on (or an HDF5 log with --camera)")
    # Not ``out``: the CLI checks ``args.out`` as a track file name (.npz/.csv/.json) before running.
    e.add_argument("--out", dest="gt_out", required=True, help="output dataset file: .pkl or .npz")
    e.add_argument("--name", default=None, help="video name inside the dataset (default: the video's file stem)")
    e.add_argument("--camera", type=int, default=None, help="HDF5 log: the camera the tracks were made on")
    e.add_argument("--max-side", type=int, default=None,
                   help="store the frames shrunk to this longer side (points are normalised, so they still fit)")
    e.set_defaults(func=cmd_gt_export)
    return g
