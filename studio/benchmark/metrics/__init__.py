"""Benchmark metrics (pure numpy: no torch, no gradio)."""

from studio.benchmark.metrics.tapvid import (
    METRIC_KEYS,
    QUERY_MODES,
    THRESHOLDS,
    compute_tapvid_metrics,
    evaluation_mask,
)

__all__ = ["METRIC_KEYS", "QUERY_MODES", "THRESHOLDS", "compute_tapvid_metrics", "evaluation_mask"]
