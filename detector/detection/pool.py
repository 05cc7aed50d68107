"""A scenario's waiting events as one Arrow table: what its windows can still use, per group.

Rows are *references* to log lines (file uid, offset) with the few values a window needs (time,
rule, counted value, group key). The line text is kept in memory while this process holds the
row, and never persisted: after a restart, lines are read back from the files only for the
groups that fire. Every operation is vectorized over the table; Python objects (`Event`) are
made only for the rows of the groups that take the per-event path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache, reduce

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.detection.events import Event, Group

LineKey = tuple[str, int]  # (file uid, byte offset)
ReadBack = Callable[[list[LineKey]], dict[LineKey, str]]

BASE_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("key", pa.string()),
    ("ts", pa.int64()),
    ("rule", pa.string()),
    ("value", pa.string()),
    ("file_uid", pa.string()),
    ("path", pa.string()),
    ("kind", pa.string()),
    ("app", pa.string()),
    ("offset", pa.int64()),
)
LINE = ("line", pa.large_string())  # memory only
CARRIED = "carry:"  # prefix of the columns holding values of fields carried for entity links


@lru_cache(maxsize=1 << 16)
def group_key(group: Group) -> str:
    """A group's key in pools and state (JSON of its values; the busy ones are cached)."""
    return json.dumps(list(group), separators=(",", ":"))


def pool_schema(carry: Sequence[str] = ()) -> pa.Schema:
    fields = [*BASE_FIELDS, LINE, *((CARRIED + name, pa.string()) for name in carry)]
    return pa.schema([pa.field(name, kind) for name, kind in fields])


def empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


def carried_names(schema: pa.Schema) -> tuple[str, ...]:
    return tuple(name[len(CARRIED):] for name in schema.names if name.startswith(CARRIED))


def from_events(events: Sequence[Event], schema: pa.Schema) -> pa.Table:
    """Rows for events that exist as objects (the few of the groups on the per-event path)."""
    columns: dict[str, list] = {name: [] for name in schema.names}
    carry = carried_names(schema)
    for e in events:
        columns["key"].append(group_key(e.group))
        columns["ts"].append(e.ts)
        columns["rule"].append(e.rule)
        columns["value"].append(e.value)
        columns["file_uid"].append(e.file_uid)
        columns["path"].append(e.path)
        columns["kind"].append(e.log_kind)
        columns["app"].append(e.application)
        columns["offset"].append(e.offset)
        columns["line"].append(e.line)
        fields = e.fields or {}
        for name in carry:
            columns[CARRIED + name].append(fields.get(name))
    return pa.table({name: pa.array(columns[name], schema.field(name).type) for name in schema.names}, schema=schema)


def to_events(table: pa.Table, groups: dict[str, Group], read_back: ReadBack | None) -> list[Event]:
    """Events of `table`'s rows; lines this process does not hold are read back."""
    if not table.num_rows:
        return []
    data = {name: table.column(name).to_pylist() for name in table.schema.names}
    lines = data["line"]
    missing = [(uid, off) for uid, off, line in zip(data["file_uid"], data["offset"], lines) if line is None]
    found = read_back(missing) if missing and read_back is not None else {}
    carry = carried_names(table.schema)
    out = []
    for i in range(table.num_rows):
        line = lines[i]
        if line is None:
            line = found.get((data["file_uid"][i], data["offset"][i]), "")
        fields = {name: data[CARRIED + name][i] for name in carry if data[CARRIED + name][i] is not None} or None
        key = data["key"][i]
        group = groups.get(key) or tuple(json.loads(key))
        out.append(
            Event(data["ts"][i], data["rule"][i], group, data["value"][i], data["file_uid"][i], data["offset"][i],
                  data["path"][i], line, data["kind"][i] or "", data["app"][i], fields)
        )
    return out


def rows_with_keys(table: pa.Table, keys: Iterable[str]) -> np.ndarray:
    """Boolean mask of the rows whose group key is one of `keys`."""
    wanted = pa.array(list(keys), pa.string())
    if not len(wanted) or not table.num_rows:
        return np.zeros(table.num_rows, dtype=bool)
    return pc.is_in(table.column("key"), value_set=wanted).to_numpy(zero_copy_only=False)


def codes_in(table: pa.Table, keys: list[str]) -> np.ndarray:
    """Per row: the index of its group key in `keys`, -1 when absent."""
    if not table.num_rows:
        return np.empty(0, np.int64)
    found = pc.index_in(table.column("key"), value_set=pa.array(keys, pa.string()))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def key_codes(table: pa.Table) -> np.ndarray:
    """A dense integer per distinct group key of the rows."""
    if not table.num_rows:
        return np.empty(0, np.int64)
    encoded = pc.dictionary_encode(table.column("key")).combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def filter_rows(table: pa.Table, mask: np.ndarray) -> pa.Table:
    if mask.all():
        return table
    return table.filter(pa.array(mask))


def concat(tables: Sequence[pa.Table]) -> pa.Table:
    parts = [t for t in tables if t.num_rows]
    if not parts:
        return tables[0].slice(0, 0)
    if len(parts) == 1:
        return parts[0]
    return pa.concat_tables(parts).combine_chunks()


def pool_keys_for(table: pa.Table, entity: Sequence[str], group_by: Sequence[str]) -> set[str] | None:
    """Group keys of another grouping (`group_by`) for the rows of a pool grouped by `entity`:
    values from the row's own key, else from its carried columns. None when a field is in
    neither. One Python step per distinct combination, not per row."""
    if not set(group_by) <= set(entity) | set(carried_names(table.schema)):
        return None
    if not table.num_rows:
        return set()
    if tuple(group_by) == tuple(entity):
        return set(pc.unique(table.column("key")).to_pylist())
    if len(group_by) == 1 and group_by[0] not in entity:  # one carried field: its distinct values
        values = pc.unique(table.column(CARRIED + group_by[0])).to_pylist()
        return {group_key((value,)) for value in values if value is not None}
    carried = [CARRIED + name for name in group_by if name not in entity]
    columns = (["key"] if any(name in entity for name in group_by) else []) + carried
    rows = table.select(columns)
    known = reduce(pc.and_, [pc.is_valid(rows.column(name)) for name in carried])
    distinct = rows.filter(known).group_by(columns).aggregate([]).to_pylist()
    keys = set()
    for row in distinct:
        values = dict(zip(entity, json.loads(row["key"]))) if "key" in row else {}
        values.update({name: row[CARRIED + name] for name in group_by if name not in entity})
        if all(values.get(name) is not None for name in group_by):
            keys.add(group_key(tuple(values[name] for name in group_by)))
    return keys


# -- persistence: Arrow IPC blobs (one per time bucket of a scenario), without the line text ---


def to_blob(table: pa.Table) -> bytes:
    stored = table.drop_columns(["line"])
    sink = pa.BufferOutputStream()
    # uncompressed: a bucket is a few hundred rows, and a compressor's set-up per column buffer
    # costs 20-30x the copy
    with pa.ipc.new_stream(sink, stored.schema) as writer:
        writer.write_table(stored)
    return sink.getvalue().to_pybytes()


def from_blob(blob: bytes, schema: pa.Schema) -> pa.Table:
    """The stored rows with the scenario's current schema (carried columns it lacks are null)."""
    stored = pa.ipc.open_stream(pa.py_buffer(blob)).read_all()
    columns = {}
    for field in schema:
        if field.name in stored.schema.names:
            columns[field.name] = pc.cast(stored.column(field.name), field.type)
        else:
            columns[field.name] = pa.nulls(stored.num_rows, field.type)
    return pa.table(columns, schema=schema).combine_chunks()
