"""A state database read from another process without writing to it (WAL: readers never block
the writer): `doctor`, and the tests and benchmarks that watch a running daemon."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect_read_only(state: Path, timeout: float = 30.0) -> sqlite3.Connection:
    """A read-only connection (a file URI, so any character of the path is taken as it is)."""
    return sqlite3.connect(f"{Path(state).resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)


def query_read_only(state: Path, sql: str, params: tuple = (), timeout: float = 30.0) -> list[tuple]:
    """The rows of `sql`; none while the database or the table does not exist yet (a daemon
    that has not written its first batch)."""
    if not Path(state).exists():
        return []
    conn = connect_read_only(state, timeout)
    try:
        return [tuple(row) for row in conn.execute(sql, params)]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()
