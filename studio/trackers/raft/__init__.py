"""DOT's RAFT optical flow (estimator and refiner); importing this registers both.

Registration stays cheap: nothing here imports torch. ``RAFT`` (the network) and
``RAFTFlow`` (the numpy-facing adapter) are imported on first access.
"""

from __future__ import annotations

from functools import partial

from studio.hub import HubFile
from studio.registry import ModelEntry, register
from studio.trackers.raft.variants import CONFIGS, DOT_REPO, DOT_REVISION, RaftConfig

__all__ = ["CONFIGS", "RAFT", "RAFTFlow", "build_flow"]

_PAPER = ("Le Moing et al., 'Dense Optical Tracking: Connecting the Dots', CVPR 2024, arXiv:2312.00786; "
          "RAFT: Teed & Deng, 'RAFT: Recurrent All-Pairs Field Transforms for Optical Flow', ECCV 2020, "
          "arXiv:2003.12039")
# DOT's own code is MIT; the RAFT code it adapts is BSD-3-Clause (princeton-vl). The weights come
# with the DOT repository and carry no separate licence statement.
_LICENSE = "MIT (DOT) / BSD-3-Clause (RAFT)"

_TITLES = {
    "raft_cvo": "RAFT flow, DOT estimator (patch 8, Kubric-CVO)",
    "raft_refiner": "RAFT flow + occlusion, DOT refiner (patch 4, MOVi-F)",
}


def _build(name: str, device, checkpoint, **options):
    from studio.trackers.raft.adapter import build_flow

    return build_flow(name, device, checkpoint, **options)


def _notes(c: RaftConfig) -> str:
    parts = [(f"{c.num_iter} update iterations at 1/{c.patch_size} resolution; any frame size (padded to a "
              f"multiple of {c.patch_size}, at least {16 * c.patch_size} px a side)")]
    if c.refine_alpha:
        parts.append("DOT's refiner: takes a coarse flow/visibility from sparse tracks (refine()) and returns "
                     "dense flow + alpha")
    else:
        parts.append("DOT's estimator: its flow marks the motion boundaries where DOT samples initial tracks")
    parts.append("all-pairs correlation needs (H*W/P^2)^2 floats: about 2.6 GB at 480x856 for P=4")
    parts.append("revision 'main': no commit hash of this hub file could be confirmed")
    return "; ".join(parts)


for _c in CONFIGS.values():
    register(
        ModelEntry(
            name=_c.name,
            kind="flow",
            title=_TITLES[_c.name],
            build=partial(_build, _c.name),
            checkpoint=HubFile(DOT_REPO, _c.filename, DOT_REVISION, _c.size_mb),
            query_convention="frame pair -> flow [H, W, 2] (dx, dy) pixels",
            visibility=("alpha in [0, 1] from refine(); DOT counts alpha > 0.8 as visible" if _c.refine_alpha
                        else "none (flow only)"),
            license=_LICENSE,
            paper=_PAPER,
            notes=_notes(_c),
        )
    )


def __getattr__(name: str):
    # Lazy so that registering the models does not import torch.
    if name == "RAFT":
        from studio.trackers.raft.model import RAFT

        return RAFT
    if name in ("RAFTFlow", "build_flow"):
        from studio.trackers.raft import adapter

        return getattr(adapter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
