"""Incidents: findings and defects grouped by dedup key while the incident is open.

Why a separate layer from the engine: grouping decides *what* is being escalated (which
members, what severity and confidence, which policy), the engine decides *when* and *to whom*.
Everything here runs inside the caller's transaction and appends its audit entries there.

Rules (docs/escalation.md, "Incidents"):
- dedup key: `<scenario_id>|<field>=<value>,...` (or `*` for a part left out of `group_by`);
  defects: `defect:<kind>|<subject>`. A finding already in an unresolved incident stays there.
- severity is the maximum of the members', confidence the noisy-OR `1 - prod(1 - c)` of the
  member findings' current confidences (a defect counts as certain).
- a change arriving within `reopen_window` of the resolution of the incident with the same key
  reopens that incident; later, a new incident opens.
- the policy is chosen when the incident opens and frozen into it. While nobody has been
  notified yet (`first_notified_at` empty) a new member may change the choice (e.g. a held
  low-confidence incident that now crosses a paging policy's threshold pages at once); after
  that the frozen policy stays, and the policy that would now match is recorded in the audit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from detector.model import (
    Defect,
    Evidence,
    Finding,
    iso,
    parse_iso,
    severity_rank,
    stable_hash,
)
from detector.state.store import Store
from escalation.audit import AuditTrail
from escalation.engine.calendar import Calendar
from escalation.engine.policy import Facts, FrozenPolicy, PolicySet, max_severity

OPEN, ACKNOWLEDGED, SNOOZED, RESOLVED = "open", "acknowledged", "snoozed", "resolved"
STATUSES = (OPEN, ACKNOWLEDGED, SNOOZED, RESOLVED)
ACTIVE = (OPEN, ACKNOWLEDGED, SNOOZED)
FINDING, DEFECT = "finding", "defect"
ENGINE = "logwarden"  # the audit actor for everything the engine does by itself
MAX_EVIDENCE = 10  # evidence lines carried by one notification


def noisy_or(confidences: Iterable[float]) -> float:
    """1 - prod(1 - c): independent signals that each may be a true incident."""
    miss = 1.0
    for value in confidences:
        miss *= 1.0 - min(1.0, max(0.0, value))
    return round(1.0 - miss, 6)


def finding_dedup_key(finding: Finding, group_by: tuple[str, ...]) -> str:
    scenario = finding.scenario_id if "scenario" in group_by else "*"
    entity = ",".join(f"{k}={v}" for k, v in sorted(finding.entity.items())) if "entity" in group_by else "*"
    return f"{scenario}|{entity}"


def defect_dedup_key(defect: Defect) -> str:
    return f"defect:{defect.kind}|{defect.subject}"


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    """One row of `incidents` (column meanings: ESCALATION_CONTRACT / docs/escalation.md)."""

    id: str
    dedup_key: str
    kind: str
    status: str
    title: str
    scenario_id: str
    entity: dict[str, str]
    severity: str
    confidence: float
    attack: tuple[str, ...]
    applications: tuple[str, ...]
    exercise: bool
    policy_name: str | None
    policy: FrozenPolicy | None
    first_evidence_at: datetime
    opened_at: datetime
    day_class: str
    level: int
    cycle: int
    next_due_at: datetime | None
    next_action: str | None
    first_notified_at: datetime | None
    ack_deadline: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    snoozed_until: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None
    root_cause: str | None
    exhausted_at: datetime | None
    held: bool
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @classmethod
    def from_row(cls, row: Any) -> "Incident":
        return cls(
            id=row["id"],
            dedup_key=row["dedup_key"],
            kind=row["kind"],
            status=row["status"],
            title=row["title"],
            scenario_id=row["scenario_id"],
            entity=json.loads(row["entity"]),
            severity=row["severity"],
            confidence=float(row["confidence"]),
            attack=tuple(json.loads(row["attack"])),
            applications=tuple(json.loads(row["applications"])),
            exercise=bool(row["exercise"]),
            policy_name=row["policy_name"],
            policy=FrozenPolicy.from_json(row["policy"]) if row["policy"] else None,
            first_evidence_at=parse_iso(row["first_evidence_at"]),  # type: ignore[arg-type]
            opened_at=parse_iso(row["opened_at"]),  # type: ignore[arg-type]
            day_class=row["day_class"],
            level=int(row["level"]),
            cycle=int(row["cycle"]),
            next_due_at=parse_iso(row["next_due_at"]),
            next_action=row["next_action"],
            first_notified_at=parse_iso(row["first_notified_at"]),
            ack_deadline=parse_iso(row["ack_deadline"]),
            acknowledged_at=parse_iso(row["acknowledged_at"]),
            acknowledged_by=row["acknowledged_by"],
            snoozed_until=parse_iso(row["snoozed_until"]),
            resolved_at=parse_iso(row["resolved_at"]),
            resolved_by=row["resolved_by"],
            resolution_note=row["resolution_note"],
            root_cause=row["root_cause"],
            exhausted_at=parse_iso(row["exhausted_at"]),
            held=bool(row["held"]),
            updated_at=parse_iso(row["updated_at"]),  # type: ignore[arg-type]
        )

    def columns(self) -> dict[str, Any]:
        """The row as SQLite values."""
        return {
            "id": self.id,
            "dedup_key": self.dedup_key,
            "kind": self.kind,
            "status": self.status,
            "title": self.title,
            "scenario_id": self.scenario_id,
            "entity": json.dumps(self.entity, sort_keys=True),
            "severity": self.severity,
            "confidence": self.confidence,
            "attack": json.dumps(list(self.attack)),
            "applications": json.dumps(list(self.applications)),
            "exercise": int(self.exercise),
            "policy_name": self.policy_name,
            "policy": self.policy.to_json() if self.policy else None,
            "first_evidence_at": iso(self.first_evidence_at),
            "opened_at": iso(self.opened_at),
            "day_class": self.day_class,
            "level": self.level,
            "cycle": self.cycle,
            "next_due_at": iso(self.next_due_at),
            "next_action": self.next_action,
            "first_notified_at": iso(self.first_notified_at),
            "ack_deadline": iso(self.ack_deadline),
            "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "snoozed_until": iso(self.snoozed_until),
            "resolved_at": iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "resolution_note": self.resolution_note,
            "root_cause": self.root_cause,
            "exhausted_at": iso(self.exhausted_at),
            "held": int(self.held),
            "updated_at": iso(self.updated_at),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON form for `incidents list/show --format json` (the policy by name only)."""
        data = self.columns()
        data.update(
            entity=dict(self.entity),
            attack=list(self.attack),
            applications=list(self.applications),
            exercise=self.exercise,
            held=self.held,
            confidence=round(self.confidence, 4),
        )
        del data["policy"]
        return data


@dataclass(frozen=True)
class Members:
    """What an incident is made of, read from the detector's tables."""

    findings: tuple[Finding, ...] = ()
    defects: tuple[Defect, ...] = ()

    def facts(self, exercise: bool = False, stale_before: datetime | None = None) -> Facts:
        """What policies are matched on; `exercise` marks an incident already known as a drill;
        evidence whose newest event is before `stale_before` is stale."""
        summary = self.summary()
        stale = stale_before is not None and summary.last_seen is not None and summary.last_seen < stale_before
        return Facts(
            severity=summary.severity,
            confidence=summary.confidence,
            scenarios=summary.scenarios,
            attack=summary.attack,
            applications=summary.applications,
            exercise=summary.exercise or exercise,
            stale=stale,
        )

    def summary(self) -> "Summary":
        severities = [f.severity for f in self.findings] + [d.severity for d in self.defects]
        confidences = [f.confidence for f in self.findings] + [1.0 for _ in self.defects]
        firsts = [f.first_seen for f in self.findings] + [d.first_seen for d in self.defects]
        lasts = [f.last_seen for f in self.findings] + [d.last_seen for d in self.defects]
        scenarios = [f.scenario_id for f in self.findings] + [f"defect:{d.kind}" for d in self.defects]
        best = max(self.findings, key=lambda f: (f.confidence, f.id), default=None)
        reasons = list(best.confidence_reasons) if best else []
        if len(confidences) > 1:
            reasons.append(f"incident: noisy-OR of {len(confidences)} members")
        evidence = sorted((ev for f in self.findings for ev in f.evidence), key=lambda e: (e.timestamp, e.path, e.offset))
        return Summary(
            severity=max_severity(*severities) if severities else "informational",
            confidence=noisy_or(confidences),
            scenarios=tuple(dict.fromkeys(scenarios)),
            attack=tuple(sorted({a for f in self.findings for a in f.attack})),
            applications=tuple(sorted({a for f in self.findings for a in f.applications})),
            exercise=any(f.exercise for f in self.findings),
            first_seen=min(firsts) if firsts else None,
            last_seen=max(lasts) if lasts else None,
            count=sum(f.count for f in self.findings) + len(self.defects),
            reasons=tuple(reasons),
            evidence=tuple(evidence[:MAX_EVIDENCE]),
            details=tuple(d.detail for d in self.defects),
        )


@dataclass(frozen=True)
class Summary:
    """An incident's aggregate over its members."""

    severity: str
    confidence: float
    scenarios: tuple[str, ...]
    attack: tuple[str, ...]
    applications: tuple[str, ...]
    exercise: bool
    first_seen: datetime | None
    last_seen: datetime | None
    count: int
    reasons: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    details: tuple[str, ...] = field(default=())


# --- the book of incidents ----------------------------------------------------------------------


class IncidentTable:
    """Reading `incidents` and `incident_members` (listings work even with a broken policy file)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, incident_id: str) -> Incident | None:
        row = self.store.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        return Incident.from_row(row) if row else None

    def find(self, wanted: str) -> list[Incident]:
        """The incident with this id, or every incident whose id starts with `wanted` (ids are
        long; a unique prefix is enough on the command line)."""
        exact = self.get(wanted)
        if exact is not None:
            return [exact]
        pattern = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.store.execute(
            "SELECT * FROM incidents WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 20", (pattern,)
        ).fetchall()
        return [Incident.from_row(r) for r in rows]

    def all(self, statuses: tuple[str, ...] = STATUSES) -> list[Incident]:
        marks = ",".join("?" for _ in statuses)
        rows = self.store.execute(f"SELECT * FROM incidents WHERE status IN ({marks})", statuses).fetchall()
        return sorted((Incident.from_row(r) for r in rows), key=lambda i: (i.opened_at, i.id))

    def due(self, now: datetime) -> list[Incident]:
        """Incidents whose timer has come, earliest first (compared as instants, not as text)."""
        rows = self.store.execute("SELECT * FROM incidents WHERE next_due_at IS NOT NULL").fetchall()
        found = [Incident.from_row(r) for r in rows]
        return sorted((i for i in found if i.next_due_at <= now), key=lambda i: (i.next_due_at, i.id))  # type: ignore[operator]

    def member_ids(self, incident_id: str) -> list[tuple[str, str, datetime]]:
        rows = self.store.execute(
            "SELECT member_kind, member_id, attached_at FROM incident_members WHERE incident_id = ?",
            (incident_id,),
        ).fetchall()
        found = [(r[0], r[1], parse_iso(r[2])) for r in rows]
        return sorted(found, key=lambda m: (m[2], m[0], m[1]))  # type: ignore[arg-type, return-value]

    def members(self, incident_id: str) -> Members:
        findings: list[Finding] = []
        defects: list[Defect] = []
        for kind, member_id, _ in self.member_ids(incident_id):
            if kind == FINDING:
                finding = self.store.get_finding(member_id)
                if finding is not None:
                    findings.append(finding)
            else:
                defect = get_defect(self.store, member_id)
                if defect is not None:
                    defects.append(defect)
        return Members(tuple(findings), tuple(defects))

    def containing(self, kind: str, member_id: str) -> Incident | None:
        """The unresolved incident this finding or defect already belongs to, if any."""
        row = self.store.execute(
            "SELECT i.* FROM incident_members m JOIN incidents i ON i.id = m.incident_id"
            " WHERE m.member_kind = ? AND m.member_id = ? AND i.status != ?",
            (kind, member_id, RESOLVED),
        ).fetchone()
        return Incident.from_row(row) if row else None

    def _by_key(self, dedup_key: str) -> Incident | None:
        """The unresolved incident with this key, else the most recently resolved one."""
        rows = self.store.execute("SELECT * FROM incidents WHERE dedup_key = ?", (dedup_key,)).fetchall()
        found = [Incident.from_row(r) for r in rows]
        active = [i for i in found if i.active]
        if active:
            return min(active, key=lambda i: (i.opened_at, i.id))
        resolved = [i for i in found if i.resolved_at is not None]
        return max(resolved, key=lambda i: (i.resolved_at, i.id), default=None)  # type: ignore[arg-type, return-value]


class Incidents(IncidentTable):
    """Writes incidents; groups finding and defect changes into them (inside a transaction)."""

    def __init__(self, store: Store, policy_set: PolicySet, audit: AuditTrail) -> None:
        super().__init__(store)
        self.policy_set = policy_set
        self.audit = audit

    def save(self, incident: Incident) -> None:
        columns = incident.columns()
        names = list(columns)
        self.store.execute(
            f"INSERT INTO incidents({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
            f" ON CONFLICT(id) DO UPDATE SET {', '.join(f'{n} = excluded.{n}' for n in names if n != 'id')}",
            [columns[n] for n in names],
        )

    def add_finding(self, finding: Finding, change: str, at: datetime) -> Incident:
        """Open, attach to, or reopen the incident for this finding change (inside a transaction)."""
        key = finding_dedup_key(finding, self.policy_set.group_by)
        details = {"finding_id": finding.id, "scenario_id": finding.scenario_id, "change": change}
        return self._add(FINDING, finding.id, key, at, details, lambda: self._new_from_finding(finding, key, at))

    def add_defect(self, defect: Defect, at: datetime) -> Incident:
        key = defect_dedup_key(defect)
        details = {"defect_id": defect.id, "defect_kind": defect.kind, "subject": defect.subject}
        return self._add(DEFECT, defect.id, key, at, details, lambda: self._new_from_defect(defect, key, at))

    def _add(self, kind: str, member_id: str, key: str, at: datetime, details: dict[str, Any], new: Any) -> Incident:
        incident = self.containing(kind, member_id) or self._by_key(key)
        if incident is not None and not incident.active:
            if incident.resolved_at is not None and at - incident.resolved_at <= self.policy_set.reopen_window:
                incident = self._reopen(incident, at)
            else:
                incident = None
        if incident is None:
            return new()
        return self._attach(incident, kind, member_id, at, details)

    def _attach(self, incident: Incident, kind: str, member_id: str, at: datetime, details: dict[str, Any]) -> Incident:
        added = self._insert_member(incident.id, kind, member_id, at)
        members = self.members(incident.id)
        summary = members.summary()
        updated = replace(
            incident,
            severity=summary.severity,
            confidence=summary.confidence,
            attack=summary.attack,
            applications=summary.applications,
            exercise=incident.exercise or summary.exercise,
            first_evidence_at=min(incident.first_evidence_at, summary.first_seen or incident.first_evidence_at),
            updated_at=at,
        )
        audit = dict(details)
        updated = self._reconsider_policy(updated, members, at, audit)
        # every change the detector reports (new member, more evidence, higher confidence) is
        # recorded: the audit trail says what was known about the incident, and when
        self.save(updated)
        audit.update(severity=updated.severity, confidence=round(updated.confidence, 4), new_member=added)
        self.audit.append(
            at=at, actor=ENGINE, action=f"{kind}_attached", incident_id=incident.id, details=audit
        )
        return updated

    def _reconsider_policy(self, incident: Incident, members: Members, at: datetime, audit: dict[str, Any]) -> Incident:
        """Re-select the policy while nobody was told yet; afterwards only record the difference."""
        # staleness only keeps old evidence from paging: an incident already given a policy
        # (fresh when it opened) keeps paging however long it waits, e.g. held for a digest
        stale_before = self.policy_set.stale_before(at) if incident.policy is None else None
        chosen = self.policy_set.select(members.facts(incident.exercise, stale_before))
        chosen_name = chosen.name if chosen else None
        if chosen_name == incident.policy_name:
            return incident
        if incident.first_notified_at is not None or incident.status != OPEN:
            audit["policy_would_match"] = chosen_name
            return incident
        audit["policy_changed"] = {"from": incident.policy_name, "to": chosen_name}
        calendar = chosen.calendar if chosen else self.policy_set.default_calendar
        return replace(
            incident,
            policy=chosen,
            policy_name=chosen_name,
            day_class=calendar.classify(incident.opened_at),
            level=0,
            cycle=0,
            next_action="fire_level" if chosen else None,
            next_due_at=at if chosen else None,
        )

    def _insert_member(self, incident_id: str, kind: str, member_id: str, at: datetime) -> bool:
        cursor = self.store.execute(
            "INSERT OR IGNORE INTO incident_members(incident_id, member_kind, member_id, attached_at)"
            " VALUES (?, ?, ?, ?)",
            (incident_id, kind, member_id, iso(at)),
        )
        return cursor.rowcount > 0

    def _reopen(self, incident: Incident, at: datetime) -> Incident:
        previous = {
            "resolved_at": iso(incident.resolved_at),
            "resolved_by": incident.resolved_by,
            "resolution_note": incident.resolution_note,
            "root_cause": incident.root_cause,
        }
        reopened = replace(
            incident,
            status=OPEN,
            level=0,
            cycle=0,
            next_action="fire_level" if incident.policy else None,
            next_due_at=at if incident.policy else None,
            ack_deadline=None,
            acknowledged_at=None,
            acknowledged_by=None,
            snoozed_until=None,
            resolved_at=None,
            resolved_by=None,
            resolution_note=None,
            root_cause=None,
            exhausted_at=None,
            updated_at=at,
        )
        self.save(reopened)
        self.audit.append(at=at, actor=ENGINE, action="reopened", incident_id=incident.id, details={"previous": previous})
        return reopened

    def _open(self, *, kind: str, key: str, title: str, scenario_id: str, entity: dict[str, str],
              opened_at: datetime, member: tuple[str, str], members: Members, at: datetime) -> Incident:
        summary = members.summary()
        facts = members.facts(stale_before=self.policy_set.stale_before(at))
        policy = self.policy_set.select(facts)
        calendar: Calendar = policy.calendar if policy else self.policy_set.default_calendar
        incident_id = "INC-" + stable_hash(key, iso(opened_at))[:10]
        if self.get(incident_id) is not None:  # same key and instant as an earlier incident
            incident_id = "INC-" + stable_hash(key, iso(opened_at), member, iso(at))[:10]
        incident = Incident(
            id=incident_id,
            dedup_key=key,
            kind=kind,
            status=OPEN,
            title=title,
            scenario_id=scenario_id,
            entity=entity,
            severity=summary.severity,
            confidence=summary.confidence,
            attack=summary.attack,
            applications=summary.applications,
            exercise=summary.exercise,
            policy_name=policy.name if policy else None,
            policy=policy,
            first_evidence_at=summary.first_seen or opened_at,
            opened_at=opened_at,
            day_class=calendar.classify(opened_at),
            level=0,
            cycle=0,
            next_due_at=opened_at if policy else None,
            next_action="fire_level" if policy else None,
            first_notified_at=None,
            ack_deadline=None,
            acknowledged_at=None,
            acknowledged_by=None,
            snoozed_until=None,
            resolved_at=None,
            resolved_by=None,
            resolution_note=None,
            root_cause=None,
            exhausted_at=None,
            held=False,
            updated_at=at,
        )
        self.save(incident)
        self._insert_member(incident.id, member[0], member[1], at)
        self.audit.append(
            at=at,
            actor=ENGINE,
            action="opened",
            incident_id=incident.id,
            details={
                "dedup_key": key,
                "kind": kind,
                "member": {"kind": member[0], "id": member[1]},
                "severity": incident.severity,
                "confidence": round(incident.confidence, 4),
                "policy": incident.policy_name,
                "policy_source": policy.source if policy else None,
                "policy_hash": policy.content_hash if policy else None,
                "day_class": incident.day_class,
                "exercise": incident.exercise,
                **_stale_note(facts, summary, self.policy_set, at),
            },
        )
        return incident

    def _new_from_finding(self, finding: Finding, key: str, at: datetime) -> Incident:
        # When logwarden first knew: the detection time, unless this finding already belonged to
        # an earlier (resolved) incident; then the activity that opens this one is the change.
        known_before = self.store.execute(
            "SELECT 1 FROM incident_members WHERE member_kind = ? AND member_id = ? LIMIT 1", (FINDING, finding.id)
        ).fetchone()
        opened_at = at if known_before else min(finding.detected_at, at)
        return self._open(
            kind=FINDING,
            key=key,
            title=finding.title,
            scenario_id=finding.scenario_id,
            entity=dict(finding.entity),
            opened_at=opened_at,
            member=(FINDING, finding.id),
            members=Members(findings=(finding,)),
            at=at,
        )

    def _new_from_defect(self, defect: Defect, key: str, at: datetime) -> Incident:
        return self._open(
            kind=DEFECT,
            key=key,
            title=f"Detection defect ({defect.kind}): {defect.subject}",
            scenario_id=f"defect:{defect.kind}",
            entity={"defect.subject": defect.subject},
            opened_at=at,
            member=(DEFECT, defect.id),
            members=Members(defects=(defect,)),
            at=at,
        )

    def set_defect_triage(self, incident: Incident, triage: str) -> None:
        """Acknowledging or resolving a defect incident is the defect's triage (Defect.triage)."""
        ids = [m[1] for m in self.member_ids(incident.id) if m[0] == DEFECT]
        self.store.conn.executemany("UPDATE defects SET triage = ? WHERE id = ?", [(triage, i) for i in ids])


def _stale_note(facts: Facts, summary: Summary, policy_set: PolicySet, at: datetime) -> dict[str, Any]:
    """Why an incident opened from old evidence pages nobody (audit detail), or nothing."""
    if not facts.stale or summary.last_seen is None or policy_set.stale_after is None:
        return {}
    age = int((at - summary.last_seen).total_seconds())
    return {"stale": {"newest_evidence_at": iso(summary.last_seen), "age_seconds": age,
                      "stale_after_seconds": int(policy_set.stale_after.total_seconds())}}


def get_defect(store: Store, defect_id: str) -> Defect | None:
    row = store.execute("SELECT * FROM defects WHERE id = ?", (defect_id,)).fetchone()
    if row is None:
        return None
    return Defect(
        id=row["id"],
        kind=row["kind"],
        severity=row["severity"],
        subject=row["subject"],
        detail=row["detail"],
        first_seen=parse_iso(row["first_seen"]),  # type: ignore[arg-type]
        last_seen=parse_iso(row["last_seen"]),  # type: ignore[arg-type]
        status=row["status"],
        triage=row["triage"],
    )


_STATUS_URGENCY = {OPEN: 0, SNOOZED: 1, ACKNOWLEDGED: 2, RESOLVED: 3}


def urgency_key(incident: Incident) -> tuple[int, int, datetime, str]:
    """Sort key, most urgent first: nobody on it yet (open) before snoozed, acknowledged and
    resolved; then the worst severity; then the one waiting longest."""
    return (_STATUS_URGENCY.get(incident.status, 4), -severity_rank(incident.severity), incident.opened_at, incident.id)


def is_severe(severity: str) -> bool:
    """High and critical incidents need a root cause to be resolved (DESIGN §7)."""
    return severity_rank(severity) >= severity_rank("high")


__all__ = [
    "ACTIVE", "ACKNOWLEDGED", "DEFECT", "ENGINE", "FINDING", "Incident", "IncidentTable", "Incidents", "Members", "OPEN",
    "RESOLVED", "SNOOZED", "STATUSES", "Summary", "defect_dedup_key", "finding_dedup_key", "get_defect",
    "is_severe", "noisy_or",
]
