"""Line numbers of evidence, for `path:line_no` output (what grep, editors and `less +N` take).

Why computed on demand: evidence is stored as (file, byte offset); the line number is found by
counting newlines in front of the offset, in bounded chunks (C speed, memory bounded), once per
file for all of its offsets. The content is looked up where it lives now (a rotated file moved to
`access.log.1` or `.1.gz` is followed through its checkpoint record), and the line found at the
offset must still start like the evidence: a file rewritten since gives no number, never a wrong one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from detector.model import Evidence
from detector.sources.discovery import split_rotation
from detector.sources.reader import READ_ERRORS, open_log
from detector.state.store import Store

CHUNK = 1 << 20
_CHECK_CHARS = 48  # how much of the evidence line must match the line at the offset


@dataclass(frozen=True)
class Location:
    """Where an evidence line is now: the file holding it and its 1-based line number (None
    when the file is gone or no longer holds that line at that offset)."""

    path: str
    line_no: int | None

    def text(self, offset: int) -> str:
        """`path:line_no`, or `path (byte offset N)` when the line number is unknown."""
        return f"{self.path}:{self.line_no}" if self.line_no is not None else f"{self.path} (byte offset {offset})"


def _current_file(store: Store | None, evidence: Evidence) -> tuple[Path, str | None]:
    """The path holding this evidence's content now, and its compression."""
    path = evidence.path
    if store is not None and evidence.file_uid:
        row = store.execute("SELECT path FROM files WHERE uid = ?", (evidence.file_uid,)).fetchone()
        if row is not None:
            path = row[0]
    return Path(path), split_rotation(Path(path))[2]


class _Cursor:
    """A forward-only reader that counts the newlines in front of its position."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.base = 0  # file position of buf[0]
        self.buf = b""
        self.newlines = 0  # newlines before `base`

    def advance_to(self, offset: int) -> bool:
        """Move to `offset`; False when the file ends before it."""
        while self.base + len(self.buf) < offset:
            self.newlines += self.buf.count(b"\n")
            self.base += len(self.buf)
            self.buf = self.handle.read(CHUNK)
            if not self.buf:
                return False
        cut = offset - self.base
        self.newlines += self.buf.count(b"\n", 0, cut)
        self.buf = self.buf[cut:]
        self.base = offset
        return True

    def peek(self, size: int) -> bytes:
        if len(self.buf) < size:
            self.buf += self.handle.read(size - len(self.buf))
        return self.buf[:size]


def _starts_like(head: bytes, expected: str) -> bool:
    want = expected[:_CHECK_CHARS]
    return head.decode("utf-8", errors="replace").startswith(want)


def _count(path: Path, compression: str | None, wanted: list[Evidence]) -> dict[int, int | None]:
    """Line number of each evidence offset in one file, in one forward pass."""
    found: dict[int, int | None] = {ev.offset: None for ev in wanted}
    try:
        with open_log(path, compression) as handle:
            cursor = _Cursor(handle)
            for ev in sorted(wanted, key=lambda e: e.offset):
                if not cursor.advance_to(ev.offset):
                    break  # shorter than the offset: truncated or replaced
                if _starts_like(cursor.peek(4 * _CHECK_CHARS), ev.line):
                    found[ev.offset] = cursor.newlines + 1
    except READ_ERRORS:
        pass
    return found


def locate(store: Store | None, evidence: Iterable[Evidence]) -> dict[tuple[str, int], Location]:
    """`(evidence.path, evidence.offset)` -> its Location, reading each file once."""
    by_file: dict[tuple[Path, str | None], list[Evidence]] = {}
    for ev in evidence:
        by_file.setdefault(_current_file(store, ev), []).append(ev)
    out: dict[tuple[str, int], Location] = {}
    for (path, compression), wanted in by_file.items():
        numbers = _count(path, compression, wanted)
        for ev in wanted:
            out[(ev.path, ev.offset)] = Location(str(path), numbers.get(ev.offset))
    return out
