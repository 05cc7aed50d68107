"""sudo-root-shell on the realistic sample logs: Ansible `become` (the CI deploys of
sample_logs/README.md) is an ordinary deploy, a shell smuggled behind the same prefix is not."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from detector.checklist import load_checklist
from detector.config import Config
from detector.detection.engine import DetectionEngine
from detector.runs.scan import run_scan
from detector.state.store import Store

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def root_shells(tmp_path: Path, *paths: Path) -> list[dict[str, str]]:
    checklist = load_checklist()
    state = tmp_path / "state.db"
    config = Config(path=None, state=state, checklist=checklist.directory, escalation=None, timezone="UTC")
    with Store(state) as store:
        run_scan(store, config, list(paths), NOW, sink=DetectionEngine(checklist), log=lambda _m: None)
        return [f.entity for f in store.findings() if f.scenario_id == "sudo-root-shell"]


def test_ansible_become_in_the_sample_auth_logs_is_no_root_shell(tmp_path: Path) -> None:
    infra = REPO / "sample_logs" / "infra"
    assert "BECOME-SUCCESS-" in (infra / "auth.log").read_text()
    assert not [e for e in root_shells(tmp_path, infra) if e.get("user.name") == "deploy"]


def test_a_shell_behind_the_become_prefix_still_fires(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    prefix = "Nov 23 10:00:00 web9 sudo: deploy : PWD=/home/deploy ; USER=root ; COMMAND=/bin/sh -c echo BECOME-SUCCESS-abcdefghijklmnopqrstuvwxyzabcdef ; "
    log.write_text(
        prefix + "/usr/bin/python3\n"
        + prefix.replace("10:00:00", "10:01:00") + "/usr/bin/python3 /home/deploy/.ansible/tmp/ansible-tmp-1-2-3/AnsiballZ_copy.py\n"
        + prefix.replace("10:00:00", "10:02:00").replace("web9", "web8") + "/bin/bash\n"
    )
    assert root_shells(tmp_path, log) == [{"user.name": "deploy", "host.name": "web8"}]
