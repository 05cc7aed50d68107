"""A finding while batches extend it (`OpenFinding`), and which open finding of a group an
event joins (`covering`): the working copies correlation builds, rates and hands over."""

from __future__ import annotations

from dataclasses import dataclass, field

from detector.detection.events import Event, from_us, to_us
from detector.model import Evidence, Finding

MAX_VALUES_KEPT = 100


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
    stages: dict[str, int] = field(default_factory=dict)  # chained scenario -> events of its findings held
    linked: dict[str, str] = field(default_factory=dict)  # carried values of its own lines (entity links)

    def covers(self, ts: int, reopen_us: int) -> bool:
        return self.first_us - reopen_us <= ts <= self.last_us + reopen_us

    def absorb(self, event: Event, cap: int, chained: frozenset[str] = frozenset()) -> None:
        if event.rule in chained:
            if any(e.offset == event.offset and e.file_uid == event.file_uid for e in self.evidence):
                return  # the same line, held through another chained scenario
            self.stages[event.rule] = self.stages.get(event.rule, 0) + 1
        elif event.fields:
            for name, value in event.fields.items():
                self.linked.setdefault(name, value)
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
        if self.stages:
            extra["stages"] = dict(sorted(self.stages.items()))
        if self.linked:
            extra["linked"] = dict(sorted(self.linked.items()))
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
            stages=dict(finding.extra.get("stages", {})),
            linked=dict(finding.extra.get("linked", {})),
        )


# an event, the finding that absorbed it, and when (event time): a chaining scenario learns of
# the event then (`Event.arrival`)
Absorbed = tuple[OpenFinding, Event, int]


def covering(opens: list[OpenFinding], ts: int, reopen_us: int) -> OpenFinding | None:
    """The open finding whose span (widened by `reopen_after`) holds `ts`: the nearest, then
    the earliest."""
    best: OpenFinding | None = None
    best_gap = 0
    for item in opens:
        if item.covers(ts, reopen_us):
            gap = max(item.first_us - ts, ts - item.last_us, 0)
            if best is None or gap < best_gap or gap == best_gap and item.first_us < best.first_us:
                best, best_gap = item, gap
    return best
