"""`logwarden report escalation|maturity`: options, output files (0600), and clear errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import statekit
from clikit import run_cli

WINDOW = ["--since", "2026-11-16", "--until", "2026-11-23", "--now", "2026-11-24T12:00:00Z"]


def lw(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    result = run_cli(capsys, *argv)
    return result.code, result.out, result.err


def test_escalation_report_as_json_on_stdout(kit: statekit.Kit, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = lw(capsys, "report", "escalation", "-c", str(kit.config.path), "--format", "json", *WINDOW)
    assert code == 0
    document = json.loads(out)
    assert document["report"] == "escalation" and document["summary"]["incidents"] == 5
    assert document["period"] == {"since": "2026-11-16T00:00:00Z", "until": "2026-11-23T00:00:00Z"}
    assert document["audit"]["ok"] is True


def test_html_report_written_private(kit: statekit.Kit, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "out" / "escalation.html"
    code, out, err = lw(capsys, "report", "escalation", "-c", str(kit.config.path), "--format", "html",
                        "-o", str(target), *WINDOW)
    assert code == 0 and out == "" and "wrote" in err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # it holds log lines and audit data
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind


def test_maturity_report_as_markdown(kit: statekit.Kit, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = lw(capsys, "report", "maturity", "-c", str(kit.config.path), "--now", "2026-11-24T12:00:00Z")
    assert code == 0
    assert out.startswith("# OWASP SAMM: Incident Management evidence")
    assert "| O\\-IM\\-3\\-B | Do you have a dedicated incident response team available? |" in out


def test_no_state_and_bad_periods_are_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = lw(capsys, "report", "escalation", "--state", str(tmp_path / "none.db"))
    assert code == 2 and "no logwarden state database here" in err and not (tmp_path / "none.db").exists()
    code, _, err = lw(capsys, "report", "maturity", "--state", str(tmp_path / "none.db"), "--since", "yesterday")
    assert code == 2 and "--since 'yesterday' is not ISO-8601" in err
    code, _, err = lw(capsys, "report", "escalation", "--state", str(tmp_path / "none.db"),
                      "--since", "2026-11-23", "--until", "2026-11-01")
    assert code == 2 and "is not before --until" in err


def test_a_broken_policy_is_reported_not_fatal(kit: statekit.Kit, capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("schema: 1\npolicies: 3\n")
    config = tmp_path / "logwarden.yaml"
    config.write_text(f"state: {kit.state}\nchecklist: {kit.checklist_dir}\nescalation: broken.yaml\n")
    code, out, _ = lw(capsys, "report", "escalation", "-c", str(config), "--format", "json", *WINDOW)
    assert code == 0
    document = json.loads(out)
    assert document["policy"] is None and f"{tmp_path}/broken.yaml:" in document["policy_error"]
    assert document["summary"]["incidents"] == 5  # the incidents carry the policy frozen at their opening
    code, out, _ = lw(capsys, "report", "maturity", "-c", str(config), "--format", "json", "--now", "2026-11-24T12:00:00Z")
    path = json.loads(out)["activities"]["O-IM-2-A"]["criteria"][2]
    assert path["status"] == "fail" and path["reason"].startswith("no escalation policy could be loaded")
