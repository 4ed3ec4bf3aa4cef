"""Sparse tracks -> dense coarse flow: every coarse cell takes the motion of its nearest visible track.

Coordinates follow DOT: track positions ``(x, y)`` in pixels of a ``(H, W)``
frame are normalised to ``x / (W - 1), y / (H - 1)``, and the coarse grid of
``(Hc, Wc)`` cells is ``linspace(0, 1)`` along each axis (corners aligned), so
cell ``(i, j)`` sits at pixel ``(i (W-1)/(Wc-1), j (H-1)/(Hc-1))``. Distances are
squared Euclidean in these normalised coordinates. The coarse flow is given in
coarse-grid pixels: normalised displacement times ``(Wc - 1, Hc - 1)``.

The distance matrix is built in chunks of cells so that it never holds more
than ``max_elements`` entries; the result does not depend on the chunking.
"""

from __future__ import annotations

import numpy as np
import torch

MAX_ELEMENTS = 64 * 1024 * 1024
"""Largest distance matrix (cells x tracks) built at once: 256 MB of float32."""


def normalise(xy: np.ndarray | torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Pixel ``(x, y)`` [..., 2] -> corner-aligned [0, 1] coordinates (float32 tensor)."""
    h, w = size
    xy = torch.as_tensor(np.asarray(xy, dtype=np.float32) if isinstance(xy, np.ndarray) else xy).float()
    return xy / torch.tensor([max(w - 1, 1), max(h - 1, 1)], dtype=torch.float32)


def coarse_grid(coarse: tuple[int, int]) -> torch.Tensor:
    """[Hc * Wc, 2] float32 normalised ``(x, y)`` of the coarse cells, row-major."""
    hc, wc = coarse
    ys = torch.linspace(0, 1, hc) if hc > 1 else torch.zeros(1)
    xs = torch.linspace(0, 1, wc) if wc > 1 else torch.zeros(1)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1).reshape(-1, 2)


def nearest_visible(
    points: torch.Tensor, visible: torch.Tensor, cells: torch.Tensor, max_elements: int = MAX_ELEMENTS
) -> torch.Tensor:
    """Index of the nearest visible point for each cell.

    Args:
      points: [N, 2] float normalised ``(x, y)``.
      visible: [N] bool; only these points are candidates.
      cells: [M, 2] float normalised ``(x, y)``.
      max_elements: cap on the size of one distance block (cells x visible points).

    Returns:
      [M] int64 index into ``points``; -1 for every cell when no point is visible.
      Ties go to the lowest index.
    """
    idx_visible = torch.nonzero(torch.as_tensor(visible, dtype=torch.bool)).flatten()
    m = cells.shape[0]
    if idx_visible.numel() == 0:
        return torch.full((m,), -1, dtype=torch.int64)
    pts = points[idx_visible].float()  # [S, 2]
    s = pts.shape[0]
    chunk = max(1, int(max_elements) // s)
    out = torch.empty(m, dtype=torch.int64)
    p2 = (pts * pts).sum(-1)  # [S]
    for start in range(0, m, chunk):
        c = cells[start : start + chunk].float()
        # |c - p|^2 = |c|^2 + |p|^2 - 2 c.p ; |c|^2 is the same for every p, so it is left out.
        d = p2[None, :] - 2.0 * (c @ pts.T)
        out[start : start + chunk] = d.argmin(dim=1)
    return idx_visible[out]


class SparseToDense:
    """Coarse flow and alpha from one source frame to any target frame.

    The nearest visible track of every cell depends on the source frame only, so it
    is found once here and reused for every target.

    Args:
      tracks: [T, N, 2] float ``(x, y)`` pixels of a ``size = (H, W)`` frame.
      visible: [T, N] bool.
      source: source frame index.
      size: ``(H, W)`` the pixels refer to.
      coarse: ``(Hc, Wc)`` coarse grid.
      max_elements: distance block cap (see ``nearest_visible``).
    """

    def __init__(self, tracks, visible, source: int, size, coarse, max_elements: int = MAX_ELEMENTS):
        self.points = normalise(np.asarray(tracks, np.float32), size)  # [T, N, 2]
        self.visible = torch.as_tensor(np.asarray(visible, bool))
        self.source = int(source)
        self.coarse = (int(coarse[0]), int(coarse[1]))
        cells = coarse_grid(self.coarse)
        self.nearest = nearest_visible(self.points[source], self.visible[source], cells, max_elements)

    def flow_to(self, target: int) -> tuple[np.ndarray, np.ndarray]:
        """Coarse motion from the source frame to ``target``.

        Returns:
          flow [Hc, Wc, 2] float32 ``(dx, dy)`` in coarse-grid pixels, and
          alpha [Hc, Wc] float32 in {0, 1}: 1 where the cell's track is visible in
          ``target`` (0 everywhere when no track is visible in the source frame).
        """
        hc, wc = self.coarse
        if self.nearest[0] < 0:
            return np.zeros((hc, wc, 2), np.float32), np.zeros((hc, wc), np.float32)
        delta = self.points[target, self.nearest] - self.points[self.source, self.nearest]
        delta = delta * torch.tensor([max(wc - 1, 1), max(hc - 1, 1)], dtype=torch.float32)
        alpha = self.visible[target, self.nearest].float()
        return delta.reshape(hc, wc, 2).numpy(), alpha.reshape(hc, wc).numpy()

    def of_nearest(self, values: np.ndarray, target: int) -> np.ndarray:
        """A per-track flag [T, N] bool read for each cell's track in ``target`` -> [Hc, Wc] float32 in {0, 1}."""
        hc, wc = self.coarse
        if self.nearest[0] < 0:
            return np.zeros((hc, wc), np.float32)
        return np.asarray(values)[target, self.nearest.numpy()].astype(np.float32).reshape(hc, wc)


def upsample_coarse(coarse: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear, corner-aligned upsampling of a coarse map to ``size = (H, W)``.

    Args:
      coarse: [Hc, Wc] or [Hc, Wc, C] float32 on the corner-aligned coarse grid.
      size: ``(H, W)`` of the full-resolution grid.

    Returns:
      [H, W] or [H, W, C] float32; values are not rescaled (see ``coarse_to_pixels``).
    """
    import cv2

    hc, wc = coarse.shape[:2]
    h, w = size
    mx = (np.arange(w, dtype=np.float32) * ((wc - 1) / max(w - 1, 1)))[None, :].repeat(h, 0)
    my = (np.arange(h, dtype=np.float32) * ((hc - 1) / max(h - 1, 1)))[:, None].repeat(w, 1)
    coarse = np.ascontiguousarray(coarse, np.float32)
    return cv2.remap(coarse, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def coarse_to_pixels(flow: np.ndarray, coarse: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Scale a flow [..., 2] in coarse-grid pixels to pixels of ``size = (H, W)`` (corner-aligned)."""
    hc, wc = coarse
    h, w = size
    scale = np.array([(w - 1) / max(wc - 1, 1), (h - 1) / max(hc - 1, 1)], np.float32)
    return (flow * scale).astype(np.float32)
