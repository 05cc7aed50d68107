"""Signals: SIGTERM finishes the batch in hand, commits and exits 0, and a restart resumes at
the exact byte; SIGHUP reloads the checklist, and an invalid one is rejected while the old one
keeps running."""

from __future__ import annotations

import os
import random
import shutil
import signal
from datetime import timedelta
from pathlib import Path

from detector.checklist import load_checklist
from watchkit import (
    T0,
    Watcher,
    access_benign,
    access_log4shell,
    append,
    assert_contiguous,
    auth_benign,
    bastion_config,
    auth_failure,
    auth_quiet,
    comparable,
    findings,
    query,
    ranges_by_file,
    scan_findings,
    wait_for,
    wait_ingested,
)

REPO = Path(__file__).resolve().parents[2]
BUNDLED_RULES = REPO / "rules"


def _big_auth_log(path: Path, lines: int, bursts: int) -> int:
    """Benign sshd lines (mostly ones no rule reads) with `bursts` brute-force bursts of 8
    failures spread through."""
    rng = random.Random(7)
    burst_at = {int(lines * (k + 0.5) / bursts): k for k in range(bursts)}
    out, n = [], 0
    while n < lines:
        if n in burst_at:
            k = burst_at[n]
            at = T0 + timedelta(seconds=2 * n)
            out.extend(auth_failure(f"203.0.113.{130 + k}", j, at + timedelta(seconds=j)) for j in range(8))
            n += 8
            continue
        at = T0 + timedelta(seconds=2 * n + rng.random())
        out.append(auth_benign(n, at) if n % 100 == 0 else auth_quiet(n, at))
        n += 1
    append(path, out)
    return n


def test_sigterm_commits_the_batch_in_hand_and_a_restart_resumes_exactly(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "auth.log"
    args = [str(logs), "--no-escalate", "--chunk-size", str(32 << 10)]
    with Watcher(tmp_path, args) as first:
        state = first.state
        total = _big_auth_log(log, 60_000, 10)
        wait_for(lambda: query(state, "SELECT 1 FROM ingest_log LIMIT 1"), "the first committed batch")
        assert first.stop(signal.SIGTERM) == 0
    assert "event=stopped signal=SIGTERM" in first.log()
    assert_contiguous(state)
    (ranges,) = ranges_by_file(state).values()
    size = log.stat().st_size
    assert ranges[-1][1] < size, "the daemon finished before SIGTERM arrived; make the log larger"
    checkpoint = query(state, "SELECT offset FROM files")[0][0]
    assert checkpoint == ranges[-1][1], "the checkpoint is not where the last committed batch ended"

    with Watcher(tmp_path, args, name="watch-again") as second:
        wait_ingested(state, total, second)
        assert second.stop(signal.SIGINT) == 0
    assert_contiguous(state)
    (ranges,) = ranges_by_file(state).values()
    assert ranges[0][0] == 0 and ranges[-1][1] == size
    watched = findings(state)
    scanned = scan_findings([logs], tmp_path / "scan.db", "--no-escalate")["findings"]
    assert sorted(map(comparable, watched)) == sorted(map(comparable, scanned))
    assert sorted(f["entity"]["source.ip"] for f in watched if f["scenario_id"] == "ssh-bruteforce") == sorted(
        f"203.0.113.{130 + k}" for k in range(10)
    )


def _checklist(tmp_path: Path, scenarios: list[str]) -> Path:
    rules = tmp_path / "rules"
    (rules / "scenarios").mkdir(parents=True)
    (tmp_path / "sample_logs").symlink_to(REPO / "sample_logs")  # scenarios name their samples
    shutil.copy(BUNDLED_RULES / "checklist.yaml", rules / "checklist.yaml")
    for sid in scenarios:
        shutil.copy(BUNDLED_RULES / "scenarios" / f"{sid}.yaml", rules / "scenarios" / f"{sid}.yaml")
    return rules


def _set_version(rules: Path, version: str) -> None:
    meta = rules / "checklist.yaml"
    text = meta.read_text()
    old = next(line for line in text.splitlines() if line.startswith("version:"))
    meta.write_text(text.replace(old, f'version: "{version}"'))


def _scenarios_found(state: Path) -> set[tuple[str, str]]:
    return {(f["scenario_id"], f["entity"].get("source.ip", "")) for f in findings(state)}


def test_sighup_applies_a_valid_checklist_and_rejects_an_invalid_one(tmp_path: Path) -> None:
    rules = _checklist(tmp_path, ["ssh-bruteforce"])
    logs = tmp_path / "logs"
    logs.mkdir()
    access, auth = logs / "access.log", logs / "auth.log"
    append(auth, [auth_benign(i) for i in range(5)])
    args = [str(logs), "--checklist", str(rules), "--no-escalate", "--recheck", "1"]
    with Watcher(tmp_path, args) as watcher:
        state = watcher.state
        # before the reload, Log4Shell is not in the checklist: no finding
        append(access, [access_benign(1), access_log4shell("203.0.113.160", T0)])
        wait_ingested(state, 7, watcher)
        assert _scenarios_found(state) == set()

        # a valid new version: one more scenario
        shutil.copy(BUNDLED_RULES / "scenarios" / "web-log4shell-jndi.yaml", rules / "scenarios")
        _set_version(rules, "2026.11.1")
        watcher.send(signal.SIGHUP)
        watcher.wait_log("event=reloaded checklist_version=2026.11.1")
        append(access, [access_log4shell("203.0.113.161", T0 + timedelta(seconds=5))])
        wait_for(lambda: ("web-log4shell-jndi", "203.0.113.161") in _scenarios_found(state),
                 "a finding of the scenario added by the reload")

        # an invalid new version: rejected with file and line, the running checklist kept
        broken = rules / "scenarios" / "broken.yaml"
        broken.write_text("id: broken\nversion: 1.0.0\ntitle: broken\nstatus: stable\nowner: secops\n"
                          "severity: loud\nconfidence: 0.5\nrequires: [auth]\nrules: {}\n")
        _set_version(rules, "2026.11.2")
        watcher.send(signal.SIGHUP)
        rejected = watcher.wait_log("event=reload-rejected")
        line = next(ln for ln in rejected.splitlines() if "event=reload-rejected" in ln)
        assert f"{broken}:6:" in line, line
        assert "keeping=" in line and "2026.11.1" in line
        append(auth, [auth_failure("203.0.113.162", j, T0 + timedelta(seconds=60 + j)) for j in range(6)])
        append(access, [access_log4shell("203.0.113.163", T0 + timedelta(seconds=90))])
        wait_for(lambda: {("ssh-bruteforce", "203.0.113.162"), ("web-log4shell-jndi", "203.0.113.163")}
                 <= _scenarios_found(state), "findings of both scenarios of the running checklist")
        assert watcher.proc.poll() is None
        assert watcher.stop() == 0
    versions = [r[0] for r in query(state, "SELECT version FROM checklist_loads ORDER BY id")]
    assert versions == [load_checklist(BUNDLED_RULES).version, "2026.11.1"]


def test_sighup_with_a_broken_config_keeps_running(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    append(log, [auth_benign(1)])
    config = bastion_config(tmp_path, f"{logs}/*.log")
    with Watcher(tmp_path, ["-c", str(config), "--no-escalate"], state=tmp_path / "state.db") as watcher:
        wait_ingested(watcher.state, 1, watcher)
        config.write_text(config.read_text() + "unknown_key: 1\n")
        os.kill(watcher.proc.pid, signal.SIGHUP)
        rejected = watcher.wait_log("event=reload-rejected")
        assert "unknown key 'unknown_key'" in rejected
        append(log, [auth_failure("203.0.113.170", j, T0 + timedelta(seconds=j)) for j in range(6)])
        wait_for(lambda: ("ssh-bruteforce", "203.0.113.170") in _scenarios_found(watcher.state),
                 "a finding after the rejected reload")
        assert watcher.stop() == 0
