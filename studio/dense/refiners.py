"""Refiners: coarse flow + alpha from the tracks -> full-resolution flow and visibility.

Every refiner has ``patch_size`` (the coarse grid is ``(H / P, W / P)``) and
``refine(frame0, frame1, coarse_flow, coarse_alpha, backward=None)`` with

* ``frame0, frame1``: [H, W, 3] uint8 RGB at the working resolution (H, W
  multiples of ``patch_size``),
* ``coarse_flow``: [H/P, W/P, 2] float32 ``(dx, dy)`` in coarse-grid pixels
  (corner-aligned, see ``studio.dense.interpolation``), ``coarse_alpha``:
  [H/P, W/P] float32 in [0, 1],
* ``backward``: optional ``(coarse_flow, coarse_alpha)`` from ``frame1`` to
  ``frame0``, used by refiners with ``uses_backward = True``,
* ``tracks_kept``: the share of a masked region's initial tracks visible in the source
  frame that are still visible in the target frame (1 for requests without a mask; the
  DIS refiner checks more when it is low),
* ``trusted``: optional [H/P, W/P] float32 in {0, 1}, 1 where the cell's track was found
  again by appearance in the target frame (``studio.dense.redetect``); the DIS refiner's
  extra check for a low ``tracks_kept`` leaves those cells alone,

returning ``(flow [H, W, 2] float32 (dx, dy) pixels, visible [H, W] bool)``.
"""

from __future__ import annotations

import cv2
import numpy as np

from studio.dense.interpolation import coarse_to_pixels, upsample_coarse

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def _grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def sample_at(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` [H, W, ...] read at ``x + flow(x)`` (bilinear, border replicated)."""
    xs, ys = _grid(flow.shape[:2])
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _reverse(flow: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Approximate backward flow [H, W, 2] of a forward flow: ``b(y) = -flow(y + b(y))`` by fixed-point rounds
    (the forward motion read where each target pixel came from, not where it is)."""
    back = -flow
    for _ in range(rounds):
        back = -sample_at(flow, back)
    return back


def local_gain(luma0: np.ndarray, luma1: np.ndarray, visible: np.ndarray, cell: int = 8) -> np.ndarray:
    """How much brighter each pixel's surface looks in the target frame than in the source frame.

    Lighting changes slowly across the image (exposure, shading, a passing shadow), so the
    log brightness ratio of matched pixels is smoothed over a wide neighbourhood: averaged in
    ``cell`` x ``cell`` blocks over pixels ``visible`` says are matched, blurred across blocks,
    then averaged again without the pixels far from that first estimate (an occluder the tracks
    missed is not lighting). Blocks with no matched pixel nearby take the frame's median.

    Args:
      luma0: [H, W] float32 source brightness; luma1: [H, W] float32 target brightness at the
        matched positions (the target frame sampled along the flow).
      visible: [H, W] bool, pixels believed to be matched.
      cell: block size in pixels.

    Returns:
      [H, W] float32 gain in [0.5, 2]: ``luma1 ~ gain * luma0``.
    """
    h, w = luma0.shape
    log_ratio = np.log((luma1 + 1.0) / (luma0 + 1.0)).astype(np.float32)
    usable = visible & (luma0 > 8) & (luma1 > 8) & (luma0 < 250) & (luma1 < 250)  # clipped pixels say nothing
    if not usable.any():
        return np.ones((h, w), np.float32)
    fallback = float(np.median(log_ratio[usable]))
    small = (max(1, w // cell), max(1, h // cell))
    estimate = np.full((h, w), fallback, np.float32)
    weight = usable.astype(np.float32)
    for _ in range(2):
        num = cv2.resize(log_ratio * weight, small, interpolation=cv2.INTER_AREA)
        den = cv2.resize(weight, small, interpolation=cv2.INTER_AREA)
        num, den = cv2.GaussianBlur(num, (5, 5), 1.5), cv2.GaussianBlur(den, (5, 5), 1.5)
        coarse = np.where(den > 1e-3, num / np.maximum(den, 1e-6), fallback).astype(np.float32)
        estimate = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
        weight = (usable & (np.abs(log_ratio - estimate) < 0.2)).astype(np.float32)
    return np.exp(np.clip(estimate, -np.log(2.0), np.log(2.0))).astype(np.float32)


class DISRefiner:
    """Weight-free refiner: OpenCV DIS started from the interpolated track flow.

    Visibility starts from the interpolated alpha (``> 0.5``), whose edges are only
    as sharp as the spacing of the initial tracks. Within ``photo_band`` pixels of
    those edges a photometric test decides instead: a pixel is visible when its
    colour (Gaussian-blurred, mean absolute RGB difference) matches the target
    frame at the refined position within ``photo_threshold`` grey levels. Away
    from the edges the alpha stands, so lighting changes do not hide whole regions;
    only a colour difference above ``photo_hide`` (a point dragged onto something
    else entirely) hides a pixel anywhere. With ``relight`` the colours are compared
    after matching the local lighting (``local_gain``): exposure drifts and shading
    changed raw colours so much that whole regions of a well-tracked object were hidden.
    ``fb_check`` adds a forward-backward flow consistency test; on the synthetic
    clips it hid more correct pixels than occluded ones, so it is off by default. It
    does decide in a target frame where most initial tracks are hidden (``fb_below``):
    there the few tracks left visible are suspect (on an object that turned away they
    had slid onto what is still in view), and a pixel carried by one is kept only if
    the motion back from where it lands returns to it. On the turning-object clip
    (``studio.synthetic.turn``) this cut the region's pixel-frames wrongly called visible
    from 0.142 to 0.01.

    Args:
      preset: DIS speed/quality preset (``"ultrafast"``, ``"fast"``, ``"medium"``).
      patch_size: coarse grid cell size in working pixels.
      photo_band: half-width in pixels of the band around alpha edges where the
        photometric test decides (0 = alpha only).
      photo_threshold: largest colour difference (0..255) of a visible pixel in the band.
      photo_hide: colour difference above which any pixel is hidden (0 = off).
      photo_rescue: colour difference below which any pixel is visible (0 = off, the
        default: on 288x512 synthetic clips it raised occlusion IoU by 0.05-0.07 for two
        motions and lowered it by 0.03-0.06 for a third).
      fb_check: also require forward-backward consistency (a second DIS call per frame).
      fb_tolerance, fb_relative: its threshold, ``fb_tolerance + fb_relative * |flow|`` pixels.
      relight: compare colours after matching the local lighting between the frames.
      fb_below: the forward-backward test also decides in a target frame where fewer than this
        share of the initial tracks visible in the source frame are still visible (0 = never).
    """

    name = "dis_refiner"

    def __init__(
        self,
        preset: str = "medium",
        patch_size: int = 4,
        photo_band: int = 8,
        photo_threshold: float = 25.0,
        photo_hide: float = 60.0,
        photo_rescue: float = 0.0,
        fb_check: bool = False,
        fb_tolerance: float = 2.0,
        fb_relative: float = 0.05,
        relight: bool = True,
        fb_below: float = 0.5,
    ):
        if preset not in _DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; choose one of {sorted(_DIS_PRESETS)}")
        self.preset = preset
        self.patch_size = int(patch_size)
        self.photo_band = int(photo_band)
        self.photo_threshold = float(photo_threshold)
        self.photo_hide = float(photo_hide)
        self.photo_rescue = float(photo_rescue)
        self.fb_check = bool(fb_check)
        self.fb_tolerance = float(fb_tolerance)
        self.fb_relative = float(fb_relative)
        self.relight = bool(relight)
        self.fb_below = float(fb_below)

    @property
    def uses_backward(self) -> bool:
        return self.fb_check

    def _dis(self, g0: np.ndarray, g1: np.ndarray, init: np.ndarray) -> np.ndarray:
        # OpenCV's DIS takes a non-empty flow argument as its starting estimate.
        engine = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.preset])
        return engine.calc(g0, g1, np.ascontiguousarray(init, np.float32).copy())

    def _init(self, coarse_flow, coarse_alpha, size):
        coarse = coarse_flow.shape[:2]
        flow = coarse_to_pixels(upsample_coarse(coarse_flow, size), coarse, size)
        alpha = upsample_coarse(np.asarray(coarse_alpha, np.float32), size)
        return flow, alpha

    def refine(self, frame0, frame1, coarse_flow, coarse_alpha, backward=None, tracks_kept=1.0, trusted=None):
        size = frame0.shape[:2]
        g0 = cv2.cvtColor(frame0, cv2.COLOR_RGB2GRAY)
        g1 = cv2.cvtColor(frame1, cv2.COLOR_RGB2GRAY)
        init, alpha = self._init(coarse_flow, coarse_alpha, size)
        flow = self._dis(g0, g1, init)
        visible = alpha > 0.5
        if self.photo_band > 0 or self.photo_hide > 0 or self.photo_rescue > 0:
            visible = self._photometric(frame0, frame1, flow, visible)
        checked = self.fb_check and backward is not None
        if checked or tracks_kept < self.fb_below:
            b_init = self._init(backward[0], backward[1], size)[0] if backward is not None else _reverse(flow)
            back = self._dis(g1, g0, b_init)
            err = np.linalg.norm(flow + sample_at(back, flow), axis=-1)
            consistent = err <= self.fb_tolerance + self.fb_relative * np.linalg.norm(flow, axis=-1)
            if not checked and trusted is not None:
                consistent |= upsample_coarse(np.asarray(trusted, np.float32), size) > 0.5
            visible &= consistent
        return flow, visible

    def _photometric(self, frame0, frame1, flow, visible):
        b0 = cv2.GaussianBlur(frame0, (5, 5), 1.0).astype(np.float32)
        b1 = sample_at(cv2.GaussianBlur(frame1, (5, 5), 1.0).astype(np.float32), flow)
        if self.relight:
            b0 = b0 * local_gain(b0.mean(-1), b1.mean(-1), visible)[..., None]
        diff = np.abs(b0 - b1).mean(-1)
        if self.photo_band > 0:
            k = np.ones((2 * self.photo_band + 1,) * 2, np.uint8)
            v8 = visible.astype(np.uint8)
            band = cv2.dilate(v8, k) != cv2.erode(v8, k)
            visible = np.where(band, diff < self.photo_threshold, visible)
        if self.photo_rescue > 0:
            visible = visible | (diff < self.photo_rescue)
        if self.photo_hide > 0:
            visible = visible & (diff <= self.photo_hide)
        return visible


class RAFTRefiner:
    """DOT's learned refiner behind the refiner interface.

    Wraps a ``RAFTFlow`` (``create_tracker("raft_refiner")``) whose
    ``refine(frame0, frame1, coarse_flow, coarse_alpha, feats0, feats1)`` returns
    full-resolution flow in pixels and alpha in [0, 1]; visible = ``alpha > alpha_threshold``
    (0.8, as DOT). Encoded features of the most recently used frames are cached.

    Args:
      model: the ``RAFTFlow``.
      alpha_threshold: visibility threshold on the refined alpha.
      cache_frames: how many frames' features to keep.
    """

    name = "raft_refiner"
    uses_backward = False

    def __init__(self, model, alpha_threshold: float = 0.8, cache_frames: int = 4):
        self.model = model
        self.patch_size = int(model.patch_size)
        self.alpha_threshold = float(alpha_threshold)
        self.cache_frames = int(cache_frames)
        self._cache: dict = {}

    def _feats(self, frame: np.ndarray):
        key = (frame.__array_interface__["data"][0], frame.shape, frame.strides)
        if key in self._cache:
            return self._cache[key][1]
        feats = self.model.encode(frame)
        # Keep the frame alive with its features so its address cannot be reused by another.
        self._cache[key] = (frame, feats)
        while len(self._cache) > self.cache_frames:
            self._cache.pop(next(iter(self._cache)))
        return feats

    def clear(self) -> None:
        """Drop cached features."""
        self._cache.clear()

    def refine(self, frame0, frame1, coarse_flow, coarse_alpha, backward=None, tracks_kept=1.0, trusted=None):
        flow, alpha = self.model.refine(
            frame0, frame1, coarse_flow, coarse_alpha, feats0=self._feats(frame0), feats1=self._feats(frame1)
        )
        return np.asarray(flow, np.float32), np.asarray(alpha) > self.alpha_threshold
