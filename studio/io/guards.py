"""Guards for files and text anyone may send: sizes are checked from headers before anything is allocated.

Every reader of an uploaded or user-given file goes through here, so each limit
(``studio.limits.Limits``) is checked in one place and refused with one sentence:

* ``NpzFile``: an ``.npz`` read member by member; each member's ``.npy`` header
  (shape, dtype) is read first and checked against ``max_array_bytes``, object arrays
  are refused (they need pickle), and a file that is not a zip says what it is.
  ``np.load`` would allocate whatever a header declares (a 2 MB file can declare
  terabytes) and calls a text file "pickled data".
* ``check_array``: the same test for a shape and dtype known some other way.
* ``image_size`` / ``read_image`` / ``decode_image``: an image's width and height come
  from its header (PIL reads no pixels to open it) and are checked against
  ``max_image_pixels`` before it is decoded; ``install_pil_guard`` sets PIL's own
  decompression-bomb guard to the same limit for images Gradio decodes itself.
* ``parse_json``: JSON text is capped in length before it is parsed, and nesting too
  deep for the parser is one sentence instead of a RecursionError.
* ``check_text_file``: a JSON/CSV file's size before it is read.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from studio.limits import Limits, format_size, setting
from studio.results import InputError

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_HEADER_MAX = 10000  # numpy's own default cap on a .npy header


class LimitExceeded(InputError):
    """A file or request that would cost more than a limit allows; nothing was allocated for it."""


def _limits(limits: Limits | None) -> Limits:
    return limits if limits is not None else Limits.from_env()


def declared_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes an array of ``shape`` and ``dtype`` takes (Python integers: no overflow for absurd shapes)."""
    return math.prod(int(s) for s in shape) * int(np.dtype(dtype).itemsize)


def check_array(shape: tuple[int, ...], dtype: np.dtype, what: str, limits: Limits | None = None) -> int:
    """Refuse an array of ``shape``/``dtype`` that holds Python objects or exceeds ``max_array_bytes``.

    Args:
      what: names the array in the message, e.g. ``"tracks.npz: 'tracks'"``.

    Returns:
      The array's size in bytes.

    Raises:
      InputError: an object array. LimitExceeded: too many bytes.
    """
    limits = _limits(limits)
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise InputError(f"{what} holds Python objects (dtype {dtype}), which only pickle can build; refused")
    if any(int(s) < 0 for s in shape):
        raise InputError(f"{what} has a negative size in its shape {list(shape)}")
    nbytes = declared_bytes(shape, dtype)
    if nbytes > limits.max_array_bytes:
        raise LimitExceeded(
            f"{what} declares a {'x'.join(map(str, shape)) or 'scalar'} {dtype} array of {format_size(nbytes)}, "
            f"more than the {format_size(limits.max_array_bytes)} one array may take "
            f"({setting('max_array_bytes')}); refused before reading it"
        )
    return nbytes


def describe_start(path: str | os.PathLike) -> str:
    """What a file looks like from its first bytes, for "X is not a Y" messages (never the file's contents)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return "unreadable"
    if not head:
        return "empty"
    if head.startswith((b"\x80", b"(dp", b"(lp", b"(S'", b"ccopy_reg")):
        return "a Python pickle"
    if head.startswith(b"\x93NUMPY"):
        return "a single .npy array"
    if head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff"):
        return "an image"
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ")):
        return "a compressed archive"
    try:
        head.decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return "binary data of another kind"


class NpzFile:
    """An ``.npz`` file read safely: headers first, data only within the limits, never pickle.

    Use as a context manager, or ``close()`` it. ``files`` lists the array names
    (as ``np.load`` does); ``shape(key)`` / ``dtype(key)`` read only a member's header;
    ``npz[key]`` checks that header against ``max_array_bytes`` and then reads it.

    Raises (on opening):
      InputError: missing file, not a zip ("X is not an .npz file ... it is a text
        file"), a damaged zip, or more members than a file of ``max_videos`` videos has.
    """

    def __init__(self, path: str | os.PathLike, limits: Limits | None = None, name: str | None = None):
        self.path = Path(path)
        self.name = name or self.path.name
        self.limits = _limits(limits)
        if not self.path.is_file():
            raise InputError(f"{self.name} does not exist")
        with open(self.path, "rb") as f:
            head = f.read(4)
        if head not in _ZIP_MAGIC:
            raise InputError(
                f"{self.name} is not an .npz file (a zip of .npy arrays): it is {describe_start(self.path)}; "
                "refused without reading it further"
            )
        try:
            self._zip = zipfile.ZipFile(self.path)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise InputError(f"{self.name} is a damaged .npz (zip) file ({type(exc).__name__})") from None
        most = 4 * self.limits.max_videos + 64
        if len(infos) > most:
            self._zip.close()
            raise LimitExceeded(
                f"{self.name} holds {len(infos)} arrays, more than the {most} a file of "
                f"{self.limits.max_videos} videos has ({setting('max_videos')}); refused"
            )
        self._members = {i.filename[:-4]: i.filename for i in infos if i.filename.endswith(".npy")}
        self._headers: dict[str, tuple[tuple[int, ...], bool, np.dtype]] = {}

    # ------------------------------------------------------------------ reading

    @property
    def files(self) -> list[str]:
        """Array names, as ``np.load(...).files`` gives them."""
        return list(self._members)

    def __contains__(self, key: object) -> bool:
        return key in self._members

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)

    def header(self, key: str) -> tuple[tuple[int, ...], bool, np.dtype]:
        """``(shape, fortran_order, dtype)`` of ``key`` from its header only (no data is read)."""
        if key not in self._members:
            raise KeyError(key)
        if key not in self._headers:
            try:
                with self._zip.open(self._members[key]) as f:
                    version = np.lib.format.read_magic(f)
                    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    self._headers[key] = reader(f, max_header_size=_NPY_HEADER_MAX)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError, TypeError) as exc:
                raise InputError(f"{self.name}: array {key!r} has no readable .npy header ({type(exc).__name__})") \
                    from None
        return self._headers[key]

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(int(s) for s in self.header(key)[0])

    def dtype(self, key: str) -> np.dtype:
        return self.header(key)[2]

    def nbytes(self, key: str) -> int:
        shape, _, dtype = self.header(key)
        return declared_bytes(shape, dtype)

    def check(self, key: str) -> int:
        """Refuse ``key`` if its header declares objects or more than ``max_array_bytes``; returns its bytes."""
        shape, _, dtype = self.header(key)
        return check_array(shape, dtype, f"{self.name}: array {key!r}", self.limits)

    def __getitem__(self, key: str) -> np.ndarray:
        self.check(key)
        try:
            with self._zip.open(self._members[key]) as f:
                return np.lib.format.read_array(f, allow_pickle=False, max_header_size=_NPY_HEADER_MAX)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(f"{self.name}: array {key!r} is damaged or cut short ({type(exc).__name__})") from None

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def load_all(self, keys: list[str] | None = None, what: str = "arrays") -> dict[str, np.ndarray]:
        """Several arrays at once; their sum must fit ``max_array_bytes`` too (checked before any is read)."""
        keys = list(self._members) if keys is None else [k for k in keys if k in self._members]
        total = sum(self.check(k) for k in keys)
        if total > self.limits.max_array_bytes:
            raise LimitExceeded(
                f"{self.name}: its {what} take {format_size(total)} together, more than the "
                f"{format_size(self.limits.max_array_bytes)} allowed ({setting('max_array_bytes')}); refused"
            )
        return {k: self[k] for k in keys}

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> NpzFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_npz(path: str | os.PathLike, limits: Limits | None = None, name: str | None = None) -> NpzFile:
    """``NpzFile(path, limits, name)``."""
    return NpzFile(path, limits, name)


# ---------------------------------------------------------------------------- images


def _pil():
    from PIL import Image

    return Image


def _too_many_pixels(what: str, pixels: int, dims: str, limits: Limits) -> LimitExceeded:
    return LimitExceeded(
        f"{what} has {pixels} pixels{dims}, more than the {limits.max_image_pixels} an image may have "
        f"({setting('max_image_pixels')}); refused before decoding it"
    )


def _open_image(source: str | os.PathLike | bytes, what: str, limits: Limits):
    """A PIL image opened from its header, its pixel count checked; raises with one sentence."""
    Image = _pil()
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except Image.DecompressionBombError as exc:  # PIL's own guard fired first: it states the pixel count
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_many_pixels(what, int(found.group(1)) if found else 0, "", limits) from None
    except (OSError, ValueError, SyntaxError, TypeError) as exc:
        raise InputError(f"{what} is not an image (PNG, JPEG, ...) that can be read ({type(exc).__name__})") from None
    w, h = img.size
    if w * h > limits.max_image_pixels:
        img.close()
        raise _too_many_pixels(what, w * h, f" ({w}x{h})", limits)
    if w == 0 or h == 0:
        img.close()
        raise InputError(f"{what} is an empty image ({w}x{h})")
    return img


def image_size(source: str | os.PathLike | bytes, what: str = "the image", limits: Limits | None = None
               ) -> tuple[int, int]:
    """``(width, height)`` of an image file or encoded bytes, from its header, within ``max_image_pixels``."""
    with _open_image(source, what, _limits(limits)) as img:
        return img.size


def _as_array(img) -> np.ndarray:
    """Decoded pixels with the channels kept: grey [H, W] (8/16 bit) or RGB(A) [H, W, C]."""
    mode = img.mode
    if mode in ("P", "PA", "LA"):
        img = img.convert("RGBA")
    elif mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("L" if mode == "1" else "RGB")
    return np.asarray(img)


def read_image(path: str | os.PathLike, what: str | None = None, limits: Limits | None = None) -> np.ndarray:
    """An image file (mask, picture) decoded after its header passed ``max_image_pixels``.

    Returns:
      uint8/uint16 [H, W] grey, or [H, W, 3|4] RGB(A) (palette and grey-alpha images
      come as RGBA), as mask readers take it (``studio.queries.mask_plane``).

    Raises:
      InputError: missing, not an image, or damaged. LimitExceeded: too many pixels.
    """
    what = what or f"{Path(path).name}"
    if not Path(path).is_file():
        raise InputError(f"{what} is missing or not an image")
    limits = _limits(limits)
    with _open_image(path, what, limits) as img:
        try:
            return _as_array(img)
        except (OSError, ValueError, SyntaxError) as exc:
            raise InputError(f"{what} is a damaged image ({type(exc).__name__})") from None


def decode_image(blob: bytes, what: str, limits: Limits | None = None) -> np.ndarray:
    """Encoded image bytes (a dataset's JPEG/PNG frame) as uint8 RGB [H, W, 3], after the header check."""
    with _open_image(bytes(blob), what, _limits(limits)) as img:
        try:
            return np.asarray(img.convert("RGB"))
        except (OSError, ValueError, SyntaxError) as exc:
            raise InputError(f"{what} is a damaged image ({type(exc).__name__})") from None


def install_pil_guard(limits: Limits | None = None) -> None:
    """Make PIL's own decompression-bomb guard refuse images over ``max_image_pixels``.

    PIL warns above ``Image.MAX_IMAGE_PIXELS`` and refuses above twice that; images
    Gradio decodes before a handler sees them (``gr.Image`` inputs) are then refused
    at opening too. Call once at start-up (the app does).
    """
    _pil().MAX_IMAGE_PIXELS = max(1, _limits(limits).max_image_pixels // 2)


# ---------------------------------------------------------------------------- text


def parse_json(text: str, what: str, max_chars: int, example: str = "") -> Any:
    """JSON ``text`` parsed after its length is checked; any failure is one sentence.

    Args:
      what: names the text in messages ("queries", "tracks.json").
      max_chars: longest text accepted (checked before parsing; parsing costs many times the text).
      example: appended to the "not valid JSON" message, e.g. how queries are written.

    Raises:
      LimitExceeded: longer than ``max_chars``. InputError: not JSON, or nested deeper than the parser goes.
    """
    if len(text) > max_chars:
        raise LimitExceeded(f"{what} is {len(text)} characters long, more than the {max_chars} accepted; refused "
                            "before parsing it")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
                         + (f"; {example}" if example else "")) from None
    except RecursionError:
        raise InputError(f"{what} nests lists or objects too deeply to be read; refused") from None


def check_text_file(path: str | os.PathLike, what: str, limits: Limits | None = None) -> int:
    """Refuse a JSON/CSV file larger than ``max_text_bytes`` (before reading it); returns its size."""
    limits = _limits(limits)
    size = os.path.getsize(path)
    if size > limits.max_text_bytes:
        raise LimitExceeded(
            f"{what} is {format_size(size)} of text, more than the {format_size(limits.max_text_bytes)} a JSON/CSV "
            f"file may have ({setting('max_text_bytes')}); save the tracks as .npz instead"
        )
    return size
