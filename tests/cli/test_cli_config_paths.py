"""Paths written in logwarden.yaml are relative to the file, whatever the working directory and
however the file is named on the command line (`-c logwarden.yaml`, as people type it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from clikit import run_cli

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-11-23T12:00:00Z"

CONFIG = """\
state: state/lw.db
process:
  owner: secops
applications:
  - name: bastion
    criticality: high
    owner: team-ops
    sources:
      - {path: "logs/auth.log*", kind: auth}
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """/etc/logwarden-like directory: a config whose state and source globs are relative to it."""
    root = tmp_path / "site"
    (root / "logs").mkdir(parents=True)
    shutil.copy(REPO / "sample_logs" / "infra" / "auth.log", root / "logs" / "auth.log")
    (root / "logwarden.yaml").write_text(CONFIG)
    return root


def test_a_relative_config_path_matches_its_sources_in_every_command(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(site)
    scanned = run_cli(capsys, "scan", "-c", "logwarden.yaml", "--no-escalate", "--now", NOW, "--format", "json")
    assert scanned.code == 0, scanned.err
    assert scanned.json()["stats"]["files"] == 1
    assert (site / "state" / "lw.db").is_file()

    report = run_cli(capsys, "report", "maturity", "-c", "logwarden.yaml", "--format", "json", "--now", NOW)
    assert report.code == 0, report.err
    doc = report.json()
    bastion = next(a for a in doc["evidence"]["applications"] if a["name"] == "bastion")
    assert bastion["analyzed"] is True
    assert bastion["sources"][0]["path"] == str(site.resolve() / "logs" / "auth.log*")
    assert bastion["sources"][0]["files"] == 1
    assert doc["activities"]["O-IM-1-A"]["coverage"]["numerator"] == 1
    assert doc["activities"]["O-IM-1-A"]["coverage"]["denominator"] == 1


def test_the_same_config_named_from_another_directory_reads_the_same_state(
    site: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(site)
    assert run_cli(capsys, "scan", "-c", "logwarden.yaml", "--no-escalate", "--now", NOW).code == 0
    elsewhere = site.parent / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    listed = run_cli(capsys, "findings", "-c", "../site/logwarden.yaml", "--format", "json")
    assert listed.code == 0, listed.err
    assert listed.json()["findings"], "the findings of the scan above, read through the same config"
    assert not (elsewhere / "state").exists()
