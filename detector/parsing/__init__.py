"""Parsing: lines in, ECS columns out, vectorized (DESIGN §2, §4, §11).
Pure: may import only the top modules (model, errors, textsafe); no I/O.

`parse_lines` turns an Arrow array of lines into a ParseResult; `sniff_format` picks the format
of a file from its first lines by running the real parsers on them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.access import parse_access
from detector.parsing.arrowtext import as_string_array, string_offsets
from detector.parsing.base import ParseContext, ParseResult
from detector.parsing.jsonlog import parse_json
from detector.parsing.logfmt import parse_logfmt
from detector.parsing.result import empty_result
from detector.parsing.syslog import parse_syslog
from detector.parsing.weberror import parse_apache_error, parse_nginx_error
from detector.schema import FORMATS

Parser = Callable[[pa.StringArray, str, ParseContext], ParseResult]

PARSERS: dict[str, Parser] = {
    "combined": parse_access,
    "common": parse_access,
    "apache-error": parse_apache_error,
    "nginx-error": parse_nginx_error,
    "json": parse_json,
    "logfmt": parse_logfmt,
    "syslog": parse_syslog,
}
#: Order of preference when two formats read a sample equally well: the stricter first
#: (every combined line is also a common line; kernel firewall lines look like logfmt).
SNIFF_ORDER = ("combined", "common", "apache-error", "nginx-error", "syslog", "json", "logfmt")
assert set(PARSERS) == set(FORMATS) == set(SNIFF_ORDER)

#: Lines are parsed in slices of about this many bytes (the reader's default chunk size).
SLICE_BYTES = 8 << 20

_SNIFF_CONTEXT = ParseContext(path="<sniff>", timezone="UTC", file_mtime=datetime.now(timezone.utc))


def parse_lines(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    """Parse `lines` (string or large_string, one line each, no newline) as format `fmt`.

    A very large array is parsed in slices of about SLICE_BYTES: the intermediate columns of a
    slice stay in cache and in the allocator's pool, which is faster and bounds memory."""
    parser = PARSERS.get(fmt)
    if parser is None:
        raise ValueError(f"unknown log format {fmt!r}; known formats: {', '.join(FORMATS)}")
    text = as_string_array(lines)
    if len(text) == 0:
        return empty_result(fmt)
    bounds = _slice_bounds(text)
    if len(bounds) == 2:
        return parser(text, fmt, ctx)
    results = [
        parser(text.slice(start, stop - start), fmt, ctx) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return _concat(results, bounds[:-1])


def _slice_bounds(text: pa.StringArray) -> np.ndarray:
    """Line numbers where slices of about SLICE_BYTES begin, plus the end."""
    offsets = string_offsets(text).astype(np.int64)
    targets = np.arange(offsets[0], offsets[-1], SLICE_BYTES)
    starts = np.unique(np.concatenate(([0], np.searchsorted(offsets[:-1], targets, side="left"))))
    return np.concatenate((starts[starts < len(text)], [len(text)]))


def _concat(results: list[ParseResult], starts: np.ndarray) -> ParseResult:
    """One ParseResult from the results of consecutive slices starting at `starts`."""

    def shifted(arrays: list[pa.Array]) -> pa.Array:
        return pa.concat_arrays([pc.add(array, int(start)) for array, start in zip(arrays, starts, strict=True)])

    return ParseResult(
        table=pa.concat_tables([result.table for result in results], promote_options="default"),
        parsed_index=shifted([result.parsed_index for result in results]),
        unparsed_index=shifted([result.unparsed_index for result in results]),
        unparsed_reason=pa.concat_arrays([result.unparsed_reason for result in results]),
    )


def sniff_format(sample: list[str]) -> str | None:
    """The format that parses the largest share (at least half) of `sample`, else None.

    Lines that fit a format but carry no usable time (`bad-timestamp`) count only when no
    format parses half of the sample outright: a JSON log without timestamps is still JSON.
    """
    lines = [line for line in sample if line.strip()]
    if not lines:
        return None
    array = pa.array(lines, pa.string())
    scores: dict[str, tuple[int, int]] = {}
    for fmt in SNIFF_ORDER:
        result = parse_lines(array, fmt, _SNIFF_CONTEXT)
        reasons = np.array(result.unparsed_reason.to_pylist(), dtype=object)
        undated = int((reasons == "bad-timestamp").sum())
        scores[fmt] = (len(result.table), len(result.table) + undated)
    half = len(lines) / 2
    for tier in (0, 1):
        best = max(SNIFF_ORDER, key=lambda fmt: scores[fmt][tier])  # first of equals wins
        if scores[best][tier] >= half:
            return best
    return None


__all__ = ["PARSERS", "ParseContext", "ParseResult", "parse_lines", "sniff_format"]
