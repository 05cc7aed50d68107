"""A fixed, realistic state for the report tests: a logwarden.yaml with an application
inventory, a small checklist, a policy file, real scans of real log files, findings, and the
escalation rows (incidents, steps, outbox, delivery attempts, audit) written per the escalation
contract — every number the reports show is computed by hand in the tests from the plan below.

Calendar: UTC, Monday–Friday 09:00–17:00, holiday Thursday 2026-11-19.
Incidents (period 2026-11-16 .. 2026-11-23, report time 2026-11-24 12:00Z):

  id   class        sev   scenario    evidence  detected  notified  ack        resolved   levels
  A    business     high  ssh-brute   10:00:00  10:02:00  10:02:30  10:10:00   11:02:00   1       (Mon 16)
  B    after_hours  high  ssh-brute   22:00:00  22:05:00  22:05:10  22:40:00   01:05:00+  1, 2    (Tue 17)
  C    holiday      high  fw-scan     14:00:00  14:01:00  14:01:30  -          -          1, 2, exhausted (Thu 19)
  D    business     low   web-probe   16:50:00  16:55:00  16:55:05  21:30:00   -          1 (breach, no escalation) (Fri 20)
  E    after_hours  low   web-probe   03:00:00  03:00:30  Mon 09:00:02  Mon 09:20:00  -   held, 1 (Sat 21)
  X    exercise incident (left out of the escalation report)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from detection.builders import auth_failure_rule, scenario_doc, write_checklist

from detector.checklist import load_checklist
from detector.config import Config, load_config
from detector.model import Evidence, Finding, iso, stable_hash
from detector.runs.scan import run_scan
from detector.state.history import record_checklist
from detector.state.store import Store
from escalation.audit import AuditTrail, default_audit_path
from escalation.engine.policy import Facts, PolicySet
from escalation.engine.policyfile import load_policy
from escalation.exercise import Exercise, SampleOutcome, record_exercise
from escalation.reports.periods import Period
from escalation.schema import migrate_escalation

UTC = timezone.utc
NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
PERIOD = Period(datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
SCRIPT_LINE = '203.0.113.7 - - [16/Nov/2026:10:00:00 +0000] "GET /<script>document.title=\'pwned\'</script> HTTP/1.1" 404 0 "-" "x"'
ONERROR_LINE = 'Nov 16 10:00:05 bastion sshd[1]: Failed password for <img src=x onerror="document.body.setAttribute(\'data-pwned\',1)"> from 203.0.113.7 port 22 ssh2'
NOTE_TEXT = "checked *bastion* | see [runbook](http://evil.example/) <b>now</b>"


def t(day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=UTC)


POLICY_YAML = """
schema: 1
timezone: UTC
default_calendar: office
calendars:
  office:
    hours:
      mon-fri: 09:00-17:00
    holidays: [2026-11-19]
channels:
  console: {kind: stdout}
  hook: {kind: webhook, url: "http://127.0.0.1:9/hook", secret_env: LOGWARDEN_TEST_HOOK_SECRET}
delivery:
  retry_backoff: 30s
  give_up_after: 1h
contacts:
  oncall: {channels: [console]}
  lead: {channels: [console]}
  pager: {channels: [hook]}
policies:
  - name: page-high
    match: {severity: high}
    after_hours: {after_hours}
    levels:
      - notify: [oncall]
        wait: 15m
      - notify: [oncall, lead]
        wait: 30m
    on_exhausted: [lead]
  - name: review-low
    match: {severity: low}
    after_hours: hold
    levels:
      - notify: [oncall]
        wait: 4h
"""


def scenarios(reviewed: date = date(2026, 11, 20)) -> list[dict[str, Any]]:
    access_rule = {"detection": {"selection": {"url.path|contains": "/admin"}, "condition": "selection"}}
    firewall_rule = {"detection": {"selection": {"event.action": "firewall-drop"}, "condition": "selection"}}
    return [
        scenario_doc("ssh-brute", severity="high", last_reviewed=reviewed, rules={"fail": auth_failure_rule()},
                     provenance=[{"kind": "threat-model", "ref": "TM-7"}, {"kind": "external", "ref": "https://attack.mitre.org/techniques/T1110/001/"}]),
        scenario_doc("web-probe", severity="medium", last_reviewed=reviewed, requires=["access"], rules={"probe": access_rule},
                     provenance=[{"kind": "past-incident", "ref": "INC-2026-031"}], attack=["T1595"]),
        scenario_doc("fw-scan", severity="high", last_reviewed=reviewed, requires=["firewall"], rules={"drop": firewall_rule},
                     provenance=[{"kind": "external", "ref": "https://attack.mitre.org/techniques/T1046/"}], attack=["T1046"]),
    ]


@dataclass
class Kit:
    """Paths and loaded configuration of one built state."""

    root: Path
    config: Config
    policy_set: PolicySet
    checklist_dir: Path
    incident_ids: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> Path:
        return self.config.state

    def store(self) -> Store:
        return Store(self.state)

    def audit(self, store: Store) -> AuditTrail:
        return AuditTrail(store, default_audit_path(self.state))


def write_config(root: Path, extra_apps: list[dict[str, Any]] | None = None, process: dict[str, Any] | None = None,
                 after_hours: str = "notify") -> Path:
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs" / "incident-detection.md").write_text("# How we detect incidents\n")
    (root / "policy.yaml").write_text(POLICY_YAML.replace("{after_hours}", after_hours))
    apps = [
        {"name": "shop", "criticality": "high", "owner": "web-team",
         "sources": [{"path": "logs/shop/access*.log", "kind": "access"}]},
        {"name": "bastion", "criticality": "critical", "owner": "infra",
         "sources": [{"path": "logs/bastion/auth.log", "kind": "auth"}]},
        {"name": "billing", "criticality": "medium", "owner": "finance-it",
         "sources": [{"path": "logs/billing/*.log", "kind": "application"}]},
        {"name": "newapp", "criticality": "low", "owner": "platform", "onboarded": date(2026, 11, 20),
         "sources": [{"path": "logs/newapp/*.log", "kind": "firewall"}]},
        *(extra_apps or []),
    ]
    doc = {
        "state": "state/state.db",
        "checklist": "rules",
        "escalation": "policy.yaml",
        "timezone": "UTC",
        "process": process if process is not None else {
            "owner": "secops", "point_of_contact": "security@example.com",
            "documentation": "docs/incident-detection.md", "review_interval": "180d",
        },
        "applications": apps,
    }
    path = root / "logwarden.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def write_logs(root: Path) -> None:
    for sub in ("shop", "bastion", "billing"):
        (root / "logs" / sub).mkdir(parents=True, exist_ok=True)
    (root / "logs" / "shop" / "access.log").write_text(
        "".join(f'198.51.100.{i} - - [22/Nov/2026:10:00:{i:02d} +0000] "GET /item/{i} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n'
                for i in range(1, 11))
    )
    (root / "logs" / "bastion" / "auth.log").write_text(
        "".join(f"Nov 22 10:00:{i:02d} bastion sshd[100{i}]: Accepted publickey for deploy from 10.0.0.{i} port 50{i:02d} ssh2\n"
                for i in range(1, 6))
    )
    (root / "logs" / "billing" / "app.log").write_text(
        "".join(f"ts=2026-11-22T10:00:{i:02d}Z level=info service=billing event=invoice outcome=success user=u{i}\n"
                for i in range(1, 6))
    )


def scan(kit_root: Path, config: Config, now: datetime, paths: list[Path] | None = None) -> None:
    from detector.detection.engine import DetectionEngine

    engine = DetectionEngine(load_checklist(config.checklist))
    with Store(config.state) as store:
        record_checklist(store, engine.checklist, now)
        run_scan(store, config, paths or [], now, sink=engine, log=lambda _m: None)


# --- escalation rows (per ESCALATION_CONTRACT.md) ------------------------------------------------


class Writer:
    """Writes incidents the way the engine and outbox would, audit entries through the real trail."""

    def __init__(self, store: Store, policy_set: PolicySet) -> None:
        self.store = store
        self.policy_set = policy_set
        self.audit = AuditTrail(store, default_audit_path(store.path))
        migrate_escalation(store)
        self.step_ids: dict[tuple[str, str, int, int], int] = {}

    def finding(self, scenario: str, severity: str, entity: dict[str, str], first: datetime, detected: datetime,
                lines: list[str], exercise: bool = False) -> Finding:
        finding = Finding(
            id="F-" + stable_hash(scenario, entity, first, length=12),
            scenario_id=scenario, scenario_version="1.0.0", checklist_version="2026.11.0",
            title=f"test scenario {scenario}", severity=severity, confidence=0.6, confidence_reasons=("prior 0.6",),
            entity=entity, first_seen=first, last_seen=first + timedelta(seconds=len(lines)), detected_at=detected,
            count=len(lines), log_kinds=("auth",), attack=("T1110.001",),
            evidence=tuple(Evidence(path="/var/log/auth.log", offset=100 * i, line=line, timestamp=first + timedelta(seconds=i),
                                    log_kind="auth") for i, line in enumerate(lines)),
            exercise=exercise,
        )
        with self.store.transaction():
            self.store.put_finding(finding, change="new", now=detected)
        return finding

    def incident(self, key: str, finding: Finding, *, day_class: str, level: int, cycle: int = 0, status: str,
                 first_notified: datetime | None, acknowledged: tuple[datetime, str] | None = None,
                 resolved: tuple[datetime, str, str, str | None] | None = None, exhausted: datetime | None = None,
                 held: bool = False, exercise: bool = False) -> str:
        frozen = self.policy_set.select(Facts(severity=finding.severity, confidence=finding.confidence,
                                              scenarios=(finding.scenario_id,)))
        assert frozen is not None
        opened = finding.detected_at
        incident_id = "INC-" + stable_hash(key, iso(opened))[:10]
        row = {
            "id": incident_id, "dedup_key": f"{finding.scenario_id}|source.ip=203.0.113.7", "kind": "finding",
            "status": status, "title": finding.title, "scenario_id": finding.scenario_id,
            "entity": '{"source.ip": "203.0.113.7"}', "severity": finding.severity, "confidence": finding.confidence,
            "attack": '["T1110.001"]', "applications": '["bastion"]', "exercise": int(exercise),
            "policy_name": frozen.name, "policy": frozen.to_json(), "first_evidence_at": iso(finding.first_seen),
            "opened_at": iso(opened), "day_class": day_class, "level": level, "cycle": cycle,
            "first_notified_at": iso(first_notified), "acknowledged_at": iso(acknowledged[0]) if acknowledged else None,
            "acknowledged_by": acknowledged[1] if acknowledged else None,
            "resolved_at": iso(resolved[0]) if resolved else None, "resolved_by": resolved[1] if resolved else None,
            "resolution_note": resolved[2] if resolved else None, "root_cause": resolved[3] if resolved else None,
            "exhausted_at": iso(exhausted), "held": int(held), "updated_at": iso(opened),
        }
        with self.store.transaction():
            self.store.execute(
                f"INSERT INTO incidents({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values())
            )
            self.store.execute(
                "INSERT INTO incident_members(incident_id, member_kind, member_id, attached_at) VALUES (?, 'finding', ?, ?)",
                (incident_id, finding.id, iso(opened)),
            )
            self.audit.append(at=opened, actor="logwarden", action="opened", incident_id=incident_id,
                              details={"policy": frozen.name, "day_class": day_class})
            if acknowledged:
                self.audit.append(at=acknowledged[0], actor=acknowledged[1], action="acknowledged",
                                  incident_id=incident_id, details={})
            if resolved:
                self.audit.append(at=resolved[0], actor=resolved[1], action="resolved", incident_id=incident_id,
                                  details={"note": resolved[2], "root_cause": resolved[3]})
        self.audit.sync_mirror()
        return incident_id

    def step(self, incident_id: str, action: str, level: int, due: datetime, ran: datetime, day_class: str,
             cycle: int = 0) -> int:
        with self.store.transaction():
            cur = self.store.execute(
                "INSERT INTO escalation_steps(incident_id, action, level, cycle, due_at, ran_at, late_seconds, day_class,"
                " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}')",
                (incident_id, action, level, cycle, iso(due), iso(ran), (ran - due).total_seconds(), day_class),
            )
        return int(cur.lastrowid or 0)

    def message(self, incident_id: str, channel: str, target: str, level: int, created: datetime,
                attempts: list[tuple[datetime, bool, str | None]], status: str, event: str = "trigger",
                fallback_of: str | None = None) -> str:
        message_id = "MSG-" + stable_hash(incident_id, channel, target, level, iso(created))
        sent = next((at for at, ok, _ in attempts if ok), None)
        errors = [e for _, ok, e in attempts if not ok and e]
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO outbox(id, incident_id, step_id, channel, target, via, event, level, payload, created_at,"
                " next_attempt_at, give_up_at, attempts, status, sent_at, last_error, fallback_of)"
                " VALUES (?, ?, NULL, ?, ?, NULL, ?, ?, '{}', ?, ?, ?, ?, ?, ?, ?, ?)",
                (message_id, incident_id, channel, target, event, level, iso(created), iso(created),
                 iso(created + timedelta(hours=1)), len(attempts), status, iso(sent), errors[-1] if errors else None,
                 fallback_of),
            )
            for number, (at, ok, error) in enumerate(attempts, start=1):
                self.store.execute(
                    "INSERT INTO delivery_attempts(outbox_id, attempt, at, ok, error) VALUES (?, ?, ?, ?, ?)",
                    (message_id, number, iso(at), int(ok), error),
                )
            if sent is not None:
                self.audit.append(at=sent, actor="outbox", action="notified", incident_id=incident_id,
                                  details={"channel": channel, "to": target, "level": level})
        self.audit.sync_mirror()
        return message_id

    def action(self, incident_id: str, at: datetime, actor: str, action: str, details: dict[str, Any]) -> None:
        with self.store.transaction():
            self.audit.append(at=at, actor=actor, action=action, incident_id=incident_id, details=details)
        self.audit.sync_mirror()


def write_incidents(store: Store, policy_set: PolicySet, with_unescalated_breach: bool = True) -> dict[str, str]:
    w = Writer(store, policy_set)
    ids: dict[str, str] = {}
    ip = {"source.ip": "203.0.113.7"}
    # A: Monday business hours, acknowledged in 8 minutes, resolved with a root cause.
    fa = w.finding("ssh-brute", "high", ip, t(16, 10), t(16, 10, 2), [SCRIPT_LINE, ONERROR_LINE])
    a = ids["A"] = w.incident("A", fa, day_class="business", level=1, status="resolved", first_notified=t(16, 10, 2, 30),
                              acknowledged=(t(16, 10, 10), "alice"),
                              resolved=(t(16, 11, 2), "alice", "password reset, source blocked", "weak password on bastion"))
    w.step(a, "fire_level", 1, t(16, 10, 2), t(16, 10, 2), "business")
    w.message(a, "console", "oncall", 1, t(16, 10, 2), [(t(16, 10, 2, 30), True, None)], "sent")
    w.action(a, t(16, 10, 20), "alice", "note", {"text": NOTE_TEXT})
    # B: Tuesday night: level 1 missed, level 2 (late 30s) acknowledged in time.
    fb = w.finding("ssh-brute", "high", {"source.ip": "192.0.2.50"}, t(17, 22), t(17, 22, 5), ["Nov 17 22:00:00 bastion sshd[2]: Failed password for root from 192.0.2.50 port 4 ssh2"])
    b = ids["B"] = w.incident("B", fb, day_class="after_hours", level=2, status="resolved", first_notified=t(17, 22, 5, 10),
                              acknowledged=(t(17, 22, 40), "bob"), resolved=(t(18, 1, 5), "bob", "blocked at the firewall", "test account left enabled"))
    w.step(b, "fire_level", 1, t(17, 22, 5), t(17, 22, 5), "after_hours")
    w.message(b, "console", "oncall", 1, t(17, 22, 5), [(t(17, 22, 5, 10), True, None)], "sent")
    w.step(b, "fire_level", 2, t(17, 22, 20), t(17, 22, 20, 30), "after_hours")
    w.message(b, "console", "oncall", 2, t(17, 22, 20, 30), [(t(17, 22, 20, 40), True, None)], "sent", event="escalate")
    w.message(b, "console", "lead", 2, t(17, 22, 20, 30), [(t(17, 22, 20, 40), True, None)], "sent", event="escalate")
    # C: holiday: nobody answers; webhook retries, falls back to the console; path exhausted.
    fc = w.finding("fw-scan", "high", {"source.ip": "198.51.100.99"}, t(19, 14), t(19, 14, 1), ["Nov 19 14:00:00 gw kernel: [UFW BLOCK] SRC=198.51.100.99"])
    c = ids["C"] = w.incident("C", fc, day_class="holiday", level=2, status="open", first_notified=t(19, 14, 1, 30),
                              exhausted=t(19, 14, 46, 10))
    w.step(c, "fire_level", 1, t(19, 14, 1), t(19, 14, 1), "holiday")
    w.message(c, "hook", "pager", 1, t(19, 14, 1), [(t(19, 14, 1), False, "HTTP 503"), (t(19, 14, 1, 30), True, None)], "sent")
    w.step(c, "fire_level", 2, t(19, 14, 16), t(19, 14, 16, 5), "holiday")
    w.message(c, "hook", "pager", 2, t(19, 14, 16, 5), [(t(19, 14, 16, 10), True, None)], "sent", event="escalate")
    lead = w.message(c, "hook", "lead", 2, t(19, 14, 16, 5),
                     [(t(19, 14, 16, 5), False, "connection refused"), (t(19, 14, 20), False, "connection refused")],
                     "fallen_back", event="escalate")
    w.message(c, "console", "lead", 2, t(19, 14, 20), [(t(19, 14, 20, 1), True, None)], "sent", event="escalate",
              fallback_of=lead)
    w.step(c, "exhausted", 2, t(19, 14, 46, 5), t(19, 14, 46, 10), "holiday")
    if with_unescalated_breach:
        # D: Friday 16:55 (business): acknowledged 4.5h later; the path never went on (no tick ran).
        fd = w.finding("web-probe", "low", {"source.ip": "198.51.100.7"}, t(20, 16, 50), t(20, 16, 55), ['198.51.100.7 - - [20/Nov/2026:16:50:00 +0000] "GET /admin HTTP/1.1" 404 0 "-" "x"'])
        d = ids["D"] = w.incident("D", fd, day_class="business", level=1, status="acknowledged",
                                  first_notified=t(20, 16, 55, 5), acknowledged=(t(20, 21, 30), "carol"))
        w.step(d, "fire_level", 1, t(20, 16, 55), t(20, 16, 55), "business")
        w.message(d, "console", "oncall", 1, t(20, 16, 55), [(t(20, 16, 55, 5), True, None)], "sent")
    # E: Saturday 03:00, held until Monday 09:00, then acknowledged in 20 minutes.
    fe = w.finding("web-probe", "low", {"source.ip": "198.51.100.8"}, t(21, 3), t(21, 3, 0, 30), ['198.51.100.8 - - [21/Nov/2026:03:00:00 +0000] "GET /admin/ HTTP/1.1" 404 0 "-" "x"'])
    e = ids["E"] = w.incident("E", fe, day_class="after_hours", level=1, status="acknowledged",
                              first_notified=t(23, 9, 0, 2), acknowledged=(t(23, 9, 20), "dave"), held=True)
    w.step(e, "hold", 0, t(21, 3, 0, 30), t(21, 3, 0, 30), "after_hours")
    w.step(e, "digest", 1, t(23, 9), t(23, 9), "business")
    w.message(e, "console", "oncall", 1, t(23, 9), [(t(23, 9, 0, 2), True, None)], "sent", event="digest")
    # X: an exercise incident: never part of the escalation figures.
    fx = w.finding("ssh-brute", "high", {"source.ip": "203.0.113.99"}, t(22, 10), t(22, 10, 0, 5), ["exercise"], exercise=True)
    x = ids["X"] = w.incident("X", fx, day_class="after_hours", level=1, status="open", first_notified=t(22, 10, 0, 6),
                              exercise=True)
    w.step(x, "fire_level", 1, t(22, 10, 0, 5), t(22, 10, 0, 5), "after_hours")
    w.message(x, "console", "oncall", 1, t(22, 10, 0, 5), [(t(22, 10, 0, 6), True, None)], "sent")
    return ids


def write_exercise(store: Store) -> Exercise:
    results = (
        SampleOutcome("fw-scan", "sample_logs/fw-scan/positive.log", "high", True, ("F-ex1",), "INC-ex00000001",
                      "page-high", "business", t(22, 9, 59), t(22, 10), t(22, 10, 0, 1), 1,
                      ({"channel": "console", "target": "oncall", "via": None, "level": 1, "status": "sent", "error": None},)),
        SampleOutcome("ssh-brute", "sample_logs/ssh-brute/positive.log", "high", True, ("F-ex2",), "INC-ex00000002",
                      "page-high", "business", t(22, 9, 58), t(22, 10), t(22, 10, 0, 2), 1,
                      ({"channel": "console", "target": "oncall", "via": None, "level": 1, "status": "sent", "error": None},)),
        SampleOutcome("web-probe", "sample_logs/web-probe/positive.log", "medium", True, ("F-ex3",), "INC-ex00000003",
                      "review-low", "business", t(22, 9, 59, 30), t(22, 10), None, None, ()),
    )
    exercise = Exercise("EX-0001", t(22, 10), t(22, 10, 0, 5), "isolated", "2026.11.0", "policy.yaml", results)
    record_exercise(store, exercise)
    return exercise


def build(root: Path, *, with_unescalated_breach: bool = True, after_hours: str = "notify",
          extra_apps: list[dict[str, Any]] | None = None, process: dict[str, Any] | None = None,
          reviewed: date = date(2026, 11, 20), exercise: bool = True) -> Kit:
    """The whole fixed state under `root`."""
    config_path = write_config(root, extra_apps=extra_apps, process=process, after_hours=after_hours)
    write_logs(root)
    checklist_dir = write_checklist(root, scenarios(reviewed), reviews=[{"date": reviewed, "by": "secops", "note": "quarterly review"}])
    config = load_config(config_path)
    policy_set = load_policy(config.escalation, config.state.parent)
    # scan 1, two days before the report: everything in the inventory (newapp's glob matches nothing)
    scan(root, config, NOW - timedelta(days=2))
    # scan 2, ten minutes before: only the shop and the bastion (billing goes stale)
    scan(root, config, NOW - timedelta(minutes=10), paths=[root / "logs" / "shop", root / "logs" / "bastion"])
    kit = Kit(root, config, policy_set, checklist_dir)
    with kit.store() as store:
        # newapp's missing source was triaged (the engine sets this when its defect incident is acknowledged)
        with store.transaction():
            store.execute("UPDATE defects SET triage = 'acknowledged' WHERE kind = 'source-missing'")
        kit.incident_ids = write_incidents(store, policy_set, with_unescalated_breach)
        if exercise:
            write_exercise(store)
    return kit


def html_reports(kit: Kit) -> tuple[str, str]:
    """The kit's escalation report (the kit's period) and maturity report (a year) as HTML."""
    from escalation.reports.escalation_report import build_escalation_report
    from escalation.reports.evidence import Inputs
    from escalation.reports.maturity import build_maturity_report
    from escalation.reports.render import render

    with kit.store() as store:
        audit = kit.audit(store).verify()
        escalation = render(build_escalation_report(store, PERIOD, NOW, kit.policy_set, audit), "html")
        inputs = Inputs(store, kit.config, load_checklist(kit.config.checklist), kit.policy_set, NOW,
                        Period(NOW - timedelta(days=365), NOW), audit)
        return escalation, render(build_maturity_report(inputs), "html")
