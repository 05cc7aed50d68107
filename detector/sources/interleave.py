"""Read the files of a run as one sequence of batches in event-time order, with a watermark.

Correlation across sources (a web scan, then an SSH login from the same address) needs the
events of both files side by side in event time. Reading a backlog file by file would hand
over all of one file's days before the other's first line. So each stream (a log and its
rotated generations, oldest first) has a *position*: the event time of its next unread line
(peeked before its first batch, then the newest event read from it), and the next batch
always comes from the stream furthest behind. With each batch goes the *watermark*: the
lowest position of every stream still being read, this one included. No unread line of this
run is older than it (but for late lines, within the checklist's lateness), which is what lets
correlation fire windows exactly and prune pools safely (`detection/correlate.py`).

Positions are event times in microseconds; a stream whose next time is unknown (unknown
format, no timestamps) sorts first and holds the watermark back until it is read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from detector.sources.handover import handed_over

UNKNOWN = -(1 << 62)

B = TypeVar("B")


@dataclass(frozen=True)
class Step(Generic[B]):
    """One batch of file `index` (or, with `batch` None, the end of that file)."""

    index: int
    batch: B | None
    watermark: int | None = None


class Interleave(Generic[B]):
    """Batches of many files, the stream furthest behind in event time first.

    `open_file(index)` iterates the batches of file `index`; `peek(index)` is the event time
    of its first unread line (None: unknown); `newest(batch)` the newest event time of a batch
    (None: no timestamp). `streams[index]` names the stream of file `index`: files of one stream
    are read one after the other, in the order given."""

    def __init__(
        self,
        streams: list[str],
        open_file: Callable[[int], Iterator[B]],
        peek: Callable[[int], int | None],
        newest: Callable[[B], int | None],
    ) -> None:
        self.queues: dict[str, deque[int]] = {}
        for index, stream in enumerate(streams):
            self.queues.setdefault(stream, deque()).append(index)
        self.rank = {stream: rank for rank, stream in enumerate(self.queues)}
        self.open_file = open_file
        self.peek = peek
        self.newest = newest
        self.reading: dict[int, Iterator[B]] = {}

    def __iter__(self) -> Iterator[Step[B]]:
        position = {stream: self._peek(queue[0]) for stream, queue in self.queues.items()}
        while position:
            stream = min(position, key=lambda s: (position[s], self.rank[s]))
            queue = self.queues[stream]
            index = queue[0]
            if index not in self.reading:
                self.reading[index] = self.open_file(index)
            batch = next(self.reading[index], None)
            if batch is None:
                del self.reading[index]
                queue.popleft()
                if queue:
                    position[stream] = max(position[stream], self._peek(queue[0]))
                else:
                    del position[stream]
                yield Step(index, None)
                continue
            newest = self.newest(batch)
            if newest is not None:
                position[stream] = max(position[stream], newest)
            step = [Step(index, batch, min(position.values()))]
            del batch  # not held while suspended: see `handed_over`
            yield handed_over(step)

    def _peek(self, index: int) -> int:
        value = self.peek(index)
        return UNKNOWN if value is None else value

    def close(self) -> None:
        """Close the files still open (a run stopped between batches)."""
        for iterator in self.reading.values():
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        self.reading.clear()
