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

Memory is bounded too, because a few bytes of pickle can ask for gigabytes:

* ``bytearray(n)`` with a number (an empty buffer of the file's choosing) is refused;
  every array's bytes must be in the file.
* Before loading, ``scan_pickle`` walks the opcodes without building anything: at most
  ``MAX_PICKLE_OPS`` of them (each can build a Python object), and no length a string,
  bytes or frame declares may exceed what is left of the file.
* While loading, the bytes the allowed constructors copy (``bytearray``, arrays from
  read-only buffers, protocol-2 ``bytes``) are counted against one budget: twice the
  file's size plus 16 MB (each stored datum is copied at most once by a real pickle),
  and never more than ``Limits.max_array_bytes``. A file that names the same 1 MB of
  bytes three thousand times is refused instead of holding 3 GB.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
from functools import partial
from typing import Any

import numpy as np

from studio.limits import Limits, format_size, setting

MAX_PICKLE_OPS = 1_000_000
"""Opcodes a pickle may have; TAP-Vid files have a few thousand (arrays are single opcodes)."""


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names something outside the allow-list; nothing from it ran."""


class _Budget:
    """Bytes the allowed constructors may still copy while one pickle loads."""

    def __init__(self, limit: int):
        self.limit = self.left = int(limit)

    def spend(self, nbytes: int, what: str) -> None:
        self.left -= int(nbytes)
        if self.left < 0:
            raise UnsafePickleError(
                f"the pickle copies more than {format_size(self.limit)} of {what} while loading, more than its own "
                f"data can fill (at most twice its size, and {setting('max_array_bytes')}); refused"
            )


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


def _frombuffer(budget: _Budget, buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    # Pickle protocol 5 stores an array as _frombuffer(raw bytes, dtype, shape, order).
    dtype = _check_dtype(dtype)
    if order not in ("C", "F"):
        raise UnsafePickleError(f"unexpected array order {order!r} in the pickle")
    if not isinstance(buf, (bytes, bytearray)):
        raise UnsafePickleError(f"array data in the pickle must be bytes, got {type(buf).__name__}")
    arr = np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)
    if arr.flags.writeable:
        return arr
    budget.spend(arr.nbytes, "arrays")  # the copy is new memory, however often the file names the same bytes
    return arr.copy()


def _scalar(dtype: Any, data: Any = None) -> Any:
    dtype = _check_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise UnsafePickleError(f"malformed numpy {dtype} scalar in the pickle")
    return np.frombuffer(data, dtype=dtype)[0]


def _dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(spec, str):
        raise UnsafePickleError(f"dtype spec must be a string in the pickle, got {type(spec).__name__}")
    return _check_dtype(np.dtype(spec, align=bool(align), copy=bool(copy)))


def _latin1_encode(budget: _Budget, text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("only latin1 encoding of text to bytes is allowed in the pickle")
    budget.spend(len(text), "bytes")
    return text.encode("latin1")


def _bytearray(budget: _Budget, source: Any = b"", encoding: Any = None) -> bytearray:
    # Protocols 0-4 write bytearray(bytes) or bytearray(text, "latin-1"); bytearray(n) would
    # allocate n zero bytes of the file's choosing, so only data the file holds is accepted.
    if isinstance(source, str) and encoding in ("latin1", "latin-1"):
        budget.spend(len(source), "bytes")
        return bytearray(source, "latin-1")
    if isinstance(source, (bytes, bytearray)) and encoding is None:
        budget.spend(len(source), "bytes")
        return bytearray(source)
    if isinstance(source, int):
        raise UnsafePickleError(
            f"the pickle asks for an empty buffer of {source} bytes (bytearray(n)); only data stored in the "
            "file is accepted, so it is refused"
        )
    raise UnsafePickleError(f"bytearray from {type(source).__name__} is not allowed in the pickle")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): _bytearray,
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


_BUDGETED = (_frombuffer, _latin1_encode, _bytearray)
"""Allowed constructors that copy bytes: each is handed the load's ``_Budget``."""


class SafeUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only the allow-listed names (see the module doc).

    Args:
      file: a binary file.
      max_bytes: bytes the allowed constructors may copy in all (default ``Limits.max_array_bytes``).
    """

    def __init__(self, file: Any, max_bytes: int | None = None):
        super().__init__(file)
        self._budget = _Budget(Limits.from_env().max_array_bytes if max_bytes is None else max_bytes)

    def find_class(self, module: str, name: str) -> Any:
        try:
            found = _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused to load {module}.{name}: the file asks to run or build something other than "
                "numpy arrays and plain containers, so it is not loaded (it may be malicious)"
            ) from None
        return partial(found, self._budget) if found in _BUDGETED else found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("the pickle refers to external objects (persistent ids); refused")


class _ScanReader:
    """A file for ``pickletools.genops`` that refuses any read longer than what is left of the file."""

    def __init__(self, f: Any, size: int):
        self._f, self._size = f, size

    def read(self, n: int = -1) -> bytes:
        left = self._size - self._f.tell()
        if n is None or n < 0:
            n = left
        if n > left and n > 64:  # short fixed-size fields at the end are a truncated file, genops says so
            raise UnsafePickleError(
                f"the pickle declares {n} bytes where only {max(left, 0)} are left in the file; refused"
            )
        return self._f.read(n)

    def readline(self) -> bytes:
        return self._f.readline()

    def tell(self) -> int:
        return self._f.tell()


def scan_pickle(f: Any, max_ops: int | None = None) -> int:
    """Walk a pickle's opcodes without building anything; returns how many there are.

    Checks what ``pickle.load`` would trust: no more than ``max_ops`` opcodes (default
    ``MAX_PICKLE_OPS``), and no string, bytes or frame longer than the rest of the file.
    ``f`` is left where it was.

    Raises:
      UnsafePickleError: too many opcodes or a length past the end of the file.
      ValueError: not a pickle (an unknown opcode, a truncated stream).
    """
    max_ops = MAX_PICKLE_OPS if max_ops is None else max_ops
    start = f.tell()
    size = f.seek(0, os.SEEK_END)
    f.seek(start)
    reader = _ScanReader(f, size)
    count = 0
    try:
        for op, arg, _ in pickletools.genops(reader):
            count += 1
            if count > max_ops:
                raise UnsafePickleError(
                    f"the pickle has more than {max_ops} opcodes, each of which can build an object; "
                    "TAP-Vid files have a few thousand, so it is refused"
                )
            if op.name == "FRAME" and int(arg) > size - f.tell():
                raise UnsafePickleError(f"the pickle declares a {arg}-byte frame past the end of the file; refused")
            if op.name == "STOP":
                break
    finally:
        f.seek(start)
    return count


def copy_budget(size: int, limits: Limits | None = None) -> int:
    """Bytes a pickle of ``size`` bytes may copy while loading (see the module doc)."""
    limits = limits or Limits.from_env()
    return min(limits.max_array_bytes, 2 * size + 16 * 1024**2)


def safe_loads(data: bytes, max_bytes: int | None = None) -> Any:
    """Unpickle ``data`` with ``scan_pickle`` then ``SafeUnpickler`` (copies within ``max_bytes``,
    default ``copy_budget``)."""
    f = io.BytesIO(data)
    scan_pickle(f)
    return SafeUnpickler(f, copy_budget(len(data)) if max_bytes is None else max_bytes).load()


def safe_load(path: str | os.PathLike, limits: Limits | None = None) -> Any:
    """Unpickle the file at ``path`` with ``scan_pickle`` then ``SafeUnpickler``.

    Args:
      limits: ``max_array_bytes`` caps what the load may copy (``copy_budget``; default: from the environment).

    Raises:
      UnsafePickleError: the file names a callable outside the allow-list, or would
        build more than the limits allow.
      pickle.UnpicklingError, EOFError, ValueError, ...: the file is not a valid pickle.
    """
    with open(path, "rb") as f:
        scan_pickle(f)
        return SafeUnpickler(f, copy_budget(os.fstat(f.fileno()).st_size, limits)).load()
