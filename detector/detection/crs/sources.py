"""A batch's requests as the variables CRS rules read (REQUEST_URI, ARGS, REQUEST_HEADERS, ...).

Every variable is kept as its distinct values plus, per element, the code of its value and the
row (request) it belongs to: CRS transformations and operators run on the distinct values only
(a busy site repeats its user agents, paths and parameters thousands of times per batch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.checklist.crs.model import Variable
from detector.checklist.crs.support import CASELESS_KEYS
from detector.parsing.arrowtext import fill_rows, holding_bytes, mask_of, split_once
from detector.parsing.urldecode import percent_decode

#: Columns a request variable is built from (DESIGN §4 names).
TARGET, METHOD, VERSION = "url.original", "http.request.method", "http.version"
HEADER_COLUMNS = {"user-agent": "user_agent.original", "referer": "http.request.referrer", "host": "url.domain"}
COOKIE_COLUMNS = ("http.request.cookies", "http.request.headers.cookie")
_ABSOLUTE = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*"
_LOGGED_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})|\\([\\\"])")


@dataclass(frozen=True)
class Source:
    """One variable of every request in the batch."""

    name: str
    values: pa.Array  # distinct values (string)
    codes: np.ndarray  # per element: index into `values`
    rows: np.ndarray  # per element: row of the frame
    keys: pa.Array | None = None  # per element: the key (argument / cookie name), collections only

    def __len__(self) -> int:
        return len(self.codes)


def _string(frame: pd.DataFrame, column: str) -> pa.Array | None:
    if column not in frame.columns:
        return None
    values = frame[column].array
    arr = values.__arrow_array__() if hasattr(values, "__arrow_array__") else pa.array(frame[column].astype(object))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    return arr.cast(pa.string())


def _unescape_one(text: str) -> str:
    raw = bytearray()
    position = 0
    for match in _LOGGED_ESCAPE.finditer(text):
        raw += text[position : match.start()].encode()
        raw += bytes([int(match.group(1), 16)]) if match.group(1) else match.group(2).encode()
        position = match.end()
    raw += text[position:].encode()
    return raw.decode("utf-8", errors="replace")


def unescape_logged(values: pa.Array) -> pa.Array:
    """Undo the escaping web servers apply when they log a request (`\\x22`, `\\"`, `\\\\`), so
    rules see the bytes the client sent. Only values holding a backslash are touched."""
    hit = holding_bytes(values, b"\\")  # the regex only where there is a backslash
    candidates = np.flatnonzero(hit)
    if len(candidates):
        hit[candidates] = mask_of(pc.match_substring_regex(values.take(pa.array(candidates)), r"\\(?:x[0-9a-fA-F]{2}|[\\\"])"))
    if not hit.any():
        return values
    rows = np.flatnonzero(hit)
    fixed = [_unescape_one(t) for t in values.take(pa.array(rows)).to_pylist()]
    return fill_rows(values, rows, pa.array(fixed, pa.string()))


def _encode(name: str, values: pa.Array, rows: np.ndarray, keys: pa.Array | None = None) -> Source:
    encoded = pc.dictionary_encode(values)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return Source(name, encoded.dictionary, codes, rows, keys)


def _recode(name: str, values: pa.Array, codes: np.ndarray, rows: np.ndarray, keys: pa.Array | None = None) -> Source:
    """A source from `values` given per distinct target (`codes[i]`: the target of element i;
    null values drop their elements), itself reduced to distinct values."""
    encoded = pc.dictionary_encode(values)
    inner = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)[codes]
    keep = inner >= 0
    if not keep.all():
        inner, rows = inner[keep], rows[keep]
        keys = None if keys is None else keys.filter(pa.array(keep))
    return Source(name, encoded.dictionary, inner.astype(np.int32), rows, keys)


def _ragged(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The concatenated ranges start..start+count-1 of each pair (numpy, no loop)."""
    total = int(counts.sum())
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + (np.arange(total) - offsets)


def _present(values: pa.Array, rows: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    valid = mask_of(pc.is_valid(values))
    if valid.all():
        return values, rows
    return values.filter(pa.array(valid)), rows[valid]


def _pairs(lists: pa.ListArray, rows: np.ndarray, separator: str, decode: bool) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Flattened `name=value` items of each row's list: (names, values, row of each)."""
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    items = pc.list_flatten(lists)
    item_rows = np.repeat(rows, np.nan_to_num(lengths, nan=0).astype(np.int64))
    keep = mask_of(pc.not_equal(pc.utf8_trim_whitespace(items), ""))
    items, item_rows = items.filter(pa.array(keep)), item_rows[keep]
    names, values = split_once(items, separator)
    values = pc.fill_null(values, "")
    if decode:
        names, values = percent_decode(names, plus_as_space=True), percent_decode(values, plus_as_space=True)
    else:
        names = pc.utf8_trim_whitespace(names)
    return names, values, item_rows


class RequestView:
    """The request variables of one batch, built on first use and cached."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.n = len(frame)
        target = _string(frame, TARGET)
        kind = _string(frame, "log.kind")
        request = np.zeros(self.n, dtype=bool) if target is None else mask_of(pc.is_valid(target))
        if kind is not None:  # error logs repeat the request line of an access-log line
            request &= ~mask_of(pc.equal(kind, "web-error"))
        self.request = request
        self.rows = np.flatnonzero(request)
        self._targets: pa.Array | None = None  # distinct request targets (unescaped)
        self._target_codes = np.zeros(0, dtype=np.int64)  # per request: its target
        if target is not None:
            encoded = pc.dictionary_encode(target.take(pa.array(self.rows)))
            self._targets = unescape_logged(encoded.dictionary)
            self._target_codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        self._sources: dict[str, Source | None] = {}
        self._target_parts: tuple[pa.Array, pa.Array] | None = None
        self._argument_parts: tuple[pa.Array, pa.Array, np.ndarray, np.ndarray, pa.Array] | None = None
        self.has_column = {name: column in frame.columns for name, column in HEADER_COLUMNS.items()}

    def source(self, name: str) -> Source | None:
        if name not in self._sources:
            self._sources[name] = self._build(name) if len(self.rows) else None
        return self._sources[name]

    def _column(self, column: str, unescape: bool = False) -> tuple[pa.Array, np.ndarray] | None:
        values = _string(self.frame, column)
        if values is None:
            return None
        values, rows = _present(values.take(pa.array(self.rows)), self.rows)
        return (unescape_logged(values) if unescape else values), rows

    def _split_target(self) -> tuple[pa.Array, pa.Array]:
        if self._target_parts is None:
            self._target_parts = self._split_target_once()
        return self._target_parts

    def _split_target_once(self) -> tuple[pa.Array, pa.Array]:
        """(path, query) of each distinct target."""
        path, query = split_once(self._targets, "?")
        absolute = mask_of(pc.match_substring_regex(path, _ABSOLUTE))
        if absolute.any():
            path = pc.if_else(pa.array(absolute), pc.replace_substring_regex(path, _ABSOLUTE, ""), path)
        return path, query

    def _build(self, name: str) -> Source | None:
        if name in ("REQUEST_URI", "REQUEST_FILENAME", "REQUEST_BASENAME", "QUERY_STRING", "ARGS", "ARGS_NAMES"):
            return self._from_target(name)
        if name in ("REQUEST_METHOD", "REQUEST_PROTOCOL", "REQUEST_LINE"):
            return self._from_request_line(name)
        if name.startswith("header:"):
            found = self._column(HEADER_COLUMNS[name[len("header:"):]], unescape=True)
            return None if found is None else _encode(name, *found)
        if name in ("COOKIES", "COOKIE_NAMES"):
            return self._cookies(name)
        return None

    def _from_target(self, name: str) -> Source | None:
        """Variables of the request target, each worked out once per distinct target."""
        codes, rows = self._target_codes, self.rows
        if name == "REQUEST_URI":
            return _recode(name, self._targets, codes, rows)
        path, query = self._split_target()
        if name == "REQUEST_FILENAME":
            return _recode(name, path, codes, rows)
        if name == "REQUEST_BASENAME":
            return _recode(name, pc.replace_substring_regex(path, r"^.*/", ""), codes, rows)
        if name == "QUERY_STRING":
            return _recode(name, query, codes, rows)
        return self._arguments(name, query)

    def _arguments(self, name: str, query: pa.Array) -> Source:
        """ARGS / ARGS_NAMES: the query of each distinct target split and decoded once (for
        both), then repeated for every request with that target."""
        if self._argument_parts is None:
            self._argument_parts = self._split_arguments(query)
        names, args, items, rows, keys = self._argument_parts
        return _recode(name, args if name == "ARGS" else names, items, rows, keys)

    def _split_arguments(self, query: pa.Array) -> tuple[pa.Array, pa.Array, np.ndarray, np.ndarray, pa.Array]:
        """(names, values) of the distinct targets' arguments, and per element (argument of a
        request) its item, row and key."""
        valid = np.flatnonzero(mask_of(pc.is_valid(query)))
        names, args, owner = _pairs(pc.split_pattern(query.take(pa.array(valid)), "&"), np.arange(len(valid)), "=", decode=True)
        counts = np.bincount(valid[owner], minlength=len(self._targets)).astype(np.int64)
        starts = np.zeros(len(self._targets), dtype=np.int64)
        starts[valid] = np.searchsorted(owner, np.arange(len(valid)))
        per_request = counts[self._target_codes]
        items = _ragged(starts[self._target_codes], per_request)
        rows = np.repeat(self.rows, per_request)
        keys = names.take(pa.array(items))
        return names, args, items, rows, keys

    def _from_request_line(self, name: str) -> Source | None:
        method = self._column(METHOD)
        if method is None:
            return None
        if name == "REQUEST_METHOD":
            return _encode(name, *method)
        version = _string(self.frame, VERSION)
        version = pa.nulls(self.n, pa.string()) if version is None else version
        versions = pc.dictionary_encode(version.take(pa.array(self.rows)))  # a few distinct versions
        protocols = pc.binary_join_element_wise("HTTP/", versions.dictionary, "")
        protocol_codes = pc.fill_null(versions.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        if name == "REQUEST_PROTOCOL":
            present = protocol_codes >= 0
            return _recode(name, protocols, protocol_codes[present], self.rows[present])
        return self._request_line(name, protocols, protocol_codes)

    def _request_line(self, name: str, protocols: pa.Array, protocol_codes: np.ndarray) -> Source:
        """`METHOD TARGET PROTOCOL` built once per distinct (method, target, protocol) of the
        batch, not once per request (the strings are long; requests repeat them)."""
        methods = pc.dictionary_encode(_string(self.frame, METHOD).take(pa.array(self.rows)))  # type: ignore[union-attr]
        method_codes = pc.fill_null(methods.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        present = method_codes >= 0  # no method: no request line
        width_m, width_p = len(methods.dictionary) + 1, len(protocols) + 1
        combined = (self._target_codes * width_m + method_codes + 1) * width_p + protocol_codes + 1
        combos, inverse = np.unique(combined[present], return_inverse=True)
        target, rest = np.divmod(combos, width_m * width_p)
        method, protocol = np.divmod(rest, width_p)
        method_of = methods.dictionary.take(pa.array(method - 1))
        target_of = self._targets.take(pa.array(target))  # type: ignore[union-attr]
        protocol_of = protocols.take(pa.array(protocol - 1, pa.int64(), mask=protocol == 0))
        line = pc.binary_join_element_wise(method_of, target_of, " ")
        line = pc.coalesce(pc.binary_join_element_wise(line, protocol_of, " "), line)
        return _recode(name, line, inverse.reshape(-1), self.rows[present])

    def _cookies(self, name: str) -> Source | None:
        column = next((c for c in COOKIE_COLUMNS if c in self.frame.columns), None)
        found = None if column is None else self._column(column)
        if found is None:
            return None
        names, values, rows = _pairs(pc.split_pattern(found[0], ";"), found[1], "=", decode=False)
        return _encode(name, values if name == "COOKIES" else names, rows, keys=names)

    def count(self, var: Variable) -> np.ndarray | None:
        """`&VAR` per row, and None for the rows (all of them here) where the log cannot tell."""
        counts = np.zeros(self.n, dtype=np.int64)
        known = self.request.copy()
        if var.name == "REQUEST_HEADERS" and not var.key_regex and var.key in HEADER_COLUMNS:
            source = self.source("header:" + var.key)
            present = np.zeros(self.n, dtype=bool)
            if source is not None:
                present[source.rows] = True
            # a combined log writes `-` for a missing User-Agent or Referer; a missing Host
            # (or any header of another format) cannot be told from one not logged
            fmt = _string(self.frame, "log.format")
            combined = np.zeros(self.n, dtype=bool) if fmt is None else mask_of(pc.equal(fmt, "combined"))
            known &= present | (combined if var.key != "host" else False)
            counts[present] = 1
            return np.where(known, counts, -1)
        parts = source_parts(var)
        if len(parts) != 1 or var.name.startswith("REQUEST_HEADERS"):
            return None
        source = self.source(parts[0][0])
        if source is not None:
            np.add.at(counts, source.rows[key_filter(source, var)], 1)
        return np.where(known, counts, -1)


def source_parts(var: Variable) -> list[tuple[str, Variable | None]]:
    """The sources a variable reads, each with the key selection to apply (None: all keys)."""
    name = var.name
    if name in ("ARGS", "ARGS_GET"):
        return [("ARGS", var if var.key else None)]
    if name in ("ARGS_NAMES", "ARGS_GET_NAMES"):
        return [("ARGS_NAMES", var if var.key else None)]
    if name == "REQUEST_COOKIES":
        return [("COOKIES", var if var.key else None)]
    if name == "REQUEST_COOKIES_NAMES":
        return [("COOKIE_NAMES", var if var.key else None)]
    if name == "REQUEST_HEADERS":
        if var.key is None:
            return [("header:" + h, None) for h in HEADER_COLUMNS]
        if var.key_regex:
            pattern = re.compile(var.key, re.I)  # header names only, never log content
            return [("header:" + h, None) for h in HEADER_COLUMNS if pattern.search(h)]
        return [("header:" + var.key, None)] if var.key in HEADER_COLUMNS else []
    if name == "REQUEST_URI_RAW":
        return [("REQUEST_URI", None)]
    return [(name, None)]


def key_filter(source: Source, var: Variable | None) -> np.ndarray:
    """Which elements of `source` have the key `var` selects (all when `var` is None)."""
    if var is None or var.key is None or source.keys is None:
        return np.ones(len(source), dtype=bool)
    caseless = var.name in CASELESS_KEYS or var.name.startswith("ARGS")
    if var.key_regex:
        return mask_of(pc.match_substring_regex(source.keys, var.key, ignore_case=caseless))
    keys = pc.utf8_lower(source.keys) if caseless else source.keys
    return mask_of(pc.equal(keys, var.key.lower() if caseless else var.key))
