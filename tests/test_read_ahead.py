"""``read_ahead`` and ``VideoFrames(ahead=...)``: decoding in a background thread, a few frames ahead
of the consumer, gives what decoding in the consumer's thread gives, errors included."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from studio.io.video import VideoFrames, read_video, write_video
from studio.io.video.ahead import read_ahead
from studio.results import InputError
from studio.synthetic import make_clip


def test_frames_read_ahead_equal_frames_read_in_turn(tmp_path):
    clip = make_clip("translate", num_frames=12, size=(48, 64))
    path = write_video(tmp_path / "c.mp4", clip.video, 10.0)
    source = VideoFrames(path, max_frames=10, ahead=3)
    frames = list(source)
    whole = read_video(path, max_frames=10)
    assert np.array_equal(np.stack(frames), whole.frames) and source.notices == whole.notices
    assert source.count == 10 and source.size == (48, 64)
    with pytest.raises(InputError, match="ahead"):
        VideoFrames(path, ahead=-1)


def test_an_error_arrives_where_its_item_would_have():
    def items():
        yield 1
        yield 2
        raise ValueError("broken third item")

    got = []
    with pytest.raises(ValueError, match="third"):
        for item in read_ahead(items(), 2):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_stops_the_thread_and_closes_the_source():
    made, closed = [], threading.Event()

    def items():
        try:
            for i in range(1000):
                made.append(i)
                yield i
        finally:
            closed.set()

    gen = read_ahead(items(), 2, name="test-read-ahead")
    assert next(gen) == 0
    gen.close()
    assert closed.is_set()
    assert len(made) <= 1 + 2 + 1  # the one taken, two waiting, one being made when it stopped
    assert not any(t.name == "test-read-ahead" for t in threading.enumerate())
    with pytest.raises(ValueError, match="depth"):
        next(read_ahead(iter([]), 0))


def test_a_stream_stopped_midway_leaves_no_decoding_thread(tmp_path):
    from studio.online.stream import stream_track

    clip = make_clip("translate", num_frames=20, size=(48, 64))
    path = write_video(tmp_path / "stopped.mp4", clip.video, 10.0)

    def progress(fraction, desc):
        if fraction > 0.2:
            raise KeyboardInterrupt  # as a cancelled job stops

    try:
        stream_track(path, "lk", grid=2, progress=progress)
    except KeyboardInterrupt:
        # Checked while the exception (and with it the stopped call's frame) is still held.
        assert not [t for t in threading.enumerate() if t.name.startswith("decoding stopped")]
    else:
        pytest.fail("the stream did not stop")
    run = stream_track(path, "lk", grid=2)  # the next request still works
    assert run.result.tracks.shape == (20, 4, 2)
