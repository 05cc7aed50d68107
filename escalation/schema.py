"""The escalation tables in the shared state database.

One schema for the engine (incidents, steps), the outbox (messages, attempts) and the audit
trail, so that a state change, the messages it causes and its audit entry commit in one
transaction. Reports read these tables directly; docs/escalation.md describes each column.
Add a migration step at the end; never edit a step that has shipped.
"""

from __future__ import annotations

from detector.state.store import Store

COMPONENT = "escalation"

STEPS: tuple[str, ...] = (
    """
    CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        dedup_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        title TEXT NOT NULL,
        scenario_id TEXT NOT NULL,
        entity TEXT NOT NULL,
        severity TEXT NOT NULL,
        confidence REAL NOT NULL,
        attack TEXT NOT NULL,
        applications TEXT NOT NULL,
        exercise INTEGER NOT NULL DEFAULT 0,
        policy_name TEXT,
        policy TEXT,
        first_evidence_at TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        day_class TEXT NOT NULL,
        level INTEGER NOT NULL DEFAULT 0,
        cycle INTEGER NOT NULL DEFAULT 0,
        next_due_at TEXT,
        next_action TEXT,
        first_notified_at TEXT,
        ack_deadline TEXT,
        acknowledged_at TEXT,
        acknowledged_by TEXT,
        snoozed_until TEXT,
        resolved_at TEXT,
        resolved_by TEXT,
        resolution_note TEXT,
        root_cause TEXT,
        exhausted_at TEXT,
        held INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX incidents_dedup ON incidents(dedup_key, status);
    CREATE INDEX incidents_due ON incidents(next_due_at);
    CREATE TABLE incident_members (
        incident_id TEXT NOT NULL,
        member_kind TEXT NOT NULL,
        member_id TEXT NOT NULL,
        attached_at TEXT NOT NULL,
        PRIMARY KEY (incident_id, member_kind, member_id)
    );
    CREATE INDEX incident_members_member ON incident_members(member_kind, member_id);
    CREATE TABLE escalation_steps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT NOT NULL,
        action TEXT NOT NULL,
        level INTEGER NOT NULL,
        cycle INTEGER NOT NULL,
        due_at TEXT NOT NULL,
        ran_at TEXT NOT NULL,
        late_seconds REAL NOT NULL,
        day_class TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX escalation_steps_incident ON escalation_steps(incident_id, id);
    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        incident_id TEXT NOT NULL,
        step_id INTEGER,
        channel TEXT NOT NULL,
        target TEXT NOT NULL,
        via TEXT,
        event TEXT NOT NULL,
        level INTEGER NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        give_up_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        sent_at TEXT,
        last_error TEXT,
        fallback_of TEXT
    );
    CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
    CREATE INDEX outbox_incident ON outbox(incident_id);
    CREATE TABLE delivery_attempts (
        outbox_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at TEXT NOT NULL,
        ok INTEGER NOT NULL,
        error TEXT,
        PRIMARY KEY (outbox_id, attempt)
    );
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        incident_id TEXT,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX audit_incident ON audit(incident_id, seq)
    """,
)


def migrate_escalation(store: Store) -> None:
    """Create or upgrade the escalation tables; idempotent, cheap when current."""
    store.migrate(COMPONENT, STEPS)
