"""A clip with exact truth where a textured object turns in place: its painted side goes out of view and comes back.

A vertical cylinder, wrapped in a real photo (``studio.synthetic.sample_photo``) and
shaded by how squarely each part faces the camera, spins about its axis in front of
the same photo as background (which drifts slowly sideways). The camera is
orthographic: a point at angle ``u`` around the cylinder (in its own texture) is seen
at angle ``phi = u - theta_t`` from the line of sight, at ``x = cx + R sin(phi)``, and
is visible exactly while ``cos(phi) > 0`` (it faces the camera). So a region painted
on the front on frame 0 is foreshortened as it turns, hidden for about half a turn,
and comes back: what a held object turned by hand does, with truth for every pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from studio.conventions import inside_frame
from studio.synthetic.clips import sample_photo

VISIBLE_COS = 0.05
"""A point counts as visible while the cosine of its angle to the line of sight exceeds this
(grazing points are a sub-pixel sliver; calling them either way is not an error worth scoring)."""


@dataclass
class TurningClip:
    """A turning cylinder in front of a drifting photo, with exact truth.

    Attributes:
      video: [T, H, W, 3] uint8 RGB.
      centre: ``(cx, y_top, y_bottom)`` of the cylinder's silhouette in pixels.
      radius: its radius in pixels.
      angles: [T] float64 turn ``theta_t`` in radians (0 on frame 0).
      drift: background motion in pixels per frame along x.
    """

    video: np.ndarray
    centre: tuple[float, float, float]
    radius: float
    angles: np.ndarray
    drift: float

    @property
    def size(self) -> tuple[int, int]:
        return self.video.shape[1:3]

    def on_cylinder(self, xy: np.ndarray) -> np.ndarray:
        """True where pixels ``xy`` [..., 2] fall on the cylinder's silhouette (any frame: it does not move)."""
        cx, y0, y1 = self.centre
        xy = np.asarray(xy, np.float64)
        return (np.abs(xy[..., 0] - cx) < self.radius) & (xy[..., 1] >= y0) & (xy[..., 1] <= y1)

    def ground_truth(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact tracks [T, N, 2] float32 ``(x, y)`` and visibility [T, N] bool for ``(t, x, y)`` queries.

        A query on the cylinder keeps its angle ``u`` in the texture; one on the background
        moves with the drift and is hidden where the cylinder covers it.
        """
        q = np.asarray(queries, np.float64)
        t_len = len(self.angles)
        cx = self.centre[0]
        frames = q[:, 0].astype(int)
        on = self.on_cylinder(q[:, 1:])
        s = np.clip((q[:, 1] - cx) / self.radius, -1.0, 1.0)
        u = np.arcsin(s) + self.angles[frames]  # angle in the texture
        tracks = np.empty((t_len, len(q), 2))
        visible = np.empty((t_len, len(q)), bool)
        for t in range(t_len):
            phi = u - self.angles[t]
            bg_x = q[:, 1] + self.drift * (t - frames)
            tracks[t, :, 0] = np.where(on, cx + self.radius * np.sin(phi), bg_x)
            tracks[t, :, 1] = q[:, 2]
            # The cylinder's anti-aliased outline hides the background within 1 px of it too.
            behind = (np.abs(tracks[t, :, 0] - cx) < self.radius + 1.0) & (
                tracks[t, :, 1] >= self.centre[1] - 1) & (tracks[t, :, 1] <= self.centre[2] + 1)
            visible[t] = np.where(on, np.cos(phi) > VISIBLE_COS, ~behind)
        visible &= inside_frame(tracks, self.size)
        return tracks.astype(np.float32), visible

    def dense_truth(self, query_frame: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Truth for every pixel of ``query_frame``: tracks [T, H, W, 2] float32, visible [T, H, W] bool."""
        h, w = self.size
        ys, xs = np.mgrid[0:h, 0:w]
        q = np.stack([np.full(h * w, query_frame), xs.ravel(), ys.ravel()], 1).astype(np.float32)
        tracks, visible = self.ground_truth(q)
        return tracks.reshape(-1, h, w, 2), visible.reshape(-1, h, w)

    def front_region(self, half_angle_deg: float = 35.0, height: float = 0.6) -> np.ndarray:
        """[H, W] bool: a patch painted on the cylinder's front on frame 0 (within ``half_angle_deg``
        of the line of sight, over the middle ``height`` share of its height)."""
        h, w = self.size
        cx, y0, y1 = self.centre
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        mid, half = (y0 + y1) / 2, (y1 - y0) * height / 2
        return (np.abs(xs - cx) <= self.radius * np.sin(np.radians(half_angle_deg))) & (np.abs(ys - mid) <= half)


def make_turning_clip(
    num_frames: int = 48,
    size: tuple[int, int] = (240, 320),
    turns: float = 1.0,
    radius_share: float = 0.28,
    drift: float = 0.5,
    image: np.ndarray | None = None,
) -> TurningClip:
    """Render a ``TurningClip``.

    Args:
      num_frames: T.
      size: ``(H, W)``.
      turns: full turns over the clip (1.0: the front faces the camera again on the last frame).
      radius_share: cylinder radius as a share of W.
      drift: background motion in px per frame.
      image: uint8 [h, w, 3] RGB photo for both the cylinder's skin and the background;
        defaults to ``sample_photo()``.
    """
    h, w = size
    photo = sample_photo() if image is None else image
    radius = radius_share * w
    cx, y0, y1 = (w - 1) / 2, 0.15 * h, 0.85 * h
    angles = np.linspace(0.0, 2 * np.pi * turns, num_frames) if num_frames > 1 else np.zeros(1)
    # Background: the photo at a little more than the frame's width so it can drift; skin: its upper middle
    # stretched around the cylinder at true scale (circumference 2 pi R).
    pad = int(np.ceil(abs(drift) * num_frames)) + 2
    # The background is the photo turned on its side, so the skin's texture is not also seen behind it.
    back = cv2.resize(np.ascontiguousarray(np.rot90(photo)), (w + pad, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    skin_w, skin_h = int(round(2 * np.pi * radius)), int(round(y1 - y0)) + 1
    crop = photo[: photo.shape[0] // 2, photo.shape[1] // 4 : 3 * photo.shape[1] // 4]
    # Rolled by half a turn so the seam where the photo's edges meet is at the back on frame 0.
    skin = np.roll(cv2.resize(crop, (skin_w, skin_h), interpolation=cv2.INTER_AREA), skin_w // 2, axis=1)
    skin = skin.astype(np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    s = (xs - cx) / radius
    on = (np.abs(s) < 1.0) & (ys >= y0) & (ys <= y1)
    phi = np.arcsin(np.clip(s, -1.0, 1.0))
    shade = (0.55 + 0.45 * np.cos(phi))[..., None]  # a surface turned away from the light looks darker
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    for t, theta in enumerate(angles):
        ox = pad - 1 - drift * t if drift >= 0 else -drift * t  # background column seen at x = 0
        bg = cv2.remap(back, xs + np.float32(ox), ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        u = np.mod(phi + theta, 2 * np.pi) / (2 * np.pi) * skin_w
        fg = cv2.remap(skin, u.astype(np.float32), (ys - np.float32(y0)), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_WRAP) * shade
        frames[t] = np.clip(np.where(on[..., None], fg, bg), 0, 255).astype(np.uint8)
    return TurningClip(frames, (cx, y0, y1), radius, angles, float(drift))


def turning_scores(visible_pred: np.ndarray, visible_true: np.ndarray, mask: np.ndarray, query_frame: int = 0) -> dict:
    """Occlusion accuracy and visible-share error inside ``mask`` over the frames other than ``query_frame``.

    Args:
      visible_pred, visible_true: [T, H, W] bool.
      mask: [H, W] bool region on the query frame.

    Returns:
      ``oa`` (share of region pixel-frames whose visibility is right), ``share_err`` (mean over
      frames of |true - predicted visible share|), ``false_visible`` / ``false_hidden`` (shares of
      region pixel-frames wrongly called visible / hidden).
    """
    keep = np.arange(visible_true.shape[0]) != query_frame
    vt, vp = visible_true[keep][:, mask], visible_pred[keep][:, mask]
    return {
        "oa": float((vt == vp).mean()),
        "share_err": float(np.abs(vt.mean(1) - vp.mean(1)).mean()),
        "false_visible": float((vp & ~vt).mean()),
        "false_hidden": float((~vp & vt).mean()),
    }
