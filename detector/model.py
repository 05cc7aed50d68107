"""Value objects shared by the detector, the escalation engine and the reports (DESIGN §6)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

SEVERITIES = ("informational", "low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    """Order of a severity name (informational=0 .. critical=4)."""
    return SEVERITIES.index(severity)


def iso(ts: datetime | None) -> str | None:
    """UTC ISO-8601 with a Z suffix, microseconds only when present."""
    if ts is None:
        return None
    ts = ts.astimezone(timezone.utc)
    text = ts.isoformat(timespec="microseconds" if ts.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    """Inverse of `iso` (also accepts offsets); naive input is taken as UTC."""
    if text is None:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def stable_hash(*parts: Any, length: int = 16) -> str:
    """Deterministic short hex id from JSON-serializable parts."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True)
class Evidence:
    """One log line behind a finding: where it is and what it said."""

    path: str
    offset: int
    line: str
    timestamp: datetime
    log_kind: str
    file_uid: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "offset": self.offset,
            "line": self.line,
            "timestamp": iso(self.timestamp),
            "log_kind": self.log_kind,
            "file_uid": self.file_uid,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Evidence":
        return cls(
            path=data["path"],
            offset=int(data["offset"]),
            line=data["line"],
            timestamp=parse_iso(data["timestamp"]),  # type: ignore[arg-type]
            log_kind=data.get("log_kind", ""),
            file_uid=data.get("file_uid", ""),
        )


@dataclass(frozen=True)
class Finding:
    """A detection: one scenario firing for one entity over a span of event time."""

    id: str
    scenario_id: str
    scenario_version: str
    checklist_version: str
    title: str
    severity: str
    confidence: float
    confidence_reasons: tuple[str, ...]
    entity: dict[str, str]
    first_seen: datetime
    last_seen: datetime
    detected_at: datetime
    count: int
    log_kinds: tuple[str, ...]
    attack: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    applications: tuple[str, ...] = ()
    status: str = "open"  # open: repeats extend it; closed: a later repeat opens a new finding
    exercise: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; `entity` and `extra` are copied one level deep, not recursively (callers
        serialize the result right away; a finding is written at every batch that touches it)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["entity"] = dict(self.entity)
        data["extra"] = dict(self.extra)
        data["confidence"] = round(self.confidence, 4)
        data["confidence_reasons"] = list(self.confidence_reasons)
        data["log_kinds"] = list(self.log_kinds)
        data["attack"] = list(self.attack)
        data["applications"] = list(self.applications)
        data["evidence"] = [ev.to_dict() for ev in self.evidence]
        for key in ("first_seen", "last_seen", "detected_at"):
            data[key] = iso(getattr(self, key))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Finding":
        return cls(
            id=data["id"],
            scenario_id=data["scenario_id"],
            scenario_version=data["scenario_version"],
            checklist_version=data["checklist_version"],
            title=data["title"],
            severity=data["severity"],
            confidence=float(data["confidence"]),
            confidence_reasons=tuple(data["confidence_reasons"]),
            entity=dict(data["entity"]),
            first_seen=parse_iso(data["first_seen"]),  # type: ignore[arg-type]
            last_seen=parse_iso(data["last_seen"]),  # type: ignore[arg-type]
            detected_at=parse_iso(data["detected_at"]),  # type: ignore[arg-type]
            count=int(data["count"]),
            log_kinds=tuple(data["log_kinds"]),
            attack=tuple(data["attack"]),
            evidence=tuple(Evidence.from_dict(e) for e in data["evidence"]),
            applications=tuple(data.get("applications", ())),
            status=data.get("status", "open"),
            exercise=bool(data.get("exercise", False)),
            extra=dict(data.get("extra", {})),
        )


@dataclass(frozen=True)
class Peer:
    """What corroboration needs of a stored finding, without its evidence (cheap to load:
    a popular entity value such as `user.name=root` can be shared by many findings)."""

    id: str
    scenario_id: str
    scenario_version: str
    confidence: float
    count: int
    exercise: bool
    first_seen: datetime
    last_seen: datetime
    log_kinds: tuple[str, ...]
    entity: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Defect:
    """Something wrong with the detection process itself (a log gap, a silent source,
    an overdue checklist review). Stored, listed, and escalated like a finding."""

    id: str
    kind: str  # gap | source-missing | source-unreadable | source-silent | review-overdue | unversioned-change
    severity: str
    subject: str  # the path, source or scenario concerned
    detail: str
    first_seen: datetime
    last_seen: datetime
    status: str = "open"  # open | resolved
    triage: str = "new"  # new | acknowledged | resolved (from escalation)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["first_seen"] = iso(self.first_seen)
        data["last_seen"] = iso(self.last_seen)
        return data
