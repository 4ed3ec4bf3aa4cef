"""``read_ahead``: run an iterator in a background thread, a bounded number of items ahead of its consumer.

Decoding a video (FFmpeg, through PyAV) and tracking it (OpenCV, numpy) both spend most of their
time outside the Python interpreter lock, so a decode thread that keeps a few frames ready lets
a frame-by-frame consumer work while the next frames are decoded: on two cores the wall time
approaches the slower of the two instead of their sum. The queue is bounded, so memory stays
that of ``depth`` items.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_ITEM, _ERROR, _END = range(3)


def read_ahead(items: Iterator[T], depth: int, name: str = "read-ahead") -> Iterator[T]:
    """Yield what ``items`` yields, computed in a background thread at most ``depth`` items ahead.

    An exception raised by ``items`` is raised here, in the consumer, where its item would have
    come. A consumer that stops early (``break``, an exception, ``close()``) stops the thread: it
    finishes the item it is computing, then ``items`` is closed there (so its ``finally`` and
    ``with`` blocks run) before this generator returns.

    Args:
      items: an iterator (typically a generator); it is used only by the background thread.
      depth: how many finished items may wait for the consumer (>= 1).
      name: the thread's name (seen in debuggers and thread dumps).
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message: tuple) -> bool:
        """Hand a message to the consumer; False when the consumer has gone."""
        while not stop.is_set():
            try:
                box.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((_ITEM, item)):
                    return
        except BaseException as e:  # handed to the consumer, which raises it
            put((_ERROR, e))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        put((_END, None))

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            kind, value = box.get()
            if kind == _ITEM:
                yield value
            elif kind == _ERROR:
                raise value
            else:
                return
    finally:
        stop.set()
        worker.join()
