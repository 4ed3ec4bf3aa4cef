"""Regenerate the bundled example clips: `python examples/make_examples.py`.

Each clip is a real photo (matplotlib's Grace Hopper sample) moved by a known
homography with a textured disc sweeping across, so exact ground truth exists;
`<name>_truth.npz` holds it for a 6x6 grid on frame 0 in the track-file layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.io.trackfile import save_tracks
from studio.io.video import write_video
from studio.queries import grid_queries
from studio.results import TrackResult
from studio.synthetic import make_clip

HERE = Path(__file__).resolve().parent

CLIPS = {
    # name: (motion, frames, (H, W), speed)
    "hopper_orbit": ("mixed", 48, (360, 480), 1.0),
    "hopper_pan": ("translate", 36, (272, 480), 1.5),
}


def main() -> None:
    for name, (motion, frames, size, speed) in CLIPS.items():
        clip = make_clip(motion, num_frames=frames, size=size, speed=speed, fps=24.0)
        write_video(HERE / f"{name}.mp4", clip.video, clip.fps, crf=23)
        q = grid_queries(size, 6, 0)
        tracks, visible = clip.ground_truth(q)
        save_tracks(
            TrackResult(tracks, visible, q, fps=clip.fps, size=size, model="ground-truth"),
            HERE / f"{name}_truth.npz",
        )
        print(name, clip.video.shape, (HERE / f"{name}.mp4").stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main()
