"""Syslog-wrapped payloads: an access line, a JSON object or a web error line sent through
syslog (`Jul  8 11:07:07 web1 nginx[2869]: 1.2.3.4 - - [08/Jul/...] "GET / HTTP/1.1" ...`) is
parsed as its inner format; the syslog header's time, host, program and pid are kept.

Only messages whose first bytes could start such a payload are looked at (`_candidates`), so
an auth.log pays a few numpy operations on its message starts and nothing more.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from detector.parsing.arrowtext import as_string_array, string_offsets
from detector.parsing.base import ParseContext, ParseResult
from detector.parsing.detect import GUESSES, guess_formats
from detector.parsing.tables import merge_pieces

#: Inner formats a syslog message is parsed as (`access`: combined, then common).
INNER = ("access", "json", "nginx-error", "apache-error", "haproxy")
_KEPT = ("host.name", "process.name", "process.pid")
_DIGIT_OR_BRACE = np.zeros(256, dtype=bool)
for _char in b"0123456789{:":
    _DIGIT_OR_BRACE[_char] = True
_HEX = np.zeros(256, dtype=bool)
for _char in b"0123456789abcdefABCDEF":
    _HEX[_char] = True
_UPPER = np.zeros(256, dtype=bool)
for _char in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _UPPER[_char] = True

ParseFn = Callable[[pa.Array, str, ParseContext], ParseResult]


def _byte(raw: np.ndarray, starts: np.ndarray, sizes: np.ndarray, column: int) -> np.ndarray:
    """Byte `column` of every value (0 past its end)."""
    inside = sizes > column
    return np.where(inside, raw[np.minimum(starts + column, len(raw) - 1)], 0).astype(np.uint8)


def _candidates(message: pa.StringArray) -> np.ndarray:
    """Rows whose message could start an inner payload: a digit, `{` or `:` (an address, a JSON
    object, an nginx error time), an IPv6 address (hex digits then `:` within five bytes), or
    `[` and a capital (Apache's `[Sun Jun 07 ...`). Daemon messages (`Failed ...`, `pam_unix`,
    the kernel's `[12345.6]`) are left alone without a pass over their text."""
    offsets = string_offsets(message).astype(np.int64)
    data = message.buffers()[2]
    if data is None or len(message) == 0:
        return np.zeros(0, dtype=np.int64)
    raw = np.frombuffer(data, dtype=np.uint8)
    if len(raw) == 0:
        return np.zeros(0, dtype=np.int64)
    starts, sizes = offsets[:-1], np.diff(offsets)
    first = _byte(raw, starts, sizes, 0)
    hit = _DIGIT_OR_BRACE[first]
    hex_start = _HEX[first] & ~hit
    if hex_start.any():
        colon = np.zeros(len(message), dtype=bool)
        for column in range(1, 5):
            colon |= _byte(raw, starts, sizes, column) == ord(":")
        hit |= hex_start & colon
    hit |= (first == ord("[")) & _UPPER[_byte(raw, starts, sizes, 1)]
    if message.null_count:
        hit &= message.is_valid().to_numpy(zero_copy_only=False)
    return np.flatnonzero(hit)


def _inner_formats(guess: str) -> tuple[str, ...]:
    return ("combined", "common") if guess == "access" else (guess,)


def _with_header(inner: pa.Table, header: pa.Table) -> pa.Table:
    """The inner rows with the syslog header's time, host, program and pid.

    The header's time is when the line was logged, which is the order the file is in (what
    reading in event-time order and the correlation watermark rely on); a payload's own time
    may be earlier (HAProxy logs the accept time when the request ends) or missing (JSON)."""
    inner = inner.drop_columns([c for c in (*_KEPT, "log.time_source") if c in inner.column_names])
    for name in _KEPT:
        inner = inner.append_column(name, header.column(name))
    position = inner.column_names.index("@timestamp")
    return inner.set_column(position, "@timestamp", header.column("@timestamp"))


def unwrap(result: ParseResult, ctx: ParseContext, parse: ParseFn) -> ParseResult:
    """`result` (of syslog lines) with wrapped payload rows replaced by their inner parse."""
    table = result.table
    if not len(table) or "message" not in table.column_names:
        return result
    message = as_string_array(table.column("message"))
    rows = _candidates(message)
    if len(rows) == 0:
        return result
    guesses = guess_formats(message.take(pa.array(rows)))
    inner_codes = [GUESSES.index(fmt) for fmt in INNER if fmt in GUESSES]
    keep = np.isin(guesses, inner_codes)
    rows, guesses = rows[keep], guesses[keep]
    pieces: list[tuple[np.ndarray, pa.Table]] = []
    replaced = np.zeros(len(table), dtype=bool)
    for code in np.unique(guesses):
        todo = rows[guesses == code]
        for fmt in _inner_formats(GUESSES[code]):
            if len(todo) == 0:
                break
            inner = parse(message.take(pa.array(todo)), fmt, ctx)
            done = todo[inner.parsed_index.to_numpy()]
            header = table.select([*_KEPT, "@timestamp"]).take(pa.array(done))
            inner_table = _with_header(inner.table, header)
            pieces.append((done, inner_table))
            replaced[done] = True
            todo = todo[inner.unparsed_index.to_numpy()]
    if not pieces:
        return result
    outer = np.flatnonzero(~replaced)
    pieces.append((outer, table.take(pa.array(outer))))
    merged, _ = merge_pieces(pieces)
    return ParseResult(merged, result.parsed_index, result.unparsed_index, result.unparsed_reason)

