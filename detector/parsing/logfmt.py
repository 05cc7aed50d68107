"""logfmt application logs: `ts=2026-11-23T10:00:00Z level=warn msg="login failed" user=bob`.

One global RE2 replacement marks every `key=value` pair with NUL separators (the reader removes
NUL bytes from lines, so they cannot clash with content), one split turns each line into
[prefix, key, =value, key, =value, ...], and the (line, key, value) triples are pivoted into
columns with a sort by key: no loop over lines, a loop over distinct keys only.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import fill_rows, group, mask_of, scatter
from detector.parsing.base import ParseContext, ParseResult
from detector.parsing.fieldmap import map_fields, select_keys
from detector.parsing.result import NO_MATCH, Verdicts, build_result

MAX_KEYS = 256
PAIR = r'[ \t]*([^\s="]+)(=(?:"(?:[^"\\]|\\.)*"|[^\s"]*))?'
VALUE = r'^=(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s"]*))'
#: Separates pairs in the marked line, and stands for `\\` while the other escapes are undone.
#: Lines never contain NUL (the reader drops it; `_triples` strips it from direct callers).
_PLACEHOLDER = "\x00"


def _unescape(quoted: pa.Array) -> pa.Array:
    """Undo `\\"`, `\\\\`, `\\n`, `\\t`, `\\r` inside quoted values."""
    if not mask_of(pc.match_substring_regex(quoted, r"\\")).any():
        return quoted
    text = pc.replace_substring(quoted, "\\\\", _PLACEHOLDER)
    for escape, char in (('\\"', '"'), ("\\n", "\n"), ("\\t", "\t"), ("\\r", "\r")):
        text = pc.replace_substring(text, escape, char)
    return pc.replace_substring(text, _PLACEHOLDER, "\\")


def _triples(lines: pa.Array) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """(line index, key, value) of every `key=value` pair; bare keys are left out."""
    if mask_of(pc.match_substring_regex(lines, r"\x00")).any():
        lines = pc.replace_substring(lines, _PLACEHOLDER, "")
    marked = pc.replace_substring_regex(lines, PAIR, "\x00\\1\x00\\2")
    items = pc.split_pattern(marked, _PLACEHOLDER)
    flat = items.flatten()
    parent = pc.list_parent_indices(items).to_numpy()
    offsets = items.offsets.to_numpy()
    position = np.arange(len(flat)) - offsets[parent]
    key_at = np.flatnonzero((position % 2 == 1))
    value_at = key_at + 1
    inside = value_at < len(flat)
    key_at, value_at = key_at[inside], value_at[inside]
    same_line = parent[value_at] == parent[key_at]
    key_at, value_at = key_at[same_line], value_at[same_line]
    values = flat.take(pa.array(value_at))
    has_value = mask_of(pc.starts_with(values, "="))
    key_at, values = key_at[has_value], values.filter(pa.array(has_value))
    # Plain `=value` is the value itself; quoted values (and junk after a value) need the regex.
    text = pc.utf8_slice_codeunits(values, 1)
    tricky = np.flatnonzero(mask_of(pc.match_substring_regex(text, r'[\s"]')))
    if len(tricky):
        raw = values.take(pa.array(tricky))
        parts = pc.extract_regex(raw, VALUE)
        quoted = _unescape(group(parts, "quoted", empty_is_null=False))
        exact = pc.if_else(pc.starts_with(raw, '="'), quoted, group(parts, "bare", empty_is_null=False))
        text = fill_rows(text, tricky, exact)
    return parent[key_at], flat.take(pa.array(key_at)), text


def _pivot(rows: np.ndarray, keys: pa.Array, values: pa.Array, length: int) -> dict[str, pa.Array]:
    """One full-length column per distinct key; a key repeated on a line keeps its first value."""
    if len(rows) == 0:
        return {}
    encoded = pc.dictionary_encode(keys)
    codes = encoded.indices.to_numpy()
    names = encoded.dictionary.to_pylist()
    order = np.lexsort((np.arange(len(codes)), rows, codes))
    sorted_codes, sorted_rows = codes[order], rows[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (sorted_codes[1:] != sorted_codes[:-1]) | (sorted_rows[1:] != sorted_rows[:-1])
    order, sorted_codes, sorted_rows = order[first], sorted_codes[first], sorted_rows[first]
    bounds = np.searchsorted(sorted_codes, np.arange(len(names) + 1))
    counts = {name: int(bounds[code + 1] - bounds[code]) for code, name in enumerate(names)}
    keep = select_keys(counts, MAX_KEYS)
    columns: dict[str, pa.Array] = {}
    for code, name in enumerate(names):
        if name not in keep:
            continue
        segment = slice(bounds[code], bounds[code + 1])
        taken = values.take(pa.array(order[segment]))
        columns[name] = scatter(taken, sorted_rows[segment], length)
    return columns


def parse_logfmt(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    length = len(lines)
    rows, keys, values = _triples(lines)
    verdicts = Verdicts(length)
    has_pair = np.zeros(length, dtype=bool)
    has_pair[rows] = True
    verdicts.fail(~has_pair, NO_MATCH)
    fields, timestamp = map_fields(_pivot(rows, keys, values, length), length, ctx.timezone)
    return build_result(fields, verdicts, fmt, ctx.kind or "application", timestamp)
