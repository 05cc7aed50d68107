"""Building the `Notification` one recipient gets about one incident.

Why its own module: the engine decides who is told and when; what the message says (the facts
of the incident, the evidence, how to acknowledge it) is the same whatever step caused it.
Ids are deterministic so that a step re-run after a crash enqueues the same messages
(the outbox ignores an id it already holds).
"""

from __future__ import annotations

from datetime import datetime

from detector.model import iso, stable_hash
from escalation.channels.notification import EvidenceLine, Notification
from escalation.engine.incidents import Incident, Summary
from escalation.engine.policy import Recipient


def notification_id(incident_id: str, step: str, recipient: Recipient) -> str:
    """`ntf-<incident>-<step>-<hash of recipient>`: stable for one message of one step."""
    short = incident_id.removeprefix("INC-")
    return f"ntf-{short}-{step}-{stable_hash(recipient.target, recipient.via, recipient.channel, length=8)}"


def incident_dedup_key(incident_id: str) -> str:
    """Stable for the incident's whole life, reopenings included (PagerDuty dedup key etc.)."""
    return "lw-" + stable_hash(incident_id)


def ack_command(incident_id: str) -> str:
    return f"logwarden incidents ack {incident_id} --by <your name>"


def compose(
    incident: Incident,
    summary: Summary,
    recipient: Recipient,
    *,
    note_id: str,
    event: str,
    level: int,
    now: datetime,
    text: str = "",
    extra: dict | None = None,
) -> Notification:
    """The message for one recipient; `text` is the one-line summary (plain, no log content)."""
    reasons = summary.reasons + tuple(summary.details)
    return Notification(
        id=note_id,
        dedup_key=incident_dedup_key(incident.id),
        incident_id=incident.id,
        event=event,
        created_at=now,
        level=level,
        target=recipient.target,
        address=recipient.address,
        severity=incident.severity,
        confidence=round(incident.confidence, 4),
        confidence_reasons=reasons,
        title=incident.title,
        scenario_id=incident.scenario_id,
        entity=dict(incident.entity),
        first_seen=summary.first_seen,
        last_seen=summary.last_seen,
        finding_count=summary.count,
        attack=incident.attack,
        evidence=tuple(EvidenceLine(ev.path, ev.offset, ev.line) for ev in summary.evidence),
        ack_command=ack_command(incident.id),
        summary=text,
        exercise=incident.exercise,
        extra={"via": recipient.via, "channel": recipient.channel, "policy": incident.policy_name,
               "opened_at": iso(incident.opened_at), **(extra or {})},
    )
