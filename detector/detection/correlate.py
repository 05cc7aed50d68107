"""Turn matched events into findings: Sigma correlation semantics on event time, with state.

Per scenario and entity, events either extend the open finding (repeats within
`reopen_after` of its span) or wait in a *pool* (table `corr_events`, committed with the
batch) until a window over the pool satisfies the correlation; the earliest satisfying
window becomes a new finding.

Time is event time, and how far it has got is the *watermark* the pipeline hands over with
each batch: the earliest event time any source still has to deliver (every source is read in
event-time order, see `pipeline.py`). A window fires only once the watermark has passed its
end, so that no unread line of another file could have made an earlier window fire: the
finding and its id do not depend on which file was read first. Pools are pruned to
`timespan + lateness` behind the watermark: an out-of-order line up to `lateness` older than
what was already read still meets every event it could share a window with, so an attack
split across batches, cron runs or restarts is found, and found once.

Most events of a busy log belong to groups that cannot fire (one stray failed login per
scanner): those are screened out per batch with numpy (`windows.py`) and never become Python
objects unless they stay pooled; the per-event loop here runs over the few others.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.checklist.model import Checklist, Scenario
from detector.detection.events import (
    COMPACT_JSON,
    EVENT_ORDER,
    Event,
    EventBatch,
    Group,
    evidence_key,
    from_us,
    to_us,
)
from detector.detection.windows import (
    all_rules_within,
    distinct_counts,
    first_firing,
    max_window_counts,
    rule_masks,
)
from detector.model import Evidence, Finding, iso, stable_hash
from detector.state.store import Store

MAX_VALUES_KEPT = 100
NEVER = -(1 << 62)  # a watermark before every event
FOREVER = 1 << 62  # after every event: fire what is ready, the run is over
_SECOND_US = 1_000_000


def _key(event: Event) -> tuple[str, int, str]:
    return (event.file_uid, event.offset, event.rule)


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


class PoolCache:
    """A scenario's pools in memory: an exact copy of its `corr_events` rows at or after
    `cutoff`, loaded once per state database and kept in step with every write.

    It is dropped whenever it may disagree with the database: another state file, or a
    rolled-back transaction. `unsettled` holds the groups whose pool holds a firing window
    that waits for the watermark, with the window's end."""

    SWEEP_EVERY = 256  # batches between sweeps of groups that fell behind the cutoff

    def __init__(self) -> None:
        self.owner: tuple[object, int] | None = None
        self.pools: dict[Group, list[Event]] = {}
        self.unsettled: dict[Group, int] = {}
        self.cutoff = NEVER  # pooled events before it are gone, in memory and in the database
        self.newest = NEVER  # the newest event this scenario has seen
        self.runs = 0

    def current(self, store: Store) -> bool:
        return self.owner == (store.token, store.rollbacks)

    def fill(self, store: Store, pools: dict[Group, list[Event]]) -> None:
        self.owner = (store.token, store.rollbacks)
        self.pools = pools
        self.unsettled = {}
        self.cutoff = NEVER  # what the last run pruned to is not stored: its rows are what is left
        self.newest = max((p[-1].ts for p in pools.values()), default=NEVER)

    def get(self, group: Group) -> list[Event]:
        return [e for e in self.pools.get(group, ()) if e.ts >= self.cutoff]

    def put(self, group: Group, pool: list[Event]) -> None:
        if pool:
            self.pools[group] = pool
        else:
            self.pools.pop(group, None)

    def sweep(self) -> None:
        self.runs += 1
        if self.runs % self.SWEEP_EVERY == 0:
            for group in [g for g, events in self.pools.items() if events[-1].ts < self.cutoff]:
                del self.pools[group]


class Correlator:
    """Runs one scenario's events of a batch against its pools and open findings."""

    screening = True  # False: every group takes the per-event path (the reference the tests compare with)

    def __init__(self, checklist: Checklist, scenario: Scenario) -> None:
        self.checklist = checklist
        self.scenario = scenario
        corr = scenario.correlation
        self.span_us = (corr.timespan if corr else timedelta(0)) // timedelta(microseconds=1)
        self.lateness_us = checklist.lateness // timedelta(microseconds=1)
        self.reopen_us = scenario.reopen_after // timedelta(microseconds=1)
        self.cache = PoolCache()
        self.closable = NEVER  # open findings ending before it can no longer be extended
        self.closed_before = NEVER  # ... and those were closed

    def entity(self, group: Group) -> dict[str, str]:
        return {name: value for name, value in zip(self.scenario.entity, group) if value is not None}

    # -- the two entry points ------------------------------------------------------------------

    def run(
        self, store: Store, batch: EventBatch, now: datetime, watermark: int | None = None
    ) -> tuple[list[OpenFinding], list[Event]]:
        """Process a batch's events; returns touched findings and the events they absorbed
        (forwarded to scenarios chaining this one).

        `watermark` (microseconds): no source will deliver events before it any more, except
        late lines. None when the caller knows of no other source (a lone batch, the end of a
        run): windows fire at once."""
        self._ensure(store)
        if len(batch):
            self.cache.newest = max(self.cache.newest, int(batch.ts.max()))
        # Pruning and closing follow this scenario's own events, so that a source it does not
        # read, running ahead, cannot age them out; held back by the sources still to be read.
        if watermark is None:
            return self._run(store, batch, now, fire_until=FOREVER, prune_at=self.cache.newest)
        return self._run(store, batch, now, fire_until=watermark, prune_at=min(watermark, self.cache.newest))

    def flush(self, store: Store, now: datetime, batch: EventBatch | None = None) -> tuple[list[OpenFinding], list[Event]]:
        """End of a run: every source has been read, so every waiting window fires."""
        batch = batch or EventBatch.empty()
        if not len(batch) and not self._has_pool(store):
            return [], []
        return self.run(store, batch, now, watermark=None)

    # -- the batch -------------------------------------------------------------------------------

    def _run(
        self, store: Store, batch: EventBatch, now: datetime, fire_until: int, prune_at: int
    ) -> tuple[list[OpenFinding], list[Event]]:
        cache = self.cache
        cutoff = max(cache.cutoff, prune_at - self.span_us - self.lateness_us)
        ready = {g for g, end in cache.unsettled.items() if end <= fire_until}
        if not len(batch) and not ready:
            self._prune(store, cutoff, prune_at)
            return [], []
        batch_groups = set(batch.groups)
        open_findings = self._load_open(store, batch_groups | ready)
        hot_codes = self._screen(batch, open_findings, ready)

        # Events of hot groups, as objects, per group in event order; of the others, only the
        # ones that stay pooled.
        by_group: dict[Group, list[Event]] = defaultdict(list)
        if len(batch):
            hot = hot_codes[batch.code]
            for event in batch.make(np.flatnonzero(hot)):
                by_group[event.group].append(event)
            cold_rows = np.flatnonzero(~hot & (batch.ts >= cutoff))
            cold: dict[Group, list[Event]] = defaultdict(list)
            for event in batch.make(cold_rows):
                cold[event.group].append(event)
        else:
            cold = {}
        for group in ready:
            by_group.setdefault(group, [])

        touched: dict[str, OpenFinding] = {}
        absorbed: list[Event] = []
        inserts: list[Event] = []
        deletes: list[Event] = []
        for group, events in by_group.items():
            events.sort(key=EVENT_ORDER)
            loaded = cache.get(group)
            pool = self._advance(group, loaded, events, open_findings.get(group), fire_until, now, touched, absorbed)
            kept = [e for e in pool if e.ts >= cutoff]
            stored = {_key(e) for e in loaded}
            kept_keys = {_key(e) for e in kept}
            inserts.extend(e for e in kept if _key(e) not in stored)
            # events that left the pool inside the window: fired into a finding
            deletes.extend(e for e in loaded if e.ts >= cutoff and _key(e) not in kept_keys)
            cache.put(group, kept)
        for group, events in cold.items():
            events.sort(key=EVENT_ORDER)
            pool = cache.get(group)
            cache.put(group, sorted(pool + events, key=EVENT_ORDER) if pool else events)
            inserts.extend(events)
        self._save_pool(store, inserts, deletes)
        self._prune(store, cutoff, prune_at)
        return list(touched.values()), absorbed

    def _screen(self, batch: EventBatch, open_findings: dict[Group, OpenFinding], ready: set[Group]) -> np.ndarray:
        """Per group code of the batch: may it fire or extend a finding (the per-event path)?

        The windows are checked over the batch's events and the group's pooled ones together,
        vectorized: a group with fewer events (or distinct values) than the threshold in every
        window, or with no window holding every rule of a temporal correlation, cannot fire.
        Groups with an open finding or a waiting window always take the per-event path."""
        corr = self.scenario.correlation
        count = len(batch.groups)
        hot = np.zeros(count, dtype=bool)
        if not count:
            return hot
        if corr is None or not self.screening:
            hot[:] = True
            return hot
        pool_codes: list[int] = []
        pooled: list[Event] = []
        for code, group in enumerate(batch.groups):
            if group in open_findings or group in ready:
                hot[code] = True
                continue
            for event in self.cache.pools.get(group, ()):
                pool_codes.append(code)
                pooled.append(event)
        code = np.concatenate([batch.code, np.array(pool_codes, np.int64)])
        ts = np.concatenate([batch.ts, np.fromiter((e.ts for e in pooled), np.int64, len(pooled))])
        need = corr.condition_value + (1 if corr.condition_op == "gt" else 0)
        if corr.type in ("event_count", "value_count"):
            # no window holds more distinct values than events
            bound = max_window_counts(code, ts, self.span_us, count)
            if corr.type == "value_count":
                values = np.concatenate([batch.value_code, _codes_among(batch.values, [e.value for e in pooled])])
                bound = np.minimum(bound, distinct_counts(code, values, count))
            hot |= bound >= need
        else:
            step_of = {rule: i for i, rule in enumerate(corr.rules)}
            batch_steps = np.array([step_of.get(rule, 0) for rule in batch.rules], np.int64)[batch.rule_index]
            pool_steps = np.fromiter((step_of.get(e.rule, 0) for e in pooled), np.int64, len(pooled))
            step = np.concatenate([batch_steps, pool_steps])
            hot |= all_rules_within(code, step, ts, len(corr.rules), self.span_us, count)
        return hot

    def _advance(
        self,
        group: Group,
        pool: list[Event],
        pending: list[Event],
        current: OpenFinding | None,
        fire_until: int,
        now: datetime,
        touched: dict[str, OpenFinding],
        absorbed: list[Event],
    ) -> list[Event]:
        """The per-event semantics for one group: extend the open finding with what it covers,
        pool the rest, fire the earliest satisfying window once the watermark passed its end,
        and go round again with what follows it. Returns the group's pool."""
        cap = self.checklist.evidence_cap
        check_pool = group in self.cache.unsettled
        self.cache.unsettled.pop(group, None)
        superseded: OpenFinding | None = None  # passed by: closes when a new finding opens
        while True:
            rest: list[Event] = []
            for index, event in enumerate(pending):
                if current is not None and current.covers(event.ts, self.reopen_us):
                    current.absorb(event, cap)
                    touched[current.finding.id] = current
                    absorbed.append(event)
                    continue
                if current is not None and event.ts > current.last_us + self.reopen_us:
                    superseded, current = current, None
                rest = pending[index:]
                break
            if not rest and not check_pool:
                return pool
            check_pool = False
            pool = sorted(pool + rest, key=EVENT_ORDER) if rest else pool
            fired = first_firing(pool, self.scenario.correlation)
            if fired is None:
                return pool
            end = max(e.ts for e in fired)
            if end > fire_until:
                self.cache.unsettled[group] = end  # another source may still hold earlier events
                return pool
            current = self._open(fired, now)
            touched[current.finding.id] = current
            absorbed.extend(fired)
            if superseded is not None:
                self._close(superseded)
                touched[superseded.finding.id] = superseded
                superseded = None
            fired_ids = {id(e) for e in fired}
            fired_at = fired[-1].order
            # Events after the firing point go round again: the new finding may absorb them.
            pending = [e for e in pool if id(e) not in fired_ids and e.order > fired_at]
            pool = [e for e in pool if id(e) not in fired_ids and e.order <= fired_at]

    # -- state -------------------------------------------------------------------------------

    def _ensure(self, store: Store) -> None:
        """Load the pools once per state database (this process holds the state lock, so the
        copy stays exact); windows that were waiting when a run stopped wait again."""
        if self.cache.current(store):
            return
        pools: dict[Group, list[Event]] = defaultdict(list)
        for row in store.execute(
            "SELECT * FROM corr_events WHERE scenario_id = ? ORDER BY ts, offset", (self.scenario.id,)
        ):
            event = Event.from_row(row)
            pools[event.group].append(event)
        for pool in pools.values():
            pool.sort(key=EVENT_ORDER)
        self.cache.fill(store, dict(pools))
        self.closable = self.closed_before = NEVER
        for group, pool in self.cache.pools.items():
            fired = first_firing(pool, self.scenario.correlation)
            if fired is not None:
                self.cache.unsettled[group] = max(e.ts for e in fired)

    def _has_pool(self, store: Store) -> bool:
        if self.cache.current(store):
            return bool(self.cache.unsettled)
        row = store.execute("SELECT 1 FROM corr_events WHERE scenario_id = ? LIMIT 1", (self.scenario.id,)).fetchone()
        if row is None:
            return False
        self._ensure(store)
        return bool(self.cache.unsettled)

    def _save_pool(self, store: Store, inserts: list[Event], deletes: list[Event]) -> None:
        if deletes:
            store.conn.executemany(
                "DELETE FROM corr_events WHERE scenario_id = ? AND file_uid = ? AND offset = ? AND rule = ?",
                [(self.scenario.id, e.file_uid, e.offset, e.rule) for e in deletes],
            )
        if inserts:
            keys: dict[Group, str] = {}
            for event in inserts:
                if event.group not in keys:
                    keys[event.group] = COMPACT_JSON.encode(list(event.group))
            store.conn.executemany(
                "INSERT OR IGNORE INTO corr_events(scenario_id, group_key, ts, rule, value, file_uid, offset, evidence)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (self.scenario.id, keys[e.group], e.ts, e.rule, e.value, e.file_uid, e.offset, e.to_json(keys[e.group]))
                    for e in inserts
                ],
            )

    def _prune(self, store: Store, cutoff: int, prune_at: int) -> None:
        """Forget pooled events behind the cutoff."""
        if cutoff > self.cache.cutoff:
            store.conn.execute(
                "DELETE FROM corr_events WHERE scenario_id = ? AND ts < ?", (self.scenario.id, cutoff)
            )
            self.cache.cutoff = cutoff
        self.cache.sweep()
        self.closable = max(self.closable, prune_at - self.lateness_us - self.reopen_us)

    def close_passed(self, store: Store) -> None:
        """Close the open findings no event can extend any more: the watermark is past their
        end plus `reopen_after` and the lateness allowance. Runs once the batch's findings
        are written, so a batch gives the same result as the same lines in several."""
        # the stored times compare by whole seconds (`_iso_floor`): a new second, a new sweep
        if self.closable // _SECOND_US > self.closed_before // _SECOND_US:
            store.conn.execute(
                "UPDATE findings SET status = 'closed', data = json_set(data, '$.status', 'closed')"
                " WHERE scenario_id = ? AND status = 'open' AND last_seen < ?",
                (self.scenario.id, _iso_floor(self.closable)),
            )
            self.closed_before = self.closable

    def _load_open(self, store: Store, groups: set[Group]) -> dict[Group, OpenFinding]:
        """Open findings of this scenario for these groups. Open findings are few (`_prune`
        closes those the watermark has passed) and the groups may be thousands, so the match
        goes from findings to groups; the latest finding of a group is its current one."""
        found: dict[Group, OpenFinding] = {}
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


def _iso_floor(us: int) -> str:
    """`iso()` text of the whole second at or before `us`. Stored times carry microseconds
    only when present ("...:04Z" sorts after "...:04.5Z"), so comparisons against stored text
    use whole seconds, one second wider than needed."""
    if us <= NEVER:
        return ""
    if us >= FOREVER:
        return "9999"
    return iso(from_us(us - us % _SECOND_US))  # type: ignore[return-value]


def _codes_among(names: list[str], values: list[str | None]) -> np.ndarray:
    """Codes of `values` in the batch's value dictionary `names` (new values get new codes
    past its end, -1 for none), looked up in C++: the dictionary may hold every user name
    a day of scanners tried."""
    if not values:
        return np.empty(0, np.int64)
    array = pa.array(values, pa.string())
    found = pc.index_in(array, value_set=pa.array(names, pa.string())).to_numpy(zero_copy_only=False)
    codes = np.where(np.isnan(found), -1, np.nan_to_num(found, nan=-1)).astype(np.int64)
    unknown = np.flatnonzero((codes < 0) & array.is_valid().to_numpy(zero_copy_only=False))
    if len(unknown):
        extra = pc.dictionary_encode(array.take(pa.array(unknown))).indices.to_numpy(zero_copy_only=False)
        codes[unknown] = len(names) + extra.astype(np.int64)
    return codes
