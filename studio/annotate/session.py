"""An annotation in progress: named points placed by hand on keyframes, a tracker's proposals in between.

For each point the user places **keyframes** (frame, x, y: the point is visible
there, at that position) and marks frames where it is **hidden**. Every other
frame gets a **proposal**:

* each keyframe ``k`` is tracked (with the chosen tracker, forwards and backwards)
  over the frames up to its neighbouring keyframes, its *span*;
* between two keyframes the proposal blends their two tracks linearly in time
  (weight ``(t - k1) / (k2 - k1)`` on the later one), so it meets each keyframe
  exactly; before the first / after the last keyframe it is that keyframe's track;
* visibility is the tracker's, from the nearer keyframe's track, and always False on
  frames marked hidden;
* with ``INTERPOLATE`` (no tracker) a keyframe's track stays at its position, so
  proposals are straight lines between keyframes.

Correcting a frame places a new keyframe: it is tracked from the correction and only
the frames between its neighbouring keyframes change ("track, then fix").
Tracks of keyframes are cached by point, frame, position, tracker and span, so
moving through frames or re-saving never tracks again.

Positions are in source-video pixels (integer = pixel centre, ``studio.conventions``);
the tracker is reached through a ``TrackSpan`` callable that the caller builds
around its video (``studio.service.annotate_job``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from studio.benchmark.datasets.tapvid import KEYFRAME_HIDDEN, KEYFRAME_PLACED, KEYFRAME_PROPOSED
from studio.results import MAX_NAME_CHARS, InputError, percent_text

INTERPOLATE = "interpolate"
"""The 'no tracker' choice: proposals are straight lines between keyframes."""

TrackSpan = Callable[[int, int, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``track(lo, hi, keys)``: track ``keys`` float32 [K, 3] ``(t, x, y)`` (source pixels, ``lo <= t <= hi``)
through frames ``lo..hi``; returns ``(xy float32 [hi-lo+1, K, 2], visible bool [hi-lo+1, K])``."""

MAX_POINTS = 500
"""Most points one annotation may hold."""

_uid = itertools.count(1)


@dataclass
class AnnotatedPoint:
    """One point's hand-made marks.

    Attributes:
      name: its name (may be empty).
      keys: ``{frame: (x, y)}`` placed by hand, visible there.
      hidden: frames marked hidden by hand.
      uid: identity for the track cache (indices shift when points are deleted).
    """

    name: str
    keys: dict[int, tuple[float, float]] = field(default_factory=dict)
    hidden: set[int] = field(default_factory=set)
    uid: int = field(default_factory=lambda: next(_uid))

    def key_frames(self) -> list[int]:
        return sorted(self.keys)


@dataclass
class Edit:
    """What one change did, for the status line.

    Attributes:
      point: index of the point.
      span: ``(lo, hi)`` frames whose proposals were recomputed.
      tracked: keyframes that had to be tracked (not cached).
      message: one sentence.
    """

    point: int
    span: tuple[int, int]
    tracked: list[int]
    message: str


class Annotation:
    """Points, their keyframes and hidden marks, and the proposals between them (module doc).

    Args:
      num_frames: T.
      size: ``(H, W)`` of the source video (the pixels positions are in).
      model: registry name of the tracker that proposes, or ``INTERPOLATE``.

    Attributes:
      points: the ``AnnotatedPoint``s in order.
      tracks: float32 [T, N, 2] current positions (NaN for a point with no keyframe yet).
      visible: bool [T, N].
    """

    def __init__(self, num_frames: int, size: tuple[int, int], model: str = INTERPOLATE):
        if num_frames < 1:
            raise InputError("an annotation needs a video with at least one frame")
        self.num_frames = int(num_frames)
        self.size = (int(size[0]), int(size[1]))
        self.model = model
        self.points: list[AnnotatedPoint] = []
        self.tracks = np.zeros((self.num_frames, 0, 2), np.float32)
        self.visible = np.zeros((self.num_frames, 0), bool)
        self._cache: dict[tuple, tuple[int, int, np.ndarray, np.ndarray]] = {}

    # ------------------------------------------------------------------ points

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.points]

    def add_point(self, name: str = "") -> int:
        """Add a point (no keyframe yet); returns its index."""
        name = (name or "").strip()
        if len(name) > MAX_NAME_CHARS:
            raise InputError(f"a point name may have at most {MAX_NAME_CHARS} characters")
        if len(self.points) >= MAX_POINTS:
            raise InputError(f"an annotation holds at most {MAX_POINTS} points")
        self.points.append(AnnotatedPoint(name or f"point{len(self.points)}"))
        self.tracks = np.concatenate([self.tracks, np.full((self.num_frames, 1, 2), np.nan, np.float32)], axis=1)
        self.visible = np.concatenate([self.visible, np.zeros((self.num_frames, 1), bool)], axis=1)
        return len(self.points) - 1

    def rename(self, index: int, name: str) -> None:
        self._point(index).name = (name or "").strip()[:MAX_NAME_CHARS] or f"point{index}"

    def delete_point(self, index: int) -> None:
        self._point(index)
        del self.points[index]
        self.tracks = np.delete(self.tracks, index, axis=1)
        self.visible = np.delete(self.visible, index, axis=1)

    def _point(self, index: int) -> AnnotatedPoint:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.points):
            raise InputError(f"there is no point {index!r}; add a point first" if not self.points
                             else f"there is no point {index!r}; points are 0..{len(self.points) - 1}")
        return self.points[int(index)]

    def _frame(self, t) -> int:
        if isinstance(t, bool) or not float(t).is_integer() or not 0 <= int(t) < self.num_frames:
            raise InputError(f"frame {t} is outside the video's frames 0..{self.num_frames - 1}")
        return int(t)

    # ------------------------------------------------------------------ edits

    def place(self, index: int, t: int, x: float, y: float, track: TrackSpan | None = None) -> Edit:
        """Put point ``index`` at ``(x, y)`` on frame ``t`` (a keyframe: visible there) and re-propose around it."""
        p = self._point(index)
        t = self._frame(t)
        h, w = self.size
        if not (math.isfinite(x) and math.isfinite(y) and -0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5):
            raise InputError(f"({x:g}, {y:g}) is outside the {w}x{h} frame")
        p.keys[t] = (float(x), float(y))
        p.hidden.discard(t)
        lo, hi = self._around(p, t, t)
        edit = self._repropose(index, lo, hi, track)
        edit.message = (f"{p.name} placed on frame {t} at ({x:.1f}, {y:.1f}); " + edit.message)
        return edit

    def hide(self, index: int, first: int, last: int | None = None, track: TrackSpan | None = None) -> Edit:
        """Mark point ``index`` hidden on frames ``first..last`` (keyframes there are removed)."""
        p = self._point(index)
        first = self._frame(first)
        last = first if last is None else self._frame(last)
        first, last = min(first, last), max(first, last)
        for t in range(first, last + 1):
            p.keys.pop(t, None)
            p.hidden.add(t)
        lo, hi = self._around(p, first, last)
        edit = self._repropose(index, lo, hi, track)
        frames = f"frame {first}" if first == last else f"frames {first}–{last}"
        edit.message = f"{p.name} marked hidden on {frames}; " + edit.message
        return edit

    def clear(self, index: int, t: int, track: TrackSpan | None = None) -> Edit:
        """Remove point ``index``'s keyframe or hidden mark on frame ``t`` (the frame becomes a proposal)."""
        p = self._point(index)
        t = self._frame(t)
        had = t in p.keys or t in p.hidden
        p.keys.pop(t, None)
        p.hidden.discard(t)
        lo, hi = self._around(p, t, t)
        edit = self._repropose(index, lo, hi, track)
        edit.message = (f"{p.name}: removed the mark on frame {t}; " if had
                        else f"{p.name} had no mark on frame {t}; ") + edit.message
        return edit

    def set_model(self, model: str, track: TrackSpan | None = None) -> list[Edit]:
        """Propose with another tracker: every point is re-proposed over the whole video."""
        self.model = model
        return [self._repropose(i, 0, self.num_frames - 1, track) for i in range(len(self.points))]

    def _around(self, p: AnnotatedPoint, first: int, last: int) -> tuple[int, int]:
        """The frames whose proposals an edit on ``first..last`` can change: up to the keyframes around it."""
        before = [k for k in p.keys if k < first]
        after = [k for k in p.keys if k > last]
        return (max(before) if before else 0), (min(after) if after else self.num_frames - 1)

    # ------------------------------------------------------------------ proposals

    def _repropose(self, index: int, lo: int, hi: int, track: TrackSpan | None) -> Edit:
        p = self.points[index]
        keys = p.key_frames()
        inside = [k for k in keys if lo <= k <= hi]
        tracks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        tracked: list[int] = []
        if inside:
            tracks, tracked = self._key_tracks(p, keys, inside, lo, hi, track)
        for t in range(lo, hi + 1):
            self.tracks[t, index], self.visible[t, index] = self._proposal(p, t, keys, tracks)
        how = "straight lines between keyframes" if self.model == INTERPOLATE else self.model
        if not keys:
            msg = f"{p.name} has no keyframe: click on a frame to place it"
        elif tracked:
            msg = (f"re-tracked frames {lo}–{hi} from keyframe{'s' if len(tracked) > 1 else ''} "
                   f"{', '.join(map(str, tracked))} with {how}")
        else:
            msg = f"proposals on frames {lo}–{hi} updated ({how})"
        return Edit(index, (lo, hi), tracked, msg)

    def _span(self, keys: list[int], k: int, lo: int, hi: int) -> tuple[int, int]:
        i = keys.index(k)
        a = keys[i - 1] if i > 0 else 0
        b = keys[i + 1] if i + 1 < len(keys) else self.num_frames - 1
        return max(a, lo), min(b, hi)

    def _key_tracks(self, p, keys, inside, lo, hi, track):
        """Each keyframe's track over its span within ``lo..hi``: from the cache, or tracked now (grouped by span)."""
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        todo: dict[tuple[int, int], list[int]] = {}
        for k in inside:
            a, b = self._span(keys, k, lo, hi)
            x, y = p.keys[k]
            if self.model == INTERPOLATE:
                n = b - a + 1
                out[k] = (np.tile(np.float32([x, y]), (n, 1)), np.ones(n, bool), a)
                continue
            cached = self._cache.get((p.uid, k, x, y, self.model))
            if cached is not None and cached[0] <= a and cached[1] >= b:
                c_lo, _, xy, vis = cached
                out[k] = (xy[a - c_lo : b - c_lo + 1], vis[a - c_lo : b - c_lo + 1], a)
            else:
                todo.setdefault((a, b), []).append(k)
        if todo and track is None:
            raise InputError("a tracker is needed to propose positions; choose one or 'interpolate'")
        for (a, b), ks in todo.items():
            queries = np.array([[k, *p.keys[k]] for k in ks], np.float32)
            xy, vis = track(a, b, queries)
            xy, vis = np.asarray(xy, np.float32), np.asarray(vis, bool)
            if xy.shape != (b - a + 1, len(ks), 2) or vis.shape != (b - a + 1, len(ks)):
                raise RuntimeError(f"the tracker returned {list(xy.shape)} for frames {a}..{b} and {len(ks)} points")
            for j, k in enumerate(ks):
                x, y = p.keys[k]
                self._cache[(p.uid, k, x, y, self.model)] = (a, b, xy[:, j].copy(), vis[:, j].copy())
                out[k] = (xy[:, j], vis[:, j], a)
        return out, sorted(k for ks in todo.values() for k in ks)

    def _proposal(self, p: AnnotatedPoint, t: int, keys: list[int], tracks: dict) -> tuple[np.ndarray, bool]:
        if t in p.keys:
            return np.float32(p.keys[t]), True
        if not keys:
            return np.float32([np.nan, np.nan]), False
        before = [k for k in keys if k < t]
        after = [k for k in keys if k > t]
        k1, k2 = (before[-1] if before else None), (after[0] if after else None)

        def at(k):
            xy, vis, start = tracks[k]
            return xy[t - start], bool(vis[t - start])

        if k1 is not None and k2 is not None:
            (p1, v1), (p2, v2) = at(k1), at(k2)
            w = (t - k1) / (k2 - k1)
            xy = (1 - w) * p1 + w * p2
            vis = v1 if w <= 0.5 else v2
        else:
            xy, vis = at(k1 if k1 is not None else k2)
        return np.asarray(xy, np.float32), bool(vis) and t not in p.hidden

    # ------------------------------------------------------------------ views and files

    def keyframe_codes(self) -> np.ndarray:
        """int8 [N, T]: ``KEYFRAME_PLACED`` / ``KEYFRAME_HIDDEN`` where marked by hand, else ``KEYFRAME_PROPOSED``."""
        codes = np.full((len(self.points), self.num_frames), KEYFRAME_PROPOSED, np.int8)
        for i, p in enumerate(self.points):
            codes[i, list(p.keys)] = KEYFRAME_PLACED
            codes[i, list(p.hidden)] = KEYFRAME_HIDDEN
        return codes

    def check_complete(self) -> None:
        """Raise ``InputError`` unless there is a point and every point has a keyframe."""
        if not self.points:
            raise InputError("there are no points yet: add a point and place it on a frame")
        missing = [p.name for p in self.points if not p.keys]
        if missing:
            raise InputError(f"{', '.join(missing[:5])} {'has' if len(missing) == 1 else 'have'} no keyframe yet: "
                             "place each point on at least one frame (or delete it)")

    def summary(self) -> list[str]:
        """One line per point: name, keyframes, hidden frames, share visible."""
        lines = []
        for i, p in enumerate(self.points):
            keys = p.key_frames()
            hidden = _ranges(sorted(p.hidden))
            vis = float(self.visible[:, i].mean()) if self.num_frames else 0.0
            lines.append(
                f"{i}: {p.name} — keyframes {_ranges(keys) or 'none'}"
                + (f"; hidden {hidden}" if hidden else "")
                + f"; visible {percent_text(vis)}"
            )
        return lines

    @classmethod
    def from_tracks(
        cls,
        tracks: np.ndarray,
        visible: np.ndarray,
        size: tuple[int, int],
        names: list[str] | None,
        keyframes: np.ndarray | None,
        model: str = INTERPOLATE,
    ) -> tuple[Annotation, list[str]]:
        """An annotation to continue, from saved positions (e.g. a dataset file written by the Annotate tab).

        Args:
          tracks: float [T, N, 2] source pixels; visible: bool [T, N].
          size: ``(H, W)``.
          names: N names or None.
          keyframes: int8 [N, T] ``KEYFRAME_*`` or None: then every visible position counts as
            placed by hand and every hidden one as marked hidden (a plain TAP-Vid file).

        Returns:
          ``(annotation, notices)``; positions between keyframes are kept as saved until an
          edit re-proposes them.
        """
        t_len, n = visible.shape
        ann = cls(t_len, size, model)
        notices = []
        if keyframes is None:
            keyframes = np.where(visible.T, KEYFRAME_PLACED, KEYFRAME_HIDDEN).astype(np.int8)
            notices.append("the file records no keyframes: every visible position counts as placed by hand")
        for i in range(n):
            ann.add_point(names[i] if names else "")
            p = ann.points[i]
            for t in np.flatnonzero(keyframes[i] == KEYFRAME_PLACED):
                p.keys[int(t)] = (float(tracks[t, i, 0]), float(tracks[t, i, 1]))
            p.hidden = {int(t) for t in np.flatnonzero(keyframes[i] == KEYFRAME_HIDDEN)}
        ann.tracks = np.asarray(tracks, np.float32).copy()
        ann.visible = np.asarray(visible, bool).copy()
        for i, p in enumerate(ann.points):
            ann.visible[list(p.hidden), i] = False
            ann.visible[list(p.keys), i] = True
        return ann, notices


def _ranges(frames: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0–2, 5, 7–8"``."""
    out = []
    for _, group in itertools.groupby(enumerate(frames), key=lambda it: it[1] - it[0]):
        run = [f for _, f in group]
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}–{run[-1]}")
    text = ", ".join(out[:12])
    return text + (f", … ({len(out) - 12} more)" if len(out) > 12 else "")
