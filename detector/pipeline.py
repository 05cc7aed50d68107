"""`run_once`: the one function behind both the cron job and the daemon (DESIGN §2).

files -> plan (checkpoints) -> read batches -> parse -> normalize -> detect -> ONE transaction
per batch holding the new offset, what the lines produced, and the ingest record.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.config import local_timezone
from detector.detection.batch import BatchContext, BatchSink
from detector.model import Defect, iso, stable_hash
from detector.parsing import parse_any
from detector.parsing.base import ParseContext
from detector.parsing.stats import MAX_RUN_SAMPLES, add_counts, counts_report, keep_samples, parse_counts
from detector.sources.checkpoints import (
    Assignment,
    FileRecord,
    Gap,
    Plan,
    Planner,
    load_records,
    prune_gone,
    save_gap,
    save_record,
)
from detector.sources.discovery import LogFile
from detector.sources.handover import handed_over
from detector.sources.interleave import Interleave, Step
from detector.sources.peek import newest_event, peek_event_time
from detector.sources.prefetch import Prefetch
from detector.sources.reader import (
    DEFAULT_CHUNK,
    DEFAULT_MAX_LINE,
    READ_ERRORS,
    Batch,
    LineReader,
    open_log,
)
from detector.state.store import Store
from detector.textsafe import terminal_safe

SNIFF_LINES = 20  # a new file's usual format, sniffed by engines that cut files into partitions
MAX_SAMPLES_PER_REASON = 5
DEFAULT_PARTIAL_GRACE = timedelta(seconds=60)


@dataclass
class FileStats:
    path: str
    format: str | None
    how: str
    bytes: int = 0
    lines: int = 0
    parsed: int = 0
    unparsed: int = 0
    blank: int = 0
    repaired: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # see `parse_counts`
    samples: list[dict[str, Any]] = field(default_factory=list)  # unparsed lines with their reason


@dataclass
class RunResult:
    stats: dict[str, Any]
    gaps: list[Gap]
    defects: list[Defect]
    finding_seq_before: int


def _add(counter: dict[str, int], key: str, value: int) -> None:
    if value:
        counter[key] = counter.get(key, 0) + value


def frame_from(result_table: pa.Table, lines: pa.Array, offsets: np.ndarray, parsed_index: pa.Array, path: str) -> pd.DataFrame:
    """The event frame of a batch: parser columns plus the evidence columns, ArrowDtype-backed."""
    idx = parsed_index
    table = result_table
    table = table.append_column("log.original", lines.take(idx).cast(pa.string()))
    table = table.append_column("log.offset", pa.array(offsets, pa.int64()).take(idx))
    table = table.append_column(
        "log.file.path", pa.array(np.full(len(table), path, dtype=object), pa.string())
    )
    return table.to_pandas(types_mapper=pd.ArrowDtype, self_destruct=True)


@dataclass(frozen=True)
class ParsedBatch:
    """A batch as the read-ahead stage hands it over: the lines' counts, the event frame, what
    the lines left unparsed (counted and sampled) and the checkpoint tail. Everything here is
    computed without the state database, so it may come from another thread or another machine
    (`BatchSource`)."""

    batch: Batch
    tail_hash: str  # of the bytes before batch.end_offset, taken when the batch was read
    fmt: str | None
    frame: pd.DataFrame | None
    parsed: int
    unparsed_counts: dict[str, int]  # lines a parser refused, by reason
    unparsed_samples: tuple[tuple[int, str, str], ...]  # (offset, reason, line): a few per reason
    warning: str | None
    prepared: Any = None  # the sink's `prepare(frame)` result (see `Prefetch`'s finish stage)
    newest: int | None = None  # newest event time of the batch, microseconds
    first_event: pd.Timestamp | None = None  # of the whole batch (the frame may hold fewer rows)
    last_event: pd.Timestamp | None = None
    kinds: str | None = None  # the batch's log kinds, comma-separated
    counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # see `parse_counts`


def parse_batch(batch: Batch, ctx: ParseContext, fmt: str | None, tail_hash: str) -> ParsedBatch:
    """Sniff (when `fmt` is None), parse and summarize one batch: the work the local engine does
    in its read-ahead thread and a Dask worker does on its partition. Pure: no state database."""
    warning = None
    frame = None
    parsed = 0
    reasons = unparsed_idx = None
    parse_count: dict[str, dict[str, list[int]]] = {}
    if len(batch.lines):
        # per line: the file's usual format first, a prefix guess for the lines it cannot read
        mixed = parse_any(batch.lines, fmt, ctx)
        result = mixed.result
        fmt = mixed.usual or fmt
        parsed = len(result.table)
        if parsed:
            frame = frame_from(result.table, batch.lines, batch.offsets, result.parsed_index, ctx.path)
            parse_count = parse_counts(result.table)
        elif fmt is None:
            warning = (
                f"logwarden: warning: {terminal_safe(ctx.path)}: unknown log format "
                f"(first line at offset {int(batch.offsets[0])}); lines counted as unparsed"
            )
        reasons, unparsed_idx = result.unparsed_reason, result.unparsed_index
    counts, samples = _unparsed_summary(batch, reasons, unparsed_idx)
    first_event = last_event = kinds = None
    if frame is not None and len(frame):
        ts = frame["@timestamp"]
        first_event, last_event = ts.min(), ts.max()
        found = frame["log.kind"].dropna().unique()
        kinds = ",".join(sorted(str(k) for k in found)) if len(found) else None
    return ParsedBatch(
        batch, tail_hash, fmt, frame, parsed, counts, samples, warning, None, newest_event(frame),
        first_event, last_event, kinds, parse_count,
    )


def _unparsed_summary(
    batch: Batch, reasons: pa.Array | None, unparsed_idx: pa.Array | None
) -> tuple[dict[str, int], tuple[tuple[int, str, str], ...]]:
    """Lines of a batch that produced no event, by reason, with the first few of each."""
    counts: dict[str, int] = {}
    samples: list[tuple[int, str, str]] = []
    if reasons is not None and unparsed_idx is not None and len(unparsed_idx):
        for entry in pc.value_counts(reasons).to_pylist():
            _add(counts, entry["values"], entry["counts"])
        for position, reason in _first_per_reason(reasons, MAX_SAMPLES_PER_REASON):
            row = unparsed_idx[position].as_py()
            samples.append((int(batch.offsets[row]), reason, batch.lines[row].as_py()))
    for reason, count in batch.rejected.counts.items():
        _add(counts, reason, count)
    for offset, reason, raw in batch.rejected.samples:
        samples.append((offset, reason, raw.decode("utf-8", errors="replace")))
    return counts, tuple(samples)


class BatchSource(Protocol):
    """Where the parsed batches of a run come from. The local engine reads and parses files in
    its read-ahead thread (`Ingest`'s own); a distributed engine hands over what its workers
    parsed (`detector/runs/dask_engine.py`). Either way the batches reach checkpoints and the
    sink through the same event-time interleaving, watermark and transactions."""

    def start(self, reads: list[Assignment], contexts: list[ParseContext], sink: BatchSink | None) -> None:
        """The run's files and the sink their batches are for, before any batch is asked for."""

    def batches(self, index: int) -> Iterator[ParsedBatch | FileEnd]:
        """File `index`'s batches in file order, then its FileEnd (called in the read-ahead thread)."""

    def peek(self, index: int) -> int | None:
        """Event time (microseconds) of file `index`'s first unread line; None: unknown."""

    def close(self) -> None:
        """The run is over (or stopped): release what is still held."""


@dataclass(frozen=True)
class FileEnd:
    """A file read to its end (or to an error): what to store in its checkpoint record."""

    warning: str | None
    opened: bool
    size_now: int | None = None
    stat_size: int | None = None
    stat_mtime: float | None = None


def _same_head(handle: BinaryIO, record: FileRecord, compressed: bool) -> Callable[[], bool]:
    """Does the open file still begin with the bytes its record was fingerprinted on? Asked
    after each chunk: `copytruncate` while a chunk is being read empties the file and the
    program writes on from offset 0, so the chunk read at the old offset would be the middle
    of the new content. Its first bytes then differ, and the chunk is not committed."""
    if compressed or record.fp_len == 0:
        return lambda: True
    fd = handle.fileno()

    def unchanged() -> bool:
        try:
            head = os.pread(fd, record.fp_len, 0)
        except OSError:
            return False
        return hashlib.sha256(head).hexdigest() == record.fp_hash

    return unchanged


def _replaced(handle: BinaryIO, assignment: Assignment) -> bool:
    """Is the file now open another one than the file that was identified and planned?"""
    try:
        st = os.fstat(handle.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) != (assignment.identity.dev, assignment.identity.inode)


class Ingest:
    """One run over a list of files."""

    def __init__(
        self,
        store: Store,
        now: datetime,
        sink: BatchSink | None = None,
        chunk_size: int = DEFAULT_CHUNK,
        max_line: int = DEFAULT_MAX_LINE,
        default_timezone: str | None = None,
        log: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        bounded: bool = False,
        on_batch: Callable[[float], None] | None = None,
        source: BatchSource | None = None,
        partial_line_grace: timedelta = DEFAULT_PARTIAL_GRACE,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> None:
        self.store = store
        self.now = now
        self.sink = sink
        self.chunk_size = chunk_size
        self.max_line = max_line
        self.default_timezone = default_timezone or local_timezone()
        self.log = log or (lambda message: print(message, file=sys.stderr))
        # Checked between batches: the daemon stops after the batch in hand is committed.
        self.should_stop = should_stop or (lambda: False)
        # Stop each file at its size when planned: a daemon chasing a busy writer would
        # otherwise read it in many tiny batches; what is appended meanwhile is the next pass's.
        self.bounded = bounded
        self.on_batch = on_batch  # told each committed batch's wall time (daemon metrics)
        self.source = source  # None: read and parse the files here (the local engine)
        # A last line without a newline is read when its file is done being written: an
        # archive, a rotated generation, or a live file quiet for this long.
        self.partial_line_grace = partial_line_grace
        # told (bytes done, bytes planned or None when a compressed file makes it unknown)
        # after each committed batch: the CLI's progress line
        self.on_progress = on_progress

    def run(self, files: list[LogFile], in_scope: Callable[[FileRecord], bool]) -> RunResult:
        seq_row = self.store.execute("SELECT COALESCE(MAX(seq), 0) FROM finding_log").fetchone()
        seq_before = int(seq_row[0])
        plan = Planner(load_records(self.store), self.now).plan(files, in_scope)
        defects = self._record_plan(plan)
        per_file = self._read(plan.reads)
        if self.sink is not None and len(per_file) == len(plan.reads):
            # every source read to its end: windows still waiting for the watermark fire
            with self.store.transaction():
                self.sink.finish(self.store, self.now)
        stats = self._stats(per_file, plan)
        return RunResult(stats=stats, gaps=plan.gaps, defects=defects, finding_seq_before=seq_before)

    # -- plan bookkeeping ----------------------------------------------------------------

    def _record_plan(self, plan: Plan) -> list[Defect]:
        defects: list[Defect] = []
        with self.store.transaction():
            for record in plan.vanished:
                save_record(self.store, record)
            for gap in plan.gaps:
                save_gap(self.store, gap, self.now)
                severity = "high" if gap.reason in ("truncated", "deleted", "replaced") else "medium"
                defect = Defect(
                    id="gap-" + stable_hash(gap.file_uid, gap.reason, gap.offset),
                    kind="gap",
                    severity=severity,
                    subject=gap.path,
                    detail=gap.detail,
                    first_seen=self.now,
                    last_seen=self.now,
                )
                self.store.put_defect(defect, self.now)
                defects.append(defect)
                self.log(f"logwarden: GAP: {terminal_safe(gap.detail)}")
            for file, why in plan.unreadable:
                defect = Defect(
                    id="unreadable-" + stable_hash(str(file.path)),
                    kind="source-unreadable",
                    severity="medium",
                    subject=str(file.path),
                    detail=f"{file.path}: cannot read ({why})",
                    first_seen=self.now,
                    last_seen=self.now,
                )
                self.store.put_defect(defect, self.now)
                defects.append(defect)
                self.log(f"logwarden: warning: {terminal_safe(defect.detail)}")
            prune_gone(self.store, self.now)
        return defects

    # -- reading ---------------------------------------------------------------------------

    def _read(self, reads: list[Assignment]) -> list[FileStats]:
        """Read every assignment, interleaved in event-time order (`interleave.py`); returns
        the stats of the files read to their end (all of them unless the run was stopped)."""
        contexts = [self._context(a) for a in reads]
        records = [a.record for a in reads]
        stats = [FileStats(path=str(a.file.path), format=a.record.format, how=a.how) for a in reads]
        ended: list[int] = []
        source = self.source
        if source is not None:
            source.start(reads, contexts, self.sink)
        planned = _planned_bytes(reads)
        done = 0
        interleave: Interleave[ParsedBatch | FileEnd] = Interleave(
            [a.file.stream for a in reads],
            open_file=source.batches if source else lambda i: self._batches(reads[i], contexts[i]),
            peek=source.peek if source else lambda i: peek_event_time(reads[i], contexts[i]),
            newest=lambda item: item.newest if isinstance(item, ParsedBatch) else None,
        )

        def close() -> None:
            interleave.close()
            if source is not None:
                source.close()

        with Prefetch(iter(interleave), on_close=close, finish=self._prepare) as steps:
            for step in steps:
                item, i = step.batch, step.index
                if isinstance(item, ParsedBatch):
                    started = time.monotonic()
                    records[i] = self._process_batch(item, records[i], contexts[i], stats[i], step.watermark)
                    if self.on_batch is not None:
                        self.on_batch(time.monotonic() - started)
                    if self.on_progress is not None:
                        done += item.batch.end_offset - item.batch.start_offset
                        self.on_progress(done, planned)
                    if self.should_stop():
                        break
                elif isinstance(item, FileEnd):
                    records[i] = self._end_file(item, records[i], stats[i])
                    ended.append(i)
                del step, item  # done: not held while the next batch is awaited
        for i, record in enumerate(records):
            if i not in ended and record is not reads[i].record:
                # stopped mid-file: the offset is committed; the next run goes on from it
                with self.store.transaction():
                    save_record(self.store, replace(record, at_eof=False, last_seen=self.now))
        return [stats[i] for i in sorted(ended)]

    def _context(self, assignment: Assignment) -> ParseContext:
        file = assignment.file
        timezone = (file.source.timezone if file.source and file.source.timezone else None) or self.default_timezone
        kind = file.source.kind if file.source else None
        mtime = datetime.fromtimestamp(assignment.identity.mtime).astimezone()
        return ParseContext(path=str(file.path), timezone=timezone, file_mtime=mtime, kind=kind)

    def _batches(self, assignment: Assignment, ctx: ParseContext) -> Iterator[ParsedBatch | FileEnd]:
        """One file's parsed batches, then its FileEnd (runs in the read-ahead thread)."""
        file, record = assignment.file, assignment.record
        try:
            handle = open_log(file.path, file.compression)
        except OSError as exc:
            yield FileEnd(warning=f"logwarden: warning: {terminal_safe(str(file.path))}: cannot open ({exc})", opened=False)
            return
        with handle:
            if _replaced(handle, assignment):
                # renamed away and replaced since it was identified (a rotation in between):
                # reading the new file under the old one's identity would mix their offsets
                yield FileEnd(None, opened=False)
                return
            reader = LineReader(
                handle,
                record.offset,
                chunk_size=self.chunk_size,
                max_line=self.max_line,
                tail=assignment.tail,
                final=self._finished_writing(assignment),
                limit=assignment.identity.size if self.bounded else None,
            )
            warning = None
            unchanged = _same_head(handle, record, file.compression is not None)
            try:
                yield from self._parsed(reader, ctx, record.format, unchanged)
            except READ_ERRORS as exc:  # a truncated archive still being written
                warning = f"logwarden: warning: {terminal_safe(str(file.path))}: stopped reading ({exc})"
            if not unchanged():
                yield FileEnd(None, opened=False)  # truncated and rewritten while read: next pass
                return
            try:
                st = os.fstat(handle.fileno())
                size_now = st.st_size if file.compression is None else reader.offset + reader.pending_bytes
                yield FileEnd(warning, True, size_now, st.st_size, st.st_mtime)
            except (OSError, ValueError):
                yield FileEnd(warning, True)

    def _finished_writing(self, assignment: Assignment) -> bool:
        """Whether a last line without a newline is complete (see `partial_line_grace`)."""
        file = assignment.file
        if file.compression is not None or file.generation[0] == 0:  # an archive or a rotated file
            return True
        quiet = self.now.timestamp() - assignment.identity.mtime
        return quiet >= self.partial_line_grace.total_seconds()

    def _end_file(self, end: "FileEnd", record: FileRecord, stats: FileStats) -> FileRecord:
        if end.warning:
            self.log(end.warning)
        if not end.opened:
            return record
        record = replace(
            record,
            size_seen=max(end.size_now if end.size_now is not None else record.size_seen, record.offset),
            stat_size=end.stat_size if end.stat_size is not None else record.stat_size,
            stat_mtime=end.stat_mtime if end.stat_mtime is not None else record.stat_mtime,
            at_eof=True,
            last_seen=self.now,
            format=stats.format or record.format,
        )
        with self.store.transaction():
            save_record(self.store, record)
        return record

    def _parsed(
        self, reader: LineReader, ctx: ParseContext, fmt: str | None, unchanged: Callable[[], bool]
    ) -> Iterator[ParsedBatch]:
        """Read and parse batches (runs in the prefetch thread: no state database here); stop
        at a batch read after the file was truncated and written again (`unchanged`).

        Each line is read in its own format (`parse_any`): `fmt`, the file's usual format, is
        tried first and becomes the format most lines of the batch were in."""
        warned = False
        for batch in reader:
            if not unchanged():
                return
            item = parse_batch(batch, ctx, fmt, reader.tail_hash())
            if item.warning and warned:
                item = replace(item, warning=None)  # one warning per file, not per batch
            warned = warned or item.warning is not None
            fmt = item.fmt
            parsed = [item]
            del batch, item  # not held while suspended (`handed_over`): each file's last frame
            yield handed_over(parsed)

    def _prepare(self, step: Step) -> Step:
        """The sink's pure per-batch work (rule matching), on whichever thread is free."""
        item = step.batch
        prepare = getattr(self.sink, "prepare", None)
        if prepare is None or not isinstance(item, ParsedBatch) or item.frame is None or not len(item.frame):
            return step
        if item.prepared is not None:  # prepared where it was parsed (a distributed engine's worker)
            return step
        return replace(step, batch=replace(item, prepared=prepare(item.frame)))

    def _process_batch(
        self, item: ParsedBatch, record: FileRecord, ctx: ParseContext, stats: FileStats, watermark: int | None
    ) -> FileRecord:
        batch, fmt, frame, parsed = item.batch, item.fmt, item.frame, item.parsed
        if item.warning:
            self.log(item.warning)
        stats.format = fmt
        for reason, count in item.unparsed_counts.items():
            _add(stats.reasons, reason, count)
        add_counts(stats.counts, item.counts)
        keep_samples(stats.samples, ctx.path, list(item.unparsed_samples))
        unparsed = batch.lines_total - batch.blank - parsed
        stats.bytes += batch.end_offset - batch.start_offset
        stats.lines += batch.lines_total
        stats.parsed += parsed
        stats.unparsed += unparsed
        stats.blank += batch.blank
        for key, value in batch.repaired.items():
            _add(stats.repaired, key, value)

        record = replace(
            record,
            offset=batch.end_offset,
            tail_hash=item.tail_hash,
            lines_read=record.lines_read + batch.lines_total,
            format=fmt,
            last_seen=self.now,
            size_seen=max(record.size_seen, batch.end_offset),
        )
        first_event, last_event, kind = item.first_event, item.last_event, item.kinds
        with self.store.transaction():
            save_record(self.store, record)
            self.store.execute(
                "INSERT INTO ingest_log(file_uid, path, start_offset, end_offset, lines, parsed, unparsed,"
                " first_event, last_event, source, log_kind, committed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.uid,
                    ctx.path,
                    batch.start_offset,
                    batch.end_offset,
                    batch.lines_total,
                    parsed,
                    unparsed,
                    iso(first_event.to_pydatetime()) if first_event is not None else None,
                    iso(last_event.to_pydatetime()) if last_event is not None else None,
                    record.source,
                    kind,
                    iso(self.now),
                ),
            )
            self._store_samples(record, ctx.path, item.unparsed_samples)
            # `parsed`, not len(frame): a worker ships only the rows the sink will use, maybe none,
            # and the sink still sees the batch (its watermark moves correlation on)
            if frame is not None and self.sink is not None and parsed:
                batch_ctx = BatchContext(
                    file_uid=record.uid, path=ctx.path, log_format=fmt, application=record.source, now=self.now,
                    watermark=watermark,
                )
                if item.prepared is not None:
                    self.sink.process(self.store, frame, batch_ctx, item.prepared)  # type: ignore[call-arg]
                else:
                    self.sink.process(self.store, frame, batch_ctx)
        return record

    def _store_samples(self, record: FileRecord, path: str, rows: tuple[tuple[int, str, str], ...]) -> None:
        if not rows:
            return
        existing = {
            r[0]: r[1]
            for r in self.store.execute(
                "SELECT reason, COUNT(*) FROM unparsed_samples WHERE file_uid = ? GROUP BY reason",
                (record.uid,),
            )
        }
        for offset, reason, text in rows:
            if existing.get(reason, 0) >= MAX_SAMPLES_PER_REASON:
                continue
            cur = self.store.execute(
                "INSERT OR IGNORE INTO unparsed_samples(path, file_uid, offset, reason, sample, seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (path, record.uid, offset, reason, text[:300], iso(self.now)),
            )
            existing[reason] = existing.get(reason, 0) + cur.rowcount

    # -- summary ---------------------------------------------------------------------------

    def _stats(self, per_file: list[FileStats], plan: Plan) -> dict[str, Any]:
        counts: dict[str, dict[str, list[int]]] = {}
        samples: list[dict[str, Any]] = []
        for fs in per_file:
            add_counts(counts, fs.counts)
            samples.extend(fs.samples)
        formats: dict[str, dict[str, int]] = {}
        reasons: dict[str, int] = {}
        repaired: dict[str, int] = {}
        for fs in per_file:
            entry = formats.setdefault(fs.format or "unknown", {"files": 0, "lines": 0, "parsed": 0, "unparsed": 0})
            entry["files"] += 1
            entry["lines"] += fs.lines
            entry["parsed"] += fs.parsed
            entry["unparsed"] += fs.unparsed
            for key, value in fs.reasons.items():
                _add(reasons, key, value)
            for key, value in fs.repaired.items():
                _add(repaired, key, value)
        return {
            "files": len(per_file),
            "files_skipped": len(plan.skipped),
            "files_unreadable": len(plan.unreadable),
            "bytes_read": sum(fs.bytes for fs in per_file),
            "lines_read": sum(fs.lines for fs in per_file),
            "lines_parsed": sum(fs.parsed for fs in per_file),
            "lines_unparsed": sum(fs.unparsed for fs in per_file),
            "lines_blank": sum(fs.blank for fs in per_file),
            "lines_repaired": repaired,
            "unparsed_reasons": reasons,
            "gaps": len(plan.gaps),
            "formats": formats,
            "parsed_by": counts_report(counts),
            "unparsed_samples": samples[:MAX_RUN_SAMPLES],
            "sources": [
                {
                    "path": fs.path,
                    "format": fs.format,
                    "how": fs.how,
                    "bytes": fs.bytes,
                    "lines": fs.lines,
                    "parsed": fs.parsed,
                    "unparsed": fs.unparsed,
                    "blank": fs.blank,
                    "reasons": fs.reasons,
                }
                for fs in per_file
            ],
        }


def _planned_bytes(reads: list[Assignment]) -> int | None:
    """Bytes this run is about to read, or None when a compressed file hides its size."""
    sizes = [a.identity.size for a in reads]
    if any(size is None for size in sizes):
        return None
    return sum(max(0, size - a.record.offset) for size, a in zip(sizes, reads) if size is not None)


def _first_per_reason(reasons: pa.Array, per_reason: int) -> list[tuple[int, str]]:
    """Positions of the first few rows of each reason (a handful of Python items at most)."""
    out: list[tuple[int, str]] = []
    for reason in pc.unique(reasons).to_pylist():
        positions = pc.indices_nonzero(pc.equal(reasons, reason)).slice(0, per_reason).to_pylist()
        out.extend((p, reason) for p in positions)
    return out
