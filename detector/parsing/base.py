"""The parser contract: lines in (one Arrow string array), ECS columns out, no per-line Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa


@dataclass(frozen=True)
class ParseContext:
    """What a parser may know about the file the lines come from."""

    path: str
    timezone: str  # IANA zone for timestamps that carry no offset (syslog 3164, some app logs)
    file_mtime: datetime  # aware UTC; anchors the year of year-less syslog timestamps
    kind: str | None = None  # the source's configured log kind, overrides the format's default


@dataclass(frozen=True)
class ParseResult:
    """Parsed rows as an Arrow table plus where every input line went.

    `table` has one row per parsed line, in input order, with ECS columns from
    `detector.schema.ECS_FIELDS` (always `@timestamp`, `log.kind`, `log.format`) and, for
    application logs, the log's own keys flattened with dots. `parsed_index[i]` is the input
    position of table row i. Every other input line is in `unparsed_index` with a reason
    (`no-match`, `bad-timestamp`, `bad-json`, ...).
    """

    table: pa.Table
    parsed_index: pa.Array  # int64
    unparsed_index: pa.Array  # int64
    unparsed_reason: pa.Array  # string, same length as unparsed_index
