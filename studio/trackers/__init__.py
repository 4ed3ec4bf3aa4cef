"""Built-in models; importing this package registers them."""

from __future__ import annotations

from studio.registry import ModelEntry, register


def _build_lk(device, checkpoint):
    from studio.trackers.lk import LKTracker

    return LKTracker()


def _build_dis(device, checkpoint):
    from studio.trackers.dis import DISFlow

    return DISFlow()


register(
    ModelEntry(
        name="lk",
        kind="point",
        title="Lucas-Kanade (weight-free)",
        build=_build_lk,
        query_convention="(t, x, y) pixels",
        online=True,
        visibility="forward-backward LK check < 1.5 px, patch still matching, motion consistent with neighbours "
        "(a few queries: with their own sub-points), inside the frame",
        license="Apache-2.0 (OpenCV)",
        paper="Bouguet, 'Pyramidal implementation of the Lucas Kanade feature tracker' (Intel, 2000)",
        notes="CPU, no weights; forwards and backwards from each query; re-finds points after occlusions; "
        "a request of up to 16 queries tracks each with 4-8 sub-points on the best-textured pixels within 4 px",
    )
)

register(
    ModelEntry(
        name="dis",
        kind="flow",
        title="DIS optical flow (weight-free)",
        build=_build_dis,
        query_convention="frame pair -> flow [H, W, 2] (dx, dy)",
        online=True,
        visibility="none (flow only)",
        license="Apache-2.0 (OpenCV)",
        paper="Kroeger et al., 'Fast Optical Flow using Dense Inverse Search', ECCV 2016, arXiv:1603.03590",
        notes="CPU, no weights; used as the weight-free refiner for dense tracking",
    )
)
import studio.trackers.cotracker  # noqa: E402,F401  registers the CoTracker family
import studio.trackers.raft  # noqa: E402,F401  registers DOT's RAFT estimator and refiner
import studio.trackers.tapir  # noqa: E402,F401  registers TAPIR, BootsTAPIR and online BootsTAPIR
import studio.trackers.gmrw  # noqa: E402,F401  registers GMRW (Kubric and Kinetics checkpoints)
import studio.trackers.track_on  # noqa: E402,F401  registers Track-On, Track-On2 and Track-On-R
import studio.dense.entries  # noqa: E402,F401  registers the dense trackers dot and dot_dis
