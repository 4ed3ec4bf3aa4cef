"""Shared fixtures: generated clips with exact ground truth, and the real media folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.synthetic import make_clip

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"


@pytest.fixture(scope="session")
def media() -> Path:
    """The real clips folder ``../shared/media``; tests using it skip when it is absent."""
    if not MEDIA.is_dir():
        pytest.skip("../shared/media is not present")
    return MEDIA


@pytest.fixture(scope="session")
def clips() -> dict:
    """One generated 32-frame 240x320 clip per motion kind, cached for the session."""
    cache: dict = {}

    def get(motion: str, **kw):
        key = (motion, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = make_clip(motion, **{"num_frames": 32, "size": (240, 320), **kw})
        return cache[key]

    return get


def visible_grid(clip, n: int, t: int) -> np.ndarray:
    """An n x n grid on frame t, keeping only points visible there."""
    from studio.queries import grid_queries

    q = grid_queries(clip.size, n, t)
    _, vis = clip.ground_truth(q)
    return q[vis[t]]


@pytest.fixture(autouse=True)
def checkpoint_folder(tmp_path, monkeypatch) -> Path:
    """Every test gets its own empty checkpoint folder (``STUDIO_CHECKPOINT_DIR``, not yet created),
    so files a user keeps in theirs never change a test's outcome."""
    folder = tmp_path / "checkpoints"
    monkeypatch.setenv("STUDIO_CHECKPOINT_DIR", str(folder))
    return folder


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face hub cache in a temporary folder, with HF_HUB_OFFLINE=1."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def handler_named(demo, name: str):
    """The one Gradio handler function called ``name`` in ``demo`` (one function may serve several events)."""
    fns = {f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == name}
    assert len(fns) == 1, f"expected one handler {name}, found {len(fns)}"
    return fns.pop()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests (``pytestmark = pytest.mark.usefixtures(...)``): networks
    run predictably on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
