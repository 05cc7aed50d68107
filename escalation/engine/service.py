"""Wiring the escalation engine from a logwarden configuration: one call per run.

Why here and not in the CLI: `logwarden scan` (after every run), `logwarden watch` (in its loop)
and `logwarden escalation tick` all need the same engine built the same way from the same
config: the policy file (or the bundled one), the audit trail with its mirror next to the state
file, and the outbox with the policy's channels.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from detector.config import Config
from detector.state.store import Store
from escalation.audit import AuditTrail, default_audit_path
from escalation.engine.escalator import FINDING_CURSOR, EscalationEngine
from escalation.engine.incidents import ACTIVE
from escalation.engine.outbox import Outbox
from escalation.engine.policyfile import load_policy
from escalation.schema import migrate_escalation


def open_engine(store: Store, config: Config) -> EscalationEngine:
    """The engine for this config: policy loaded and validated (PolicyError on a bad file),
    audit mirror at `default_audit_path(config.state)`, outbox over the policy's channels."""
    policy = load_policy(config.escalation, config.state.parent)
    migrate_escalation(store)
    audit = AuditTrail(store, default_audit_path(config.state))
    outbox = Outbox(store, audit, policy.channels, policy.delivery_for, policy.address)
    return EscalationEngine(store, policy, audit, outbox)


@contextlib.contextmanager
def human_output(stdout_is_data: bool) -> Iterator[None]:
    """While stdout carries a JSON document, what channels print for people (the `stdout`
    channel) goes to stderr instead, so the document stays parseable."""
    if not stdout_is_data:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def escalate(store: Store, config: Config, now: datetime, *, stdout_is_data: bool = False) -> dict[str, Any]:
    """Consume new findings and defects, run due timers, deliver due messages.

    Returns a JSON-able summary. `stdout_is_data`: the caller prints JSON on stdout (e.g.
    `scan --format json`), so the stdout channel writes to stderr.
    """
    engine = open_engine(store, config)
    ingested = engine.ingest(now)
    steps = engine.tick(now, deliver=False)
    with human_output(stdout_is_data):
        delivery = engine.deliver(now)
    active = engine.incidents.all(ACTIVE)
    return {
        "ingested": ingested,
        "steps": [step.to_dict() for step in steps],
        "delivery": delivery.to_dict(),
        "active_incidents": len(active),
        "policy": engine.policy.source,
    }


def baseline(store: Store, config: Config, now: datetime) -> int:
    """`scan --baseline`, a first run over logs that already exist: what was found so far is
    the past, recorded (`logwarden findings`) but never escalated. The finding feed moves past
    it, so only later changes (an attack that goes on) open incidents and page. Detection
    defects still go through. Returns how many findings were passed over."""
    engine = open_engine(store, config)
    with store.transaction():
        cursor = int(store.get_meta(FINDING_CURSOR, "0") or 0)
        last = int(store.execute("SELECT COALESCE(MAX(seq), 0) FROM finding_log").fetchone()[0])
        skipped = int(store.execute(
            "SELECT COUNT(DISTINCT finding_id) FROM finding_log WHERE seq > ?", (cursor,)).fetchone()[0])
        if last > cursor:
            store.set_meta(FINDING_CURSOR, str(last))
            engine.audit.append(at=now, actor="logwarden", action="note", incident_id=None, details={
                "text": "baseline: findings recorded without escalation", "findings": skipped, "finding_seq": last})
    engine.audit.sync_mirror()
    return skipped
