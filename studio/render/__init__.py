"""Renderers: numpy frames in, numpy frames out (OpenCV for resampling; no gradio, no torch, no device).

``render(video, tracks, visible, mode, options)`` draws any mode in ``MODES``
(``iter_render`` yields the same frames one at a time);
the per-mode functions are ``render_points``, ``render_overlay`` and
``render_spaghetti``. ``draw_points`` is the simple points-with-tails call the
pipeline uses.
"""

from studio.render.api import iter_render, render
from studio.render.options import (
    COLOR_BY, COMMON_MODES, MODES, ModeSpec, RenderOptions, default_radius, dense_default_mode, parse_mode,
)
from studio.render.overlay import render_overlay
from studio.render.points import draw_points, point_colors, render_points
from studio.render.spaghetti import project_spacetime, render_spaghetti, upsample_tracks
from studio.render.tracksets import color_order, colormap_colors, is_dense

__all__ = [
    "COLOR_BY",
    "COMMON_MODES",
    "MODES",
    "ModeSpec",
    "RenderOptions",
    "color_order",
    "colormap_colors",
    "default_radius",
    "dense_default_mode",
    "draw_points",
    "is_dense",
    "iter_render",
    "parse_mode",
    "point_colors",
    "project_spacetime",
    "render",
    "render_overlay",
    "render_points",
    "render_spaghetti",
    "upsample_tracks",
]
