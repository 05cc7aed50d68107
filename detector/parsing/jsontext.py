"""Arrow values back to text, column at a time: JSON lists as compact JSON, scalars as their JSON text.

Application logs keep their own keys as string columns; a list value (`"roles": ["a", "b"]`)
becomes `["a","b"]`, a number `42`, a boolean `true`.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import mask_of

_NAMED_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quote(values: pa.Array) -> pa.Array:
    """JSON string literals: quotes around, `\\`, `"` and control characters escaped."""
    escaped = pc.replace_substring(values, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    if mask_of(pc.match_substring_regex(escaped, r"[\x00-\x1f]")).any():
        for code in range(0x20):
            char = chr(code)
            escaped = pc.replace_substring(escaped, char, _NAMED_ESCAPES.get(char, f"\\u{code:04x}"))
    return pc.binary_join_element_wise('"', escaped, '"', "")


def json_text(values: pa.Array) -> pa.Array:
    """Every value as compact JSON text; nulls become `null` (they sit inside lists here)."""
    return pc.fill_null(_json_or_null(values), "null")


def _json_or_null(values: pa.Array) -> pa.Array:
    kind = values.type
    if pa.types.is_null(kind):
        return pa.nulls(len(values), pa.string())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _quote(values.cast(pa.string()))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        lengths = pc.fill_null(pc.list_value_length(values), 0).to_numpy(zero_copy_only=False)
        offsets = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64))).astype(np.int32)
        children = json_text(values.flatten())
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), children), ",")
        text = pc.binary_join_element_wise("[", joined, "]", "")
        return pc.if_else(values.is_valid(), text, pa.scalar(None, pa.string()))
    if pa.types.is_struct(kind):
        members = [
            pc.binary_join_element_wise(json.dumps(field.name, ensure_ascii=False), json_text(values.field(index)), ":")
            for index, field in enumerate(kind)
        ]
        body = pc.binary_join_element_wise(*members, ",") if members else pa.repeat(pa.scalar(""), len(values))
        text = pc.binary_join_element_wise("{", body, "}", "")
        return pc.if_else(values.is_valid(), text, pa.scalar(None, pa.string()))
    return scalar_text(values)


def scalar_text(values: pa.Array) -> pa.Array:
    """Numbers, booleans and timestamps as text (`true`/`false`, `42`, `1.5`)."""
    if pa.types.is_boolean(values.type):
        return pc.if_else(values, "true", "false")
    return values.cast(pa.string())


def as_text(values: pa.Array) -> pa.Array:
    """A top-level value column as strings: text as is, lists/objects as JSON, null stays null."""
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return values.cast(pa.string())
    if pa.types.is_null(kind):
        return pa.nulls(len(values), pa.string())
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_struct(kind):
        return _json_or_null(values)
    return scalar_text(values)
