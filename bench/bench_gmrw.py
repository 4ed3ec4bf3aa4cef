"""GMRW speed and memory on this machine, optionally side by side with upstream's code.

Run: ``python bench/bench_gmrw.py [--factors 1,2] [--frames 3] [--threads 2] [--repeat 2]
[--upstream PATH_TO_GMRW_CHECKOUT]``.

Both run the whole tracking procedure of upstream's evaluation (``forward_backward_query_point``:
forward and backward flows of every consecutive pair, chained tracks, visibility) on the
same 256 x 256 frames (the start of ``examples/hopper_pan.mp4``), the same queries (an
8 x 8 grid on frame 0) and the same weights (random, saved in the official file format and
loaded by each side's own loader), at each upsampling factor. Each measurement runs in a
fresh process, after one warm-up pair, so peak memory (ru_maxrss) is its own; the figure is
the best of ``--repeat`` runs in seconds per frame pair. The two sides alternate, so a
change in the machine's load hits both alike. When the upstream checkout is given
(github.com/ayshrv/gmrw; kept outside this project and only imported from its path), the
bench also prints how far our tracks are from upstream's.

Upstream imports a few packages only for data loading and logging (tensorflow, mediapy,
wandb, flash-attn, ...); where they are not installed, empty stand-ins are registered so
its model and evaluation modules import.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE = (256, 256)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def make_inputs(folder: Path, frames: int) -> tuple[Path, Path]:
    """Frames, queries and an official-format weights file shared by both sides."""
    import argparse as ap

    import numpy as np
    import torch

    from studio.io.video import read_video
    from studio.queries import grid_queries
    from studio.trackers.gmrw.adapter import build_tracker
    from studio.trackers.gmrw.model import GMRW

    video = read_video(ROOT / "examples" / "hopper_pan.mp4", max_frames=frames).frames
    work = build_tracker("gmrw", "cpu", None).to_working(video).round().clamp(0, 255).byte()
    video = work.permute(0, 2, 3, 1).numpy()
    queries = grid_queries(SIZE, 8, 0)
    torch.manual_seed(0)
    weights = folder / "kubric_73k.pth"
    state = {"module." + k: v for k, v in GMRW().state_dict().items()}
    torch.save({"model": state, "optimizer": {}, "epoch": 0, "args": ap.Namespace(device=torch.device("cpu")),
                "global_step": 0}, weights)
    inputs = folder / "inputs.npz"
    np.savez(inputs, video=video, queries=queries)
    return inputs, weights


# ---------------------------------------------------------------------------------------------
# workers (one measurement per process)


def run_ours(inputs: Path, weights: Path, factor: int, repeat: int) -> dict:
    import numpy as np

    from studio.trackers.gmrw.adapter import build_tracker

    data = np.load(inputs)
    video, queries = data["video"], data["queries"]
    tracker = build_tracker("gmrw", "cpu", weights, upsample=factor)
    tracker.track(video[:2], queries)  # warm-up
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = tracker.track(video, queries)
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "tracks": result.tracks.tolist(), "visible": result.visible.tolist()}


def _import_upstream(path: Path):
    for name in ("tensorflow", "tensorflow_datasets", "mediapy", "wandb", "scipy", "scipy.io", "PIL",
                 "PIL.Image", "cv2", "dominate", "dominate.tags", "fire", "flash_attn"):
        try:
            __import__(name)
        except Exception:
            module = types.ModuleType(name)
            module.__all__ = []
            sys.modules[name] = module
    sys.modules["scipy"].io = sys.modules["scipy.io"]
    sys.modules["PIL"].Image = sys.modules["PIL.Image"]
    if not hasattr(sys.modules["flash_attn"], "flash_attn_qkvpacked_func"):
        sys.modules["flash_attn"].flash_attn_qkvpacked_func = None
    if not hasattr(sys.modules["fire"], "Fire"):
        sys.modules["fire"].Fire = None
    sys.path.insert(0, str(path))
    import test_on_tapvid

    return test_on_tapvid


def run_upstream(path: Path, inputs: Path, weights: Path, factor: int, repeat: int) -> dict:
    import argparse as ap

    import numpy as np
    import torch

    evaluation = _import_upstream(path)
    from models import GMRW
    from utils import utils

    args = types.SimpleNamespace(no_of_frames=2, temp=0, compute_flow_method="weighted_sum", window_threshold=5,
                                 device=torch.device("cpu"), local_rank=-1)
    # test_on_tapvid.get_gmrw_model's constructor arguments and loading steps.
    model = GMRW(args=args, feature_channels=128, num_scales=2, upsample_factor=8, num_head=1,
                 attention_type="swin", ffn_dim_expansion=4, num_transformer_layers=6, norm=False)
    with torch.serialization.safe_globals([ap.Namespace]):
        checkpoint = torch.load(weights, map_location="cpu")
    model.load_state_dict(utils.trim_statedict_keys(checkpoint["model"]))
    model.eval()
    captured = {}

    def capture(**kw):  # replaces the metrics: we want the tracks themselves
        captured.update(kw)
        return {}

    evaluation.compute_tapvid_metrics = capture
    data = np.load(inputs)
    video = torch.from_numpy(data["video"]).float()[None]
    q = data["queries"]
    # Studio (t, x, y) pixel centres -> upstream's (t, y, x) raster.
    q_up = torch.from_numpy(np.stack([q[:, 0], q[:, 2] + 0.5, q[:, 1] + 0.5], 1)).float()[None]
    n, t_len = q_up.shape[1], video.shape[1]

    def once(frames) -> None:
        with torch.no_grad():
            evaluation.run_crw(model=model, video=frames, target_points=torch.zeros(1, n, frames.shape[1], 2),
                               query_points=q_up.clone(), gt_occluded=torch.zeros(1, n, frames.shape[1], dtype=bool),
                               setting="forward_backward_query_point", upsample_factor=factor, device="cpu",
                               compute_flow_method="weighted_sum")

    once(video[:, :2])  # warm-up
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        once(video)
        best = min(best, time.perf_counter() - start)
    tracks = captured["pred_tracks"][0].transpose(1, 0, 2) - 0.5  # [T, N, 2] studio pixels
    visible = ~captured["pred_occluded"][0].T
    assert tracks.shape[0] == t_len
    return {"seconds": best, "tracks": tracks.tolist(), "visible": visible.tolist()}


def worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.worker == "ours":
        out = run_ours(Path(args.inputs), Path(args.weights), args.factor, args.repeat)
    else:
        out = run_upstream(Path(args.upstream), Path(args.inputs), Path(args.weights), args.factor, args.repeat)
    out["peak_mb"] = peak_mb()
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------


def measure(side: str, args, inputs: Path, weights: Path, factor: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", side, "--inputs", str(inputs), "--weights", str(weights),
           "--factor", str(factor), "--repeat", str(args.repeat), "--threads", str(args.threads)]
    if args.upstream:
        cmd += ["--upstream", args.upstream]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{side} x{factor} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factors", default="1,2", help="upsampling factors (1, 2, 4)")
    ap.add_argument("--frames", type=int, default=3, help="frames of the clip (pairs = frames - 1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--upstream", default=None, help="path of an ayshrv/gmrw checkout to time side by side")
    ap.add_argument("--worker", choices=["ours", "upstream"], help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    ap.add_argument("--factor", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    import numpy as np
    import torch

    pairs = args.frames - 1
    print(f"torch {torch.__version__}, {args.threads} threads, CPU; {args.frames} frames of 256x256 "
          f"({pairs} pairs), 64 queries, random weights; best of {args.repeat}")
    with tempfile.TemporaryDirectory() as tmp:
        inputs, weights = make_inputs(Path(tmp), args.frames)
        for factor in (int(f) for f in args.factors.split(",")):
            ours = measure("ours", args, inputs, weights, factor)
            line = f"x{factor}: ours {ours['seconds'] / pairs:6.2f} s/pair, peak {ours['peak_mb']:6.0f} MB"
            if args.upstream:
                up = measure("upstream", args, inputs, weights, factor)
                diff = np.abs(np.array(ours["tracks"]) - np.array(up["tracks"])).max()
                same = np.array_equal(np.array(ours["visible"]), np.array(up["visible"]))
                line += (f" | upstream {up['seconds'] / pairs:6.2f} s/pair, peak {up['peak_mb']:6.0f} MB"
                         f" | time ratio {ours['seconds'] / up['seconds']:.2f}"
                         f" | tracks max diff {diff:.1e} px, visibility {'identical' if same else 'DIFFERS'}")
            print(line, flush=True)


if __name__ == "__main__":
    main()
