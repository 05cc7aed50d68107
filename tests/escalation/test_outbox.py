"""The outbox with local channels (journal files): queueing, give-up rules, fallbacks, robustness.

Tests against network receivers (down, slow, 500, crash mid-delivery) are in test_outbox_servers.py.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from outboxkit import T0, Desk, at, journal, journal_ids, make_note

from detector.errors import StateError
from escalation.channels.notification import Notification
from escalation.engine.outbox import DeliveryStats, fallback_id
from escalation.engine.policy import Delivery


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    opened = Desk(
        tmp_path / "state" / "state.db",
        channels={"journal": journal("journal", tmp_path / "out" / "journal.jsonl")},
        delivery={},
    )
    yield opened
    opened.close()


def test_enqueue_stores_the_exact_message_pending_and_due(desk: Desk) -> None:
    note = desk.enqueue("journal")
    [row] = desk.outbox.pending()
    assert Notification.from_dict(row["payload"]) == note
    assert (row["id"], row["status"], row["channel"], row["via"], row["attempts"]) == (
        note.id, "pending", "journal", "secops-rotation", 0)
    assert row["next_attempt_at"] == "2026-11-21T10:30:00Z"
    assert row["give_up_at"] == "2026-11-21T11:30:00Z"  # Delivery() gives up after an hour


def test_enqueue_is_idempotent_on_the_message_id(desk: Desk) -> None:
    note = desk.enqueue("journal")
    with desk.store.transaction():
        assert desk.outbox.enqueue(note, "journal", None, at(60)) is False
    assert len(desk.outbox.pending()) == 1
    desk.outbox.deliver_due(at(60))
    assert journal_ids(desk.channels["journal"].path) == [note.id]  # type: ignore[attr-defined]


def test_enqueue_belongs_to_the_callers_transaction(desk: Desk) -> None:
    with pytest.raises(StateError, match="inside the store transaction"):
        desk.outbox.enqueue(make_note(), "journal", None, T0)
    with pytest.raises(RuntimeError), desk.store.transaction():
        desk.outbox.enqueue(make_note(), "journal", None, T0)
        raise RuntimeError("incident update failed")
    assert desk.outbox.pending() == []


def test_deliver_due_refuses_to_run_inside_a_transaction(desk: Desk) -> None:
    with desk.store.transaction(), pytest.raises(StateError, match="outside any store transaction"):
        desk.outbox.deliver_due(T0)


def test_delivered_message_is_marked_sent_and_audited(desk: Desk) -> None:
    note = desk.enqueue("journal")
    assert desk.outbox.deliver_due(T0) == DeliveryStats(sent=1)
    row = desk.row(note.id)
    assert (row["status"], row["sent_at"], row["attempts"], row["last_error"]) == ("sent", "2026-11-21T10:30:00Z", 1, None)
    assert desk.outbox.attempts(note.id) == [
        {"outbox_id": note.id, "attempt": 1, "at": "2026-11-21T10:30:00Z", "ok": True, "error": None}
    ]
    assert desk.actions() == [("notified", note.id)]
    assert desk.audit.entries()[-1].incident_id == note.incident_id
    assert desk.outbox.deliver_due(at(3600)) == DeliveryStats()  # never sent twice
    assert journal_ids(desk.channels["journal"].path) == [note.id]  # type: ignore[attr-defined]
    assert desk.audit.verify().ok  # deliver_due mirrored its own entries


def test_message_is_not_due_before_its_time_to_the_microsecond(desk: Desk) -> None:
    later = T0 + timedelta(microseconds=500_000)  # "…:00.5Z" sorts before "…:00Z" as text
    note = desk.enqueue("journal", now=later)
    assert desk.outbox.deliver_due(T0) == DeliveryStats()
    assert desk.outbox.deliver_due(later) == DeliveryStats(sent=1)
    assert desk.row(note.id)["status"] == "sent"


def test_suppressed_message_is_recorded_and_never_sent(desk: Desk) -> None:
    note = make_note()
    with desk.store.transaction():
        desk.outbox.suppress(note, "journal", None, T0, reason="exercise: pages muted")
        desk.outbox.suppress(note, "journal", None, T0, reason="exercise: pages muted")  # replayed
    desk.audit.sync_mirror()
    assert desk.row(note.id)["status"] == "suppressed"
    assert desk.outbox.deliver_due(at(60)) == DeliveryStats()
    assert not desk.channels["journal"].path.exists()  # type: ignore[attr-defined]
    assert [d["reason"] for d in desk.audit_details("suppressed")] == ["exercise: pages muted"]


def test_channel_removed_from_the_policy_fails_with_a_clear_error(desk: Desk) -> None:
    note = desk.enqueue("old-pager")
    assert desk.outbox.deliver_due(T0) == DeliveryStats(failed=1)
    row = desk.row(note.id)
    assert row["status"] == "failed"
    assert "channel 'old-pager' is not configured any more (configured: journal)" in row["last_error"]
    [gave_up] = desk.audit_details("gave_up")
    assert gave_up["reason"] == "not retryable" and "old-pager" in gave_up["error"]


def test_permanent_failure_falls_back_at_once(desk: Desk, tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    desk.channels["broken"] = journal("broken", tmp_path / "a-directory")  # EISDIR: not retryable
    desk.delivery["broken"] = Delivery(give_up_after=timedelta(hours=5), fallback="journal")
    desk.addresses[("secops-oncall", "journal")] = "journal-address"
    note = desk.enqueue("broken")
    assert desk.outbox.deliver_due(T0) == DeliveryStats(sent=1, fallen_back=1)
    copy_id = fallback_id(note.id, "journal")
    assert desk.row(note.id)["status"] == "fallen_back"
    copy = desk.row(copy_id)
    assert (copy["status"], copy["fallback_of"], copy["channel"]) == ("sent", note.id, "journal")
    assert copy["payload"]["address"] == "journal-address"  # the contact's address on the fallback channel
    assert copy["payload"]["dedup_key"] == note.dedup_key
    assert journal_ids(desk.channels["journal"].path) == [copy_id]  # type: ignore[attr-defined]
    assert desk.actions() == [("fallback", note.id), ("notified", copy_id)]
    [fallback] = desk.audit_details("fallback")
    assert fallback["fallback_channel"] == "journal" and fallback["reason"] == "not retryable"
    assert "Is a directory" in fallback["error"]


def test_permanent_failure_without_fallback_gives_up_at_once(desk: Desk, tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    desk.channels["broken"] = journal("broken", tmp_path / "a-directory")
    note = desk.enqueue("broken")
    assert desk.outbox.deliver_due(T0) == DeliveryStats(failed=1)
    assert desk.row(note.id)["status"] == "failed"
    assert [a["ok"] for a in desk.outbox.attempts(note.id)] == [False]
    assert desk.actions() == [("gave_up", note.id)]


def test_fallbacks_never_go_round_in_a_circle(desk: Desk, tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    desk.channels["a"] = journal("a", tmp_path / "a-directory")
    desk.channels["b"] = journal("b", tmp_path / "a-directory")
    desk.delivery["a"] = Delivery(fallback="b")
    desk.delivery["b"] = Delivery(fallback="a")
    note = desk.enqueue("a")
    assert desk.outbox.deliver_due(T0) == DeliveryStats(failed=1, fallen_back=1)
    copy_id = fallback_id(note.id, "b")
    assert desk.actions() == [("fallback", note.id), ("gave_up", copy_id)]
    assert desk.row(copy_id)["status"] == "failed"


class ExplodingChannel:
    """A channel with a bug: raises something that is not a ChannelError."""

    name = "exploding"
    kind = "webhook"

    def send(self, note: Notification) -> None:
        raise KeyError("routing")


def test_a_crashing_channel_is_retried_and_does_not_stop_the_others(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    desk.channels["exploding"] = ExplodingChannel()
    desk.delivery["exploding"] = Delivery(retry_backoff=timedelta(seconds=30))
    bad = desk.enqueue("exploding", id="ntf-bad")
    good = desk.enqueue("journal", id="ntf-good")
    with caplog.at_level(logging.ERROR, logger="escalation.engine.outbox"):
        assert desk.outbox.deliver_due(T0) == DeliveryStats(sent=1, retried=1)
    assert "channel 'exploding' raised while sending ntf-bad" in caplog.text
    row = desk.row(bad.id)
    assert (row["status"], row["next_attempt_at"]) == ("pending", "2026-11-21T10:30:30Z")
    assert "crashed: KeyError" in row["last_error"]
    assert desk.row(good.id)["status"] == "sent"
    assert desk.actions() == [("notify_failed", bad.id), ("notified", good.id)]
