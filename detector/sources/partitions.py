"""Split the new bytes of a run into partitions that other machines read on their own.

One partition per file; a large plain file is split into byte ranges that start and end at
line boundaries, so every line belongs to exactly one partition; a compressed file is one
partition (a compressed stream cannot be entered in the middle). Partitions are read with
fsspec, so a worker reads a path of a shared file system or an object-store URL the same way.

The ranges reproduce the local engine's batches exactly, not just its lines: `LineReader` reads
a file in chunks from its checkpoint offset, and each batch ends at the last newline before a
chunk boundary (offset + k * chunk). Partitions are cut on that grid. A partition starting at
grid point `s` begins at the start of the line that holds byte s-1, and reads its first chunk
up to s + chunk, as the local reader does with the partial line it carries over, so its batches
end where the local ones end. Correlation should not care where batches end, but a reader that
cuts exactly like the local one makes "the same findings" hold by construction. A grid point
inside a line longer than `max_line` (which the local reader skips in a mode of its own) is not
used: the cut moves on to the next grid point. Both neighbours compute the same cut from the
file's bytes, so they agree without talking to each other.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import BinaryIO

import fsspec

from detector.sources.checkpoints import Assignment
from detector.sources.reader import TAIL_BYTES, Batch, LineReader

DEFAULT_PARTITION_BYTES = 64 << 20
_SCAN_BLOCK = 64 << 10
_DECOMPRESSORS = {
    "gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    "bz2": lambda raw: bz2.BZ2File(raw, "rb"),
    "xz": lambda raw: lzma.LZMAFile(raw, "rb"),
}


@dataclass(frozen=True)
class Partition:
    """The lines of one file between two cuts on its read grid (`end` None: to the end of the
    file as it is when read). `first` is the checkpoint offset the file is read from."""

    file_index: int
    part: int  # 0-based, in file order
    parts: int  # how many partitions the file has
    url: str  # a local path or an fsspec URL
    compression: str | None
    first: int
    start: int  # a grid point: first + k * chunk_size
    end: int | None  # the next partition's grid point
    tail: bytes = b""  # the bytes before `first` (verified by the planner)


def partitions(
    index: int, assignment: Assignment, chunk_size: int, target_bytes: int = DEFAULT_PARTITION_BYTES
) -> list[Partition]:
    """The partitions of one planned read (`index`: its position in the run's reads), each a
    whole number of `chunk_size` read chunks (at least one), about `target_bytes` long."""
    file, offset = assignment.file, assignment.record.offset
    url, size, tail = str(file.path), assignment.identity.size, assignment.tail
    if file.compression is not None or size is None or size - offset <= target_bytes:
        return [Partition(index, 0, 1, url, file.compression, offset, offset, None, tail)]
    chunks = -(-(size - offset) // chunk_size)
    count = -(-(size - offset) // max(target_bytes, chunk_size))
    cuts = [offset + (chunks * k // count) * chunk_size for k in range(count)]
    ends: list[int | None] = [*cuts[1:], None]  # the last one reads on to the end, as locally
    return [Partition(index, k, count, url, None, offset, cut, end, tail) for k, (cut, end) in enumerate(zip(cuts, ends))]


@dataclass
class PartitionEnd:
    """What the reader saw at the end of its range: for the file's checkpoint record."""

    size_now: int | None = None  # the file's size (compressed: the content read so far)
    stat_size: int | None = None
    stat_mtime: float | None = None


class PartitionReader:
    """Iterate (batch, tail hash) over one partition: the very batches the local engine's
    `LineReader` makes of that part of the file. Raises OSError when the URL cannot be opened;
    errors while reading (a truncated archive) propagate from the iteration as they do locally."""

    def __init__(self, partition: Partition, chunk_size: int, max_line: int) -> None:
        self.partition = partition
        self.chunk_size = chunk_size
        self.max_line = max_line
        self.end = PartitionEnd()
        self._lines: LineReader | None = None
        self._stack = ExitStack()
        self.fs, self.path = fsspec.core.url_to_fs(partition.url)
        raw = self._stack.enter_context(self.fs.open(self.path, "rb"))
        opener = _DECOMPRESSORS.get(partition.compression or "")
        self.handle: BinaryIO = self._stack.enter_context(opener(raw)) if opener else raw

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "PartitionReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[Batch, str]]:
        p = self.partition
        start, grid, tail = p.first, p.start, p.tail
        if p.start > p.first:
            start, grid = self._cut(p.start)
            tail = _bytes_before(self.handle, start)
        limit = None if p.end is None else self._cut(p.end)[0]
        if limit is not None and limit <= start:
            return  # the cut moved past this partition's range (an over-long line at every grid point)
        handle = _FirstReadFrom(self.handle, start, grid)
        reader = self._lines = LineReader(
            handle, start, chunk_size=self.chunk_size, max_line=self.max_line, limit=limit, tail=tail,
            final=p.compression is not None,
        )
        for batch in reader:
            yield batch, reader.tail_hash()
        if p.end is None:
            self.finish()

    def _cut(self, grid: int) -> tuple[int, int]:
        """(line start, grid point) of the cut at grid point `grid` or, when the line there is
        one the local reader skips as over-long, at the first later grid point where it is not."""
        while True:
            line_start = _line_start_before(self.handle, grid, self.partition.first)
            if grid - line_start <= self.max_line:
                return line_start, grid
            self.handle.seek(grid)
            if not self.handle.read(1):
                return grid, grid  # the end of the file
            grid += self.chunk_size

    def finish(self) -> None:
        """Note the file's size and time as they are now (the file's last partition, or one
        that stopped at a read error): what its checkpoint record keeps."""
        reader = self._lines
        if reader is None:
            return
        try:
            info = self.fs.info(self.path)
        except OSError:
            return
        size = info.get("size")
        mtime = info.get("mtime", info.get("LastModified"))
        mtime = mtime.timestamp() if hasattr(mtime, "timestamp") else mtime
        plain = self.partition.compression is None
        self.end = PartitionEnd(
            size_now=size if plain else reader.offset + reader.pending_bytes,
            stat_size=size,
            stat_mtime=float(mtime) if mtime is not None else None,
        )


class _FirstReadFrom:
    """A handle whose first read, from `start`, goes on to `grid` + the chunk asked for: the
    partial line before the grid point is what the local reader carries into that read. (With a
    limit, the read may pass it, but never the next grid point, and no newline lies between the
    two: the reader keeps those bytes as a partial line and stops.)"""

    def __init__(self, handle: BinaryIO, start: int, grid: int) -> None:
        self.handle = handle
        self.extra = grid - start

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.handle.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        if self.extra and size > 0:
            size, self.extra = size + self.extra, 0
        return self.handle.read(size)


def _line_start_before(handle: BinaryIO, position: int, floor: int) -> int:
    """Just past the last newline before `position` (not before `floor`, a line start)."""
    end = position
    while end > floor:
        begin = max(floor, end - _SCAN_BLOCK)
        handle.seek(begin)
        found = handle.read(end - begin).rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        end = begin
    return floor


def _bytes_before(handle: BinaryIO, offset: int) -> bytes:
    begin = max(0, offset - TAIL_BYTES)
    handle.seek(begin)
    return handle.read(offset - begin)
