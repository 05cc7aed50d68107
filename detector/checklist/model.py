"""The checklist as typed, frozen objects (DESIGN §5), in the spirit of pySigma's rule model.

Detection logic itself stays a pySigma `SigmaDetections` object: its condition grammar and
modifiers are Sigma's, parsed by the reference library; `detector.detection` compiles it into
vectorized masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from sigma.rule import SigmaDetections

CORRELATION_TYPES = ("event_count", "value_count", "temporal", "temporal_ordered")
STATUSES = ("experimental", "test", "stable", "deprecated")
PROVENANCE_KINDS = ("threat-model", "external", "past-incident", "pentest", "compliance", "internal")
CONDITION_OPS = ("gt", "gte")


@dataclass(frozen=True)
class Provenance:
    kind: str
    ref: str


@dataclass(frozen=True)
class Review:
    date: date
    by: str
    note: str


@dataclass(frozen=True)
class Rule:
    """A single-event rule: Sigma detection over the event frame."""

    name: str
    detection: SigmaDetections
    fields: frozenset[str]
    line: int

    def key(self, scenario_id: str) -> str:
        return f"{scenario_id}/{self.name}"


@dataclass(frozen=True)
class Correlation:
    """Sigma correlation semantics on event time."""

    type: str
    rules: tuple[str, ...]  # rule names of this scenario, or ids of other scenarios (chaining)
    group_by: tuple[str, ...]
    timespan: timedelta
    condition_op: str  # gte | gt (event_count / value_count): fires when the count reaches it
    condition_value: int
    value_field: str | None  # value_count: the field whose distinct values are counted
    # per step, what feeds it: the step's own name, or for a class of findings the ids of the
    # scenarios in that class (resolved when the whole checklist is loaded); () = names only
    members: tuple[tuple[str, ...], ...] = ()
    classes: tuple["FindingClass | None", ...] = ()  # per step: the class it names, if any

    def holds(self, count: int) -> bool:
        value = self.condition_value
        return count > value if self.condition_op == "gt" else count >= value

    def step_members(self, index: int) -> tuple[str, ...]:
        return self.members[index] if self.members else (self.rules[index],)

    @cached_property
    def step_of(self) -> dict[str, int]:
        """Rule name or scenario id -> the index of the step it feeds."""
        out: dict[str, int] = {}
        for index in range(len(self.rules)):
            for member in self.step_members(index):
                out.setdefault(member, index)
        return out


@dataclass(frozen=True)
class FindingClass:
    """A class of findings a correlation step can name instead of one rule: every scenario whose
    ATT&CK tactics, techniques, tags, severity and log kinds match (all given conditions)."""

    tactics: tuple[str, ...] = ()  # e.g. reconnaissance, credential-access
    techniques: tuple[str, ...] = ()  # T1110 matches T1110 and its sub-techniques
    tags: tuple[str, ...] = ()
    min_severity: str | None = None
    log_kinds: tuple[str, ...] = ()  # one of the scenario's required log kinds
    exclude: tuple[str, ...] = ()  # scenario ids never in the class

    def label(self) -> str:
        parts = [*(f"attack.{t}" for t in self.tactics), *self.techniques, *(f"tag:{t}" for t in self.tags)]
        if self.min_severity:
            parts.append(f"severity>={self.min_severity}")
        parts += [f"kind:{k}" for k in self.log_kinds]
        return "class(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class ExpectedFinding:
    entity: dict[str, str]
    min_count: int | None = None


@dataclass(frozen=True)
class Sample:
    log: str  # path relative to the checklist's parent directory (the repository root)
    expect: tuple[ExpectedFinding, ...]
    line: int

    @property
    def positive(self) -> bool:
        return bool(self.expect)


@dataclass(frozen=True)
class Scenario:
    id: str
    version: str
    title: str
    status: str
    owner: str
    severity: str
    confidence: float
    attack: tuple[str, ...]
    provenance: tuple[Provenance, ...]
    requires: tuple[str, ...]
    last_reviewed: date | None
    rules: tuple[Rule, ...]
    correlation: Correlation | None
    samples: tuple[Sample, ...]
    entity: tuple[str, ...]  # fields naming the entity of a finding
    reopen_after: timedelta
    custom_fields: tuple[str, ...]
    path: Path
    content_hash: str
    description: str = ""
    # Classes a chain can name: Sigma tags as written (`attack.t1190`, `attack.initial-access`,
    # `cve.2021-44228`), and for every scenario its ATT&CK ids as `attack.t...` tags.
    tags: tuple[str, ...] = ()
    author: str = ""
    created: date | None = None
    modified: date | None = None
    references: tuple[str, ...] = ()
    falsepositives: tuple[str, ...] = ()
    # scenarios whose finding for the same entity over the same time makes this one's redundant
    # (a slow brute force beside the fast one it is part of): no finding of this one then
    suppressed_by: tuple[str, ...] = ()

    @property
    def threshold(self) -> int:
        """Events (or distinct values) needed for one firing: 1 for single-event scenarios."""
        if self.correlation is None:
            return 1
        if self.correlation.type in ("event_count", "value_count"):
            op, value = self.correlation.condition_op, self.correlation.condition_value
            return value + 1 if op == "gt" else max(value, 1)
        return len(self.correlation.rules)

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def referenced_scenarios(self) -> tuple[str, ...]:
        if self.correlation is None:
            return ()
        names = {r.name for r in self.rules}
        return tuple(r for r in self.correlation.step_of if r not in names)


@dataclass(frozen=True)
class Checklist:
    schema: int
    version: str
    owner: str
    review_interval: timedelta
    reviews: tuple[Review, ...]
    scenarios: tuple[Scenario, ...]
    directory: Path
    lateness: timedelta
    evidence_cap: int
    content_hash: str
    bundled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def scenario(self, scenario_id: str) -> Scenario | None:
        return self._by_id.get(scenario_id)

    @cached_property
    def _by_id(self) -> dict[str, Scenario]:
        """Scenarios by id (the first of a repeated id): rating a batch's findings looks a
        scenario up once per peer."""
        found: dict[str, Scenario] = {}
        for scenario in self.scenarios:
            found.setdefault(scenario.id, scenario)
        return found

    @property
    def root(self) -> Path:
        """Where sample paths are relative to (the directory holding `rules/`)."""
        return self.directory.parent

    def last_review(self) -> date | None:
        return max((r.date for r in self.reviews), default=None)
