"""Benchmark datasets: TAP-Vid pickles (read safely) and their pickle-free .npz form.

How a video is posed and scored (256x256, query sampling) is ``studio.benchmark.protocol``.
"""

from studio.benchmark.datasets.safe_pickle import SafeUnpickler, UnsafePickleError, safe_load, safe_loads
from studio.benchmark.datasets.tapvid import (
    DatasetError,
    DatasetItem,
    TapVidDataset,
    TapVidVideo,
    load_videos,
    open_dataset,
    save_npz,
    save_pickle,
    validate_video,
)

__all__ = [
    "DatasetError",
    "DatasetItem",
    "SafeUnpickler",
    "TapVidDataset",
    "TapVidVideo",
    "UnsafePickleError",
    "load_videos",
    "open_dataset",
    "safe_load",
    "safe_loads",
    "save_npz",
    "save_pickle",
    "validate_video",
]
