"""Generate the bundled TAP-Vid sample: real-photo clips with exact ground truth.

``python -m studio.benchmark.datasets.make_sample [--out assets/tapvid_sample]`` writes

* ``tapvid_sample.pkl``: the TAP-Vid-DAVIS layout, ``{name: {"video": uint8
  [T, H, W, 3], "points": float32 [N, T, 2] normalised (x, y), "occluded": bool
  [N, T]}}``;
* ``tapvid_sample.npz``: the same videos and tracks in the pickle-free layout,
  frames stored as lossless PNG so the file stays small.

Each video is a crop of a real photograph (Grace Hopper, public domain, shipped
with matplotlib) moved by a known homography, with a textured disc sweeping over
it (``studio.synthetic.make_clip``). Tracks are a grid of scene points on the
first frame plus points that come into view later; their positions and
visibility (inside the frame, not under the disc) are exact. Frames are small
(72x96) to keep both files near 1 MB; the protocol resizes them to 256x256.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

from studio.benchmark.datasets.tapvid import save_npz, save_pickle
from studio.conventions import pixels_to_tapvid
from studio.queries import grid_queries
from studio.synthetic import make_clip, sample_photo

SAMPLE_DIR = Path(__file__).resolve().parents[3] / "assets" / "tapvid_sample"
SAMPLE_PICKLE = SAMPLE_DIR / "tapvid_sample.pkl"
SAMPLE_NPZ = SAMPLE_DIR / "tapvid_sample.npz"

SIZE = (72, 96)
NUM_FRAMES = 12

# (name, motion, speed, crop of the photo as fractions (top, bottom, left, right), occluder)
VIDEOS = (
    ("hopper-translate", "translate", 1.5, (0.0, 1.0, 0.0, 1.0), True),
    ("hopper-rotate", "rotate", 2.0, (0.05, 0.6, 0.2, 0.85), True),
    ("hopper-scale", "scale", 1.5, (0.3, 0.9, 0.1, 0.9), True),
    ("hopper-perspective", "perspective", 1.5, (0.5, 1.0, 0.0, 0.7), True),
    ("hopper-mixed", "mixed", 1.0, (0.0, 0.7, 0.3, 1.0), False),
)


def _crop(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    h, w = image.shape[:2]
    top, bottom, left, right = box
    return image[round(top * h) : round(bottom * h), round(left * w) : round(right * w)]


def make_video(motion: str, speed: float, crop: tuple[float, float, float, float], occluder: bool, seed: int) -> dict:
    """One sample video as a TAP-Vid record ``{"video", "points", "occluded"}``."""
    clip = make_clip(
        motion, num_frames=NUM_FRAMES, size=SIZE, speed=speed, occluder=occluder,
        image=_crop(sample_photo(), crop), seed=seed,
    )
    # Scene points on a grid of the first frame, and points that are only in view at the end.
    first = grid_queries(SIZE, 6, 0, margin=0.06)
    last = grid_queries(SIZE, 4, NUM_FRAMES - 1, margin=0.02)
    queries = np.concatenate([first, last])
    tracks, visible = clip.ground_truth(queries)  # [T, N, 2] pixels, [T, N]
    _, vis_last = clip.ground_truth(last)
    late = ~vis_last[0]  # keep only the late points that were not in view on frame 0
    keep = np.concatenate([np.ones(len(first), bool), late])
    points = pixels_to_tapvid(tracks[:, keep], SIZE).transpose(1, 0, 2)  # -> [N, T, 2] normalised
    return {
        "video": clip.video,
        "points": np.ascontiguousarray(points, dtype=np.float32),
        "occluded": np.ascontiguousarray(~visible[:, keep].T),
    }


def make_sample() -> dict[str, dict]:
    """All sample videos, ``{name: record}`` in the DAVIS layout."""
    return {name: make_video(m, s, c, o, seed=i) for i, (name, m, s, c, o) in enumerate(VIDEOS)}


def _png_frames(video: np.ndarray) -> np.ndarray:
    from PIL import Image

    blobs = []
    for frame in video:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="PNG", optimize=True)
        blobs.append(buf.getvalue())
    return np.array(blobs)


def write_sample(out_dir: str | Path = SAMPLE_DIR) -> list[Path]:
    """Generate the sample and write the pickle and the npz into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    videos = make_sample()
    pkl = save_pickle(out / SAMPLE_PICKLE.name, videos)
    npz = save_npz(out / SAMPLE_NPZ.name, {k: {**v, "video": _png_frames(v["video"])} for k, v in videos.items()})
    return [pkl, npz]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m studio.benchmark.datasets.make_sample", description=__doc__.split("\n")[0]
    )
    p.add_argument("--out", default=str(SAMPLE_DIR), help=f"output folder (default {SAMPLE_DIR})")
    args = p.parse_args(argv)
    for path in write_sample(args.out):
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
