"""Clips with exact ground truth: a real photo warped by a known motion, plus an occluder.

Every frame ``t`` shows the scene through a homography ``M_t`` (``M_0 = I``): a
scene point at reference pixel ``p`` (frame-0 pixels, integer = centre) is seen
at ``M_t p`` in frame ``t``. A textured disc moves across on top and hides what
is behind it. Positions and visibility of any point are therefore exact, which
is what accuracy tests and the bundled examples need.

``Appearance`` adds what real footage has and a rigid warp lacks, without
blurring the truth: a gradual gain change and a moving soft light (lighting),
motion blur (each frame the mean of sub-frames rendered across an exposure
centred on the frame's instant), a smooth non-rigid deformation (the scene
point ``p`` is seen at ``M_t (p + D_t p)`` with a known, smooth ``D_t``,
``D_0 = 0``) and sensor noise. ``APPEARANCES`` names the presets the benchmarks use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from studio.conventions import inside_frame

MOTIONS = ("translate", "rotate", "scale", "perspective", "mixed")


@dataclass(frozen=True)
class Appearance:
    """Real-world appearance change on top of the motion; every field 0 (or 1 for ``gain``) = none.

    Attributes:
      gain: brightness factor reached by the last frame, changing linearly from 1 (auto-exposure,
        a cloud): 0.6 darkens the last frame to 60%.
      light: strength of a soft light that sweeps across the frame over the clip: pixel values are
        multiplied by ``1 + light * g`` with ``g`` a wide Gaussian blob in [0, 1] (shading).
      blur: exposure as a fraction of the frame interval (motion blur along the true motion;
        1 = the shutter is open the whole interval).
      deform: amplitude in pixels of a smooth non-rigid deformation (waves of 150-220 px wavelength,
        so neighbouring points move differently but nothing folds over).
      deform_period: frames per cycle of the deformation.
      noise: standard deviation of Gaussian sensor noise in grey levels.
    """

    gain: float = 1.0
    light: float = 0.0
    blur: float = 0.0
    deform: float = 0.0
    deform_period: float = 40.0
    noise: float = 0.0

    @property
    def warps_rigidly(self) -> bool:
        return self.deform == 0 and self.blur == 0


APPEARANCES = {
    "rigid": Appearance(),
    "lighting": Appearance(gain=0.6, light=0.4),
    "blur": Appearance(blur=1.0, noise=2.0),
    "nonrigid": Appearance(deform=6.0),
    "all": Appearance(gain=0.65, light=0.35, blur=0.8, deform=5.0, noise=2.0),
}
"""Named appearance presets: each real-world change alone, then all of them together."""

# Deformation waves: (direction angle, wavelength px, temporal phase step, displacement angle).
_WAVES = ((0.3, 220.0, 0.0, 1.9), (1.7, 170.0, 2.1, 0.4), (2.6, 150.0, 4.0, 3.0))


def deformation(amplitude: float, period: float, t: float, xy: np.ndarray) -> np.ndarray:
    """The non-rigid displacement ``D_t p`` of reference pixels ``xy`` [..., 2] at time ``t`` (frames).

    A sum of three plane waves whose phase advances with time; ``D_0 = 0`` exactly and the
    Jacobian stays far below 1 for amplitudes up to ~15 px, so the map never folds.

    Returns:
      [..., 2] float64 displacement in pixels.
    """
    xy = np.asarray(xy, dtype=np.float64)
    out = np.zeros_like(xy)
    if amplitude == 0 or t == 0:
        return out
    omega = 2 * np.pi / period
    for angle, wavelength, phase, direction in _WAVES:
        k = 2 * np.pi / wavelength * np.array([np.cos(angle), np.sin(angle)])
        arg = xy @ k + phase
        wave = (np.sin(arg + omega * t) - np.sin(arg)) * (amplitude / len(_WAVES))
        out += wave[..., None] * np.array([np.cos(direction), np.sin(direction)])
    return out


@lru_cache(maxsize=1)
def sample_photo() -> np.ndarray:
    """A real photograph shipped with matplotlib (Grace Hopper), uint8 [H, W, 3] RGB."""
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB")).copy()


def _about_centre(m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    c = np.array([[1, 0, (w - 1) / 2], [0, 1, (h - 1) / 2], [0, 0, 1]], dtype=np.float64)
    return c @ m @ np.linalg.inv(c)


def motion_homography(kind: str, t: float, size: tuple[int, int], speed: float = 1.0) -> np.ndarray:
    """The scene motion at time ``t`` (frames), a 3x3 homography on pixel coordinates.

    Args:
      kind: one of ``MOTIONS``.
      t: time in frames; ``t = 0`` gives the identity.
      size: ``(H, W)`` of the frames.
      speed: multiplies the rate of every motion.

    Returns:
      float64 [3, 3] mapping frame-0 pixels to frame-``t`` pixels.
    """
    s = speed * t
    h, w = size
    if kind == "translate":
        # Slightly curved path so x and y are not proportional.
        return np.array([[1, 0, 1.3 * s], [0, 1, 0.6 * s + 0.01 * s * s], [0, 0, 1]], dtype=np.float64)
    if kind == "rotate":
        a = np.deg2rad(0.8 * s)
        r = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        return _about_centre(r, size)
    if kind == "scale":
        k = 1.0 + 0.008 * s
        return _about_centre(np.diag([k, k, 1.0]), size)
    if kind == "perspective":
        p = np.array([[1, 0.002 * s, 0], [0, 1, 0], [0.00012 * s / max(w / 320, 1), 0.00005 * s, 1]])
        return _about_centre(p, size)
    if kind == "mixed":
        a = np.deg2rad(0.5 * s)
        k = 1.0 + 0.004 * s
        m = np.array([[k * np.cos(a), -k * np.sin(a), 0.8 * s], [k * np.sin(a), k * np.cos(a), 0.4 * s], [0, 0, 1]])
        return _about_centre(m, size)
    raise ValueError(f"unknown motion {kind!r}; choose one of {MOTIONS}")


def apply_homography(m: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a 3x3 homography to points.

    Args:
      m: [3, 3] float.
      xy: [..., 2] ``(x, y)``.

    Returns:
      [..., 2] float64.
    """
    xy = np.asarray(xy, dtype=np.float64)
    p = xy @ m[:, :2].T + m[:, 2]
    return p[..., :2] / p[..., 2:3]


@dataclass
class SyntheticClip:
    """A generated clip and its exact ground truth.

    Attributes:
      video: [T, H, W, 3] uint8 RGB.
      homographies: [T, 3, 3] float64, frame-0 pixels -> frame-t pixels.
      occluder_centres: [T, 2] float64 ``(x, y)`` centre of the occluding disc per frame.
      occluder_radius: radius of the disc in pixels (0 = no occluder).
      fps: frame rate to write the clip at.
      appearance: the ``Appearance`` it was rendered with (its ``deform`` enters the truth).
    """

    video: np.ndarray
    homographies: np.ndarray
    occluder_centres: np.ndarray
    occluder_radius: float
    fps: float = 24.0
    appearance: Appearance = Appearance()

    def to_frame(self, t: int, ref: np.ndarray) -> np.ndarray:
        """Reference pixels ``ref`` [..., 2] -> where they are seen in frame ``t`` [..., 2] float64."""
        a = self.appearance
        ref = np.asarray(ref, dtype=np.float64)
        return apply_homography(self.homographies[t], ref + deformation(a.deform, a.deform_period, t, ref))

    def to_reference(self, t: int, xy: np.ndarray) -> np.ndarray:
        """Pixels ``xy`` [..., 2] of frame ``t`` -> the reference pixels seen there [..., 2] float64."""
        a = self.appearance
        q = apply_homography(np.linalg.inv(self.homographies[t]), np.asarray(xy, dtype=np.float64))
        return _undeform(q, a, t)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.video.shape[1]), int(self.video.shape[2])

    def occluded_at(self, t: int, xy: np.ndarray) -> np.ndarray:
        """True where ``xy`` [..., 2] lies under the occluder in frame ``t`` (with a 1 px margin)."""
        if self.occluder_radius <= 0:
            return np.zeros(np.shape(xy)[:-1], dtype=bool)
        d = np.linalg.norm(np.asarray(xy, dtype=np.float64) - self.occluder_centres[t], axis=-1)
        # The disc edge is anti-aliased over ~1 px; a point there is hidden in part, so count it hidden.
        return d <= self.occluder_radius + 1.0

    def ground_truth(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact tracks and visibility for studio queries.

        Args:
          queries: [N, 3] ``(t, x, y)`` in pixels.

        Returns:
          tracks [T, N, 2] float32 ``(x, y)``, visible [T, N] bool (inside the frame and
          not under the occluder).
        """
        queries = np.asarray(queries, dtype=np.float64)
        t_len = self.video.shape[0]
        h, w = self.size
        ref = np.empty((len(queries), 2))
        frames = queries[:, 0].astype(int)
        for tq in np.unique(frames):
            ref[frames == tq] = self.to_reference(int(tq), queries[frames == tq, 1:])
        tracks = np.stack([self.to_frame(t, ref) for t in range(t_len)])
        inside = inside_frame(tracks, (h, w))
        hidden = np.stack([self.occluded_at(t, tracks[t]) for t in range(t_len)])
        return tracks.astype(np.float32), inside & ~hidden

    def flow(self, t0: int, t1: int) -> np.ndarray:
        """Exact background motion from frame ``t0`` to ``t1`` for every pixel of ``t0``.

        Returns:
          [H, W, 2] float32 displacement ``(dx, dy)`` in pixels.
        """
        h, w = self.size
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        xy = np.stack([xs, ys], axis=-1)
        return (self.to_frame(t1, self.to_reference(t0, xy)) - xy).astype(np.float32)


def _undeform(q: np.ndarray, appearance: Appearance, t: float) -> np.ndarray:
    """Solve ``p + D_t p = q`` for ``p`` (fixed-point iteration; D is a contraction)."""
    if appearance.deform == 0 or t == 0:
        return q
    p = q.copy()
    for _ in range(30):
        step = q - deformation(appearance.deform, appearance.deform_period, t, p) - p
        p += step
        if np.abs(step).max() < 1e-9:
            break
    return p


def _occluder_texture(radius: int, seed: int) -> np.ndarray:
    # A high-contrast checkerboard so trackers cannot mistake it for the photo behind.
    rng = np.random.default_rng(seed)
    size = 2 * radius + 1
    cells = rng.integers(0, 2, size=(size // 4 + 2, size // 4 + 2))
    board = np.kron(cells, np.ones((4, 4)))[:size, :size]
    colour_a, colour_b = np.array([250, 40, 40]), np.array([30, 30, 160])
    return np.where(board[..., None] > 0, colour_a, colour_b).astype(np.float32)


def make_clip(
    motion: str = "mixed",
    num_frames: int = 24,
    size: tuple[int, int] = (240, 320),
    speed: float = 1.0,
    occluder: bool = True,
    image: np.ndarray | None = None,
    seed: int = 0,
    fps: float = 24.0,
    appearance: Appearance | str = "rigid",
) -> SyntheticClip:
    """Render a clip of a real photo under a known motion, optionally with a moving occluder.

    Args:
      motion: one of ``MOTIONS``.
      num_frames: T.
      size: ``(H, W)`` of the output frames.
      speed: motion rate multiplier.
      occluder: paste a textured disc that sweeps across the frame.
      image: uint8 [h, w, 3] RGB scene; defaults to ``sample_photo()``.
      seed: occluder texture seed (and the noise seed).
      fps: frame rate recorded in the clip.
      appearance: an ``Appearance`` or a name from ``APPEARANCES`` (default: none, a rigid warp).

    Returns:
      A ``SyntheticClip``.
    """
    if isinstance(appearance, str):
        if appearance not in APPEARANCES:
            raise ValueError(f"unknown appearance {appearance!r}; choose one of {sorted(APPEARANCES)}")
        appearance = APPEARANCES[appearance]
    h, w = size
    scene = sample_photo() if image is None else image
    # Fit the scene to the frame with area resampling first, so the warp itself
    # barely resamples and the frames carry no aliasing that the truth lacks.
    scale = max(w / scene.shape[1], h / scene.shape[0]) * 1.15
    fitted = cv2.resize(scene, (round(scene.shape[1] * scale), round(scene.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    # Reference frame = the middle of the fitted scene.
    offset = np.array([[1, 0, (fitted.shape[1] - w) / 2], [0, 1, (fitted.shape[0] - h) / 2], [0, 0, 1]])
    homs = np.stack([motion_homography(motion, t, size, speed) for t in range(num_frames)])
    radius = max(6, round(min(h, w) * 0.12)) if occluder else 0
    centres = np.stack(
        [np.linspace(-radius, w + radius, num_frames), np.full(num_frames, h * 0.55) + 0.15 * h * np.sin(np.linspace(0, np.pi, num_frames))],
        axis=-1,
    )
    texture = _occluder_texture(radius, seed) if occluder else None
    frames = np.empty((num_frames, h, w, 3), dtype=np.uint8)
    ys, xs = np.mgrid[-radius : radius + 1, -radius : radius + 1] if occluder else (None, None)
    rng = np.random.default_rng(seed + 104729)
    pixels = None if appearance.warps_rigidly else np.stack(np.mgrid[0:h, 0:w][::-1], axis=-1).astype(np.float64)
    # Motion blur: the mean of sub-frames spread over the exposure, centred on the frame's instant.
    subs = np.linspace(-appearance.blur / 2, appearance.blur / 2, 9) if appearance.blur > 0 else np.zeros(1)
    for t in range(num_frames):
        frame = np.zeros((h, w, 3), np.float32)
        for dt in subs:
            frame += _render_scene(fitted, offset, motion, t + dt, size, speed, appearance, pixels)
        frame /= len(subs)
        if occluder:
            cx, cy = centres[t]
            # Anti-aliased coverage of the disc for each pixel of its bounding box.
            x0, y0 = int(np.floor(cx)) - radius, int(np.floor(cy)) - radius
            px, py = xs + int(np.floor(cx)), ys + int(np.floor(cy))
            cover = np.clip(radius + 0.5 - np.hypot(px - cx, py - cy), 0.0, 1.0)[..., None]
            x_lo, y_lo = max(x0, 0), max(y0, 0)
            x_hi, y_hi = min(x0 + 2 * radius + 1, w), min(y0 + 2 * radius + 1, h)
            if x_lo < x_hi and y_lo < y_hi:
                sl = (slice(y_lo - y0, y_hi - y0), slice(x_lo - x0, x_hi - x0))
                region = frame[y_lo:y_hi, x_lo:x_hi]
                frame[y_lo:y_hi, x_lo:x_hi] = region * (1 - cover[sl]) + texture[sl] * cover[sl]
        frame = _relight(frame, appearance, t, num_frames)
        if appearance.noise > 0:
            frame += rng.normal(0.0, appearance.noise, frame.shape).astype(np.float32)
        frames[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return SyntheticClip(frames, homs, centres, float(radius), fps, appearance)


def _render_scene(fitted, offset, motion, t, size, speed, appearance: Appearance, pixels) -> np.ndarray:
    """The scene at (possibly fractional) time ``t`` as float32 [H, W, 3], before occluder and lighting."""
    h, w = size
    m = motion_homography(motion, t, size, speed)
    if pixels is None or appearance.deform == 0:
        src_from_dst = offset @ np.linalg.inv(m)
        return cv2.warpPerspective(
            fitted, src_from_dst, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT101
        ).astype(np.float32)
    # Each output pixel shows the reference point p with M_t (p + D_t p) = pixel.
    ref = _undeform(apply_homography(np.linalg.inv(m), pixels), appearance, t)
    src = ref + offset[:2, 2]
    return cv2.remap(
        fitted, src[..., 0].astype(np.float32), src[..., 1].astype(np.float32), cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REFLECT101,
    ).astype(np.float32)


def _relight(frame: np.ndarray, appearance: Appearance, t: int, num_frames: int) -> np.ndarray:
    """Apply the gain ramp and the sweeping soft light to a float32 [H, W, 3] frame."""
    if appearance.gain == 1 and appearance.light == 0:
        return frame
    h, w = frame.shape[:2]
    u = t / max(num_frames - 1, 1)
    factor = np.full((h, w), 1.0 + (appearance.gain - 1.0) * u, np.float32)
    if appearance.light:
        # A wide blob of light travelling from the top left to the bottom right over the clip.
        cx, cy = (-0.2 + 1.4 * u) * w, (0.1 + 0.8 * u) * h
        sigma = 0.3 * max(h, w)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        factor *= 1.0 + appearance.light * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma * sigma))
    return frame * factor[..., None]


def accuracy_summary(
    tracks: np.ndarray, visible: np.ndarray, gt_tracks: np.ndarray, gt_visible: np.ndarray, queries: np.ndarray
) -> dict[str, float]:
    """Position and visibility accuracy against exact ground truth, query frames excluded.

    Args:
      tracks, gt_tracks: [T, N, 2] ``(x, y)`` pixels.
      visible, gt_visible: [T, N] bool.
      queries: [N, 3] ``(t, x, y)``; each point's own query frame is not scored.

    Returns:
      ``median_px`` and ``mean_px`` error over ground-truth-visible points,
      ``within_{1,2,4}px`` shares of them, ``visibility_accuracy`` over all
      scored entries, and ``occluded_recall`` (share of truly hidden points
      reported hidden; NaN when none is hidden).
    """
    t_len, n = gt_visible.shape
    scored = np.ones((t_len, n), bool)
    scored[queries[:, 0].astype(int), np.arange(n)] = False
    err = np.linalg.norm(tracks - gt_tracks, axis=-1)[scored & gt_visible]
    hidden = scored & ~gt_visible
    return {
        "median_px": float(np.median(err)),
        "mean_px": float(np.mean(err)),
        "within_1px": float(np.mean(err < 1)),
        "within_2px": float(np.mean(err < 2)),
        "within_4px": float(np.mean(err < 4)),
        "visibility_accuracy": float(np.mean(visible[scored] == gt_visible[scored])),
        "occluded_recall": float(np.mean(~visible[hidden])) if hidden.any() else float("nan"),
    }
