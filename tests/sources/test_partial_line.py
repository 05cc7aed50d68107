"""A last line without a newline: held back while the file may still be written, read once the
file has been quiet for the grace period or is not the live file (DESIGN §10, issue 13)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from helpers import Scanner, access_lines, write

from detector.config import load_config


def _age(path: Path, seconds: float) -> datetime:
    """Set the file's mtime `seconds` in the past; return now."""
    now = datetime.now(timezone.utc)
    stamp = now.timestamp() - seconds
    os.utime(path, (stamp, stamp))
    return now


def test_a_quiet_file_gives_up_its_last_line(scanner: Scanner, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = access_lines(0, 5)
    write(log, lines, newline_at_end=False)
    now = _age(log, 5)
    scanner.scan(log, now=now)
    assert scanner.sink.lines == lines[:4], "still being written: the last line waits"
    scanner.scan(log, now=now + timedelta(seconds=61))
    assert scanner.sink.lines == lines, "quiet for the grace period: read once"
    scanner.scan(log, now=now + timedelta(seconds=120))
    assert scanner.sink.lines == lines, "and never again"
    more = access_lines(5, 3)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write("\n" + "\n".join(more) + "\n")
    scanner.scan(log, now=now + timedelta(seconds=180))
    assert scanner.sink.lines == lines + more


def test_a_rotated_generation_is_read_to_its_last_byte(scanner: Scanner, tmp_path: Path) -> None:
    rotated = tmp_path / "access.log.1"
    lines = access_lines(0, 4)
    write(rotated, lines, newline_at_end=False)
    write(tmp_path / "access.log", access_lines(4, 2))
    scanner.scan(tmp_path)  # the rotated file was written a moment ago: no grace needed
    assert sorted(scanner.sink.lines) == sorted(lines + access_lines(4, 2))


def test_the_grace_period_is_configurable(tmp_path: Path) -> None:
    config_file = tmp_path / "logwarden.yaml"
    config_file.write_text("state: state.db\npartial_line_grace: 5m\n")
    assert load_config(config_file).partial_line_grace == timedelta(minutes=5)
    config_file.write_text("state: state.db\npartial_line_grace: soon\n")
    try:
        load_config(config_file)
    except Exception as exc:  # noqa: BLE001 - the config error type is what the CLI reports
        assert "partial_line_grace" in str(exc) or "duration" in str(exc)
        assert str(config_file) in str(exc)
    else:
        raise AssertionError("a bad duration must be refused")
