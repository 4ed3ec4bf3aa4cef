"""Clips with exact ground truth: a real photo warped by a known motion, plus an occluder.

Every frame ``t`` shows the scene through a homography ``M_t`` (``M_0 = I``): a
scene point at reference pixel ``p`` (frame-0 pixels, integer = centre) is seen
at ``M_t p`` in frame ``t``. A textured disc moves across on top and hides what
is behind it. Positions and visibility of any point are therefore exact, which
is what accuracy tests and the bundled examples need.

``Appearance`` adds what real footage has and a rigid warp lacks, without
blurring the truth: a gradual gain change and a moving soft light (lighting),
motion blur (each frame the mean of sub-frames rendered across an exposure
centred on the frame's instant), a smooth non-rigid deformation (pixel ``y`` of
frame ``t`` shows the scene point ``q - D_t q`` with ``q = M_t^-1 y`` and a known,
smooth ``D_t``, ``D_0 = 0``: rendering needs no inversion, the truth of the few
tracked points solves ``q - D_t q = p`` by a fixed-point iteration) and sensor noise.
``APPEARANCES`` names the presets the benchmarks use.

``foreground=True`` adds an object held in front of the camera: a soft, low-contrast
elliptical patch that moves, turns and grows on its own path (and deforms and is lit
like the rest). Its points are followed by their own motion and hide the scene behind
them, so a request can hold clicks on two differently moving surfaces, as real ones do.
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
    """The non-rigid displacement ``D_t q`` at positions ``xy`` [..., 2] (frame-0 pixels) at time ``t`` (frames).

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
      object_poses: [T, 4] float64 ``(cx, cy, angle rad, scale)`` of the foreground object per
        frame, or None: its local point ``u`` (pixels from its centre on frame 0) is seen where
        the scene's deformation carries it, then turned, scaled and moved by the pose.
      object_axes: ``(a, b)`` semi-axes in pixels of its elliptical outline in local coordinates.
    """

    video: np.ndarray
    homographies: np.ndarray
    occluder_centres: np.ndarray
    occluder_radius: float
    fps: float = 24.0
    appearance: Appearance = Appearance()
    object_poses: np.ndarray | None = None
    object_axes: tuple[float, float] = (0.0, 0.0)

    def object_to_frame(self, t: int, local: np.ndarray) -> np.ndarray:
        """Foreground points ``local`` [..., 2] -> where they are seen in frame ``t`` [..., 2] float64."""
        return _pose_apply(self.object_poses[t], _undeform(np.asarray(local, dtype=np.float64), self.appearance, t))

    def object_to_local(self, t: int, xy: np.ndarray) -> np.ndarray:
        """Pixels ``xy`` [..., 2] of frame ``t`` -> the foreground's local points seen there."""
        return _deform(_pose_invert(self.object_poses[t], np.asarray(xy, dtype=np.float64)), self.appearance, t)

    def on_object(self, t: int, xy: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """True where ``xy`` [..., 2] shows the foreground object in frame ``t`` (grown by ``margin`` px)."""
        if self.object_poses is None:
            return np.zeros(np.shape(xy)[:-1], dtype=bool)
        return _inside_ellipse(self.object_to_local(t, xy), self.object_axes, margin / self.object_poses[t, 3])

    def to_frame(self, t: int, ref: np.ndarray) -> np.ndarray:
        """Reference pixels ``ref`` [..., 2] -> where they are seen in frame ``t`` [..., 2] float64."""
        return apply_homography(self.homographies[t], _undeform(np.asarray(ref, dtype=np.float64), self.appearance, t))

    def to_reference(self, t: int, xy: np.ndarray) -> np.ndarray:
        """Pixels ``xy`` [..., 2] of frame ``t`` -> the reference pixels seen there [..., 2] float64."""
        q = apply_homography(np.linalg.inv(self.homographies[t]), np.asarray(xy, dtype=np.float64))
        return _deform(q, self.appearance, t)

    def clicks(self, rng: np.random.Generator, n: int = 7, on_object: int = 4) -> np.ndarray:
        """[n, 3] queries ``(0, x, y)`` as a user would click them: the first ``on_object`` well
        inside the foreground object (6 px from its edge), the rest well off it (8 px), all
        visible on frame 0. Without a foreground object, all anywhere visible."""
        h, w = self.size
        out = []
        while len(out) < n:
            xy = np.array([[rng.uniform(8, w - 9), rng.uniform(8, h - 9)]])
            if self.object_poses is not None:
                wanted = self.on_object(0, xy, margin=-6) if len(out) < on_object else ~self.on_object(0, xy, margin=8)
                if not wanted[0]:
                    continue
            if self.ground_truth(np.array([[0.0, *xy[0]]]))[1][0, 0]:
                out.append(xy[0])
        return np.concatenate([np.zeros((n, 1)), np.array(out)], 1)

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
        held = np.zeros(len(queries), bool)  # queries on the foreground object
        for tq in np.unique(frames):
            rows = np.nonzero(frames == tq)[0]
            ref[rows] = self.to_reference(int(tq), queries[rows, 1:])
            if self.object_poses is not None:
                on = rows[self.on_object(int(tq), queries[rows, 1:])]
                held[on] = True
                ref[on] = self.object_to_local(int(tq), queries[on, 1:])
        tracks = np.stack([self.to_frame(t, ref) for t in range(t_len)])
        hidden = np.zeros((t_len, len(queries)), bool)
        if self.object_poses is not None:
            for t in range(t_len):
                tracks[t, held] = self.object_to_frame(t, ref[held])
                # The object hides the scene behind it (its soft edge counts as hiding).
                hidden[t, ~held] = self.on_object(t, tracks[t, ~held], margin=1.0)
        inside = inside_frame(tracks, (h, w))
        hidden |= np.stack([self.occluded_at(t, tracks[t]) for t in range(t_len)])
        return tracks.astype(np.float32), inside & ~hidden

    def flow(self, t0: int, t1: int) -> np.ndarray:
        """Exact motion of the scene (not the foreground object) from frame ``t0`` to ``t1`` for every pixel of ``t0``.

        Returns:
          [H, W, 2] float32 displacement ``(dx, dy)`` in pixels.
        """
        h, w = self.size
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        xy = np.stack([xs, ys], axis=-1)
        return (self.to_frame(t1, self.to_reference(t0, xy)) - xy).astype(np.float32)


def _deform(q: np.ndarray, appearance: Appearance, t: float) -> np.ndarray:
    """The reference point ``q - D_t q`` seen at the rigidly warped position ``q``."""
    if appearance.deform == 0 or t == 0:
        return q
    return q - deformation(appearance.deform, appearance.deform_period, t, q)


def _undeform(p: np.ndarray, appearance: Appearance, t: float) -> np.ndarray:
    """Solve ``q - D_t q = p`` for ``q`` (fixed-point iteration; D is a contraction)."""
    if appearance.deform == 0 or t == 0 or p.size == 0:
        return p
    q = p.copy()
    for _ in range(50):
        step = p + deformation(appearance.deform, appearance.deform_period, t, q) - q
        q += step
        if np.abs(step).max() < 1e-7:
            break
    return q


def _pose_apply(pose: np.ndarray, local: np.ndarray) -> np.ndarray:
    cx, cy, angle, scale = pose
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    x, y = local[..., 0], local[..., 1]
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=-1)


def _pose_invert(pose: np.ndarray, xy: np.ndarray) -> np.ndarray:
    cx, cy, angle, scale = pose
    c, s = np.cos(angle) / scale, np.sin(angle) / scale
    x, y = xy[..., 0] - cx, xy[..., 1] - cy
    return np.stack([c * x + s * y, -s * x + c * y], axis=-1)


def _inside_ellipse(local: np.ndarray, axes: tuple[float, float], margin: float = 0.0) -> np.ndarray:
    a, b = axes
    return (local[..., 0] / (a + margin)) ** 2 + (local[..., 1] / (b + margin)) ** 2 <= 1.0


def object_pose(t: float, size: tuple[int, int], speed: float = 1.0) -> np.ndarray:
    """The foreground object's ``(cx, cy, angle rad, scale)`` at time ``t`` (frames): it swings
    about the left half of the frame on a figure of eight, turning and coming closer."""
    h, w = size
    s = speed * t
    return np.array([
        w * 0.32 + w * 0.14 * np.sin(s / 9.0),
        h * 0.5 + h * 0.12 * np.sin(s / 4.5),
        np.deg2rad(0.9 * s),
        1.0 + 0.006 * s,
    ])


def _object_texture(image: np.ndarray, axes: tuple[float, float]) -> np.ndarray:
    """A soft, low-contrast texture for the foreground (a plush toy, not a photo): the scene image
    turned upside down, colours reversed, blurred and with half its contrast. [2b+9, 2a+9, 3] float32."""
    a, b = (int(np.ceil(v)) + 4 for v in axes)
    src = cv2.resize(image[::-1, ::-1, ::-1], (2 * a + 1, 2 * b + 1), interpolation=cv2.INTER_AREA).astype(np.float32)
    src = cv2.GaussianBlur(src, (0, 0), 1.2)
    mean = src.reshape(-1, 3).mean(0)
    return mean + 0.5 * (src - mean)


def _render_object(frame: np.ndarray, texture: np.ndarray, axes, pose: np.ndarray, appearance: Appearance, t: float) -> None:
    """Paint the foreground object onto ``frame`` [H, W, 3] float32 in place (anti-aliased edge)."""
    h, w = frame.shape[:2]
    a, b = axes
    reach = (max(a, b) + 4) * pose[3] + appearance.deform + 2
    x_lo, x_hi = max(int(pose[0] - reach), 0), min(int(pose[0] + reach) + 1, w)
    y_lo, y_hi = max(int(pose[1] - reach), 0), min(int(pose[1] + reach) + 1, h)
    if x_lo >= x_hi or y_lo >= y_hi:
        return
    ys, xs = np.mgrid[y_lo:y_hi, x_lo:x_hi].astype(np.float64)
    local = _deform(_pose_invert(pose, np.stack([xs, ys], axis=-1)), appearance, t)
    # Distance outside the outline in frame pixels (near enough at the edge), for a 1 px soft edge.
    r = np.sqrt((local[..., 0] / a) ** 2 + (local[..., 1] / b) ** 2)
    cover = np.clip(0.5 - (r - 1.0) * min(a, b) * pose[3], 0.0, 1.0)[..., None].astype(np.float32)
    th, tw = texture.shape[:2]
    colour = cv2.remap(
        texture, (local[..., 0] + (tw - 1) / 2).astype(np.float32), (local[..., 1] + (th - 1) / 2).astype(np.float32),
        cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101,
    )
    region = frame[y_lo:y_hi, x_lo:x_hi]
    frame[y_lo:y_hi, x_lo:x_hi] = region * (1 - cover) + colour * cover


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
    foreground: bool = False,
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
      foreground: add the independently moving object in front of the scene (``object_pose``).

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
    subs = np.linspace(-appearance.blur / 2, appearance.blur / 2, 5) if appearance.blur > 0 else np.zeros(1)
    axes = (0.13 * w, 0.2 * h) if foreground else (0.0, 0.0)
    skin = _object_texture(scene, axes) if foreground else None
    for t in range(num_frames):
        frame = np.zeros((h, w, 3), np.float32)
        for dt in subs:
            sub = _render_scene(fitted, offset, motion, t + dt, size, speed, appearance, pixels)
            if foreground:
                _render_object(sub, skin, axes, object_pose(t + dt, size, speed), appearance, t + dt)
            frame += sub
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
    poses = np.stack([object_pose(t, size, speed) for t in range(num_frames)]) if foreground else None
    return SyntheticClip(frames, homs, centres, float(radius), fps, appearance, poses, axes)


def _render_scene(fitted, offset, motion, t, size, speed, appearance: Appearance, pixels) -> np.ndarray:
    """The scene at (possibly fractional) time ``t`` as float32 [H, W, 3], before occluder and lighting."""
    h, w = size
    m = motion_homography(motion, t, size, speed)
    if pixels is None or appearance.deform == 0:
        src_from_dst = offset @ np.linalg.inv(m)
        return cv2.warpPerspective(
            fitted, src_from_dst, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT101
        ).astype(np.float32)
    # Each output pixel y shows the reference point q - D_t q, q = M_t^-1 y.
    ref = _deform(apply_homography(np.linalg.inv(m), pixels), appearance, t)
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
