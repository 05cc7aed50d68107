"""logwarden's own files stay private whatever the umask and whatever was there before: 0600
files (state, WAL, lock, audit mirror, notification journal), 0700 for every directory it
creates; a file found more open is tightened on open and the change reported."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from watchkit import T0, append, auth_failure

LOGWARDEN = str(Path(sys.executable).with_name("logwarden"))
NOW = "2026-11-21T09:00:00Z"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _brute_force(logs: Path, ip: str, at_second: int) -> None:
    append(logs / "auth.log", [auth_failure(ip, j, T0 + timedelta(seconds=at_second + j)) for j in range(8)])


def _scan(logs: Path, state: Path, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    def set_umask() -> None:
        os.umask(umask)

    return subprocess.run([LOGWARDEN, "scan", str(logs), "--state", str(state), "--now", NOW],
                          capture_output=True, text=True, timeout=300, preexec_fn=set_umask)


def test_under_umask_000_every_directory_created_is_0700_and_every_file_0600(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    _brute_force(logs, "203.0.113.9", 0)
    state = tmp_path / "var" / "lib" / "logwarden" / "state.db"
    done = _scan(logs, state, umask=0o000)
    assert done.returncode == 0, done.stderr
    for directory in (tmp_path / "var", tmp_path / "var" / "lib", state.parent):
        assert _mode(directory) == 0o700, directory
    own = [p for p in state.parent.iterdir()]
    assert {p.name for p in own} >= {"state.db", "state.db.lock", "state.audit.jsonl", "journal.jsonl"}
    assert {p.name: _mode(p) for p in own} == {p.name: 0o600 for p in own}
    assert "permissions-tightened" not in done.stderr  # created private: nothing to report


def test_files_found_open_to_others_are_tightened_and_reported(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    _brute_force(logs, "203.0.113.9", 0)
    state = tmp_path / "state" / "state.db"
    assert _scan(logs, state).returncode == 0
    loose = [state, state.with_name("state.db.lock"), state.with_name("state.audit.jsonl"),
             state.with_name("journal.jsonl")]
    for path in loose:
        path.chmod(0o644)  # a copy restored by hand, or an older version's file
    _brute_force(logs, "203.0.113.10", 600)  # a new incident: the journal is written again
    done = _scan(logs, state)
    assert done.returncode == 0, done.stderr
    for path in loose:
        assert _mode(path) == 0o600, path
        reports = [line for line in done.stderr.splitlines() if "permissions-tightened" in line and f"path={path} " in line]
        assert len(reports) == 1, (path, done.stderr)
        assert "was=0644 now=0600" in reports[0] and reports[0].startswith("logwarden: warning:")
    again = _scan(logs, state)
    assert "permissions-tightened" not in again.stderr  # reported once, when changed


def test_a_directory_that_existed_is_left_alone(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    done = _scan(logs, shared / "state.db")
    assert done.returncode == 0, done.stderr
    assert _mode(shared) == 0o755  # the operator's directory: other files may need it as it is
    assert _mode(shared / "state.db") == 0o600
