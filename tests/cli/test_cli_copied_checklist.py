"""A checklist copied out of the repository (`cp -r rules /etc/logwarden/rules`) has no sample
logs next to it: every command works with it, only `rules test` needs the samples."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from clikit import run_cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    target = tmp_path / "etc" / "logwarden" / "rules"
    shutil.copytree(REPO / "rules", target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return target


def test_scan_validate_and_list_work_with_a_copied_checklist(
    copied: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "state.db")
    scanned = run_cli(capsys, "scan", str(REPO / "sample_logs" / "infra" / "auth.log"), "--checklist", str(copied),
                      "--state", state, "--no-escalate", "--now", "2026-11-23T12:00:00Z", "--format", "json")
    assert scanned.code == 0, scanned.err
    assert "not found" not in scanned.err
    assert scanned.json()["findings"], "the copied checklist detects like the original"

    validated = run_cli(capsys, "rules", "validate", "--checklist", str(copied))
    assert validated.code == 0, validated.err
    assert "no problems" in validated.out
    assert run_cli(capsys, "rules", "list", "--checklist", str(copied)).code == 0
    assert run_cli(capsys, "match", str(REPO / "sample_logs" / "infra" / "auth.log"), "--checklist", str(copied)).code == 0


def test_rules_test_names_the_missing_samples_and_exits_2(copied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tested = run_cli(capsys, "rules", "test", "ssh-bruteforce", "--checklist", str(copied))
    assert tested.code == 2
    scenario = copied / "scenarios" / "ssh-bruteforce.yaml"
    assert f"{scenario}:" in tested.err
    assert "sample log 'sample_logs/scenarios/ssh-bruteforce/positive.log' not found" in tested.err
    assert "`rules test` needs the samples next to the checklist" in tested.err
