"""Matched lines as correlation events: columns for the whole batch, Python objects on demand.

A busy auth log makes half its lines events (every internet scanner's failed login), so the
batch's events stay numpy columns (time, group code, rule, value code) while correlation
decides, vectorized, which groups could fire at all. Only the events of those groups, and
the few that stay pooled for the next batch, become `Event` tuples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.model import Evidence, iso

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
EVENT_ORDER = attrgetter("ts", "offset", "line")  # the total order of events (C-speed sort key)


def arrival_order(event: "Event") -> tuple[int, int, int, str]:
    """The order in which a chained scenario learns of events: by arrival, then event order."""
    return (event.ts if event.arrival is None else event.arrival, event.ts, event.offset, event.line)

Group = tuple[str | None, ...]


def to_us(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


class Event(NamedTuple):
    """One matched line (or a chained scenario's event) as correlation sees it.

    A NamedTuple, not a dataclass: tuple construction is several times cheaper. Identity
    (`id(event)`) is what correlation tracks, not equality."""

    ts: int  # microseconds since the epoch, UTC
    rule: str
    group: Group  # values of the scenario's entity fields
    value: str | None  # value_count: the counted field's value
    file_uid: str
    offset: int
    path: str
    line: str
    log_kind: str
    application: str | None
    fields: dict[str, str] | None = None  # values of other fields of the line (entity links)
    # when a chained scenario's finding handed the event over, in event time (its window's
    # firing point, or the arrival of what extended it): None, at its own time
    arrival: int | None = None

    @property
    def order(self) -> tuple[int, int, str]:
        return (self.ts, self.offset, self.line)

    def evidence(self) -> Evidence:
        return Evidence(
            path=self.path,
            offset=self.offset,
            line=self.line,
            timestamp=from_us(self.ts),
            log_kind=self.log_kind,
            file_uid=self.file_uid,
        )


def evidence_key(event: Event) -> list[Any]:
    """What identifies the first evidence of a finding independently of file paths and of
    which state database saw it (rotation renames files; cron and daemon use other DBs)."""
    return [iso(from_us(event.ts)), event.offset, hashlib.sha256(event.line.encode()).hexdigest()[:16]]


@dataclass
class EventBatch:
    """One scenario's events of one batch, as columns.

    `code[i]` indexes `groups`, `value_code[i]` indexes the batch's values (-1: none), and
    `rule_index[i]` indexes `rules`. `make(indices)` builds the `Event`s of those rows."""

    ts: np.ndarray  # int64 microseconds
    code: np.ndarray  # int64
    groups: list[Group]
    rule_index: np.ndarray  # int64
    rules: tuple[str, ...]
    value_code: np.ndarray  # int64, -1 where the event has no value
    values: list[str]
    make: Callable[[np.ndarray], list[Event]]
    # where the rows' lines are: file_uid, path, kind, app, offset, line and carried fields
    # ("carry:<field>"), as Arrow arrays (what a pool keeps of an event)
    refs: Callable[[np.ndarray], dict[str, pa.Array]] = lambda rows: {}

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def empty(cls) -> "EventBatch":
        none = np.empty(0, np.int64)
        return cls(none, none, [], none, (), none, [], lambda _rows: [])

    @classmethod
    def of(cls, events: Sequence[Event]) -> "EventBatch":
        """Events that already exist as objects (a chained scenario's forwarded events)."""
        groups: dict[Group, int] = {}
        rules: dict[str, int] = {}
        values: dict[str, int] = {}
        code = np.fromiter((groups.setdefault(e.group, len(groups)) for e in events), np.int64, len(events))
        rule_index = np.fromiter((rules.setdefault(e.rule, len(rules)) for e in events), np.int64, len(events))
        value_code = np.fromiter(
            (-1 if e.value is None else values.setdefault(e.value, len(values)) for e in events), np.int64, len(events)
        )
        ts = np.fromiter((e.ts for e in events), np.int64, len(events))
        kept = list(events)

        def refs(rows: np.ndarray) -> dict[str, pa.Array]:
            picked = [kept[i] for i in rows]
            names = sorted({name for e in picked for name in (e.fields or {})})
            out = {
                "file_uid": pa.array([e.file_uid for e in picked], pa.string()),
                "path": pa.array([e.path for e in picked], pa.string()),
                "kind": pa.array([e.log_kind for e in picked], pa.string()),
                "app": pa.array([e.application for e in picked], pa.string()),
                "offset": pa.array([e.offset for e in picked], pa.int64()),
                "line": pa.array([e.line for e in picked], pa.large_string()),
            }
            for name in names:
                out["carry:" + name] = pa.array([(e.fields or {}).get(name) for e in picked], pa.string())
            return out

        return cls(ts, code, list(groups), rule_index, tuple(rules), value_code, list(values),
                   lambda rows: [kept[i] for i in rows], refs)

    def concat(self, other: "EventBatch") -> "EventBatch":
        if not len(other):
            return self
        if not len(self):
            return other
        groups, group_remap = _merge_names(self.groups, other.groups)
        rules, rule_remap = _merge_names(list(self.rules), list(other.rules))
        values, value_remap = _merge_names(self.values, other.values)
        other_values = (
            np.where(other.value_code >= 0, value_remap[np.maximum(other.value_code, 0)], -1)
            if len(value_remap) else other.value_code
        )
        split = len(self)
        mine, theirs = self.make, other.make

        def make(rows: np.ndarray) -> list[Event]:
            rows = np.asarray(rows, np.int64)
            ours = rows < split
            made: list[Event | None] = [None] * len(rows)
            for position, event in zip(np.flatnonzero(ours).tolist(), mine(rows[ours])):
                made[position] = event
            for position, event in zip(np.flatnonzero(~ours).tolist(), theirs(rows[~ours] - split)):
                made[position] = event
            return made  # type: ignore[return-value]

        mine_refs, their_refs = self.refs, other.refs

        def refs(rows: np.ndarray) -> dict[str, pa.Array]:
            rows = np.asarray(rows, np.int64)
            ours = np.flatnonzero(rows < split)
            theirs = np.flatnonzero(rows >= split)
            first, second = mine_refs(rows[ours]), their_refs(rows[theirs] - split)
            # back to the order of `rows`: position i of the concatenation holds row order[i]
            back = pa.array(np.argsort(np.concatenate([ours, theirs]), kind="stable"))
            out = {}
            for name in first.keys() | second.keys():
                kind = (first.get(name) if name in first else second[name]).type
                a = first.get(name, pa.nulls(len(ours), kind))
                b = second.get(name, pa.nulls(len(theirs), kind))
                out[name] = pa.concat_arrays([a.cast(kind), b.cast(kind)]).take(back)
            return out

        return EventBatch(
            ts=np.concatenate([self.ts, other.ts]),
            code=np.concatenate([self.code, group_remap[other.code]]),
            groups=groups,
            rule_index=np.concatenate([self.rule_index, rule_remap[other.rule_index]]),
            rules=tuple(rules),
            value_code=np.concatenate([self.value_code, other_values]),
            values=values,
            make=make,
            refs=refs,
        )


def _merge_names(mine: list, theirs: list) -> tuple[list, np.ndarray]:
    """`mine` extended by the new names of `theirs`, and where each of `theirs` landed."""
    index = {name: i for i, name in enumerate(mine)}
    merged = list(mine)
    remap = np.empty(len(theirs), np.int64)
    for j, name in enumerate(theirs):
        if name not in index:
            index[name] = len(merged)
            merged.append(name)
        remap[j] = index[name]
    return merged, remap


class FrameColumns:
    """A batch frame's columns as numpy arrays, computed once per batch and shared by every
    scenario (most scenarios of a kind match the same rows and group on the same fields)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._arrays: dict[str, pa.Array | None] = {}
        self._codes: dict[str, tuple[np.ndarray, list[str]]] = {}
        self._valid: dict[str, np.ndarray] = {}
        self._ts: np.ndarray | None = None
        self._taken: dict[tuple, pa.Array] = {}

    def array(self, name: str) -> pa.Array | None:
        if name not in self._arrays:
            if name in self.frame.columns:
                self._arrays[name] = self.frame[name].array.__arrow_array__().combine_chunks()
            else:
                self._arrays[name] = None
        return self._arrays[name]

    def valid(self, name: str) -> np.ndarray:
        """Rows where the column is non-null."""
        if name not in self._valid:
            values = self.array(name)
            if values is None:
                self._valid[name] = np.zeros(len(self.frame), dtype=bool)
            else:
                self._valid[name] = values.is_valid().to_numpy(zero_copy_only=False)
        return self._valid[name]

    def codes(self, name: str, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """(code of each of `rows`, -1 where null; the distinct values as text). Encoded over
        the whole column once when many rows ask (a busy auth log), else over just `rows`."""
        if name in self._codes:
            codes, names = self._codes[name]
            return codes[rows], names
        values = self.array(name)
        if values is None:
            return np.full(len(rows), -1, np.int64), []
        if 4 * len(rows) >= len(self.frame):
            self._codes[name] = _encode(values)
            return self.codes(name, rows)
        return _encode(values.take(pa.array(rows, pa.int64())))

    def timestamps(self) -> np.ndarray:
        """Microseconds since the epoch (the frame's timestamps are UTC, microsecond unit)."""
        if self._ts is None:
            values = self.array("@timestamp")
            assert values is not None
            self._ts = pc.cast(values, pa.int64()).fill_null(np.iinfo(np.int64).min).to_numpy(zero_copy_only=False)
        return self._ts

    def taken(self, name: str, rows: pa.Array, kind: pa.DataType) -> pa.Array:
        """The column's values at `rows`, as `kind` (nulls when the frame lacks the column).
        Several scenarios often keep the same rows (every login chain keeps the logins): they
        share one copy (Arrow arrays are immutable)."""
        values = self.array(name)
        if values is None:
            return pa.nulls(len(rows), kind)
        picked = rows.to_numpy(zero_copy_only=False)
        key = (name, str(kind), hashlib.blake2b(picked.tobytes(), digest_size=16).digest(), len(picked))
        found = self._taken.get(key)
        if found is None:
            found = self._taken[key] = pc.cast(values.take(rows), kind)
        return found

    def pylist(self, name: str, rows: np.ndarray) -> list:
        values = self.array(name)
        if values is None:
            return [None] * len(rows)
        return values.take(pa.array(rows, pa.int64())).to_pylist()


def _encode(values: pa.Array) -> tuple[np.ndarray, list[str]]:
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.string())
    encoded = pc.dictionary_encode(values)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def frame_events(
    columns: FrameColumns,
    hits: Sequence[tuple[str, np.ndarray]],
    entity: Sequence[str],
    required: Sequence[str],
    value_field: str | None,
    file_uid: str,
    path: str,
    application: str | None,
    carry: Sequence[str] = (),
) -> EventBatch:
    """The events of one scenario: every (rule, matched rows) pair, rows lacking a required
    field dropped (Sigma: events without the group-by field are not grouped)."""
    present = columns.valid("@timestamp")
    for name in required:
        present = present & columns.valid(name)
    parts_rows, parts_rule = [], []
    rule_names = []
    for rule_name, rows in hits:
        rows = rows[present[rows]]
        if len(rows):
            parts_rule.append(np.full(len(rows), len(rule_names), np.int64))
            parts_rows.append(rows)
            rule_names.append(rule_name)
    if not parts_rows:
        return EventBatch.empty()
    rows = np.concatenate(parts_rows)
    rule_index = np.concatenate(parts_rule)
    field_codes = [columns.codes(f, rows) for f in entity]
    if len(field_codes) == 1:
        (codes, names), = field_codes
        unique_codes, code = np.unique(codes, return_inverse=True)
        code = code.reshape(-1).astype(np.int64)
        groups = [(None if c < 0 else names[c],) for c in unique_codes.tolist()]
    elif field_codes:
        stacked = np.stack([codes for codes, _ in field_codes], axis=1)
        unique, code = np.unique(stacked, axis=0, return_inverse=True)
        code = code.reshape(-1).astype(np.int64)
        groups: list[Group] = [
            tuple(None if c < 0 else names[c] for c, (_, names) in zip(row, field_codes)) for row in unique.tolist()
        ]
    else:
        code = np.zeros(len(rows), np.int64)
        groups = [()]
    if value_field is not None:
        value_code, value_names = columns.codes(value_field, rows)
    else:
        value_names, value_code = [], np.full(len(rows), -1, np.int64)
    ts = columns.timestamps()[rows]
    rules = tuple(rule_names)

    def make(indices: np.ndarray) -> list[Event]:
        indices = np.asarray(indices, np.int64)
        if not len(indices):
            return []
        picked = rows[indices]
        offsets = columns.pylist("log.offset", picked)
        lines = columns.pylist("log.original", picked)
        kinds = columns.pylist("log.kind", picked)
        carried = _carried_fields(columns, carry, picked)
        return [
            Event(t, rules[r], groups[g], None if v < 0 else value_names[v], file_uid, o, path, line, k or "", application, f)
            for t, r, g, v, o, line, k, f in zip(
                ts[indices].tolist(), rule_index[indices].tolist(), code[indices].tolist(),
                value_code[indices].tolist(), offsets, lines, kinds, carried,
            )
        ]

    refs = _frame_refs(columns, rows, file_uid, path, application, carry)
    return EventBatch(ts, code, groups, rule_index, rules, value_code, value_names, make, refs)


def _frame_refs(
    columns: FrameColumns, rows: np.ndarray, file_uid: str, path: str, application: str | None, carry: Sequence[str]
) -> Callable[[np.ndarray], dict[str, pa.Array]]:
    """Where the lines of a scenario's events are (what a pool keeps of them), as columns."""

    def refs(indices: np.ndarray) -> dict[str, pa.Array]:
        picked = pa.array(rows[np.asarray(indices, np.int64)], pa.int64())
        count = len(picked)
        out = {
            "file_uid": pa.repeat(pa.scalar(file_uid, pa.string()), count),
            "path": pa.repeat(pa.scalar(path, pa.string()), count),
            "app": pa.repeat(pa.scalar(application, pa.string()), count),
            "kind": columns.taken("log.kind", picked, pa.string()),
            "offset": columns.taken("log.offset", picked, pa.int64()),
            "line": columns.taken("log.original", picked, pa.large_string()),
        }
        for name in carry:
            out["carry:" + name] = columns.taken(name, picked, pa.string())
        return out

    return refs


def _carried_fields(columns: FrameColumns, carry: Sequence[str], rows: np.ndarray) -> list[dict[str, str] | None]:
    """Per row, the values of the carried fields it has (None when it has none)."""
    if not carry:
        return [None] * len(rows)
    values = {name: columns.pylist(name, rows) for name in carry}
    out: list[dict[str, str] | None] = []
    for i in range(len(rows)):
        found = {name: str(values[name][i]) for name in carry if values[name][i] is not None}
        out.append(found or None)
    return out
