"""Assemble a ParseResult from full-length columns and a per-line verdict.

Parsers work on columns as long as the input (null where a field is absent) and record, per
line, why it failed (0 = parsed). Only here are the parsed rows filtered out, every column
cast to its ECS type, and the constant columns added.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from detector.parsing.arrowtext import constant
from detector.parsing.base import ParseResult
from detector.schema import ECS_FIELDS, TIMESTAMP

PARSED = 0
NO_MATCH = 1
BAD_TIMESTAMP = 2
BAD_JSON = 3
REASONS = np.array(["", "no-match", "bad-timestamp", "bad-json"], dtype=object)

#: Columns the pipeline adds itself; a log's own key with one of these names is dropped.
PIPELINE_COLUMNS = frozenset({"log.original", "log.offset", "log.file.path"})
#: Columns every row carries, set here.
FIXED_COLUMNS = ("@timestamp", "event.kind", "log.kind", "log.format")


class Verdicts:
    """Why each input line is not (yet) parsed; the first failure recorded for a line wins."""

    def __init__(self, length: int) -> None:
        self.codes = np.zeros(length, dtype=np.int8)

    def fail(self, mask: np.ndarray, reason: int) -> None:
        self.codes[mask & (self.codes == PARSED)] = reason

    @property
    def parsed(self) -> np.ndarray:
        return self.codes == PARSED


def _as_ecs_type(name: str, values: pa.Array) -> pa.Array:
    target = ECS_FIELDS.get(name, pa.string())
    if values.type == target:
        return values
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), target)
    return values.cast(target)


def build_result(
    columns: dict[str, pa.Array],
    verdicts: Verdicts,
    fmt: str,
    kind: str | pa.Array,
    timestamp: pa.Array,
) -> ParseResult:
    """The ParseResult for one batch.

    `columns` are full-length (one entry per input line); `timestamp` is UTC (null rows must
    already be failed as bad-timestamp); `kind` is a constant or a per-line array.
    """
    verdicts.fail(~timestamp.is_valid().to_numpy(zero_copy_only=False), BAD_TIMESTAMP)
    keep = verdicts.parsed
    selector = None if keep.all() else pa.array(keep)
    count = int(keep.sum())

    def pick(values: pa.Array) -> pa.Array:
        return values if selector is None else values.filter(selector)

    names: list[str] = []
    arrays: list[pa.Array] = []
    names.append("@timestamp")
    arrays.append(pick(_as_ecs_type("@timestamp", timestamp.cast(TIMESTAMP))))
    names.append("event.kind")
    arrays.append(constant("event", count))
    names.append("log.kind")
    arrays.append(constant(kind, count) if isinstance(kind, str) else pick(kind.cast(pa.string())))
    names.append("log.format")
    arrays.append(constant(fmt, count))
    for name, values in columns.items():
        if name in FIXED_COLUMNS or name in PIPELINE_COLUMNS:
            continue
        names.append(name)
        arrays.append(pick(_as_ecs_type(name, values)))
    table = pa.Table.from_arrays(arrays, names=names)

    failed = np.flatnonzero(~keep)
    return ParseResult(
        table=table,
        parsed_index=pa.array(np.flatnonzero(keep), pa.int64()),
        unparsed_index=pa.array(failed, pa.int64()),
        unparsed_reason=pa.array(REASONS[verdicts.codes[failed]], pa.string()),
    )


def empty_result(fmt: str) -> ParseResult:
    """No lines in, nothing out (still with the fixed columns, correctly typed)."""
    return build_result({}, Verdicts(0), fmt, "", pa.nulls(0, TIMESTAMP))
