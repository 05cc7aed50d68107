"""Request targets: split path and query, percent-decode once, over the whole column at a time.

Decoding works on the concatenated bytes of the rows that contain escapes (numpy), so
`/a%2e%2e/%2e%2e/etc/passwd` becomes `/a../../etc/passwd` for rules to see. Invalid escapes
(`%zz`, a `%` at the end) are left as they are; a row whose decoded bytes are not valid UTF-8
(`%ff`) keeps its raw text, since Arrow strings must be UTF-8.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import fill_rows, group, holding_bytes, mask_of, split_once, string_offsets, valid_mask

_HEX = np.full(256, -1, dtype=np.int16)
for _code, _char in enumerate(b"0123456789abcdef"):
    _HEX[_char] = _code
for _code, _char in enumerate(b"ABCDEF", start=10):
    _HEX[_char] = _code

#: Whole-value UTF-8 validity, run in Latin-1 mode over binary (each byte is one character).
_UTF8 = (
    r"^(?:[\x00-\x7F]|[\xC2-\xDF][\x80-\xBF]|\xE0[\xA0-\xBF][\x80-\xBF]|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}"
    r"|\xED[\x80-\x9F][\x80-\xBF]|\xF0[\x90-\xBF][\x80-\xBF]{2}|[\xF1-\xF3][\x80-\xBF]{3}"
    r"|\xF4[\x80-\x8F][\x80-\xBF]{2})*$"
)
_ABSOLUTE = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*"
# The host of an absolute-form target (`http://user@host:8080/p`, what proxies log) or of an
# authority-form one (`host:443`, CONNECT).
_ABSOLUTE_HOST = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(?P<host>\[[^\]/]*\]|[^/?#:]*)"
_AUTHORITY_HOST = r"^(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$"


def _decode_block(values: pa.StringArray, plus_as_space: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decoded bytes and offsets for every row of `values` (no nulls), and which rows changed bytes >= 0x80."""
    offsets = string_offsets(values).astype(np.int64)
    raw = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    data = raw.copy()
    if plus_as_space:
        data[data == ord("+")] = ord(" ")
    percent = np.flatnonzero(raw == ord("%"))
    row = np.searchsorted(offsets, percent, side="right") - 1
    inside = percent + 2 < offsets[row + 1]
    percent, row = percent[inside], row[inside]
    high = _HEX[raw[percent + 1]]
    low = _HEX[raw[percent + 2]]
    escape = (high >= 0) & (low >= 0)
    percent, row = percent[escape], row[escape]
    decoded = (high[escape] * 16 + low[escape]).astype(np.uint8)
    data[percent] = decoded
    keep = np.ones(len(data), dtype=bool)
    keep[percent + 1] = False
    keep[percent + 2] = False
    removed = np.bincount(row, minlength=len(offsets) - 1) * 2
    new_offsets = offsets - np.concatenate(([0], np.cumsum(removed)))
    non_ascii = np.zeros(len(offsets) - 1, dtype=bool)
    non_ascii[row[decoded >= 0x80]] = True
    return data[keep], new_offsets, non_ascii


def percent_decode(values: pa.Array, plus_as_space: bool = False) -> pa.Array:
    """Percent-decode every value once (and `+` -> space for query strings)."""
    touched = holding_bytes(values, b"%+" if plus_as_space else b"%")
    if not touched.any():
        return values
    rows = np.flatnonzero(touched)
    subset = values.filter(pa.array(touched))
    data, offsets, non_ascii = _decode_block(subset, plus_as_space)
    decoded = pa.Array.from_buffers(
        pa.binary(), len(subset), [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    )
    if non_ascii.any():  # only the rows that decoded to non-ASCII bytes can be malformed
        suspect = np.flatnonzero(non_ascii)
        bad = np.zeros(len(decoded), dtype=bool)
        bad[suspect] = ~mask_of(pc.match_substring_regex(decoded.take(pa.array(suspect)), _UTF8))
        if bad.any():
            decoded = pc.if_else(pa.array(bad), subset.cast(pa.binary()), decoded)
    text = decoded.cast(pa.string())
    return fill_rows(values, rows, text)


def split_target(target: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(url.path, url.query) of a request target, both percent-decoded; query null without `?`.

    An absolute target (`http://host/x`, proxies log those) yields just its path."""
    path, query = split_once(target, "?")
    absolute = mask_of(pc.match_substring_regex(path, _ABSOLUTE))
    if absolute.any():
        stripped = pc.replace_substring_regex(path, _ABSOLUTE, "", max_replacements=1)
        stripped = pc.if_else(pc.equal(stripped, ""), "/", stripped)
        path = pc.if_else(pa.array(absolute), stripped, path)
    return percent_decode(path), percent_decode(query, plus_as_space=True)


def target_host(target: pa.Array) -> pa.Array:
    """The host a request target names itself: absolute-form (`http://host/p`) or
    authority-form (`host:443`); null for the usual origin-form `/path` (regex only on the
    few rows that do not start with `/`)."""
    other = np.flatnonzero(valid_mask(target) & ~mask_of(pc.starts_with(target, "/")))
    hosts = pa.nulls(len(target), pa.string())
    if not len(other):
        return hosts
    subset = target.take(pa.array(other))
    found = pc.coalesce(
        group(pc.extract_regex(subset, _ABSOLUTE_HOST), "host"),
        group(pc.extract_regex(subset, _AUTHORITY_HOST), "host"),
    )
    return fill_rows(hosts, other, found)
