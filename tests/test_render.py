"""Renderers checked pixel by pixel on small synthetic frames (numpy in, numpy out)."""

import argparse

import numpy as np
import pytest

from studio.io.video import read_video, write_video
from studio.render import (
    MODES,
    RenderOptions,
    colormap_colors,
    draw_points,
    parse_mode,
    project_spacetime,
    render,
    upsample_tracks,
)
from studio.results import InputError
from studio.synthetic import make_clip

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def black(t=1, h=40, w=60):
    return np.zeros((t, h, w, 3), np.uint8)


def still(points, t=1):
    """Sparse tracks that stay at ``points`` [(x, y), ...] for ``t`` frames, all visible."""
    tracks = np.repeat(np.asarray(points, np.float32)[None], t, axis=0)
    return tracks, np.ones(tracks.shape[:2], bool)


def disc_pixels(h, w, cx, cy, r):
    ys, xs = np.mgrid[0:h, 0:w]
    return np.hypot(xs - cx, ys - cy) <= r


# --------------------------------------------------------------------------- modes


def test_modes_are_one_list_and_parse_strictly():
    assert len(set(MODES)) == len(MODES)
    for name in ("points", "overlay", "overlay_stripes_mask", "spaghetti_last_static", "spaghetti_first_last_mask"):
        assert name in MODES  # the names DOT's README uses
    spec = parse_mode("spaghetti_first_last_static_mask")
    assert (spec.kind, spec.first, spec.last, spec.every, spec.static, spec.mask) == (
        "spaghetti", True, True, False, True, True)
    with pytest.raises(InputError, match="unknown render mode"):
        parse_mode("overlay_spaghetti")  # substring matching would have taken this
    with pytest.raises(InputError, match="needs a mask"):
        render(black(), *still([[5, 5]]), "overlay_mask")


# --------------------------------------------------------------------------- points


def test_point_is_drawn_where_it_should_be_with_its_colour():
    x, y, r = 17.3, 23.0, 3.0
    out = render(black(), *still([[x, y]]), "points", RenderOptions(colors=np.array([RED]), radius=r))[0]
    h, w = out.shape[:2]
    assert out[23, 17].tolist() == list(RED)
    assert (out[disc_pixels(h, w, x, y, r - 0.5)] == RED).all()  # interior: exactly the colour
    assert not out[~disc_pixels(h, w, x, y, r + 0.5)].any()  # nothing beyond the edge
    lum = out[..., 0].astype(float)
    ys, xs = np.mgrid[0:h, 0:w]
    # Sub-pixel centre: integer coordinates are pixel centres (studio.conventions).
    assert abs((xs * lum).sum() / lum.sum() - x) < 0.05 and abs((ys * lum).sum() / lum.sum() - y) < 0.05


def test_hidden_point_is_a_hollow_ring_or_left_out():
    tracks, _ = still([[30, 20]])
    hidden = np.zeros((1, 1), bool)
    opts = RenderOptions(colors=np.array([GREEN]), radius=6)
    out = render(black(), tracks, hidden, "points", opts)[0]
    assert not out[20, 30].any()  # the centre stays empty
    assert out[20, 30 + 5].tolist() == list(GREEN)  # the ring, 5.x px out
    assert out[20 - 5, 30].tolist() == list(GREEN)
    assert not out[~disc_pixels(40, 60, 30, 20, 6.5)].any()
    opts = RenderOptions(colors=np.array([GREEN]), radius=6, hide_occluded=True)
    gone = render(black(), tracks, hidden, "points", opts)
    assert not gone.any()


def test_tail_follows_the_path_and_fades():
    t_len = 5
    tracks = np.array([[[10 + 8 * t, 20]] for t in range(t_len)], np.float32)
    visible = np.ones((t_len, 1), bool)
    out = render(black(t_len), tracks, visible, "points", RenderOptions(colors=np.array([RED]), radius=2, tail=4))
    last = out[-1, 20, :, 0].astype(int)  # row through the path in the last frame
    assert last[42] == 255  # the head
    assert last[40] > last[30] > last[20] > last[14] > 0  # newer segments are brighter
    assert not out[-1, 20, :9].any()  # nothing behind the first position
    assert not out[-1, 25:].any()


def test_draw_points_keeps_its_interface():
    video = black(2)
    tracks = np.array([[[10, 10], [40, 30]], [[12, 10], [40, 31]]], np.float32)
    visible = np.array([[True, True], [True, False]])
    out = draw_points(video, tracks, visible, tail=1, radius=2, colors=np.array([RED, GREEN], np.uint8))
    assert out.shape == video.shape and out.dtype == np.uint8 and not video.any()
    assert out[1, 10, 12].tolist() == list(RED)
    assert out[1, 31, 40].tolist() == [0, 0, 0] and out[1, 31, 42].any()  # hollow ring
    hidden = draw_points(video, tracks, visible, tail=0, radius=2, hide_occluded=True)
    assert not hidden[1, 25:, 35:].any()


# --------------------------------------------------------------------------- overlay


def test_overlay_blends_with_the_factor():
    video = np.full((1, 40, 60, 3), 100, np.uint8)
    out = render(video, *still([[30, 20]]), "overlay", RenderOptions(colors=np.array([RED]), radius=5))[0]
    # out = 0.75 * colour + 0.25 * frame inside the disc; untouched outside.
    assert out[20, 30].tolist() == [round(0.75 * 255 + 0.25 * 100), 25, 25]
    assert (out[~disc_pixels(40, 60, 30, 20, 5.5)] == 100).all()


def test_stripes_lie_exactly_on_hidden_points():
    tracks, _ = still([[15, 20], [45, 20]])
    visible = np.array([[False, True]])  # left hidden, right visible
    opts = RenderOptions(colors=np.array([RED, BLUE]), radius=8, overlay_factor=1.0)
    out = render(black(), tracks, visible, "overlay_stripes", opts)[0]
    rows, cols = np.mgrid[0:40, 0:60]
    stripe = (rows + cols) % 9 < 3
    white = (out == 255).all(axis=-1)
    hidden_core = disc_pixels(40, 60, 15, 20, 7.5)
    shown_core = disc_pixels(40, 60, 45, 20, 7.5)
    assert (white[hidden_core] == stripe[hidden_core]).all()  # white exactly on the stripe pattern
    assert (out[hidden_core & ~stripe] == RED).all()  # the rest in the track's colour
    assert not white[shown_core].any() and (out[shown_core] == BLUE).all()
    plain = render(black(), tracks, visible, "overlay", opts)[0]
    assert not plain[disc_pixels(40, 60, 15, 20, 8.5)].any()  # without stripes hidden points are not drawn


def test_masked_out_tracks_are_absent():
    mask = np.zeros((40, 60), bool)
    mask[:, :30] = True
    tracks, visible = still([[15, 20], [45, 20]], t=3)
    tracks[2, 0] = [40, 10]  # a track that starts inside and leaves the mask is still drawn
    opts = RenderOptions(colors=np.array([RED, BLUE]), radius=4, mask=mask, overlay_factor=1.0)
    for mode in ("points_mask", "overlay_mask", "overlay_stripes_mask"):
        out = render(black(3), tracks, visible, mode, opts)
        assert out[0, 20, 15].tolist() == list(RED) and out[2, 10, 40].tolist() == list(RED), mode
        assert not (out == np.array(BLUE, np.uint8)).all(axis=-1).any(), mode
        assert (render(black(3), tracks, visible, mode.replace("_mask", ""), opts) == BLUE).all(axis=-1).any()
    spag = render(black(3), tracks, visible, "spaghetti_mask", opts)
    assert (spag == RED).all(axis=-1).any() and not (spag == BLUE).all(axis=-1).any()


def test_colours_follow_position_left_to_right_and_up_down():
    rng = np.random.default_rng(0)
    xs = rng.permutation(np.arange(5, 60, 11))  # five columns, given in shuffled order
    tracks, visible = still(np.stack([xs, np.full(5, 20)], axis=-1))
    out = render(black(), tracks, visible, "overlay", RenderOptions(radius=3, overlay_factor=1.0))[0]
    got = np.array([out[20, x] for x in xs])
    expect = colormap_colors(np.argsort(np.argsort(xs)) / 4, "jet")  # rank along x -> jet
    np.testing.assert_array_equal(got, expect)
    assert got[np.argmin(xs)].tolist() == colormap_colors(np.array([0.0]))[0].tolist()  # leftmost: jet(0)
    # up_down orders rows; query order keeps the given order.
    ys = rng.permutation(np.arange(4, 40, 8))
    tr2, vis2 = still(np.stack([np.full(5, 30), ys], axis=-1))
    out2 = render(black(), tr2, vis2, "overlay", RenderOptions(radius=3, overlay_factor=1.0, color_by="up_down"))[0]
    np.testing.assert_array_equal(np.array([out2[y, 30] for y in ys]), colormap_colors(np.argsort(np.argsort(ys)) / 4))
    out3 = render(black(), tracks, visible, "overlay", RenderOptions(radius=3, overlay_factor=1.0, color_by="query"))[0]
    np.testing.assert_array_equal(np.array([out3[20, x] for x in xs]), colormap_colors(np.arange(5) / 4))


# --------------------------------------------------------------------------- spaghetti


def test_spaghetti_projection_is_dots():
    h, w, t_len, s = 48, 64, 9, 2.0
    xy = np.array([[0.0, 0.0], [63.0, 47.0], [20.0, 30.0]])
    for t in (0, 4, 8):
        # DOT's project(): normalise, centre, x0.25, append 1 - t/(T-1), multiply by M, offset, back to pixels.
        p = np.stack([xy[:, 0] / (w - 1), xy[:, 1] / (h - 1)], -1) - 0.5
        p = np.concatenate([p * 0.25, np.full((3, 1), 1 - t / (t_len - 1))], -1)
        p = p @ np.array([[0.8, 0, 0.5], [-0.2, 1.0, 0.1], [0, 0, 0]]).T
        want = np.stack([(p[:, 0] + 0.25) * (w - 1), (p[:, 1] + 0.45) * (h - 1)], -1) * s
        np.testing.assert_allclose(project_spacetime(xy, t, t_len, (h, w), s), want, atol=1e-3)


def test_temporal_upsampling_passes_through_the_frames():
    rng = np.random.default_rng(1)
    tracks = rng.uniform(0, 50, (6, 3, 2)).astype(np.float32)
    up = upsample_tracks(tracks, 10)
    assert up.shape == (51, 3, 2)
    np.testing.assert_allclose(up[::10], tracks, atol=1e-4)
    line = np.stack([np.arange(6) * 3.0, np.arange(6) * -2.0], -1)[:, None].astype(np.float32)
    np.testing.assert_allclose(upsample_tracks(line, 4)[:, 0, 0], np.arange(21) * 0.75, atol=1e-4)


def _shaded_clip(t_len=6, h=48, w=64):
    """Frames of one flat grey that changes per frame, so a pixel tells which frame is showing."""
    levels = 40 + 30 * np.arange(t_len)
    return np.broadcast_to(levels[:, None, None, None], (t_len, h, w, 3)).astype(np.uint8).copy(), levels


def test_static_spaghetti_keeps_the_current_frame_fixed():
    video, levels = _shaded_clip()
    t_len, h, w = video.shape[:3]
    tracks = np.stack([np.stack([np.full(t_len, 3.0), 3.0 + 2 * np.arange(t_len)], -1)], 1).astype(np.float32)
    visible = np.ones((t_len, 1), bool)
    opts = RenderOptions(colors=np.array([RED]))
    static = render(video, tracks, visible, "spaghetti_last_static", opts)
    moving = render(video, tracks, visible, "spaghetti_last", opts)
    assert static.shape == (t_len, 2 * h, 2 * w, 3)
    # Where the last frame's centre lands, every static output frame shows the *current* frame.
    cx, cy = np.rint(project_spacetime([[w / 2, h / 2]], t_len - 1, t_len, (h, w), 2.0)[0]).astype(int)
    for t in range(t_len):
        assert abs(int(static[t, cy, cx, 0]) - levels[t]) <= 2, t
    # Without static the view stays put and the current frame moves with time.
    for t in range(t_len):
        px, py = np.rint(project_spacetime([[w / 2, h / 2]], t, t_len, (h, w), 2.0)[0]).astype(int)
        assert abs(int(moving[t, py, px, 0]) - levels[t]) <= 2, t
    assert (moving[:, 2, 2] == 255).all()  # white background


def test_spaghetti_first_keeps_frame_zero_and_draws_trails():
    video, levels = _shaded_clip()
    t_len, h, w = video.shape[:3]
    tracks = np.stack([np.stack([np.full(t_len, 60.0), np.full(t_len, 44.0)], -1)], 1).astype(np.float32)
    out = render(video, tracks, np.ones((t_len, 1), bool), "spaghetti_first", RenderOptions(colors=np.array([BLUE])))
    cx, cy = np.rint(project_spacetime([[w / 2, h / 2]], 0, t_len, (h, w), 2.0)[0]).astype(int)
    assert all(abs(int(out[t, cy, cx, 0]) - levels[0]) <= 2 for t in range(t_len))
    # The trail: the track's projected positions are drawn in its colour by the end.
    for s in (0.0, 2.5, 5.0):
        px, py = np.rint(project_spacetime(tracks[0], s, t_len, (h, w), 2.0)[0]).astype(int)
        assert out[-1, py, px].tolist() == list(BLUE), s


# --------------------------------------------------------------------------- every mode, dense, files


@pytest.fixture(scope="module")
def dense_clip():
    clip = make_clip("translate", num_frames=6, size=(48, 64), occluder=True)
    h, w = clip.size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    grid = np.stack([xs, ys], -1)
    tracks = np.stack([grid + clip.flow(0, t) for t in range(6)]).astype(np.float32)
    q = np.stack([np.zeros(h * w), xs.ravel(), ys.ravel()], -1)
    _, vis = clip.ground_truth(q)
    return clip.video, tracks, vis.reshape(6, h, w)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_gives_uint8_frames_of_the_right_size(mode, dense_clip):
    video, dense, dense_vis = dense_clip
    t_len, h, w = video.shape[:3]
    sparse, sparse_vis = dense[:, 4::10, 4::10].reshape(t_len, -1, 2), dense_vis[:, 4::10, 4::10].reshape(t_len, -1)
    mask = np.zeros((h, w), bool)
    mask[:, : w // 2] = True
    opts = RenderOptions(mask=mask, spaghetti_length=4, spaghetti_grid=8)
    size = (round(2 * h), round(2 * w)) if mode.startswith("spaghetti") else (h, w)
    for tracks, vis in ((sparse, sparse_vis), (dense, dense_vis)):
        out = render(video, tracks, vis, mode, opts)
        assert out.shape == (t_len, *size, 3) and out.dtype == np.uint8
        assert (out != (video if size == (h, w) else 255)).any()  # something was drawn


def test_dense_overlay_covers_the_frame_in_column_order(dense_clip):
    video, tracks, vis = dense_clip
    out = render(video, tracks, vis, "overlay", RenderOptions(overlay_factor=1.0))
    h, w = video.shape[1:3]
    # Frame 0: every pixel carries its own track, coloured by its rank in column-major order.
    ranks = (np.arange(w)[None, :] * h + np.arange(h)[:, None]) / (h * w - 1)
    expect = colormap_colors(ranks)
    inside = vis[0]
    assert np.abs(out[0].astype(int) - expect.astype(int))[inside].max() <= 1
    # A dense mask keeps only the tracks that start inside it.
    mask = np.zeros((h, w), bool)
    mask[10:20, 10:20] = True
    masked = render(video, tracks, vis, "overlay_mask", RenderOptions(overlay_factor=1.0, mask=mask))
    changed = (masked[0] != video[0]).any(axis=-1)
    assert changed[12:18, 12:18].all() and not changed[30:, 40:].any()


def test_render_then_write_and_read_back(tmp_path, dense_clip):
    video, tracks, vis = dense_clip
    for mode, shape in (("points", (6, 48, 64, 3)), ("spaghetti_last_static", (6, 96, 128, 3))):
        out = render(video, tracks, vis, mode, RenderOptions(spaghetti_length=4))
        back = read_video(write_video(tmp_path / f"{mode}.mp4", out, 12.0, crf=10))
        assert back.frames.shape == shape and back.fps == 12.0 and back.codec == "h264"
        # Same pictures, in order, up to H.264 and 4:2:0 chroma loss on these tiny, busy frames
        # (the plain clip itself comes back ~4-8 levels off on average).
        err = np.abs(back.frames.astype(int) - out.astype(int)).mean(axis=(1, 2, 3))
        other = np.abs(back.frames.astype(int) - np.roll(out, 3, axis=0).astype(int)).mean(axis=(1, 2, 3))
        assert err.max() < 12 and (err < 0.6 * other).all(), (err, other)


def test_bad_inputs_get_clear_errors():
    video = black(2)
    with pytest.raises(InputError, match="frames"):
        render(video, *still([[5, 5]], t=3), "points")
    with pytest.raises(InputError, match="visible"):
        render(video, np.zeros((2, 3, 2), np.float32), np.ones((2, 4), bool), "points")
    with pytest.raises(InputError, match="dense"):
        render(video, np.zeros((2, 10, 10, 2), np.float32), np.ones((2, 10, 10), bool), "overlay")
    with pytest.raises(InputError, match="overlay_factor"):
        RenderOptions(overlay_factor=2)


# --------------------------------------------------------------------------- CLI


def _cli(argv):
    from studio.cli.render import add_render_parser

    p = argparse.ArgumentParser()
    add_render_parser(p.add_subparsers(dest="command"))
    args = p.parse_args(argv)
    return args.func(args)


def test_cli_renders_a_track_file_at_another_size(tmp_path, dense_clip):
    from studio.io.trackfile import save_tracks
    from studio.results import TrackResult

    video, dense, vis = dense_clip
    path = write_video(tmp_path / "clip.mp4", video, 12.0)
    tracks = dense[:, 4::8, 4::8].reshape(6, -1, 2)
    visible = vis[:, 4::8, 4::8].reshape(6, -1)
    queries = np.concatenate([np.zeros((tracks.shape[1], 1)), tracks[0]], 1)
    save_tracks(TrackResult(tracks, visible, queries, fps=12.0, size=(48, 64)), tmp_path / "t.npz")
    assert _cli(["render", str(path), str(tmp_path / "t.npz"), "--mode", "overlay_stripes",
                 "--out", str(tmp_path / "o.mp4"), "--max-side", "32"]) == 0
    out = read_video(tmp_path / "o.mp4")
    assert out.frames.shape == (6, 24, 32, 3) and out.fps == 12.0
    # Dense tracks through the npz reader hook.
    np.savez(tmp_path / "dense.npz", tracks=dense, visible=vis, fps=12.0)
    assert _cli(["render", str(path), str(tmp_path / "dense.npz"), "--mode", "spaghetti_last",
                 "--out", str(tmp_path / "d.mp4"), "--spaghetti-length", "4"]) == 0
    assert read_video(tmp_path / "d.mp4").frames.shape == (6, 96, 128, 3)
    with pytest.raises(InputError, match="--mask"):
        _cli(["render", str(path), str(tmp_path / "t.npz"), "--mode", "overlay_mask", "--out", str(tmp_path / "m.mp4")])


def test_iter_render_yields_the_same_frames(dense_clip):
    from studio.render import iter_render

    video, tracks, vis = dense_clip
    for mode in ("points", "overlay_stripes", "spaghetti_first_last_static"):
        opts = RenderOptions(spaghetti_length=4)
        shape, frames = iter_render(video, tracks, vis, mode, opts)
        frames = list(frames)
        assert (len(frames), *frames[0].shape[:2]) == shape
        np.testing.assert_array_equal(np.stack(frames), render(video, tracks, vis, mode, opts))


def test_no_tracks_left_and_single_frame_videos_still_render():
    video = np.full((3, 40, 60, 3), 90, np.uint8)
    tracks, visible = still([[50, 30]], t=3)
    mask = np.zeros((40, 60), bool)
    mask[:, :10] = True  # the only track starts outside: nothing to draw
    opts = RenderOptions(mask=mask, spaghetti_length=3)
    for mode in ("points_mask", "overlay_stripes_mask"):
        np.testing.assert_array_equal(render(video, tracks, visible, mode, opts), video)
    assert render(video, tracks, visible, "spaghetti_last_mask", opts).shape == (3, 80, 120, 3)
    for mode in ("points", "overlay", "spaghetti_first_last_static"):
        assert render(video[:1], tracks[:1], visible[:1], mode, opts).shape[0] == 1
