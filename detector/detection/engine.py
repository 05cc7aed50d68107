"""The detection engine: matcher + correlators + confidence, plugged into the pipeline as the
batch sink. Everything it writes happens inside the batch transaction."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..checklist import Checklist, load_checklist
from dataclasses import replace

from ..model import Finding, Peer
from ..batch import BatchContext
from ..store import Store
from . import confidence
from .correlate import Correlator, Event, OpenFinding
from .history import record_checklist
from .matcher import Matcher


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


class _Columns:
    """Row subsets of a batch's columns as Python values, each subset taken once per batch
    (several scenarios usually match the same rows, e.g. every failed SSH login)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.arrays: dict[str, pa.Array] = {}
        self.taken: dict[tuple[str, bytes], list] = {}

    def array(self, name: str) -> pa.Array | None:
        if name not in self.frame.columns:
            return None
        if name not in self.arrays:
            self.arrays[name] = self.frame[name].array.__arrow_array__().combine_chunks()
        return self.arrays[name]

    def present(self, names: list[str], rows: np.ndarray) -> np.ndarray:
        """Mask over `rows`: every named column non-null there."""
        keep = np.ones(len(rows), dtype=bool)
        for name in names:
            values = self.array(name)
            if values is None:
                return np.zeros(len(rows), dtype=bool)
            keep &= values.take(pa.array(rows)).is_valid().to_numpy(zero_copy_only=False)
        return keep

    def _take(self, name: str, rows: np.ndarray, as_text: bool) -> list:
        key = (name + ("/text" if as_text else ""), rows.tobytes())
        if key not in self.taken:
            values = self.array(name)
            if values is None:
                self.taken[key] = [None] * len(rows)
            else:
                values = values.take(pa.array(rows))
                if as_text and not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
                    values = pc.cast(values, pa.string())
                self.taken[key] = values.to_pylist()
        return self.taken[key]

    def text(self, name: str, rows: np.ndarray) -> list:
        return self._take(name, rows, as_text=True)

    def ints(self, name: str, rows: np.ndarray) -> list:
        return self._take(name, rows, as_text=False)

    def timestamps(self, rows: np.ndarray) -> list[int]:
        """Microseconds since the epoch (the frame's timestamps are UTC, microsecond unit)."""
        key = ("@timestamp/us", rows.tobytes())
        if key not in self.taken:
            values = self.array("@timestamp")
            assert values is not None
            self.taken[key] = pc.cast(values.take(pa.array(rows)), pa.int64()).to_pylist()
        return self.taken[key]


class DetectionEngine:
    """Batch sink evaluating a checklist; also the `rules test` and `match` workhorse."""

    def __init__(self, checklist: Checklist) -> None:
        self.checklist = checklist
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
        return self.matcher.match(frame)

    def process(
        self, store: Store, frame: pd.DataFrame, ctx: BatchContext, hits: dict[str, np.ndarray] | None = None
    ) -> None:
        if hits is None:
            hits = self.matcher.match(frame)
        if not hits and not self.dependents:
            return
        events = self._events(frame, hits, ctx)
        forwarded: dict[str, list[Event]] = {}
        touched: dict[str, OpenFinding] = {}
        for sid in self.order:
            batch_events = events.get(sid, []) + forwarded.pop(sid, [])
            if not batch_events:
                continue
            items, absorbed = self.correlators[sid].run(store, batch_events, ctx.now)
            for item in items:
                touched[item.finding.id] = item
            for dependent in self.dependents.get(sid, []):
                forwarded.setdefault(dependent, []).extend(self._forward(sid, dependent, absorbed))
        if touched:
            self._persist(store, touched, ctx.now)

    def finish(self, store: Store, now: datetime) -> None:
        """Nothing is buffered across batches; kept for the sink protocol."""

    # -- helpers -----------------------------------------------------------------------------

    def record_checklist(self, store: Store, now: datetime) -> list[str]:
        """Record this checklist version; returns warnings (unversioned changes, overdue reviews)."""
        return record_checklist(store, self.checklist, now)

    def _events(self, frame: pd.DataFrame, hits: dict[str, np.ndarray], ctx: BatchContext) -> dict[str, list[Event]]:
        """Matched rows as correlation events. Null checks and column takes are vectorized;
        the one Python step per matched row is building its Event."""
        out: dict[str, list[Event]] = {}
        if not hits:
            return out
        columns = _Columns(frame)
        for scenario in self.active:
            corr = scenario.correlation
            wanted = corr.rules if corr else tuple(r.name for r in scenario.rules)
            required = ["@timestamp", *(corr.group_by if corr is not None else ())]
            for rule_name in wanted:
                rows = hits.get(f"{scenario.id}/{rule_name}")
                if rows is None or not len(rows):
                    continue
                # Sigma: events without the group-by field are not grouped (and need a time)
                rows = rows[columns.present(required, rows)]
                if not len(rows):
                    continue
                ts = columns.timestamps(rows)
                groups = list(zip(*(columns.text(f, rows) for f in scenario.entity))) or [()] * len(rows)
                values = columns.text(corr.value_field, rows) if corr is not None and corr.value_field else [None] * len(rows)
                offsets = columns.ints("log.offset", rows)
                lines = columns.text("log.original", rows)
                kinds = columns.text("log.kind", rows)
                uid, path, app = ctx.file_uid, ctx.path, ctx.application
                out.setdefault(scenario.id, []).extend(
                    Event(t, rule_name, g, v, uid, o, path, line, k or "", app)
                    for t, g, v, o, line, k in zip(ts, groups, values, offsets, lines, kinds)
                )
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
            built[fid] = (finding, item.changed or "extended")
            store.put_finding(finding, change=None, now=now)
        peers = _PeerCache(store)
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
    every finding of a batch, e.g. the attacked `user.name`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.by_value: dict[tuple[str, str], list[Peer]] = {}

    def of(self, entity: dict[str, str], exclude_id: str) -> list[Peer]:
        found: dict[str, Peer] = {}
        for field, value in entity.items():
            if value is None:
                continue
            key = (field, value)
            if key not in self.by_value:
                self.by_value[key] = self.store.findings_with_entity_value(field, value)
            for peer in self.by_value[key]:
                if peer.id != exclude_id:
                    found.setdefault(peer.id, peer)
        return sorted(found.values(), key=lambda p: p.id)


def load_engine(directory: Path | None, now: datetime | None = None) -> DetectionEngine:
    """Load and compile a checklist (default: the bundled one)."""
    return DetectionEngine(load_checklist(directory))
