"""Helpers for the engine, incident and CLI tests: a test policy with one journal per person,
realistic findings, and a harness that drives the real engine over a real state file.

Imported by the tests in this directory as `escalationkit` (pytest puts the directory on
sys.path). Times: the test calendar is Europe/Berlin, business hours Mon-Fri 09:00-17:00 local
(08:00-16:00 UTC in November/December), holidays 2026-12-24 and 2026-12-25.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from detector.config import Config
from detector.model import Defect, Evidence, Finding, iso, stable_hash
from detector.state.store import Store

PEOPLE = ("alice", "bob", "carol", "dave", "erin")


def utc(text: str) -> datetime:
    """`2026-11-23 09:00` -> aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


MONDAY_BUSINESS = utc("2026-11-23 09:00")  # 10:00 in Berlin, Monday
MONDAY_EVENING = utc("2026-11-23 20:00")  # 21:00 in Berlin
FRIDAY_EVENING = utc("2026-11-27 17:00")  # 18:00 in Berlin, Friday
NEXT_MONDAY_OPENING = utc("2026-11-30 08:00")  # 09:00 in Berlin
CHRISTMAS_EVE = utc("2026-12-24 10:00")  # a Thursday, 11:00 in Berlin, a holiday

TEST_POLICY = """\
schema: 1
timezone: Europe/Berlin
reopen_window: 24h
default_calendar: office

calendars:
  office:
    hours:
      mon-fri: 09:00-17:00
    holidays: [2026-12-24, 2026-12-25]

channels:
{channels}

contacts:
{contacts}

rotations:
  night:                       # bob and erin take turns, a week each, from Monday 2 November
    members: [bob, erin]
    start: 2026-11-02T09:00
    every: 1w

policies:
  - name: page
    match: {{severity: high}}
    after_hours: notify
    levels:
      - notify: [alice]
        after_hours: [night]
        wait: 20m
      - notify: [carol]
        wait: 30m
    repeat: 1
    on_exhausted: [dave]
    ack_timeout: 2h

  - name: confident-medium
    match: {{severity: medium, confidence: 0.9}}
    after_hours: notify
    levels:
      - notify: [carol]
        wait: 1h

  - name: review
    match: {{severity: low}}
    after_hours: hold
    levels:
      - notify: [alice]
        wait: 1h
      - notify: [carol]
        wait: 1h
"""


def standard_policy_text() -> str:
    channels = "\n".join(f"  {p}-log: {{kind: file, path: journals/{p}.jsonl}}" for p in PEOPLE)
    contacts = "\n".join(f"  {p}: {{channels: [{p}-log]}}" for p in PEOPLE)
    return TEST_POLICY.format(channels=channels, contacts=contacts)


def write_policy(directory: Path, text: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "policy.yaml"
    path.write_text(text if text is not None else standard_policy_text(), encoding="utf-8")
    return path


def journal(directory: Path, person: str) -> list[dict[str, Any]]:
    """Every message `person` got, as the JSON payloads their journal channel wrote."""
    path = directory / "journals" / f"{person}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def received(directory: Path) -> dict[str, list[tuple[str, int, str]]]:
    """person -> [(event, level, created_at), ...] for everyone who got anything."""
    found = {}
    for person in PEOPLE:
        messages = journal(directory, person)
        if messages:
            found[person] = [(m["event"], m["level"], m["created_at"]) for m in messages]
    return found


def make_finding(
    scenario: str = "ssh-bruteforce",
    severity: str = "high",
    confidence: float = 0.7,
    ip: str = "203.0.113.7",
    detected_at: datetime = MONDAY_BUSINESS,
    count: int = 8,
    **changes: Any,
) -> Finding:
    """A finding as the detector stores it, with evidence lines from /var/log/auth.log."""
    first = detected_at - timedelta(minutes=9)
    evidence = tuple(
        Evidence(
            path="/var/log/auth.log",
            offset=1000 + 97 * i,
            line=f"{(first + timedelta(seconds=30 * i)):%b %d %H:%M:%S} bastion sshd[811]: Failed password for root from {ip} port {40000 + i} ssh2",
            timestamp=first + timedelta(seconds=30 * i),
            log_kind="auth",
        )
        for i in range(min(count, 3))
    )
    finding = Finding(
        id=stable_hash(scenario, ip, iso(first)),
        scenario_id=scenario,
        scenario_version="1.0.0",
        checklist_version="2026.11.0",
        title=f"Test scenario {scenario}",
        severity=severity,
        confidence=confidence,
        confidence_reasons=(f"scenario prior {confidence:.2f}",),
        entity={"source.ip": ip},
        first_seen=first,
        last_seen=first + timedelta(seconds=30 * (count - 1)),
        detected_at=detected_at,
        count=count,
        log_kinds=("auth",),
        attack=("T1110.001",),
        evidence=evidence,
    )
    return replace(finding, **changes) if changes else finding


@dataclass
class Harness:
    """The real engine (service.open_engine) over a real state file and the test policy."""

    directory: Path
    policy_text: str | None = None
    state: Path = field(init=False)
    config: Config = field(init=False)

    def __post_init__(self) -> None:
        policy = write_policy(self.directory, self.policy_text)
        self.state = self.directory / "state" / "state.db"
        self.config = Config(path=None, state=self.state, checklist=None, escalation=policy, timezone="UTC")
        self.store = Store(self.state)
        from escalation.engine.service import open_engine

        self.engine = open_engine(self.store, self.config)

    def close(self) -> None:
        self.store.close()

    # -- the detector's side: the feeds -------------------------------------------------------

    def detect(self, finding: Finding, change: str = "new", at: datetime | None = None) -> Finding:
        with self.store.transaction():
            self.store.put_finding(finding, change, at or finding.detected_at)
        return finding

    def defect(self, defect: Defect, at: datetime) -> None:
        with self.store.transaction():
            self.store.put_defect(defect, at)

    # -- time passes --------------------------------------------------------------------------

    def run(self, now: datetime) -> list[Any]:
        """What `logwarden scan`/`escalation tick` do at `now`: ingest, timers, delivery."""
        self.engine.ingest(now)
        return self.engine.tick(now)

    # -- what happened ------------------------------------------------------------------------

    def incident(self, incident_id: str | None = None) -> Any:
        found = self.engine.incidents.all()
        if incident_id is None:
            assert len(found) == 1, [i.id for i in found]
            return found[0]
        return self.engine.incidents.get(incident_id)

    def steps(self, incident_id: str) -> list[tuple[str, int, int, str, str, float, str]]:
        rows = self.store.execute(
            "SELECT action, level, cycle, due_at, ran_at, late_seconds, day_class FROM escalation_steps"
            " WHERE incident_id = ? ORDER BY id",
            (incident_id,),
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]

    def audit(self, incident_id: str, actor: str | None = None) -> list[tuple[str, str, str]]:
        """(at, actor, action) of the incident's audit entries, in order (delivery entries by
        the outbox left out unless `actor` asks for them)."""
        entries = self.engine.audit.entries(incident_id)
        return [
            (iso(e.at), e.actor, e.action)  # type: ignore[misc]
            for e in entries
            if (actor is None and e.actor != "outbox") or e.actor == actor
        ]

    def audit_details(self, incident_id: str, action: str) -> list[dict[str, Any]]:
        return [e.details for e in self.engine.audit.entries(incident_id) if e.action == action]

    def outbox(self, incident_id: str) -> list[tuple[str, str, str | None, str, int, str]]:
        rows = self.store.execute(
            "SELECT target, channel, via, event, level, status FROM outbox WHERE incident_id = ?"
            " ORDER BY created_at, target, id",
            (incident_id,),
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]
