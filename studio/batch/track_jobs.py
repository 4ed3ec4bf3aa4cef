"""One batch item: read a video, make its queries, track, write its files (the ``track`` command's path).

``TrackWorker`` is what every engine slot builds once (the model loads in its
constructor) and then calls per video. It goes through ``studio.pipeline``
exactly as ``python -m studio track`` does, so a batch file equals the file the
single-video command writes for the same video and queries.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.results import InputError

NAMES_FORMAT = "tracking-studio/point-names"


@dataclass(frozen=True)
class TrackSettings:
    """What every item of a batch shares.

    Queries come from exactly one of ``grid`` (an N x N grid), ``points`` (the
    ``"t,x,y; ..."`` text, the same points for every video) or ``labelme_dir``
    (each video's own labelme file); ``frame`` is the frame the grid or the
    labelme points are placed on; ``options`` are the model's constructor options
    (``--option KEY=VALUE``) as sorted pairs.
    """

    model: str
    grid: int | None = None
    points: str | None = None
    labelme_dir: str | None = None
    frame: int = 0
    checkpoint: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    max_frames: int | None = None
    max_side: int | None = None
    tail: int = 8
    fmt: str = "npz"

    def __post_init__(self) -> None:
        given = [x is not None for x in (self.grid, self.points, self.labelme_dir)]
        if sum(given) != 1:
            raise InputError("give exactly one of --grid N, --points \"t,x,y; ...\" or --labelme-dir DIR")
        if self.grid is not None and self.grid < 1:
            raise InputError(f"--grid must be at least 1, got {self.grid}")
        if self.frame < 0:
            raise InputError(f"--frame must be 0 or more, got {self.frame}")
        if self.points is not None:
            from studio.queries import parse_points

            parse_points(self.points)  # a typo fails now, not once per video

    def queries_text(self) -> str:
        if self.grid is not None:
            return f"grid {self.grid} on frame {self.frame}"
        if self.points is not None:
            return "points " + "; ".join(",".join(f"{v:g}" for v in row) for row in self.point_queries())
        return f"labelme on frame {self.frame}"

    def point_queries(self) -> np.ndarray:
        """The ``--points`` queries, float32 [N, 3] ``(t, x, y)``."""
        from studio.queries import parse_points

        return parse_points(self.points)

    def key(self) -> dict[str, Any]:
        """What must match for an earlier result to count as done (the manifest's ``settings``)."""
        return {"model": self.model, "checkpoint": self.checkpoint, "options": dict(self.options),
                "queries": self.queries_text(),
                "max_frames": self.max_frames, "max_side": self.max_side, "format": self.fmt}


@dataclass(frozen=True)
class TrackTask:
    """One video and where its files go (absolute paths; ``video`` / ``names`` None when not wanted)."""

    input: str
    output: str
    video: str | None = None
    names: str | None = None
    labelme: str | None = None


class TrackWorker:
    """Builds the tracker once; ``worker(task)`` tracks one video and writes its files."""

    def __init__(self, settings: TrackSettings):
        from studio.registry import create_tracker

        self.settings = settings
        self.tracker = create_tracker(settings.model, checkpoint=settings.checkpoint, **dict(settings.options))

    def queries(self, task: TrackTask, video) -> tuple[np.ndarray, list[str] | None, list[str]]:
        """``(queries [N, 3] (t, x, y) in source pixels, point names or None, notices)`` for one video."""
        from studio.pipeline import grid_for

        s = self.settings
        if s.grid is not None:
            return grid_for(video, s.grid, s.frame), None, []
        if s.points is not None:
            return s.point_queries(), None, []
        from studio.io.labelme import read_labelme_points

        names, xy, notices = read_labelme_points(task.labelme, frame_size=tuple(video.source_size))
        t = np.full((len(xy), 1), s.frame, np.float32)
        return np.concatenate([t, xy], axis=1), names, notices

    def __call__(self, task: TrackTask) -> dict[str, Any]:
        from studio.io.video import read_video
        from studio.pipeline import save_outputs, track_video

        s = self.settings
        video = read_video(task.input, max_frames=s.max_frames, max_side=s.max_side)
        queries, names, notices = self.queries(task, video)
        run = track_video(video, queries, s.model, tracker=self.tracker)
        for path in (task.output, task.video, task.names):
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_outputs(video, run.result, task.output, task.video, tail=s.tail)
        if names is not None and task.names:
            write_names(task.names, names, task.labelme)
        return {
            "frames": run.result.num_frames,
            "points": run.result.num_points,
            "track_seconds": round(run.seconds, 4),
            "notices": list(video.notices) + notices,
        }


def write_names(path: str | os.PathLike, names: list[str], source: str | None = None) -> Path:
    """Point names beside a track file, in track order: ``{"format", "version", "names", "source"}``.

    Track files have no field for names yet, so they travel in this small JSON file.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"format": NAMES_FORMAT, "version": 1, "names": list(names), "source": source}, f, indent=1)
    os.replace(tmp, path)
    return path
