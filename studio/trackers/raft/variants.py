"""The two released DOT RAFT checkpoints; plain data, no torch import.

Read by the registry entries (``__init__.py``), the adapter (``adapter.py``) and the tests,
so each configuration is written once.
"""

from __future__ import annotations

from dataclasses import dataclass

# No commit hash of the 16lemoing/dot hub repository could be confirmed for these files
# (same situation as the cotracker1 entry), so they are pinned to the branch.
DOT_REPO = "16lemoing/dot"
DOT_REVISION = "main"


@dataclass(frozen=True)
class RaftConfig:
    """One released RAFT of DOT (its ``configs/*.json`` plus the hub file).

    Attributes:
      name: registry name.
      patch_size: frame / coarse-grid resolution ratio P (frames must be multiples of P).
      num_iter: update iterations the model was trained and is run with.
      refine_alpha: predicts an occlusion alpha besides the flow.
      norm_fnet, norm_cnet: normalisation of the matching and context encoders.
      filename, size_mb: the hub file in ``DOT_REPO``.
      num_params: parameter count of the architecture (checked by the tests).
    """

    name: str
    patch_size: int
    num_iter: int
    refine_alpha: bool
    norm_fnet: str
    norm_cnet: str
    filename: str
    size_mb: float
    num_params: int

    def model_kwargs(self) -> dict:
        return {"patch_size": self.patch_size, "num_iter": self.num_iter, "refine_alpha": self.refine_alpha,
                "norm_fnet": self.norm_fnet, "norm_cnet": self.norm_cnet}


CONFIGS: dict[str, RaftConfig] = {
    c.name: c
    for c in [
        # DOT's optical-flow "estimator" (configs/raft_patch_8.json), trained on Kubric-CVO;
        # DOT uses its flow only to find motion boundaries where initial tracks are sampled.
        RaftConfig("raft_cvo", 8, 12, False, "instance", "batch", "cvo_raft_patch_8.pth", 21.1, 5_257_536),
        # DOT's "refiner" (configs/raft_patch_4_alpha.json), trained on Kubric MOVi-F: turns the
        # coarse flow/visibility interpolated from sparse tracks into dense flow + alpha.
        RaftConfig("raft_refiner", 4, 4, True, "instance", "instance", "movi_f_raft_patch_4_alpha.pth", 23.2,
                   5_785_182),
    ]
}
