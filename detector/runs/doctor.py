"""`logwarden doctor`: is this installation able to do its job, in one view (what
`fail2ban-client status` and `cscli metrics` give their operators).

Each check is a value: what was looked at, ok / warn / fail, and one line saying what was found
or what to do. Warnings do not fail the doctor; any failure does. The state is read without
being created or migrated: a doctor must not change what it examines.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from detector.config import Config
from detector.errors import LogwardenError
from detector.model import parse_iso
from detector.sources.discovery import discover_sources
from detector.state.readonly import connect_read_only

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    area: str  # config | checklist | policy | state | source | channels | last run | defects | audit
    status: str  # ok | warn | fail
    detail: str
    hint: str = ""  # what to do about it

    def to_dict(self) -> dict[str, Any]:
        return {"area": self.area, "status": self.status, "detail": self.detail, "hint": self.hint}


def guarded(area: str, run: Callable[[], list[Check]]) -> list[Check]:
    """A check that raises becomes a failed check naming the error (the doctor goes on)."""
    try:
        return run()
    except LogwardenError as exc:
        lines = str(exc).splitlines()
        more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
        return [Check(area, FAIL, (lines[0] if lines else type(exc).__name__) + more)]
    except (OSError, sqlite3.Error, ValueError) as exc:
        return [Check(area, FAIL, f"{type(exc).__name__}: {exc}")]


def config_check(config: Config) -> list[Check]:
    if config.path is None:
        return [Check("config", WARN, "no logwarden.yaml found: bundled checklist and policy, no sources",
                      "write one (docs/deploy.md) and pass it with -c or $LOGWARDEN_CONFIG")]
    return [Check("config", OK, f"{config.path}: {len(config.applications)} application(s), "
                                f"{len(config.sources())} source(s), timezone {config.timezone}")]


def state_check(state: Path) -> list[Check]:
    """The state file: there, private, ours, writable; its directory writable (WAL, lock)."""
    if not state.exists():
        return [Check("state", WARN, f"{state} does not exist yet",
                      "the first `logwarden scan` creates it (make sure its directory is writable by the service user)")]
    info = state.stat()
    problems = []
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        problems.append(f"mode {stat.S_IMODE(info.st_mode):04o} lets others read it: chmod 600 {state}")
    if not os.access(state, os.R_OK | os.W_OK) or not os.access(state.parent, os.W_OK | os.X_OK):
        problems.append(f"not writable by uid {os.getuid()} (file or directory {state.parent}): run as the service user")
    if problems:
        return [Check("state", FAIL, f"{state}: " + "; ".join(problems))]
    return [Check("state", OK, f"{state} (mode {stat.S_IMODE(info.st_mode):04o}, uid {info.st_uid}, "
                               f"{info.st_size / 1e6:.1f} MB)")]


def _read_only(state: Path) -> sqlite3.Connection:
    conn = connect_read_only(state, timeout=5.0)
    conn.row_factory = sqlite3.Row
    return conn


def source_checks(config: Config, now: datetime) -> list[Check]:
    """Each configured source: files matched, readable, when last written."""
    specs = config.sources()
    if not specs:
        return [Check("source", WARN, "no sources configured: scans read only the paths given on the command line")]
    files, missing = discover_sources(specs)
    checks = [Check("source", FAIL, f"{spec.application or '-'} {spec.path}: no file matches",
                    "check the glob and that the log is written") for spec in missing]
    for spec in specs:
        if spec in missing:
            continue
        own = [f for f in files if f.source == spec]
        unreadable = [f for f in own if not os.access(f.path, os.R_OK)]
        if unreadable:
            checks.append(Check("source", FAIL, f"{spec.application or '-'} {spec.path}: {len(unreadable)} of "
                                f"{len(own)} file(s) unreadable by uid {os.getuid()} ({unreadable[0].path})",
                                "add the service user to the log files' group (adm on Debian)"))
            continue
        newest = max((f.path.stat().st_mtime for f in own), default=None)
        age = now.timestamp() - newest if newest is not None else None
        silent = spec.max_silence is not None and age is not None and age > spec.max_silence.total_seconds()
        checks.append(Check("source", WARN if silent else OK,
                            f"{spec.application or '-'} {spec.path}: {len(own)} file(s), newest written "
                            f"{_ago(age)}{' (longer than its max_silence)' if silent else ''}"))
    return checks


def run_checks(state: Path, now: datetime, stale_after: timedelta) -> list[Check]:
    """The last run, open defects: read from the state without changing it."""
    if not state.exists():
        return []
    conn = _read_only(state)
    try:
        row = conn.execute("SELECT mode, started_at, finished_at, stats FROM runs WHERE finished_at IS NOT NULL"
                           " ORDER BY id DESC LIMIT 1").fetchone()
        committed = conn.execute("SELECT MAX(committed_at) FROM ingest_log").fetchone()[0]
        defects = conn.execute("SELECT kind, severity, subject FROM defects WHERE status = 'open'"
                               " ORDER BY severity, kind").fetchall()
    finally:
        conn.close()
    checks = [_last_run(row, now, stale_after) if row is not None or committed is None else Check(
        "last run", OK, f"no cron run recorded; lines last committed {committed} (the daemon records no runs: "
                        "its /health endpoint tells when it last passed)")]
    if defects:
        worst = "fail" if any(d["severity"] in ("high", "critical") for d in defects) else WARN
        shown = "; ".join(f"{d['kind']} {d['subject']}" for d in defects[:3])
        checks.append(Check("defects", worst, f"{len(defects)} open: {shown}{' ...' if len(defects) > 3 else ''}",
                            "`logwarden incidents list` shows them as incidents"))
    else:
        checks.append(Check("defects", OK, "no open defect (gaps, missing or silent sources)"))
    return checks


def _last_run(row: Any, now: datetime, stale_after: timedelta) -> Check:
    if row is None:
        return Check("last run", WARN, "no run has finished yet", "run `logwarden scan` (or start the cron job)")
    finished = parse_iso(row["finished_at"])
    stats = json.loads(row["stats"] or "{}")
    age = (now - finished).total_seconds() if finished else None
    detail = (f"{row['mode']} finished {row['finished_at']} ({_ago(age)}): {stats.get('files', 0)} file(s), "
              f"{stats.get('lines_read', 0):,} lines, {stats.get('lines_unparsed', 0):,} unparsed")
    if age is not None and age > stale_after.total_seconds():
        return Check("last run", FAIL, detail, f"older than {_ago(stale_after.total_seconds(), suffix='')}: "
                                               "is the cron job or the daemon running?")
    return Check("last run", OK, detail)


def _ago(seconds: float | None, suffix: str = " ago") -> str:
    if seconds is None:
        return "never"
    value = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= size:
            return f"{value / size:.0f} {unit}{suffix}"
    return f"{value:.0f} s{suffix}"
