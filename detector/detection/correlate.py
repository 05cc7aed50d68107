"""Turn matched events into findings: Sigma correlation semantics on event time, with state.

Per scenario and entity, events either extend the open finding (repeats within
`reopen_after` of its span) or wait in a *pool* (table `corr_events`, committed with the
batch) until a window over the pool satisfies the correlation; the earliest satisfying
window becomes a new finding. Pools are pruned to `timespan + lateness` behind the newest
event of their group, so an attack split across cron runs, restarts or out-of-order lines
within the lateness allowance is still found, and found once.

Only matched rows reach this module; Python loops here run over those few events.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from operator import attrgetter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from ..checklist.model import Checklist, Correlation, Scenario
from ..model import Evidence, Finding, iso, stable_hash
from ..store import Store

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_VALUES_KEPT = 100
EVENT_ORDER = attrgetter("ts", "offset", "line")  # the total order of events (C-speed sort key)


def to_us(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


class Event(NamedTuple):
    """One matched line (or a chained scenario's event) as correlation sees it.

    A NamedTuple, not a dataclass: one is built per matched line, and tuple construction is
    several times cheaper. Identity (`id(event)`) is what correlation tracks, not equality."""

    ts: int  # microseconds since the epoch, UTC
    rule: str
    group: tuple[str | None, ...]  # values of the scenario's entity fields
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

    def to_json(self) -> str:
        return json.dumps(
            [self.path, self.line, self.log_kind, self.application, list(self.group)],
            separators=(",", ":"),
        )

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
class OpenFinding:
    """Mutable working copy of a finding while a batch extends it."""

    finding: Finding
    first_us: int
    last_us: int
    count: int
    evidence: list[Evidence]
    log_kinds: set[str]
    applications: set[str]
    values: list[str] = field(default_factory=list)
    distinct: int = 0
    changed: str | None = None  # None | "new" | "extended"

    def covers(self, ts: int, reopen_us: int) -> bool:
        return self.first_us - reopen_us <= ts <= self.last_us + reopen_us

    def absorb(self, event: Event, cap: int) -> None:
        self.first_us = min(self.first_us, event.ts)
        self.last_us = max(self.last_us, event.ts)
        self.count += 1
        self.log_kinds.add(event.log_kind)
        if event.application:
            self.applications.add(event.application)
        if event.value is not None and event.value not in self.values:
            self.distinct += 1
            if len(self.values) < MAX_VALUES_KEPT:
                self.values.append(event.value)
        if len(self.evidence) < cap or from_us(event.ts) < self.evidence[-1].timestamp:
            ev = event.evidence()
            if self.evidence and (ev.timestamp, ev.offset) < (self.evidence[-1].timestamp, self.evidence[-1].offset):
                self.evidence.append(ev)
                self.evidence.sort(key=lambda e: (e.timestamp, e.offset, e.line))
                del self.evidence[cap:]
            else:
                self.evidence.append(ev)
        if self.changed is None:
            self.changed = "extended"

    def build(self) -> Finding:
        extra = dict(self.finding.extra)
        if self.values:
            extra["distinct_values"] = self.distinct
            extra["values"] = list(self.values)
        return Finding(
            **{
                **self.finding.__dict__,
                "first_seen": from_us(self.first_us),
                "last_seen": from_us(self.last_us),
                "count": self.count,
                "evidence": tuple(self.evidence),
                "log_kinds": tuple(sorted(self.log_kinds)),
                "applications": tuple(sorted(self.applications)),
                "extra": extra,
            }
        )

    @classmethod
    def of(cls, finding: Finding) -> "OpenFinding":
        return cls(
            finding=finding,
            first_us=to_us(finding.first_seen),
            last_us=to_us(finding.last_seen),
            count=finding.count,
            evidence=list(finding.evidence),
            log_kinds=set(finding.log_kinds),
            applications=set(finding.applications),
            values=list(finding.extra.get("values", [])),
            distinct=int(finding.extra.get("distinct_values", 0)),
        )


def first_firing(pool: list[Event], correlation: Correlation | None) -> list[Event] | None:
    """Events of the earliest window (by event time) that satisfies the correlation.

    One pass with a sliding window: counters of the window's rules and values are updated as
    events enter and leave it, so a large pool costs O(n), not O(n x window)."""
    if not pool:
        return None
    if correlation is None:
        return [pool[0]]
    span = correlation.timespan // timedelta(microseconds=1)
    kind = correlation.type
    wanted = correlation.rules
    # Conditions are gt/gte, so no window can hold what the whole pool does not: most groups
    # (one stray failed login) are rejected here without the window pass.
    if kind == "event_count" and not correlation.holds(len(pool)):
        return None
    if kind == "value_count" and not correlation.holds(len({e.value for e in pool} - {None})):
        return None
    if kind in ("temporal", "temporal_ordered") and len({e.rule for e in pool} & set(wanted)) < len(wanted):
        return None  # a step never seen (most logins follow no scan at all)
    rules: Counter[str] = Counter()
    values: Counter[str] = Counter()
    ordered = _OrderedTracker(wanted)
    start = 0
    for end, event in enumerate(pool):
        rules[event.rule] += 1
        if event.value is not None:
            values[event.value] += 1
        while pool[start].ts < event.ts - span:
            leaving = pool[start]
            _decrement(rules, leaving.rule)
            if leaving.value is not None:
                _decrement(values, leaving.value)
            start += 1
        if kind == "event_count":
            if correlation.holds(end - start + 1):
                return pool[start : end + 1]
        elif kind == "value_count":
            if correlation.holds(len(values)):
                return pool[start : end + 1]
        elif kind == "temporal":
            if all(rules[rule] for rule in wanted):
                return pool[start : end + 1]
        elif kind == "temporal_ordered":
            if ordered.add(event, pool[end + 1].ts if end + 1 < len(pool) else None, span):
                window = pool[start : end + 1]
                chain = _ordered_chain(window, wanted)
                assert chain is not None  # the tracker only reports chains that exist
                return [e for e in window if e.ts >= chain and e.rule in wanted]
    return None


class _OrderedTracker:
    """Whether an ordered chain rules[0] <= rules[1] <= ... fits in the window ending now.

    Keeps, per step, the latest start time of a partial chain through that step: a chain
    fits in the window iff the latest complete one starts within `span` of the newest event.
    Events of one timestamp are applied together (steps may share a stamp in any line order),
    so each event costs O(steps) instead of a pass over the window."""

    def __init__(self, rules: tuple[str, ...]) -> None:
        self.step = {rule: index for index, rule in enumerate(rules)}
        self.latest: list[int | None] = [None] * len(rules)
        self.run_ts: int | None = None
        self.run_steps: set[int] = set()

    def add(self, event: Event, next_ts: int | None, span: int) -> bool:
        """Feed `event`; True when, with the events of its timestamp, a chain fits."""
        if event.rule in self.step:
            self.run_steps.add(self.step[event.rule])
        if next_ts == event.ts:
            return False  # the rest of this timestamp's events first
        for index in range(len(self.latest)):
            if index not in self.run_steps:
                continue
            if index == 0:
                self.latest[0] = event.ts
            elif self.latest[index - 1] is not None:
                previous = self.latest[index]
                self.latest[index] = max(previous, self.latest[index - 1]) if previous is not None else self.latest[index - 1]
        self.run_steps = set()
        last = self.latest[-1]
        return last is not None and last >= event.ts - span


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if not counter[key]:
        del counter[key]


def _ordered_chain(window: list[Event], rules: tuple[str, ...]) -> int | None:
    """Start time of the earliest chain rules[0] <= rules[1] <= ... (event time; equal stamps
    are in order, as whole-second logs often put two steps in one second) in the window.

    The earliest start, not the latest: the finding then holds the same events whether a
    later step arrived in the same batch or after the firing (another file, a later run, an
    out-of-order line) and absorbed it. Greedy is enough: if any chain exists, the one
    built from the earliest first step with the earliest next steps exists too."""
    start: int | None = None
    cursor: int | None = None
    for rule in rules:
        times = [e.ts for e in window if e.rule == rule and (cursor is None or e.ts >= cursor)]
        if not times:
            return None
        cursor = min(times)
        start = cursor if start is None else start
    return start


class PoolCache:
    """All of a scenario's pools in memory, an exact copy of `corr_events` from `complete_from`.

    Reloading and decoding pools from SQLite on every batch made small batches (a daemon's
    appends) cost O(pool) each. The copy is loaded once, then kept in step with every write;
    it is dropped whenever it may disagree with the database: another state file, a
    rolled-back transaction, or a horizon older than what was loaded."""

    SWEEP_EVERY = 256  # batches between sweeps of groups that went quiet

    def __init__(self) -> None:
        self.pools: dict[tuple[str | None, ...], list[Event]] = {}
        self.owner: tuple[int, int] | None = None
        self.complete_from: int | None = None
        self.puts = 0

    def usable(self, store: Store, horizon: int) -> bool:
        owner = (id(store), store.rollbacks)
        if owner != self.owner:
            self.pools.clear()
            self.owner, self.complete_from = owner, None
        return self.complete_from is not None and horizon >= self.complete_from

    def fill(self, pools: dict[tuple[str | None, ...], list[Event]], horizon: int) -> None:
        self.pools = dict(pools)
        self.complete_from = horizon

    def get(self, group: tuple[str | None, ...], horizon: int) -> list[Event]:
        return [e for e in self.pools.get(group, ()) if e.ts >= horizon]

    def put(self, group: tuple[str | None, ...], pool: list[Event], horizon: int) -> None:
        if pool:
            self.pools[group] = pool
        else:
            self.pools.pop(group, None)
        self.puts += 1
        if self.puts % self.SWEEP_EVERY == 0:
            # groups whose every event is behind the horizon are empty for any later batch
            # reading at or after it; forget them (memory stays bounded by the live windows)
            stale = [g for g, events in self.pools.items() if events[-1].ts < horizon]
            for g in stale:
                del self.pools[g]
            self.complete_from = max(self.complete_from or horizon, horizon) if stale else self.complete_from


class Correlator:
    """Runs one scenario's events of a batch against its pool and open findings."""

    def __init__(self, checklist: Checklist, scenario: Scenario) -> None:
        self.checklist = checklist
        self.scenario = scenario
        corr = scenario.correlation
        self.span_us = (corr.timespan if corr else timedelta(0)) // timedelta(microseconds=1)
        self.lateness_us = checklist.lateness // timedelta(microseconds=1)
        self.reopen_us = scenario.reopen_after // timedelta(microseconds=1)
        self.cache = PoolCache()

    def entity(self, group: tuple[str | None, ...]) -> dict[str, str]:
        return {name: value for name, value in zip(self.scenario.entity, group) if value is not None}

    def run(self, store: Store, events: list[Event], now: datetime) -> tuple[list[OpenFinding], list[Event]]:
        """Process the batch's events; returns touched findings and the events they absorbed
        (forwarded to scenarios chaining this one)."""
        if not events:
            return [], []
        events.sort(key=EVENT_ORDER)
        groups: dict[tuple[str | None, ...], list[Event]] = defaultdict(list)
        for event in events:
            groups[event.group].append(event)
        horizon = events[0].ts - self.span_us - self.lateness_us - self.reopen_us
        pools = self._pools(store, horizon, list(groups))
        open_findings = self._load_open(store, set(groups), horizon)
        touched: dict[str, OpenFinding] = {}
        absorbed_all: list[Event] = []
        inserts: list[Event] = []
        deletes: list[Event] = []
        expired: list[tuple[tuple[str | None, ...], int]] = []  # (group, drop events before)
        cap = self.checklist.evidence_cap
        for group, group_events in groups.items():
            pool = pools.get(group, [])
            stored = {(e.file_uid, e.offset, e.rule) for e in pool}
            current = open_findings.get(group)
            pending = group_events
            while pending:
                rest: list[Event] = []
                for index, event in enumerate(pending):
                    if current is not None and current.covers(event.ts, self.reopen_us):
                        current.absorb(event, cap)
                        touched[current.finding.id] = current
                        absorbed_all.append(event)
                        continue
                    if current is not None and event.ts > current.last_us + self.reopen_us:
                        self._close(current)
                        touched[current.finding.id] = current
                        current = None
                    rest = pending[index:]
                    break
                if not rest:
                    break
                pool = sorted(pool + rest, key=EVENT_ORDER)
                fired = first_firing(pool, self.scenario.correlation)
                if fired is None:
                    break
                current = self._open(fired, now)
                touched[current.finding.id] = current
                absorbed_all.extend(fired)
                fired_ids = {id(e) for e in fired}
                fired_at = fired[-1].order
                # Events after the firing point go round again: the new finding may absorb them.
                pending = [e for e in pool if id(e) not in fired_ids and e.order > fired_at]
                pool = [e for e in pool if id(e) not in fired_ids and e.order <= fired_at]
            newest = max([e.ts for e in pool] + [group_events[-1].ts])
            cutoff = newest - self.span_us - self.lateness_us
            kept = [e for e in pool if e.ts >= cutoff]
            kept_keys = {(e.file_uid, e.offset, e.rule) for e in kept}
            inserts.extend(e for e in kept if (e.file_uid, e.offset, e.rule) not in stored)
            self.cache.put(group, kept, horizon)
            loaded = pools.get(group, [])
            if loaded and loaded[0].ts < cutoff:
                expired.append((group, cutoff))  # one range delete instead of one per event
            # events that left the pool inside the window: fired into a finding
            deletes.extend(e for e in loaded if e.ts >= cutoff and (e.file_uid, e.offset, e.rule) not in kept_keys)
        self._save_pool(store, inserts, deletes, expired)
        return list(touched.values()), absorbed_all

    # -- state -------------------------------------------------------------------------------

    def _pools(self, store: Store, horizon: int, groups: list[tuple[str | None, ...]]) -> dict[tuple[str | None, ...], list[Event]]:
        """The stored pools of `groups` from `horizon` on: from the in-memory copy this
        process keeps in step with its writes (it holds the state lock)."""
        if not self.cache.usable(store, horizon):
            self.cache.fill(self._load_pools(store, horizon, None), horizon)
        return {group: self.cache.get(group, horizon) for group in groups}

    def _load_pools(
        self, store: Store, horizon: int, groups: set[tuple[str | None, ...]] | None
    ) -> dict[tuple[str | None, ...], list[Event]]:
        """Pools from the database (all groups when `groups` is None), events in order."""
        pools: dict[tuple[str | None, ...], list[Event]] = defaultdict(list)
        keys = {self._group_key(g): g for g in groups} if groups is not None else {}
        for row in store.execute(
            "SELECT * FROM corr_events WHERE scenario_id = ? AND ts >= ? ORDER BY ts, offset",
            (self.scenario.id, horizon),
        ):
            if groups is not None and row["group_key"] not in keys:
                continue
            event = Event.from_row(row)
            pools[event.group].append(event)
        for pool in pools.values():
            pool.sort(key=EVENT_ORDER)
        return dict(pools)

    def _save_pool(
        self,
        store: Store,
        inserts: list[Event],
        deletes: list[Event],
        expired: list[tuple[tuple[str | None, ...], int]] = (),  # type: ignore[assignment]
    ) -> None:
        if expired:
            store.conn.executemany(
                "DELETE FROM corr_events WHERE scenario_id = ? AND group_key = ? AND ts < ?",
                [(self.scenario.id, self._group_key(group), cutoff) for group, cutoff in expired],
            )
        if deletes:
            store.conn.executemany(
                "DELETE FROM corr_events WHERE scenario_id = ? AND file_uid = ? AND offset = ? AND rule = ?",
                [(self.scenario.id, e.file_uid, e.offset, e.rule) for e in deletes],
            )
        if inserts:
            keys: dict[tuple[str | None, ...], str] = {}
            for event in inserts:
                if event.group not in keys:
                    keys[event.group] = self._group_key(event.group)
            store.conn.executemany(
                "INSERT OR IGNORE INTO corr_events(scenario_id, group_key, ts, rule, value, file_uid, offset, evidence)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (self.scenario.id, keys[e.group], e.ts, e.rule, e.value, e.file_uid, e.offset, e.to_json())
                    for e in inserts
                ],
            )

    @staticmethod
    def _group_key(group: tuple[str | None, ...]) -> str:
        return json.dumps(list(group), separators=(",", ":"))

    def _load_open(self, store: Store, groups: set[tuple[str | None, ...]], horizon: int) -> dict[tuple[str | None, ...], OpenFinding]:
        """Open findings of this scenario for the batch's groups (open findings are few; the
        groups may be thousands, so the match goes from findings to groups)."""
        found: dict[tuple[str | None, ...], OpenFinding] = {}
        for row in store.execute(
            "SELECT entity_key, data FROM findings WHERE scenario_id = ? AND status = 'open' ORDER BY last_seen",
            (self.scenario.id,),
        ):
            entity = json.loads(row["entity_key"])
            group = tuple(entity.get(name) for name in self.scenario.entity)
            if group in groups:
                found[group] = OpenFinding.of(Finding.from_dict(json.loads(row["data"])))
        return found

    # -- findings ------------------------------------------------------------------------------

    def _open(self, fired: list[Event], now: datetime) -> OpenFinding:
        first = min(fired, key=EVENT_ORDER)
        entity = self.entity(first.group)
        finding = Finding(
            id=stable_hash(self.scenario.id, entity, evidence_key(first)),
            scenario_id=self.scenario.id,
            scenario_version=self.scenario.version,
            checklist_version=self.checklist.version,
            title=self.scenario.title,
            severity=self.scenario.severity,
            confidence=self.scenario.confidence,
            confidence_reasons=(),
            entity=entity,
            first_seen=from_us(first.ts),
            last_seen=from_us(first.ts),
            detected_at=now,
            count=0,
            log_kinds=(),
            attack=self.scenario.attack,
            evidence=(),
        )
        item = OpenFinding.of(finding)
        item.count = 0
        for event in sorted(fired, key=EVENT_ORDER):
            item.absorb(event, self.checklist.evidence_cap)
        item.changed = "new"
        return item

    @staticmethod
    def _close(item: OpenFinding) -> None:
        item.finding = Finding(**{**item.finding.__dict__, "status": "closed"})
        if item.changed is None:
            item.changed = "closed"
