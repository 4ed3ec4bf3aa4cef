"""The Dense tab and its request layer (studio.service.dense_job): mask in, dense tracks out, views without
re-tracking."""

from __future__ import annotations

from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pytest
from conftest import handler_named

from studio.dense.result import DenseResult
from studio.io.video import write_video
from studio.results import InputError
from studio.service import Limits, TrackingService
from studio.service.dense_job import run_dense
from studio.synthetic import make_clip
from studio.ui.app import build_demo
from studio.ui.tab_dense import painted_mask


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A real photo under a known smooth motion (no occluder), written as an mp4, and its truth."""
    c = make_clip("mixed", num_frames=10, size=(120, 160), occluder=False, seed=3)
    path = tmp_path_factory.mktemp("clip") / "mixed.mp4"
    write_video(path, c.video, c.fps, crf=12)
    return c, str(path)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return TrackingService(limits=Limits(), output_root=tmp_path_factory.mktemp("out"))


def test_painted_layers_become_the_mask():
    bg = np.zeros((40, 50, 3), np.uint8)
    layer = np.zeros((40, 50, 4), np.uint8)
    assert painted_mask({"background": bg, "layers": [layer], "composite": None}) is None
    assert painted_mask(None) is None
    layer[5:15, 10:30, 3] = 255
    layer2 = np.zeros_like(layer)
    layer2[30:35, 0:5, 3] = 128
    m = painted_mask({"background": bg, "layers": [layer, layer2], "composite": None})
    assert m.dtype == np.uint8 and m.shape == (40, 50)
    assert (m > 0).sum() == 10 * 20 + 5 * 5 and m[10, 20] == 255 and m[32, 2] == 255 and m[0, 0] == 0


def test_dense_request_follows_the_true_motion_inside_the_mask(service, clip):
    c, path = clip
    h, w = c.size
    mask = np.zeros((h, w), np.uint8)
    mask[30:90, 40:120] = 255
    out = run_dense(service, path, mask, query_frame=0, num_tracks=512, max_side=160)
    r = out.result
    assert r.tracks.shape == (10, h, w, 2) and r.mask.sum() == 60 * 80
    assert not r.visible[:, ~r.mask].any()  # outside the region nothing is reported visible
    ys, xs = np.nonzero(r.mask)
    queries = np.stack([np.zeros_like(xs), xs, ys], 1).astype(np.float32)
    truth, _ = c.ground_truth(queries)
    err = np.linalg.norm(r.tracks[:, ys, xs] - truth, axis=-1)
    inside = np.all((truth >= 2) & (truth <= np.array([w - 3, h - 3])), axis=-1)  # away from the frame edge
    assert np.median(err[inside]) < 0.6 and np.mean(err[inside] < 2) > 0.9
    assert r.visible[:, ys, xs][inside].mean() > 0.9
    # the files: a dense npz the renderers read back, the mask as a PNG, a playable mp4
    back = DenseResult.load(out.npz)
    assert back.tracks.shape == r.tracks.shape and np.abs(back.tracks - r.tracks)[:, r.mask].max() < 0.01
    assert np.array_equal(back.mask, r.mask)
    assert np.array_equal(cv2.imread(str(out.mask_png), cv2.IMREAD_GRAYSCALE) > 0, r.mask)
    assert out.mode == "overlay_stripes_mask" and out.rendered.is_file()
    assert "dot_dis: 4800 pixels tracked from frame 0 through 10 frames of 160×120" in out.status()


def test_bad_requests_are_clear_errors_and_the_next_one_works(service, clip):
    _, path = clip
    with pytest.raises(InputError, match="mask is empty"):
        run_dense(service, path, np.zeros((120, 160), np.uint8), max_side=96)
    with pytest.raises(InputError, match="point model|dense model"):
        run_dense(service, path, None, model="lk", max_side=96)
    with pytest.raises(InputError, match="not a point tracker"):
        run_dense(service, path, None, initializer="dot_dis", max_side=96)
    with pytest.raises(InputError, match="initial tracks"):
        run_dense(service, path, None, num_tracks=0, max_side=96)
    with pytest.raises(InputError, match="query frame"):
        run_dense(service, path, None, query_frame=10, max_side=96)
    with pytest.raises(InputError, match="aspect|video is"):
        run_dense(service, path, np.full((100, 100), 255, np.uint8), max_side=96)
    junk = Path(path).with_name("junk.mp4")
    junk.write_bytes(b"\x00\x01 not a video at all" * 100)
    with pytest.raises(InputError):
        run_dense(service, str(junk), None, max_side=96)
    out = run_dense(service, path, None, query_frame=4, num_tracks=256, max_side=96)
    assert out.result.query_frame == 4 and out.mode == "overlay_stripes" and out.result.visible.mean() > 0.8
    assert "tracked the whole frame" in out.status()


def test_tab_paints_tracks_switches_views_and_feeds_the_render_tab(tmp_path, clip):
    c, path = clip
    service = TrackingService(output_root=tmp_path)
    demo = build_demo(service)
    src, slider, editor, latest = handler_named(demo, "on_dense_video")(path, progress=None)
    assert src == path and editor["background"].shape == (120, 160, 3) and latest is None
    layer = np.zeros((120, 160, 4), np.uint8)
    layer[40:80, 50:110] = (255, 48, 48, 255)
    value = {"background": editor["background"], "layers": [layer], "composite": None}
    rendered, files, status, latest, view = handler_named(demo, "on_dense_run")(
        src, value, None, 0, "dot_dis", "lk", 512, 160, progress=None)
    assert Path(rendered).is_file() and latest["tracks"].endswith("_dense.npz") and latest["mask"]
    assert view["value"] == "overlay_stripes_mask" and "spaghetti_first_last_mask" in view["choices"]
    assert "2400 pixels tracked" in status
    loads = dict(service.model_loads)
    rendered2, files2, status2 = handler_named(demo, "on_dense_view")(latest, "spaghetti_first_last_mask")
    assert rendered2 != rendered and "spaghetti_first_last_mask: 10 frames of 320×240" in status2
    assert service.model_loads == loads  # a view switch never re-tracks
    # the Render tab takes the same result with its mask
    assert handler_named(demo, "use_latest_dense")(latest) == (path, latest["tracks"], latest["mask"])
    with pytest.raises(gr.Error, match="load a video first"):
        handler_named(demo, "on_dense_run")(None, None, None, 0, "dot_dis", "lk", 512, 160, progress=None)
