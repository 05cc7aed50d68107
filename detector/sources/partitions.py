"""Split the new bytes of a run into partitions that other machines read on their own.

One partition per file; a large plain file is split into byte ranges that start and end at
line boundaries, so every line belongs to exactly one partition; a compressed file is one
partition (a gzip stream cannot be entered in the middle). Partitions are read with fsspec, so
a worker reads a path of a shared file system or an object-store URL (`file://`, `s3://`) the
same way. Cut points are nominal byte positions chosen by the client without reading; each
reader moves its own start and end to the next line start itself, so neighbours agree
without talking to each other.
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
    """Lines of one file whose start offset lies in [start, end) (end None: to the end of the
    file as it is when read). `start` of the first partition is the checkpoint offset, a line
    start already; the others are nominal and moved to the next line start by the reader."""

    file_index: int
    part: int  # 0-based, in file order
    parts: int  # how many partitions the file has
    url: str  # a local path or an fsspec URL
    compression: str | None
    start: int
    end: int | None
    tail: bytes = b""  # the bytes before `start` (first partition: verified by the planner)

    @property
    def nominal_bytes(self) -> int | None:
        return None if self.end is None else self.end - self.start


def partitions(index: int, assignment: Assignment, target_bytes: int = DEFAULT_PARTITION_BYTES) -> list[Partition]:
    """The partitions of one planned read (`index`: its position in the run's reads)."""
    file, offset = assignment.file, assignment.record.offset
    url = str(file.path)
    size = assignment.identity.size
    if file.compression is not None or size is None or size - offset <= target_bytes:
        return [Partition(index, 0, 1, url, file.compression, offset, None, assignment.tail)]
    count = -(-(size - offset) // target_bytes)
    cuts = [offset + (size - offset) * k // count for k in range(count)]
    # the last one reads on to the end of the file, as the local engine does
    ends: list[int | None] = [*cuts[1:], None]
    return [
        Partition(index, k, count, url, None, cut, end, assignment.tail if k == 0 else b"")
        for k, (cut, end) in enumerate(zip(cuts, ends))
    ]


@dataclass
class PartitionEnd:
    """What the reader saw at the end of its range: for the file's checkpoint record."""

    size_now: int | None = None  # the file's size (compressed: the content read so far)
    stat_size: int | None = None
    stat_mtime: float | None = None


class PartitionReader:
    """Iterate (batch, tail hash) over one partition's complete lines, like the local engine's
    `LineReader` over the whole file. Raises OSError when the URL cannot be opened; errors
    while reading (a truncated archive) propagate from the iteration as they do locally."""

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
        start, tail = p.start, p.tail
        if p.part > 0:
            start = _next_line_start(self.handle, p.start)
            tail = _bytes_before(self.handle, start)
        limit = None if p.end is None else _next_line_start(self.handle, p.end)
        reader = self._lines = LineReader(
            self.handle, start, chunk_size=self.chunk_size, max_line=self.max_line, limit=limit, tail=tail,
            final=p.compression is not None,
        )
        for batch in reader:
            yield batch, reader.tail_hash()
        if p.end is None:
            self.finish()

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


def _next_line_start(handle: BinaryIO, position: int) -> int:
    """The first line start at or after `position`: just past the first newline at or after
    `position - 1` (a line that starts exactly at `position` is found too); the end of the
    file when no newline follows."""
    if position <= 0:
        return 0
    handle.seek(position - 1)
    at = position - 1
    while block := handle.read(_SCAN_BLOCK):
        found = block.find(b"\n")
        if found >= 0:
            return at + found + 1
        at += len(block)
    return at


def _bytes_before(handle: BinaryIO, offset: int) -> bytes:
    begin = max(0, offset - TAIL_BYTES)
    handle.seek(begin)
    return handle.read(offset - begin)
