"""Put parsed pieces of one batch back together in line order (formats differ in columns)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from detector.parsing.base import ParseResult
from detector.parsing.result import empty_result


def merge_pieces(pieces: list[tuple[np.ndarray, pa.Table]]) -> tuple[pa.Table, np.ndarray]:
    """One table from (input rows, table) pieces, ordered by input row; and those rows, sorted.

    Columns missing from a piece are null there (every column has one type: its ECS type, or
    string for an application log's own keys)."""
    pieces = [(rows, table) for rows, table in pieces if len(rows)]
    if not pieces:
        return empty_result("syslog").table.slice(0, 0), np.zeros(0, dtype=np.int64)
    if len(pieces) == 1:
        rows, table = pieces[0]
        order = np.argsort(rows, kind="stable")
        if (order == np.arange(len(order))).all():
            return table, rows
        return table.take(pa.array(order)), rows[order]
    rows = np.concatenate([rows for rows, _ in pieces])
    table = pa.concat_tables([table for _, table in pieces], promote_options="default")
    order = np.argsort(rows, kind="stable")
    return table.take(pa.array(order)), rows[order]


def result_of(
    pieces: list[tuple[np.ndarray, pa.Table]], failed: list[tuple[np.ndarray, pa.Array]], length: int
) -> ParseResult:
    """A ParseResult over `length` input lines from parsed pieces and (rows, reasons) failures."""
    table, parsed = merge_pieces(pieces)
    if failed:
        rows = np.concatenate([rows for rows, _ in failed])
        reasons = pa.concat_arrays([reasons.cast(pa.string()) for _, reasons in failed])
        order = np.argsort(rows, kind="stable")
        rows, reasons = rows[order], reasons.take(pa.array(order))
    else:
        rows, reasons = np.zeros(0, dtype=np.int64), pa.array([], pa.string())
    assert len(parsed) + len(rows) == length, "every line lands once"
    return ParseResult(
        table=table,
        parsed_index=pa.array(parsed.astype(np.int64), pa.int64()),
        unparsed_index=pa.array(rows.astype(np.int64), pa.int64()),
        unparsed_reason=reasons,
    )
