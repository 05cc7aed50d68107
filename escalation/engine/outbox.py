"""The persisted outbox: every notification is a row first, and is sent from there.

Why: a page must survive a crash, a slow or dead receiver, and a restart. The engine enqueues
messages in the same transaction as the incident change that causes them; `deliver_due` sends
them OUTSIDE any transaction (a 10 s network timeout must not hold the database write lock),
then records the outcome in a short transaction of its own. A crash between send and record
means the message is sent again: delivery is at-least-once, and receivers deduplicate on the
notification id (stable per message) and dedup_key (stable per incident).

Per channel, `Delivery` says how long to back off after each failed attempt, when to give up,
and which channel to fall back to. A message is tried at most once per `deliver_due` call; once
a channel fails in a call, its other due messages are not tried again in that call (so a dead
receiver with a long timeout cannot hold up everything else) but recorded as failed attempts
with the same error.

Digests: the due `digest` messages of one recipient on one channel read by people are sent as
one message (`escalation/channels/digest.py`); each row records the shared outcome.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from detector.errors import StateError
from detector.model import iso, parse_iso, severity_rank
from detector.state.store import Store
from escalation.audit import AuditTrail
from escalation.channels.digest import DIGEST_KINDS, combine
from escalation.channels.notification import Channel, ChannelError, Notification
from escalation.engine.policy import Delivery
from escalation.schema import migrate_escalation

ACTOR = "outbox"
STATUSES = ("pending", "sent", "failed", "fallen_back", "suppressed")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryStats:
    sent: int = 0
    retried: int = 0  # failed attempts that will be tried again
    failed: int = 0  # gave up, no fallback
    fallen_back: int = 0  # gave up, fallback message enqueued

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    error: str | None = None
    retryable: bool = True


def fallback_id(original_id: str, channel: str) -> str:
    """Deterministic id of the fallback copy: a replayed give-up cannot enqueue it twice."""
    return f"{original_id}~fallback-{channel}"


class Outbox:
    """Messages waiting to be sent (and the record of those that were)."""

    def __init__(
        self,
        store: Store,
        audit: AuditTrail,
        channels: dict[str, Channel],
        delivery_for: Callable[[str], Delivery],
        address_for: Callable[[str, str], str | None] | None = None,
    ) -> None:
        """`address_for(contact, channel)` gives a fallback copy the contact's address on the
        fallback channel (e.g. `PolicySet.address`); without it the copy carries no address."""
        self.store = store
        self.audit = audit
        self.channels = channels
        self.delivery_for = delivery_for
        self.address_for = address_for
        migrate_escalation(store)

    # -- inside the caller's transaction ----------------------------------------------------------

    def enqueue(
        self, note: Notification, channel: str, via: str | None, now: datetime, step_id: int | None = None
    ) -> bool:
        """Queue `note` for `channel`, due at once. False if a message with this id exists already."""
        self._require_transaction("enqueue")
        return self._insert(note, channel, via, now, step_id, "pending", None, None)

    def suppress(self, note: Notification, channel: str, via: str | None, now: datetime, reason: str) -> None:
        """Record a message that policy says must not be sent (e.g. a muted channel), with why."""
        self._require_transaction("suppress")
        if self._insert(note, channel, via, now, None, "suppressed", reason, None):
            self._audit(now, "suppressed", note.incident_id, self._describe(note, channel, via), reason=reason)

    # -- on its own -----------------------------------------------------------------------------

    def deliver_due(self, now: datetime) -> DeliveryStats:
        """Send every message due at `now` (fallback copies made now included), record each outcome."""
        if self.store.conn.in_transaction:
            raise StateError("deliver_due sends over the network; call it outside any store transaction")
        counts = {"sent": 0, "retried": 0, "failed": 0, "fallen_back": 0}
        tried: set[str] = set()
        down: dict[str, str] = {}  # channel -> error of its failure in this call
        try:
            while rows := [row for row in self._due(now) if row["id"] not in tried]:
                for batch in self._batches(rows):
                    tried.update(row["id"] for row in batch)
                    outcome = self._send(batch[0], down) if len(batch) == 1 else self._send_digest(batch, down)
                    for row in batch:
                        result = self._record(row, outcome, now)
                        if result:
                            counts[result] += 1
        finally:
            self.audit.sync_mirror()
        return DeliveryStats(**counts)

    def pending(self) -> list[dict[str, Any]]:
        """Messages still to be sent, soonest first."""
        rows = self.store.execute("SELECT * FROM outbox WHERE status = 'pending' ORDER BY next_attempt_at, id")
        return [_row_dict(row) for row in rows]

    def message(self, outbox_id: str) -> dict[str, Any] | None:
        row = self.store.execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
        return _row_dict(row) if row else None

    def attempts(self, outbox_id: str) -> list[dict[str, Any]]:
        rows = self.store.execute(
            "SELECT * FROM delivery_attempts WHERE outbox_id = ? ORDER BY attempt", (outbox_id,)
        )
        return [{**dict(row), "ok": bool(row["ok"])} for row in rows]

    # -- steps ----------------------------------------------------------------------------------

    def _insert(
        self,
        note: Notification,
        channel: str,
        via: str | None,
        now: datetime,
        step_id: int | None,
        status: str,
        error: str | None,
        fallback_of: str | None,
    ) -> bool:
        give_up_at = now + self.delivery_for(channel).give_up_after
        cursor = self.store.execute(
            "INSERT INTO outbox(id, incident_id, step_id, channel, target, via, event, level, payload,"
            " created_at, next_attempt_at, give_up_at, attempts, status, last_error, fallback_of)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            (
                note.id,
                note.incident_id,
                step_id,
                channel,
                note.target,
                via,
                note.event,
                note.level,
                json.dumps(note.to_dict(), sort_keys=True),
                iso(now),
                iso(now),
                iso(give_up_at),
                status,
                error,
                fallback_of,
            ),
        )
        return cursor.rowcount == 1

    def _due(self, now: datetime) -> list[Any]:
        # iso() drops zero microseconds, so text order is only right to the second: select up to
        # the next whole second with the index, then compare exactly.
        bound = iso(now.replace(microsecond=0) + timedelta(seconds=1))
        rows = self.store.execute(
            "SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at < ?"
            " ORDER BY next_attempt_at, created_at, id",
            (bound,),
        ).fetchall()
        due = [row for row in rows if parse_iso(row["next_attempt_at"]) <= now]  # type: ignore[operator]
        return sorted(due, key=_urgency)

    def _batches(self, rows: list[Any]) -> list[list[Any]]:
        """Due rows in delivery order; the digest messages of one recipient on one channel read
        by people become one batch, sent as one message where its most urgent row stands."""
        batches: list[list[Any]] = []
        groups: dict[tuple[str, str, str | None], list[Any]] = {}
        for row in rows:
            channel = self.channels.get(row["channel"])
            if row["event"] != "digest" or channel is None or channel.kind not in DIGEST_KINDS:
                batches.append([row])
                continue
            key = (row["channel"], row["target"], row["via"])
            if key not in groups:
                groups[key] = []
                batches.append(groups[key])
            groups[key].append(row)
        return batches

    def _send_digest(self, batch: list[Any], down: dict[str, str]) -> _Outcome:
        """One message for the batch; every row shares its outcome."""
        try:
            notes = [Notification.from_dict(json.loads(row["payload"])) for row in batch]
        except (ValueError, TypeError, KeyError) as exc:
            return _Outcome(False, f"stored message is unreadable ({type(exc).__name__}: {exc})", False)
        return self._send(batch[0], down, combine(notes))

    def _send(self, row: Any, down: dict[str, str], note: Notification | None = None) -> _Outcome:
        """Try the channel; every failure becomes an outcome, nothing escapes to the other messages."""
        name = row["channel"]
        channel = self.channels.get(name)
        if channel is None:
            known = ", ".join(sorted(self.channels)) or "none"
            return _Outcome(False, f"channel {name!r} is not configured any more (configured: {known})", False)
        if name in down:
            return _Outcome(False, f"not tried: channel {name!r} failed earlier in this run: {down[name]}")
        try:
            note = note or Notification.from_dict(json.loads(row["payload"]))
        except (ValueError, TypeError, KeyError) as exc:
            return _Outcome(False, f"stored message is unreadable ({type(exc).__name__}: {exc})", False)
        try:
            channel.send(note)
        except ChannelError as exc:
            outcome = _Outcome(False, str(exc), exc.retryable)
        except Exception as exc:  # a bug in a channel must not stop delivery of the others
            log.exception("channel %r raised while sending %s", name, row["id"])
            outcome = _Outcome(False, f"channel {name!r} crashed: {type(exc).__name__}: {exc}", True)
        else:
            return _Outcome(True)
        if outcome.retryable:
            down[name] = outcome.error or ""
        return outcome

    def _record(self, row: Any, outcome: _Outcome, now: datetime) -> str | None:
        """One short transaction: the attempt, the new status, the audit entry, any fallback copy."""
        attempt = int(row["attempts"]) + 1
        details = {
            "outbox_id": row["id"],
            "channel": row["channel"],
            "target": row["target"],
            "via": row["via"],
            "event": row["event"],
            "level": row["level"],
            "attempt": attempt,
        }
        with self.store.transaction():
            claimed = self.store.execute(
                "UPDATE outbox SET attempts = ? WHERE id = ? AND status = 'pending' AND attempts = ?",
                (attempt, row["id"], attempt - 1),
            )
            if claimed.rowcount != 1:  # another process recorded this message meanwhile
                return None
            self.store.execute(
                "INSERT INTO delivery_attempts(outbox_id, attempt, at, ok, error) VALUES (?, ?, ?, ?, ?)",
                (row["id"], attempt, iso(now), int(outcome.ok), outcome.error),
            )
            if outcome.ok:
                self._set(row["id"], status="sent", sent_at=iso(now), last_error=None)
                self._audit(now, "notified", row["incident_id"], details)
                return "sent"
            give_up_at = parse_iso(row["give_up_at"])
            assert give_up_at is not None
            if outcome.retryable and now < give_up_at:
                backoff = self.delivery_for(row["channel"]).backoff(attempt)
                retry_at = min(now + backoff, give_up_at)  # one last try when the time is up
                self._set(row["id"], next_attempt_at=iso(retry_at), last_error=outcome.error)
                self._audit(now, "notify_failed", row["incident_id"], details, error=outcome.error,
                            next_attempt_at=iso(retry_at))
                return "retried"
            return self._give_up(row, outcome, now, details)

    def _give_up(self, row: Any, outcome: _Outcome, now: datetime, details: dict[str, Any]) -> str:
        why = "not retryable" if not outcome.retryable else "retried until give_up_at"
        fallback = self._fallback_channel(row)
        try:
            note = Notification.from_dict(json.loads(row["payload"]))
        except (ValueError, TypeError, KeyError):
            fallback = None  # nothing readable to send elsewhere
        if fallback is None:
            self._set(row["id"], status="failed", last_error=outcome.error)
            self._audit(now, "gave_up", row["incident_id"], details, error=outcome.error, reason=why)
            return "failed"
        address = self.address_for(note.target, fallback) if self.address_for else None
        copy = dataclasses.replace(
            note,
            id=fallback_id(row["id"], fallback),
            address=address,
            extra={**note.extra, "fallback_of": row["id"], "fallback_reason": outcome.error},
        )
        self._insert(copy, fallback, row["via"], now, row["step_id"], "pending", None, row["id"])
        self._set(row["id"], status="fallen_back", last_error=outcome.error)
        self._audit(now, "fallback", row["incident_id"], details, error=outcome.error, reason=why,
                    fallback_channel=fallback, fallback_id=copy.id)
        return "fallen_back"

    def _fallback_channel(self, row: Any) -> str | None:
        """The configured fallback, unless it would send the message round in a circle."""
        fallback = self.delivery_for(row["channel"]).fallback
        if fallback is None:
            return None
        used = {row["channel"]}
        parent = row["fallback_of"]
        while parent is not None:
            found = self.store.execute("SELECT channel, fallback_of FROM outbox WHERE id = ?", (parent,)).fetchone()
            if found is None:
                break
            used.add(found["channel"])
            parent = found["fallback_of"]
        return None if fallback in used else fallback

    def _set(self, outbox_id: str, **columns: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self.store.execute(f"UPDATE outbox SET {assignments} WHERE id = ?", (*columns.values(), outbox_id))

    def _audit(self, now: datetime, action: str, incident_id: str, details: dict[str, Any], **more: Any) -> None:
        self.audit.append(at=now, actor=ACTOR, action=action, incident_id=incident_id, details={**details, **more})

    def _describe(self, note: Notification, channel: str, via: str | None) -> dict[str, Any]:
        return {"outbox_id": note.id, "channel": channel, "target": note.target, "via": via,
                "event": note.event, "level": note.level}

    def _require_transaction(self, what: str) -> None:
        if not self.store.conn.in_transaction:
            raise StateError(f"outbox {what} must run inside the store transaction of the change that causes it")


def _urgency(row: Any) -> tuple[int, str, str, str]:
    """Delivery order of due messages: the worst incident first, then the earliest evidence
    (a first scan over old logs queues hundreds; the critical page must not wait behind them)."""
    try:
        payload = json.loads(row["payload"])
        rank = severity_rank(payload.get("severity", "informational"))
        first_seen = payload.get("first_seen") or ""
    except (ValueError, TypeError, AttributeError):  # unreadable rows fail in _send, last
        rank, first_seen = -1, ""
    return (-rank, first_seen, row["created_at"], row["id"])


def _row_dict(row: Any) -> dict[str, Any]:
    data = dict(row)
    data["payload"] = json.loads(data["payload"])
    return data
