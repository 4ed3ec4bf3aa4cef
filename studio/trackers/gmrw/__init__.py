"""GMRW (self-supervised tracking by contrastive random walks); importing this registers ``gmrw`` and ``gmrw_kinetics``.

Registration stays cheap: nothing here imports torch (the network is ``model.GMRW``, the
tracker ``adapter.GMRWTracker``). The checkpoints are published only
in a Dropbox folder, so both entries carry a ``UserFile``: the user brings the file
(``--checkpoint``, the checkpoint folder, or an upload in the Models tab).
"""

from __future__ import annotations

from functools import partial

from studio.hub import UserFile
from studio.registry import ModelEntry, register
from studio.trackers.gmrw.variants import CONFIGS, FB_THRESHOLD, SOURCE_NOTE, SOURCE_URL, WORKING_SIZE, GmrwConfig

_PAPER = ("Shrivastava & Owens, 'Self-Supervised Any-Point Tracking by Contrastive Random Walks', ECCV 2024, "
          "arXiv:2409.16288")
# The repository's LICENSE (MIT) covers its code; the released weights come with no separate statement.
_LICENSE = "MIT"

_TITLES = {
    "gmrw": "GMRW (Kubric-trained, bring your own checkpoint)",
    "gmrw_kinetics": "GMRW (Kinetics-trained, bring your own checkpoint)",
}


def _build(name: str, device, checkpoint, **options):
    from studio.trackers.gmrw.adapter import build_tracker

    return build_tracker(name, device, checkpoint, **options)


def _notes(c: GmrwConfig) -> str:
    method = c.flow_method + (f" (window {c.window} feature cells)" if c.window else "")
    if c.flow_method != "weighted_sum":
        # test_on_tapvid.py defaults to weighted_sum and eval_kinetics_trained_*.sh do not change it.
        method += ", the method it was finetuned with; upstream's evaluation scripts run it with weighted_sum"
    return "; ".join([
        f"trained on {c.trained_on}; flows from the affinity by {method}",
        (f"frame pairs at {WORKING_SIZE[0]}x{WORKING_SIZE[1]} (tracks mapped back to the input); flows chained "
         "forward from each query's frame and backward before it"),
        ("upsample option x1 (default on CPU), x2 (default on GPU, upstream's standard evaluation), x4 (the paper's "
         "best numbers, GPU only): the all-pairs affinity grows with the 4th power of the factor: 4096^2, 16384^2 "
         "and 65536^2 entries per frame pair (67 MB, 1.07 GB, 8.6 GB in float16; computed here in row chunks of "
         "64 MB); x4 runs the matching in float16 like upstream"),
        f"checkpoint {c.filename} from the authors' Dropbox folder (not on the Hugging Face hub)",
    ])


for _c in CONFIGS.values():
    register(
        ModelEntry(
            name=_c.name,
            kind="point",
            title=_TITLES[_c.name],
            build=partial(_build, _c.name),
            checkpoint=UserFile(_c.filename, SOURCE_URL, SOURCE_NOTE, _c.size_mb),
            input_resolution=WORKING_SIZE,
            query_convention="(t, y, x) pixels of the 256x256 frames, TAP-Vid raster without the half-pixel shift",
            online=False,
            visibility=(f"inside the frame and forward-backward flow consistent (< {FB_THRESHOLD:g} px at 256x256) "
                        "on both steps touching the frame; the query frame visible"),
            license=_LICENSE,
            paper=_PAPER,
            notes=_notes(_c),
        )
    )

