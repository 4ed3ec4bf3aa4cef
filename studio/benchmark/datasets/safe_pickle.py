"""Load pickles that may come from anyone: numpy arrays and plain containers only.

``pickle.load`` runs whatever callable a file names, so an uploaded "dataset"
could run code on the server. ``SafeUnpickler`` resolves names itself and knows
only what a TAP-Vid pickle needs:

* ``dict``, ``list``, ``tuple``, ``str``, ``bytes``, numbers, ``True/False/None``
  (these have their own opcodes and never reach ``find_class``), and ``set``,
  ``frozenset``, ``bytearray`` for older protocols;
* numpy arrays and scalars, through stand-ins for ``_reconstruct``,
  ``_frombuffer``, ``scalar`` and ``dtype`` that check their arguments and
  refuse object arrays, under both the numpy 1 (``numpy.core``) and numpy 2
  (``numpy._core``) module names;
* ``_codecs.encode(text, "latin1")``, which protocol 2 uses for ``bytes``.

Any other global (``os.system``, ``builtins.eval``, a class of some module) is
refused with ``UnsafePickleError`` before anything is called; persistent ids are
refused too. Nothing named by the file is imported or run.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names something outside the allow-list; nothing from it ran."""


class _NdarrayType:
    """Stands for ``numpy.ndarray`` inside a pickle; only ``_reconstruct`` accepts it.

    Handing out the real class would let a file call ``numpy.ndarray(shape)``
    directly and allocate memory of any size.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise UnsafePickleError("the pickle calls numpy.ndarray directly; only the standard array layout is allowed")


def _check_dtype(dtype: Any) -> np.dtype:
    if not isinstance(dtype, np.dtype):
        raise UnsafePickleError(f"expected a numpy dtype in the pickle, got {type(dtype).__name__}")
    if dtype.hasobject:
        raise UnsafePickleError(f"numpy arrays of Python objects (dtype {dtype}) are not allowed")
    return dtype


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    # numpy pickles an array as _reconstruct(ndarray, (0,), b"b") followed by
    # __setstate__ with the real shape and bytes; the data can only be as large as the file.
    if subtype is not _NdarrayType:
        raise UnsafePickleError("array reconstruction is only allowed for plain numpy.ndarray")
    if tuple(shape) != (0,):
        raise UnsafePickleError(f"unexpected initial array shape {shape!r} in the pickle")
    return np.ndarray((0,), dtype=np.uint8)


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    # Pickle protocol 5 stores an array as _frombuffer(raw bytes, dtype, shape, order).
    dtype = _check_dtype(dtype)
    if order not in ("C", "F"):
        raise UnsafePickleError(f"unexpected array order {order!r} in the pickle")
    arr = np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)
    return arr if arr.flags.writeable else arr.copy()


def _scalar(dtype: Any, data: Any = None) -> Any:
    dtype = _check_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise UnsafePickleError(f"malformed numpy {dtype} scalar in the pickle")
    return np.frombuffer(data, dtype=dtype)[0]


def _dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(spec, str):
        raise UnsafePickleError(f"dtype spec must be a string in the pickle, got {type(spec).__name__}")
    return _check_dtype(np.dtype(spec, align=bool(align), copy=bool(copy)))


def _latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("only latin1 encoding of text to bytes is allowed in the pickle")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("_codecs", "encode"): _latin1_encode,
    ("numpy", "ndarray"): _NdarrayType,
    ("numpy", "dtype"): _dtype,
}
# Protocols 0-2 spell the builtins module the Python 2 way.
_ALLOWED.update({("__builtin__", name): obj for (mod, name), obj in list(_ALLOWED.items()) if mod == "builtins"})
for _core in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_core}.multiarray", "_reconstruct")] = _reconstruct
    _ALLOWED[(f"{_core}.multiarray", "scalar")] = _scalar
    _ALLOWED[(f"{_core}.numeric", "_frombuffer")] = _frombuffer


class SafeUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only the allow-listed names (see the module doc)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused to load {module}.{name}: the file asks to run or build something other than "
                "numpy arrays and plain containers, so it is not loaded (it may be malicious)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("the pickle refers to external objects (persistent ids); refused")


def safe_loads(data: bytes) -> Any:
    """Unpickle ``data`` with ``SafeUnpickler``."""
    return SafeUnpickler(io.BytesIO(data)).load()


def safe_load(path: str | os.PathLike) -> Any:
    """Unpickle the file at ``path`` with ``SafeUnpickler``.

    Raises:
      UnsafePickleError: the file names a callable outside the allow-list.
      pickle.UnpicklingError, EOFError, ...: the file is not a valid pickle.
    """
    with open(path, "rb") as f:
        return SafeUnpickler(f).load()
