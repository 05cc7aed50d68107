"""`logwarden incidents ...` and `logwarden escalation ...` (DESIGN §9). Thin: options in,
library call, output out. JSON goes to stdout; human text goes to stderr when stdout carries
JSON. Everything that may come from a log (entities, titles, evidence, notes) is shown through
`terminal_safe`, so a hostile log line cannot drive the operator's terminal.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import click

from detector.cli.common import emit_json, format_option, now_option, parse_now, say, state_options, wait_option
from detector.cli.findingview import evidence_lines, located
from detector.config import Config
from detector.durations import parse_duration
from detector.errors import NotFoundError, UsageError
from detector.model import SEVERITIES, iso
from detector.state.existing import open_existing, require_state
from detector.state.lock import StateLock
from detector.state.store import Store
from detector.textsafe import terminal_safe
from escalation.audit import AuditTrail, default_audit_path
from escalation.channels.notification import ChannelError, Notification
from escalation.engine.incidents import ACTIVE, STATUSES, Incident, IncidentTable, urgency_key
from escalation.engine.policyfile import load_policy
from escalation.engine.service import escalate, human_output, open_engine
from escalation.schema import migrate_escalation

STATUS_CHOICES = ("active", *STATUSES, "all")


def register(cli: click.Group) -> None:
    """Add the `incidents` and `escalation` command groups to the root command."""
    cli.add_command(incidents)
    cli.add_command(escalation)


def _safe(value: Any, limit: int | None = 300) -> str:
    return terminal_safe("-" if value is None else str(value), limit)


def _entity(entity: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(entity.items())) or "-"


def _when(value: datetime | None) -> str:
    return iso(value) or "-"


def _exit(code: int) -> None:
    click.get_current_context().exit(code)


def _holding(config: Config, incident_id: str) -> Config:
    """The config whose state holds the incident: the live one, or the kept isolated state of
    an exercise (so the acknowledge command a drill notification prints works as printed)."""
    from escalation.exercise import find_drill_state

    with open_existing(config.state) as store:
        migrate_escalation(store)
        if IncidentTable(store).find(incident_id.strip()):
            return config
    drill = find_drill_state(config.state, incident_id)
    if drill is None:
        return config  # the live state answers "no incident ..."
    say(_safe(f"{incident_id}: exercise incident, held in {drill}", 1000), to_stderr=True)
    return replace(config, state=drill)


# --- incidents ----------------------------------------------------------------------------------


@click.group()
def incidents() -> None:
    """List, inspect, acknowledge, snooze and resolve incidents."""


@incidents.command("list")
@state_options
@now_option
@format_option("text", "json")
@click.option("--status", type=click.Choice(STATUS_CHOICES), default="active", show_default=True,
              help="which incidents: active = open, acknowledged or snoozed")
@click.option("--severity", "severities", multiple=True, metavar="SEVERITY[,SEVERITY]",
              help="only these severities (repeatable or comma-separated), e.g. critical,high")
@click.option("--scenario", "scenarios", multiple=True, metavar="ID[,ID]", help="only these scenarios")
@click.option("--entity", "entities", multiple=True, metavar="[KEY=]VALUE",
              help="only incidents about this entity, e.g. source.ip=203.0.113.7 or just 203.0.113.7")
@click.option("--since", "since_text", default=None, metavar="DURATION|ISO8601",
              help="only incidents opened or changed since then (24h, 7d, or an instant)")
def list_incidents(config: Config, now: datetime, fmt: str, status: str, severities: tuple[str, ...],
                   scenarios: tuple[str, ...], entities: tuple[str, ...], since_text: str | None) -> None:
    """Incidents, most urgent first: open before snoozed, acknowledged and resolved; then the
    worst severity; then the oldest."""
    wanted = ACTIVE if status == "active" else STATUSES if status == "all" else (status,)
    keep = IncidentFilter.from_options(severities, scenarios, entities, since_text, now)
    with open_existing(config.state) as store:
        migrate_escalation(store)
        found = sorted((i for i in IncidentTable(store).all(wanted) if keep.matches(i)), key=urgency_key)
    if fmt == "json":
        emit_json({"incidents": [i.to_dict() for i in found]})
        return
    if not found:
        say(f"no {status if status != 'all' else ''} incidents{' matching the filters' if keep.active else ''}".replace("  ", " "))
        return
    for incident in found:
        say(_line(incident))


@dataclass(frozen=True)
class IncidentFilter:
    """`incidents list` filters; every one given must match."""

    severities: frozenset[str] = frozenset()
    scenarios: frozenset[str] = frozenset()
    entities: tuple[tuple[str | None, str], ...] = ()
    since: datetime | None = None

    @property
    def active(self) -> bool:
        return bool(self.severities or self.scenarios or self.entities or self.since)

    @classmethod
    def from_options(cls, severities: tuple[str, ...], scenarios: tuple[str, ...], entities: tuple[str, ...],
                     since_text: str | None, now: datetime) -> "IncidentFilter":
        chosen = {s.strip().lower() for item in severities for s in item.split(",") if s.strip()}
        unknown = sorted(chosen - set(SEVERITIES))
        if unknown:
            raise UsageError(f"--severity {', '.join(unknown)}: use one of {', '.join(SEVERITIES)}")
        pairs = tuple((k.strip(), v.strip()) if sep else (None, k.strip())
                      for k, sep, v in (e.partition("=") for e in entities))
        return cls(frozenset(chosen), frozenset(s.strip() for item in scenarios for s in item.split(",") if s.strip()),
                   pairs, _since(since_text, now) if since_text else None)

    def matches(self, incident: Incident) -> bool:
        if self.severities and incident.severity not in self.severities:
            return False
        if self.scenarios and incident.scenario_id not in self.scenarios:
            return False
        for key, value in self.entities:
            if key is None and value not in incident.entity.values():
                return False
            if key is not None and incident.entity.get(key) != value:
                return False
        return self.since is None or max(incident.opened_at, incident.updated_at) >= self.since


def _since(text: str, now: datetime) -> datetime:
    """`--since`: a duration back from now (24h, 7d) or an ISO-8601 instant."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_now(text)
    except UsageError:
        raise UsageError(f"--since {text!r}: give a duration such as 24h or 7d, or an instant such as 2026-11-23T09:00Z") from None


def _line(incident: Incident) -> str:
    nxt = f"{incident.next_action}@{_when(incident.next_due_at)}" if incident.next_action else "-"
    text = (
        f"{incident.id}  {incident.status:<12} {incident.severity:<8} {incident.confidence:.2f}  "
        f"L{incident.level}/c{incident.cycle}  opened {_when(incident.opened_at)}  "
        f"policy {incident.policy_name or '(none)'}  next {nxt}  "
        f"{incident.scenario_id} ({_entity(incident.entity)})"
        f"{'  [EXERCISE]' if incident.exercise else ''}"
    )
    return terminal_safe(text, 1000)


@incidents.command("show")
@click.argument("incident_id")
@state_options
@now_option
@format_option("text", "json")
def show_incident(incident_id: str, config: Config, now: datetime, fmt: str) -> None:
    """One incident: its members, timer steps, notifications and audit trail."""
    config = _holding(config, incident_id)
    with open_existing(config.state) as store:
        migrate_escalation(store)
        table = IncidentTable(store)
        incident = _one(table, incident_id)
        members = table.member_ids(incident.id)
        steps = [dict(r) for r in store.execute(
            "SELECT * FROM escalation_steps WHERE incident_id = ? ORDER BY id", (incident.id,))]
        messages = [dict(r) for r in store.execute(
            "SELECT id, step_id, channel, target, via, event, level, created_at, status, attempts, sent_at,"
            " last_error, fallback_of FROM outbox WHERE incident_id = ? ORDER BY created_at, id", (incident.id,))]
        audit = AuditTrail(store, default_audit_path(config.state)).entries(incident.id)
        findings = [store.get_finding(m[1]) for m in members if m[0] == "finding"]
        evidence = located(store, [ev for f in findings if f is not None for ev in f.evidence])
    for step in steps:
        step["detail"] = json.loads(step["detail"])
    if fmt == "json":
        emit_json({
            "incident": incident.to_dict(),
            "members": [{"kind": k, "id": i, "attached_at": iso(at)} for k, i, at in members],
            "steps": steps,
            "notifications": messages,
            "audit": [e.to_dict() for e in audit],
            "evidence": evidence,
        })
        return
    rows = [
        ("Incident", incident.id), ("Status", incident.status), ("Title", incident.title),
        ("Scenario", incident.scenario_id), ("Entity", _entity(incident.entity)),
        ("Severity", incident.severity), ("Confidence", f"{incident.confidence:.2f}"),
        ("ATT&CK", ", ".join(incident.attack) or "-"), ("Exercise", "yes" if incident.exercise else "no"),
        ("First evidence", _when(incident.first_evidence_at)), ("Opened", f"{_when(incident.opened_at)} ({incident.day_class})"),
        ("Policy", incident.policy_name or "(none matched: recorded, nobody notified)"),
        ("Level", f"{incident.level} (repeat {incident.cycle})"),
        ("Next", f"{incident.next_action} at {_when(incident.next_due_at)}" if incident.next_action else "-"),
        ("Ack deadline", _when(incident.ack_deadline)), ("First notified", _when(incident.first_notified_at)),
        ("Acknowledged", f"{_when(incident.acknowledged_at)} by {incident.acknowledged_by}" if incident.acknowledged_at else "-"),
        ("Snoozed until", _when(incident.snoozed_until)),
        ("Resolved", f"{_when(incident.resolved_at)} by {incident.resolved_by}" if incident.resolved_at else "-"),
        ("Note", incident.resolution_note or "-"), ("Root cause", incident.root_cause or "-"),
        ("Exhausted", _when(incident.exhausted_at)), ("Held", "yes" if incident.held else "no"),
    ]
    for label, value in rows:
        say(f"{label + ':':<16} {_safe(value, 1000)}")
    say("")
    say(f"Members ({len(members)}):")
    by_id = {f.id: f for f in findings if f is not None}
    for kind, member_id, attached in members:
        finding = by_id.get(member_id)
        extra = (f" {finding.scenario_id} ({_entity(finding.entity)}) x{finding.count} "
                 f"{iso(finding.first_seen)}..{iso(finding.last_seen)}") if finding else ""
        say("  " + _safe(f"{kind} {member_id} attached {iso(attached)}{extra}", 1000))
    say("")
    say(f"Evidence ({len(evidence)} line(s), path:line):")
    for line in evidence_lines(evidence):
        say("  " + line)
    say("")
    say(f"Steps ({len(steps)}):")
    for step in steps:
        who = ", ".join(f"{r['target']}/{r['channel']}" for r in step["detail"].get("recipients", []))
        say("  " + _safe(
            f"{step['ran_at']} {step['action']} level {step['level']} cycle {step['cycle']} "
            f"({step['day_class']}, {step['late_seconds']:.0f}s late){' -> ' + who if who else ''}", 1000))
    say("")
    say(f"Notifications ({len(messages)}):")
    for m in messages:
        via = f" via {m['via']}" if m["via"] else ""
        error = f" ({m['last_error']})" if m["last_error"] else ""
        say("  " + _safe(
            f"{m['created_at']} {m['event']} L{m['level']} -> {m['target']}{via} on {m['channel']}: "
            f"{m['status']} after {m['attempts']} attempt(s){error}", 1000))
    say("")
    say(f"Audit ({len(audit)}):")
    for entry in audit:
        details = json.dumps(entry.details, sort_keys=True)
        say("  " + _safe(f"#{entry.seq} {iso(entry.at)} {entry.actor} {entry.action} {details}", 1000))


def _one(table: IncidentTable, wanted: str) -> Incident:
    found = table.find(wanted.strip())
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFoundError(f"no incident {wanted!r}; `logwarden incidents list --status all` shows their ids")
    raise UsageError(f"{wanted!r} matches {len(found)} incidents; give more of the id")


def _person_option(required: bool) -> Any:
    help_text = "who does this (recorded in the audit trail)" + ("" if required else "; default: your login name")
    return click.option("--by", "by", required=required, default=None, help=help_text)


@incidents.command("ack")
@click.argument("incident_id")
@_person_option(required=True)
@state_options
@now_option
@format_option("text", "json")
def ack_incident(incident_id: str, by: str, config: Config, now: datetime, fmt: str) -> None:
    """Acknowledge: stop the escalation, you are on it."""
    from escalation.exercise import record_drill_ack

    config = _holding(config, incident_id)
    with open_existing(config.state) as store, human_output(fmt == "json"):
        engine = open_engine(store, config)
        incident = engine.acknowledge(incident_id, by, now)
        if incident.exercise and record_drill_ack(store, incident.id, now, by):
            since = (now - incident.first_notified_at).total_seconds() if incident.first_notified_at else None
            drill = f" {since:g}s after the first notification" if since is not None else ""
            say(_safe(f"exercise: acknowledgement recorded{drill} (logwarden report maturity)", 1000))
    timeout = f"; it escalates again at {iso(incident.next_due_at)} unless resolved" if incident.next_due_at else ""
    _done(incident, fmt, f"{incident.id} acknowledged by {by}{timeout}")


@incidents.command("resolve")
@click.argument("incident_id")
@_person_option(required=True)
@click.option("--note", required=True, help="what was found and done")
@click.option("--root-cause", default=None, help="what made it possible (required for high and critical)")
@state_options
@now_option
@format_option("text", "json")
def resolve_incident(incident_id: str, by: str, note: str, root_cause: str | None, config: Config, now: datetime,
                     fmt: str) -> None:
    """Resolve: close the incident with a note (and the root cause for high/critical)."""
    config = _holding(config, incident_id)
    with open_existing(config.state) as store, human_output(fmt == "json"):
        engine = open_engine(store, config)
        incident = engine.resolve(incident_id, by, note, root_cause, now)
    _done(incident, fmt, f"{incident.id} resolved by {by}")


@incidents.command("snooze")
@click.argument("incident_id")
@click.option("--for", "duration", required=True, help="how long, e.g. 30m, 2h, 1d")
@_person_option(required=False)
@state_options
@now_option
@format_option("text", "json")
def snooze_incident(incident_id: str, duration: str, by: str | None, config: Config, now: datetime, fmt: str) -> None:
    """Snooze: suspend the escalation; the current level is sent again when it ends."""
    try:
        delta = parse_duration(duration)
    except ValueError as exc:
        raise UsageError(f"--for: {exc}") from None
    config = _holding(config, incident_id)
    with open_existing(config.state) as store:
        engine = open_engine(store, config)
        incident = engine.snooze(incident_id, delta, by or getpass.getuser(), now)
    _done(incident, fmt, f"{incident.id} snoozed until {iso(incident.snoozed_until)}")


@incidents.command("note")
@click.argument("incident_id")
@_person_option(required=True)
@click.option("--text", required=True, help="the note")
@state_options
@now_option
@format_option("text", "json")
def note_incident(incident_id: str, by: str, text: str, config: Config, now: datetime, fmt: str) -> None:
    """Add a note to the incident's audit trail."""
    config = _holding(config, incident_id)
    with open_existing(config.state) as store:
        engine = open_engine(store, config)
        incident = engine.note(incident_id, by, text, now)
    _done(incident, fmt, f"note added to {incident.id}")


def _done(incident: Incident, fmt: str, text: str) -> None:
    """What a person's action prints: one line, or `{"incident": {...}}` as it is now."""
    if fmt == "json":
        emit_json({"incident": incident.to_dict()})
    else:
        say(_safe(text, 1000))


# --- escalation ---------------------------------------------------------------------------------


@click.group()
def escalation() -> None:
    """Run escalation timers, verify the audit trail, test notification channels."""


@escalation.command("tick")
@state_options
@now_option
@format_option("text", "json")
@wait_option
def tick(config: Config, now: datetime, fmt: str, wait: float) -> None:
    """Take in new findings, run every due timer, deliver due messages (for cron)."""
    json_out = fmt == "json"
    require_state(config.state)  # before the lock, which would create the directory
    with StateLock(config.state, "escalation tick", wait=wait):
        with Store(config.state) as store:
            summary = escalate(store, config, now, stdout_is_data=json_out)
    if json_out:
        emit_json(summary)
        return
    for step in summary["steps"]:
        who = ", ".join(f"{r['target']}/{r['channel']}" for r in step["recipients"])
        if step["held_until"]:
            who = f"held until {step['held_until']} (would notify {who or 'nobody'})"
        elif who:
            who = "-> " + who
        say(_safe(f"{step['incident_id']}: {step['action']} level {step['level']} cycle {step['cycle']} "
                  f"({step['day_class']}) {who}".rstrip(), 1000))
    d = summary["delivery"]
    say(f"escalation: {summary['ingested']} change(s) taken in, {len(summary['steps'])} step(s), "
        f"{d['sent']} sent, {d['retried']} to retry, {d['failed']} failed, {d['fallen_back']} fell back; "
        f"{summary['active_incidents']} active incident(s)")


def _head_hash(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().lower()
    if not (12 <= len(text) <= 64) or any(c not in "0123456789abcdef" for c in text):
        raise click.BadParameter("give the sha256 of a head (hex; at least its first 12 characters) as printed "
                                 "by a report or digest", param=param)
    return text


@escalation.command("verify-audit")
@state_options
@now_option
@format_option("text", "json")
@click.option("--expect-head", metavar="HASH", callback=_head_hash,
              help="fail unless HASH (a head printed by a report or digest) is still the newest entry")
@click.option("--since-head", metavar="HASH", callback=_head_hash,
              help="fail unless HASH (a head exported earlier) is still in the chain: nothing was cut from its end")
def verify_audit(config: Config, now: datetime, fmt: str, expect_head: str | None, since_head: str | None) -> None:
    """Check the audit trail's hash chain and its mirror; exit 1 when they were tampered with.
    With $LOGWARDEN_AUDIT_KEY set, the signed head must match the chain's end too."""
    with open_existing(config.state) as store:
        trail = AuditTrail(store, default_audit_path(config.state))
        result = trail.verify(expect_head=expect_head, since_head=since_head)
    if fmt == "json":
        emit_json({"ok": result.ok, "entries": result.entries, "unmirrored": result.unmirrored,
                   "problems": list(result.problems), "mirror": str(trail.mirror_path),
                   "head": result.head.to_dict() if result.head else None, "signed": bool(trail.key)})
    else:
        for problem in result.problems:
            say(_safe(problem, 1000))
        if result.head is not None:
            say(result.head.line())
        if result.ok:
            pending = f" ({result.unmirrored} not yet mirrored)" if result.unmirrored else ""
            say(f"audit trail OK: {result.entries} entries{pending}, mirror {trail.mirror_path}")
        else:
            say(f"audit trail FAILED verification: {len(result.problems)} problem(s)")
    if not result.ok:
        _exit(1)


@escalation.command("test-channels")
@click.option("--channel", "names", multiple=True, help="only this channel (repeatable); default: all")
@click.option("--by", "by", default=None, help="who runs the test (audit trail); default: your login name")
@state_options
@now_option
@format_option("text", "json")
def test_channels(names: tuple[str, ...], by: str | None, config: Config, now: datetime, fmt: str) -> None:
    """Send a test message on every channel of the policy; exit 1 when one fails."""
    policy = load_policy(config.escalation, config.state.parent)
    unknown = [n for n in names if n not in policy.channels]
    if unknown:
        raise UsageError(f"unknown channel(s) {', '.join(unknown)}; the policy has {', '.join(sorted(policy.channels))}")
    results = []
    with human_output(fmt == "json"):
        for name in names or tuple(policy.channels):
            channel = policy.channels[name]
            contact = next((c for c in sorted(policy.contacts) if policy.address(c, name)), None)
            note = _test_note(name, contact or "logwarden-test", policy.address(contact, name) if contact else None, now)
            try:
                channel.send(note)
                results.append({"channel": name, "kind": channel.kind, "target": note.target, "ok": True, "error": None})
            except ChannelError as exc:
                results.append({"channel": name, "kind": channel.kind, "target": note.target, "ok": False,
                                "error": str(exc), "retryable": exc.retryable})
    with Store(config.state) as store:
        trail = AuditTrail(store, default_audit_path(config.state))
        with store.transaction():
            trail.append(at=now, actor=by or getpass.getuser(), action="note", incident_id=None,
                         details={"text": "channel test", "results": results, "policy": policy.source})
        trail.sync_mirror()
    failed = [r for r in results if not r["ok"]]
    if fmt == "json":
        emit_json({"channels": results, "ok": not failed})
    else:
        for r in results:
            state = "ok" if r["ok"] else f"FAILED: {r['error']}"
            say(_safe(f"{r['channel']} ({r['kind']}) -> {r['target']}: {state}", 1000))
    if failed:
        _exit(1)


def _test_note(channel: str, target: str, address: str | None, now: datetime) -> Notification:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    return Notification(
        id=f"ntf-test-{stamp}-{channel}",
        dedup_key=f"lw-test-{channel}",
        incident_id=f"TEST-{stamp}",
        event="test",
        created_at=now,
        level=0,
        target=target,
        address=address,
        severity="informational",
        confidence=1.0,
        confidence_reasons=(),
        title="logwarden channel test",
        scenario_id="test",
        entity={},
        first_seen=None,
        last_seen=None,
        finding_count=0,
        attack=(),
        evidence=(),
        ack_command="",
        summary=f"Test message on channel {channel}: if you read this, the channel works. No action needed.",
    )
