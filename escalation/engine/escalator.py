"""The escalation engine: findings and defects in, timed notifications and an audit trail out.

Why timers live in the incidents table (`next_due_at`, `next_action`): a cron tick, a daemon
restart or a crash resumes exactly where the last committed step left off. Every step is one
transaction holding the incident change, its `escalation_steps` row, the messages it causes
(`Outbox.enqueue`) and its audit entries; delivery happens after commit, so a channel that
hangs never holds the database, and a crash before delivery loses nothing (the outbox resends).

Semantics (docs/escalation.md, "The engine"): a level fires, then waits for an
acknowledgement; no ack within `wait` fires the next level; after the last level `repeat`
restarts the path, then `on_exhausted` is told once. After hours (calendar of the frozen
policy, at the moment a level fires) a `notify` policy pages the level's after-hours targets at
once and a `hold` policy sends nothing until the next business start, then ONE digest message
per recipient. Waits count from when a level really fired, so a late tick never bursts through
several levels at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from detector.errors import NotFoundError, UsageError
from detector.model import iso, parse_iso
from detector.state.store import Store
from detector.textsafe import terminal_safe
from escalation.audit import AuditTrail
from escalation.engine.calendar import BUSINESS
from escalation.engine.compose import compose, notification_id
from escalation.engine.incidents import (
    ACKNOWLEDGED,
    ENGINE,
    OPEN,
    RESOLVED,
    SNOOZED,
    Incident,
    Incidents,
    Summary,
    get_defect,
    is_severe,
)
from escalation.engine.outbox import DeliveryStats, Outbox
from escalation.engine.policy import FrozenPolicy, Level, PolicySet, Recipient, Target
from escalation.schema import migrate_escalation

FINDING_CURSOR = "escalation.finding_seq"
DEFECT_CURSOR = "escalation.defect_seq"
FEED_BATCH = 2000
MAX_PASSES_PER_TICK = 10
MAX_SNOOZE = timedelta(days=30)
# events of messages that asked someone to act: they get the acknowledge/resolve follow-ups
_CALLING_EVENTS = ("trigger", "escalate", "repeat", "digest", "reminder")


@dataclass(frozen=True)
class StepResult:
    """One timer step the engine ran (also a row of `escalation_steps`)."""

    step_id: int
    incident_id: str
    action: str
    level: int
    cycle: int
    due_at: datetime
    ran_at: datetime
    late_seconds: float
    day_class: str
    recipients: tuple[Recipient, ...]
    held_until: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step_id": self.step_id,
            "incident_id": self.incident_id,
            "action": self.action,
            "level": self.level,
            "cycle": self.cycle,
            "due_at": iso(self.due_at),
            "ran_at": iso(self.ran_at),
            "late_seconds": self.late_seconds,
            "day_class": self.day_class,
            "recipients": [_recipient_dict(r) for r in self.recipients],
            "held_until": iso(self.held_until),
        }


@dataclass(frozen=True)
class _Move:
    """What firing the incident's timer does next: a level, a restart of the path, or exhaustion."""

    kind: str  # level | repeat | exhausted
    level: int
    cycle: int


class EscalationEngine:
    def __init__(self, store: Store, policy: PolicySet, audit: AuditTrail, outbox: Outbox) -> None:
        migrate_escalation(store)
        self.store = store
        self.policy = policy
        self.audit = audit
        self.outbox = outbox
        self.incidents = Incidents(store, policy, audit)

    # -- feeds ----------------------------------------------------------------------------------

    def ingest(self, now: datetime) -> int:
        """Consume new finding and defect changes into incidents; returns how many were read.

        The feed cursor is read and advanced inside the transaction that applies the changes,
        so a crash or a concurrent run never skips or double-applies a change.
        """
        total = 0
        while (count := self._ingest_batch("finding_log", "finding_id", FINDING_CURSOR, self._apply_finding)) > 0:
            total += count
        while (count := self._ingest_batch("defect_log", "defect_id", DEFECT_CURSOR, self._apply_defect)) > 0:
            total += count
        self.audit.sync_mirror()
        return total

    def _ingest_batch(self, table: str, id_column: str, cursor_key: str, apply: Any) -> int:
        with self.store.transaction():
            cursor = int(self.store.get_meta(cursor_key, "0") or 0)
            rows = self.store.execute(
                f"SELECT seq, {id_column}, change, at FROM {table} WHERE seq > ? ORDER BY seq LIMIT ?",
                (cursor, FEED_BATCH),
            ).fetchall()
            for seq, member_id, change, at in rows:
                apply(member_id, change, parse_iso(at))
            if rows:
                self.store.set_meta(cursor_key, str(rows[-1][0]))
        return len(rows)

    def _apply_finding(self, finding_id: str, change: str, at: datetime) -> None:
        finding = self.store.get_finding(finding_id)
        if finding is not None:
            self.incidents.add_finding(finding, change, at)

    def _apply_defect(self, defect_id: str, change: str, at: datetime) -> None:
        defect = get_defect(self.store, defect_id)
        if defect is None:
            return
        if change == "resolved":
            incident = self.incidents.containing("defect", defect_id)
            if incident is not None:
                self.audit.append(
                    at=at, actor=ENGINE, action="note", incident_id=incident.id,
                    details={"text": f"the detector no longer sees defect {defect.kind} on {defect.subject}",
                             "defect_id": defect_id},
                )
            return
        self.incidents.add_defect(defect, at)

    # -- timers ---------------------------------------------------------------------------------

    def tick(self, now: datetime, deliver: bool = True) -> list[StepResult]:
        """Run every timer that is due at `now`, earliest first, each in its own transaction;
        then deliver what is due in the outbox (unless `deliver` is False)."""
        results: list[StepResult] = []
        # every step moves its timer past `now` (or clears it), so this ends after a pass or two
        for _ in range(MAX_PASSES_PER_TICK):
            due = [incident.id for incident in self.incidents.due(now)]
            if not due:
                break
            for incident_id in due:
                with self.store.transaction():
                    incident = self.incidents.get(incident_id)  # re-read: another runner may have moved it
                    if incident is not None and incident.next_due_at is not None and incident.next_due_at <= now:
                        results.extend(self._run_timer(incident, now))
        self.audit.sync_mirror()
        if deliver:
            self.deliver(now)
        return results

    def deliver(self, now: datetime) -> DeliveryStats:
        """Send what the outbox holds that is due (outside any transaction), then mirror the audit."""
        stats = self.outbox.deliver_due(now)
        self.audit.sync_mirror()
        return stats

    def _run_timer(self, incident: Incident, now: datetime) -> list[StepResult]:
        due_at = incident.next_due_at or now
        action = incident.next_action
        frozen = incident.policy
        if action == "unsnooze" and incident.status == SNOOZED and frozen is None:
            step = self._timer_step(incident, "unsnooze", "unsnoozed", due_at, now, {"snoozed_until": iso(incident.snoozed_until)})
            self.incidents.save(replace(incident, status=OPEN, snoozed_until=None, next_action=None, next_due_at=None, updated_at=now))
            return [step]
        if frozen is None or action is None:
            self.incidents.save(replace(incident, next_action=None, next_due_at=None, updated_at=now))
            return []
        if action == "fire_level" and incident.status == OPEN:
            return [self._fire(incident, frozen, self._next_move(incident, frozen), now, due_at)]
        if action == "digest" and incident.status == OPEN:
            return [self._fire(incident, frozen, self._next_move(incident, frozen), now, due_at, digest=True)]
        if action == "ack_timeout" and incident.status == ACKNOWLEDGED:
            step = self._timer_step(incident, "ack_timeout", "ack_timeout", due_at, now, {
                "acknowledged_by": incident.acknowledged_by, "acknowledged_at": iso(incident.acknowledged_at)})
            restarted = replace(incident, status=OPEN, level=0, cycle=0, exhausted_at=None)
            return [step, self._fire(restarted, frozen, self._next_move(restarted, frozen), now, due_at, event="reminder")]
        if action == "unsnooze" and incident.status == SNOOZED:
            step = self._timer_step(incident, "unsnooze", "unsnoozed", due_at, now, {"snoozed_until": iso(incident.snoozed_until)})
            resumed = replace(incident, status=OPEN, snoozed_until=None, level=max(incident.level, 1) - 1)
            return [step, self._fire(resumed, frozen, self._next_move(resumed, frozen), now, due_at, event="reminder")]
        # a timer that no longer applies (e.g. the status changed under it): drop it
        self.incidents.save(replace(incident, next_action=None, next_due_at=None, updated_at=now))
        return []

    @staticmethod
    def _next_move(incident: Incident, frozen: FrozenPolicy) -> _Move:
        policy = frozen.policy
        if incident.level < len(policy.levels):
            return _Move("level", incident.level + 1, incident.cycle)
        if incident.cycle < policy.repeat:
            return _Move("repeat", 1, incident.cycle + 1)
        return _Move("exhausted", incident.level, incident.cycle)

    def _fire(
        self,
        incident: Incident,
        frozen: FrozenPolicy,
        move: _Move,
        now: datetime,
        due_at: datetime,
        digest: bool = False,
        event: str | None = None,
    ) -> StepResult:
        policy = frozen.policy
        calendar = policy.calendar
        day_class = calendar.classify(now)
        summary = self.incidents.members(incident.id).summary()
        if not digest and day_class != BUSINESS and policy.after_hours == "hold":
            held_until = calendar.next_business_start(now)
            if held_until is not None:
                return self._hold(incident, frozen, move, now, due_at, day_class, held_until, summary)
        targets = self._targets(frozen, move, BUSINESS if digest else day_class)
        recipients = frozen.recipients(targets, now)
        event = "digest" if digest else event or _event_of(move)
        action = "digest" if digest else {"level": "fire_level", "repeat": "repeat", "exhausted": "exhausted"}[move.kind]
        level = _level_of(move, policy.levels)
        wait = None if move.kind == "exhausted" else policy.levels[move.level - 1].wait
        detail = {
            "event": event,
            "move": move.kind,
            "recipients": [_recipient_dict(r) for r in recipients],
            "wait_seconds": int(wait.total_seconds()) if wait else None,
        }
        step_id = self._insert_step(incident.id, action, level, move.cycle, due_at, now, day_class, detail)
        text = _summary_text(incident, move, policy.levels, event, digest)
        head = self.audit.head() if digest else None
        if head is not None:  # its reader can later prove the trail was not cut (verify-audit --since-head)
            text += f" {head.line()[0].upper()}{head.line()[1:]}."
        for recipient in recipients:
            note = compose(
                incident, summary, recipient,
                note_id=notification_id(incident.id, f"s{step_id}", recipient),
                event=event, level=level, now=now, text=text,
                extra={"cycle": move.cycle, "exhausted": move.kind == "exhausted"},
            )
            self.outbox.enqueue(note, recipient.channel, recipient.via, now, step_id)
        updated = replace(
            incident,
            level=move.level,
            cycle=move.cycle,
            first_notified_at=incident.first_notified_at or (now if recipients else None),
            ack_deadline=now + wait if wait else incident.ack_deadline,
            next_action="fire_level" if wait else None,
            next_due_at=now + wait if wait else None,
            exhausted_at=now if move.kind == "exhausted" else incident.exhausted_at,
            updated_at=now,
        )
        self.incidents.save(updated)
        audit_action = "digest" if digest else {"level": "escalated", "repeat": "repeated", "exhausted": "exhausted"}[move.kind]
        self.audit.append(
            at=now, actor=ENGINE, action=audit_action, incident_id=incident.id,
            details={
                "step_id": step_id, "level": level, "cycle": move.cycle, "event": event, "day_class": day_class,
                "due_at": iso(due_at), "late_seconds": _late(now, due_at), "ack_deadline": iso(updated.ack_deadline),
                "recipients": detail["recipients"],
            },
        )
        return StepResult(step_id, incident.id, action, level, move.cycle, due_at, now, _late(now, due_at), day_class, recipients)

    def _hold(
        self, incident: Incident, frozen: FrozenPolicy, move: _Move, now: datetime, due_at: datetime,
        day_class: str, held_until: datetime, summary: Summary,
    ) -> StepResult:
        """After hours under a `hold` policy: record who would have been told, send nothing,
        and come back at the next business start with one digest."""
        recipients = frozen.recipients(self._targets(frozen, move, BUSINESS), now)
        level = _level_of(move, frozen.policy.levels)
        detail = {"move": move.kind, "digest_at": iso(held_until), "recipients": [_recipient_dict(r) for r in recipients]}
        step_id = self._insert_step(incident.id, "hold", level, move.cycle, due_at, now, day_class, detail)
        reason = f"{day_class.replace('_', ' ')}: held for a digest at {iso(held_until)}"
        for recipient in recipients:
            note = compose(
                incident, summary, recipient,
                note_id=notification_id(incident.id, f"s{step_id}", recipient),
                event=_event_of(move), level=level, now=now, text=reason,
            )
            self.outbox.suppress(note, recipient.channel, recipient.via, now, reason)
        self.incidents.save(replace(incident, held=True, next_action="digest", next_due_at=held_until, updated_at=now))
        self.audit.append(
            at=now, actor=ENGINE, action="held", incident_id=incident.id,
            details={"step_id": step_id, "level": level, "cycle": move.cycle, "day_class": day_class,
                     "digest_at": iso(held_until), "due_at": iso(due_at), "late_seconds": _late(now, due_at),
                     "recipients": detail["recipients"]},
        )
        return StepResult(step_id, incident.id, "hold", level, move.cycle, due_at, now, _late(now, due_at), day_class,
                          recipients, held_until)

    @staticmethod
    def _targets(frozen: FrozenPolicy, move: _Move, day_class: str) -> tuple[Target, ...]:
        if move.kind == "exhausted":
            return frozen.policy.on_exhausted
        return frozen.policy.levels[move.level - 1].targets(day_class)

    def _timer_step(self, incident: Incident, action: str, audit_action: str, due_at: datetime, now: datetime,
                    detail: dict[str, Any]) -> StepResult:
        day_class = (incident.policy.calendar if incident.policy else self.policy.default_calendar).classify(now)
        step_id = self._insert_step(incident.id, action, incident.level, incident.cycle, due_at, now, day_class, detail)
        self.audit.append(
            at=now, actor=ENGINE, action=audit_action, incident_id=incident.id,
            details={"step_id": step_id, "due_at": iso(due_at), "late_seconds": _late(now, due_at), **detail},
        )
        return StepResult(step_id, incident.id, action, incident.level, incident.cycle, due_at, now,
                          _late(now, due_at), day_class, ())

    def _insert_step(self, incident_id: str, action: str, level: int, cycle: int, due_at: datetime, ran_at: datetime,
                     day_class: str, detail: dict[str, Any]) -> int:
        cursor = self.store.execute(
            "INSERT INTO escalation_steps(incident_id, action, level, cycle, due_at, ran_at, late_seconds,"
            " day_class, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (incident_id, action, level, cycle, iso(due_at), iso(ran_at), _late(ran_at, due_at), day_class,
             json.dumps(detail, sort_keys=True)),
        )
        return int(cursor.lastrowid or 0)

    # -- people's actions -----------------------------------------------------------------------

    def resolve_id(self, wanted: str) -> Incident:
        """The incident named by an id or a unique id prefix, else NotFoundError (exit 2)."""
        found = self.incidents.find(wanted.strip())
        if len(found) == 1:
            return found[0]
        if not found:
            raise NotFoundError(f"no incident {wanted!r}; `logwarden incidents list` shows their ids")
        raise UsageError(f"{wanted!r} matches {len(found)} incidents ({', '.join(i.id for i in found[:5])}, ...); give more of the id")

    def acknowledge(self, incident_id: str, by: str, now: datetime, deliver: bool = True) -> Incident:
        """Stop the escalation: someone is on it. With `ack_timeout`, it re-escalates if the
        incident is still only acknowledged (not resolved) when the timeout passes."""
        by = _person(by)
        with self.store.transaction():
            incident = self.resolve_id(incident_id)
            if incident.status == RESOLVED:
                raise UsageError(f"{incident.id} is already resolved (by {incident.resolved_by}); nothing to acknowledge")
            if incident.status == ACKNOWLEDGED:
                raise UsageError(
                    f"{incident.id} is already acknowledged by {incident.acknowledged_by} at {iso(incident.acknowledged_at)}"
                )
            timeout = incident.policy.policy.ack_timeout if incident.policy else None
            updated = replace(
                incident, status=ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=by, snoozed_until=None,
                next_action="ack_timeout" if timeout else None, next_due_at=now + timeout if timeout else None,
                updated_at=now,
            )
            self.incidents.save(updated)
            self.incidents.set_defect_triage(updated, "acknowledged")
            self.audit.append(
                at=now, actor=by, action="acknowledged", incident_id=incident.id,
                details={
                    "previous_status": incident.status, "level": incident.level, "cycle": incident.cycle,
                    "ack_deadline": iso(incident.ack_deadline),
                    "within_deadline": incident.ack_deadline is None or now <= incident.ack_deadline,
                    "seconds_since_first_notified": _late(now, incident.first_notified_at) if incident.first_notified_at else None,
                    "ack_timeout_at": iso(updated.next_due_at),
                },
            )
            self._follow_up(updated, "acknowledge", "ack", now, f"acknowledged by {by}")
        if deliver:
            self.deliver(now)
        return updated

    def resolve(self, incident_id: str, by: str, note: str, root_cause: str | None, now: datetime,
                deliver: bool = True) -> Incident:
        """Close the incident with a note; high and critical ones need the root cause too."""
        by = _person(by)
        if not note or not note.strip():
            raise UsageError("resolving needs --note TEXT: what was found and done")
        root_cause = root_cause.strip() if root_cause and root_cause.strip() else None
        with self.store.transaction():
            incident = self.resolve_id(incident_id)
            if incident.status == RESOLVED:
                raise UsageError(f"{incident.id} is already resolved by {incident.resolved_by} at {iso(incident.resolved_at)}")
            if is_severe(incident.severity) and root_cause is None:
                raise UsageError(
                    f"{incident.id} is a {incident.severity} incident: resolving it needs --root-cause TEXT "
                    "(what made it possible, so it does not happen again)"
                )
            updated = replace(
                incident, status=RESOLVED, resolved_at=now, resolved_by=by, resolution_note=note.strip(),
                root_cause=root_cause, snoozed_until=None, next_action=None, next_due_at=None, updated_at=now,
            )
            self.incidents.save(updated)
            self.incidents.set_defect_triage(updated, "resolved")
            self.audit.append(
                at=now, actor=by, action="resolved", incident_id=incident.id,
                details={"previous_status": incident.status, "note": note.strip(), "root_cause": root_cause,
                         "level": incident.level, "open_seconds": _late(now, incident.opened_at)},
            )
            self._follow_up(updated, "resolve", "res", now, f"resolved by {by}")
        if deliver:
            self.deliver(now)
        return updated

    def snooze(self, incident_id: str, duration: timedelta, by: str, now: datetime) -> Incident:
        """Suspend the escalation until now + duration; then the current level is sent again."""
        by = _person(by)
        if duration <= timedelta(0) or duration > MAX_SNOOZE:
            raise UsageError(f"snooze for more than 0 and at most {MAX_SNOOZE.days}d, e.g. --for 2h")
        with self.store.transaction():
            incident = self.resolve_id(incident_id)
            if incident.status == RESOLVED:
                raise UsageError(f"{incident.id} is resolved; there is nothing to snooze")
            until = now + duration
            updated = replace(
                incident, status=SNOOZED, snoozed_until=until, next_action="unsnooze", next_due_at=until, updated_at=now
            )
            self.incidents.save(updated)
            self.audit.append(
                at=now, actor=by, action="snoozed", incident_id=incident.id,
                details={"previous_status": incident.status, "until": iso(until),
                         "seconds": int(duration.total_seconds()), "level": incident.level},
            )
        self.audit.sync_mirror()
        return updated

    def note(self, incident_id: str, by: str, text: str, now: datetime) -> Incident:
        """A free-text note in the incident's audit trail."""
        by = _person(by)
        if not text or not text.strip():
            raise UsageError("a note needs some text")
        with self.store.transaction():
            incident = self.resolve_id(incident_id)
            updated = replace(incident, updated_at=now)
            self.incidents.save(updated)
            self.audit.append(at=now, actor=by, action="note", incident_id=incident.id, details={"text": text.strip()})
        self.audit.sync_mirror()
        return updated

    def _follow_up(self, incident: Incident, event: str, token: str, now: datetime, text: str) -> None:
        """Tell everyone who was asked to act that the incident was acknowledged or resolved
        (PagerDuty and Alertmanager receivers close their alert on it)."""
        frozen = incident.policy
        rows = self.store.execute(
            "SELECT DISTINCT target, via, channel FROM outbox WHERE incident_id = ? AND status != 'suppressed'"
            f" AND event IN ({','.join('?' for _ in _CALLING_EVENTS)}) ORDER BY target, channel",
            (incident.id, *_CALLING_EVENTS),
        ).fetchall()
        if not rows or frozen is None:
            return
        summary = self.incidents.members(incident.id).summary()
        stamp = f"{token}{int(now.astimezone(timezone.utc).timestamp())}"
        for target, via, channel in rows:
            recipient = Recipient(target, via, channel, frozen.address(target, channel))
            note = compose(
                incident, summary, recipient, note_id=notification_id(incident.id, stamp, recipient),
                event=event, level=0, now=now, text=text,
            )
            self.outbox.enqueue(note, channel, via, now, None)


# --- helpers ------------------------------------------------------------------------------------


def _event_of(move: _Move) -> str:
    if move.kind == "repeat":
        return "repeat"
    if move.kind == "level" and move.level == 1 and move.cycle == 0:
        return "trigger"
    return "escalate"


def _level_of(move: _Move, levels: tuple[Level, ...]) -> int:
    """The level number a step reports; exhaustion counts as the level after the last."""
    return len(levels) + 1 if move.kind == "exhausted" else move.level


def _summary_text(incident: Incident, move: _Move, levels: tuple[Level, ...], event: str, digest: bool) -> str:
    if move.kind == "exhausted":
        return (f"Nobody acknowledged {incident.id} through {len(levels)} level(s)"
                f"{f' and {move.cycle} repeat(s)' if move.cycle else ''}; escalation is exhausted.")
    if digest:
        return f"Held outside business hours; sent now that they have begun (level {move.level} of {len(levels)})."
    if event == "reminder":
        return f"Reminder: {incident.id} still needs someone; level {move.level} of {len(levels)}."
    if move.kind == "repeat":
        return f"Nobody acknowledged {incident.id}; the escalation path starts again (repeat {move.cycle})."
    if move.level > 1:
        return f"Nobody acknowledged {incident.id} in time; escalated to level {move.level} of {len(levels)}."
    return ""


def _recipient_dict(recipient: Recipient) -> dict[str, Any]:
    return {"target": recipient.target, "via": recipient.via, "channel": recipient.channel}


def _late(later: datetime, earlier: datetime) -> float:
    return round((later - earlier).total_seconds(), 3)


def _person(by: str) -> str:
    name = (by or "").strip()
    if not name or len(name) > 200 or terminal_safe(name, None) != name:
        raise UsageError("--by needs your name (printable, at most 200 characters), e.g. --by alice")
    return name
