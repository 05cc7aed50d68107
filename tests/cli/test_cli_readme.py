"""README's first command, run as written: it scans the realistic sample logs (not the rule-test
fixtures of sample_logs/scenarios/) and the README says where the state is written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from clikit import run_cli

REPO = Path(__file__).resolve().parents[2]


def first_scan_command() -> list[str]:
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert first_block, "README has no sh block"
    line = next(line for line in first_block.group(1).splitlines() if "logwarden scan" in line)
    argv = shlex.split(line)
    return argv[argv.index("scan"):]


def test_the_first_command_scans_the_realistic_logs_and_names_its_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = first_scan_command()
    paths = [a for a in argv[1:] if a.startswith("sample_logs")]
    assert paths, argv
    assert not any("scenarios" in p for p in paths) and "sample_logs" not in [p.rstrip("/") for p in paths]
    state = argv[argv.index("--state") + 1]
    readme = (REPO / "README.md").read_text()
    intro = readme[: readme.index("## What `scan` does")]
    assert f"is written to `{state}`" in intro
    assert "`sample_logs/scenarios/`" in intro and "not part of it" in intro

    monkeypatch.chdir(REPO)
    ours = str(tmp_path / "state" / "state.db")  # the same command, into a private state
    result = run_cli(capsys, *[ours if a == state else a for a in argv], "--format", "json")
    assert result.code == 0, result.err
    doc = result.json()
    realistic = [p for d in paths for p in (REPO / d).rglob("*") if p.is_file() and p.name != "README.md"]
    assert doc["stats"]["files"] == len(realistic) >= 10
    assert len(doc["findings"]) >= 10
    evidence = {e["path"] for f in doc["findings"] for e in f["evidence"]}
    assert evidence and not [p for p in evidence if "/sample_logs/scenarios/" in p]
    assert Path(ours).is_file()
