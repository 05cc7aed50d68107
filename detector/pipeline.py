"""`run_once`: the one function behind both the cron job and the daemon (DESIGN §2).

files -> plan (checkpoints) -> read batches -> parse -> normalize -> detect -> ONE transaction
per batch holding the new offset, what the lines produced, and the ingest record.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .batch import BatchContext, BatchSink
from .checkpoints import (
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
from .config import local_timezone
from .discovery import LogFile
from .model import Defect, iso, stable_hash
from .parsing import parse_lines, sniff_format
from .parsing.base import ParseContext
from .prefetch import Prefetch
from .reader import DEFAULT_CHUNK, DEFAULT_MAX_LINE, Batch, LineReader, Rejected, open_log
from .store import Store
from .textsafe import terminal_safe

SNIFF_LINES = 20
MAX_SAMPLES_PER_REASON = 5


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
    """A batch as the prefetch thread hands it over: lines, parse result, checkpoint tail."""

    batch: Batch
    tail_hash: str  # of the bytes before batch.end_offset, taken when the batch was read
    fmt: str | None
    frame: pd.DataFrame | None
    parsed: int
    reasons: pa.Array | None
    unparsed_idx: pa.Array | None
    warning: str | None
    prepared: Any = None  # the sink's `prepare(frame)` result, computed in the read-ahead thread


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

    def run(self, files: list[LogFile], in_scope: Callable[[FileRecord], bool]) -> RunResult:
        seq_row = self.store.execute("SELECT COALESCE(MAX(seq), 0) FROM finding_log").fetchone()
        seq_before = int(seq_row[0])
        plan = Planner(load_records(self.store), self.now).plan(files, in_scope)
        defects = self._record_plan(plan)
        per_file: list[FileStats] = []
        for assignment in plan.reads:
            if self.should_stop():
                break
            per_file.append(self._read_file(assignment))
        if self.sink is not None:
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

    def _read_file(self, assignment: Assignment) -> FileStats:
        file, record = assignment.file, assignment.record
        stats = FileStats(path=str(file.path), format=record.format, how=assignment.how)
        timezone = (file.source.timezone if file.source and file.source.timezone else None) or self.default_timezone
        kind = file.source.kind if file.source else None
        mtime = datetime.fromtimestamp(assignment.identity.mtime).astimezone()
        try:
            handle = open_log(file.path, file.compression)
        except OSError as exc:
            self.log(f"logwarden: warning: {terminal_safe(str(file.path))}: cannot open ({exc})")
            return stats
        with handle:
            reader = LineReader(
                handle,
                record.offset,
                chunk_size=self.chunk_size,
                max_line=self.max_line,
                tail=assignment.tail,
                final=file.compression is not None,
                limit=assignment.identity.size if self.bounded else None,
            )
            ctx = ParseContext(path=str(file.path), timezone=timezone, file_mtime=mtime, kind=kind)
            stopped = False
            with Prefetch(self._parsed(reader, ctx, record.format)) as batches:
                while True:
                    try:
                        parsed = next(batches)
                    except StopIteration:
                        break
                    except (OSError, EOFError) as exc:  # a truncated archive still being written
                        self.log(f"logwarden: warning: {terminal_safe(str(file.path))}: stopped reading ({exc})")
                        break
                    record = self._process_batch(parsed, record, ctx, stats)
                    if self.should_stop():
                        stopped = True
                        break
            # stopped early: not at the end, so an archive is not skipped as "already read"
            at_eof = not stopped
            try:
                st = os.fstat(handle.fileno())
                size_now = st.st_size if file.compression is None else reader.offset + reader.pending_bytes
                stat_size, stat_mtime = st.st_size, st.st_mtime
            except (OSError, ValueError):
                size_now, stat_size, stat_mtime = record.size_seen, record.stat_size, record.stat_mtime
            record = replace(
                record,
                size_seen=max(size_now, record.offset),
                stat_size=stat_size,
                stat_mtime=stat_mtime,
                at_eof=at_eof,
                last_seen=self.now,
                format=stats.format or record.format,
            )
            with self.store.transaction():
                save_record(self.store, record)
        return stats

    def _parsed(self, reader: LineReader, ctx: ParseContext, fmt: str | None) -> Iterator[ParsedBatch]:
        """Read and parse batches (runs in the prefetch thread: no state database here)."""
        for batch in reader:
            warning = None
            if fmt is None and len(batch.lines):
                fmt = sniff_format(batch.lines.slice(0, SNIFF_LINES).to_pylist())
                if fmt is None:
                    warning = (
                        f"logwarden: warning: {terminal_safe(ctx.path)}: unknown log format "
                        f"(first line at offset {int(batch.offsets[0])}); lines counted as unparsed"
                    )
            frame = None
            parsed = 0
            reasons = unparsed_idx = None
            if len(batch.lines):
                if fmt is None:
                    reasons = pa.array(["unknown-format"] * len(batch.lines), pa.string())
                    unparsed_idx = pa.array(np.arange(len(batch.lines)), pa.int64())
                else:
                    result = parse_lines(batch.lines, fmt, ctx)
                    parsed = len(result.table)
                    if parsed:
                        frame = frame_from(result.table, batch.lines, batch.offsets, result.parsed_index, ctx.path)
                    reasons, unparsed_idx = result.unparsed_reason, result.unparsed_index
            prepare = getattr(self.sink, "prepare", None)
            prepared = prepare(frame) if prepare is not None and frame is not None and len(frame) else None
            yield ParsedBatch(batch, reader.tail_hash(), fmt, frame, parsed, reasons, unparsed_idx, warning, prepared)

    def _process_batch(self, item: ParsedBatch, record: FileRecord, ctx: ParseContext, stats: FileStats) -> FileRecord:
        batch, fmt, frame, parsed = item.batch, item.fmt, item.frame, item.parsed
        if item.warning:
            self.log(item.warning)
        stats.format = fmt
        rejected = batch.rejected
        unparsed_rows: list[tuple[int, str, str]] = []
        reasons, unparsed_idx = item.reasons, item.unparsed_idx
        if reasons is not None and unparsed_idx is not None and len(unparsed_idx):
            counts = pc.value_counts(reasons).to_pylist()
            for entry in counts:
                stats.reasons[entry["values"]] = stats.reasons.get(entry["values"], 0) + entry["counts"]
            for position, reason in _first_per_reason(reasons, MAX_SAMPLES_PER_REASON):
                row = unparsed_idx[position].as_py()
                unparsed_rows.append((int(batch.offsets[row]), reason, batch.lines[row].as_py()))
        for reason, count in rejected.counts.items():
            _add(stats.reasons, reason, count)
        for offset, reason, raw in rejected.samples:
            unparsed_rows.append((offset, reason, raw.decode("utf-8", errors="replace")))
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
        first_event = last_event = None
        kind = None
        if frame is not None and len(frame):
            ts = frame["@timestamp"]
            first_event, last_event = ts.min(), ts.max()
            kinds = frame["log.kind"].dropna().unique()
            kind = ",".join(sorted(str(k) for k in kinds)) if len(kinds) else None
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
            self._store_samples(record, ctx.path, unparsed_rows)
            if frame is not None and self.sink is not None and len(frame):
                batch_ctx = BatchContext(
                    file_uid=record.uid, path=ctx.path, log_format=fmt, application=record.source, now=self.now
                )
                if item.prepared is not None:
                    self.sink.process(self.store, frame, batch_ctx, item.prepared)  # type: ignore[call-arg]
                else:
                    self.sink.process(self.store, frame, batch_ctx)
        return record

    def _store_samples(self, record: FileRecord, path: str, rows: list[tuple[int, str, str]]) -> None:
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


def _first_per_reason(reasons: pa.Array, per_reason: int) -> list[tuple[int, str]]:
    """Positions of the first few rows of each reason (a handful of Python items at most)."""
    out: list[tuple[int, str]] = []
    for reason in pc.unique(reasons).to_pylist():
        positions = pc.indices_nonzero(pc.equal(reasons, reason)).slice(0, per_reason).to_pylist()
        out.extend((p, reason) for p in positions)
    return out
