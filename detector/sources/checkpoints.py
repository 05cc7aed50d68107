"""Which bytes of which file are new: file identity across rotations, resume checks, and gaps.

A checkpoint record belongs to file *content*, not to a path. It is found again by device +
inode (rename rotation) or, inside the same stream, by the hash of its first bytes (copytruncate
copies, `.1` compressed to `.1.gz`); failing that, by that hash across streams (a copy whose name
no pattern knows, such as a `dateformat -%Y%m%d-%s` copy, or one moved by `olddir`). Before resuming, the bytes just before the offset must hash
to what we stored; otherwise the file was rewritten and is read as new. A record that vanishes
with unread bytes, or a live file that was truncated or replaced with nothing recoverable,
is a *gap*: reported loudly and stored.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import BinaryIO

from detector.model import iso, parse_iso
from detector.sources.discovery import LogFile
from detector.sources.reader import (
    FINGERPRINT_BYTES,
    READ_ERRORS,
    TAIL_BYTES,
    Identity,
    bytes_before,
    identify,
    open_log,
)
from detector.state.store import Store

GONE_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class FileRecord:
    """The stored checkpoint of one file's content."""

    uid: str
    stream: str
    path: str
    dev: int
    inode: int
    compressed: bool
    fp_len: int
    fp_hash: str
    offset: int
    tail_hash: str
    size_seen: int
    stat_size: int
    stat_mtime: float
    at_eof: bool
    status: str
    format: str | None
    source: str | None
    lines_read: int
    first_seen: datetime
    last_seen: datetime

    def head_matches(self, identity: Identity) -> bool:
        """Does `identity` start with the bytes this record was fingerprinted on?"""
        return self.fp_len > 0 and len(identity.head) >= self.fp_len and (
            identity.fingerprint(self.fp_len) == self.fp_hash
        )


@dataclass(frozen=True)
class Gap:
    """Bytes that could not be read and never will be."""

    stream: str
    path: str
    file_uid: str
    reason: str  # truncated | deleted | vanished-unread | rewritten | unreadable
    offset: int
    lost_bytes: int | None  # None: unknown (anything written since the last scan)
    detail: str


@dataclass
class Assignment:
    """A file to read, from which offset, under which record."""

    file: LogFile
    identity: Identity
    record: FileRecord
    how: str  # new | resume | moved | copy-resumed
    tail: bytes = b""  # the bytes before the offset (seed for the reader's rolling tail)


@dataclass
class Plan:
    reads: list[Assignment]
    skipped: list[tuple[LogFile, str]]  # (file, why): unchanged archive, copy of a tracked file
    gaps: list[Gap]
    vanished: list[FileRecord]  # records to mark gone
    unreadable: list[tuple[LogFile, str]]


def _row_to_record(row: dict) -> FileRecord:
    return FileRecord(
        uid=row["uid"],
        stream=row["stream"],
        path=row["path"],
        dev=row["dev"],
        inode=row["inode"],
        compressed=bool(row["compressed"]),
        fp_len=row["fp_len"],
        fp_hash=row["fp_hash"],
        offset=row["offset"],
        tail_hash=row["tail_hash"],
        size_seen=row["size_seen"],
        stat_size=row["stat_size"],
        stat_mtime=row["stat_mtime"],
        at_eof=bool(row["at_eof"]),
        status=row["status"],
        format=row["format"],
        source=row["source"],
        lines_read=row["lines_read"],
        first_seen=parse_iso(row["first_seen"]),  # type: ignore[arg-type]
        last_seen=parse_iso(row["last_seen"]),  # type: ignore[arg-type]
    )


def load_records(store: Store) -> list[FileRecord]:
    return [_row_to_record(dict(r)) for r in store.execute("SELECT * FROM files")]


def save_record(store: Store, record: FileRecord) -> None:
    """Upsert one checkpoint (call inside the batch transaction)."""
    store.execute(
        "INSERT INTO files(uid, stream, path, dev, inode, compressed, fp_len, fp_hash, offset,"
        " tail_hash, size_seen, stat_size, stat_mtime, at_eof, status, format, source, lines_read,"
        " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(uid) DO UPDATE SET stream = excluded.stream, path = excluded.path,"
        " dev = excluded.dev, inode = excluded.inode, compressed = excluded.compressed,"
        " fp_len = excluded.fp_len, fp_hash = excluded.fp_hash, offset = excluded.offset,"
        " tail_hash = excluded.tail_hash, size_seen = excluded.size_seen,"
        " stat_size = excluded.stat_size, stat_mtime = excluded.stat_mtime,"
        " at_eof = excluded.at_eof, status = excluded.status, format = excluded.format,"
        " source = excluded.source, lines_read = excluded.lines_read,"
        " last_seen = excluded.last_seen",
        (
            record.uid,
            record.stream,
            record.path,
            record.dev,
            record.inode,
            int(record.compressed),
            record.fp_len,
            record.fp_hash,
            record.offset,
            record.tail_hash,
            record.size_seen,
            record.stat_size,
            record.stat_mtime,
            int(record.at_eof),
            record.status,
            record.format,
            record.source,
            record.lines_read,
            iso(record.first_seen),
            iso(record.last_seen),
        ),
    )


def save_gap(store: Store, gap: Gap, now: datetime) -> None:
    store.execute(
        "INSERT INTO gaps(stream, path, file_uid, reason, offset, lost_bytes, detail, detected_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (gap.stream, gap.path, gap.file_uid, gap.reason, gap.offset, gap.lost_bytes, gap.detail, iso(now)),
    )


def new_record(file: LogFile, identity: Identity, now: datetime) -> FileRecord:
    return FileRecord(
        uid=uuid.uuid4().hex[:16],
        stream=file.stream,
        path=str(file.path),
        dev=identity.dev,
        inode=identity.inode,
        compressed=file.compression is not None,
        fp_len=len(identity.head),
        fp_hash=identity.fingerprint(),
        offset=0,
        tail_hash="",
        size_seen=0,
        stat_size=0,
        stat_mtime=0.0,
        at_eof=False,
        status="active",
        format=file.source.format if file.source else None,
        source=file.source.application if file.source else None,
        lines_read=0,
        first_seen=now,
        last_seen=now,
    )


def _tail_ok(handle: BinaryIO, record: FileRecord) -> bytes | None:
    """The bytes before the record's offset if they still hash to what was stored."""
    if record.offset == 0:
        return b""
    data = bytes_before(handle, record.offset)
    if data is None:
        return None
    return data if hashlib.sha256(data).hexdigest() == record.tail_hash else None


@dataclass
class _Matching:
    """Working state of one `Planner.plan` call, shared by its steps."""

    files: list[LogFile]
    identities: dict[int, Identity]  # file index -> identity (readable files only)
    claimed: dict[str, int] = field(default_factory=dict)  # record uid -> file index
    matched: dict[int, tuple[FileRecord, str]] = field(default_factory=dict)  # file index -> (record, how)
    copies: set[int] = field(default_factory=set)
    skipped: list[tuple[LogFile, str]] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    superseded: set[str] = field(default_factory=set)  # record uids replaced by a rewritten file

    def claim(self, record: FileRecord, index: int, how: str) -> None:
        self.claimed[record.uid] = index
        self.matched[index] = (record, how)


class Planner:
    """Matches discovered files to stored checkpoints (see module docstring)."""

    def __init__(self, records: list[FileRecord], now: datetime) -> None:
        self.records = {r.uid: r for r in records}
        self.now = now

    def plan(self, files: list[LogFile], in_scope: Callable[[FileRecord], bool]) -> Plan:
        identities, unreadable = _identify(files)
        m = _Matching(files=files, identities=identities)
        self._match_by_inode(m)
        self._match_unchanged_archives(m)
        self._match_by_head(m)
        self._skip_new_duplicates(m)
        reads = [a for index in identities if (a := self._assignment(m, index)) is not None]
        vanished = self._vanished(m, in_scope)
        reads.sort(key=lambda a: (a.file.stream, a.file.generation, str(a.file.path)))
        return Plan(reads=reads, skipped=m.skipped, gaps=m.gaps, vanished=vanished, unreadable=unreadable)

    def _match_by_inode(self, m: _Matching) -> None:
        """Pass 1: same device+inode and same head => the same file, wherever it moved."""
        by_inode: dict[tuple[int, int], list[FileRecord]] = {}
        for record in self.records.values():
            if not record.compressed:
                by_inode.setdefault((record.dev, record.inode), []).append(record)
        for index, identity in m.identities.items():
            if m.files[index].compression:
                continue
            for record in by_inode.get((identity.dev, identity.inode), []):
                # A file seen empty (logrotate `create`, or a daemon faster than the first
                # write) has no head to compare yet: its inode alone says it is the same file.
                seen_empty = record.fp_len == 0 and record.offset == 0
                if record.uid not in m.claimed and (record.head_matches(identity) or seen_empty):
                    m.claim(record, index, "resume" if record.path == str(m.files[index].path) else "moved")
                    break

    def _match_unchanged_archives(self, m: _Matching) -> None:
        """Compressed archives we already read to the end and that did not change: skip cheaply."""
        for index, identity in m.identities.items():
            if index in m.matched or not m.files[index].compression:
                continue
            for record in self.records.values():
                if (
                    record.compressed
                    and record.uid not in m.claimed
                    and (record.dev, record.inode) == (identity.dev, identity.inode)
                    and record.stat_mtime == identity.mtime
                    and record.at_eof
                    and record.head_matches(identity)
                ):
                    m.claim(record, index, "unchanged")
                    break

    def _match_by_head(self, m: _Matching) -> None:
        """Pass 2: a file whose head is a record's => a copy or a compressed generation of it.
        Inside the same stream any fingerprint counts; across streams (a copy named or placed
        where no stream pattern looks: a custom `dateformat`, `olddir`) only a whole one (1 KiB
        of timestamped lines). When several files begin like one record (logrotate `copy`
        leaves one copy per rotation), the one with the most content resumes it; the others
        are duplicates."""
        contenders: dict[str, list[int]] = {}
        for index, identity in m.identities.items():
            if index in m.matched:
                continue
            stream = m.files[index].stream
            candidates = [r for r in self.records.values() if r.head_matches(identity)
                          and (r.stream == stream or r.fp_len >= FINGERPRINT_BYTES)]
            free = [r for r in candidates if r.uid not in m.claimed]
            if free:
                best = max(free, key=lambda r: (r.stream == stream, r.fp_len, r.offset))
                contenders.setdefault(best.uid, []).append(index)
            elif candidates:
                m.copies.add(index)
        for uid, indices in contenders.items():
            ends = {i: _content_size(m.files[i], m.identities[i]) for i in indices} if len(indices) > 1 else {}
            keeper = max(indices, key=lambda i: (ends.get(i, 0), not m.files[i].compression))
            m.claim(self.records[uid], keeper, "copy-resumed")
            m.copies.update(i for i in indices if i != keeper)

    @staticmethod
    def _skip_new_duplicates(m: _Matching) -> None:
        """Pass 3: files no record knows that share a whole fingerprint (logrotate `copy` keeps
        the live file growing next to its copies, so each copy is the start of it): only the
        longest is read; another is skipped once its end is verified to be the longest one's
        bytes at the same place."""
        groups: dict[str, list[int]] = {}
        for index, identity in m.identities.items():
            if index not in m.matched and index not in m.copies and len(identity.head) >= FINGERPRINT_BYTES:
                groups.setdefault(identity.fingerprint(), []).append(index)
        for members in (g for g in groups.values() if len(g) > 1):
            ends = {i: _content_end(m.files[i]) for i in members}
            keeper = max(members, key=lambda i: (ends[i][0], not m.files[i].compression))
            for index in members:
                size, tail = ends[index]
                if index != keeper and size >= 0 and _bytes_at(m.files[keeper], size) == tail:
                    m.copies.add(index)

    def _assignment(self, m: _Matching, index: int) -> Assignment | None:
        """What to read of one file: its (possibly new) record and the verified bytes before the
        offset; None when the file is skipped (a copy, an unchanged archive)."""
        file, identity = m.files[index], m.identities[index]
        if index in m.copies:
            m.skipped.append((file, "copy of a file already tracked"))
            return None
        record, how = m.matched.get(index, (None, "new"))
        if how == "unchanged":
            m.skipped.append((file, "archive already read"))
            return None
        tail = b""
        if record is not None:
            checked = _verified_tail(file, record)
            if checked is None:
                if how == "copy-resumed" and identity.size is not None and identity.size < record.offset:
                    # A copy shorter than what we already read from the original: nothing new.
                    m.skipped.append((file, "copy already read"))
                    return None
                m.gaps.append(_rewritten_gap(file, record))
                m.claimed.pop(record.uid, None)
                m.superseded.add(record.uid)  # its gap is the one above, not a vanished one
                record, how = None, "new"
            else:
                tail = checked
        record = _refreshed(record or new_record(file, identity, self.now), file, identity)
        return Assignment(file=file, identity=identity, record=record, how=how, tail=tail)

    def _vanished(self, m: _Matching, in_scope: Callable[[FileRecord], bool]) -> list[FileRecord]:
        """Records in scope that match no file any more, marked gone (with a gap if data was lost)."""
        vanished: list[FileRecord] = []
        live_by_stream = {str(m.files[i].path): m.identities[i] for i in m.identities}
        for record in self.records.values():
            if record.uid in m.claimed or not in_scope(record) or record.status == "gone":
                continue
            if record.uid in m.superseded:
                vanished.append(replace(record, status="gone", last_seen=self.now))
                continue
            gap = self._vanished_gap(record, live_by_stream)
            if gap is not None and gap.reason == "deleted" and _renamed_in_place(record):
                # Renamed to a name this run did not discover (a rotation caught between
                # rename and re-create, under a glob like *.log): not lost. Keep the record;
                # the next run finds the file as a rotated sibling and resumes it.
                continue
            vanished.append(replace(record, status="gone", last_seen=self.now))
            if gap is not None:
                m.gaps.append(gap)
        return vanished

    @staticmethod
    def _vanished_gap(record: FileRecord, current: dict[str, Identity]) -> Gap | None:
        """Decide whether a record that matches no file any more lost data."""
        unread = max(record.size_seen - record.offset, 0)
        is_live = record.path == record.stream
        if not is_live and unread == 0:
            return None  # an old generation that was fully read and then expired: normal
        now_there = current.get(record.path)
        if now_there is not None and (now_there.dev, now_there.inode) == (record.dev, record.inode):
            reason, what = "truncated", "was truncated in place"
        elif now_there is not None:
            reason, what = "replaced", "was replaced by a new file"
        else:
            reason, what = "deleted", "was deleted"
        lost = f"at least {unread} bytes" if unread else "anything written after the last scan"
        return Gap(
            stream=record.stream,
            path=record.path,
            file_uid=record.uid,
            reason=reason,
            offset=record.offset,
            lost_bytes=unread if unread else None,
            detail=(
                f"{record.path} {what} and no rotated copy holds its content after offset "
                f"{record.offset}: {lost} could not be read"
            ),
        )


def _identify(files: list[LogFile]) -> tuple[dict[int, Identity], list[tuple[LogFile, str]]]:
    identities: dict[int, Identity] = {}
    unreadable: list[tuple[LogFile, str]] = []
    for index, file in enumerate(files):
        try:
            identity = identify(file.path, file.compression)
            if identity.complete:  # else an archive still being written: taken up once complete
                identities[index] = identity
        except READ_ERRORS as exc:
            unreadable.append((file, f"{type(exc).__name__}: {exc}"))
    return identities, unreadable


def _content_size(file: LogFile, identity: Identity) -> int:
    return identity.size if identity.size is not None else _content_end(file)[0]


def _content_end(file: LogFile) -> tuple[int, bytes]:
    """(size, last TAIL_BYTES) of the (decompressed) content; (-1, b"") when unreadable."""
    try:
        with open_log(file.path, file.compression) as handle:
            if not file.compression:
                size = handle.seek(0, os.SEEK_END)
                return size, bytes_before(handle, size) or b""
            size, tail = 0, b""
            while block := handle.read(1 << 20):
                size += len(block)
                tail = (tail + block)[-TAIL_BYTES:]
            return size, tail
    except READ_ERRORS:
        return -1, b""


def _bytes_at(file: LogFile, offset: int) -> bytes | None:
    """The TAIL_BYTES in front of `offset` in the (decompressed) content."""
    try:
        with open_log(file.path, file.compression) as handle:
            return bytes_before(handle, offset)
    except READ_ERRORS:
        return None


def _verified_tail(file: LogFile, record: FileRecord) -> bytes | None:
    try:
        with open_log(file.path, file.compression) as handle:
            return _tail_ok(handle, record)
    except READ_ERRORS:
        return None


def _rewritten_gap(file: LogFile, record: FileRecord) -> Gap:
    return Gap(
        stream=record.stream,
        path=str(file.path),
        file_uid=record.uid,
        reason="rewritten",
        offset=record.offset,
        lost_bytes=None,
        detail=(
            f"{file.path}: the bytes before offset {record.offset} changed since the "
            "last scan (truncated and rewritten?); reading it again as a new file"
        ),
    )


def _refreshed(record: FileRecord, file: LogFile, identity: Identity) -> FileRecord:
    """The record as this run found its file: current path, identity, source and format."""
    record = replace(
        record,
        path=str(file.path),
        stream=file.stream,
        status="active",
        compressed=file.compression is not None,
        dev=identity.dev,
        inode=identity.inode,
        source=file.source.application if file.source else record.source,
        format=(file.source.format if file.source and file.source.format else record.format),
    )
    if record.fp_len < FINGERPRINT_BYTES and len(identity.head) > record.fp_len:
        record = replace(record, fp_len=len(identity.head), fp_hash=identity.fingerprint())
    return record


def _renamed_in_place(record: FileRecord) -> bool:
    """Whether a file with the record's device and inode is still in its directory."""
    directory = os.path.dirname(record.path)
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) == (record.dev, record.inode) and entry.is_file(follow_symlinks=False):
                    return True
    except OSError:
        return False
    return False


def prune_gone(store: Store, now: datetime) -> None:
    """Forget records of files gone for longer than the retention."""
    store.execute(
        "DELETE FROM files WHERE status = 'gone' AND last_seen < ?", (iso(now - GONE_RETENTION),)
    )
