"""Event times the reading order is decided on: of a file's next unread lines, and of a batch."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing import parse_any
from detector.parsing.base import ParseContext
from detector.sources.checkpoints import Assignment
from detector.sources.reader import READ_ERRORS, open_log

PEEK_BYTES = 64 << 10
PEEK_LINES = 20


def peek_event_time(assignment: Assignment, ctx: ParseContext) -> int | None:
    """The earliest event time (microseconds) among the first complete lines at the file's
    read offset; None when nothing there parses (unknown format, no time, nothing new)."""
    file = assignment.file
    try:
        with open_log(file.path, file.compression) as handle:
            handle.seek(assignment.record.offset)
            data = handle.read(PEEK_BYTES)
    except READ_ERRORS:
        return None
    lines = data.split(b"\n")[:-1][:PEEK_LINES]
    text = [line.rstrip(b"\r").decode("utf-8", errors="replace") for line in lines if line.strip()]
    if not text:
        return None
    result = parse_any(pa.array(text, pa.large_string()), assignment.record.format, ctx).result
    return _min_us(result.table.column("@timestamp")) if len(result.table) else None


def newest_event(frame: pd.DataFrame | None) -> int | None:
    """The newest event time (microseconds) of a batch frame."""
    if frame is None or not len(frame):
        return None
    values = frame["@timestamp"].array.__arrow_array__()
    newest = pc.max(pc.cast(values, pa.int64())).as_py()
    return int(newest) if newest is not None else None


def _min_us(column: pa.ChunkedArray) -> int | None:
    oldest = pc.min(pc.cast(column, pa.int64())).as_py()
    return int(oldest) if oldest is not None else None
