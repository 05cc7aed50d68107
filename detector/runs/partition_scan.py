"""What a Dask worker does with one partition: read its lines, parse them and evaluate the rules
with the library's own functions (`pipeline.parse_batch`, the sink's evaluator), and keep only
the rows correlation will read, as Arrow tables, with the counts and samples of everything else.

Pure but for reading the partition: a task that dies with its worker is simply run again
elsewhere (Dask retries), and nothing it did is recorded until the client has its result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from detector.errors import SourceReadError
from detector.parsing.base import ParseContext
from detector.pipeline import ParsedBatch, parse_batch
from detector.sources.partitions import Partition, PartitionEnd, PartitionReader
from detector.sources.reader import READ_ERRORS
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
) -> PartitionResult:
    """Read, parse and evaluate one partition (the Dask task). `evaluator`: the sink's remote
    half (`prepare` + `compact`), or None to ship whole frames (`ship_frames`) or none."""
    started = time.perf_counter()
    worker = worker_address()
    try:
        reader = PartitionReader(partition, chunk_size, max_line)
    except OSError as exc:
        raise SourceReadError(f"worker {worker} cannot read {partition.url}: {exc}") from None
    shipped: list[ShippedBatch] = []
    warning = None
    with reader:
        try:
            for batch, tail_hash in reader:
                item = parse_batch(batch, ctx, fmt, tail_hash)
                fmt = item.fmt
                shipped.append(_ship(item, evaluator, ship_frames))
        except READ_ERRORS as exc:  # a truncated archive still being written
            warning = f"logwarden: warning: {terminal_safe(partition.url)}: stopped reading ({exc})"
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


def _ship(item: ParsedBatch, evaluator: Any, ship_frames: bool) -> ShippedBatch:
    frame, prepared = item.frame, None
    if frame is not None and evaluator is not None:
        prepared = evaluator.prepare(frame)
        frame, prepared = evaluator.compact(frame, prepared)
    elif not ship_frames:
        frame = None
    rows = pa.Table.from_pandas(frame, preserve_index=False) if frame is not None else None
    slim = replace(item.batch, lines=_NO_LINES, offsets=_NO_ROWS, line_index=_NO_ROWS)
    return ShippedBatch(replace(item, batch=slim, frame=None, prepared=prepared), rows)


def worker_address() -> str:
    """This Dask worker's address ("client" when not on a worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "client"
