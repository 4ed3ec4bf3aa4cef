import json

import numpy as np
import pytest

from studio.io.trackfile import load_tracks, save_tracks
from studio.results import InputError, TrackResult


@pytest.fixture
def result():
    rng = np.random.default_rng(3)
    t, n = 7, 5
    return TrackResult(
        tracks=rng.uniform(-0.5, 99.5, (t, n, 2)).astype(np.float32),
        visible=rng.random((t, n)) > 0.3,
        queries=np.stack([rng.integers(0, t, n), rng.uniform(0, 99, n), rng.uniform(0, 59, n)], 1),
        confidence=rng.random((t, n)).astype(np.float32),
        fps=29.97,
        size=(60, 100),
        model="lk",
    )


@pytest.mark.parametrize("ext", ["npz", "json"])
def test_complete_formats_round_trip_exactly(result, tmp_path, ext):
    back = load_tracks(save_tracks(result, tmp_path / f"t.{ext}"))
    assert np.array_equal(back.tracks, result.tracks) and back.tracks.dtype == np.float32
    assert np.array_equal(back.visible, result.visible) and back.visible.dtype == bool
    assert np.array_equal(back.queries, result.queries)
    assert np.array_equal(back.confidence, result.confidence)
    assert (back.fps, back.size, back.model, back.convention) == (29.97, (60, 100), "lk", result.convention)


def test_npz_has_the_documented_keys(result, tmp_path):
    with np.load(save_tracks(result, tmp_path / "t.npz")) as z:
        assert set(z.files) == {"tracks", "visible", "queries", "confidence", "fps", "size", "model", "convention"}
        assert z["tracks"].shape == (7, 5, 2) and z["visible"].dtype == bool and z["size"].tolist() == [60, 100]


def test_csv_is_long_format_and_loads_back(result, tmp_path):
    path = save_tracks(result, tmp_path / "t.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "point,frame,x,y,visible,confidence"
    assert len(lines) == 1 + 7 * 5
    p, f, x, y, v, c = lines[1 + 7 * 2 + 3].split(",")  # point 2, frame 3
    assert (int(p), int(f)) == (2, 3)
    assert np.float32(float(x)) == result.tracks[3, 2, 0] and bool(int(v)) == result.visible[3, 2]
    back = load_tracks(path)
    assert np.array_equal(back.tracks, result.tracks) and np.array_equal(back.visible, result.visible)
    # CSV carries no queries: each becomes the point's first visible position.
    first = np.argmax(result.visible, axis=0)
    assert np.array_equal(back.queries[:, 0], np.where(result.visible.any(0), first, 0))


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays, words",
    [
        (dict(visible=np.ones((2, 1), bool), queries=np.zeros((1, 3))), "no 'tracks'"),
        (dict(tracks=np.zeros((2, 1)), visible=np.ones((2, 1), bool), queries=np.zeros((1, 3))), "3-D"),
        (dict(tracks=np.zeros((2, 1, 2)), visible=np.ones((3, 1), bool), queries=np.zeros((1, 3))), "visible"),
        (dict(tracks=np.full((2, 1, 2), np.nan), visible=np.ones((2, 1), bool), queries=np.zeros((1, 3))), "NaN"),
        (dict(tracks=np.zeros((2, 1, 2)), visible=np.full((2, 1), 2), queries=np.zeros((1, 3))), "0/1"),
        (dict(tracks=np.zeros((2, 1, 2)), visible=np.ones((2, 1), bool), queries=np.zeros((1, 3)),
              convention=np.str_("tapvid-normalized")), "convention"),
    ],
)
def test_malformed_npz_is_refused_clearly(tmp_path, arrays, words):
    path = _write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=words):
        load_tracks(path)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, tracks=np.array([{"a": 1}], dtype=object), visible=np.ones((1, 1)), queries=np.zeros((1, 3)))
    with pytest.raises(InputError, match="obj.npz"):
        load_tracks(path)


@pytest.mark.parametrize(
    "name, text, words",
    [
        ("a.json", "[1, 2]", "JSON object"),
        ("b.json", "{not json", "b.json is not valid JSON"),
        ("c.json", json.dumps({"format": "other", "tracks": []}), "not 'tracking-studio/tracks'"),
        ("d.csv", "point,frame,x\n0,0,1\n", "needs the columns"),
        ("e.csv", "point,frame,x,y,visible\n0,0,1,2,1\n0,0,1,2,1\n", "one row per point and frame"),
        ("f.csv", "point,frame,x,y,visible\n0,0,one,2,1\n", "not numbers"),
        ("g.csv", "point,frame,x,y,visible\n", "no rows"),
        ("h.npz", "this is not a zip", "h.npz is not an .npz file .* it is a text file"),
    ],
)
def test_malformed_text_files_are_refused_clearly(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=words):
        load_tracks(path)


def test_unknown_extension_and_missing_file(result, tmp_path):
    with pytest.raises(InputError, match="use .npz, .csv or .json"):
        save_tracks(result, tmp_path / "t.txt")
    with pytest.raises(InputError, match="does not exist"):
        load_tracks(tmp_path / "missing.npz")
    assert not list(tmp_path.iterdir())  # nothing half-written
