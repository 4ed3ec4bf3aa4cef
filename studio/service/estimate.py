"""How long a request will take, said before the user starts it.

A request is described by a ``Workload`` (frames, working size, points, ...). Each
model with a known cost has a *prior*: seconds on the reference machine, a 2-core
CPU, from the figures of ``bench/bench_core.py`` and ``bench/bench_dense.py``. Every
finished request is *observed*, and the ratio of its real time to the prior (an
average over the last few runs of that model) scales later estimates, so they follow
this machine (a GPU Space, a loaded laptop) after one run. A model with no prior gets
an estimate once it has run here (seconds per frame and point, from its runs).

No gradio and no model building here: an estimate must be cheap enough to refresh on
every click.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

SLOW_SECONDS = 5.0
"""Estimates at or above this are worth telling the user before they start."""


@dataclass(frozen=True)
class Workload:
    """What one request asks of a model.

    Attributes:
      frames: frames tracked.
      height, width: the working frames' size in pixels (what the tracker sees).
      points: query points (0 for a Dense request, which tracks every pixel).
      query_frames: distinct frames the queries are on (dense models compute one dense
        field per query frame).
      num_tracks: initial tracks of a dense model.
      work_side: a dense model's working resolution (longer side, px).
      dense: a Dense request (every pixel of one frame, full-size output).
    """

    frames: int
    height: int
    width: int
    points: int = 0
    query_frames: int = 1
    num_tracks: int = 2048
    work_side: int = 512
    dense: bool = False

    @property
    def megapixels(self) -> float:
        return self.height * self.width / 1e6

    @property
    def work_megapixels(self) -> float:
        """A dense model's working frame size in megapixels (never larger than the frames)."""
        side = max(self.height, self.width)
        f = min(1.0, self.work_side / side) if side else 1.0
        return self.megapixels * f * f

    def describe(self) -> str:
        """E.g. ``70 frames of 854×480, 3 points on 2 frames``."""
        text = f"{self.frames} frames of {self.width}×{self.height}"
        if self.dense:
            return text + f", {self.num_tracks} initial tracks"
        pts = f"{self.points} point{'s' if self.points != 1 else ''}"
        return text + f", {pts}" + (f" on {self.query_frames} frames" if self.query_frames > 1 else "")


def _lk(w: Workload) -> float:
    # bench_core.py (854x480, 70 frames): 9.5 ms per frame + 0.028 ms per point and frame.
    return w.frames * (0.023 * w.megapixels + 2.8e-5 * w.points)


def _dense_recipe(refine_per_mpx: float) -> Callable[[Workload], float]:
    def cost(w: Workload) -> float:
        # bench_dense.py (apple.mp4, 50 frames, 512x288 working, 2048 tracks): initial tracks 0.096 ms per
        # track and frame; refinement per working megapixel and frame pair; resizing the dense result back
        # to the frames 0.024 s per megapixel and frame. One dense field per query frame.
        init = w.frames * w.num_tracks * 9.6e-5
        fields = 1 if w.dense else max(1, w.query_frames)
        refine = fields * w.frames * w.work_megapixels * refine_per_mpx
        output = w.frames * w.megapixels * 0.024 if w.dense else 0.0
        return init + refine + output

    return cost


PRIORS: dict[str, Callable[[Workload], float]] = {
    "lk": _lk,
    "dot_dis": _dense_recipe(0.167),  # OpenCV DIS: 1.2 s for 49 pairs of 0.147 MP
    # RAFT refiner on the CPU: 26 s per pair at 480x856 (bench_raft.py), plus raft_cvo's boundaries.
    "dot": _dense_recipe(76.0),
}
"""Seconds on the reference 2-core CPU, by model name."""

CPU_ONLY_PRIORS = {"dot"}
"""Priors measured with a neural model on the CPU: not used when models run on another device."""


def _units(w: Workload) -> float:
    """Work of a model with no prior: frames, growing slowly with points (neural trackers' cost is mostly
    per frame)."""
    return max(1, w.frames) * (1.0 + w.points / 64.0) * max(w.megapixels, 0.05)


@dataclass
class Estimate:
    """Seconds a request should take, and where the figure comes from."""

    seconds: float
    basis: str

    @property
    def slow(self) -> bool:
        return self.seconds >= SLOW_SECONDS

    def text(self) -> str:
        """E.g. ``about 40 s`` or ``about 3 min``."""
        s = self.seconds
        if s < 1:
            return "under a second"
        if s < 90:
            return f"about {s:.0f} s"
        return f"about {s / 60:.0f} min" if s < 5400 else f"about {s / 3600:.1f} h"


class Estimator:
    """Estimates from priors, corrected by the runs seen here; thread-safe.

    Args:
      on_cpu: neural models run on the CPU here (their CPU priors apply).
      memory: runs of a model that the correction averages over.
    """

    def __init__(self, on_cpu: bool = True, memory: int = 4):
        self.on_cpu = on_cpu
        self.memory = int(memory)
        self._ratios: dict[str, list[float]] = {}
        self._rates: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _prior(self, model: str, w: Workload) -> float | None:
        cost = PRIORS.get(model)
        if cost is None or (model in CPU_ONLY_PRIORS and not self.on_cpu):
            return None
        return max(cost(w), 1e-3)

    def observe(self, model: str, workload: Workload, seconds: float) -> None:
        """Record that ``model`` took ``seconds`` on ``workload`` (tracking only, no loading or drawing)."""
        if not seconds > 0:
            return
        prior = self._prior(model, workload)
        with self._lock:
            if prior is not None:
                runs = self._ratios.setdefault(model, [])
                runs.append(seconds / prior)
            else:
                runs = self._rates.setdefault(model, [])
                runs.append(seconds / _units(workload))
            del runs[: -self.memory]

    def estimate(self, model: str, workload: Workload) -> Estimate | None:
        """Seconds ``model`` should take on ``workload``, or None when nothing is known about it yet."""
        prior = self._prior(model, workload)
        with self._lock:
            ratios = list(self._ratios.get(model, []))
            rates = list(self._rates.get(model, []))
        if prior is not None:
            if ratios:
                n = len(ratios)
                return Estimate(prior * sum(ratios) / n, f"from {n} earlier run{'s' if n > 1 else ''} here")
            return Estimate(prior, "rough: measured on a 2-core CPU")
        if rates:
            n = len(rates)
            return Estimate(_units(workload) * sum(rates) / n, f"from {n} earlier run{'s' if n > 1 else ''} here")
        return None
