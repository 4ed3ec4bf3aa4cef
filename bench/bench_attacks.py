"""Issue #19's attack list against a live app (loopback only) and the command line.

For every attack it prints what the server answered, the server's peak resident memory
while it handled the attack, how long it took, and whether the next normal request
(``/track``, two points on ``examples/hopper_pan.mp4``) still succeeded. The attack files
are made at full size (``tests/attack_files.py``: each declares gigabytes in a few MB or
less) once and kept in ``--work``.

The app runs as ``python app.py`` in a child process with ``HF_HUB_OFFLINE=1``, its
temporary files under ``--work`` and ``STUDIO_BENCH_MAX_SECONDS=20`` (so the benchmark
time budget shows within the bench). A watchdog kills the server (or a CLI run) whose
memory passes ``--rss-cap-gb`` and reports "killed"; an attack still running after
``--timeout`` seconds is reported as such and the server restarted. Peak memory is the
kernel's high-water mark (``VmHWM``, reset through ``/proc/<pid>/clear_refs`` before each
attack); for CLI runs, ``ru_maxrss`` of the child.

Usage:
  python bench/bench_attacks.py                          # this checkout
  python bench/bench_attacks.py --app-root ../main       # another checkout (e.g. before the fix)
  python bench/bench_attacks.py --only bench_bytearray cli_grid --rss-cap-gb 4
  python bench/bench_attacks.py --compare before.json after.json   # one table from two --json runs
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

import attack_files as A  # noqa: E402

GB = 1024**3
MB = 1024**2
CLIP = "examples/hopper_pan.mp4"  # 36 frames of 480x272, in every checkout
BENCH_SECONDS = 20


# ---------------------------------------------------------------------------- memory of a process


def _status(pid: int, key: str) -> int:
    """A ``/proc/<pid>/status`` field in bytes (``VmRSS``, ``VmHWM``), 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_peak(pid: int) -> None:
    """Reset the kernel's peak-RSS mark of our own child (``echo 5 > /proc/pid/clear_refs``)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class Watchdog(threading.Thread):
    """Samples a process's RSS every 50 ms; kills it beyond ``cap`` bytes."""

    def __init__(self, proc: subprocess.Popen, cap: int):
        super().__init__(daemon=True)
        self.proc, self.cap = proc, cap
        self.killed = False
        self.peak = 0
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set() and self.proc.poll() is None:
            rss = _status(self.proc.pid, "VmRSS")
            self.peak = max(self.peak, rss)
            if rss > self.cap:
                self.killed = True
                self.proc.kill()
                return
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()


# ---------------------------------------------------------------------------- the app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python app.py`` of a checkout, on loopback, watched."""

    def __init__(self, root: Path, work: Path, cap: int):
        self.root, self.work, self.cap = root, work, cap
        self.proc: subprocess.Popen | None = None
        self.dog: Watchdog | None = None
        self.client = None

    @property
    def outputs(self) -> Path:
        return self.work / "tmp" / "tracking-studio"

    def start(self) -> None:
        from gradio_client import Client

        port = free_port()
        (self.work / "tmp").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
               "TMPDIR": str(self.work / "tmp"), "GRADIO_TEMP_DIR": str(self.work / "gradio"),
               "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(self.root), "GRADIO_ANALYTICS_ENABLED": "False",
               "STUDIO_BENCH_MAX_SECONDS": str(BENCH_SECONDS)}
        log = open(self.work / "server.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=self.root, env=env, stdout=log, stderr=log)
        self.dog = Watchdog(self.proc, self.cap)
        self.dog.start()
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited at start-up; see {self.work / 'server.log'}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("the app did not answer within 180 s")
        self.client = Client(url, verbose=False)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.dog:
            self.dog.stop()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


# ---------------------------------------------------------------------------- attack files


def make_files(work: Path) -> dict[str, Path]:
    """Every attack file at full size, made once (``--work`` keeps them)."""
    d = work / "files"
    d.mkdir(parents=True, exist_ok=True)
    makers: dict[str, Callable[[Path], object]] = {
        "bytearray.pkl": lambda p: p.write_bytes(A.pickle_bytearray_bomb(1_400_000_000)),
        "tracks500k.pkl": lambda p: p.write_bytes(A.pickle_tracks_bomb(500_000, 24)),
        "memo.pkl": lambda p: p.write_bytes(A.pickle_memo_bomb(1 << 20, 3000)),
        "opcodes.pkl": lambda p: p.write_bytes(A.pickle_opcode_bomb(1_100_000)),
        "video_bomb.npz": lambda p: A.dataset_npz_bomb(p),
        "kinetics_png.pkl": lambda p: p.write_bytes(A.kinetics_png_pickle(8000, 8000, 20)),
        "tracks1m.npz": lambda p: A.sparse_tracks_bomb(p),
        "dense_bomb.npz": lambda p: A.dense_tracks_bomb(p),
        "mask_bomb.png": lambda p: p.write_bytes(A.png_bytes(28000, 15867)),
        "huge_header.npz": lambda p: A.npz_declaring(p, 1e12),
        "notes.npz": lambda p: p.write_text("these are notes, not arrays\n"),
        "fps1e9.npz": lambda p: np.savez(p, tracks=np.full((36, 2, 2), 100, np.float32),
                                         visible=np.ones((36, 2), bool),
                                         queries=np.array([[0, 100, 100]] * 2, np.float32), fps=np.float64(1e9)),
        "dense_nan.npz": lambda p: np.savez_compressed(p, tracks=np.full((36, 272, 480, 2), np.nan, np.float32),
                                            visible=np.ones((36, 272, 480), bool)),
        "empty.pkl": lambda p: p.write_bytes(__import__("pickle").dumps({})),
        "hidden.npz": lambda p: _hidden_dataset(p),
        "long.npz": lambda p: _long_dataset(p, 20),
        "longer.npz": lambda p: _long_dataset(p, 200),
        "wide_mask.png": lambda p: _png(p, np.full((10, 100), 255, np.uint8)),
        "half_mask.png": lambda p: _png(p, _half_mask()),
    }
    files = {}
    for name, make in makers.items():
        path = d / name
        if not path.exists():
            print(f"making {name} ...", file=sys.stderr, flush=True)
            tmp = path.with_name("making-" + path.name)  # the suffix stays: np.savez would add ".npz"
            make(tmp)
            os.replace(tmp, path)
        files[name] = path
    return files


def _png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, format="PNG")


def _half_mask() -> np.ndarray:
    m = np.zeros((136, 240), np.uint8)
    m[30:110, 60:180] = 255
    return m


def _hidden_dataset(path: Path) -> None:
    from studio.benchmark.datasets import save_npz

    save_npz(path, {"clip": {"video": np.zeros((8, 32, 32, 3), np.uint8), "points": np.zeros((4, 8, 2), np.float32),
                             "occluded": np.ones((4, 8), bool)}})


def _long_dataset(path: Path, count: int) -> None:
    from studio.benchmark.datasets import save_npz
    from studio.synthetic import make_clip

    rng = np.random.default_rng(0)
    clip = make_clip("translate", num_frames=16, size=(64, 64))
    videos = {f"v{i:03d}": {"video": clip.video, "points": rng.uniform(0.1, 0.9, (200, 16, 2)).astype(np.float32),
                            "occluded": np.zeros((200, 16), bool)} for i in range(count)}
    save_npz(path, videos)


# ---------------------------------------------------------------------------- attacks


@dataclass
class Attack:
    name: str
    item: str
    what: str
    run: Callable  # (server, files) -> message, or a CLI argument list when ``cli``
    cli: bool = False


def _render_args(video, tracks, mask=None, mode="points"):
    """The Render tab's handler (``/on_render``, not listed in the API but callable): its 16 inputs."""
    from gradio_client import handle_file

    return dict(args=[handle_file(str(video)), handle_file(str(tracks)), mode,
                      handle_file(str(mask)) if mask else None, 0,
                      "left_right", "jet", 8, 0, False, 0.5, 0, 1.5, 8, 2.0, 10], api_name="/on_render")


def _predict(server: Server, **kw):
    args = kw.pop("args", [])
    return server.client.predict(*args, **kw)


def _api(**kw):
    def run(server: Server, files: dict) -> str:
        from gradio_client import handle_file

        resolved = {}
        for k, v in kw.items():
            if isinstance(v, str) and v.startswith("@"):
                resolved[k] = handle_file(str(files[v[1:]]))
            elif isinstance(v, list) and v and isinstance(v[0], str) and v[0].startswith("@"):
                resolved[k] = [handle_file(str(files[x[1:]])) for x in v]
            else:
                resolved[k] = v
        out = server.client.predict(**resolved)
        return "accepted: " + str(out[-1])[:120]

    return run


def _bench(dataset: str):
    """``/bench`` on one attack file with ``lk``."""
    return _api(dataset=[f"@{dataset}"], models="lk", api_name="/bench")


def _render(tracks: str, mask: str | None = None, mode: str = "points"):
    def run(server: Server, files: dict) -> str:
        out = _predict(server, **_render_args(ROOT / CLIP, files[tracks], files.get(mask) if mask else None, mode))
        return "accepted: " + str(out[4])[:120]

    return run


def _run_files(server: Server) -> dict[str, tuple[int, bool]]:
    out = {}
    if server.outputs.is_dir():
        for run in server.outputs.iterdir():
            files = [f for f in run.rglob("*") if f.is_file()]
            out[run.name] = (sum(f.suffix == ".npz" for f in files), any(f.name == "results.csv" for f in files))
    return out


def _flood(server: Server, files: dict) -> str:
    """Six long benchmarks at once from one client."""
    from gradio_client import handle_file

    jobs = [server.client.submit(dataset=[handle_file(str(files["long.npz"]))], models="lk", api_name="/bench")
            for _ in range(6)]
    refused, message = 0, ""
    time.sleep(3)
    for job in jobs:
        if job.done():
            try:
                job.result()
            except Exception as exc:  # noqa: BLE001
                refused += 1
                message = str(exc)
    for job in jobs:
        job.cancel()
    time.sleep(2)
    return f"{refused} of 6 refused, {6 - refused} queued or running" + (f": {message}" if message else "")


def _abandon(server: Server, files: dict) -> str:
    """A long benchmark cancelled by its client once its first video is scored: does the work go on?"""
    from gradio_client import handle_file

    before = set(_run_files(server))

    def new() -> tuple[int, bool]:
        found = [v for k, v in _run_files(server).items() if k not in before]
        return found[0] if found else (0, False)

    job = server.client.submit(dataset=[handle_file(str(files["long.npz"]))], models="lk", api_name="/bench")
    start = time.monotonic()
    while time.monotonic() - start < 60 and new()[0] == 0:
        time.sleep(0.1)
    per_video = time.monotonic() - start
    job.cancel()
    at_cancel = new()[0]
    # Long enough for the other 19 videos had the work gone on, and for the files to settle.
    last, since = new(), time.monotonic()
    while time.monotonic() - since < max(10.0, 3 * per_video) and time.monotonic() - start < 20 * per_video + 60:
        time.sleep(0.5)
        now = new()
        if now != last:
            last, since = now, time.monotonic()
        if now[1]:
            break
    count, results = last
    if results or count > at_cancel + 1:
        return (f"kept running after the cancel: {at_cancel} videos scored at the cancel, {count} later"
                + ("; results written" if results else ""))
    return f"stopped: {at_cancel} of 20 videos scored at the cancel, {count} in the end; no results written"


ATTACKS: list[Attack] = [
    Attack("bench_bytearray", "1", "33-byte pickle: bytearray(1.4e9)",
           _bench("bytearray.pkl")),
    Attack("bench_tracks500k", "1", "pickle declaring 500k tracks on bytearray buffers",
           _bench("tracks500k.pkl")),
    Attack("bench_memo", "1", "1 MB named 3000 times (3 GB of copies)",
           _bench("memo.pkl")),
    Attack("bench_opcodes", "1", "2 MB of EMPTY_LIST/APPEND (1.1M objects)",
           _bench("opcodes.pkl")),
    Attack("bench_npz_bomb", "2", "3 MB dataset npz declaring a 3.2 GB video",
           _bench("video_bomb.npz")),
    Attack("bench_png_frames", "2", "Kinetics pickle: 20 PNG frames of 8000x8000 (3.8 GB)",
           _bench("kinetics_png.pkl")),
    Attack("render_1m_tracks", "2", "1 MB track npz with 1M tracks", _render("tracks1m.npz")),
    Attack("render_dense_bomb", "2", "2 MB dense npz of 100 full-HD frames", _render("dense_bomb.npz")),
    Attack("track_mask_bomb", "2", "430 kB mask PNG of 28000x15867",
           _api(video=f"@{CLIP}", grid_size=4, mask="@mask_bomb.png", api_name="/track")),
    Attack("dense_mask_bomb", "2", "the same PNG as /dense mask",
           _api(video=f"@{CLIP}", mask="@mask_bomb.png", api_name="/dense")),
    Attack("render_mask_bomb", "2", "the same PNG as Render mask (decoded by Gradio: PIL's guard)",
           _render("fps1e9.npz", "mask_bomb.png", "points_mask")),
    Attack("queries_50mb", "3", "50 MB queries_json", lambda s, f: _api(
        video=f"@{CLIP}", queries_json=json.dumps([[0, 100.123456, 100.123456]] * 2_000_000), api_name="/track")(s, f)),
    Attack("queries_nested", "3", "queries_json nested 100k deep",
           _api(video=f"@{CLIP}", queries_json="[" * 100_000 + "]" * 100_000, api_name="/track")),
    Attack("queries_nested_5k", "3", "queries_json nested 5000 deep (short enough to parse)",
           _api(video=f"@{CLIP}", queries_json="[" * 5000 + "]" * 5000, api_name="/track")),
    Attack("client_flood", "4", "6 long benchmarks at once from one client", _flood),
    Attack("client_gone", "4", "a long benchmark cancelled by its client", _abandon),
    Attack("bench_time_budget", "4", f"200-video benchmark (budget {BENCH_SECONDS} s here)",
           _bench("longer.npz")),
    Attack("bench_flow_model", "5", "/bench with the flow model dis",
           _api(use_sample=True, models="dis", api_name="/bench")),
    Attack("bench_text_npz", "7", "a text file named .npz",
           _bench("notes.npz")),
    Attack("dense_bad_mode", "6", "/dense with mode 'nope' (checked before the run?)",
           _api(video=f"@{CLIP}", mode="nope", api_name="/dense")),
    Attack("track_mask_no_grid", "8", "/track with a mask but no grid",
           _api(video=f"@{CLIP}", queries_json="[[0, 100, 100]]", mask="@half_mask.png", api_name="/track")),
    Attack("track_mask_resized", "8", "/track grid with a half-size mask (notice?)",
           _api(video=f"@{CLIP}", grid_size=4, mask="@half_mask.png", api_name="/track")),
    Attack("bench_no_videos", "8", "dataset with 0 videos",
           _bench("empty.pkl")),
    Attack("bench_no_visible", "8", "dataset with 0 visible points",
           _bench("hidden.npz")),
    Attack("render_nan_dense", "8", "dense npz of NaN positions", _render("dense_nan.npz")),
    Attack("render_fps_1e9", "8", "track npz with fps 1e9", _render("fps1e9.npz")),
    Attack("cli_points_empty", "7", 'track --points ""', lambda f: ["track", CLIP, "--points", ""], cli=True),
    Attack("cli_grid", "8", "track --grid 10000", lambda f: ["track", CLIP, "--grid", "10000"], cli=True),
    Attack("cli_bench_1e12", "7", "bench on an npz declaring 1e12 elements",
           lambda f: ["bench", f["huge_header.npz"], "--model", "lk", "--query-mode", "first"], cli=True),
    Attack("cli_bench_text", "7", "bench on a text file named .npz",
           lambda f: ["bench", f["notes.npz"], "--model", "lk", "--query-mode", "first"], cli=True),
    Attack("cli_dense_mask", "8", "dense --mask with another aspect ratio",
           lambda f: ["dense", CLIP, "--mask", f["wide_mask.png"], "--out", f["notes.npz"].with_name("d.npz"),
                      "--max-frames", "8"], cli=True),
]


# ---------------------------------------------------------------------------- running


def one_line(text: str, width: int = 150) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def normal_request(server: Server) -> str:
    from gradio_client import handle_file

    try:
        *_, status = server.client.predict(video=handle_file(str(ROOT / CLIP)),
                                           queries_json="[[0, 120, 80], [10, 300.5, 150]]", model="lk",
                                           api_name="/track")
        return "ok" if "2 points x 36 frames" in status else f"odd: {one_line(status, 60)}"
    except Exception as exc:  # noqa: BLE001
        return f"FAILED: {one_line(exc, 60)}"


def run_api(attack: Attack, server: Server, files: dict, timeout: float) -> dict:
    if not server.alive():
        server.restart()
    pid = server.proc.pid
    base = _status(pid, "VmRSS")
    reset_peak(pid)
    result: dict = {}

    def go() -> None:
        try:
            result["message"] = attack.run(server, files)
        except Exception as exc:  # noqa: BLE001 -- the refusal is the answer
            result["message"] = f"refused: {exc}"

    tic = time.monotonic()
    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(timeout)
    seconds = time.monotonic() - tic
    peak = max(_status(pid, "VmHWM"), base)
    if server.dog.killed:
        message, peak = f"server killed by the watchdog at {server.cap / GB:.0f} GiB", server.dog.peak
    elif thread.is_alive():
        message = f"still running after {timeout:.0f} s"
    else:
        message = result.get("message", "")
    restarted = ""
    if thread.is_alive() or not server.alive():
        restarted = "server restarted; "
        server.restart()
    nxt = restarted + normal_request(server)
    return {"message": message, "base": base, "peak": peak, "seconds": seconds, "next": nxt}


def run_cli(attack: Attack, root: Path, files: dict, timeout: float, cap: int) -> dict:
    args = [str(a) for a in attack.run(files)]
    proc = subprocess.Popen([sys.executable, "-m", "studio", *args], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(root)})
    dog = Watchdog(proc, cap)
    dog.start()
    tic = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
        message = (err.strip().splitlines() or out.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        if proc.returncode == 0:
            message = f"accepted (exit 0): {out.strip().splitlines()[-1] if out.strip() else ''}"
        elif "Traceback" in err:
            message = "traceback: " + message
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        message = f"still running after {timeout:.0f} s (killed)"
    dog.stop()
    if dog.killed:
        message = f"killed by the watchdog at {cap / GB:.0f} GiB"
    return {"message": message, "base": 0, "peak": dog.peak, "seconds": time.monotonic() - tic, "next": "n/a (CLI)"}


def compare(before_path: str, after_path: str) -> None:
    """One markdown table from two ``--json`` runs: each attack's answer and peak RSS (over idle) before and after."""
    before = {r["name"]: r for r in json.loads(Path(before_path).read_text())}
    after = json.loads(Path(after_path).read_text())

    def cell(r: dict | None) -> tuple[str, str]:
        if r is None:
            return "—", "—"
        grew = (r["peak"] - r["base"]) / MB if r["base"] else r["peak"] / MB
        mem = f"{r['peak'] / MB:.0f} MiB" + (f" (+{grew:.0f})" if r["base"] else "")
        return one_line(r["message"], 90), mem

    print("| # | attack | before | peak RSS before | after | peak RSS after | next request after |")
    print("|---|---|---|---|---|---|---|")
    for r in after:
        b_msg, b_mem = cell(before.get(r["name"]))
        a_msg, a_mem = cell(r)
        print(f"| {r['item']} | {r['what']} | {b_msg} | {b_mem} | {a_msg} | {a_mem} | {r['next']} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--app-root", default=str(ROOT), help="checkout whose app.py and studio/ are attacked")
    p.add_argument("--work", default="/tmp/studio-attacks", help="attack files and the app's temporary files")
    p.add_argument("--rss-cap-gb", type=float, default=5.0, help="kill a process whose RSS passes this")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds an attack may take")
    p.add_argument("--only", nargs="*", help="attack names to run (default: all)")
    p.add_argument("--json", help="write the results here too")
    p.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="print one table from two --json files")
    args = p.parse_args()
    if args.compare:
        compare(*args.compare)
        return 0
    root, work = Path(args.app_root).resolve(), Path(args.work).resolve()
    cap = int(args.rss_cap_gb * GB)
    chosen = [a for a in ATTACKS if not args.only or a.name in args.only]
    files = make_files(work)
    files[CLIP] = root / CLIP
    server = Server(root, work / ("app-" + root.name), cap)
    rows = []
    try:
        if any(not a.cli for a in chosen):
            server.start()
            print(f"app {root} on loopback, idle RSS {_status(server.proc.pid, 'VmRSS') / MB:.0f} MiB; "
                  f"first normal request: {normal_request(server)}", flush=True)
        for attack in chosen:
            r = (run_cli(attack, root, files, args.timeout, cap) if attack.cli
                 else run_api(attack, server, files, args.timeout))
            r.update(name=attack.name, item=attack.item, what=attack.what)
            rows.append(r)
            print(f"[{attack.item}] {attack.name:20s} {attack.what}\n      -> {one_line(r['message'])}\n"
                  f"      peak RSS {r['peak'] / MB:6.0f} MiB (idle {r['base'] / MB:.0f}), {r['seconds']:.1f} s, "
                  f"next request: {r['next']}", flush=True)
    finally:
        server.stop()
    print("\n| # | attack | answer | peak RSS | s | next request |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['item']} | {r['what']} | {one_line(r['message'], 110)} | {r['peak'] / MB:.0f} MiB | "
              f"{r['seconds']:.1f} | {r['next']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
