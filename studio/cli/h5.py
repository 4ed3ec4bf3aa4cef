"""``python -m studio h5 info|export-videos|add-keypoints``: HDF5 robot logs (``studio.io.h5log``).

* ``h5 info LOG.h5``: steps, cameras, image size, frame rate, keypoints already written.
* ``h5 export-videos LOG.h5 --out DIR``: one H.264 mp4 per camera.
* ``h5 add-keypoints LOG.h5 TRACKS --camera C --out OUT.h5``: a copy of the log with
  ``step_<i>/obs/keypoints`` float32 [1, cameras, N, 3] = (x, y, visible) for camera C
  (NaN for the others); run it again with another camera and the same ``--out`` to
  fill that one in too. The log itself is never changed.

Tracking a camera is ``python -m studio track LOG.h5 --camera C ...``.
"""

from __future__ import annotations

import argparse
import sys


def cmd_info(args: argparse.Namespace) -> int:
    from studio.io.h5log import read_keypoints, read_layout

    layout = read_layout(args.log)
    h, w = layout.size
    fps = f"{layout.fps:g} fps" if layout.fps else "no frame rate stated"
    print(f"{layout.path.name}: {layout.num_steps} steps, {layout.cameras} camera(s) of {w}x{h}, {fps}")
    try:
        names, kps = read_keypoints(layout.path)
    except ValueError:
        print("no obs/keypoints")
        return 0
    import numpy as np

    tracked = [c for c in range(layout.cameras) if np.isfinite(kps[:, c]).any()]
    print(f"obs/keypoints: {kps.shape[2]} points ({', '.join(names[:8])}{', ...' if len(names) > 8 else ''}) "
          f"for cameras {', '.join(map(str, tracked)) or 'none'}")
    return 0


def cmd_export_videos(args: argparse.Namespace) -> int:
    from studio.io.h5log import export_videos
    from studio.progress import tqdm_progress

    bar, progress = tqdm_progress("exporting cameras")
    try:
        written = export_videos(args.log, args.out_dir, progress)
    finally:
        bar.close()
    for path in written:
        print(f"video  -> {path}")
    return 0


def cmd_add_keypoints(args: argparse.Namespace) -> int:
    from studio.io.h5log import add_keypoints
    from studio.io.trackfile import load_tracks

    tracks = load_tracks(args.tracks)
    out, notes = add_keypoints(args.log, tracks, args.camera, args.h5_out)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"log    -> {out}")
    return 0


def add_h5_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``h5`` command to the CLI's subparsers; returns its parser."""
    from studio.io.h5log import EXPECTED

    h = subparsers.add_parser(
        "h5", help="HDF5 robot logs: export camera videos, write tracked keypoints back",
        description=f"HDF5 robot logs laid out as {EXPECTED}. Track a camera with "
        "'python -m studio track LOG.h5 --camera C'.",
    )
    sub = h.add_subparsers(dest="h5_command", required=True)
    i = sub.add_parser("info", help="steps, cameras, image size and keypoints of a log")
    i.add_argument("log", help="the .h5 log")
    i.set_defaults(func=cmd_info)
    e = sub.add_parser("export-videos", help="write one mp4 per camera")
    e.add_argument("log", help="the .h5 log")
    e.add_argument("--out", dest="out_dir", required=True, help="folder for <log>_camera<c>.mp4")
    e.set_defaults(func=cmd_export_videos)
    a = sub.add_parser(
        "add-keypoints",
        help="write a copy of the log with step_<i>/obs/keypoints from a track file",
        description="Write a copy of LOG with step_<i>/obs/keypoints float32 [1, cameras, N, 3] = (x, y, visible) "
        "in camera C's pixels (integer = pixel centre), NaN for cameras not tracked, point names in the 'names' "
        "attribute. If --out already is such a copy, camera C is filled in and the others are kept.",
    )
    a.add_argument("log", help="the .h5 log (only read)")
    a.add_argument("tracks", help="track file (.npz/.csv/.json) made on camera C of this log, every step")
    a.add_argument("--camera", type=int, required=True, help="the camera the tracks were made on")
    # Not ``out``: the CLI checks ``args.out`` as a track file name (.npz/.csv/.json) before running.
    a.add_argument("--out", dest="h5_out", required=True, help="the .h5 file to write (never the log itself)")
    a.set_defaults(func=cmd_add_keypoints)
    return h
