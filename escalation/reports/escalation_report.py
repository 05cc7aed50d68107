"""`logwarden report escalation`: for a security lead reviewing a period — per incident the
story from first evidence to resolution, and across incidents how fast detection, notification,
acknowledgement and resolution were (business hours vs after hours vs holidays), which deadlines
were missed and whether each miss escalated, how the channels delivered, the policy in force
and whether the audit trail is intact.

Definitions (docs/reports.md):
- time to detect = detection (`opened_at`) - first evidence (`first_evidence_at`);
- time to notify / acknowledge / resolve = first notification / acknowledgement / resolution
  - detection (the clock starts when logwarden knew, so a held incident's wait counts);
- a level's deadline = when it fired + its `wait`; responding (acknowledge, snooze, resolve)
  after it, or never, is a breach; a breach "escalated" when the path went on (next level,
  repeat, or exhausted) before anyone responded AND that step told someone: running out of a
  path whose policy has no `on_exhausted` (or a level that reached nobody) tells no one more,
  so it is not an escalation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from detector.model import SEVERITIES, iso, parse_iso
from detector.state.store import Store
from escalation.audit import AuditVerification
from escalation.engine.policy import PolicySet
from escalation.reports.coverage import describe_policy_set
from escalation.reports.periods import Period
from escalation.reports.records import Incident, Message, Step, load_incidents
from escalation.reports.stats import DAY_CLASSES, share, split_summaries, summarize

REPORT_SCHEMA = 1
FIRING_ACTIONS = ("fire_level", "repeat", "digest")  # a level fired (a digest fires a held incident's level)
PATH_GOES_ON = ("fire_level", "repeat", "exhausted")
RESPONSE_ACTIONS = ("acknowledged", "snoozed", "resolved")
HUMAN_ACTIONS = ("acknowledged", "snoozed", "note", "resolved", "reopened")
DELIVERED = "sent"


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds(), 3)


@dataclass(frozen=True)
class Firing:
    """One level of the path fired (the first time for its cycle and level)."""

    step: Step
    wait: timedelta | None

    @property
    def deadline(self) -> datetime | None:
        return self.step.ran_at + self.wait if self.wait is not None else None


def firings(incident: Incident) -> list[Firing]:
    seen: set[tuple[int, int]] = set()
    out = []
    levels = incident.policy.policy.levels if incident.policy else ()
    for step in incident.steps:
        if step.action not in FIRING_ACTIONS or step.level < 1 or (step.cycle, step.level) in seen:
            continue
        seen.add((step.cycle, step.level))
        wait = levels[step.level - 1].wait if step.level <= len(levels) else None
        out.append(Firing(step, wait))
    return out


def first_response(incident: Incident, after: datetime) -> datetime | None:
    """The first acknowledgement, snooze or resolution at or after `after`."""
    times = [a.at for a in incident.actions if a.action in RESPONSE_ACTIONS and a.at >= after]
    for column in (incident.acknowledged_at, incident.resolved_at):
        if column is not None and column >= after:
            times.append(column)
    return min(times, default=None)


def told_someone(incident: Incident, step: Step) -> bool:
    """Whether the step notified anyone: the recipients the engine recorded in the step, or (for a
    step without that record) the `on_exhausted` targets of the frozen policy for an exhaustion."""
    recipients = step.detail.get("recipients")
    if isinstance(recipients, list):
        return bool(recipients)
    if step.action == "exhausted":
        return incident.policy is not None and bool(incident.policy.policy.on_exhausted)
    return True  # a level always names targets (the policy loader requires them)


def deadline_outcomes(incident: Incident, now: datetime) -> list[dict[str, Any]]:
    """Per firing: its deadline, whether it was met, breached (and then escalated) or is pending."""
    out = []
    for firing in firings(incident):
        deadline = firing.deadline
        if deadline is None:
            continue
        responded = first_response(incident, firing.step.ran_at)
        if responded is not None and responded <= deadline:
            outcome = "met"
        elif deadline > now:
            outcome = "pending"
        else:
            outcome = "breached"
        follow = next(
            (
                s
                for s in incident.steps
                if s.id > firing.step.id
                and s.action in PATH_GOES_ON
                and not (s.action in FIRING_ACTIONS and (s.cycle, s.level) == (firing.step.cycle, firing.step.level))
            ),
            None,
        )
        escalated = (
            outcome == "breached"
            and follow is not None
            and (responded is None or follow.ran_at <= responded)
            and told_someone(incident, follow)
        )
        out.append(
            {
                "level": firing.step.level,
                "cycle": firing.step.cycle,
                "fired_at": iso(firing.step.ran_at),
                "deadline": iso(deadline),
                "responded_at": iso(responded),
                "outcome": outcome,
                "escalated": escalated if outcome == "breached" else None,
                "next_step": (
                    {"action": follow.action, "level": follow.level, "ran_at": iso(follow.ran_at),
                     "told_someone": told_someone(incident, follow)}
                    if follow is not None and outcome == "breached"
                    else None
                ),
            }
        )
    return out


def first_notified(incident: Incident) -> datetime | None:
    sent = [m.sent_at for m in incident.messages if m.status == DELIVERED and m.sent_at is not None]
    return incident.first_notified_at or min(sent, default=None)


def durations(incident: Incident) -> dict[str, float | None]:
    return {
        "detect": _seconds(incident.opened_at, incident.first_evidence_at),
        "notify": _seconds(first_notified(incident), incident.opened_at),
        "acknowledge": _seconds(incident.acknowledged_at, incident.opened_at),
        "resolve": _seconds(incident.resolved_at, incident.opened_at),
    }


# --- timeline ---------------------------------------------------------------------------------


def message_at(message: Message) -> datetime:
    """When a message happened as far as the timeline is concerned: delivered, else its last
    attempt, else queued."""
    last_attempt = message.attempts[-1].at if message.attempts else None
    return message.sent_at or last_attempt or message.created_at


def _message_event(message: Message) -> dict[str, Any]:
    event = {
        "sent": "notified",
        "failed": "notify_failed",
        "fallen_back": "fell_back",
        "suppressed": "suppressed",
    }.get(message.status, "notification_pending")
    return {
        "at": iso(message_at(message)),
        "event": event,
        "actor": "outbox",
        "level": message.level,
        "detail": {
            "to": message.target,
            "via": message.via,
            "channel": message.channel,
            "message": message.event,
            "status": message.status,
            "attempts": len(message.attempts),
            "error": message.last_error,
        },
    }


def _step_event(step: Step) -> dict[str, Any]:
    names = {"fire_level": "level_fired"}
    return {
        "at": iso(step.ran_at),
        "event": names.get(step.action, step.action),
        "actor": "logwarden",
        "level": step.level,
        "detail": {"cycle": step.cycle, "due_at": iso(step.due_at), "late_seconds": step.late_seconds,
                   "day_class": step.day_class, **{k: v for k, v in step.detail.items() if k not in ("cycle", "recipients")}},
    }


# Order of events at one instant: cause before effect. The evidence, then the detection, then
# timer steps each followed by the messages they sent, then people's actions followed by the
# notices about them (acknowledged, resolved), which belong to no step.
_EVIDENCE, _DETECTED, _TIMERS, _PEOPLE = 0, 1, 2, 3
_AFTER_ALL = float("inf")
_Key = tuple[datetime, int, float, int, str]


def _human_events(incident: Incident) -> list[tuple[_Key, dict[str, Any]]]:
    events: list[tuple[_Key, dict[str, Any]]] = []
    audited = set()
    for action in incident.actions:
        if action.action not in HUMAN_ACTIONS:
            continue
        audited.add(action.action)
        events.append(((action.at, _PEOPLE, action.seq, 0, ""),
                       {"at": iso(action.at), "event": action.action, "actor": action.actor,
                        "level": None, "detail": dict(action.details)}))
    if incident.acknowledged_at and "acknowledged" not in audited:
        events.append(((incident.acknowledged_at, _PEOPLE, _AFTER_ALL - 1, 0, ""),
                       {"at": iso(incident.acknowledged_at), "event": "acknowledged",
                        "actor": incident.acknowledged_by, "level": None, "detail": {}}))
    if incident.resolved_at and "resolved" not in audited:
        events.append(((incident.resolved_at, _PEOPLE, _AFTER_ALL - 1, 0, ""),
                       {"at": iso(incident.resolved_at), "event": "resolved", "actor": incident.resolved_by,
                        "level": None, "detail": {"note": incident.resolution_note,
                                                  "root_cause": incident.root_cause}}))
    return events


def timeline(incident: Incident) -> list[dict[str, Any]]:
    """Everything that happened to the incident, in time order (each event sorted by the time it
    shows), cause before effect at one instant."""
    events: list[tuple[_Key, dict[str, Any]]] = [
        ((incident.first_evidence_at, _EVIDENCE, 0, 0, ""),
         {"at": iso(incident.first_evidence_at), "event": "first_evidence", "actor": None, "level": None, "detail": {}}),
        ((incident.opened_at, _DETECTED, 0, 0, ""),
         {"at": iso(incident.opened_at), "event": "detected", "actor": "logwarden", "level": None,
          "detail": {"policy": incident.policy_name, "day_class": incident.day_class}}),
    ]
    for step in incident.steps:
        events.append(((step.ran_at, _TIMERS, step.id, 0, ""), _step_event(step)))
    for message in incident.messages:
        at, created = message_at(message), iso(message.created_at) or ""
        cause = (_TIMERS, message.step_id) if message.step_id is not None else (_PEOPLE, _AFTER_ALL)
        events.append(((at, *cause, 1, created + message.id), _message_event(message)))
    events.extend(_human_events(incident))
    events.sort(key=lambda item: item[0])
    return [event for _, event in events]


# --- the report -------------------------------------------------------------------------------


def incident_entry(incident: Incident, now: datetime) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "kind": incident.kind,
        "scenario_id": incident.scenario_id,
        "severity": incident.severity,
        "confidence": round(incident.confidence, 4),
        "status": incident.status,
        "day_class": incident.day_class,
        "policy": incident.policy_name,
        "entity": dict(incident.entity),
        "applications": list(incident.applications),
        "attack": list(incident.attack),
        "level": incident.level,
        "cycle": incident.cycle,
        "held": incident.held,
        "exhausted": incident.exhausted_at is not None,
        "first_evidence_at": iso(incident.first_evidence_at),
        "detected_at": iso(incident.opened_at),
        "first_notified_at": iso(first_notified(incident)),
        "acknowledged_at": iso(incident.acknowledged_at),
        "acknowledged_by": incident.acknowledged_by,
        "resolved_at": iso(incident.resolved_at),
        "resolved_by": incident.resolved_by,
        "resolution_note": incident.resolution_note,
        "root_cause": incident.root_cause,
        "durations": durations(incident),
        "deadlines": deadline_outcomes(incident, now),
        "timeline": timeline(incident),
        "evidence": [
            {"timestamp": iso(e.timestamp), "path": e.path, "offset": e.offset, "line": e.line}
            for e in incident.evidence
        ],
        "evidence_total": incident.evidence_total,
        "defects": list(incident.defect_details),
    }


def _metrics(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        f"time_to_{name}": split_summaries((e["day_class"], e["durations"][name]) for e in entries)
        for name in ("detect", "notify", "acknowledge", "resolve")
    }


def _metrics_by_severity(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The same measures per severity (worst first), each split by class of day: a median of
    held low incidents must not hide that every high one paged at once, nor the reverse."""
    present = [s for s in reversed(SEVERITIES) if any(e["severity"] == s for e in entries)]
    return {
        f"time_to_{name}": {
            severity: split_summaries((e["day_class"], e["durations"][name]) for e in entries if e["severity"] == severity)
            for severity in present
        }
        for name in ("detect", "notify", "acknowledge", "resolve")
    }


def needs_attention(entries: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """What a lead must look at first: open critical and high incidents nobody is on, then
    every other incident never acknowledged and not resolved; worst and oldest first."""
    out = []
    for e in entries:
        if e["resolved_at"] is not None:
            continue
        severe_open = e["status"] == "open" and e["severity"] in ("critical", "high")
        if not severe_open and e["acknowledged_at"] is not None:
            continue
        detected = parse_iso(e["detected_at"])
        out.append({
            "id": e["id"], "severity": e["severity"], "status": e["status"], "title": e["title"],
            "entity": e["entity"], "detected_at": e["detected_at"],
            "reason": "open critical/high" if severe_open else "never acknowledged",
            "waiting_seconds": _seconds(now, detected),
        })
    return sorted(out, key=lambda a: (a["reason"] != "open critical/high", -SEVERITIES.index(a["severity"]),
                                      a["detected_at"], a["id"]))


def trend(entries: list[dict[str, Any]], period: Period) -> dict[str, Any]:
    """Incidents per day of detection (UTC) and severity, every day of the period."""
    first = period.since.astimezone(timezone.utc).date()
    last = (period.until.astimezone(timezone.utc) - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)] if last >= first else []
    counts: dict[str, Counter[str]] = {d.isoformat(): Counter() for d in days}
    for e in entries:
        day = e["detected_at"][:10]
        if day in counts:
            counts[day][e["severity"]] += 1
    severities = [s for s in reversed(SEVERITIES) if any(c[s] for c in counts.values())]
    return {
        "severities": severities,
        "days": [{"day": day, "total": sum(c.values()), **{s: c[s] for s in severities}} for day, c in counts.items()],
    }


def _deadlines(entries: list[dict[str, Any]]) -> dict[str, Any]:
    decided: Counter[str] = Counter()
    within: Counter[str] = Counter()
    for entry in entries:
        if not entry["deadlines"] or entry["deadlines"][0]["outcome"] == "pending":
            continue  # never notified, or its first deadline has not come yet
        first = entry["deadlines"][0]
        for key in ("all", entry["day_class"]):
            decided[key] += 1
            within[key] += first["outcome"] == "met"
    breaches = [
        {"incident_id": e["id"], "day_class": e["day_class"], **d}
        for e in entries
        for d in e["deadlines"]
        if d["outcome"] == "breached"
    ]
    escalated = sum(1 for b in breaches if b["escalated"])
    return {
        "first_deadline": {
            key: {
                "decided": decided[key],
                "acknowledged_within": within[key],
                "share": share(within[key], decided[key]),
            }
            for key in ("all", *DAY_CLASSES)
        },
        "breaches": breaches,
        "breach_count": len(breaches),
        "breaches_escalated": escalated,
        "share_breaches_escalated": share(escalated, len(breaches)),
    }


def _depth(incidents: list[Incident]) -> dict[str, Any]:
    reached = Counter(str(i.level) for i in incidents)
    return {
        "max_level": max((i.level for i in incidents), default=0),
        "max_cycle": max((i.cycle for i in incidents), default=0),
        "by_level": dict(sorted(reached.items(), key=lambda kv: int(kv[0]))),
    }


def channel_health(incidents: list[Incident], policy_set: PolicySet | None) -> list[dict[str, Any]]:
    by_channel: dict[str, list[Message]] = {}
    for incident in incidents:
        for message in incident.messages:
            by_channel.setdefault(message.channel, []).append(message)
    out = []
    for channel, messages in sorted(by_channel.items()):
        statuses = Counter(m.status for m in messages)
        attempts = [a for m in messages for a in m.attempts]
        finished = statuses["sent"] + statuses["failed"] + statuses["fallen_back"]
        latencies = [
            (m.sent_at - m.created_at).total_seconds() for m in messages if m.status == DELIVERED and m.sent_at
        ]
        errors = [(a.at, a.error) for a in attempts if not a.ok and a.error]
        kind = None
        if policy_set is not None and channel in policy_set.channels:
            kind = policy_set.channels[channel].kind
        out.append(
            {
                "channel": channel,
                "kind": kind,
                "messages": len(messages),
                "sent": statuses["sent"],
                "failed": statuses["failed"],
                "fallen_back": statuses["fallen_back"],
                "suppressed": statuses["suppressed"],
                "pending": statuses["pending"],
                "attempts": len(attempts),
                "failed_attempts": sum(1 for a in attempts if not a.ok),
                "delivery_rate": share(statuses["sent"], finished),
                "delivery_seconds": summarize(latencies).to_dict(),
                "last_error": max(errors)[1] if errors else None,
            }
        )
    return out


def build_escalation_report(
    store: Store,
    period: Period,
    now: datetime,
    policy_set: PolicySet | None = None,
    audit: AuditVerification | None = None,
    evidence_cap: int = 20,
    policy_error: str | None = None,
) -> dict[str, Any]:
    """The report as one JSON-able document (`--format json` prints exactly this)."""
    incidents = load_incidents(store, period, evidence_cap=evidence_cap)
    exercises = len(load_incidents(store, period, evidence_cap=0, exercise=True))
    entries = [incident_entry(i, now) for i in incidents]
    by_severity = Counter(i.severity for i in incidents)
    return {
        "report": "escalation",
        "schema": REPORT_SCHEMA,
        "generated_at": iso(now),
        "period": period.to_dict(),
        "summary": {
            "incidents": len(incidents),
            "exercise_incidents_excluded": exercises,
            "by_status": dict(sorted(Counter(i.status for i in incidents).items())),
            "by_severity": {s: by_severity[s] for s in reversed(SEVERITIES) if by_severity[s]},
            "by_day_class": {d: sum(1 for i in incidents if i.day_class == d) for d in DAY_CLASSES},
            "by_kind": dict(sorted(Counter(i.kind for i in incidents).items())),
            "unacknowledged": sum(1 for i in incidents if i.acknowledged_at is None and i.resolved_at is None),
        },
        "metrics": _metrics(entries),
        "metrics_by_severity": _metrics_by_severity(entries),
        "attention": needs_attention(entries, now),
        "trend": trend(entries, period),
        "deadlines": _deadlines(entries),
        "escalation_depth": _depth(incidents),
        "exhausted": [i.id for i in incidents if i.exhausted_at is not None],
        "held": [i.id for i in incidents if i.held],
        "channels": channel_health(incidents, policy_set),
        "policy": describe_policy_set(policy_set),
        "policy_error": policy_error,
        "audit": (
            {"ok": audit.ok, "entries": audit.entries, "problems": list(audit.problems), "unmirrored": audit.unmirrored,
             "head": audit.head.to_dict() if audit.head else None}
            if audit is not None
            else None
        ),
        "incidents": entries,
    }
