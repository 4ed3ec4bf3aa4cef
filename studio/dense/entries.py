"""Registry entries of the dense trackers: ``dot`` (learned refiner) and ``dot_dis`` (weight-free)."""

from __future__ import annotations

from studio.hub import HubFile
from studio.registry import ModelEntry, register
from studio.trackers.raft.variants import CONFIGS, DOT_REPO, DOT_REVISION

DOT_REFINER = HubFile(DOT_REPO, CONFIGS["raft_refiner"].filename, DOT_REVISION, CONFIGS["raft_refiner"].size_mb)
"""The ``dot`` entry's checkpoint: the refiner ``movi_f_raft_patch_4_alpha.pth`` (the same file as ``raft_refiner``)."""


def build_dot_dis(device=None, checkpoint=None, **options):
    """Weight-free DOT: ``lk`` initial tracks, DIS motion boundaries, DIS refiner."""
    from studio.dense.refiners import DISRefiner
    from studio.dense.tracker import DenseTracker
    from studio.trackers.dis import DISFlow

    options.setdefault("initializer", "lk")
    return DenseTracker(DISRefiner(), DISFlow(), name="dot_dis", device=device, **options)


def build_dot(device=None, checkpoint=None, estimator_checkpoint=None, **options):
    """DOT with RAFT: ``raft_cvo`` motion boundaries (its hub file, or ``estimator_checkpoint``)
    and ``raft_refiner`` (weights from ``checkpoint``, else its hub file)."""
    from studio.dense.refiners import RAFTRefiner
    from studio.dense.tracker import DenseTracker
    from studio.registry import create_tracker

    refiner = create_tracker("raft_refiner", device=device, checkpoint=checkpoint)
    estimator = create_tracker("raft_cvo", device=device, checkpoint=estimator_checkpoint)
    options.setdefault("initializer", "lk")
    return DenseTracker(RAFTRefiner(refiner), estimator, name="dot", device=device, **options)


register(
    ModelEntry(
        name="dot_dis",
        kind="dense",
        title="Dense tracking, weight-free (DOT recipe with LK + DIS)",
        build=build_dot_dis,
        query_convention="query frame (+ mask) -> dense tracks [T, H, W, 2]; or (t, x, y) pixels",
        visibility="nearest initial track visible in the target frame (with a mask, the region's lost tracks "
        "are re-found by appearance); near occlusion edges, and for a gross colour change anywhere, a "
        "photometric check after matching the local lighting",
        license="Apache-2.0 (OpenCV)",
        paper="Le Moing et al., 'Dense Optical Tracking: Connecting the Dots', CVPR 2024, arXiv:2312.00786",
        notes="CPU, no weights; 2048 LK tracks over whole frames (with a mask or a few queries, only where they "
        "are needed, at that density), working resolution capped at 512 px on the long side",
    )
)

def check_dot_file(path) -> None:
    """A user's file for ``dot`` is the refiner's: checked as ``raft_refiner`` (the estimator has its own entry)."""
    from studio.registry import check_checkpoint

    check_checkpoint("raft_refiner", path)


register(
    ModelEntry(
        name="dot",
        kind="dense",
        title="DOT: Dense Optical Tracking (RAFT refiner)",
        build=build_dot,
        checkpoint=DOT_REFINER,
        query_convention="query frame (+ mask) -> dense tracks [T, H, W, 2]; or (t, x, y) pixels",
        visibility="refined alpha > 0.8",
        license="MIT (DOT code and weights); RAFT parts BSD-3-Clause",
        paper="Le Moing et al., 'Dense Optical Tracking: Connecting the Dots', CVPR 2024, arXiv:2312.00786",
        notes="needs raft_refiner (this file) and raft_cvo weights; initial tracks from lk by default "
        "(--initializer picks any point tracker); slow on CPU",
        check=check_dot_file,
    )
)
