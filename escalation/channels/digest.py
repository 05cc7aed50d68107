"""One digest per recipient per channel: the incidents held outside business hours, told in
one message when business hours begin.

Why: a quiet night leaves dozens of low and medium incidents held; one message per incident at
09:00 buries the on-call person's inbox. Channels read by people (`DIGEST_KINDS`) get them as
one message listing every incident worst first, each with its acknowledge command. Channels
read by machines (file journal, webhook, PagerDuty, Alertmanager, syslog) keep one message per
incident: their receivers track each incident's alert by its own dedup key.
"""

from __future__ import annotations

from typing import Any

from detector.model import iso, severity_rank, stable_hash
from escalation.channels.notification import Notification

DIGEST_KINDS = frozenset({"stdout", "email", "slack"})


def is_digest(note: Notification) -> bool:
    return note.event == "digest" and isinstance(note.extra.get("digest"), list)


def _item(note: Notification) -> dict[str, Any]:
    return {
        "incident_id": note.incident_id,
        "severity": note.severity,
        "confidence": note.confidence,
        "title": note.title,
        "scenario_id": note.scenario_id,
        "entity": dict(note.entity),
        "first_seen": iso(note.first_seen),
        "last_seen": iso(note.last_seen),
        "count": note.finding_count,
        "level": note.level,
        "ack_command": note.ack_command,
    }


def combine(notes: list[Notification]) -> Notification:
    """The single digest message standing for `notes` (same recipient, same channel)."""
    ordered = sorted(notes, key=lambda n: (-severity_rank(n.severity), iso(n.first_seen) or "", n.incident_id))
    first = ordered[0]
    seen = [n.first_seen for n in notes if n.first_seen] + [n.last_seen for n in notes if n.last_seen]
    key = "dgst-" + stable_hash(sorted(n.id for n in notes))
    counts: dict[str, int] = {}
    for note in ordered:
        counts[note.severity] = counts.get(note.severity, 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in counts.items())
    return Notification(
        id=key,
        dedup_key=key,
        incident_id=f"DIGEST-{key[5:15]}",
        event="digest",
        created_at=max(n.created_at for n in notes),
        level=min(n.level for n in notes),
        target=first.target,
        address=first.address,
        severity=first.severity,
        confidence=max(n.confidence for n in notes),
        confidence_reasons=(),
        title=f"{len(notes)} incidents held outside business hours ({tally})",
        scenario_id="digest",
        entity={},
        first_seen=min(seen) if seen else None,
        last_seen=max(seen) if seen else None,
        finding_count=sum(n.finding_count for n in notes),
        attack=tuple(sorted({a for n in notes for a in n.attack})),
        evidence=(),
        ack_command="",
        summary="Held outside business hours and sent now that they have begun; each needs an acknowledgement.",
        exercise=all(n.exercise for n in notes),
        extra={**{k: v for k, v in first.extra.items() if k in ("via", "channel")},
               "digest": [_item(n) for n in ordered]},
    )


def items(note: Notification) -> list[dict[str, Any]]:
    """The incidents a digest stands for, worst first."""
    return [dict(item) for item in note.extra.get("digest", [])]


def seen_text(item: dict[str, Any]) -> str:
    first, last = item.get("first_seen") or "unknown", item.get("last_seen") or "unknown"
    return first if first == last else f"{first} .. {last}"
