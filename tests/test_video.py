"""Tests for studio.io.video: every file here is made with PyAV (or Pillow) in tmp_path.

The synthetic clip encodes order and orientation in its pixels: a white square
moves 2 px right per frame, the blue channel is 5 * frame index, and a red block
marks the stored top-left corner.
"""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from studio.conventions import rescale_pixels
from studio.io.video import Video, VideoError, probe_video, read_video, write_video
from studio.results import InputError

H, W = 64, 112
SQUARE = 8


def square_x(i: int) -> int:
    """Left column of the white square on frame ``i``."""
    return 16 + 2 * i


def pattern(t_len: int, h: int = H, w: int = W) -> np.ndarray:
    """[T, h, w, 3] uint8: smooth background, blue = 5*t, white square, red top-left marker."""
    yy, xx = np.mgrid[:h, :w]
    frames = np.empty((t_len, h, w, 3), dtype=np.uint8)
    for i in range(t_len):
        f = frames[i]
        f[..., 0] = 20 + (xx * 100) // w
        f[..., 1] = 20 + (yy * 100) // h
        f[..., 2] = (5 * i) % 256
        f[0:12, 0:12] = (255, 0, 0)
        f[40 : 40 + SQUARE, square_x(i) : square_x(i) + SQUARE] = 255
    return frames


def square_left(frame: np.ndarray) -> float:
    """Leftmost column of the near-white pixels (the square's left edge)."""
    ys, xs = np.nonzero(frame.min(axis=-1) > 200)
    assert xs.size, "no square found"
    return float(xs.min())


def encode(
    path,
    frames,
    fps=12,
    codec="libx264",
    pix_fmt="yuv420p",
    rotation_ccw=None,
    hflip=False,
    container_options=None,
    options=None,
) -> str:
    """Encode RGB frames with PyAV; ``rotation_ccw`` uses PyAV's counter-clockwise convention."""
    path = str(path)
    with av.open(path, "w", container_options=container_options or {}) as out:
        s = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001), options=options or {})
        s.width, s.height = frames.shape[2], frames.shape[1]
        s.pix_fmt = pix_fmt
        if rotation_ccw is not None or hflip:
            s.set_display_rotation(rotation_ccw or 0, hflip=hflip)
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            vf.pts = i
            for p in s.encode(vf):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> str:
    """A valid 10-frame H.264 MP4, read after every failure to prove the reader still works."""
    return encode(tmp_path_factory.mktemp("good") / "good.mp4", pattern(10))


def assert_good_read(path: str) -> None:
    v = read_video(path)
    assert v.frames.shape == (10, H, W, 3)
    assert v.notices == []


# --------------------------------------------------------------------------- round trips


def test_roundtrip_h264(tmp_path):
    frames = pattern(20)
    out = write_video(tmp_path / "rt.mp4", frames, fps=12)
    assert out == str(tmp_path / "rt.mp4")
    v = read_video(out)
    assert isinstance(v, Video)
    assert v.frames.shape == frames.shape and v.frames.dtype == np.uint8
    assert v.frames.flags["C_CONTIGUOUS"]
    assert v.fps == pytest.approx(12.0)
    assert v.codec == "h264"
    assert v.source_frames == 20 and v.source_size == (H, W)
    assert v.notices == [] and v.notice == ""
    assert mae(v.frames, frames) < 3
    assert [square_left(f) for f in v.frames] == [square_x(i) for i in range(20)]
    # Nothing but the final file is left in the folder (the temp file was renamed).
    assert os.listdir(tmp_path) == ["rt.mp4"]


def test_roundtrip_saturated_colours_agree(tmp_path):
    # A YUV matrix mismatch between writer and reader shows most on saturated colours.
    frames = np.zeros((3, 32, 48, 3), np.uint8)
    frames[:, :, :16] = (255, 0, 0)
    frames[:, :, 16:32] = (0, 255, 0)
    frames[:, :, 32:] = (0, 0, 255)
    v = read_video(write_video(tmp_path / "rgb.mp4", frames, fps=10))
    assert mae(v.frames[:, 4:-4, 4:12], frames[:, 4:-4, 4:12]) < 4
    assert mae(v.frames[:, 4:-4, 20:28], frames[:, 4:-4, 20:28]) < 4
    assert mae(v.frames[:, 4:-4, 36:44], frames[:, 4:-4, 36:44]) < 4


def test_odd_size_is_padded_not_resampled(tmp_path):
    h, w = 49, 67
    frames = pattern(6, h, w)
    path = write_video(tmp_path / "odd.mp4", frames, fps=10)
    with av.open(path) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (w + 1, h + 1)
        assert s.codec_context.pix_fmt == "yuv420p"
    v = read_video(path)
    assert v.frames.shape == (6, h + 1, w + 1, 3)
    # The original picture sits unchanged in the top-left...
    assert mae(v.frames[:, :h, :w], frames) < 3
    # ...and the extra row/column repeat the edge.
    assert mae(v.frames[:, h, :w], frames[:, h - 1]) < 6
    assert mae(v.frames[:, :h, w], frames[:, :, w - 1]) < 6
    assert [square_left(f) for f in v.frames] == [square_x(i) for i in range(6)]


@pytest.mark.parametrize("fps", [12, 29.97, 30000 / 1001, 25, 7.5])
def test_fps_preserved(tmp_path, fps):
    v = read_video(write_video(tmp_path / "f.mp4", pattern(8), fps=fps))
    assert v.fps == pytest.approx(float(Fraction(fps).limit_denominator(1001)), abs=1e-6)
    assert probe_video(tmp_path / "f.mp4")["fps"] == pytest.approx(v.fps)


@pytest.mark.parametrize("fps", [0, -3, float("nan")])
def test_write_bad_fps_falls_back_to_25(tmp_path, fps):
    v = read_video(write_video(tmp_path / "f.mp4", pattern(3), fps=fps))
    assert v.fps == pytest.approx(25.0)


def test_write_is_atomic_on_failure(tmp_path):
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"old content")

    def boom(fraction, desc):
        if fraction > 0.3:
            raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        write_video(target, pattern(10), fps=10, progress=boom)
    assert target.read_bytes() == b"old content"
    assert sorted(os.listdir(tmp_path)) == ["keep.mp4"]


def test_write_crf_changes_size(tmp_path):
    frames = pattern(10)
    small = os.path.getsize(write_video(tmp_path / "hi.mp4", frames, fps=10, crf=40))
    big = os.path.getsize(write_video(tmp_path / "lo.mp4", frames, fps=10, crf=5))
    assert small < big


def test_written_file_is_faststart(tmp_path):
    data = Path(write_video(tmp_path / "fs.mp4", pattern(5), fps=10)).read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 16, 16, 3), np.float32),
        np.zeros((16, 16, 3), np.uint8),
        np.zeros((0, 16, 16, 3), np.uint8),
        np.zeros((2, 16, 16, 4), np.uint8),
        np.zeros((2, 0, 16, 3), np.uint8),
        [[[[0, 0, 0]]]],
    ],
    ids=["float", "3d", "no-frames", "rgba", "zero-height", "list"],
)
def test_write_rejects_bad_arrays(tmp_path, bad):
    with pytest.raises(InputError):
        write_video(tmp_path / "bad.mp4", bad, fps=10)
    assert os.listdir(tmp_path) == []


def test_write_rejects_bad_options(tmp_path):
    frames = pattern(2)
    with pytest.raises(InputError, match="crf"):
        write_video(tmp_path / "a.mp4", frames, fps=10, crf=80)
    with pytest.raises(InputError, match=r"\.mp4"):
        write_video(tmp_path / "a.webm", frames, fps=10)
    with pytest.raises(VideoError, match="folder"):
        write_video(tmp_path / "missing" / "a.mp4", frames, fps=10)


# --------------------------------------------------------------------------- other codecs


@pytest.mark.parametrize(
    "name,codec,expect_codec",
    [("m.mp4", "mpeg4", "mpeg4"), ("v.webm", "libvpx-vp9", "vp9"), ("q.mov", "libx264", "h264")],
)
def test_read_other_codecs(tmp_path, name, codec, expect_codec):
    frames = pattern(12)
    opts = {"qscale": "2"} if codec == "mpeg4" else ({"crf": "20", "b": "0"} if codec == "libvpx-vp9" else {})
    path = encode(tmp_path / name, frames, fps=12, codec=codec, options=opts)
    v = read_video(path)
    assert v.codec == expect_codec
    assert v.frames.shape == frames.shape
    assert v.fps == pytest.approx(12.0)
    assert v.source_frames == 12  # WebM does not store it: counted from packets
    assert mae(v.frames, frames) < 5
    assert [square_left(f) for f in v.frames] == [square_x(i) for i in range(12)]
    p = probe_video(path)
    assert p["size"] == (H, W) and p["frames"] == 12 and p["codec"] == expect_codec and p["rotation"] == 0
    assert p["duration_s"] == pytest.approx(1.0, abs=0.1)


def _gif_frames(t_len):
    # Pure black/white so that the GIF palette holds them exactly.
    frames = np.zeros((t_len, H, W, 3), np.uint8)
    for i in range(t_len):
        frames[i, 40 : 40 + SQUARE, square_x(i) : square_x(i) + SQUARE] = 255
    return frames


def test_read_gif_made_with_pyav(tmp_path):
    frames = _gif_frames(10)
    path = encode(tmp_path / "a.gif", frames, fps=10, codec="gif", pix_fmt="rgb8")
    v = read_video(path)
    assert v.codec == "gif"
    assert v.frames.shape == frames.shape
    assert v.fps == pytest.approx(10.0)
    assert mae(v.frames, frames) < 1
    assert [square_left(f) for f in v.frames] == [square_x(i) for i in range(10)]


def test_read_gif_made_with_pillow(tmp_path):
    frames = _gif_frames(8)
    path = tmp_path / "p.gif"
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=50, loop=0)
    v = read_video(path)
    assert v.codec == "gif" and v.frames.shape == frames.shape
    assert v.fps == pytest.approx(20.0)
    assert [square_left(f) for f in v.frames] == [square_x(i) for i in range(8)]


def test_raw_stream_without_rate_assumes_25(tmp_path):
    # A bare H.264 stream has no container timing; FFmpeg would invent 25 fps silently.
    path = str(tmp_path / "bare.h264")
    with av.open(path, "w", format="h264") as out:
        s = out.add_stream("libx264", rate=12)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for f in pattern(6):
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    v = read_video(path)
    assert v.frames.shape == (6, H, W, 3) and v.source_frames == 6
    assert v.fps == 25.0
    assert v.notices == ["the file states no frame rate; assumed 25 fps"]
    assert probe_video(path)["fps"] == 25.0


# --------------------------------------------------------------------------- rotation


def _tkhd_matrix_offset(data: bytes) -> int:
    """Byte offset of the 3x3 matrix in the (only) track header box of an MP4."""
    i = data.find(b"tkhd")
    assert i > 0
    version = data[i + 4]
    # version+flags, times/ids/duration, reserved(8) layer alt_group volume reserved(2 each)
    return i + 4 + 4 + (32 if version == 1 else 20) + 8 + 8


def test_rotation_from_iphone_style_track_matrix(tmp_path):
    """Independent of PyAV's writer: patch the QuickTime tkhd matrix a phone writes.

    A portrait phone clip is stored landscape with matrix (a, b, c, d) = (0, 1, -1, 0),
    which per the QuickTime spec maps (x, y) -> (-y, x): a 90° clockwise turn on screen
    (y down). The stored top-left marker must land at the top-right.
    """
    frames = pattern(5)
    path = encode(tmp_path / "plain.mp4", frames)
    data = bytearray(Path(path).read_bytes())
    off = _tkhd_matrix_offset(data)
    assert struct.unpack(">9i", data[off : off + 36])[:5] == (65536, 0, 0, 0, 65536)
    data[off : off + 36] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, H << 16, 0, 1 << 30)
    phone = tmp_path / "phone.mp4"
    phone.write_bytes(bytes(data))

    v = read_video(phone)
    assert v.frames.shape == (5, W, H, 3)  # portrait now
    assert v.source_size == (W, H)
    first = v.frames[0].astype(int)
    red = (first[..., 0] > 200) & (first[..., 1] < 60) & (first[..., 2] < 60)
    ys, xs = np.nonzero(red)
    assert ys.max() < 12 and xs.min() >= H - 12  # top-right corner
    assert mae(v.frames, np.rot90(frames, k=-1, axes=(1, 2))) < 3
    assert "rotated 90° clockwise" in v.notice
    p = probe_video(phone)
    assert p["rotation"] == 90 and p["size"] == (W, H)


@pytest.mark.parametrize("cw", [90, 180, 270])
def test_rotation_written_by_pyav(tmp_path, cw):
    frames = pattern(4)
    # PyAV's set_display_rotation takes counter-clockwise degrees.
    path = encode(tmp_path / "r.mp4", frames, rotation_ccw=-cw)
    v = read_video(path)
    expected = np.rot90(frames, k=-cw // 90, axes=(1, 2))
    assert v.frames.shape == expected.shape
    assert mae(v.frames, expected) < 3
    assert (f"rotated {cw}° clockwise" if cw != 180 else "rotated 180°") in v.notice
    assert probe_video(path)["rotation"] == cw


def test_mirror_matrix(tmp_path):
    frames = pattern(3)
    path = encode(tmp_path / "m.mp4", frames, hflip=True)
    v = read_video(path)
    assert mae(v.frames, frames[:, :, ::-1]) < 3
    assert "mirrored" in v.notice


def test_rotation_with_max_side_and_max_frames(tmp_path):
    frames = pattern(10)
    path = encode(tmp_path / "r.mp4", frames, rotation_ccw=-90)
    v = read_video(path, max_frames=4, max_side=56)
    # Shown size is W x H = 112 tall, 64 wide: halved to 56 x 32.
    assert v.frames.shape == (4, 56, 32, 3)
    assert v.source_size == (W, H)
    assert v.notices[0] == "kept frames 0–3 of 10"
    assert "resized 64×112 → 32×56" in v.notices
    small = np.rot90(frames[:4], k=-1, axes=(1, 2))[:, ::2, ::2]
    assert mae(v.frames, small) < 8


# --------------------------------------------------------------------------- limits


def test_max_frames_notice_and_early_stop(tmp_path):
    frames = pattern(40)
    path = encode(tmp_path / "long.mp4", frames, container_options={"movflags": "+faststart"})
    v = read_video(path, max_frames=10)
    assert v.frames.shape[0] == 10
    assert v.notices == ["kept frames 0–9 of 40"]
    assert v.source_frames == 40
    assert [square_left(f) for f in v.frames] == [square_x(i) for i in range(10)]

    # Cut the file so that its tail is damaged: a full read notices, a read of the
    # first frames does not, because it never decodes that far.
    data = Path(path).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.85)])
    full = read_video(cut)
    assert 10 < full.num_frames < 40
    assert "ends early" in full.notice or "truncated" in full.notice
    head = read_video(cut, max_frames=5)
    assert head.notices == ["kept frames 0–4 of 40"]


class _CountingContainer:
    """Wraps a PyAV input container and counts the packets read from it."""

    def __init__(self, inner):
        self._inner = inner
        self.packets = 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __enter__(self):
        self._inner.__enter__()
        return self

    def __exit__(self, *exc):
        return self._inner.__exit__(*exc)

    def demux(self, *args, **kwargs):
        for packet in self._inner.demux(*args, **kwargs):
            self.packets += bool(packet.size)
            yield packet


def test_max_frames_reads_only_the_start(tmp_path, monkeypatch):
    path = encode(tmp_path / "long.mp4", pattern(150))
    opened = []
    real_open = av.open

    def counting_open(*args, **kwargs):
        opened.append(_CountingContainer(real_open(*args, **kwargs)))
        return opened[-1]

    monkeypatch.setattr(av, "open", counting_open)
    v = read_video(path, max_frames=5)
    assert v.num_frames == 5 and v.notices == ["kept frames 0–4 of 150"]
    # A few packets beyond 5 are the decoder's look-ahead, not a full read.
    assert len(opened) == 1 and 5 <= opened[0].packets <= 40
    opened.clear()
    read_video(path)
    assert opened[0].packets == 150


def test_damage_in_the_middle_skips_packets(tmp_path, good):
    path = encode(tmp_path / "whole.mp4", pattern(40), container_options={"movflags": "+faststart"})
    data = bytearray(Path(path).read_bytes())
    start = data.find(b"mdat")
    middle = start + (len(data) - start) // 2
    data[middle : middle + 300] = np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    v = read_video(bad)
    assert 20 < v.num_frames < 40
    assert "damaged packet" in v.notice and "ends early" not in v.notice
    # Frames after the damage were kept: the last one shows the square far right.
    assert square_left(v.frames[-1]) > square_x(30)
    assert_good_read(good)


def test_max_frames_counts_packets_when_container_has_no_count(tmp_path):
    path = encode(tmp_path / "v.webm", pattern(15), codec="libvpx-vp9")
    with av.open(path) as c:
        assert c.streams.video[0].frames == 0  # WebM really does not say
    v = read_video(path, max_frames=6)
    assert v.notices == ["kept frames 0–5 of 15"] and v.source_frames == 15


def test_max_frames_not_reached_has_no_notice(tmp_path, good):
    v = read_video(good, max_frames=50)
    assert v.num_frames == 10 and v.notices == []


def test_max_side(tmp_path, good):
    v = read_video(good, max_side=56)
    assert v.frames.shape == (10, 32, 56, 3)
    assert v.source_size == (H, W)
    assert v.notices == ["resized 112×64 → 56×32"]
    assert mae(v.frames, pattern(10)[:, ::2, ::2]) < 8
    # Not larger than the limit: untouched.
    assert read_video(good, max_side=W).frames.shape == (10, H, W, 3)


@pytest.mark.parametrize("max_side", [30, 40, 56, 100])
def test_resize_keeps_pixel_centre_convention(tmp_path, max_side):
    """Shrinking maps image areas corner to corner, as ``rescale_pixels`` assumes.

    The centroid of a white block (lossless encode) must land where the studio's
    coordinate converter puts it, to a hundredth of a pixel.
    """
    frames = np.zeros((2, H, W, 3), np.uint8)
    frames[:, 10:26, 80:96] = 255
    path = encode(tmp_path / "block.mp4", frames, options={"qp": "0"})
    v = read_video(path, max_side=max_side)
    g = v.frames[0].astype(np.float64).mean(axis=-1)
    g -= g.min()
    ys, xs = np.mgrid[: g.shape[0], : g.shape[1]]
    centroid = np.array([(g * xs).sum(), (g * ys).sum()]) / g.sum()
    expected = rescale_pixels(np.array([87.5, 17.5]), (H, W), g.shape)
    np.testing.assert_allclose(centroid, expected, atol=0.03)


def test_max_side_rounds_to_even(tmp_path):
    path = write_video(tmp_path / "w.mp4", pattern(2, 30, 100), fps=10)
    v = read_video(path, max_side=51)
    h, w = v.frames.shape[1:3]
    assert h % 2 == 0 and w % 2 == 0 and abs(w - 51) <= 1 and abs(w / h - 100 / 30) < 0.25


def test_progress_is_bounded_and_monotone(tmp_path):
    path = encode(tmp_path / "p.mp4", pattern(60))
    calls = []
    v = read_video(path, progress=lambda f, d: calls.append((f, d)))
    assert v.num_frames == 60
    assert 3 <= len(calls) <= 52
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(isinstance(d, str) and d for _, d in calls)
    wcalls = []
    write_video(tmp_path / "o.mp4", pattern(60), fps=10, progress=lambda f, d: wcalls.append(f))
    assert 3 <= len(wcalls) <= 52 and wcalls[-1] == 1.0


def test_memory_cap(tmp_path, good):
    frame_bytes = H * W * 3
    with pytest.raises(VideoError, match="max_frames=4"):
        read_video(good, max_bytes=4 * frame_bytes + 10)
    assert read_video(good, max_frames=4, max_bytes=4 * frame_bytes + 10).num_frames == 4
    assert read_video(good, max_side=28, max_bytes=4 * frame_bytes + 10).num_frames == 10
    assert_good_read(good)


def test_memory_cap_when_count_unknown(tmp_path):
    path = encode(tmp_path / "v.webm", pattern(10), codec="libvpx-vp9")
    with pytest.raises(VideoError, match="max_frames"):
        read_video(path, max_bytes=3 * H * W * 3)


def test_huge_frames_refused(tmp_path, good, monkeypatch):
    import studio.io.video.limits as limits

    monkeypatch.setattr(limits, "MAX_DECODED_SIDE", 100)
    with pytest.raises(VideoError, match="112×64"):
        read_video(good)
    with pytest.raises(VideoError, match="112×64"):
        probe_video(good)


@pytest.mark.parametrize("kw", [{"max_frames": 0}, {"max_frames": 2.5}, {"max_side": 1}, {"max_bytes": 0}])
def test_bad_arguments(good, kw):
    with pytest.raises(InputError, match=next(iter(kw))):
        read_video(good, **kw)


# --------------------------------------------------------------------------- errors


def _check_error(path, good, *words):
    for fn in (read_video, probe_video):
        with pytest.raises(VideoError) as info:
            fn(path)
        msg = str(info.value)
        assert isinstance(info.value, InputError)
        assert os.path.basename(str(path)) in msg, msg
        assert "\n" not in msg and "Errno" not in msg, msg
        for word in words:
            assert word in msg, msg
    assert_good_read(good)


def test_missing_file(tmp_path, good):
    _check_error(tmp_path / "nope.mp4", good, "does not exist")


def test_folder_and_empty_file(tmp_path, good):
    (tmp_path / "dir.mp4").mkdir()
    _check_error(tmp_path / "dir.mp4", good, "folder")
    (tmp_path / "empty.mp4").write_bytes(b"")
    _check_error(tmp_path / "empty.mp4", good, "empty")


def test_random_bytes(tmp_path, good):
    p = tmp_path / "noise.mp4"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    _check_error(p, good, "not a video")


def test_text_file(tmp_path, good):
    p = tmp_path / "notes.mp4"
    p.write_text("these are not the frames you are looking for\n" * 50)
    _check_error(p, good, "not a video")


def test_png_renamed(tmp_path, good):
    p = tmp_path / "picture.mp4"
    Image.fromarray(pattern(1)[0]).save(tmp_path / "x.png")
    (tmp_path / "x.png").rename(p)
    _check_error(p, good, "still", "PNG")


def test_audio_only(tmp_path, good):
    p = str(tmp_path / "tone.m4a")
    with av.open(p, "w") as out:
        s = out.add_stream("aac", rate=44100)
        t = np.arange(44100) / 44100
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, tone.size, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, k : k + 1024], format="fltp", layout="mono")
            frame.sample_rate = 44100
            for pkt in s.encode(frame):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    _check_error(p, good, "audio")


def test_video_stream_without_frames(tmp_path, good):
    # MP4 and Matroska drop or refuse an empty track; AVI keeps its header.
    p = str(tmp_path / "empty.avi")
    with av.open(p, "w") as out:
        s = out.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    with av.open(p) as c:
        assert len(c.streams.video) == 1
    _check_error(p, good, "no frames")


def test_truncated_mp4_index_at_end(tmp_path, good):
    # Default MP4 muxing writes the index (moov) last; cut it off and nothing is playable.
    path = encode(tmp_path / "whole.mp4", pattern(30))
    data = Path(path).read_bytes()
    assert data.find(b"mdat") < data.find(b"moov")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    _check_error(cut, good, "damaged or truncated")


def test_truncated_faststart_mp4(tmp_path, good):
    path = encode(tmp_path / "whole.mp4", pattern(30), container_options={"movflags": "+faststart"})
    data = Path(path).read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    # Late cut: the first frames survive and the reader says the file ended early.
    late = tmp_path / "late.mp4"
    late.write_bytes(data[: int(len(data) * 0.9)])
    v = read_video(late)
    assert 0 < v.num_frames < 30
    assert v.source_frames == 30
    assert "ends early" in v.notice and "truncated" in v.notice
    assert [square_left(f) for f in v.frames] == [square_x(i) for i in range(v.num_frames)]
    assert_good_read(good)
    # Cut inside the first frames: nothing decodes, a clear error.
    early = tmp_path / "early.mp4"
    early.write_bytes(data[: data.find(b"mdat") + 200])
    with pytest.raises(VideoError, match="damaged or truncated"):
        read_video(early)
    assert_good_read(good)


# --------------------------------------------------------------------------- real clips


@pytest.mark.parametrize(
    "name,shape,fps,codec",
    [
        # cat.mp4 is stored 368 wide x 480 tall with no rotation metadata: portrait as stored.
        ("cat.mp4", (87, 480, 368, 3), 20.0, "h264"),
        ("bmx_mp4v.mp4", (60, 384, 512, 3), 12.0, "mpeg4"),
        ("apple.mp4", (50, 720, 1296, 3), 10.0, "h264"),
    ],
)
def test_real_clips(media, name, shape, fps, codec):
    path = media / name
    if not path.exists():
        pytest.skip(f"{path} is not present")
    p = probe_video(path)
    assert p["size"] == shape[1:3] and p["frames"] == shape[0] and p["rotation"] == 0
    assert p["fps"] == pytest.approx(fps) and p["codec"] == codec
    v = read_video(path)
    assert v.frames.shape == shape
    assert v.fps == pytest.approx(fps) and v.codec == codec
    assert v.source_frames == shape[0] and v.notices == []
    # Real footage, not a flat or broken decode.
    assert 20 < v.frames.mean() < 235 and v.frames.std() > 20


def test_long_text_file_is_not_read_as_ansi_video(tmp_path):
    path = tmp_path / "notes.txt"  # FFmpeg's tty demuxer claims .txt files
    path.write_text("a line of plain text that is long enough\n" * 400)
    with pytest.raises(VideoError, match="notes.txt is a text file"):
        read_video(path)
