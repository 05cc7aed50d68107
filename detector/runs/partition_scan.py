"""What a Dask worker does with one partition: read its lines, parse them and evaluate the rules
with the library's own functions (`pipeline.parse_batch`, the sink's evaluator), and keep only
the rows correlation will read, as Arrow tables, with the counts and samples of everything else.

Pure but for reading the partition: a task that dies with its worker is simply run again
elsewhere (Dask retries), and nothing it did is recorded until the client has its result.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from detector.errors import SourceReadError
from detector.parsing.base import ParseContext
from detector.pipeline import ParsedBatch, parse_batch
from detector.sources.partitions import Partition, PartitionEnd, PartitionReader
from detector.sources.reader import READ_ERRORS, Batch, Rejected
from detector.textsafe import terminal_safe

_NO_LINES = pa.array([], pa.large_string())
_NO_ROWS = np.empty(0, np.int64)


@dataclass(frozen=True)
class ShippedBatch:
    """One batch as it travels back: everything but the frame in `item` (the batch's lines
    dropped), and the rows the sink will read as an Arrow table (None: nothing parsed)."""

    item: ParsedBatch
    rows: pa.Table | None

    def unpacked(self) -> ParsedBatch:
        if self.rows is None:
            return self.item
        return replace(self.item, frame=self.rows.to_pandas(types_mapper=pd.ArrowDtype))


@dataclass(frozen=True)
class PartitionResult:
    partition: Partition
    batches: tuple[ShippedBatch, ...]
    end: PartitionEnd
    warning: str | None  # reading stopped early (a truncated archive), as the local engine warns
    worker: str
    seconds: float  # wall time on the worker
    lines: int
    bytes: int


def scan_partition(
    partition: Partition,
    fmt: str | None,
    ctx: ParseContext,
    evaluator: Any,
    ship_frames: bool,
    chunk_size: int,
    max_line: int,
    batch_chunks: int = 1,
) -> PartitionResult:
    """Read, parse and evaluate one partition (the Dask task). `evaluator`: the sink's remote
    half (`prepare`, `compact`, `merge`), or None to ship whole frames (`ship_frames`) or none.
    Batches are read, parsed and matched `chunk_size` at a time, as locally, and shipped as
    they are (`batch_chunks` 1: the client correlates exactly the local engine's batches) or
    merged `batch_chunks` at a time (each batch has a fixed cost on the client, the one serial
    stage; but today's correlation finds slightly different things in coarser batches)."""
    started = time.perf_counter()
    worker = worker_address()
    try:
        reader = PartitionReader(partition, chunk_size, max_line)
    except OSError as exc:
        raise SourceReadError(f"worker {worker} cannot read {partition.url}: {exc}") from None
    shipped: list[ShippedBatch] = []
    group: list[tuple[ParsedBatch, pd.DataFrame | None, Any]] = []
    warning = None
    with reader:
        try:
            for batch, tail_hash in reader:
                item = parse_batch(batch, ctx, fmt, tail_hash)
                fmt = item.fmt
                group.append(_evaluated(item, evaluator, ship_frames))
                if len(group) >= batch_chunks:
                    shipped.append(_ship(group, evaluator))
                    group = []
        except READ_ERRORS as exc:  # a truncated archive still being written
            warning = f"logwarden: warning: {terminal_safe(partition.url)}: stopped reading ({exc})"
            reader.finish()
    if group:
        shipped.append(_ship(group, evaluator))
    return PartitionResult(
        partition=partition,
        batches=tuple(shipped),
        end=reader.end,
        warning=warning,
        worker=worker,
        seconds=time.perf_counter() - started,
        lines=sum(s.item.batch.lines_total for s in shipped),
        bytes=sum(s.item.batch.end_offset - s.item.batch.start_offset for s in shipped),
    )


def _evaluated(item: ParsedBatch, evaluator: Any, ship_frames: bool) -> tuple[ParsedBatch, pd.DataFrame | None, Any]:
    """The batch's summary (its lines dropped), the rows to ship and the sink's `prepared`."""
    frame, prepared = item.frame, None
    if frame is not None and evaluator is not None:
        prepared = evaluator.prepare(frame)
        frame, prepared = evaluator.compact(frame, prepared)
    elif not ship_frames:
        frame = None
    slim = replace(item.batch, lines=_NO_LINES, offsets=_NO_ROWS, line_index=_NO_ROWS)
    return replace(item, batch=slim, frame=None, prepared=None), frame, prepared


def _ship(group: list[tuple[ParsedBatch, pd.DataFrame | None, Any]], evaluator: Any) -> ShippedBatch:
    """Consecutive batches of the partition as one."""
    item = merged_summary([g[0] for g in group])
    parts = [(frame, prepared) for _, frame, prepared in group if frame is not None]
    frame, prepared = None, None
    if parts and evaluator is not None:
        frame, prepared = evaluator.merge(parts)
    elif parts:
        frame = pd.concat([f for f, _ in parts], ignore_index=True)
    rows = pa.Table.from_pandas(frame, preserve_index=False) if frame is not None else None
    return ShippedBatch(replace(item, prepared=prepared), rows)


def merged_summary(items: list[ParsedBatch]) -> ParsedBatch:
    """What `Ingest` needs of consecutive batches of one file (counts, samples, event times,
    checkpoint tail), as one batch without lines or frame."""
    if len(items) == 1:
        return items[0]
    first, last = items[0], items[-1]
    batch = Batch(
        lines=_NO_LINES, offsets=_NO_ROWS, line_index=_NO_ROWS,
        start_offset=first.batch.start_offset, end_offset=last.batch.end_offset,
        lines_total=sum(i.batch.lines_total for i in items), blank=sum(i.batch.blank for i in items),
        repaired=_summed(i.batch.repaired for i in items), rejected=Rejected(),
    )
    newest = [i.newest for i in items if i.newest is not None]
    firsts = [i.first_event for i in items if i.first_event is not None]
    lasts = [i.last_event for i in items if i.last_event is not None]
    kinds = sorted({k for i in items if i.kinds for k in i.kinds.split(",")})
    warnings = list(dict.fromkeys(i.warning for i in items if i.warning))
    return ParsedBatch(
        batch=batch, tail_hash=last.tail_hash, fmt=last.fmt, frame=None, parsed=sum(i.parsed for i in items),
        unparsed_counts=_summed(i.unparsed_counts for i in items),
        unparsed_samples=tuple(s for i in items for s in i.unparsed_samples),
        warning="\n".join(warnings) or None, newest=max(newest) if newest else None,
        first_event=min(firsts) if firsts else None, last_event=max(lasts) if lasts else None,
        kinds=",".join(kinds) or None,
    )


def _summed(counters: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counter in counters:
        for key, value in counter.items():
            total[key] = total.get(key, 0) + value
    return total


def worker_address() -> str:
    """This Dask worker's address ("client" when not on a worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "client"
