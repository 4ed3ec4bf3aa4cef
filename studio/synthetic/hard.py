"""Clips with exact ground truth that include motion a tracker cannot follow.

``make_hard_clip`` layers two things over a ``studio.synthetic`` background (a
real photo under a known homography):

* a **vanishing object**: a disc cut from another part of the photo that moves on
  its own path (translation plus its own rotation) and, from frame
  ``noise_from``, turns into fresh random noise every frame. Its points are still
  there (the truth keeps moving them and calls them visible) but nothing in the
  pixels says where they went;
* a **moving occluder**: a textured disc that sweeps across on top of everything.

The truth is exact for any query: a query inside the object's disc on its query
frame belongs to the object and follows the object's motion; any other query
follows the background and is hidden while the object or the occluder covers it.
Reliability scores (``studio.reliability``) are measured against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from studio.conventions import inside_frame
from studio.synthetic.clips import SyntheticClip, apply_homography, make_clip, sample_photo

EDGE_MARGIN = 1.5
"""Pixels around a disc's edge where a point is partly covered: hidden, and ambiguous as a query."""


@dataclass
class HardClip:
    """A clip with a vanishing object and an occluder over a moving background.

    Attributes:
      video: [T, H, W, 3] uint8 RGB.
      background: the ``SyntheticClip`` underneath (its own occluder switched off).
      object_homographies: [T, 3, 3] float64: object pixels (centred on the disc, frame-0
        orientation) -> frame-t pixels.
      object_radius: radius of the object's disc in pixels.
      noise_from: first frame where the object is (partly) noise.
      occluder_centres: [T, 2] float64 ``(x, y)`` of the occluder per frame.
      occluder_radius: radius of the occluder in pixels.
      fps: frame rate.
    """

    video: np.ndarray
    background: SyntheticClip
    object_homographies: np.ndarray
    object_radius: float
    noise_from: int
    occluder_centres: np.ndarray
    occluder_radius: float
    fps: float = 24.0

    @property
    def size(self) -> tuple[int, int]:
        return self.background.size  # the layers are drawn on the background's frames

    @property
    def num_frames(self) -> int:
        return int(self.video.shape[0])

    def object_centre(self, t: int) -> np.ndarray:
        """``(x, y)`` of the object's centre in frame ``t``."""
        return self.object_homographies[t][:2, 2].copy()

    def _distance(self, centre: np.ndarray, xy: np.ndarray) -> np.ndarray:
        return np.linalg.norm(np.asarray(xy, np.float64) - centre, axis=-1)

    def on_object(self, t: int, xy: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """True where ``xy`` [..., 2] lies on the object in frame ``t`` (at least ``margin`` px inside)."""
        return self._distance(self.object_centre(t), xy) <= self.object_radius - margin

    def ambiguous(self, queries: np.ndarray) -> np.ndarray:
        """[N] True for queries within ``EDGE_MARGIN`` of the object's or the occluder's edge
        on their own frame (a partly covered pixel belongs to neither layer)."""
        queries = np.asarray(queries, np.float64)
        out = np.zeros(len(queries), bool)
        for i, (t, x, y) in enumerate(queries):
            t = int(t)
            for centre, radius in ((self.object_centre(t), self.object_radius),
                                   (self.occluder_centres[t], self.occluder_radius)):
                out[i] |= abs(self._distance(centre, np.array([x, y])) - radius) <= EDGE_MARGIN
        return out

    def ground_truth(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact tracks and visibility for studio queries.

        Args:
          queries: [N, 3] ``(t, x, y)`` pixels.

        Returns:
          tracks [T, N, 2] float32 ``(x, y)``; visible [T, N] bool: inside the frame, not under
          the occluder and, for background points, not under the object. Object points stay
          visible after they turn to noise (they are there; only their texture is gone).
        """
        queries = np.asarray(queries, np.float64)
        t_len, (h, w) = self.num_frames, self.size
        tracks, _ = self.background.ground_truth(queries)
        tracks = tracks.astype(np.float64)
        on_obj = np.array([bool(self.on_object(int(t), np.array([x, y]))) for t, x, y in queries], bool)
        for i in np.nonzero(on_obj)[0]:
            tq = int(queries[i, 0])
            local = apply_homography(np.linalg.inv(self.object_homographies[tq]), queries[i, 1:])
            tracks[:, i] = [apply_homography(self.object_homographies[t], local) for t in range(t_len)]
        visible = inside_frame(tracks, (h, w))
        for t in range(t_len):
            covered = self._distance(self.occluder_centres[t], tracks[t]) <= self.occluder_radius + EDGE_MARGIN
            under_object = self._distance(self.object_centre(t), tracks[t]) <= self.object_radius + EDGE_MARGIN
            visible[t] &= ~covered & (on_obj | ~under_object)
        return tracks.astype(np.float32), visible


def _disc_cover(centre: np.ndarray, radius: float, size: tuple[int, int]) -> np.ndarray:
    """Anti-aliased coverage [H, W] float32 of a disc (1 inside, 0 outside, a 1 px ramp at the edge)."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.hypot(xs - centre[0], ys - centre[1])
    return np.clip(radius + 0.5 - d, 0.0, 1.0).astype(np.float32)


def _checkerboard(size: tuple[int, int], cell: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = size
    cells = rng.integers(0, 2, size=(h // cell + 2, w // cell + 2))
    board = np.kron(cells, np.ones((cell, cell)))[:h, :w]
    return np.where(board[..., None] > 0, np.array([250, 40, 40]), np.array([30, 30, 160])).astype(np.float32)


def make_hard_clip(
    motion: str = "mixed",
    num_frames: int = 32,
    size: tuple[int, int] = (240, 320),
    noise_from: int | None = None,
    seed: int = 0,
    fps: float = 24.0,
    **background,
) -> HardClip:
    """Render a background clip with a vanishing object and a moving occluder on top.

    Args:
      motion: background motion, one of ``studio.synthetic.MOTIONS``.
      num_frames: T.
      size: ``(H, W)``.
      noise_from: first frame of the object's noise (default ``T // 3``); the noise fades in
        over two frames and is drawn afresh every frame.
      seed: seed of the noise and the occluder's texture.
      fps: frame rate.
      **background: more arguments for ``studio.synthetic.make_clip`` (``speed``, ...).

    Returns:
      A ``HardClip``.
    """
    h, w = size
    t_len = int(num_frames)
    noise_from = t_len // 3 if noise_from is None else int(noise_from)
    base = make_clip(motion, num_frames=t_len, size=size, occluder=False, fps=fps, **background)
    rng = np.random.default_rng(seed)

    # The object: a disc of another part of the photo (turned upside down, so it cannot be
    # mistaken for the background), moving right and down while it turns.
    radius = round(min(h, w) * 0.16)
    photo = sample_photo()[::-1, ::-1]
    side = 2 * radius + 1
    y0, x0 = photo.shape[0] // 3, photo.shape[1] // 4
    crop = photo[y0 : y0 + photo.shape[0] // 3, x0 : x0 + photo.shape[1] // 3]
    texture = cv2.resize(np.ascontiguousarray(crop), (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
    start, stop = np.array([0.30 * w, 0.33 * h]), np.array([0.62 * w, 0.47 * h])
    homs = []
    for t in range(t_len):
        u = t / max(t_len - 1, 1)
        a = np.deg2rad(1.2 * t)
        c = start + (stop - start) * u
        homs.append(np.array([[np.cos(a), -np.sin(a), c[0]], [np.sin(a), np.cos(a), c[1]], [0, 0, 1]]))
    homs = np.stack(homs)

    occ_radius = max(6, round(min(h, w) * 0.11))
    occ_centres = np.stack([np.linspace(w + occ_radius, -occ_radius, t_len),
                            np.full(t_len, 0.72 * h) - 0.12 * h * np.sin(np.linspace(0, np.pi, t_len))], axis=-1)
    occ_texture = _checkerboard(size, 4, seed + 1)

    frames = np.empty_like(base.video)
    for t in range(t_len):
        frame = base.video[t].astype(np.float32)
        # Object pixels: its texture seen through its own motion (object pixel = inverse map of the frame pixel).
        to_tex = np.array([[1, 0, radius], [0, 1, radius], [0, 0, 1]]) @ np.linalg.inv(homs[t])
        obj = cv2.warpPerspective(texture, to_tex, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT101)
        fade = float(np.clip((t - noise_from + 1) / 2, 0.0, 1.0))
        if fade > 0:
            noise = rng.integers(0, 256, size=(h, w, 3)).astype(np.float32)
            obj = (1 - fade) * obj + fade * noise
        cover = _disc_cover(homs[t][:2, 2], radius, size)[..., None]
        frame = frame * (1 - cover) + obj * cover
        cover = _disc_cover(occ_centres[t], occ_radius, size)[..., None]
        frame = frame * (1 - cover) + occ_texture * cover
        frames[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return HardClip(frames, base, homs, float(radius), noise_from, occ_centres, float(occ_radius), fps)
