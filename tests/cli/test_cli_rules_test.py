"""`logwarden rules test NAME...`: a name that is no scenario is an error, not "0 passed"."""

from __future__ import annotations

import pytest
from clikit import run_cli


def test_an_unknown_scenario_name_exits_2_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "rules", "test", "ssh-bruteforce", "ssh-bruteforse", "nosuchscenario")
    assert result.code == 2
    assert "0 passed" not in result.out
    assert "unknown scenario(s) 'ssh-bruteforse' (did you mean 'ssh-bruteforce'?), 'nosuchscenario'" in result.err
    assert "logwarden rules list" in result.err


def test_a_known_scenario_runs_its_samples(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "rules", "test", "ssh-bruteforce", "--format", "json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["failed"] == 0 and doc["passed"] >= 2
    assert {r["scenario"] for r in doc["results"]} == {"ssh-bruteforce"}
