"""The outbox against real HTTP receivers on 127.0.0.1: down, slow, failing, and a crash mid-send."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from outboxkit import (
    SECRET_ENV,
    T0,
    Desk,
    HttpRecorder,
    at,
    closed_port,
    journal,
    journal_ids,
    webhook,
)

from escalation.engine.outbox import DeliveryStats, fallback_id
from escalation.engine.policy import Delivery

REPO = Path(__file__).resolve().parents[2]
# 30 s doubling, capped at 4 min; give up after 5 min: tries at 0, 30, 90, 210, then 300 (capped).
BACKOFF = Delivery(
    give_up_after=timedelta(minutes=5),
    retry_backoff=timedelta(seconds=30),
    max_backoff=timedelta(minutes=4),
    fallback="journal",
)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(SECRET_ENV, "test-signing-secret")


@pytest.fixture
def server() -> Iterator[HttpRecorder]:
    with HttpRecorder() as recorder:
        yield recorder


def make_desk(tmp_path: Path, hook_url: str, delivery: Delivery = BACKOFF) -> Desk:
    return Desk(
        tmp_path / "state" / "state.db",
        channels={"hook": webhook("hook", hook_url), "journal": journal("journal", tmp_path / "journal.jsonl")},
        delivery={"hook": delivery},
    )


def delivery_ids(server: HttpRecorder) -> list[str]:
    return [request.headers["X-Logwarden-Delivery"] for request in server.requests]


def test_success_is_recorded_as_sent(tmp_path: Path, server: HttpRecorder) -> None:
    desk = make_desk(tmp_path, server.url)
    note = desk.enqueue("hook")
    assert desk.outbox.deliver_due(T0) == DeliveryStats(sent=1)
    assert delivery_ids(server) == [note.id]
    assert desk.row(note.id)["status"] == "sent"
    assert desk.actions() == [("notified", note.id)]
    assert desk.outbox.deliver_due(at(3600)) == DeliveryStats()
    assert len(server.requests) == 1


@pytest.fixture(params=["down", "slow", "error-500"])
def failing(request: pytest.FixtureRequest) -> Iterator[tuple[str, HttpRecorder | None, str]]:
    """(url, server, error) of a receiver that refuses connections, answers after the channel's
    timeout, or answers 500."""
    if request.param == "down":
        yield f"http://127.0.0.1:{closed_port()}/hook", None, "refused"
        return
    slow = request.param == "slow"
    kwargs = {"behaviour": "hold"} if slow else {"status": 500, "reply": b"internal error"}
    with HttpRecorder(**kwargs) as recorder:
        yield recorder.url, recorder, "gave no complete answer within 0.3s" if slow else "answered HTTP 500"


def test_failing_receiver_is_retried_with_growing_backoff_then_falls_back(
    tmp_path: Path, failing: tuple[str, HttpRecorder | None, str]
) -> None:
    url, recorder, error = failing
    desk = make_desk(tmp_path, url)
    note = desk.enqueue("hook")

    stats = [desk.outbox.deliver_due(at(s)) for s in (0, 29, 30, 89, 90, 210, 299)]
    assert [s.retried for s in stats] == [1, 0, 1, 0, 1, 1, 0]  # nothing is tried before it is due
    row = desk.row(note.id)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("pending", 4, "2026-11-21T10:35:00Z")
    failed = desk.audit_details("notify_failed")
    assert [d["next_attempt_at"] for d in failed] == [
        "2026-11-21T10:30:30Z",  # +30 s
        "2026-11-21T10:31:30Z",  # +60 s
        "2026-11-21T10:33:30Z",  # +120 s
        "2026-11-21T10:35:00Z",  # +240 s would pass give_up_at: one last try then
    ]
    assert all(error in d["error"] for d in failed), failed

    assert desk.outbox.deliver_due(at(300)) == DeliveryStats(sent=1, fallen_back=1)
    copy_id = fallback_id(note.id, "journal")
    assert journal_ids(tmp_path / "journal.jsonl") == [copy_id]
    assert desk.row(note.id)["status"] == "fallen_back"
    assert desk.row(copy_id)["status"] == "sent"
    assert [a["at"][11:19] for a in desk.outbox.attempts(note.id)] == [
        "10:30:00", "10:30:30", "10:31:30", "10:33:30", "10:35:00"]
    if recorder is not None:
        assert delivery_ids(recorder) == [note.id] * 5  # same id every time: receivers can dedup
    assert desk.actions() == [("notify_failed", note.id)] * 4 + [("fallback", note.id), ("notified", copy_id)]
    assert desk.audit_details("fallback")[0]["reason"] == "retried until give_up_at"
    assert desk.outbox.deliver_due(at(3600)) == DeliveryStats()
    assert desk.audit.verify().ok


def test_rejected_message_falls_back_to_a_second_endpoint_at_once(tmp_path: Path) -> None:
    with HttpRecorder(status=400, reply=b"bad payload") as rejecting, HttpRecorder() as backup:
        desk = make_desk(tmp_path, rejecting.url, Delivery(fallback="backup"))
        desk.channels["backup"] = webhook("backup", backup.url)
        note = desk.enqueue("hook")
        assert desk.outbox.deliver_due(T0) == DeliveryStats(sent=1, fallen_back=1)
        copy_id = fallback_id(note.id, "backup")
        assert delivery_ids(rejecting) == [note.id]
        assert delivery_ids(backup) == [copy_id]
        assert backup.requests[0].json()["dedup_key"] == note.dedup_key
        [fallback] = desk.audit_details("fallback")
        assert fallback["reason"] == "not retryable" and "HTTP 400" in fallback["error"]


def test_without_fallback_the_message_fails_after_give_up(tmp_path: Path) -> None:
    with HttpRecorder(status=503) as failing:
        desk = make_desk(tmp_path, failing.url, Delivery(give_up_after=timedelta(seconds=60)))
        note = desk.enqueue("hook")
        assert [desk.outbox.deliver_due(at(s)) for s in (0, 30, 60)] == [
            DeliveryStats(retried=1), DeliveryStats(retried=1), DeliveryStats(failed=1)]
        assert len(failing.requests) == 3
        row = desk.row(note.id)
        assert row["status"] == "failed" and "HTTP 503" in row["last_error"]
        assert desk.actions() == [("notify_failed", note.id)] * 2 + [("gave_up", note.id)]
        assert desk.outbox.deliver_due(at(3600)) == DeliveryStats()
        assert len(failing.requests) == 3


def test_slow_receiver_is_tried_once_per_run_and_does_not_hold_up_others(tmp_path: Path) -> None:
    with HttpRecorder(behaviour="hold") as slow, HttpRecorder() as fast:
        desk = make_desk(tmp_path, slow.url)
        desk.channels["fast"] = webhook("fast", fast.url)
        first = desk.enqueue("hook", id="ntf-1")
        second = desk.enqueue("hook", id="ntf-2")
        third = desk.enqueue("fast", id="ntf-3")
        assert desk.outbox.deliver_due(T0) == DeliveryStats(sent=1, retried=2)
        assert delivery_ids(slow) == [first.id]  # one timeout, not one per message
        assert delivery_ids(fast) == [third.id]
        [attempt] = desk.outbox.attempts(second.id)
        assert attempt["error"].startswith("not tried: channel 'hook' failed earlier in this run")
        slow.release.set()
        slow.behaviour = "answer"
        assert desk.outbox.deliver_due(at(30)) == DeliveryStats(sent=2)
        assert {desk.row(i)["status"] for i in ("ntf-1", "ntf-2", "ntf-3")} == {"sent"}


def test_enqueued_message_survives_a_restart_before_delivery(tmp_path: Path, server: HttpRecorder) -> None:
    desk = make_desk(tmp_path, server.url)
    note = desk.enqueue("hook")
    desk.close()  # the process stops before any delivery
    desk.open()
    assert [row["id"] for row in desk.outbox.pending()] == [note.id]
    assert desk.outbox.deliver_due(at(5)) == DeliveryStats(sent=1)
    assert delivery_ids(server) == [note.id]


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from outboxkit import Desk, T0, webhook
    from escalation.engine.policy import Delivery

    class DieAfterSend:
        '''The real webhook channel, then the process is killed before the outcome is recorded.'''
        def __init__(self, channel):
            self.channel, self.name, self.kind = channel, channel.name, channel.kind
        def send(self, note):
            self.channel.send(note)
            os.kill(os.getpid(), signal.SIGKILL)

    desk = Desk(Path(sys.argv[1]), channels={"hook": DieAfterSend(webhook("hook", sys.argv[2]))},
                delivery={"hook": Delivery()})
    desk.outbox.deliver_due(T0)
    """
)


def test_crash_between_send_and_record_resends_the_same_message(tmp_path: Path, server: HttpRecorder) -> None:
    desk = make_desk(tmp_path, server.url)
    note = desk.enqueue("hook")
    desk.close()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(desk.state), server.url, str(Path(__file__).parent)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert delivery_ids(server) == [note.id]  # it was sent, but nothing was recorded

    desk.open()
    row = desk.row(note.id)
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert desk.outbox.attempts(note.id) == []
    assert desk.outbox.deliver_due(at(10)) == DeliveryStats(sent=1)
    assert delivery_ids(server) == [note.id, note.id]  # at-least-once, same id to dedup on
    assert desk.actions() == [("notified", note.id)]
    assert desk.audit.verify().ok
