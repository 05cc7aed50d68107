"""Turn matched events into findings: Sigma correlation semantics on event time, with state.

Per scenario and entity, events either extend the open finding (repeats within
`reopen_after` of its span) or wait in a *pool* until a window over the pool satisfies the
correlation; the earliest satisfying window becomes a new finding. A pool is one Arrow table
per scenario (`pool.py`): references to the lines, not the lines, holding only what a window
can still use; it is written as one compact row of `corr_state` in the batch's transaction.

Time is event time, and how far it has got is the *watermark* the pipeline hands over with
each batch: the earliest event time any source still has to deliver (every source is read in
event-time order, see `pipeline.py`). A window fires only once the watermark has passed its
end, so that no unread line of another file could have made an earlier window fire: the
finding and its id do not depend on which file was read first. Pools are pruned to
`timespan + lateness` behind the watermark: an out-of-order line up to `lateness` older than
what was already read still meets every event it could share a window with, so an attack
split across batches, cron runs or restarts is found, and found once.

Most events of a busy log belong to groups that cannot fire (one stray failed login per
scanner, a login nobody scanned before): those are screened out per batch with numpy
(`windows.py`) and stay columns; the per-event loop here runs over the few others. A later
step of an ordered chain (a login) is kept only while a first step of its group precedes it
or could still arrive, so a success-heavy log holds minutes of logins, not hours.
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.checklist.model import Checklist, Correlation, Scenario
from detector.detection import pool
from detector.detection.events import (
    EVENT_ORDER,
    Event,
    EventBatch,
    Group,
    arrival_order,
    evidence_key,
    from_us,
)
from detector.detection.openfinding import Absorbed, OpenFinding, covering
from detector.detection.pool import LineKey, ReadBack
from detector.detection.windows import (
    all_rules_within,
    distinct_counts,
    first_firing,
    has_first_step_before,
    max_window_counts,
)
from detector.model import Finding, iso, stable_hash
from detector.state.correlation import load_state, save_state, take_legacy_events
from detector.state.store import Store

NEVER = -(1 << 62)  # a watermark before every event
FOREVER = 1 << 62  # after every event: fire what is ready, the run is over
_SECOND_US = 1_000_000
BUCKET_US = 900 * _SECOND_US  # correlation state is stored in rows of 15 minutes of event time


class PoolCache:
    """A scenario's pool in memory: the table its `corr_state` row holds (plus the line text of
    the rows this process read), loaded once per state database and written back whenever a
    batch changed it.

    It is dropped whenever it may disagree with the database: another state file, or a
    rolled-back transaction. `unsettled` holds the groups whose pool holds a firing window
    that waits for the watermark, with the window's end."""

    def __init__(self, schema: pa.Schema) -> None:
        self.owner: tuple[object, int] | None = None
        self.table = pool.empty(schema)
        self.unsettled: dict[Group, int] = {}
        self.cutoff = NEVER  # pooled events before it are gone, in memory and in the database
        self.newest = NEVER  # the newest event this scenario has seen
        self.dirty: set[int] = set()  # time buckets whose rows changed since they were written

    def current(self, store: Store) -> bool:
        return self.owner == (store.token, store.rollbacks)

    def fill(self, store: Store, table: pa.Table) -> None:
        self.owner = (store.token, store.rollbacks)
        self.table = table
        self.unsettled = {}
        self.cutoff = NEVER  # what the last run pruned to is not stored: its rows are what is left
        self.newest = int(pc.max(table.column("ts")).as_py()) if table.num_rows else NEVER
        self.dirty = set()

    def touch(self, ts: np.ndarray) -> None:
        """The buckets of rows added or removed at these times must be written again."""
        if len(ts):
            self.dirty.update(np.unique(ts // BUCKET_US).tolist())


class Correlator:
    """Runs one scenario's events of a batch against its pool and open findings."""

    screening = True  # False: every group takes the per-event path (the reference the tests compare with)

    def __init__(
        self,
        checklist: Checklist,
        scenario: Scenario,
        read_back: Callable[[Store, list[LineKey]], dict[LineKey, str]] | None = None,
        carry: tuple[str, ...] = (),
    ) -> None:
        self.checklist = checklist
        self.scenario = scenario
        corr = scenario.correlation
        self.span_us = (corr.timespan if corr else timedelta(0)) // timedelta(microseconds=1)
        self.lateness_us = checklist.lateness // timedelta(microseconds=1)
        self.reopen_us = scenario.reopen_after // timedelta(microseconds=1)
        self.hold_us = self.lateness_us + _first_step_delay(checklist, scenario)
        # a chained scenario's finding hands over its events when its window fires, up to its
        # timespan after them: an open finding stays open that much longer to absorb them
        self.close_after_us = self.lateness_us + self.reopen_us + _chained_delay(checklist, scenario)
        # `suppressed_by`: a window fires once every suppressing finding that could overlap it
        # has fired (their timespan later), then is dropped if one does; set by the engine
        self.wait_us = _suppressor_delay(checklist, scenario)
        self.suppressed: Callable[[dict[str, str], int, int], bool] | None = None
        # group keys for which a chained first step may still fire (its scenarios hold events of
        # the key); None: not known, so later steps wait `hold_us` (set by the engine)
        self.first_step_pending: Callable[[], set[str] | None] | None = None
        self.chained = frozenset(scenario.referenced_scenarios())
        self.read_back = read_back
        self.schema = pool.pool_schema(carry)
        self.cache = PoolCache(self.schema)
        self.closable = NEVER  # open findings ending before it can no longer be extended
        self.closed_before = NEVER  # ... and those were closed

    def entity(self, group: Group) -> dict[str, str]:
        return {name: value for name, value in zip(self.scenario.entity, group) if value is not None}

    # -- the two entry points ------------------------------------------------------------------

    def run(
        self, store: Store, batch: EventBatch, now: datetime, watermark: int | None = None
    ) -> tuple[list[OpenFinding], list[Absorbed]]:
        """Process a batch's events; returns touched findings and the events they absorbed, each
        with its finding (forwarded to scenarios chaining this one).

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

    def flush(self, store: Store, now: datetime, batch: EventBatch | None = None) -> tuple[list[OpenFinding], list[Absorbed]]:
        """End of a run: every source has been read, so every waiting window fires."""
        batch = batch or EventBatch.empty()
        if not len(batch) and not self._has_pool(store):
            return [], []
        return self.run(store, batch, now, watermark=None)

    # -- the batch -------------------------------------------------------------------------------

    def _run(
        self, store: Store, batch: EventBatch, now: datetime, fire_until: int, prune_at: int
    ) -> tuple[list[OpenFinding], list[Absorbed]]:
        cache = self.cache
        cutoff = max(cache.cutoff, prune_at - self.span_us - self.lateness_us)
        ready = {g for g, end in cache.unsettled.items() if end <= fire_until}
        if not len(batch) and not ready:
            self._prune(store, cutoff, prune_at)
            return [], []
        keys = [pool.group_key(g) for g in batch.groups]
        table = cache.table
        pool_code = pool.codes_in(table, keys) if keys else np.full(table.num_rows, -1, np.int64)
        open_findings = self._load_open(store, set(batch.groups) | ready)
        hot_codes = self._screen(batch, table, pool_code, open_findings, ready)

        # Events of hot groups, as objects, per group in event order; the others stay columns.
        by_group: dict[Group, list[Event]] = defaultdict(list)
        cold_rows = np.empty(0, np.int64)
        if len(batch):
            hot = hot_codes[batch.code]
            for event in batch.make(np.flatnonzero(hot)):
                by_group[event.group].append(event)
            cold_rows = self._arriving(batch, np.flatnonzero(~hot & (batch.ts >= cutoff)), keys, table, pool_code, prune_at)
        for group in ready:
            by_group.setdefault(group, [])
        hot_keys = {pool.group_key(g): g for g in by_group}
        in_hot = pool.rows_with_keys(table, hot_keys)
        pooled: dict[Group, list[Event]] = defaultdict(list)
        if in_hot.any():
            live = in_hot & (_ts(table) >= cache.cutoff)
            for event in pool.to_events(pool.filter_rows(table, live), hot_keys, self._reader(store)):
                pooled[event.group].append(event)

        touched: dict[str, OpenFinding] = {}
        absorbed: list[Absorbed] = []
        kept: list[Event] = []
        for group, events in by_group.items():
            events.sort(key=EVENT_ORDER)
            loaded = sorted(pooled.get(group, ()), key=EVENT_ORDER)
            opens = open_findings.get(group, [])
            if self.chained:
                rest = self._advance_by_arrival(group, loaded, events, opens, fire_until, now, touched, absorbed)
            else:
                rest = self._advance(group, loaded, events, opens[-1] if opens else None, fire_until, now, touched, absorbed)
            kept.extend(e for e in rest if e.ts >= cutoff)
        if in_hot.any() or kept or len(cold_rows):
            cache.touch(_ts(table)[in_hot])
            cache.touch(np.fromiter((e.ts for e in kept), np.int64, len(kept)))
            cache.touch(batch.ts[cold_rows])
            cache.table = pool.concat(
                [pool.filter_rows(table, ~in_hot), pool.from_events(kept, self.schema), self._rows(batch, cold_rows, keys)]
            )
        self._prune(store, cutoff, prune_at)
        return list(touched.values()), absorbed

    def _arriving(
        self, batch: EventBatch, rows: np.ndarray, keys: list[str], table: pa.Table, pool_code: np.ndarray, prune_at: int
    ) -> np.ndarray:
        """The batch's cold rows the pool takes: all of them, except the later steps of an
        ordered chain that `_held` would drop as soon as they were in (most of a busy jump host's
        logins), which are not built into pool rows at all. Same rule as `_held`, over the pool
        rows of the rows' groups and the rows themselves."""
        corr = self.scenario.correlation
        if corr is None or corr.type != "temporal_ordered" or not len(rows):
            return rows
        step = np.array([corr.step_of.get(rule, 0) for rule in batch.rules], np.int64)[batch.rule_index[rows]]
        ts = batch.ts[rows]
        if not ((step > 0) & (ts < prune_at - self.lateness_us)).any():
            return rows
        mine = np.flatnonzero(pool_code >= 0)  # pool rows of the batch's groups (hot ones ask nothing)
        pooled = table.take(pa.array(mine)) if len(mine) < table.num_rows else table
        code = np.concatenate([pool_code[mine], batch.code[rows]])
        drop = self._unheld(
            code,
            np.concatenate([self._steps(pooled), step]),
            np.concatenate([_ts(pooled), ts]),
            np.concatenate([np.zeros(len(mine), dtype=bool), np.ones(len(rows), dtype=bool)]),
            prune_at,
            lambda pending: np.array([key in pending for key in keys], dtype=bool)[code],
        )
        return rows[~drop[len(mine):]]

    def _rows(self, batch: EventBatch, rows: np.ndarray, keys: list[str]) -> pa.Table:
        """Pool rows (references, no Python objects) for these events of the batch."""
        if not len(rows):
            return pool.empty(self.schema)
        code = batch.code[rows]
        value_code = batch.value_code[rows]
        refs = batch.refs(rows)
        columns: dict[str, pa.Array] = {
            "key": pa.array(keys, pa.string()).take(pa.array(code)),
            "ts": pa.array(batch.ts[rows], pa.int64()),
            "rule": pa.array(list(batch.rules), pa.string()).take(pa.array(batch.rule_index[rows])),
            "value": pa.array(batch.values, pa.string()).take(pa.array(np.maximum(value_code, 0), mask=value_code < 0))
            if batch.values else pa.nulls(len(rows), pa.string()),
        }
        for field in self.schema:
            if field.name not in columns:
                columns[field.name] = refs[field.name].cast(field.type) if field.name in refs else pa.nulls(len(rows), field.type)
        return pa.table(columns, schema=self.schema)

    def _screen(
        self, batch: EventBatch, table: pa.Table, pool_code: np.ndarray, open_findings: dict[Group, list[OpenFinding]], ready: set[Group]
    ) -> np.ndarray:
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
        if open_findings or ready:
            for code, group in enumerate(batch.groups):
                if group in open_findings or group in ready:
                    hot[code] = True
        mine = np.flatnonzero(pool_code >= 0)
        pooled = table.take(pa.array(mine)) if len(mine) < table.num_rows else table
        code = np.concatenate([batch.code, pool_code[mine]])
        ts = np.concatenate([batch.ts, _ts(pooled)])
        if corr.type in ("event_count", "value_count"):
            hot |= _could_count(corr, code, ts, self.span_us, count, batch, pooled)
        else:
            batch_steps = np.array([corr.step_of.get(rule, 0) for rule in batch.rules], np.int64)[batch.rule_index]
            step = np.concatenate([batch_steps, self._steps(pooled)])
            hot |= all_rules_within(code, step, ts, len(corr.rules), self.span_us, count)
        return hot

    def _steps(self, table: pa.Table) -> np.ndarray:
        """The correlation step of each row (by its rule or chained scenario)."""
        corr = self.scenario.correlation
        if corr is None or not table.num_rows:
            return np.zeros(table.num_rows, np.int64)
        members = list(corr.step_of)
        index = pc.index_in(table.column("rule"), value_set=pa.array(members, pa.string()))
        step_of_member = np.array([corr.step_of[m] for m in members], np.int64)
        return step_of_member[index.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)]

    def _advance(
        self,
        group: Group,
        pool: list[Event],
        pending: list[Event],
        current: OpenFinding | None,
        fire_until: int,
        now: datetime,
        touched: dict[str, OpenFinding],
        absorbed: list[Absorbed],
    ) -> list[Event]:
        """The per-event semantics for one group: extend the open finding with what it covers,
        pool the rest, fire the earliest satisfying window once the watermark passed its end,
        and go round again with what follows it. Returns the group's pool."""
        cap = self.checklist.evidence_cap
        check_pool = group in self.cache.unsettled
        self.cache.unsettled.pop(group, None)
        superseded: OpenFinding | None = None  # passed by: closes when a new finding opens
        cause = NEVER  # when the latest event that extended a finding arrived
        while True:
            rest: list[Event] = []
            for index, event in enumerate(pending):
                if current is not None and current.covers(event.ts, self.reopen_us):
                    current.absorb(event, cap, self.chained)
                    touched[current.finding.id] = current
                    cause = max(cause, _arrived(event))
                    absorbed.append((current, event, cause))
                    continue
                if current is not None and event.ts > current.last_us + self.reopen_us:
                    superseded, current = current, None
                rest = pending[index:]
                break
            if current is not None and pool:
                pool = self._absorb_covered(current, pool, touched, absorbed, cause)
            if not rest and not check_pool:
                return pool
            check_pool = False
            pool = _once_per_line(sorted(pool + rest, key=EVENT_ORDER), self.chained) if rest else pool
            fired = first_firing(pool, self.scenario.correlation)
            if fired is None:
                return pool
            end = max(e.ts for e in fired)
            if end + self.wait_us > fire_until:
                self.cache.unsettled[group] = end + self.wait_us  # another source may still hold earlier events
                return pool
            fired_ids = {id(e) for e in fired}
            fired_at = fired[-1].order
            if self.suppressed is not None and self.suppressed(self.entity(group), min(e.ts for e in fired), end):
                # the same entity's finding of a suppressing scenario holds this time: the
                # window's events are spent without a finding of their own
                pending = [e for e in pool if id(e) not in fired_ids and e.order > fired_at]
                pool = []
                continue
            current = self._open(fired, now)
            touched[current.finding.id] = current
            cause = end + self.wait_us
            absorbed.extend((current, e, cause) for e in fired)
            if superseded is not None:
                self._close(superseded)
                touched[superseded.finding.id] = superseded
                superseded = None
            # Events after the firing point go round again: the new finding may absorb them.
            # Those before it are spent: a later window holding one would start inside this
            # finding, two findings of one entity over the same time (one attack, one finding).
            pending = [e for e in pool if id(e) not in fired_ids and e.order > fired_at]
            pool = []

    def _advance_by_arrival(
        self,
        group: Group,
        pool: list[Event],
        pending: list[Event],
        opens: list[OpenFinding],
        fire_until: int,
        now: datetime,
        touched: dict[str, OpenFinding],
        absorbed: list[Absorbed],
    ) -> list[Event]:
        """`_advance` for a scenario that chains others, whose findings hand their events over
        when their own window fires, hours after the scan it holds. Events are taken in the
        order they arrive, in event time (`Event.arrival`); a window fires as soon as that time
        passes its end; and an event joins the open finding of its group that covers its time,
        not only the latest one (a late stage belongs to the attack it was part of). A finding
        passed by stays open until the watermark closes it, as long as a stage can still come.
        So where batches were cut does not decide which finding an event joins (a cron run's
        big batches and a daemon's small ones), and one attack gives one finding."""
        cap = self.checklist.evidence_cap
        corr = self.scenario.correlation
        opens = list(opens)
        self.cache.unsettled.pop(group, None)
        queue = deque(sorted(((_arrived(e), e) for e in pending), key=lambda item: arrival_order(item[1])))
        known = pool  # arrived and waiting, in event order
        window: list[Event] | None = None  # the earliest window `known` holds ...
        searched = False  # ... is up to date
        while True:
            if not searched:
                searched = True
                known = _once_per_line(known, self.chained)
                window = first_firing(known, corr) if known else None
            fire_at = max(e.ts for e in window) + self.wait_us if window is not None else 0
            if window is not None and (fire_at < queue[0][0] if queue else fire_at <= fire_until):
                fired, window, searched = window, None, False
                fired_ids = {id(e) for e in fired}
                fired_at = fired[-1].order
                again = [e for e in known if id(e) not in fired_ids and e.order > fired_at]
                known = []
                if self.suppressed is None or not self.suppressed(
                    self.entity(group), min(e.ts for e in fired), fire_at - self.wait_us
                ):
                    opened = self._open(fired, now)
                    opens.append(opened)
                    touched[opened.finding.id] = opened
                    absorbed.extend((opened, e, fire_at) for e in fired)
                # what followed the firing point arrives again, now: the new finding may take it
                queue.extendleft((fire_at, e) for e in reversed(again))
                continue
            if not queue:
                if window is not None:
                    self.cache.unsettled[group] = fire_at  # another source may still hold earlier events
                return known
            cause, event = queue.popleft()
            joined = covering(opens, event.ts, self.reopen_us)
            if joined is None:
                bisect.insort(known, event, key=EVENT_ORDER)
                searched = False
                continue
            joined.absorb(event, cap, self.chained)
            touched[joined.finding.id] = joined
            absorbed.append((joined, event, cause))
            if known:
                before = len(known)
                known = self._absorb_covered(joined, known, touched, absorbed, cause)
                searched = searched and len(known) == before  # fewer events: perhaps another window

    def _absorb_covered(
        self,
        current: OpenFinding,
        pool: list[Event],
        touched: dict[str, OpenFinding],
        absorbed: list[Absorbed],
        cause: int,
    ) -> list[Event]:
        """Pooled events the open finding now covers join it: a chained stage handed over late
        (when its own window fired) can bridge the finding to a login that waited in the pool.
        They join when what extended the finding arrived (`cause`)."""
        kept: list[Event] = []
        for event in pool:
            if current.covers(event.ts, self.reopen_us):
                current.absorb(event, self.checklist.evidence_cap, self.chained)
                touched[current.finding.id] = current
                absorbed.append((current, event, max(cause, _arrived(event))))
            else:
                kept.append(event)
        return kept

    # -- state -------------------------------------------------------------------------------

    def _ensure(self, store: Store) -> None:
        """Load the pool once per state database (this process holds the state lock, so the
        copy stays exact); windows that were waiting when a run stopped wait again."""
        if self.cache.current(store):
            return
        blobs = load_state(store, self.scenario.id)
        table = pool.concat([pool.empty(self.schema), *(pool.from_blob(blob, self.schema) for blob in blobs)])
        legacy = take_legacy_events(store, self.scenario.id)
        if legacy:
            table = pool.concat([table, pool.from_events([Event(**row) for row in legacy], self.schema)])
        self.cache.fill(store, table)
        if legacy:
            self.cache.touch(_ts(table))
        self.closable = self.closed_before = NEVER
        self._find_waiting(store)

    def _reader(self, store: Store) -> ReadBack | None:
        read_back = self.read_back
        if read_back is None:
            return None
        return lambda keys: read_back(store, keys)

    def _find_waiting(self, store: Store) -> None:
        """Groups of the loaded pool holding a window that fires once the watermark passes it."""
        table = self.cache.table
        corr = self.scenario.correlation
        if not table.num_rows or corr is None:
            return
        code = pool.key_codes(table)
        groups = int(code.max()) + 1
        ts = _ts(table)
        if corr.type in ("event_count", "value_count"):
            maybe = _could_count(corr, code, ts, self.span_us, groups, EventBatch.empty(), table)
        else:
            maybe = all_rules_within(code, self._steps(table), ts, len(corr.rules), self.span_us, groups)
        candidates = pool.filter_rows(table, maybe[code])
        by_group: dict[Group, list[Event]] = defaultdict(list)
        for event in pool.to_events(candidates, {}, self._reader(store)):
            by_group[event.group].append(event)
        for group, events in by_group.items():
            fired = first_firing(sorted(events, key=EVENT_ORDER), corr)
            if fired is not None:
                self.cache.unsettled[group] = max(e.ts for e in fired) + self.wait_us

    def _has_pool(self, store: Store) -> bool:
        self._ensure(store)
        return bool(self.cache.unsettled)

    def _prune(self, store: Store, cutoff: int, prune_at: int) -> None:
        """Forget what no window can use any more: rows behind the cutoff, and later steps of an
        ordered chain that no first step precedes or can still precede; write the pool back."""
        cache = self.cache
        table = cache.table
        if table.num_rows and (cutoff > cache.cutoff or cache.dirty):
            keep = _ts(table) >= cutoff
            keep &= self._held(table, prune_at)
            if not keep.all():
                cache.touch(_ts(table)[~keep])
                cache.table = table = pool.filter_rows(table, keep)
        cache.cutoff = max(cache.cutoff, cutoff)
        if cache.dirty:
            self._save(store, prune_at)
        self.closable = max(self.closable, prune_at - self.close_after_us)

    def _save(self, store: Store, prune_at: int) -> None:
        """Write the changed time buckets of the pool (one compact row each) in the batch's
        transaction: a batch rewrites the minutes it touched, not hours of held chain steps."""
        cache = self.cache
        table = cache.table
        bucket = _ts(table) // BUCKET_US
        dirty = np.array(sorted(cache.dirty), dtype=np.int64)
        # the dirty buckets' rows, grouped by bucket in table order: one take, then a slice per
        # bucket (a filter of the whole table per bucket cost O(pool x buckets) per batch)
        rows = np.flatnonzero(np.isin(bucket, dirty))
        rows = rows[np.argsort(bucket[rows], kind="stable")]
        grouped = table.take(pa.array(rows))
        starts = np.searchsorted(bucket[rows], dirty, side="left")
        ends = np.searchsorted(bucket[rows], dirty, side="right")
        parts = {
            int(number): pool.to_blob(grouped.slice(start, end - start)) if end > start else None
            for number, start, end in zip(dirty.tolist(), starts.tolist(), ends.tolist())
        }
        groups = pc.count_distinct(table.column("key")).as_py() if table.num_rows else 0
        save_state(store, self.scenario.id, parts, table.num_rows, groups, prune_at)
        cache.dirty = set()
        self.closable = max(self.closable, prune_at - self.close_after_us)

    def _held(self, table: pa.Table, prune_at: int) -> np.ndarray:
        """Rows an ordered chain may still use. A later step (a login) waits only while a first
        step (a scan) of its group precedes it within the timespan, or could still arrive: a
        late line, or the finding of a chained scenario that holds events of the group and may
        still fire."""
        corr = self.scenario.correlation
        keep = np.ones(table.num_rows, dtype=bool)
        if corr is None or corr.type != "temporal_ordered":
            return keep
        step = self._steps(table)
        ts = _ts(table)
        if not ((step > 0) & (ts < prune_at - self.lateness_us)).any():
            return keep
        return ~self._unheld(
            pool.key_codes(table),
            step,
            ts,
            keep,
            prune_at,
            lambda pending: pc.is_in(table.column("key"), value_set=pa.array(sorted(pending), pa.string())).to_numpy(
                zero_copy_only=False
            ),
        )

    def _unheld(
        self,
        code: np.ndarray,
        step: np.ndarray,
        ts: np.ndarray,
        asked: np.ndarray,
        prune_at: int,
        in_pending: Callable[[set[str]], np.ndarray],
    ) -> np.ndarray:
        """Of the `asked` rows (group code, step, time), the later steps no window can use any
        more: no late line can precede them, no first step of their group does within the
        timespan, and none can still arrive from a chained scenario (`in_pending`: per row,
        is its group's key among these)."""
        later = asked & (step > 0) & (ts < prune_at - self.lateness_us)  # no late line can precede them
        drop = later & ~has_first_step_before(code, ts, step == 0, later, self.span_us)
        if drop.any():
            pending = self.first_step_pending() if self.first_step_pending is not None else None
            if pending is None:  # unknown: wait as long as a chained first step can take to fire
                drop &= ts < prune_at - self.hold_us
            elif pending:
                drop &= ~in_pending(pending)
        return drop
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

    def _load_open(self, store: Store, groups: set[Group]) -> dict[Group, list[OpenFinding]]:
        """Open findings of this scenario for these groups, per group by their end: the last is
        its current one. Open findings are few (`_prune` closes those the watermark has passed)
        and the groups may be thousands, so the match goes from findings to groups."""
        found: dict[Group, list[OpenFinding]] = {}
        for row in store.execute(
            "SELECT entity_key, data FROM findings WHERE scenario_id = ? AND status = 'open' ORDER BY last_seen, id",
            (self.scenario.id,),
        ):
            entity = json.loads(row["entity_key"])
            group = tuple(entity.get(name) for name in self.scenario.entity)
            if group in groups:
                found.setdefault(group, []).append(OpenFinding.of(Finding.from_dict(json.loads(row["data"]))))
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
            item.absorb(event, self.checklist.evidence_cap, self.chained)
        item.changed = "new"
        return item

    @staticmethod
    def _close(item: OpenFinding) -> None:
        item.finding = Finding(**{**item.finding.__dict__, "status": "closed"})
        if item.changed is None:
            item.changed = "closed"


def _arrived(event: Event) -> int:
    return event.ts if event.arrival is None else event.arrival


def _once_per_line(events: list[Event], chained: frozenset[str]) -> list[Event]:
    """Events of chained scenarios count once per line (first in event order wins)."""
    if not chained:
        return events
    seen: set[tuple[str, int]] = set()
    out = []
    for event in events:
        if event.rule in chained:
            key = (event.file_uid, event.offset)
            if key in seen:
                continue
            seen.add(key)
        out.append(event)
    return out


def _iso_floor(us: int) -> str:
    """`iso()` text of the whole second at or before `us`. Stored times carry microseconds
    only when present ("...:04Z" sorts after "...:04.5Z"), so comparisons against stored text
    use whole seconds, one second wider than needed."""
    if us <= NEVER:
        return ""
    if us >= FOREVER:
        return "9999"
    return iso(from_us(us - us % _SECOND_US))  # type: ignore[return-value]


def _codes_among(names: list[str], values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Codes of `values` in the batch's value dictionary `names` (new values get new codes
    past its end, -1 for none), looked up in C++: the dictionary may hold every user name
    a day of scanners tried."""
    if not len(values):
        return np.empty(0, np.int64)
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    found = pc.index_in(array, value_set=pa.array(names, pa.string())).to_numpy(zero_copy_only=False)
    codes = np.where(np.isnan(found), -1, np.nan_to_num(found, nan=-1)).astype(np.int64)
    unknown = np.flatnonzero((codes < 0) & array.is_valid().to_numpy(zero_copy_only=False))
    if len(unknown):
        extra = pc.dictionary_encode(array.take(pa.array(unknown))).indices.to_numpy(zero_copy_only=False)
        codes[unknown] = len(names) + extra.astype(np.int64)
    return codes


def _ts(table: pa.Table) -> np.ndarray:
    return table.column("ts").to_numpy()


def _could_count(
    corr: Correlation, code: np.ndarray, ts: np.ndarray, span_us: int, groups: int, batch: EventBatch, pooled: pa.Table
) -> np.ndarray:
    """Per group: can some window hold enough events (or distinct values)? `code`/`ts` cover the
    batch's events, then the pooled rows."""
    need = corr.condition_value + (1 if corr.condition_op == "gt" else 0)
    bound = max_window_counts(code, ts, span_us, groups)
    if corr.type == "value_count":
        values = np.concatenate([batch.value_code, _codes_among(batch.values, pooled.column("value"))])
        bound = np.minimum(bound, distinct_counts(code, values, groups))
    return bound >= need


def _latest_firing(
    checklist: Checklist, members: tuple[str, ...], nested: Callable[[Checklist, Scenario], int]
) -> int:
    """How long after its first event a finding of one of `members` can still fire
    (microseconds): its timespan, plus what it waits for chained scenarios of its own (`nested`)."""
    delay = 0
    for member in members:
        other = checklist.scenario(member)
        if other is not None and other.correlation is not None:
            delay = max(delay, other.correlation.timespan // timedelta(microseconds=1) + nested(checklist, other))
    return delay


def _first_step_delay(checklist: Checklist, scenario: Scenario) -> int:
    """How long after its events a first step of this ordered chain can still arrive, beyond
    late lines (microseconds)."""
    corr = scenario.correlation
    if corr is None or corr.type != "temporal_ordered":
        return 0
    return _latest_firing(checklist, corr.step_members(0), _first_step_delay)


def _chained_delay(checklist: Checklist, scenario: Scenario) -> int:
    """How long after its events any chained scenario (of any step) can still hand them over."""
    return _latest_firing(checklist, scenario.referenced_scenarios(), _chained_delay)


def _suppressor_delay(checklist: Checklist, scenario: Scenario) -> int:
    """How long after a window's end a suppressing scenario's finding overlapping it may still
    fire, late lines included; 0 without suppressors."""
    if not scenario.suppressed_by:
        return 0
    return _latest_firing(checklist, scenario.suppressed_by, _chained_delay) + checklist.lateness // timedelta(microseconds=1)
