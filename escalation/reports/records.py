"""The escalation tables as typed rows for the reports: read once, with every timestamp parsed.

Reports never write; they read the tables the engine, the outbox and the audit trail keep
(escalation/schema.py, the escalation contract)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from detector.model import Evidence, parse_iso
from detector.state.store import Store
from escalation.engine.policy import FrozenPolicy
from escalation.reports.periods import Period
from escalation.schema import migrate_escalation


@dataclass(frozen=True)
class Step:
    id: int
    action: str
    level: int
    cycle: int
    due_at: datetime
    ran_at: datetime
    late_seconds: float
    day_class: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Attempt:
    attempt: int
    at: datetime
    ok: bool
    error: str | None


@dataclass(frozen=True)
class Message:
    id: str
    incident_id: str
    channel: str
    target: str
    via: str | None
    event: str
    level: int
    created_at: datetime
    status: str
    sent_at: datetime | None
    last_error: str | None
    fallback_of: str | None
    attempts: tuple[Attempt, ...] = ()
    step_id: int | None = None  # the timer step that sent it; None: a notice of a human action


@dataclass(frozen=True)
class Action:
    """An audit entry about one incident."""

    seq: int
    at: datetime
    actor: str
    action: str
    details: dict[str, Any]


@dataclass(frozen=True)
class Incident:
    id: str
    kind: str
    status: str
    title: str
    scenario_id: str
    entity: dict[str, Any]
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
    first_notified_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    snoozed_until: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None
    root_cause: str | None
    exhausted_at: datetime | None
    held: bool
    steps: tuple[Step, ...] = ()
    messages: tuple[Message, ...] = ()
    actions: tuple[Action, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    evidence_total: int = 0
    defect_details: tuple[str, ...] = field(default_factory=tuple)


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _policy(text: str | None) -> FrozenPolicy | None:
    if not text:
        return None
    try:
        return FrozenPolicy.from_json(text)
    except (ValueError, KeyError, TypeError):
        return None  # an unreadable frozen policy is shown as "no policy", never a crash


def _incident(row: Any) -> Incident:
    return Incident(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        title=row["title"],
        scenario_id=row["scenario_id"],
        entity=_json(row["entity"], {}),
        severity=row["severity"],
        confidence=float(row["confidence"]),
        attack=tuple(_json(row["attack"], [])),
        applications=tuple(_json(row["applications"], [])),
        exercise=bool(row["exercise"]),
        policy_name=row["policy_name"],
        policy=_policy(row["policy"]),
        first_evidence_at=parse_iso(row["first_evidence_at"]),  # type: ignore[arg-type]
        opened_at=parse_iso(row["opened_at"]),  # type: ignore[arg-type]
        day_class=row["day_class"],
        level=int(row["level"]),
        cycle=int(row["cycle"]),
        first_notified_at=parse_iso(row["first_notified_at"]),
        acknowledged_at=parse_iso(row["acknowledged_at"]),
        acknowledged_by=row["acknowledged_by"],
        snoozed_until=parse_iso(row["snoozed_until"]),
        resolved_at=parse_iso(row["resolved_at"]),
        resolved_by=row["resolved_by"],
        resolution_note=row["resolution_note"],
        root_cause=row["root_cause"],
        exhausted_at=parse_iso(row["exhausted_at"]),
        held=bool(row["held"]),
    )


def _grouped(store: Store, sql: str, ids: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for start in range(0, len(ids), 500):  # stay below SQLite's variable limit
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in store.execute(sql.format(marks=marks), chunk):
            out.setdefault(row["incident_id"], []).append(row)
    return out


def load_incidents(store: Store, period: Period, evidence_cap: int = 20, exercise: bool = False) -> list[Incident]:
    """Incidents detected in the period (exercise incidents only when asked), with their steps,
    messages, audit actions and evidence lines, oldest first."""
    migrate_escalation(store)
    rows = store.execute(
        "SELECT * FROM incidents WHERE opened_at >= ? AND opened_at < ? AND exercise = ? ORDER BY opened_at, id",
        (period.to_dict()["since"], period.to_dict()["until"], int(exercise)),
    ).fetchall()
    incidents = [_incident(r) for r in rows]
    ids = [i.id for i in incidents]
    steps = _grouped(store, "SELECT * FROM escalation_steps WHERE incident_id IN ({marks}) ORDER BY id", ids)
    messages = _grouped(store, "SELECT * FROM outbox WHERE incident_id IN ({marks}) ORDER BY created_at, id", ids)
    actions = _grouped(store, "SELECT * FROM audit WHERE incident_id IN ({marks}) ORDER BY seq", ids)
    members = _grouped(store, "SELECT * FROM incident_members WHERE incident_id IN ({marks}) ORDER BY attached_at", ids)
    attempts: dict[str, list[Attempt]] = {}
    message_ids = [m["id"] for rows_ in messages.values() for m in rows_]
    for start in range(0, len(message_ids), 500):
        chunk = message_ids[start : start + 500]
        for row in store.execute(
            f"SELECT * FROM delivery_attempts WHERE outbox_id IN ({','.join('?' * len(chunk))}) ORDER BY attempt",
            chunk,
        ):
            attempts.setdefault(row["outbox_id"], []).append(
                Attempt(int(row["attempt"]), parse_iso(row["at"]), bool(row["ok"]), row["error"])  # type: ignore[arg-type]
            )
    out = []
    for incident in incidents:
        evidence, total, defects = _evidence(store, members.get(incident.id, []), evidence_cap)
        out.append(
            Incident(
                **{
                    **incident.__dict__,
                    "steps": tuple(
                        Step(
                            id=int(s["id"]),
                            action=s["action"],
                            level=int(s["level"]),
                            cycle=int(s["cycle"]),
                            due_at=parse_iso(s["due_at"]),  # type: ignore[arg-type]
                            ran_at=parse_iso(s["ran_at"]),  # type: ignore[arg-type]
                            late_seconds=float(s["late_seconds"]),
                            day_class=s["day_class"],
                            detail=_json(s["detail"], {}),
                        )
                        for s in steps.get(incident.id, [])
                    ),
                    "messages": tuple(
                        Message(
                            id=m["id"],
                            incident_id=m["incident_id"],
                            channel=m["channel"],
                            target=m["target"],
                            via=m["via"],
                            event=m["event"],
                            level=int(m["level"]),
                            created_at=parse_iso(m["created_at"]),  # type: ignore[arg-type]
                            status=m["status"],
                            sent_at=parse_iso(m["sent_at"]),
                            last_error=m["last_error"],
                            fallback_of=m["fallback_of"],
                            attempts=tuple(attempts.get(m["id"], [])),
                            step_id=m["step_id"],
                        )
                        for m in messages.get(incident.id, [])
                    ),
                    "actions": tuple(
                        Action(int(a["seq"]), parse_iso(a["at"]), a["actor"], a["action"], _json(a["details"], {}))  # type: ignore[arg-type]
                        for a in actions.get(incident.id, [])
                    ),
                    "evidence": evidence,
                    "evidence_total": total,
                    "defect_details": defects,
                }
            )
        )
    return out


def _evidence(store: Store, members: list[Any], cap: int) -> tuple[tuple[Evidence, ...], int, tuple[str, ...]]:
    """Evidence lines of the member findings (earliest first, capped) and member defects' details."""
    lines: list[Evidence] = []
    defects: list[str] = []
    for member in members:
        if member["member_kind"] == "finding":
            row = store.execute("SELECT data FROM findings WHERE id = ?", (member["member_id"],)).fetchone()
            data = _json(row["data"] if row else None, {})
            for item in data.get("evidence", []):
                try:
                    lines.append(Evidence.from_dict(item))
                except (KeyError, TypeError, ValueError):
                    continue
        else:
            row = store.execute("SELECT kind, subject, detail FROM defects WHERE id = ?", (member["member_id"],)).fetchone()
            if row is not None:
                defects.append(f"{row['kind']}: {row['detail']}")
    unique = {(e.path, e.offset): e for e in lines}
    ordered = sorted(unique.values(), key=lambda e: (e.timestamp, e.path, e.offset))
    return tuple(ordered[:cap]), len(ordered), tuple(defects)
