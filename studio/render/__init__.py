"""Renderers: numpy frames in, numpy frames out (no gradio, no device)."""

from studio.render.points import draw_points, point_colors

__all__ = ["draw_points", "point_colors"]
