"""Weight-free dense optical flow: OpenCV's DIS (Kroeger et al., ECCV 2016)."""

from __future__ import annotations

import cv2
import numpy as np

from studio.trackers.base import check_frame_pair

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class DISFlow:
    """Dense Inverse Search optical flow on grey frames.

    Args:
      preset: ``"ultrafast"``, ``"fast"`` or ``"medium"`` (OpenCV's speed/quality presets).
    """

    name = "dis"

    def __init__(self, preset: str = "medium"):
        if preset not in _PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; choose one of {sorted(_PRESETS)}")
        self.preset = preset

    def flow(self, frame0: np.ndarray, frame1: np.ndarray, init: np.ndarray | None = None) -> np.ndarray:
        """Motion of every pixel of ``frame0`` into ``frame1``.

        Args:
          frame0, frame1: [H, W, 3] uint8 RGB.
          init: optional [H, W, 2] float32 ``(dx, dy)`` starting estimate (DIS refines it).

        Returns:
          [H, W, 2] float32 ``(dx, dy)`` in pixels.
        """
        check_frame_pair(frame0, frame1)
        # The engine is stateful and not thread-safe; a fresh one per call costs microseconds.
        dis = cv2.DISOpticalFlow_create(_PRESETS[self.preset])
        g0 = cv2.cvtColor(frame0, cv2.COLOR_RGB2GRAY)
        g1 = cv2.cvtColor(frame1, cv2.COLOR_RGB2GRAY)
        flow = None
        if init is not None:
            init = np.asarray(init, dtype=np.float32)
            if init.shape != frame0.shape[:2] + (2,):
                raise ValueError(f"init flow must have shape {list(frame0.shape[:2]) + [2]}, got {list(init.shape)}")
            flow = init.copy()
        return dis.calc(g0, g1, flow)
