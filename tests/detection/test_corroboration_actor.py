"""Corroboration must share the entity that matters: the actor (user, address), not merely the
host every finding on a machine shares. One account's sudo failures must not lift another
account's root shell; the same account's failures must."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from detector.checklist import load_checklist
from detector.config import Config
from detector.detection.engine import DetectionEngine
from detector.model import Finding
from detector.runs.scan import run_scan
from detector.state.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def sudo_failures(user: str, uid: int) -> list[str]:
    """Three rounds of failed sudo passwords by `user` on web7 (sudo-auth-failures, 0.5)."""
    lines = []
    for minute in (1, 2, 3):
        lines += [
            f"Nov 23 10:0{minute}:01 web7 sudo: pam_unix(sudo:auth): authentication failure; logname={user} "
            f"uid={uid} euid=0 tty=/dev/pts/3 ruser={user} rhost=  user={user}",
            f"Nov 23 10:0{minute}:09 web7 sudo:   {user} : 3 incorrect password attempts ; TTY=pts/3 ; "
            f"PWD=/home/{user} ; USER=root ; COMMAND=/bin/bash",
        ]
    return lines


def root_shell(user: str) -> list[str]:
    """`user` runs `sudo -i` on web7 (sudo-root-shell, prior 0.30)."""
    return [f"Nov 23 10:05:00 web7 sudo:   {user} : TTY=pts/4 ; PWD=/home/{user} ; USER=root ; COMMAND=/bin/bash"]


def scan(tmp_path: Path, lines: list[str]) -> dict[str, Finding]:
    log = tmp_path / "auth.log"
    log.write_text("\n".join(lines) + "\n")
    checklist = load_checklist()
    state = tmp_path / "state.db"
    config = Config(path=None, state=state, checklist=checklist.directory, escalation=None, timezone="UTC")
    with Store(state) as store:
        run_scan(store, config, [log], NOW, sink=DetectionEngine(checklist), log=lambda _m: None)
        return {f"{f.scenario_id}/{f.entity.get('user.name')}": f for f in store.findings()}


@pytest.mark.parametrize("order", ["failures first", "shell first"])
def test_another_accounts_sudo_failures_do_not_corroborate_a_root_shell(tmp_path: Path, order: str) -> None:
    failures, shell = sudo_failures("mallory", 1050), root_shell("alice")
    found = scan(tmp_path, failures + shell if order == "failures first" else shell + failures)
    assert set(found) == {"sudo-auth-failures/mallory", "sudo-root-shell/alice"}
    alice = found["sudo-root-shell/alice"]
    assert alice.confidence == pytest.approx(0.30)
    assert not any("corroborated" in reason for reason in alice.confidence_reasons)
    assert not any("corroborated" in reason for reason in found["sudo-auth-failures/mallory"].confidence_reasons)


def test_the_same_accounts_sudo_failures_corroborate_its_root_shell(tmp_path: Path) -> None:
    found = scan(tmp_path, sudo_failures("alice", 1001) + root_shell("alice"))
    shell = found["sudo-root-shell/alice"]
    assert shell.confidence > 0.30 + 0.1
    assert any("corroborated by sudo-auth-failures" in r and "user.name=alice" in r for r in shell.confidence_reasons)
