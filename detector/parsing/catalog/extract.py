"""A template's RE2 capture extraction, without walking a long uncaptured tail.

RE2 extracts captures with a backtracker that walks the whole match: for `Accepted publickey
for %{user} from %{ip} port %{port}(?: ssh[12])?(?:: .*)?$` half the cost is the key after the
port, which nothing captures. So a pattern `^P T`, where P is literal text and named groups
and T captures nothing, is extracted as `^P`, and T is checked where that match ends (a DFA
match in a view of the same bytes). Under leftmost-first semantics `^P T` takes the first way
P matches after which T matches; where T matches after `^P`'s own match, that is it. Rows
where T does not match there are extracted with the whole pattern, so the captures are
always the whole pattern's.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import fill_rows, mask_of, string_offsets, valid_mask
from detector.parsing.catalog.model import group_scan, literal_run

#: Below this many rows a second kernel call costs more than the tail saves.
MIN_ROWS = 64
_QUANTIFIERS = ("?", "*", "+", "{")  # a character or group they follow is not exactly once


class TailSplit(NamedTuple):
    """`^head` + tail: the head's literal bytes and groups give where its match ends."""

    head: str
    tail: str
    literal_bytes: int
    groups: tuple[str, ...]


def extract(values: pa.StringArray, pattern: str) -> tuple[pa.StructArray, np.ndarray]:
    """`pc.extract_regex(values, pattern)` and where it matched."""
    split = tail_split(pattern)
    if split is None or len(values) < MIN_ROWS or values.null_count:
        match = pc.extract_regex(values, pattern)
        return match, valid_mask(match)
    match = pc.extract_regex(values, split.head)
    ok = valid_mask(match)
    fields = [pc.struct_field(match, name) for name in split.groups]
    ends = np.full(len(values), split.literal_bytes, dtype=np.int64)
    for field in fields:
        ends += pc.fill_null(pc.binary_length(field), 0).to_numpy(zero_copy_only=False)
    redo = ok & ~_matches_after(values, np.where(ok, ends, 0), split.tail)
    if not redo.any():
        return match, ok
    rows = np.flatnonzero(redo)
    again = pc.extract_regex(values.take(pa.array(rows)), pattern)
    ok[rows] = valid_mask(again)
    fields = [fill_rows(field, rows, pc.struct_field(again, name)) for field, name in zip(fields, split.groups, strict=True)]
    return pa.StructArray.from_arrays(fields, names=list(split.groups), mask=pa.array(~ok)), ok


def _matches_after(values: pa.StringArray, skip: np.ndarray, pattern: str) -> np.ndarray:
    """Whether `pattern` matches each value from byte skip[i] on: run on a view of the data
    buffer whose pieces alternate between those suffixes and the prefixes they leave out."""
    offsets = string_offsets(values).astype(np.int64)
    bounds = np.empty(2 * len(values), dtype=np.int32)
    bounds[0::2] = offsets[:-1] + skip
    bounds[1::2] = offsets[1:]
    view = pa.StringArray.from_buffers(2 * len(values) - 1, pa.py_buffer(bounds), values.buffers()[2])
    return mask_of(pc.match_substring_regex(view, pattern))[0::2]


@lru_cache(maxsize=512)
def tail_split(pattern: str) -> TailSplit | None:
    """The split of `^P T` (P: literal characters and named groups, ending in a group; T: no
    group, and a `.*` worth skipping), or None."""
    if not pattern.startswith("^"):
        return None
    i, groups, cut, literal, head_bytes = 1, [], 0, 0, 0
    while i < len(pattern):
        if pattern.startswith("(?P<", i):
            close = _group_end(pattern, i)
            if close is None or pattern[close + 1 : close + 2] in _QUANTIFIERS:
                break
            groups.append(pattern[i + 4 : pattern.index(">", i)])
            i = cut = close + 1
            head_bytes = literal
            continue
        run, used = literal_run(pattern[i:], _QUANTIFIERS)
        if not used:
            break
        literal += len(run.encode("utf-8"))
        i += used
    tail = pattern[cut:]
    if not groups or "(?P<" in tail or ".*" not in tail or "\\b" in tail or "\\B" in tail or "^" in tail:
        return None
    return TailSplit(pattern[:cut], "^" + tail, head_bytes, tuple(groups))


def _group_end(pattern: str, start: int) -> int | None:
    """Index of the `)` closing the group opening at `start` (escapes and classes read)."""
    return group_scan(pattern, start)[1]
