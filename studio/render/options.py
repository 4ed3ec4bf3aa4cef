"""Render mode names (the single list UI and CLI read) and the options every renderer takes.

Mode names follow DOT's demo (``overlay_stripes_mask``, ``spaghetti_last_static``,
``spaghetti_first_last_mask``...), but they are parsed as whole words in one
canonical order instead of matched by substring, and every valid name is listed
in ``MODES``:

* ``points[_mask]``: coloured points with fading tails; hidden points hollow or left out.
* ``overlay[_stripes][_mask]``: every track at its current position, blended over
  the frame; ``stripes`` also draws hidden points, in their colour with white
  diagonal stripes.
* ``spaghetti[_first][_every][_last][_static][_mask]``: trails in a slanted
  space-time view. ``first`` keeps frame 0 in the background, ``every`` keeps
  every ``spaghetti_every``-th frame, ``last`` shows the current frame at the head;
  ``static`` moves the view so the current frame stays still.
* ``_mask``: only tracks that start inside ``RenderOptions.mask``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from studio.results import InputError

KINDS = ("points", "overlay", "spaghetti")

_SPAGHETTI_BACKGROUNDS = ("", "first", "last", "every", "first_last", "every_last")


def _all_modes() -> tuple[str, ...]:
    names = ["points", "points_mask"]
    for stripes in ("", "_stripes"):
        for mask in ("", "_mask"):
            names.append(f"overlay{stripes}{mask}")
    for bg in _SPAGHETTI_BACKGROUNDS:
        for static in ("", "_static"):
            for mask in ("", "_mask"):
                names.append("spaghetti" + (f"_{bg}" if bg else "") + static + mask)
    return tuple(names)


MODES: tuple[str, ...] = _all_modes()
"""Every render mode name ``render`` accepts, in a stable order (UI choices, CLI ``--mode``)."""

COMMON_MODES: tuple[str, ...] = (
    "points",
    "overlay",
    "overlay_stripes",
    "spaghetti_last_static",
    "spaghetti_first_last",
    "spaghetti_every",
)
"""A short list of the most useful modes, for a default choice list."""

COLOR_BY = ("left_right", "up_down", "query", "reliability")
"""How tracks are coloured: ordered along the colour map (DOT's ``rainbow_mode`` plus query order),
or by each position's reliability (``studio.reliability``; red = unreliable, green = reliable)."""

RELIABILITY_CMAP = "RdYlGn"
"""Colour map of ``color_by="reliability"``: 0 red, 0.5 yellow, 1 green."""


@dataclass(frozen=True)
class ModeSpec:
    """A parsed mode name.

    Attributes:
      name: the canonical name (an element of ``MODES``).
      kind: ``"points"``, ``"overlay"`` or ``"spaghetti"``.
      stripes: overlay also draws hidden points, striped.
      first, every, last: spaghetti background frames.
      static: spaghetti view follows the current frame.
      mask: only tracks starting inside the mask.
    """

    name: str
    kind: str
    stripes: bool = False
    first: bool = False
    every: bool = False
    last: bool = False
    static: bool = False
    mask: bool = False


def dense_default_mode(masked: bool) -> str:
    """The mode a dense result is first drawn in (app and CLI alike): DOT's striped overlay, of the
    painted region alone when a mask chose one (the result holds every pixel's track)."""
    return "overlay_stripes_mask" if masked else "overlay_stripes"


def parse_mode(mode: str) -> ModeSpec:
    """Parse a mode name.

    Raises:
      InputError: the name is not in ``MODES``; the message lists the valid ones.
    """
    if mode not in MODES:
        raise InputError(f"unknown render mode {mode!r}; choose one of: {', '.join(MODES)}")
    words = set(mode.split("_"))
    kind = mode.split("_")[0]
    return ModeSpec(
        name=mode,
        kind=kind,
        stripes="stripes" in words,
        first="first" in words,
        every="every" in words,
        last="last" in words,
        static="static" in words,
        mask="mask" in words,
    )


@dataclass(frozen=True)
class RenderOptions:
    """Settings of every render mode; defaults follow DOT's demo where it has one.

    Attributes:
      color_by: ``"left_right"`` (DOT's default: colour-map order by first-frame
        column, then row), ``"up_down"`` (by row, then column), ``"query"`` (the
        order the tracks are given in) or ``"reliability"`` (each position by its
        ``reliability``, ``RELIABILITY_CMAP``, so colours change along a track). Positions
        are the tracks' start positions (their query points when known, else frame 0).
      colormap: matplotlib colour map name (DOT: ``"jet"``).
      colors: optional uint8 [N, 3] RGB, one colour per sparse track, or [T, N, 3], one per
        track and frame; overrides ``color_by``/``colormap``.
      reliability: optional sparse [T, N] float in [0, 1], for ``color_by="reliability"``
        and ``hide_below``.
      hide_below: positions whose reliability is below this are not drawn (0 = all drawn).
      mask: optional bool [H, W] on the video's pixels, used by ``*_mask`` modes.
      radius: disc radius in pixels for points and sparse overlay; None = automatic
        (``max(2, min(H, W) / 120)``; dense overlay uses DOT's radius-1 splat).
        A radius <= 1 uses DOT's bilinear 4-pixel splat.
      tail: points mode: frames of fading trail behind each point (0 = none).
      hide_occluded: points mode: leave hidden points out instead of hollow rings.
      overlay_factor: overlay opacity of the tracks over the frame (DOT: 0.75).
      dense_grid: stride in pixels when dense tracks are shown in points or overlay
        mode; None = 1 for overlay (every pixel) and 16 for points.
      spaghetti_radius: trail radius in output pixels (DOT: 1.5).
      spaghetti_length: samples per frame interval, by Catmull-Rom interpolation in
        time (DOT: 40).
      spaghetti_grid: stride in pixels when dense tracks become trails (DOT: 30).
      spaghetti_scale: output size factor of the spaghetti view (DOT: 2).
      spaghetti_every: interval of the frames kept by ``spaghetti_every`` (DOT: 10).
      spaghetti_dropout: share in [0, 1) of sparse tracks left out at random (DOT: 0).
      spaghetti_background: RGB of the empty spaghetti canvas (DOT: white).
      spaghetti_crop: crop the spaghetti canvas to the part the drawing covers
        (``studio.render.spaghetti.spaghetti_window``); False keeps DOT's whole canvas.
      seed: random seed for the dropout.
      names: optional N point names of sparse tracks (``studio.pose``); with them,
        points and overlay modes draw the skeleton of COCO-17 keypoints and, when
        ``labels`` is set, each visible point's name.
      labels: write point names beside the points (points and overlay modes).
      skeleton: draw the limbs of COCO-17 keypoints (a limb only while both ends are visible).
    """

    color_by: str = "left_right"
    colormap: str = "jet"
    colors: np.ndarray | None = field(default=None, repr=False, compare=False)
    mask: np.ndarray | None = field(default=None, repr=False, compare=False)
    reliability: np.ndarray | None = field(default=None, repr=False, compare=False)
    hide_below: float = 0.0
    radius: float | None = None
    tail: int = 8
    hide_occluded: bool = False
    overlay_factor: float = 0.75
    dense_grid: int | None = None
    spaghetti_radius: float = 1.5
    spaghetti_length: int = 40
    spaghetti_grid: int = 30
    spaghetti_scale: float = 2.0
    spaghetti_every: int = 10
    spaghetti_dropout: float = 0.0
    spaghetti_background: tuple[int, int, int] = (255, 255, 255)
    spaghetti_crop: bool = True
    seed: int = 0
    names: tuple[str, ...] | None = field(default=None, compare=False)
    labels: bool = False
    skeleton: bool = True

    def __post_init__(self) -> None:
        if self.names is not None:
            if isinstance(self.names, str) or not all(isinstance(n, str) for n in self.names):
                raise InputError("names must be a list of strings, one per track")
            object.__setattr__(self, "names", tuple(self.names))
        if self.color_by not in COLOR_BY:
            raise InputError(f"color_by must be one of {', '.join(COLOR_BY)}, got {self.color_by!r}")
        from matplotlib import colormaps

        if self.colormap not in colormaps:
            raise InputError(f"unknown colour map {self.colormap!r} (any matplotlib name, e.g. 'jet', 'turbo')")
        if self.radius is not None and not (0 < self.radius <= 64):
            raise InputError(f"radius must be in (0, 64] pixels, got {self.radius}")
        if not 0 <= self.tail <= 1000:
            raise InputError(f"tail must be 0..1000 frames, got {self.tail}")
        if not 0 <= self.overlay_factor <= 1:
            raise InputError(f"overlay_factor must be in [0, 1], got {self.overlay_factor}")
        if self.dense_grid is not None and self.dense_grid < 1:
            raise InputError(f"dense_grid must be at least 1 pixel, got {self.dense_grid}")
        if not 0 < self.spaghetti_radius <= 16:
            raise InputError(f"spaghetti_radius must be in (0, 16] pixels, got {self.spaghetti_radius}")
        if not 1 <= self.spaghetti_length <= 1000:
            raise InputError(f"spaghetti_length must be 1..1000 samples per frame, got {self.spaghetti_length}")
        if self.spaghetti_grid < 1:
            raise InputError(f"spaghetti_grid must be at least 1 pixel, got {self.spaghetti_grid}")
        if not 0.25 <= self.spaghetti_scale <= 4:
            raise InputError(f"spaghetti_scale must be in [0.25, 4], got {self.spaghetti_scale}")
        if self.spaghetti_every < 1:
            raise InputError(f"spaghetti_every must be at least 1 frame, got {self.spaghetti_every}")
        if not 0 <= self.spaghetti_dropout < 1:
            raise InputError(f"spaghetti_dropout must be in [0, 1), got {self.spaghetti_dropout}")
        bg = tuple(int(c) for c in self.spaghetti_background)
        if len(bg) != 3 or not all(0 <= c <= 255 for c in bg):
            raise InputError(f"spaghetti_background must be an RGB triple in 0..255, got {self.spaghetti_background}")
        object.__setattr__(self, "spaghetti_background", bg)
        if self.reliability is not None:
            r = np.asarray(self.reliability, np.float32)
            if r.ndim != 2 or not (np.isfinite(r).all() and (r >= 0).all() and (r <= 1).all()):
                raise InputError(f"reliability must be a [T, N] array of numbers in [0, 1], got shape {list(r.shape)}")
            object.__setattr__(self, "reliability", r)
        if not 0 <= self.hide_below <= 1:
            raise InputError(f"hide_below must be in [0, 1], got {self.hide_below}")
        if (self.color_by == "reliability" or self.hide_below > 0) and self.reliability is None:
            raise InputError("colouring by reliability or hiding unreliable positions needs tracks with reliability "
                             "(track with --reliability, or tick Reliability in the Track tab)")
        if self.colors is not None:
            c = np.asarray(self.colors)
            if c.ndim not in (2, 3) or c.shape[-1] != 3:
                raise InputError(f"colors must be [N, 3] or [T, N, 3] RGB, got shape {list(c.shape)}")
            if np.issubdtype(c.dtype, np.floating) and c.size and c.max() <= 1.0:
                c = c * 255.0  # accept [0, 1] floats too
            object.__setattr__(self, "colors", np.clip(np.rint(c), 0, 255).astype(np.uint8))
        if self.mask is not None:
            m = np.asarray(self.mask)
            if m.ndim != 2:
                raise InputError(f"mask must be a 2-D [H, W] image, got shape {list(m.shape)}")
            object.__setattr__(self, "mask", m > 0)


def default_radius(height: int, width: int) -> float:
    """Automatic point radius in pixels for a ``height x width`` frame."""
    return max(2.0, min(height, width) / 120)
