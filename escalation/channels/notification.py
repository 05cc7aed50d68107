"""The message every channel delivers, and the channel contract.

The engine builds a `Notification` per (incident, step, target, channel) and puts it in the
persisted outbox; the outbox hands it to a `Channel`. Receivers deduplicate on `dedup_key`
(stable per incident) and `id` (stable per outbox message): delivery is at-least-once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from detector.model import iso, parse_iso

# What happened to the incident that this message is about.
EVENTS = ("trigger", "escalate", "repeat", "digest", "reminder", "acknowledge", "resolve", "test")


@dataclass(frozen=True)
class EvidenceLine:
    path: str
    offset: int
    line: str  # raw log content: hostile, every channel must escape it for its medium

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "offset": self.offset, "line": self.line}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvidenceLine":
        return cls(str(data["path"]), int(data["offset"]), str(data["line"]))


@dataclass(frozen=True)
class Notification:
    id: str  # stable outbox message id
    dedup_key: str  # stable per incident (PagerDuty dedup_key, Alertmanager fingerprint, ...)
    incident_id: str
    event: str  # one of EVENTS
    created_at: datetime
    level: int  # escalation level that fired (1-based; 0 for acknowledge/resolve/test)
    target: str  # contact or rotation name the message is for
    address: str | None  # channel-specific address of that contact (email, phone, ...), if any
    severity: str
    confidence: float
    confidence_reasons: tuple[str, ...]
    title: str
    scenario_id: str
    entity: dict[str, str]
    first_seen: datetime | None
    last_seen: datetime | None
    finding_count: int
    attack: tuple[str, ...]
    evidence: tuple[EvidenceLine, ...]
    ack_command: str  # e.g. "logwarden incidents ack INC-1a2b3c --by <your name>"
    summary: str = ""  # one line, plain text, already safe for terminals
    exercise: bool = False  # EXERCISE messages are marked as such in every channel
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form stored as the outbox payload (the exact message every attempt resends)."""
        return {
            "id": self.id,
            "dedup_key": self.dedup_key,
            "incident_id": self.incident_id,
            "event": self.event,
            "created_at": iso(self.created_at),
            "level": self.level,
            "target": self.target,
            "address": self.address,
            "severity": self.severity,
            "confidence": self.confidence,
            "confidence_reasons": list(self.confidence_reasons),
            "title": self.title,
            "scenario_id": self.scenario_id,
            "entity": dict(self.entity),
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "finding_count": self.finding_count,
            "attack": list(self.attack),
            "evidence": [line.to_dict() for line in self.evidence],
            "ack_command": self.ack_command,
            "summary": self.summary,
            "exercise": self.exercise,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Notification":
        return cls(
            id=data["id"],
            dedup_key=data["dedup_key"],
            incident_id=data["incident_id"],
            event=data["event"],
            created_at=parse_iso(data["created_at"]),  # type: ignore[arg-type]
            level=int(data["level"]),
            target=data["target"],
            address=data.get("address"),
            severity=data["severity"],
            confidence=float(data["confidence"]),
            confidence_reasons=tuple(data.get("confidence_reasons", ())),
            title=data["title"],
            scenario_id=data["scenario_id"],
            entity=dict(data.get("entity", {})),
            first_seen=parse_iso(data.get("first_seen")),
            last_seen=parse_iso(data.get("last_seen")),
            finding_count=int(data["finding_count"]),
            attack=tuple(data.get("attack", ())),
            evidence=tuple(EvidenceLine.from_dict(e) for e in data.get("evidence", ())),
            ack_command=data["ack_command"],
            summary=data.get("summary", ""),
            exercise=bool(data.get("exercise", False)),
            extra=dict(data.get("extra", {})),
        )


class ChannelError(Exception):
    """A send failed. `retryable` is False for errors that retrying cannot fix (4xx, auth)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    """A configured destination (SMTP server, webhook URL, ...)."""

    name: str
    kind: str

    def send(self, note: Notification) -> None:
        """Deliver or raise ChannelError. Must not block longer than the channel's timeout."""
        ...
