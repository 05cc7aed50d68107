"""Run an iterator one step ahead in a worker thread.

The pipeline reads and parses batch N+1 while batch N is matched, correlated and committed.
Reading and pyarrow's compute kernels release the GIL, so on two cores the stages overlap.
Only the producer runs in the worker; everything touching the state database stays in the
caller's thread, so commit order and crash consistency are unchanged. Memory stays bounded:
at most `depth` items wait in the queue.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class Prefetch(Generic[T]):
    """Iterate `source` in a worker thread; exceptions surface in the consumer, in order."""

    def __init__(self, source: Iterator[T], depth: int = 1) -> None:
        self._source = source
        self._queue: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="logwarden-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: tuple[object, BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._source:
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((_DONE, exc))
            return
        self._put((_DONE, None))

    def __iter__(self) -> "Prefetch[T]":
        return self

    def __next__(self) -> T:
        item, error = self._queue.get()
        if error is not None:
            raise error
        if item is _DONE:
            self._stop.set()
            raise StopIteration
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the worker (it may be blocked handing over an item) and wait for it."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)

    def __enter__(self) -> "Prefetch[T]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
