"""The Render tab and its compute (studio.service.render_job): re-draw saved tracks in any mode, no tracking."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from conftest import handler_named

from studio.io.video import read_video, write_video
from studio.results import InputError
from studio.service import Limits, TrackingService
from studio.service.render_job import rerender
from studio.ui.app import build_demo

ROOT = Path(__file__).resolve().parents[1]
PAN = ROOT / "examples" / "hopper_pan.mp4"  # 36 frames, 480x272


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """A Track-tab result on the pan example: lk on a 6x6 grid on frame 0."""
    service = TrackingService(limits=Limits(), output_root=tmp_path_factory.mktemp("out"))
    queries = service.grid(str(PAN), 6, 0)[0]
    out = service.track(str(PAN), queries, model="lk")
    return service, out


def test_switching_modes_draws_without_tracking_or_decoding_again(tracked):
    service, out = tracked
    loads, decodes = dict(service.model_loads), service.video_decodes
    shapes = {}
    for mode in ("points", "overlay_stripes", "spaghetti_last_static"):
        r = rerender(service, str(PAN), str(out.files["npz"]), mode, {"tail": 4})
        shapes[mode] = r.frames.shape
        back = read_video(r.path)
        assert back.num_frames == 36 and back.size == r.frames.shape[1:3]
        assert "36 sparse tracks" in r.status()
    assert service.model_loads == loads and service.video_decodes == decodes
    assert shapes["points"] == shapes["overlay_stripes"] == (36, 272, 480, 3)
    assert shapes["spaghetti_last_static"] == (36, 544, 960, 3)  # DOT's spaghetti view is 2x


def test_points_are_drawn_where_the_tracks_are(tracked):
    service, out = tracked
    result = out.result
    r = rerender(service, str(PAN), str(out.files["csv"]), "points", {"tail": 0, "radius": 4.0})
    frames = service.load_video(str(PAN)).frames
    t = 20
    changed = np.abs(r.frames[t].astype(int) - frames[t].astype(int)).sum(axis=2) > 60
    for (x, y), vis in zip(result.tracks[t], result.visible[t]):
        if vis and 5 < x < 474 and 5 < y < 266:
            assert changed[int(round(y)), int(round(x))], f"no point drawn at ({x:.1f}, {y:.1f})"
    # and nothing far from every track
    yy, xx = np.nonzero(changed)
    d = np.min(np.hypot(xx[:, None] - result.tracks[t, :, 0], yy[:, None] - result.tracks[t, :, 1]), axis=1)
    assert d.max() < 8


def test_mask_modes_keep_only_tracks_starting_inside(tracked):
    service, out = tracked
    video = service.load_video(str(PAN))
    mask = np.zeros((272, 480), np.uint8)
    mask[:, :160] = 255  # the left third of frame 0
    with pytest.raises(InputError, match="mask"):
        rerender(service, str(PAN), str(out.files["npz"]), "overlay_mask", {})
    masked = rerender(service, str(PAN), str(out.files["npz"]), "overlay_mask", {"radius": 3.0}, mask=mask)
    full = rerender(service, str(PAN), str(out.files["npz"]), "overlay", {"radius": 3.0})
    start_x = out.result.tracks[0, :, 0]
    t = 0
    diff_masked = np.abs(masked.frames[t].astype(int) - video.frames[t].astype(int)).sum(axis=2) > 30
    diff_full = np.abs(full.frames[t].astype(int) - video.frames[t].astype(int)).sum(axis=2) > 30
    right = start_x > 200
    assert right.any() and diff_full[:, 200:].any()
    assert not diff_masked[:, 200:].any()  # tracks starting right of the mask are not drawn
    assert diff_masked[:, :160].any()


def test_dense_tracks_with_their_own_mask(tmp_path):
    """A dense npz (Dense tab layout) renders; its stored mask serves the *_mask modes."""
    service = TrackingService(output_root=tmp_path / "out")
    h, w, t_len = 48, 64, 6
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (t_len, h, w, 3), dtype=np.uint8)
    write_video(tmp_path / "clip.mp4", frames, 10)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    tracks = np.stack([np.stack([xs + 2 * t, ys], -1) for t in range(t_len)])  # 2 px/frame to the right
    visible = np.ones((t_len, h, w), bool)
    mask = np.zeros((h, w), bool)
    mask[10:30, 10:30] = True
    np.savez_compressed(tmp_path / "dense.npz", tracks=tracks, visible=visible, size=np.array([h, w]),
                        fps=np.float32(10), mask=mask)
    r = rerender(service, str(tmp_path / "clip.mp4"), str(tmp_path / "dense.npz"), "overlay_stripes_mask",
                 {"overlay_factor": 1.0})
    assert r.dense and r.num_tracks == h * w and any("mask stored" in n for n in r.notices)
    # a plain mode on such a file draws its mask variant: the pixels outside were never tracked
    plain = rerender(service, str(tmp_path / "clip.mp4"), str(tmp_path / "dense.npz"), "points", {"tail": 0})
    assert plain.mode == "points_mask" and any("cover only their mask" in n for n in plain.notices)
    video0 = service.load_video(str(tmp_path / "clip.mp4")).frames[0]
    touched = np.abs(plain.frames[0].astype(int) - video0.astype(int)).sum(axis=2) > 40
    ys_t, xs_t = np.nonzero(touched)
    assert ys_t.min() >= 5 and ys_t.max() <= 34 and xs_t.min() >= 5 and xs_t.max() <= 34
    video = service.load_video(str(tmp_path / "clip.mp4")).frames
    drawn = np.abs(r.frames[3].astype(int) - video[3].astype(int)).sum(axis=2) > 40
    ys_d, xs_d = np.nonzero(drawn)
    # the masked square moved 6 px right by frame 3; nothing is drawn elsewhere
    assert xs_d.min() >= 16 - 1 and xs_d.max() <= 35 + 1 and ys_d.min() >= 9 and ys_d.max() <= 30


def test_bad_track_file_is_a_clear_error_and_the_next_render_works(tracked, tmp_path):
    service, out = tracked
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError):
        rerender(service, str(PAN), str(bad), "points", {})
    with pytest.raises(InputError, match="unknown render mode"):
        rerender(service, str(PAN), str(out.files["npz"]), "sparkles", {})
    with pytest.raises(InputError, match="colour map"):
        rerender(service, str(PAN), str(out.files["npz"]), "points", {"colormap": "no_such_map"})
    assert rerender(service, str(PAN), str(out.files["npz"]), "points", {}).frames.shape[0] == 36


def test_tab_uses_the_latest_track_result_and_shows_a_still(tmp_path):
    service = TrackingService(output_root=tmp_path)
    demo = build_demo(service)
    *_, latest, _ = handler_named(demo, "on_track")(str(PAN), [[0, 100.0, 100.0], [3, 200.0, 120.0]], "lk", 8,
                                                 progress=None)
    video_path, tracks_path, mask = handler_named(demo, "use_latest_track")(latest)
    assert video_path == str(PAN) and tracks_path == latest["tracks"] and mask is None
    opts = ["left_right", "jet", 8, 0, False, 0.75, 0, 1.5, 30, 2.0, 10]
    mp4, still, slider, download, status, state = handler_named(demo, "on_render")(
        video_path, tracks_path, "overlay_stripes", None, 12, None, *opts, progress=None)
    assert Path(mp4).is_file() and download == mp4 == state
    assert still.shape == (272, 480, 3) and "overlay_stripes: 36 frames" in status
    assert slider["value"] == 17  # the first still is the middle frame
    *_, slider, _, _, _ = handler_named(demo, "on_render")(
        video_path, tracks_path, "points", None, 12, state, *opts, progress=None)
    assert slider["value"] == 12  # later renders keep the chosen frame
    again = handler_named(demo, "on_still")(state, 30)
    assert again.shape == (272, 480, 3)
    with pytest.raises(gr.Error, match="no Track result"):
        handler_named(demo, "use_latest_track")(None)
    with pytest.raises(gr.Error, match="needs|mask"):
        handler_named(demo, "on_render")(video_path, tracks_path, "spaghetti_mask", None, 0, None, *opts,
                                   progress=None)
