"""Ground truth by hand: points placed on keyframes, a tracker's proposals in between (the Annotate tab's compute).

``session`` holds an annotation in progress (``Annotation``); ``draw`` pictures it
(a frame with its points, a timeline). Saving goes through
``studio.benchmark.datasets.build`` into TAP-Vid dataset files the benchmark scores.
"""

from studio.annotate.session import INTERPOLATE, Annotation, AnnotatedPoint, Edit

__all__ = ["INTERPOLATE", "Annotation", "AnnotatedPoint", "Edit"]
