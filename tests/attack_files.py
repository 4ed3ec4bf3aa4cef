"""Hostile files made on the spot, each declaring far more than it holds (the attack list of issue #19).

Used by ``tests/test_security.py`` and ``bench/bench_attacks.py``. Every maker can
write the real thing (``full=True``: all the compressed data, so a reader without
guards really allocates what the file declares) or, for tests, only the headers
(the guards refuse from the headers, so the data is never needed): files stay a few
kB on disk.
"""

from __future__ import annotations

import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

try:  # numpy 2 names its pickle helpers numpy._core, numpy 1 numpy.core
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover
    from numpy.core.numeric import _frombuffer

GB = 1024**3

# ---------------------------------------------------------------------------- npz


def write_npz(path: Path, arrays: dict, full: bool = True, chunk: int = 1 << 24) -> Path:
    """An npz whose members are real arrays or ``(shape, dtype)`` declarations filled with zeros.

    Declared members get a true ``.npy`` header; with ``full`` the zeros follow (deflated,
    about 1/1000 of their size), without it the member stops after its header.
    """
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as z:
        for key, value in arrays.items():
            with z.open(f"{key}.npy", "w", force_zip64=True) as f:
                if isinstance(value, tuple):
                    shape, dtype = value
                    dtype = np.dtype(dtype)
                    header = {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": False,
                              "shape": tuple(shape)}
                    npy_format.write_array_header_1_0(f, header)
                    if full:
                        left = int(np.prod(shape, dtype=object)) * dtype.itemsize
                        zeros = bytes(min(chunk, left))
                        while left > 0:
                            f.write(zeros[: min(chunk, left)])
                            left -= chunk
                else:
                    npy_format.write_array(f, np.asanyarray(value), allow_pickle=False)
    return Path(path)


# ---------------------------------------------------------------------------- images


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, full: bool = True) -> bytes:
    """A grey 8-bit PNG of ``width x height`` black pixels; without ``full`` only its header (no pixel data)."""
    out = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))]
    if full:
        comp = zlib.compressobj(9)
        row = bytes(width + 1)  # filter byte 0, then the row
        data = [comp.compress(row) for _ in range(height)]
        data.append(comp.flush())
        out.append(_chunk(b"IDAT", b"".join(data)))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)


# ---------------------------------------------------------------------------- pickles


class _Reduce:
    """An object that pickles as ``fn(*args)``: how a hostile file spells a call."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def pickle_bytearray_bomb(nbytes: int = 1_400_000_000) -> bytes:
    """33 bytes that make ``pickle.load`` allocate ``nbytes`` zero bytes: ``bytearray(n)``."""
    return pickle.dumps(_Reduce(bytearray, nbytes), protocol=2)


def pickle_tracks_bomb(num_tracks: int = 500_000, frames: int = 24) -> bytes:
    """A DAVIS-layout pickle of a few hundred bytes whose ground truth declares ``num_tracks`` tracks,
    their coordinates backed by ``bytearray(n)`` buffers instead of data in the file."""
    points = _Reduce(_frombuffer, _Reduce(bytearray, num_tracks * frames * 2 * 4), np.dtype("f4"),
                     (num_tracks, frames, 2), "C")
    occluded = _Reduce(_frombuffer, _Reduce(bytearray, num_tracks * frames), np.dtype("?"), (num_tracks, frames), "C")
    video = np.zeros((frames, 8, 8, 3), np.uint8)
    return pickle.dumps({"bomb": {"video": video, "points": points, "occluded": occluded}}, protocol=2)


def pickle_memo_bomb(chunk: int = 1 << 20, copies: int = 3000) -> bytes:
    """``chunk`` bytes stored once and named ``copies`` times as a read-only array buffer: each name
    costs a copy (``chunk * copies`` bytes) but only a few bytes of file."""
    raw = bytes(chunk)
    return pickle.dumps([_Reduce(_frombuffer, raw, np.dtype("u1"), (chunk,), "C") for _ in range(copies)],
                        protocol=4)


def pickle_opcode_bomb(lists: int = 1_100_000) -> bytes:
    """Two bytes per new empty list (EMPTY_LIST, APPEND): 2 MB of file, ~100 MB of Python objects."""
    return b"\x80\x04]" + b"]a" * lists + b"."


def pickle_length_bomb() -> bytes:
    """A bytes object that declares 2**60 bytes in an 11-byte file."""
    return b"\x80\x04\x8e" + struct.pack("<Q", 1 << 60) + b"."


def kinetics_png_pickle(width: int = 8000, height: int = 8000, frames: int = 20, full: bool = True) -> bytes:
    """A Kinetics-layout pickle (a list of videos with encoded frames) of the same black PNG ``frames``
    times: pickle stores it once, decoding costs ``frames x width x height x 3`` bytes."""
    png = png_bytes(width, height, full)
    return pickle.dumps([{
        "video": [png] * frames,
        "points": np.full((4, frames, 2), 0.5, np.float32),
        "occluded": np.zeros((4, frames), bool),
    }], protocol=4)


def dataset_npz_bomb(path: Path, frames: int = 64, side: int = 4096, full: bool = True) -> Path:
    """A one-video dataset npz whose ``video`` declares ``frames x side x side x 3`` bytes (3.2 GB by default)."""
    return write_npz(path, {
        "video": ((frames, side, side, 3), np.uint8),
        "points": np.full((4, frames, 2), 0.5, np.float32),
        "occluded": np.zeros((4, frames), bool),
    }, full)


def sparse_tracks_bomb(path: Path, tracks: int = 1_000_000, frames: int = 120, full: bool = True) -> Path:
    """A Render track npz of ``tracks`` tracks (zeros), ~1 MB on disk with ``full``."""
    return write_npz(path, {
        "tracks": ((frames, tracks, 2), np.float32),
        "visible": ((frames, tracks), bool),
        "queries": ((tracks, 3), np.float32),
        "fps": np.float64(25.0),
    }, full)


def dense_tracks_bomb(path: Path, frames: int = 100, height: int = 1080, width: int = 1920,
                      full: bool = True) -> Path:
    """A dense npz (``offsets`` + ``visible``) of ``frames`` full-HD frames of zeros."""
    return write_npz(path, {
        "offsets": ((frames, height, width, 2), np.int32),
        "offset_unit": np.float64(1 / 64),
        "visible": ((frames, height, width), bool),
        "size": np.array([height, width]),
        "fps": np.float64(25.0),
    }, full)


def npz_declaring(path: Path, elements: float = 1e12) -> Path:
    """A dataset npz whose ``points`` array declares ``elements`` float32 values (header only)."""
    n = int(elements // 20)
    return write_npz(path, {"points": ((n, 10, 2), np.float32), "occluded": ((n, 10), bool),
                            "video": np.zeros((10, 4, 4, 3), np.uint8)}, full=False)


def json_nested(depth: int) -> str:
    """``[[[...]]]`` nested ``depth`` deep."""
    return "[" * depth + "]" * depth
