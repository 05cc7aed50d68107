"""A scan of the directory that holds logwarden's own state must not read that state (the
database, its WAL, the audit mirror, the notification journal) as logs."""

from __future__ import annotations

from pathlib import Path

from helpers import Scanner, access_lines, write


def test_state_files_next_to_the_logs_are_not_read(tmp_path: Path) -> None:
    scanner = Scanner(state=tmp_path / "state.db")
    lines = access_lines(0, 5)
    write(tmp_path / "access.log", lines)
    scanner.scan(tmp_path)  # creates state.db, state.db-wal, ...
    (tmp_path / "state.audit.jsonl").write_text('{"seq": 1, "action": "opened"}\n')
    (tmp_path / "journal.jsonl").write_text('{"event": "trigger", "line": "GET /etc/passwd"}\n')
    write(tmp_path / "access.log", lines + access_lines(5, 2))
    result = scanner.scan(tmp_path)
    assert result.stats["files"] == 1
    assert scanner.sink.lines == access_lines(0, 7)
    assert result.stats["lines_unparsed"] == 0


def test_a_journal_elsewhere_is_an_ordinary_log(tmp_path: Path) -> None:
    scanner = Scanner(state=tmp_path / "state" / "state.db")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "journal.jsonl").write_text('{"ts": "2026-11-23T10:00:00Z", "level": "info", "msg": "hello"}\n')
    result = scanner.scan(logs)
    assert result.stats["files"] == 1
    assert result.stats["lines_parsed"] == 1


def test_kept_exercise_states_next_to_the_state_are_not_read(tmp_path: Path) -> None:
    scanner = Scanner(state=tmp_path / "state.db")
    write(tmp_path / "access.log", access_lines(0, 3))
    drills = tmp_path / "state.exercises" / "EX-0123456789"
    drills.mkdir(parents=True)
    (drills / "journal.jsonl").write_text('{"event": "trigger", "line": "GET /etc/passwd"}\n')
    write(drills / "000-ssh-bruteforce.log", access_lines(10, 2))
    result = scanner.scan(tmp_path)
    assert result.stats["files"] == 1
    assert scanner.sink.lines == access_lines(0, 3)
