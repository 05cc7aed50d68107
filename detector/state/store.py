"""SQLite state (WAL): checkpoints, correlation state, findings, defects, run history.

One `Store` wraps one connection. Writers use `transaction()` (BEGIN IMMEDIATE), so one
batch's offsets, correlation state and findings commit together or not at all. Other
components (escalation) add their own tables through `migrate()`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from detector.errors import StateError
from detector.model import Defect, Finding, Peer, iso, parse_iso
from detector.state.failures import state_failure
from detector.state.private import private_dirs, tighten

_DETECTOR_SCHEMA: Sequence[str] = (
    # version 1
    """
    CREATE TABLE files (
        uid TEXT PRIMARY KEY,
        stream TEXT NOT NULL,
        path TEXT NOT NULL,
        dev INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        compressed INTEGER NOT NULL DEFAULT 0,
        fp_len INTEGER NOT NULL,
        fp_hash TEXT NOT NULL,
        offset INTEGER NOT NULL DEFAULT 0,
        tail_hash TEXT NOT NULL DEFAULT '',
        size_seen INTEGER NOT NULL DEFAULT 0,
        stat_size INTEGER NOT NULL DEFAULT 0,
        stat_mtime REAL NOT NULL DEFAULT 0,
        at_eof INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'active',
        format TEXT,
        source TEXT,
        lines_read INTEGER NOT NULL DEFAULT 0,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        last_growth TEXT
    );
    CREATE INDEX files_inode ON files(dev, inode);
    CREATE INDEX files_fp ON files(fp_hash);
    CREATE TABLE ingest_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        file_uid TEXT NOT NULL,
        path TEXT NOT NULL,
        start_offset INTEGER NOT NULL,
        end_offset INTEGER NOT NULL,
        lines INTEGER NOT NULL,
        parsed INTEGER NOT NULL,
        unparsed INTEGER NOT NULL,
        first_event TEXT,
        last_event TEXT,
        source TEXT,
        log_kind TEXT,
        committed_at TEXT NOT NULL
    );
    CREATE INDEX ingest_log_file ON ingest_log(file_uid, start_offset);
    CREATE TABLE gaps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        stream TEXT NOT NULL,
        path TEXT NOT NULL,
        file_uid TEXT NOT NULL,
        reason TEXT NOT NULL,
        offset INTEGER NOT NULL,
        lost_bytes INTEGER,
        detail TEXT NOT NULL,
        detected_at TEXT NOT NULL
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mode TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        checklist_version TEXT,
        stats TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE unparsed_samples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL,
        file_uid TEXT NOT NULL,
        offset INTEGER NOT NULL,
        reason TEXT NOT NULL,
        sample TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        UNIQUE(file_uid, offset)
    );
    CREATE TABLE defects (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open',
        triage TEXT NOT NULL DEFAULT 'new'
    );
    CREATE TABLE defect_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        defect_id TEXT NOT NULL,
        change TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE findings (
        id TEXT PRIMARY KEY,
        scenario_id TEXT NOT NULL,
        entity_key TEXT NOT NULL,
        status TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        detected_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        severity TEXT NOT NULL,
        confidence REAL NOT NULL,
        exercise INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL
    );
    CREATE INDEX findings_open ON findings(scenario_id, entity_key, status);
    CREATE INDEX findings_detected ON findings(detected_at);
    CREATE TABLE finding_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        finding_id TEXT NOT NULL,
        change TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE finding_entities (
        finding_id TEXT NOT NULL,
        field TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (finding_id, field, value)
    );
    CREATE INDEX finding_entities_value ON finding_entities(field, value);
    CREATE TABLE corr_events (
        scenario_id TEXT NOT NULL,
        group_key TEXT NOT NULL,
        ts INTEGER NOT NULL,
        rule TEXT NOT NULL,
        value TEXT,
        file_uid TEXT NOT NULL,
        offset INTEGER NOT NULL,
        evidence TEXT NOT NULL,
        PRIMARY KEY (scenario_id, file_uid, offset, rule)
    );
    CREATE INDEX corr_events_group ON corr_events(scenario_id, group_key, ts);
    CREATE TABLE checklist_loads (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        version TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        loaded_at TEXT NOT NULL,
        source TEXT NOT NULL,
        scenarios TEXT NOT NULL
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # version 2: correlation pools are pruned behind the watermark, per scenario, by time
    """
    DROP INDEX corr_events_group;
    CREATE INDEX corr_events_time ON corr_events(scenario_id, ts);
    CREATE INDEX findings_by_status ON findings(scenario_id, status, last_seen);
    """,
)


SQLITE_MAGIC = b"SQLite format 3\x00"
_NOT_OURS = "not a logwarden state database"
_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
)


def _create_state_file(path: Path) -> None:
    """A new state, created whole or not at all: built under a temporary name (0600, in a 0700
    directory) and linked into place. A crash cannot leave an empty file at `path`, so an empty
    file found there later is never mistaken for a new state (see `_check_is_state`)."""
    private_dirs(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    os.close(fd)
    try:
        conn = sqlite3.connect(temporary, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_MIGRATIONS_TABLE)
        finally:
            conn.close()  # the last connection checkpoints and removes the -wal and -shm files
        try:
            os.link(temporary, path)  # never replaces: a state another process just made wins
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the new name survives a power cut with what is committed under it
    finally:
        os.close(directory)


def _check_is_state(path: Path) -> None:
    """Only a missing path is a new state: an existing file must be a logwarden database."""
    with open(path, "rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if not head:
        raise StateError(
            f"{path}: an empty file, {_NOT_OURS}; logwarden starts a new state only where no file exists "
            "(a new state reads every log again and notifies anew): restore the state from a backup, or "
            "remove this file if that is what you want"
        )
    if head != SQLITE_MAGIC:
        raise StateError(f"{path}: {_NOT_OURS} (not an SQLite file); check --state or `state:` in logwarden.yaml")


def _check_tables(conn: sqlite3.Connection, path: Path) -> None:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchone()
    if row is None:
        raise StateError(
            f"{path}: {_NOT_OURS} (an SQLite database of another program); check --state or `state:` in logwarden.yaml"
        )


class Store:
    """The state database. Not thread-safe: one Store per thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._in_tx = False
        self.token = object()  # identifies this connection to caches of what it wrote
        self.rollbacks = 0  # caches of what this process wrote are void after a rollback
        old_umask = os.umask(0o077)
        try:
            if not os.path.lexists(self.path):
                _create_state_file(self.path)
            _check_is_state(self.path)
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self.conn.row_factory = sqlite3.Row
            self._prepare()
            for suffix in ("", "-wal", "-shm"):  # ours (checked): private, whatever mode it came with
                tighten(self.path.with_name(self.path.name + suffix))
        except (sqlite3.Error, OSError) as exc:
            raise state_failure(exc, self.path) from exc  # type: ignore[misc]
        finally:
            os.umask(old_umask)

    def _prepare(self) -> None:
        """Check the database is ours, set it up, bring its schema up to date."""
        try:
            _check_tables(self.conn, self.path)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute(_MIGRATIONS_TABLE)
            self.migrate("detector", _DETECTOR_SCHEMA)
        except BaseException:
            self.conn.close()
            raise

    # -- plumbing -----------------------------------------------------------------------

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def migrate(self, component: str, steps: Sequence[str]) -> None:
        """Apply the DDL steps of `component` that this database has not seen yet."""
        row = self.conn.execute(
            "SELECT version FROM schema_migrations WHERE component = ?", (component,)
        ).fetchone()
        current = row[0] if row else 0
        if current > len(steps):
            raise StateError(
                f"{self.path}: {component} schema version {current} is newer than this logwarden "
                f"({len(steps)}); upgrade logwarden"
            )
        for version in range(current + 1, len(steps) + 1):
            with self.transaction():
                for statement in steps[version - 1].split(";\n"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO schema_migrations(component, version) VALUES (?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    (component, version),
                )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE .. COMMIT; nested calls join the outer transaction."""
        if self._in_tx:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._in_tx = True
        try:
            yield self.conn
        except BaseException:
            self.rollbacks += 1
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._in_tx = False

    def make_durable(self) -> None:
        """Force what was committed onto the disk. The state runs WAL with synchronous=NORMAL:
        a power cut may undo the newest commits (docs/reliability.md), which is harmless for
        what is only in the database (redone with the same ids). Call this before writing a
        copy outside it (the audit mirror), so that copy is never ahead of the database."""
        for suffix in ("-wal", ""):
            try:
                fd = os.open(self.path.with_name(self.path.name + suffix), os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)  # the file's pages, whichever descriptor wrote them
            finally:
                os.close(fd)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    # -- meta ---------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- runs ---------------------------------------------------------------------------

    def start_run(self, mode: str, started_at: datetime, checklist_version: str | None) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO runs(mode, started_at, checklist_version) VALUES (?, ?, ?)",
                (mode, iso(started_at), checklist_version),
            )
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, finished_at: datetime, stats: dict[str, Any]) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET finished_at = ?, stats = ? WHERE id = ?",
                (iso(finished_at), json.dumps(stats, sort_keys=True), run_id),
            )

    # -- findings -----------------------------------------------------------------------

    def put_finding(self, finding: Finding, change: str | None, now: datetime) -> None:
        """Insert or replace a finding; log the change (`new`, `extended`, `confidence`) in the
        feed the escalation engine consumes, unless `change` is None."""
        entity_key = json.dumps(finding.entity, sort_keys=True)
        self.conn.execute(
            "INSERT INTO findings(id, scenario_id, entity_key, status, first_seen, last_seen,"
            " detected_at, updated_at, severity, confidence, exercise, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET status = excluded.status,"
            " first_seen = excluded.first_seen, last_seen = excluded.last_seen,"
            " updated_at = excluded.updated_at, severity = excluded.severity,"
            " confidence = excluded.confidence, data = excluded.data",
            (
                finding.id,
                finding.scenario_id,
                entity_key,
                finding.status,
                iso(finding.first_seen),
                iso(finding.last_seen),
                iso(finding.detected_at),
                iso(now),
                finding.severity,
                finding.confidence,
                int(finding.exercise),
                json.dumps(finding.to_dict(), sort_keys=True),
            ),
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO finding_entities(finding_id, field, value) VALUES (?, ?, ?)",
            [(finding.id, k, v) for k, v in finding.entity.items() if v is not None],
        )
        if change is not None:
            self.conn.execute(
                "INSERT INTO finding_log(finding_id, change, at) VALUES (?, ?, ?)",
                (finding.id, change, iso(now)),
            )

    def get_finding(self, finding_id: str) -> Finding | None:
        row = self.conn.execute("SELECT data FROM findings WHERE id = ?", (finding_id,)).fetchone()
        return Finding.from_dict(json.loads(row[0])) if row else None

    def open_finding(self, scenario_id: str, entity: dict[str, str]) -> Finding | None:
        row = self.conn.execute(
            "SELECT data FROM findings WHERE scenario_id = ? AND entity_key = ? AND status = 'open'"
            " ORDER BY first_seen DESC LIMIT 1",
            (scenario_id, json.dumps(entity, sort_keys=True)),
        ).fetchone()
        return Finding.from_dict(json.loads(row[0])) if row else None

    def findings(
        self, since: datetime | None = None, include_exercise: bool = False
    ) -> list[Finding]:
        """Findings detected at or after `since`, oldest first."""
        sql = "SELECT data FROM findings WHERE 1 = 1"
        params: list[Any] = []
        if since is not None:
            sql += " AND last_seen >= ?"
            params.append(iso(since))
        if not include_exercise:
            sql += " AND exercise = 0"
        sql += " ORDER BY first_seen, id"
        return [Finding.from_dict(json.loads(r[0])) for r in self.conn.execute(sql, params)]

    def findings_with_entity_value(self, field: str, value: str) -> list[Peer]:
        """Every finding whose entity has `field = value`, as light `Peer`s (corroboration)."""
        peers = []
        for row in self.conn.execute(
            "SELECT f.id, f.scenario_id, f.confidence, f.exercise, f.first_seen, f.last_seen,"
            " f.entity_key, json_extract(f.data, '$.log_kinds'), json_extract(f.data, '$.scenario_version'),"
            " json_extract(f.data, '$.count'), json_extract(f.data, '$.extra.distinct_values')"
            " FROM finding_entities e JOIN findings f ON f.id = e.finding_id"
            " WHERE e.field = ? AND e.value = ?",
            (field, value),
        ):
            distinct = row[10]
            peers.append(
                Peer(
                    id=row[0],
                    scenario_id=row[1],
                    scenario_version=row[8] or "",
                    confidence=float(row[2]),
                    count=int(row[9] or 0),
                    exercise=bool(row[3]),
                    first_seen=parse_iso(row[4]),  # type: ignore[arg-type]
                    last_seen=parse_iso(row[5]),  # type: ignore[arg-type]
                    log_kinds=tuple(json.loads(row[7] or "[]")),
                    entity=json.loads(row[6]),
                    extra={} if distinct is None else {"distinct_values": int(distinct)},
                )
            )
        return peers

    def finding_changes_since(self, seq: int, limit: int = 10_000) -> list[tuple[int, str, str]]:
        """(seq, finding_id, change) after `seq`: the feed the escalation engine consumes."""
        return [
            (int(r[0]), r[1], r[2])
            for r in self.conn.execute(
                "SELECT seq, finding_id, change FROM finding_log WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            )
        ]

    # -- defects ------------------------------------------------------------------------

    def put_defect(self, defect: Defect, now: datetime) -> bool:
        """Record a defect (or refresh `last_seen` of an open one). True when it is new."""
        row = self.conn.execute("SELECT status FROM defects WHERE id = ?", (defect.id,)).fetchone()
        if row is None or row[0] != "open":
            self.conn.execute(
                "INSERT INTO defects(id, kind, severity, subject, detail, first_seen, last_seen,"
                " status, triage) VALUES (?, ?, ?, ?, ?, ?, ?, 'open', 'new')"
                " ON CONFLICT(id) DO UPDATE SET detail = excluded.detail,"
                " first_seen = excluded.first_seen, last_seen = excluded.last_seen,"
                " status = 'open', triage = 'new'",
                (
                    defect.id,
                    defect.kind,
                    defect.severity,
                    defect.subject,
                    defect.detail,
                    iso(defect.first_seen),
                    iso(defect.last_seen),
                ),
            )
            self.conn.execute(
                "INSERT INTO defect_log(defect_id, change, at) VALUES (?, 'new', ?)",
                (defect.id, iso(now)),
            )
            return True
        self.conn.execute(
            "UPDATE defects SET last_seen = ?, detail = ? WHERE id = ?",
            (iso(defect.last_seen), defect.detail, defect.id),
        )
        return False

    def resolve_defect(self, defect_id: str, now: datetime) -> None:
        cur = self.conn.execute(
            "UPDATE defects SET status = 'resolved', last_seen = ? WHERE id = ? AND status = 'open'",
            (iso(now), defect_id),
        )
        if cur.rowcount:
            self.conn.execute(
                "INSERT INTO defect_log(defect_id, change, at) VALUES (?, 'resolved', ?)",
                (defect_id, iso(now)),
            )

    def defects(self, status: str | None = None) -> list[Defect]:
        sql = "SELECT * FROM defects"
        params: tuple[Any, ...] = ()
        if status:
            sql += " WHERE status = ?"
            params = (status,)
        sql += " ORDER BY first_seen, id"
        return [
            Defect(
                id=r["id"],
                kind=r["kind"],
                severity=r["severity"],
                subject=r["subject"],
                detail=r["detail"],
                first_seen=parse_iso(r["first_seen"]),  # type: ignore[arg-type]
                last_seen=parse_iso(r["last_seen"]),  # type: ignore[arg-type]
                status=r["status"],
                triage=r["triage"],
            )
            for r in self.conn.execute(sql, params)
        ]

    def defect_changes_since(self, seq: int) -> list[tuple[int, str, str]]:
        return [
            (int(r[0]), r[1], r[2])
            for r in self.conn.execute(
                "SELECT seq, defect_id, change FROM defect_log WHERE seq > ? ORDER BY seq", (seq,)
            )
        ]
