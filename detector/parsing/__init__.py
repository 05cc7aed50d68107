"""Parsing: lines in, ECS columns out, vectorized (DESIGN §2, §4, §11, §12).
Pure: may import only the top modules (model, errors, textsafe, schema, yamlsafe); no I/O.

`parse_any` reads a batch line by line in whatever format each line is in: the file's usual
format first, then a prefix guess (`detect.py`) for the lines it could not read; syslog-wrapped
payloads are unwrapped (`unwrap.py`) and service messages classified by the event catalog
(`catalog/`). `parse_lines` reads a batch in one given format; `sniff_format` picks a format
from a sample by running the real parsers on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.access import parse_access
from detector.parsing.arrowtext import as_string_array, constant, mask_of, string_offsets
from detector.parsing.base import ParseContext, ParseResult
from detector.parsing.detect import COMMENT, GUESSES, guess_formats
from detector.parsing.jsonlog import parse_json
from detector.parsing.logfmt import parse_logfmt
from detector.parsing.result import empty_result
from detector.parsing.auditd import parse_auditd
from detector.parsing.stamped import parse_bare, parse_stamped
from detector.parsing.syslog import parse_syslog
from detector.parsing.tables import result_of
from detector.parsing.unwrap import unwrap
from detector.parsing.webaccess import parse_alb, parse_haproxy
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
    "haproxy": parse_haproxy,
    "aws-alb": parse_alb,
    "auditd": parse_auditd,
    "stamped": parse_stamped,
    "bare": parse_bare,
}
#: Order of preference when two formats read a sample equally well: the stricter first
#: (every combined line is also a common line; kernel firewall lines look like logfmt).
SNIFF_ORDER = (
    "combined", "common", "apache-error", "nginx-error", "syslog", "haproxy", "aws-alb", "auditd", "json", "logfmt",
    "stamped", "bare",
)
assert set(PARSERS) == set(FORMATS) == set(SNIFF_ORDER)

#: Lines are parsed in slices of about this many bytes (the reader's default chunk size).
SLICE_BYTES = 8 << 20

_SNIFF_CONTEXT = ParseContext(path="<sniff>", timezone="UTC", file_mtime=datetime.now(timezone.utc))


def _parse_format(text: pa.StringArray, fmt: str, ctx: ParseContext) -> ParseResult:
    """One format's parser; syslog lines get their wrapped payloads unwrapped."""
    result = PARSERS[fmt](text, fmt, ctx)
    return unwrap(result, ctx, parse_lines) if fmt == "syslog" else result


def parse_lines(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    """Parse `lines` (string or large_string, one line each, no newline) as format `fmt`.

    A very large array is parsed in slices of about SLICE_BYTES: the intermediate columns of a
    slice stay in cache and in the allocator's pool, which is faster and bounds memory."""
    if fmt not in PARSERS:
        raise ValueError(f"unknown log format {fmt!r}; known formats: {', '.join(FORMATS)}")
    text = as_string_array(lines)
    if len(text) == 0:
        return empty_result(fmt)
    bounds = _slice_bounds(text)
    if len(bounds) == 2:
        return _parse_format(text, fmt, ctx)
    results = [
        _parse_format(text.slice(start, stop - start), fmt, ctx) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
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


@dataclass(frozen=True)
class MixedResult:
    """A batch read line by line: the result, and the format most of its lines were in."""

    result: ParseResult
    usual: str | None


#: Reasons for which a line is tried again in a guessed format.
RETRY_REASONS = ("no-match", "bad-json")


def parse_any(lines: pa.Array, usual: str | None, ctx: ParseContext) -> MixedResult:
    """Parse each line in its own format: `usual` (the file's) first, then the guessed format
    (`detect.py`) of the lines `usual` could not read. Lines no format reads keep the reason
    of the last parser that tried them (`comment` for comment lines, `unknown-format` when no
    format fits at all)."""
    text = as_string_array(lines)
    pieces: list[tuple[np.ndarray, pa.Table]] = []
    failed: list[tuple[np.ndarray, pa.Array]] = []
    counts: dict[str, int] = {}
    todo = np.arange(len(text), dtype=np.int64)
    if usual is not None and len(text):
        first = parse_lines(text, usual, ctx)
        pieces.append((first.parsed_index.to_numpy(), first.table))
        counts[usual] = len(first.table)
        retry = mask_of(pc.is_in(first.unparsed_reason, value_set=pa.array(RETRY_REASONS)))
        unparsed = first.unparsed_index.to_numpy()
        failed.append((unparsed[~retry], first.unparsed_reason.filter(pa.array(~retry))))
        todo = unparsed[retry]
    if len(todo):
        _parse_guessed(text, todo, usual, ctx, pieces, failed, counts)
    best = max(counts, key=lambda fmt: counts[fmt]) if counts and max(counts.values()) else usual
    return MixedResult(result_of(pieces, failed, len(text)), best)


def _parse_guessed(
    text: pa.StringArray,
    todo: np.ndarray,
    usual: str | None,
    ctx: ParseContext,
    pieces: list[tuple[np.ndarray, pa.Table]],
    failed: list[tuple[np.ndarray, pa.Array]],
    counts: dict[str, int],
) -> None:
    """Guess the format of lines `todo`, parse each group with its parser (see parse_any)."""
    guesses = guess_formats(text.take(pa.array(todo)))
    for code in np.unique(guesses):
        rows = todo[guesses == code]
        guess = GUESSES[code] if code >= 0 else None
        if guess is None or guess == COMMENT:
            # nothing fits: the usual format's verdict stands; a file without one is unknown
            reason = guess or ("unknown-format" if usual is None else "no-match")
            failed.append((rows, constant(reason, len(rows))))
            continue
        reasons = constant("no-match", len(rows))
        for fmt in ("combined", "common") if guess == "access" else (guess,):
            if fmt == usual or len(rows) == 0:
                continue
            result = parse_lines(text.take(pa.array(rows)), fmt, ctx)
            pieces.append((rows[result.parsed_index.to_numpy()], result.table))
            counts[fmt] = counts.get(fmt, 0) + len(result.table)
            rows, reasons = rows[result.unparsed_index.to_numpy()], result.unparsed_reason
        if len(rows):
            failed.append((rows, reasons))


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


__all__ = ["PARSERS", "MixedResult", "ParseContext", "ParseResult", "parse_any", "parse_lines", "sniff_format"]
