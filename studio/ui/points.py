"""The Track tab's point list: query points with optional names, as the UI keeps, shows and edits them.

A point list is a JSON-ready ``list`` of ``[t, x, y]`` or ``[t, x, y, name]`` rows:
frame index, then *source-video* pixels (integer = pixel centre), then an optional
name. It lives in a ``gr.State``; ``queries`` gives the tracker's ``[N, 3]`` array.
The list is shown as a table (``TABLE_HEADERS``) whose cells the user may edit;
``from_table`` reads an edited table back, checking every cell.

No gradio here, so every rule is testable on its own.
"""

from __future__ import annotations

import math

import numpy as np

from studio.results import InputError

TABLE_HEADERS = ["#", "name", "frame", "x", "y"]
"""Columns of the point table: number (1-based, as drawn next to the marker), name, frame, x, y."""

MAX_NAME = 40
"""Longest point name kept."""


def queries(points: list | None) -> np.ndarray:
    """float32 [N, 3] ``(t, x, y)`` of a point list (names dropped)."""
    rows = [p[:3] for p in points or []]
    return np.asarray(rows, np.float32).reshape(-1, 3)


def names(points: list | None) -> list[str] | None:
    """Each point's name (``""`` for an unnamed one), or None when no point has a name."""
    every = [name_of(p) for p in points or []]
    return every if any(every) else None


def name_of(point: list) -> str:
    """The point's name, or ``""``."""
    return str(point[3]) if len(point) > 3 and point[3] is not None else ""


def label_of(points: list, i: int) -> str:
    """What is drawn next to point ``i``'s marker: its name, else its number (1-based)."""
    return name_of(points[i]) or str(i + 1)


def make_point(t: int, x: float, y: float, name: str = "") -> list:
    """One row: ``[t, x, y]`` (coordinates rounded to 1/1000 px), with the name when there is one."""
    row = [int(t), round(float(x), 3), round(float(y), 3)]
    name = clean_name(name)
    return row + [name] if name else row


def clean_name(name) -> str:
    """A name as kept: text, trimmed, at most ``MAX_NAME`` characters; anything empty is no name."""
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return ""
    return str(name).strip()[:MAX_NAME]


def table(points: list | None) -> list[list]:
    """The point list as table rows ``[#, name, frame, x, y]``."""
    return [[i + 1, name_of(p), int(p[0]), round(float(p[1]), 2), round(float(p[2]), 2)]
            for i, p in enumerate(points or [])]


def _number(value, what: str, row: int) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"point {row}: {what} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise InputError(f"point {row}: {what} must be a finite number, got {value!r}")
    return v


def from_table(rows, points: list | None, num_frames: int, size: tuple[int, int]) -> list:
    """An edited point table -> a new point list.

    Rows keep their order; a row whose ``#`` is empty was added in the table. Names,
    frames and coordinates are taken from the cells and checked.

    Args:
      rows: the table's rows (lists, or anything ``tolist()`` turns into lists).
      points: the point list the table was made from (kept when the table is unchanged).
      num_frames: frames of the video; a frame must be ``0..num_frames-1``.
      size: ``(H, W)`` of the source video; a point must lie on it.

    Returns:
      The new point list.

    Raises:
      InputError: a cell that is not a number, a frame the video does not have, a point off the frame.
    """
    if hasattr(rows, "values"):  # a pandas DataFrame
        rows = rows.values.tolist()
    h, w = size
    out = []
    for k, row in enumerate(rows or [], start=1):
        row = list(row) + [None] * (len(TABLE_HEADERS) - len(row))
        _, name, t, x, y = row[: len(TABLE_HEADERS)]
        if all(v in (None, "") for v in (t, x, y)) and not clean_name(name):
            continue  # an empty row
        t_val = _number(t, "frame", k)
        if t_val != int(t_val) or not 0 <= t_val < num_frames:
            raise InputError(f"point {k}: frame must be a whole number 0..{num_frames - 1}, got {t}")
        x_val, y_val = _number(x, "x", k), _number(y, "y", k)
        if not (-0.5 <= x_val <= w - 0.5 and -0.5 <= y_val <= h - 0.5):
            raise InputError(f"point {k}: ({x_val:g}, {y_val:g}) is off the {w}×{h} frame")
        out.append(make_point(int(t_val), x_val, y_val, clean_name(name)))
    return out


def summary(points: list | None, selected: int | None = None) -> str:
    """Markdown: how many points on which frames, e.g. ``3 points: frame 0 (2), frame 12 (1)``, and what the
    selected point is and what a click does now."""
    if not points:
        return "No points yet: click on the frame to add one (or add a grid)."
    frames: dict[int, int] = {}
    for p in points:
        frames[int(p[0])] = frames.get(int(p[0]), 0) + 1
    listed = ", ".join(f"frame {t} ({c})" for t, c in sorted(frames.items())[:12])
    more = f", … {len(frames) - 12} more frames" if len(frames) > 12 else ""
    text = f"**{len(points)} point{'s' if len(points) != 1 else ''}**: {listed}{more}"
    if selected is not None and 0 <= selected < len(points):
        t, x, y = points[selected][:3]
        name = name_of(points[selected])
        who = f"point {selected + 1}" + (f" ({name})" if name else "")
        text += (f"  \n**Selected: {who}** on frame {int(t)} at ({float(x):.1f}, {float(y):.1f}): click on "
                 "the frame to move it there, or press *Delete point*.")
    return text
