"""Shared setup for the outbox tests: a real state file, audit trail, outbox and real channels.

Reuses the channel tests' servers and notification (tests/escalation/channels/channelkit.py).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "channels"))

from channelkit import HttpRecorder, channel_spec, closed_port, make_note  # noqa: E402

from detector.state.store import Store  # noqa: E402
from escalation.audit import AuditTrail, default_audit_path  # noqa: E402
from escalation.channels import build_channel  # noqa: E402
from escalation.channels.notification import Channel, Notification  # noqa: E402
from escalation.engine.outbox import Outbox  # noqa: E402
from escalation.engine.policy import Delivery  # noqa: E402

T0 = datetime(2026, 11, 21, 10, 30, 0, tzinfo=timezone.utc)
SECRET_ENV = "LOGWARDEN_TEST_WEBHOOK_SECRET"

__all__ = ["HttpRecorder", "closed_port", "make_note", "T0", "SECRET_ENV", "Desk", "webhook", "journal", "at"]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def webhook(name: str, url: str, timeout: float = 0.3) -> Channel:
    spec = channel_spec(f"kind: webhook\nurl: {url}\nsecret_env: {SECRET_ENV}\ntimeout: {timeout}\n")
    return build_channel(name, spec, "/etc/logwarden/policy.yaml", 1, Path("/nonexistent"))


def journal(name: str, path: Path) -> Channel:
    return build_channel(name, channel_spec(f"kind: file\npath: {path}\n"), "/etc/logwarden/policy.yaml", 1, path.parent)


@dataclasses.dataclass
class Desk:
    """One state file with its audit trail and outbox, as the engine would set them up."""

    state: Path
    channels: dict[str, Channel]
    delivery: dict[str, Delivery]
    addresses: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.open()

    def open(self) -> None:
        self.store = Store(self.state)
        self.audit = AuditTrail(self.store, default_audit_path(self.state))
        self.outbox = Outbox(
            self.store,
            self.audit,
            self.channels,
            lambda channel: self.delivery.get(channel, Delivery()),
            lambda contact, channel: self.addresses.get((contact, channel)),
        )

    def close(self) -> None:
        self.store.close()

    def enqueue(self, channel: str, now: datetime = T0, **changes: Any) -> Notification:
        """What the engine does: enqueue in its transaction, mirror the audit after commit."""
        note = make_note(**changes)
        with self.store.transaction():
            assert self.outbox.enqueue(note, channel, via="secops-rotation", now=now)
        self.audit.sync_mirror()
        return note

    def row(self, outbox_id: str) -> dict[str, Any]:
        found = self.outbox.message(outbox_id)
        assert found is not None, outbox_id
        return found

    def actions(self) -> list[tuple[str, str]]:
        """(action, outbox id) of every outbox audit entry, in order."""
        return [(e.action, e.details["outbox_id"]) for e in self.audit.entries() if e.actor == "outbox"]

    def audit_details(self, action: str) -> list[dict[str, Any]]:
        return [e.details for e in self.audit.entries() if e.action == action]


def journal_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()] if path.exists() else []
