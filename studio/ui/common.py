"""Helpers shared by the tabs: error messages, progress, the visibility plot, click conversion.

Everything the user sees as a failure goes through ``user_errors``: the exception's
own sentence becomes a ``gr.Error`` toast (or, for the API, the client's error
message), the traceback stays in the server log, and the app keeps serving. Running
out of memory or nesting too deep is one sentence too, never a traceback.

``progress_adapter`` also stops work whose client is gone
(``studio.ui.request_limits.client_gone``): the next progress report raises
``studio.progress.Cancelled``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import gradio as gr
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from studio.hub import CheckpointMismatch, WeightsUnavailable
from studio.progress import Cancelled, ProgressFn, with_time_left
from studio.render.points import point_colors
from studio.results import InputError, TrackResult
from studio.ui.request_limits import client_gone

log = logging.getLogger(__name__)

USER_ERRORS = (InputError, WeightsUnavailable, CheckpointMismatch, KeyError)
"""Exceptions whose message is meant for the user (VideoError is an InputError)."""


def message_of(exc: BaseException) -> str:
    """The user-facing sentence of ``exc`` (``KeyError`` quotes its message; this unquotes it)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def user_errors(fn: Callable) -> Callable:
    """Decorate a Gradio handler so every exception becomes a ``gr.Error`` with one sentence.

    ``functools.wraps`` keeps the signature, so Gradio still finds ``gr.Progress``
    defaults and ``gr.SelectData`` annotations on the wrapped function.
    """

    @functools.wraps(fn)
    def handler(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except USER_ERRORS as exc:
            raise gr.Error(message_of(exc), print_exception=False) from exc
        except Cancelled as exc:
            log.info("handler %s stopped: its client is gone", getattr(fn, "__name__", fn))
            raise gr.Error("the request was cancelled: its client is gone", print_exception=False) from exc
        except MemoryError as exc:
            log.warning("handler %s ran out of memory", getattr(fn, "__name__", fn))
            raise gr.Error("this request needs more memory than the server has; try a shorter or smaller input",
                           print_exception=False) from exc
        except RecursionError as exc:
            raise gr.Error("the input nests too deeply to be read; it was refused", print_exception=False) from exc
        except Exception as exc:  # a bug or an environment problem: log it, keep serving
            log.exception("handler %s failed", getattr(fn, "__name__", fn))
            raise gr.Error(
                f"Something went wrong ({type(exc).__name__}: {exc}). The app is still running: "
                "try again, or another video or model.",
            ) from exc

    return handler


def progress_adapter(progress: gr.Progress | None) -> ProgressFn | None:
    """A ``studio.progress.ProgressFn`` that drives a ``gr.Progress`` bar, the time left in its description,
    and stops the work (``Cancelled``) once the request's client is gone."""
    if progress is None:
        return None

    def report(fraction: float, desc: str = "") -> None:
        if client_gone():
            raise Cancelled("the client of this request is gone")
        progress(float(fraction), desc=desc or None)

    return with_time_left(report)


def click_to_pixel(index) -> tuple[float, float]:
    """``gr.SelectData.index`` of a click on an image -> ``(x, y)`` in studio pixels.

    Gradio's frontend reports ``round(offset / scale)``, where ``offset`` is measured
    from the image's *left/top edge*. In the studio convention the left edge is at
    ``x = -0.5`` (integer = pixel centre), so the clicked position is about
    ``index - 0.5``; subtracting the half pixel removes the frontend's bias (a click
    anywhere on pixel ``i`` lands within half a pixel of ``i`` instead of within
    ``[i, i + 1]``).

    Args:
      index: ``[x, y]`` integers in the displayed image's own pixels.

    Returns:
      ``(x, y)`` floats in the same image's pixels, integer = pixel centre.

    Raises:
      InputError: the click carried no position (e.g. outside the picture).
    """
    if not isinstance(index, (list, tuple)) or len(index) != 2 or any(v is None for v in index):
        raise InputError("the click carried no position; click inside the picture")
    return float(index[0]) - 0.5, float(index[1]) - 0.5


def visibility_figure(result: TrackResult, max_rows: int = 400) -> Figure:
    """Which point is visible when: fraction visible per frame (top), one row per point (bottom).

    Args:
      result: tracks with ``visible`` [T, N] bool.
      max_rows: points shown in the raster (evenly sampled beyond that, so a large
        grid still draws quickly and legibly).

    Returns:
      A matplotlib ``Figure`` (no pyplot state, safe in worker threads).
    """
    vis = np.asarray(result.visible, bool)
    t_len, n = vis.shape
    fig = Figure(figsize=(8, 4.2), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2.2])
    frames = np.arange(t_len)
    top.plot(frames, vis.mean(axis=1) * 100 if n else np.zeros(t_len), color="#2563eb", lw=1.5)
    top.set_ylim(-3, 103)
    top.set_ylabel("visible %")
    top.grid(alpha=0.3)
    top.set_title(f"Visibility of {n} point{'s' if n != 1 else ''} over {t_len} frames", fontsize=10)

    rows = np.arange(n) if n <= max_rows else np.linspace(0, n - 1, max_rows).round().astype(int)
    colors = point_colors(n)[rows].astype(np.float32) / 255.0
    # RGB raster: the point's colour where visible, light grey where hidden.
    image = np.full((len(rows), t_len, 3), 0.92, np.float32)
    shown = vis[:, rows].T
    image[shown] = np.repeat(colors[:, None, :], t_len, axis=1)[shown]
    bottom.imshow(image, aspect="auto", interpolation="nearest", extent=(-0.5, t_len - 0.5, len(rows) - 0.5, -0.5))
    q_frames = np.asarray(result.queries)[rows, 0] if n else np.zeros(0)
    bottom.scatter(q_frames, np.arange(len(rows)), marker="|", color="black", s=30, lw=1.2, label="query frame")
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
    bottom.set_xlabel("frame")
    bottom.set_ylabel("point" if n <= max_rows else f"point (every {n / len(rows):.1f}th)")
    if n:
        bottom.legend(loc="lower right", fontsize=8, framealpha=0.8)
    return fig


def split_points(points: list) -> tuple[np.ndarray, list[str] | None]:
    """The Track tab's point list (``[t, x, y]`` or ``[t, x, y, name]`` rows) -> ``(queries float32 [N, 3], names)``.

    ``names`` is None when no row has a name; otherwise unnamed rows get ``""``.
    """
    rows = list(points or [])
    q = np.asarray([[float(v) for v in row[:3]] for row in rows], np.float32).reshape(-1, 3)
    if not any(len(row) > 3 and row[3] for row in rows):
        return q, None
    return q, [str(row[3]) if len(row) > 3 and row[3] else "" for row in rows]


def points_summary(queries: list) -> str:
    """Markdown line: how many points on which frames, e.g. ``3 points: frame 0 (2), frame 12 (1)``."""
    if not queries:
        return "No points yet: click on the frame to add one (or add a grid)."
    frames: dict[int, int] = {}
    for point in queries:  # [t, x, y] or [t, x, y, name]
        frames[int(point[0])] = frames.get(int(point[0]), 0) + 1
    listed = ", ".join(f"frame {t} ({c})" for t, c in sorted(frames.items())[:12])
    more = f", … {len(frames) - 12} more frames" if len(frames) > 12 else ""
    return f"**{len(queries)} point{'s' if len(queries) != 1 else ''}**: {listed}{more}"
