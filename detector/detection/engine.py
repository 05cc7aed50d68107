"""The detection engine: matcher + correlators + confidence, plugged into the pipeline as the
batch sink. Everything it writes happens inside the batch transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from detector.checklist import Checklist, load_checklist
from detector.checklist.model import Scenario
from detector.config import CrsSettings
from detector.detection import confidence
from detector.detection.batch import BatchContext
from detector.detection.correlate import Correlator
from detector.detection.openfinding import Absorbed, OpenFinding
from detector.detection.events import Event, EventBatch, FrameColumns, frame_events, to_us
from detector.detection.pool import pool_keys_for
from detector.detection.matcher import Matcher
from detector.model import Finding, Peer
from detector.sources.lineback import read_back
from detector.state.history import record_checklist
from detector.state.store import Store

if TYPE_CHECKING:  # the CRS modules load only when the CRS is configured (scan start-up without it)
    from detector.detection.crs.stage import CrsStage

CRS_SCENARIO = "web-crs-inbound"  # detector.checklist.crs.scenario.SCENARIO_ID
ReadBackFn = Callable[[Store, list[tuple[str, int]]], dict[tuple[str, int], str]]


def _topological(checklist: Checklist) -> list[str]:
    """Scenario ids, every chained scenario after the scenarios it references (and those that
    suppress it)."""
    done: list[str] = []
    seen: set[str] = set()

    def visit(sid: str) -> None:
        if sid in seen:
            return
        seen.add(sid)
        scenario = checklist.scenario(sid)
        for ref in (*scenario.referenced_scenarios(), *scenario.suppressed_by) if scenario else ():
            visit(ref)
        done.append(sid)

    for scenario in checklist.scenarios:
        visit(scenario.id)
    return done


class RuleEvaluator:
    """The half of the detection engine that runs where a batch is parsed, possibly on another
    machine (a Dask worker): single-event matching, and cutting a batch down to the rows that
    matched, which are all that `DetectionEngine.process` reads. Pickles as its checklist; the
    rules are compiled again on first use where it lands."""

    def __init__(self, checklist: Checklist, matcher: Matcher | None = None) -> None:
        self.checklist = checklist
        self._matcher = matcher
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"checklist": self.checklist}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["checklist"])  # type: ignore[misc]

    @property
    def matcher(self) -> Matcher:
        with self._lock:
            if self._matcher is None:
                self._matcher = Matcher(self.checklist)
            return self._matcher

    def prepare(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Rows matched by each rule (the `prepared` value `DetectionEngine.process` takes)."""
        return self.matcher.match(frame)

    @staticmethod
    def compact(frame: pd.DataFrame, hits: dict[str, np.ndarray]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """Only the rows some rule matched, with `hits` renumbered to them: what a worker ships.
        `process` on the result finds what it finds on the whole batch (it reads matched rows only)."""
        keep = np.unique(np.concatenate(list(hits.values()))) if hits else np.empty(0, np.int64)
        if len(keep) == len(frame):
            return frame, hits
        rows = frame.iloc[keep].reset_index(drop=True)
        return rows, {key: np.searchsorted(keep, matched) for key, matched in hits.items()}

    @staticmethod
    def merge(parts: list[tuple[pd.DataFrame, dict[str, np.ndarray]]]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """Consecutive batches' (rows, hits) as one batch: correlation finds the same in it
        (findings do not depend on how a file is cut into batches), at a fraction of the
        per-batch cost."""
        if len(parts) == 1:
            return parts[0]
        merged: dict[str, list[np.ndarray]] = {}
        base = 0
        for frame, hits in parts:
            for key, rows in hits.items():
                merged.setdefault(key, []).append(rows + base)
            base += len(frame)
        frame = pd.concat([f for f, _ in parts], ignore_index=True)
        return frame, {key: np.concatenate(rows) for key, rows in merged.items()}


class DetectionEngine:
    """Batch sink evaluating a checklist; also the `rules test` and `match` workhorse."""

    def __init__(self, checklist: Checklist, crs: CrsStage | None = None, read_back: ReadBackFn | None = read_back) -> None:
        self.checklist = checklist
        self.crs = crs  # the OWASP CRS, scoring requests before the rules read its columns
        self.crs_detail = None
        if crs is not None:
            from detector.detection.crs.evidence import EvidenceDetail

            self.crs_detail = EvidenceDetail(crs)  # rule ids per evidence line
        self.notices: list[str] = []
        self.matcher = Matcher(checklist)
        self.active = [s for s in checklist.scenarios if s.status != "deprecated"]
        active_ids = {s.id for s in self.active}
        self.order = [sid for sid in _topological(checklist) if sid in active_ids]
        self.dependents: dict[str, list[str]] = {}
        for scenario in self.active:
            for ref in scenario.referenced_scenarios():
                self.dependents.setdefault(ref, []).append(scenario.id)
        self.carry = {s.id: self._carried(s) for s in self.active}
        self.correlators = {s.id: Correlator(checklist, s, read_back, self.carry[s.id]) for s in self.active}
        self._keys_memo: dict[tuple[str, tuple[str, ...]], tuple[object, set[str] | None]] = {}
        for scenario in self.active:
            if scenario.correlation is not None and set(scenario.correlation.step_members(0)) & set(self.correlators):
                self.correlators[scenario.id].first_step_pending = self._pending_for(scenario)

    def _pending_for(self, scenario: Scenario) -> Callable[[], set[str] | None]:
        corr = scenario.correlation
        assert corr is not None
        members = [m for m in corr.step_members(0) if m in self.correlators]

        def pending() -> set[str] | None:
            keys: set[str] = set()
            for member in members:
                found = self._pending_keys(member, corr.group_by, set())
                if found is None:
                    return None
                keys |= found
            return keys

        return pending

    def _pending_keys(self, sid: str, group_by: tuple[str, ...], seen: set[str]) -> set[str] | None:
        """Keys (of `group_by`) for which scenario `sid` may still fire: those of the events its
        pool holds, and (same key space) of what may still fire for the scenarios it chains.
        None when its events do not tell the `group_by` values."""
        if sid in seen or sid not in self.correlators:
            return set()
        seen.add(sid)
        correlator = self.correlators[sid]
        table = correlator.cache.table
        memo = self._keys_memo.get((sid, group_by))
        if memo is not None and memo[0] is table:  # the pool did not change since
            keys = memo[1]
        else:
            keys = pool_keys_for(table, correlator.scenario.entity, group_by)
            self._keys_memo[(sid, group_by)] = (table, keys)
        if keys is None:
            return None
        keys = set(keys)
        if not set(group_by) <= set(correlator.scenario.entity):
            # keys linked through its own lines (the user a login names): a finding it has yet to
            # raise needs such a line, which it holds if it can still use it
            return keys
        for ref in correlator.scenario.referenced_scenarios():
            more = self._pending_keys(ref, group_by, seen)
            if more is None:
                return None
            keys |= more
        return keys

    def _carried(self, scenario: Scenario) -> tuple[str, ...]:
        """Fields a scenario keeps with its events beyond its entity: what the scenarios chaining
        it group by (the address that logged in links the user it logged in as)."""
        wanted: set[str] = set()
        for dependent_id in self.dependents.get(scenario.id, []):
            dependent = self.checklist.scenario(dependent_id)
            if dependent is not None and dependent.correlation is not None:
                wanted |= set(dependent.correlation.group_by) - set(scenario.entity)
        return tuple(sorted(wanted))

    # -- BatchSink ---------------------------------------------------------------------------

    def prepare(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Single-event matching: pure, so the pipeline runs it in its read-ahead thread."""
        if self.crs is not None:
            frame = self.crs.enrich(frame)
        return self.matcher.match(frame)

    def evaluator(self) -> RuleEvaluator:
        """`prepare` (and `compact`) as an object that can be shipped to a Dask worker."""
        return RuleEvaluator(self.checklist, self.matcher)

    def process(
        self, store: Store, frame: pd.DataFrame, ctx: BatchContext, hits: dict[str, np.ndarray] | None = None
    ) -> None:
        if hits is None:
            hits = self.prepare(frame)
        events = self._events(FrameColumns(frame), hits, ctx)
        self._correlate(store, ctx.now, events, ctx.watermark)

    def finish(self, store: Store, now: datetime) -> None:
        """The run read every source: windows waiting for the watermark fire now."""
        self._correlate(store, now, {}, None, final=True)

    def _correlate(
        self, store: Store, now: datetime, events: dict[str, EventBatch], watermark: int | None, final: bool = False
    ) -> None:
        forwarded: dict[str, list[Event]] = {}
        touched: dict[str, OpenFinding] = {}
        stored: dict[tuple[str, str], list[Peer]] = {}  # findings as stored before this batch, per entity value
        for sid in self.order:
            batch = events.get(sid, EventBatch.empty())
            extra = forwarded.pop(sid, None)
            if extra:
                batch = batch.concat(EventBatch.of(_once_per_line(extra)))
            correlator = self.correlators[sid]
            if correlator.wait_us:
                correlator.suppressed = self._suppression(store, touched, stored, correlator.scenario)
            if final:
                items, absorbed = correlator.flush(store, now, batch)
            else:
                items, absorbed = correlator.run(store, batch, now, watermark)
            for item in items:
                touched[item.finding.id] = item
            for dependent in self.dependents.get(sid, []):
                forwarded.setdefault(dependent, []).extend(self._forward(sid, dependent, absorbed))
        if touched:
            self._persist(store, touched, now)
        for correlator in self.correlators.values():
            correlator.close_passed(store)

    # -- helpers -----------------------------------------------------------------------------

    def _suppression(
        self, store: Store, touched: dict[str, OpenFinding], stored: dict[tuple[str, str], list[Peer]], scenario: Scenario
    ) -> Callable[[dict[str, str], int, int], bool]:
        """Does a finding of a scenario suppressing `scenario` hold this entity at some time of
        [first, last]? Stored findings, and this batch's so far (suppressing scenarios run
        first). Only overlap counts: a slow attack that speeds up is reported by both. The
        batch writes its findings at its end, so the stored ones are read once per entity value
        (`stored`), not once per window (1,500 queries on 1M lines of an exposed host)."""
        names = set(scenario.suppressed_by)

        def suppressed(entity: dict[str, str], first: int, last: int) -> bool:
            spans = [
                (item.finding.scenario_id, item.first_us, item.last_us)
                for item in touched.values()
                if item.finding.scenario_id in names and item.finding.entity == entity
            ]
            key = next(iter(entity.items()))
            if key not in stored:
                stored[key] = store.findings_with_entity_value(*key)
            spans += [
                (peer.scenario_id, to_us(peer.first_seen), to_us(peer.last_seen))
                for peer in stored[key]
                if peer.scenario_id in names and peer.entity == entity
            ]
            return any(start <= last and first <= end for _, start, end in spans)

        return suppressed

    def record_checklist(self, store: Store, now: datetime) -> list[str]:
        """Record this checklist version; returns warnings (unversioned changes, overdue reviews,
        a change of CRS version)."""
        self.notices = []
        if self.crs is not None:
            from detector.detection.crs.stage import crs_version_change

            self.notices = crs_version_change(store, self.checklist)  # what a one-shot scan prints too
        return self.notices + record_checklist(store, self.checklist, now)

    def _events(self, columns: FrameColumns, hits: dict[str, np.ndarray], ctx: BatchContext) -> dict[str, EventBatch]:
        """Matched rows as each scenario's correlation events, still as columns."""
        out: dict[str, EventBatch] = {}
        if not hits:
            return out
        for scenario in self.active:
            corr = scenario.correlation
            wanted = corr.rules if corr else tuple(r.name for r in scenario.rules)
            rule_hits = [(name, hits[f"{scenario.id}/{name}"]) for name in wanted if f"{scenario.id}/{name}" in hits]
            if not rule_hits:
                continue
            batch = frame_events(
                columns,
                rule_hits,
                entity=scenario.entity,
                required=corr.group_by if corr is not None else (),
                value_field=corr.value_field if corr is not None else None,
                file_uid=ctx.file_uid,
                path=ctx.path,
                application=ctx.application,
                carry=self.carry[scenario.id],
            )
            if len(batch):
                out[scenario.id] = batch
        return out

    def _forward(self, source_id: str, dependent_id: str, absorbed: list[Absorbed]) -> list[Event]:
        """Events absorbed into findings of `source_id` become events of rule `source_id`
        for the scenarios that chain it, keyed by the dependent's entity: from the finding's
        entity, the values its own lines linked (the user an address logged in as), or the
        event's line."""
        source = self.checklist.scenario(source_id)
        dependent = self.checklist.scenario(dependent_id)
        assert source is not None and dependent is not None
        needed = dependent.correlation.group_by if dependent.correlation is not None else ()
        if set(dependent.entity) <= set(source.entity):  # the common case: the same key, or part of it
            at = [source.entity.index(f) for f in dependent.entity]
            must = [source.entity.index(f) for f in needed]
            return [
                Event(event.ts, source_id, tuple(event.group[i] for i in at), None, event.file_uid, event.offset,
                      event.path, event.line, event.log_kind, event.application, event.fields, arrival)
                for _, event, arrival in absorbed
                if all(event.group[i] is not None for i in must)
            ]
        out = []
        for item, event, arrival in absorbed:
            values = {
                **(event.fields or {}),
                **item.linked,
                **{k: v for k, v in zip(source.entity, event.group) if v is not None},
            }
            if any(values.get(f) is None for f in needed):
                continue
            group = tuple(values.get(f) for f in dependent.entity)
            out.append(
                Event(event.ts, source_id, group, None, event.file_uid, event.offset, event.path, event.line,
                      event.log_kind, event.application, values or None, arrival)
            )
        return out

    def _persist(self, store: Store, touched: dict[str, OpenFinding], now: datetime) -> None:
        """Write the batch's findings, then re-rate every finding sharing an entity value with
        them: a new finding can corroborate an older one (confidence only ever rises)."""
        built: dict[str, tuple[Finding, str]] = {}
        for fid, item in touched.items():
            finding = item.build()
            if self.crs_detail is not None and finding.scenario_id == CRS_SCENARIO:
                finding = self.crs_detail.annotate(finding)
                item.finding = replace(item.finding, extra={**item.finding.extra, "crs": finding.extra["crs"]})
            built[fid] = (finding, item.changed or "extended")
        peers = _PeerCache(store, {fid: f for fid, (f, _) in built.items()})  # written once, below
        affected: dict[str, Finding | Peer] = {fid: f for fid, (f, _) in built.items()}
        for finding, _ in list(built.values()):
            for other in peers.of(finding.entity, finding.id):
                affected.setdefault(other.id, other)
        for fid, subject in affected.items():
            value, reasons = confidence.compute(subject, self.checklist, peers.of(subject.entity, fid))
            # compare at the precision findings are stored with (Finding.to_dict rounds to 4
            # decimals), or a value that was rounded down reads as a raise on every batch
            value = round(value, 4)
            is_new = fid in built and built[fid][1] == "new"
            raised = value > subject.confidence + 1e-9 or is_new
            if fid not in built and not raised:
                continue
            finding = built[fid][0] if fid in built else store.get_finding(fid)
            if finding is None:
                continue
            if value >= finding.confidence - 1e-9:
                finding = replace(finding, confidence=max(value, finding.confidence), confidence_reasons=reasons)
            change = built[fid][1] if fid in built else "confidence"
            if change == "closed":
                change = None
            store.put_finding(finding, change=change, now=now)


def _once_per_line(events: list[Event]) -> list[Event]:
    """A line that several chained scenarios' findings hold (a scanner's request is a scanner
    hit and a sensitive-file probe) is one event of the chain."""
    seen: set[tuple[str, int]] = set()
    out = []
    for event in events:
        key = (event.file_uid, event.offset)
        if key not in seen:
            seen.add(key)
            out.append(event)
    return out


class _PeerCache:
    """Findings per entity value, loaded once per batch (one entity value is often shared by
    every finding of a batch, e.g. the attacked `user.name`). The batch's own findings are
    read as built (`fresh`), not as stored: each is then written once per batch, not twice."""

    def __init__(self, store: Store, fresh: dict[str, Finding] | None = None) -> None:
        self.store = store
        self.by_value: dict[tuple[str, str], list[Peer]] = {}
        self.by_entity: dict[tuple[tuple[str, str], ...], list[Peer]] = {}
        self.fresh: dict[tuple[str, str], dict[str, Peer]] = {}
        for fid, finding in (fresh or {}).items():
            peer = _peer(finding)
            for field, value in finding.entity.items():
                if value is not None:
                    self.fresh.setdefault((field, value), {})[fid] = peer

    def of(self, entity: dict[str, str], exclude_id: str) -> list[Peer]:
        shared = tuple((field, value) for field, value in entity.items() if value is not None)
        peers = self.by_entity.get(shared)
        if peers is None:  # a batch asks for the same entity once per finding sharing it
            found: dict[str, Peer] = {}
            for key in shared:
                if key not in self.by_value:
                    fresh = self.fresh.get(key, {})
                    stored = {p.id: p for p in self.store.findings_with_entity_value(*key)}
                    self.by_value[key] = list({**stored, **fresh}.values())
                for peer in self.by_value[key]:
                    found.setdefault(peer.id, peer)
            peers = self.by_entity[shared] = sorted(found.values(), key=lambda p: p.id)
        return [peer for peer in peers if peer.id != exclude_id]


def _peer(finding: Finding) -> Peer:
    """What `Store.findings_with_entity_value` would read back once `finding` is written."""
    distinct = finding.extra.get("distinct_values")
    return Peer(
        id=finding.id,
        scenario_id=finding.scenario_id,
        scenario_version=finding.scenario_version or "",
        confidence=float(finding.confidence),
        count=int(finding.count or 0),
        exercise=bool(finding.exercise),
        first_seen=finding.first_seen,
        last_seen=finding.last_seen,
        log_kinds=tuple(finding.log_kinds),
        entity=dict(finding.entity),
        extra={} if distinct is None else {"distinct_values": int(distinct)},
    )


def load_engine(
    directory: Path | None, now: datetime | None = None, sigma: Sequence[Path] = (), crs: CrsSettings | None = None,
) -> DetectionEngine:
    """Load and compile a checklist (default: the bundled one), with extra Sigma rule paths and the OWASP CRS when
    configured."""
    checklist = load_checklist(directory, sigma)
    if crs is None:
        return DetectionEngine(checklist)
    from detector.checklist.crs.scenario import with_crs
    from detector.detection.crs.stage import load_crs_stage

    stage = load_crs_stage(crs)
    return DetectionEngine(with_crs(checklist, stage.ruleset, crs), stage)
