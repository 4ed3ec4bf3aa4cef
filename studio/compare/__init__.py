"""Which tracker to trust on this video: the same queries through 2-4 trackers, compared.

``run`` tracks and measures (disagreement over time per point, consensus, a table per
model with seconds, % visible, mean reliability, agreement with the consensus), ``truth``
adds AJ / delta_avg / OA when ground truth for the clip exists, ``views`` draws the
side-by-side and overlay videos and ``report`` the table, the disagreement plot and the
JSON report. The CLI (``python -m studio compare``), the Compare tab and ``/compare``
all go through here.
"""

from studio.compare.report import TABLE_HEADERS, disagreement_figure, markdown_table, save_report, table
from studio.compare.run import MAX_MODELS, MIN_MODELS, Comparison, ModelRow, check_models, compare_models, compare_runs
from studio.compare.truth import Truth, load_truth
from studio.compare.views import SHAPES, overlay, side_by_side

__all__ = [
    "MAX_MODELS",
    "MIN_MODELS",
    "SHAPES",
    "TABLE_HEADERS",
    "Comparison",
    "ModelRow",
    "Truth",
    "check_models",
    "compare_models",
    "compare_runs",
    "disagreement_figure",
    "load_truth",
    "markdown_table",
    "overlay",
    "save_report",
    "side_by_side",
    "table",
]
