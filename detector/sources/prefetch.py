"""Run an iterator one step ahead in a worker thread.

The pipeline reads and parses batch N+1 while batch N is matched, correlated and committed.
Reading and pyarrow's compute kernels release the GIL, so on two cores the stages overlap.
Only the producer runs in the worker; everything touching the state database stays in the
caller's thread, so commit order and crash consistency are unchanged. Memory stays bounded:
at most `depth` items wait in the queue.

A second stage (`finish`, rule matching in the pipeline) runs on whichever thread is free:
the worker does it while the consumer is busy; once the consumer waits for items, the worker
hands them over unfinished and the consumer finishes them itself. So neither thread idles
whether parsing (an access log) or correlation (a busy auth log) is the slower stage.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class Prefetch(Generic[T]):
    """Iterate `source` in a worker thread; exceptions surface in the consumer, in order.

    The worker starts on an item only when a slot is free, so at most `depth` items exist
    besides the one the consumer holds (two batches in memory at depth 1)."""

    def __init__(
        self,
        source: Iterator[T],
        depth: int = 1,
        on_close: Callable[[], None] | None = None,
        finish: Callable[[T], T] | None = None,
    ) -> None:
        self._source = source
        self._on_close = on_close  # runs in the caller's thread once the worker has stopped
        self._finish = finish
        self._waiting = threading.Event()  # the consumer is blocked on the queue
        # (item, error, whether `finish` is still to be applied)
        self._queue: queue.SimpleQueue[tuple[object, BaseException | None, bool]] = queue.SimpleQueue()
        self._slots = threading.Semaphore(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="logwarden-prefetch", daemon=True)
        self._thread.start()

    def _wait_for_slot(self) -> bool:
        while not self._stop.is_set():
            if self._slots.acquire(timeout=0.1):
                return True
        return False

    def _produce(self) -> None:
        try:
            while self._wait_for_slot():
                try:
                    item = next(self._source)
                except StopIteration:
                    self._queue.put((_DONE, None, False))
                    return
                unfinished = self._finish is not None
                if unfinished and not self._waiting.is_set():
                    item = self._finish(item)  # type: ignore[misc]
                    unfinished = False
                self._queue.put((item, None, unfinished))
                del item  # the consumer's now: not kept alive while the next one is made
        except BaseException as exc:  # handed to the consumer, raised there
            self._queue.put((_DONE, exc, False))

    def __iter__(self) -> "Prefetch[T]":
        return self

    def __next__(self) -> T:
        try:
            item, error, unfinished = self._queue.get_nowait()
        except queue.Empty:
            self._waiting.set()
            item, error, unfinished = self._queue.get()
            self._waiting.clear()
        if error is not None:
            raise error
        if item is _DONE:
            self._stop.set()
            raise StopIteration
        self._slots.release()
        if unfinished:
            item = self._finish(item)  # type: ignore[misc]
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the worker (it may be waiting for a slot) and wait for it."""
        self._stop.set()
        self._thread.join()
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> "Prefetch[T]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
