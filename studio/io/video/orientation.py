"""A file's display orientation (rotation / mirror metadata), applied so frames are shown upright."""

from __future__ import annotations

import math
from dataclasses import dataclass

import av
import numpy as np

from studio.io.video.base import AV_ERRORS


@dataclass(frozen=True)
class Orientation:
    """The display transform of a file, restricted to the 8 axis-aligned ones.

    FFmpeg's display matrix maps a stored pixel ``(x, y)`` (y down) to the shown
    ``(x', y') = (a*x + c*y, b*x + d*y)`` up to a translation, with
    ``a, b, c, d`` in {-1, 0, 1}. A portrait phone clip is typically stored
    landscape with ``a=0, b=1, c=-1, d=0``: turn 90° clockwise to show it.
    """

    a: int = 1
    b: int = 0
    c: int = 0
    d: int = 1

    @property
    def is_identity(self) -> bool:
        return (self.a, self.b, self.c, self.d) == (1, 0, 0, 1)

    @property
    def transposed(self) -> bool:
        """True when stored width becomes shown height (90° or 270°)."""
        return self.a == 0

    @property
    def mirrored(self) -> bool:
        return self.a * self.d - self.b * self.c < 0

    @property
    def clockwise_degrees(self) -> int:
        """Rotation part in degrees clockwise, 0/90/180/270 (after the mirror, if any)."""
        # A mirror is undone first (x -> -x) so that what is left is a pure rotation.
        a, b = (-self.a, -self.b) if self.mirrored else (self.a, self.b)
        return int(round(math.degrees(math.atan2(b, a)))) % 360

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Show a stored image as the file asks.

        Args:
          image: [h, w, C] array as stored in the file.

        Returns:
          [h, w, C] or [w, h, C] view, as shown to a viewer.
        """
        if self.transposed:
            # x' = c*y and y' = b*x: shown rows come from stored columns.
            out = image.transpose(1, 0, 2)
            if self.c < 0:
                out = out[:, ::-1]
            if self.b < 0:
                out = out[::-1]
            return out
        out = image
        if self.a < 0:
            out = out[:, ::-1]
        if self.d < 0:
            out = out[::-1]
        return out

    def describe(self) -> str:
        turn = self.clockwise_degrees
        parts = []
        if self.mirrored:
            parts.append("mirrored left-right")
        if turn:
            parts.append("rotated 180°" if turn == 180 else f"rotated {turn}° clockwise")
        return " and ".join(parts) + " as the file's metadata asks"


def _orientation_from_matrix(matrix: np.ndarray) -> Orientation | None:
    """Axis-aligned orientation of a 3x3 display matrix (16.16 fixed point), None if skewed."""
    a, b, c, d = (float(matrix[i]) / 65536.0 for i in (0, 1, 3, 4))
    scale = math.hypot(a, b) or 1.0
    vals = [v / scale for v in (a, b, c, d)]
    rounded = [int(round(v)) for v in vals]
    if any(abs(v - r) > 0.02 for v, r in zip(vals, rounded)):
        return None
    o = Orientation(*rounded)
    if abs(o.a * o.d - o.b * o.c) != 1:
        return None
    return o


def _orientation_from_clockwise(degrees: float) -> Orientation | None:
    turn = int(round(degrees)) % 360
    if turn % 90 or abs(degrees - round(degrees)) > 0.5:
        return None
    cos, sin = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[turn]
    return Orientation(a=cos, b=sin, c=-sin, d=cos)


def find_orientation(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> tuple[Orientation, str | None]:
    """Orientation of a stream from its first decoded frame.

    FFmpeg (7+) copies the container's display matrix onto every decoded frame as
    side data; PyAV exposes no stream-level side data, hence the frame. Older
    muxers' ``rotate`` tag (degrees clockwise) is the fallback.

    Returns:
      The orientation and, when the file asks for something this reader cannot
      do (a skewed or non-right-angle rotation), a notice saying it was ignored.
    """
    matrix = None
    try:
        for sd in frame.side_data:
            if sd.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
                matrix = np.frombuffer(bytes(sd), dtype=np.int32)
                break
    except AV_ERRORS:
        matrix = None
    if matrix is not None and matrix.size >= 9:
        o = _orientation_from_matrix(matrix)
        if o is None:
            return Orientation(), (
                f"ignored the file's {-frame.rotation}° display rotation (only multiples of 90° are applied)"
            )
        return o, None
    tag = stream.metadata.get("rotate") if stream.metadata else None
    if tag:
        try:
            degrees = float(tag)
        except ValueError:
            return Orientation(), None
        o = _orientation_from_clockwise(degrees)
        if o is None:
            return Orientation(), f"ignored the file's {tag}° rotate tag (only multiples of 90° are applied)"
        return o, None
    return Orientation(), None
