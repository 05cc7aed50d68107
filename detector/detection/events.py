"""Matched lines as correlation events: columns for the whole batch, Python objects on demand.

A busy auth log makes half its lines events (every internet scanner's failed login), so the
batch's events stay numpy columns (time, group code, rule, value code) while correlation
decides, vectorized, which groups could fire at all. Only the events of those groups, and
the few that stay pooled for the next batch, become `Event` tuples.
"""

from __future__ import annotations

import hashlib
import json
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
# One encoder for every pooled event: json.dumps with options builds a new encoder per call,
# which doubled the cost of pooling a busy auth log's events.
COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
_JSON_TEXT = json.encoder.encode_basestring_ascii  # what COMPACT_JSON writes for a str, in C

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

    def to_json(self, group_json: str | None = None) -> str:
        """The pooled row's evidence: `[path, line, log kind, application, group]`, compact JSON
        (the group's JSON passed in when the caller has it: one per group, not per event)."""
        group = COMPACT_JSON.encode(list(self.group)) if group_json is None else group_json
        application = "null" if self.application is None else _JSON_TEXT(self.application)
        return f"[{_JSON_TEXT(self.path)},{_JSON_TEXT(self.line)},{_JSON_TEXT(self.log_kind)},{application},{group}]"

    @classmethod
    def from_row(cls, row: Any) -> "Event":
        path, line, kind, application, group = json.loads(row["evidence"])
        return cls(
            ts=row["ts"],
            rule=row["rule"],
            group=tuple(group),
            value=row["value"],
            file_uid=row["file_uid"],
            offset=row["offset"],
            path=path,
            line=line,
            log_kind=kind,
            application=application,
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
        return cls(ts, code, list(groups), rule_index, tuple(rules), value_code, list(values),
                   lambda rows: [kept[i] for i in rows])

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

        return EventBatch(
            ts=np.concatenate([self.ts, other.ts]),
            code=np.concatenate([self.code, group_remap[other.code]]),
            groups=groups,
            rule_index=np.concatenate([self.rule_index, rule_remap[other.rule_index]]),
            rules=tuple(rules),
            value_code=np.concatenate([self.value_code, other_values]),
            values=values,
            make=make,
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
        return [
            Event(t, rules[r], groups[g], None if v < 0 else value_names[v], file_uid, o, path, line, k or "", application)
            for t, r, g, v, o, line, k in zip(
                ts[indices].tolist(), rule_index[indices].tolist(), code[indices].tolist(),
                value_code[indices].tolist(), offsets, lines, kinds,
            )
        ]

    return EventBatch(ts, code, groups, rule_index, rules, value_code, value_names, make)
