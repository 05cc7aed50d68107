"""A mistyped `--state` or `-c` must not look like a quiet, healthy system: commands that read or
act on stored state refuse a path without a database (exit 2, naming it and how to create it),
and a scan of a path that does not exist leaves no database and no lock behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from clikit import run_cli

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-11-23T12:00:00Z"

READERS = [
    ["findings"],
    ["findings", "--format", "json"],
    ["incidents", "list"],
    ["incidents", "show", "INC-0123456789"],
    ["incidents", "ack", "INC-0123456789", "--by", "alice"],
    ["incidents", "resolve", "INC-0123456789", "--by", "alice", "--note", "x"],
    ["incidents", "snooze", "INC-0123456789", "--for", "1h"],
    ["incidents", "note", "INC-0123456789", "--by", "alice", "--text", "x"],
    ["escalation", "verify-audit"],
    ["escalation", "tick"],
    ["rules", "history"],
    ["report", "escalation"],
    ["report", "maturity"],
]


@pytest.mark.parametrize("argv", READERS, ids=lambda a: " ".join(a[:2]))
def test_a_command_on_a_state_that_does_not_exist_exits_2_and_creates_nothing(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "sate" / "state.db"
    clock = [] if argv[0] == "findings" else ["--now", NOW]
    result = run_cli(capsys, *argv, "--state", str(typo), *clock)
    assert result.code == 2, (result.out, result.err)
    assert f"{typo}: no logwarden state database here" in result.err
    assert "logwarden scan" in result.err
    assert "audit trail OK" not in result.out and "no findings" not in result.out
    assert not typo.parent.exists(), "neither the database nor its directory or lock was created"


def test_a_mistyped_config_state_is_refused_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "logwarden.yaml"
    config.write_text("state: stat/state.db\n")  # a typo of state/state.db, relative to the config
    result = run_cli(capsys, "incidents", "list", "-c", str(config))
    assert result.code == 2
    assert f"{tmp_path / 'stat' / 'state.db'}: no logwarden state database here" in result.err
    assert not (tmp_path / "stat").exists()


def test_the_same_commands_work_once_a_scan_created_the_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state" / "state.db"
    scanned = run_cli(capsys, "scan", str(REPO / "sample_logs" / "infra" / "auth.log"), "--state", str(state),
                      "--now", NOW)
    assert scanned.code == 0, scanned.err
    audit = run_cli(capsys, "escalation", "verify-audit", "--state", str(state), "--now", NOW)
    assert audit.code == 0 and "audit trail OK" in audit.out
    assert "audit trail OK: 0 entries" not in audit.out
    assert run_cli(capsys, "incidents", "list", "--state", str(state), "--now", NOW).code == 0


def test_scan_of_a_path_that_does_not_exist_leaves_no_state_and_no_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state" / "state.db"
    result = run_cli(capsys, "scan", str(tmp_path / "nonexistent"), "--state", str(state), "--now", NOW)
    assert result.code == 2
    assert f"{tmp_path / 'nonexistent'}: no such file or directory" in result.err
    assert not state.parent.exists()
