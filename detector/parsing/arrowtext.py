"""Vectorized text helpers over Arrow string arrays: the few building blocks every parser shares.

Everything here works on whole arrays with pyarrow.compute (RE2) and numpy; nothing loops over
rows in Python. Splitting on a separator is several times cheaper than regex capture groups, so
parsers split first and keep regexes for short heads or rare rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STRING = pa.string()


def as_string_array(values: pa.Array | pa.ChunkedArray) -> pa.StringArray:
    """One contiguous `string` array (parsers receive string or large_string, maybe chunked)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if values.type != pa.string():
        values = values.cast(pa.string())
    return values


def _list_positions(lists: pa.ListArray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Where element `index` of every list sits in `lists.values`, and whether it exists."""
    offsets = lists.offsets.to_numpy()
    starts, stops = offsets[:-1], offsets[1:]
    position = (starts + index) if index >= 0 else (stops + index)
    ok = (position >= starts) & (position < stops)
    if lists.null_count:
        ok &= lists.is_valid().to_numpy(zero_copy_only=False)
    return position, ok


def list_is(lists: pa.ListArray, index: int, value: str) -> np.ndarray:
    """Whether element `index` of every list equals `value` (False where missing), without
    materializing the elements: shape checks on split pieces stay cheap."""
    position, ok = _list_positions(lists, index)
    equal = mask_of(pc.equal(lists.values, value))
    return ok & equal[np.where(ok, position, 0)] if len(equal) else ok


def list_get(lists: pa.ListArray, index: int) -> pa.Array:
    """Element `index` of every list (negative counts from the end); null where the list is shorter.

    `pc.list_element` raises on a short list; hostile lines make short lists, so index by offsets.
    """
    position, ok = _list_positions(lists, index)
    if ok.all():
        return lists.values.take(pa.array(position))
    return lists.values.take(pa.array(np.where(ok, position, 0), mask=~ok))


def split_once(values: pa.Array, separator: str, reverse: bool = False) -> tuple[pa.Array, pa.Array]:
    """(before, after) the first (or, with `reverse`, the last) `separator`; after is null without one."""
    parts = pc.split_pattern(values, separator, max_splits=1, reverse=reverse)
    return list_get(parts, 0), list_get(parts, 1)


def null_if_equal(values: pa.Array, *placeholders: str) -> pa.Array:
    """Null where the value is one of `placeholders` (the `-` of access logs, empty strings)."""
    if len(placeholders) == 1:
        hit = pc.equal(values, placeholders[0])
    else:
        hit = pc.is_in(values, value_set=pa.array(placeholders, pa.string()))
    return pc.if_else(hit, pa.scalar(None, values.type), values)


def when(mask: pa.Array, values: pa.Array) -> pa.Array:
    """`values` where `mask` is true, null elsewhere (null mask counts as false)."""
    return pc.if_else(pc.fill_null(mask, False), values, pa.scalar(None, values.type))


def to_int(values: pa.Array, max_digits: int = 18, signed: bool = False) -> pa.Array:
    """int64 of decimal digit strings; null for anything else, never an error."""
    if signed:
        valid = pc.match_substring_regex(values, f"^-?[0-9]{{1,{max_digits}}}$")
    else:
        valid = pc.and_(pc.ascii_is_decimal(values), pc.less_equal(pc.binary_length(values), max_digits))
    return pc.cast(when(valid, values), pa.int64())


def scatter(values: pa.Array, rows: np.ndarray, length: int) -> pa.Array:
    """A `length`-long array holding values[i] at position rows[i] (ascending, distinct) and null
    everywhere else."""
    if len(rows) == length and (length == 0 or (rows[0] == 0 and rows[-1] == length - 1)):
        return values
    position = np.full(length, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows), dtype=np.int64)
    missing = position < 0
    return values.take(pa.array(np.where(missing, 0, position), mask=missing))


def assemble(pieces: list[tuple[np.ndarray, pa.Array]], length: int, type_: pa.DataType = STRING) -> pa.Array:
    """A `length`-long array from (rows, values) pieces; rows not in any piece are null.

    Rows must not repeat across pieces."""
    if not pieces:
        return pa.nulls(length, type_)
    rows = np.concatenate([rows for rows, _ in pieces])
    values = pa.concat_arrays([values.cast(type_) for _, values in pieces])
    order = np.argsort(rows, kind="stable")
    return scatter(values.take(pa.array(order)), rows[order], length)


def fill_rows(base: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """`base` with positions `rows` (ascending) replaced by `values` (same order)."""
    if len(rows) == 0:
        return base
    if values.type != base.type:
        values = values.cast(base.type)
    mask = np.zeros(len(base), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(base, pa.array(mask), values)


def string_offsets(values: pa.StringArray) -> np.ndarray:
    """The int32 offsets of a `string` array (length + 1 of them) into its data buffer."""
    raw = values.buffers()[1]
    if raw is None:
        return np.zeros(len(values) + 1, dtype=np.int32)
    return np.frombuffer(raw, dtype=np.int32)[values.offset : values.offset + len(values) + 1]


def holding_bytes(values: pa.Array, chars: bytes) -> np.ndarray:
    """Which strings hold one of the ASCII bytes `chars` (null: none), in one numpy pass over
    the data buffer: cheaper than a substring kernel per byte, which works value by value."""
    n = len(values)
    out = np.zeros(n, dtype=bool)
    if not n:
        return out
    wide = pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
    raw = values.buffers()[1]
    if raw is None or values.buffers()[2] is None:
        return out
    offsets = np.frombuffer(raw, dtype=np.int64 if wide else np.int32)[values.offset : values.offset + n + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[start:end]
    found = data == chars[0]
    for char in chars[1:]:
        found |= data == char
    positions = np.flatnonzero(found) + start
    if len(positions):
        out[np.searchsorted(offsets, positions, side="right") - 1] = True
    if values.null_count:
        out &= valid_mask(values)
    return out


def mask_of(values: pa.Array) -> np.ndarray:
    """A boolean Arrow array (nulls as false) as a numpy bool array."""
    if values.null_count:  # a kernel call of its own: only when there are nulls to fill
        values = pc.fill_null(values, False)
    return values.to_numpy(zero_copy_only=False)


def valid_mask(values: pa.Array) -> np.ndarray:
    """Where `values` is not null, as numpy."""
    if values.null_count == 0:
        return np.ones(len(values), dtype=bool)
    return values.is_valid().to_numpy(zero_copy_only=False)


def constant(value: str | None, length: int, type_: pa.DataType = STRING) -> pa.Array:
    """`length` copies of one value, cheaply."""
    return pa.repeat(pa.scalar(value, type_), length)


def group(match: pa.StructArray, name: str, empty_is_null: bool = True) -> pa.Array:
    """One capture group of `pc.extract_regex`: null where the row did not match, and (by default)
    where the group did not take part or matched nothing (RE2 reports those as '')."""
    values = pc.struct_field(match, name)
    return null_if_equal(values, "") if empty_is_null else values
