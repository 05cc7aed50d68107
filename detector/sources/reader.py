"""Read complete new lines from a byte offset, in bounded chunks, as Arrow string arrays.

Lines are split with numpy on the raw buffer (no per-line Python). A partial last line is
held back until its newline arrives. Lines longer than `max_line` are skipped without ever
being held in memory whole; NUL runs, invalid UTF-8 and CRLF are handled here so parsers see
clean text. Memory is bounded by the chunk size, not the file size.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from detector.sources.handover import handed_over

FINGERPRINT_BYTES = 1024
TAIL_BYTES = 256
DEFAULT_CHUNK = 4 << 20  # two batches in flight (read-ahead) stay well under the 400 MB RSS target
DEFAULT_MAX_LINE = 64 << 10
SAMPLE_BYTES = 300

_OPENERS = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}
# What reading a log can raise: I/O errors, and a truncated or corrupt archive (zlib and lzma
# have error types of their own; bz2 raises OSError).
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, lzma.LZMAError)


def open_log(path: Path, compression: str | None) -> BinaryIO:
    """Open a log for binary reading, transparently decompressing rotated archives."""
    if compression:
        return _OPENERS[compression](path, "rb")  # type: ignore[return-value]
    return open(path, "rb")  # noqa: SIM115 - caller closes


#: How long after its last change a compressed file without a complete head may still be being
#: written (logrotate's compression of a large generation takes seconds).
ARCHIVE_SETTLE_SECONDS = 60.0


@dataclass(frozen=True)
class Identity:
    """What identifies a file across renames: device+inode, and a hash of its first bytes."""

    dev: int
    inode: int
    size: int | None  # None for compressed files (size of the content unknown until read)
    mtime: float
    head: bytes  # first FINGERPRINT_BYTES of the (decompressed) content
    complete: bool = True  # False: an archive still being written, to be taken up later

    def fingerprint(self, length: int | None = None) -> str:
        data = self.head if length is None else self.head[:length]
        return hashlib.sha256(data).hexdigest()


def identify(path: Path, compression: str | None) -> Identity:
    """Stat the file and read its head; raises OSError when unreadable.

    A compressed file changed within ARCHIVE_SETTLE_SECONDS that is empty or ends before its
    end-of-stream marker is an archive logrotate is still writing (`complete=False`): taken up
    now it would get an identity no record knows (an empty head), and its content would be read
    a second time once complete. An older truncated archive raises, to be read and reported."""
    st = os.stat(path)
    settling = compression is not None and time.time() - st.st_mtime <= ARCHIVE_SETTLE_SECONDS
    if settling and st.st_size == 0:
        return Identity(dev=st.st_dev, inode=st.st_ino, size=None, mtime=st.st_mtime, head=b"", complete=False)
    with open_log(path, compression) as handle:
        try:
            head = handle.read(FINGERPRINT_BYTES)
            if compression and len(head) < FINGERPRINT_BYTES:
                while handle.read(1 << 16):  # a short archive must reach its end-of-stream marker
                    pass
        except EOFError:  # no end-of-stream marker yet (a corrupt archive raises another error)
            if not settling:
                raise
            return Identity(dev=st.st_dev, inode=st.st_ino, size=None, mtime=st.st_mtime, head=b"", complete=False)
    return Identity(
        dev=st.st_dev,
        inode=st.st_ino,
        size=None if compression else st.st_size,
        mtime=st.st_mtime,
        head=head,
    )


def bytes_before(handle: BinaryIO, offset: int) -> bytes | None:
    """The TAIL_BYTES in front of `offset`, or None when the file is shorter than `offset`.

    Their hash, stored with the checkpoint, proves on resume that the bytes we read are still
    the bytes in front of the offset (detects rewrite and truncation-then-refill)."""
    start = max(0, offset - TAIL_BYTES)
    handle.seek(start)
    data = handle.read(offset - start)
    return data if len(data) == offset - start else None


@dataclass
class Rejected:
    """Lines of a batch that never reach a parser, by reason, with a few samples."""

    counts: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[int, str, bytes]] = field(default_factory=list)  # (offset, reason, bytes)
    max_samples: int = 5

    def add(self, reason: str, count: int, examples: list[tuple[int, bytes]]) -> None:
        if count <= 0:
            return
        self.counts[reason] = self.counts.get(reason, 0) + count
        room = self.max_samples - sum(1 for s in self.samples if s[1] == reason)
        for offset, raw in examples[: max(room, 0)]:
            self.samples.append((offset, reason, raw[:SAMPLE_BYTES]))


@dataclass
class Batch:
    """Complete lines read from one file: text, absolute byte offsets, and the end offset
    to checkpoint once everything produced from these lines is committed."""

    lines: pa.Array  # large_string, clean UTF-8, no newline/CR
    offsets: np.ndarray  # int64 absolute byte offset of each line
    line_index: np.ndarray  # int64 position of each kept line among the batch's lines (0-based)
    start_offset: int
    end_offset: int
    lines_total: int  # every line consumed, including rejected and blank ones
    blank: int
    repaired: dict[str, int]
    rejected: Rejected


class LineReader:
    """Iterate batches of complete lines from `offset` to the end of the file as it is now."""

    def __init__(
        self,
        handle: BinaryIO,
        offset: int,
        chunk_size: int = DEFAULT_CHUNK,
        max_line: int = DEFAULT_MAX_LINE,
        limit: int | None = None,
        tail: bytes = b"",
        final: bool = False,
    ) -> None:
        self.handle = handle
        self.tail = tail[-TAIL_BYTES:]  # the last bytes consumed, for the resume check
        self.offset = offset  # first byte not yet consumed
        self.chunk_size = chunk_size
        self.max_line = max_line
        self.limit = limit  # stop at this absolute offset (size at identify time) if given
        self._skipping_from: int | None = None  # start offset of an over-long line being skipped
        self.final = final  # the file will not grow (an archive): a last line without newline counts
        self.pending_bytes = 0  # bytes of a partial last line held back at the end

    def __iter__(self) -> Iterator[Batch]:
        self.handle.seek(self.offset)
        pending = b""
        while True:
            if self._skipping_from is None and b"\n" in pending:
                data = b""  # complete lines left behind an over-long one: split them first
            else:
                want = self.chunk_size
                if self.limit is not None:
                    want = min(want, self.limit - self.offset - len(pending))
                data = self.handle.read(want) if want > 0 else b""
            if not data and not (self._skipping_from is None and b"\n" in pending):
                if self.final and self._skipping_from is not None:
                    yield self._long_line_batch(self._skipping_from, self.offset)
                    self._skipping_from = None
                elif self.final and pending:
                    base = self.offset
                    self.offset = base + len(pending)
                    self._consumed(pending)
                    batch = self._split(pending + b"\n", base)
                    batch.end_offset = self.offset
                    pending = b""
                    yield batch
                break
            buf = pending + data
            base = self.offset
            if self._skipping_from is not None:
                newline = buf.find(b"\n")
                if newline < 0:
                    self.offset = base + len(buf)  # still inside the over-long line
                    self._consumed(buf)
                    pending = b""
                    continue
                self._consumed(buf[: newline + 1])
                batch = self._long_line_batch(self._skipping_from, base + newline + 1)
                self._skipping_from = None
                self.offset = base + newline + 1
                pending = buf[newline + 1 :]
                yield batch
                continue
            last_nl = buf.rfind(b"\n")
            if last_nl < 0:
                if len(buf) > self.max_line:  # an over-long line: skip it, never hold it whole
                    self._skipping_from = base
                    self.offset = base + len(buf)
                    self._long_sample = buf[:SAMPLE_BYTES]
                    self._consumed(buf)
                    pending = b""
                else:
                    pending = buf
                continue
            complete, pending = buf[: last_nl + 1], buf[last_nl + 1 :]
            self.offset = base + last_nl + 1
            self._consumed(complete)
            self.pending_bytes = len(pending)
            out = [self._split(complete, base)]
            del data, buf, complete  # three copies of the chunk, not held while suspended
            yield handed_over(out)
        self.pending_bytes = len(pending)

    def _consumed(self, data: bytes) -> None:
        self.tail = (self.tail + data[-TAIL_BYTES:])[-TAIL_BYTES:]

    def tail_hash(self) -> str:
        """Hash of the bytes just before `offset` (see `tail_hash`)."""
        return hashlib.sha256(self.tail).hexdigest()

    def _long_line_batch(self, start: int, end: int) -> Batch:
        rejected = Rejected()
        rejected.add("too-long", 1, [(start, getattr(self, "_long_sample", b""))])
        return Batch(
            lines=pa.array([], pa.large_string()),
            offsets=np.empty(0, np.int64),
            line_index=np.empty(0, np.int64),
            start_offset=start,
            end_offset=end,
            lines_total=1,
            blank=0,
            repaired={},
            rejected=rejected,
        )

    def _split(self, complete: bytes, base: int) -> Batch:
        raw = np.frombuffer(complete, dtype=np.uint8)
        ends = np.flatnonzero(raw == 10)  # newline positions; complete ends with one
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        rejected = Rejected()
        repaired: dict[str, int] = {}

        # Bytes that never reach a parser: newlines, the CR of CRLF, and NULs. Compact them
        # away in one numpy pass and shift every line start by what was removed before it.
        removed = raw == 10
        is_cr_line = (ends > starts) & (raw[np.maximum(ends - 1, 0)] == 13)
        removed[ends[is_cr_line] - 1] = True
        nul = raw == 0
        has_nul = bool(nul.any())
        # Removed bytes before each line start: one newline per earlier line, the earlier CRs,
        # and (rarely) NULs; counted per line, not per byte, on the fast path.
        line_no = np.arange(len(ends), dtype=np.int64)
        cr_before = np.concatenate(([0], np.cumsum(is_cr_line[:-1], dtype=np.int64)))
        removed_before_start = line_no + cr_before
        removed_through_end = line_no + 1 + np.cumsum(is_cr_line, dtype=np.int64)
        if has_nul:
            removed |= nul
            nul_cum = np.cumsum(nul, dtype=np.int64)
            removed_before_start = removed_before_start + nul_cum[starts] - nul[starts]
            removed_through_end = removed_through_end + nul_cum[ends]
        new_starts = starts - removed_before_start
        new_ends = ends + 1 - removed_through_end
        lengths = new_ends - new_starts
        kept_bytes = raw[~removed]
        offsets = np.empty(len(ends) + 1, dtype=np.int64)
        offsets[:-1] = new_starts
        offsets[-1] = new_ends[-1]
        line_offsets = starts.astype(np.int64) + base
        keep = lengths > 0
        blank = int((~keep).sum())
        if has_nul:
            nuls_in_line = nul_cum[ends] - nul_cum[starts] + nul[starts]
            nul_only = (~keep) & (nuls_in_line > 0)
            if nul_only.any():
                idx = np.flatnonzero(nul_only)
                rejected.add("nul-run", len(idx), [(int(line_offsets[i]), b"\x00" * 16) for i in idx[:5]])
                blank -= len(idx)
            partly = keep & (nuls_in_line > 0)
            if partly.any():
                repaired["nul-bytes"] = int(partly.sum())
        too_long = lengths > self.max_line
        if too_long.any():
            idx = np.flatnonzero(too_long)
            rejected.add(
                "too-long",
                len(idx),
                [(int(line_offsets[i]), complete[starts[i] : starts[i] + SAMPLE_BYTES]) for i in idx[:5]],
            )
            keep &= ~too_long
        text = pa.LargeStringArray.from_buffers(
            len(ends), pa.py_buffer(offsets), pa.py_buffer(kept_bytes)
        )
        try:
            text.validate(full=True)
        except pa.ArrowInvalid:
            text, bad = _repair_utf8(text)
            repaired["invalid-utf8"] = bad
        line_index = np.arange(len(ends), dtype=np.int64)
        if not keep.all():
            text = text.filter(pa.array(keep))
            line_offsets = line_offsets[keep]
            line_index = line_index[keep]
        return Batch(
            lines=text,
            offsets=line_offsets,
            line_index=line_index,
            start_offset=base,
            end_offset=base + len(complete),
            lines_total=len(ends),
            blank=blank,
            repaired=repaired,
            rejected=rejected,
        )


def _repair_utf8(text: pa.Array) -> tuple[pa.Array, int]:
    """Rare error path: replace invalid UTF-8 with U+FFFD line by line; count the lines."""
    raw = text.view(pa.large_binary()).to_pylist()
    decoded: list[str] = []
    bad = 0
    for value in raw:
        try:
            decoded.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            decoded.append(value.decode("utf-8", errors="replace"))
            bad += 1
    return pa.array(decoded, pa.large_string()), bad
