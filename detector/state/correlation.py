"""Correlation state rows: per scenario, its held events (references to lines) in compact
blobs, one per time bucket, plus one summary row; written in the batch's transaction, only the
buckets a batch changed. And the per-event rows of older versions, read once."""

from __future__ import annotations

import json
from typing import Any

from detector.state.store import Store

SUMMARY = -1  # the bucket number of a scenario's summary row (no data)


def load_state(store: Store, scenario_id: str) -> list[bytes]:
    """A scenario's stored buckets, oldest first."""
    return [
        bytes(row[0])
        for row in store.execute(
            "SELECT data FROM corr_state WHERE scenario_id = ? AND bucket != ? ORDER BY bucket", (scenario_id, SUMMARY)
        )
    ]


def save_state(store: Store, scenario_id: str, parts: dict[int, bytes | None], rows: int, groups: int, at: int) -> None:
    """Replace the given buckets (None: the bucket is empty now, its row goes) and the summary."""
    gone = [(scenario_id, number) for number, data in parts.items() if data is None]
    if gone:
        store.conn.executemany("DELETE FROM corr_state WHERE scenario_id = ? AND bucket = ?", gone)
    written = [(scenario_id, number, data, at) for number, data in parts.items() if data is not None]
    if rows:
        written.append((scenario_id, SUMMARY, b"", at))
    else:
        store.execute("DELETE FROM corr_state WHERE scenario_id = ?", (scenario_id,))
    store.conn.executemany(
        "INSERT INTO corr_state(scenario_id, bucket, data, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(scenario_id, bucket) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
        written,
    )
    if rows:
        store.execute(
            "UPDATE corr_state SET rows = ?, groups = ? WHERE scenario_id = ? AND bucket = ?",
            (rows, groups, scenario_id, SUMMARY),
        )


def state_size(store: Store) -> dict[str, int]:
    """What correlation holds: state rows, the events they reference, and open groups."""
    row = store.execute(
        "SELECT COUNT(*), COALESCE(SUM(rows), 0), COALESCE(SUM(groups), 0) FROM corr_state"
    ).fetchone()
    legacy = store.execute("SELECT COUNT(*) FROM corr_events").fetchone()[0]
    return {"state_rows": int(row[0]) + int(legacy), "held_events": int(row[1]) + int(legacy), "open_groups": int(row[2])}


def take_legacy_events(store: Store, scenario_id: str) -> list[dict[str, Any]]:
    """Pooled events a version before the columnar state stored one row each; removed once read."""
    out = []
    for row in store.execute("SELECT * FROM corr_events WHERE scenario_id = ?", (scenario_id,)):
        path, line, kind, application, group = json.loads(row["evidence"])
        out.append(
            {"ts": row["ts"], "rule": row["rule"], "group": tuple(group), "value": row["value"], "file_uid": row["file_uid"],
             "offset": row["offset"], "path": path, "line": line, "log_kind": kind, "application": application}
        )
    if out:
        store.execute("DELETE FROM corr_events WHERE scenario_id = ?", (scenario_id,))
    return out
