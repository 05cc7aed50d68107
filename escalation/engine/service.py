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
from escalation.engine.escalator import EscalationEngine
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
