"""The detection engine: matcher + correlators + confidence, plugged into the pipeline as the
batch sink. Everything it writes happens inside the batch transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from detector.checklist import Checklist, load_checklist
from detector.config import CrsSettings
from detector.detection import confidence
from detector.detection.batch import BatchContext
from detector.detection.correlate import Correlator, OpenFinding
from detector.detection.events import Event, EventBatch, FrameColumns, frame_events
from detector.detection.matcher import Matcher
from detector.model import Finding, Peer
from detector.state.history import record_checklist
from detector.state.store import Store

if TYPE_CHECKING:  # the CRS modules load only when the CRS is configured (scan start-up without it)
    from detector.detection.crs.stage import CrsStage

CRS_SCENARIO = "web-crs-inbound"  # detector.checklist.crs.scenario.SCENARIO_ID


def _topological(checklist: Checklist) -> list[str]:
    """Scenario ids, every chained scenario after the scenarios it references."""
    done: list[str] = []
    seen: set[str] = set()

    def visit(sid: str) -> None:
        if sid in seen:
            return
        seen.add(sid)
        scenario = checklist.scenario(sid)
        for ref in scenario.referenced_scenarios() if scenario else ():
            visit(ref)
        done.append(sid)

    for scenario in checklist.scenarios:
        visit(scenario.id)
    return done


class DetectionEngine:
    """Batch sink evaluating a checklist; also the `rules test` and `match` workhorse."""

    def __init__(self, checklist: Checklist, crs: CrsStage | None = None) -> None:
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
        self.correlators = {s.id: Correlator(checklist, s) for s in self.active}
        self.dependents: dict[str, list[str]] = {}
        for scenario in self.active:
            for ref in scenario.referenced_scenarios():
                self.dependents.setdefault(ref, []).append(scenario.id)

    # -- BatchSink ---------------------------------------------------------------------------

    def prepare(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Single-event matching: pure, so the pipeline runs it in its read-ahead thread."""
        if self.crs is not None:
            frame = self.crs.enrich(frame)
        return self.matcher.match(frame)

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
        for sid in self.order:
            batch = events.get(sid, EventBatch.empty())
            extra = forwarded.pop(sid, None)
            if extra:
                batch = batch.concat(EventBatch.of(extra))
            correlator = self.correlators[sid]
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
            )
            if len(batch):
                out[scenario.id] = batch
        return out

    def _forward(self, source_id: str, dependent_id: str, absorbed: list[Event]) -> list[Event]:
        """Events absorbed into findings of `source_id` become events of rule `source_id`
        for the scenarios that chain it."""
        source = self.checklist.scenario(source_id)
        dependent = self.checklist.scenario(dependent_id)
        assert source is not None and dependent is not None
        out = []
        for event in absorbed:
            values = dict(zip(source.entity, event.group))
            group = tuple(values.get(f) for f in dependent.entity)
            corr = dependent.correlation
            if corr is not None and any(values.get(f) is None for f in corr.group_by):
                continue
            out.append(
                Event(
                    ts=event.ts,
                    rule=source_id,
                    group=group,
                    value=None,
                    file_uid=event.file_uid,
                    offset=event.offset,
                    path=event.path,
                    line=event.line,
                    log_kind=event.log_kind,
                    application=event.application,
                )
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


class _PeerCache:
    """Findings per entity value, loaded once per batch (one entity value is often shared by
    every finding of a batch, e.g. the attacked `user.name`). The batch's own findings are
    read as built (`fresh`), not as stored: each is then written once per batch, not twice."""

    def __init__(self, store: Store, fresh: dict[str, Finding] | None = None) -> None:
        self.store = store
        self.by_value: dict[tuple[str, str], list[Peer]] = {}
        self.fresh: dict[tuple[str, str], dict[str, Peer]] = {}
        for fid, finding in (fresh or {}).items():
            peer = _peer(finding)
            for field, value in finding.entity.items():
                if value is not None:
                    self.fresh.setdefault((field, value), {})[fid] = peer

    def of(self, entity: dict[str, str], exclude_id: str) -> list[Peer]:
        found: dict[str, Peer] = {}
        for field, value in entity.items():
            if value is None:
                continue
            key = (field, value)
            if key not in self.by_value:
                fresh = self.fresh.get(key, {})
                stored = {p.id: p for p in self.store.findings_with_entity_value(field, value)}
                self.by_value[key] = list({**stored, **fresh}.values())
            for peer in self.by_value[key]:
                if peer.id != exclude_id:
                    found.setdefault(peer.id, peer)
        return sorted(found.values(), key=lambda p: p.id)


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
