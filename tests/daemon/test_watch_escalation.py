"""Escalation runs inside the daemon: a level fires at its deadline while no log line arrives,
and the metrics endpoint exposes every series operators rely on."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from watchkit import (
    T0,
    Watcher,
    access_log4shell,
    append,
    auth_failure,
    lines_ingested,
    metrics_address,
    query,
    wait_for,
    wait_ingested,
)

pytest.importorskip("escalation.engine.service", reason="the escalation engine is not there yet")


def _setup(tmp_path: Path, first_wait: str = "2s") -> tuple[Path, Path, Path]:
    """A config whose policy pages on-call, then the lead after `first_wait` without an ack."""
    logs = tmp_path / "logs"
    logs.mkdir()
    journal = tmp_path / "notifications.jsonl"
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        # the log lines are dated T0 (November 2026) while the daemon runs on the wall clock:
        # these tests are about timers, so old evidence pages as if it were new
        "schema: 1\ntimezone: UTC\nstale_after: never\n"
        f"channels:\n  journal: {{kind: file, path: '{journal}'}}\n"
        "contacts:\n  on-call: {channels: [journal]}\n  lead: {channels: [journal]}\n"
        "policies:\n"
        "  - name: page\n    match: {severity: low}\n    after_hours: notify\n    levels:\n"
        f"      - {{notify: [on-call], wait: {first_wait}}}\n"
        "      - {notify: [lead], wait: 1h}\n"
    )
    config = tmp_path / "logwarden.yaml"
    config.write_text(f"state: {tmp_path / 'state.db'}\nescalation: {policy}\n")
    return config, logs, journal


def _burst(ip: str) -> list[str]:
    return [auth_failure(ip, j, T0 + timedelta(seconds=j)) for j in range(6)]


def _steps(state: Path) -> list[tuple]:
    return query(state, "SELECT action, level, due_at, ran_at FROM escalation_steps ORDER BY id")


def test_a_level_fires_at_its_deadline_while_the_daemon_idles(tmp_path: Path) -> None:
    config, logs, journal = _setup(tmp_path)
    # re-checks and scheduled ticks far apart: only the incident's own due time can wake the loop
    args = [str(logs), "-c", str(config), "--recheck", "600", "--tick", "600"]
    with Watcher(tmp_path, args, state=tmp_path / "state.db") as watcher:
        state = watcher.state
        append(logs / "auth.log", _burst("203.0.113.180"))
        wait_ingested(state, 6, watcher)
        wait_for(lambda: query(state, "SELECT id FROM incidents WHERE level = 1"), "level 1 of the incident")
        ingested_before = lines_ingested(state)
        (incident_id, opened_at), = query(state, "SELECT id, opened_at FROM incidents")
        wait_for(lambda: query(state, "SELECT id FROM incidents WHERE level = 2"),
                 "level 2 after the 2s wait, with no new input")
        assert lines_ingested(state) == ingested_before, "new input arrived; the test proves nothing"
        assert watcher.stop() == 0
    fired = [(action, level) for action, level, _, _ in _steps(state)]
    assert fired[:2] == [("fire_level", 1), ("fire_level", 2)]
    due_at, ran_at = (datetime.fromisoformat(t) for t in _steps(state)[1][2:])
    assert ran_at >= due_at  # not early (as times: `...:02Z` sorts after `...:02.1Z` as text)
    sent = [json.loads(line) for line in journal.read_text().splitlines()]
    assert {(m.get("incident_id"), m.get("level")) for m in sent} >= {(incident_id, 1), (incident_id, 2)}


def test_metrics_endpoint_serves_the_listed_series_and_health(tmp_path: Path) -> None:
    config, logs, _journal = _setup(tmp_path, first_wait="1h")
    args = [str(logs), "-c", str(config), "--metrics-addr", "127.0.0.1:0", "--recheck", "1"]
    with Watcher(tmp_path, args, state=tmp_path / "state.db") as watcher:
        address = metrics_address(watcher)
        append(logs / "auth.log", _burst("203.0.113.181") + ["\x00\x01 not a log line \xff"])
        append(logs / "access.log", [access_log4shell("203.0.113.182", T0)])
        wait_ingested(watcher.state, 8, watcher)
        wait_for(lambda: query(watcher.state, "SELECT 1 FROM outbox WHERE status = 'sent'"), "a notification sent")

        def scrape() -> str:
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
                return response.read().decode()

        auth_stream = str(logs / "auth.log")
        wanted = [
            f'logwarden_lines_read_total{{source="{auth_stream}"}} 7.0',
            f'logwarden_lines_parsed_total{{source="{auth_stream}"}} 6.0',
            f'logwarden_lines_unparsed_total{{source="{auth_stream}"}} 1.0',
            "logwarden_pass_duration_seconds_count",
            "logwarden_batch_duration_seconds_count",
            "logwarden_detection_lag_seconds_count",
            'logwarden_findings_total{change="new",scenario="ssh-bruteforce"} 1.0',
            'logwarden_findings_total{change="new",scenario="web-log4shell-jndi"} 1.0',
            'logwarden_incidents{scenario="ssh-bruteforce",status="open"} 1.0',
            'logwarden_notifications{channel="journal",status="sent"}',
            "logwarden_observer_restarts_total 0.0",
            "logwarden_escalation_runs_total",
        ]
        def complete() -> str | None:
            text = scrape()
            return text if all(w in text for w in wanted) else None

        try:
            text = wait_for(complete, "every listed series in /metrics", timeout=30)
        except AssertionError:
            missing = [w for w in wanted if w not in scrape()]
            raise AssertionError(f"missing from /metrics: {missing}") from None
        assert "# TYPE logwarden_pass_duration_seconds histogram" in text
        with urllib.request.urlopen(f"http://{address}/health", timeout=10) as response:
            assert response.status == 200
            health = json.loads(response.read())
        assert health["status"] == "ok" and health["observer"] == "inotify" and health["passes"] >= 1
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://{address}/nothing", timeout=10)
        assert missing.value.code == 404
        assert watcher.stop() == 0


def test_sighup_rejects_an_invalid_policy_and_applies_a_valid_one(tmp_path: Path) -> None:
    config, logs, journal = _setup(tmp_path, first_wait="1h")
    policy = tmp_path / "policy.yaml"
    good = policy.read_text()
    with Watcher(tmp_path, [str(logs), "-c", str(config)], state=tmp_path / "state.db") as watcher:
        state = watcher.state
        policy.write_text(good.replace("after_hours: notify", "after_hours: notify\n    colour: red"))
        watcher.send(signal.SIGHUP)
        rejected = watcher.wait_log("event=reload-rejected")
        assert f"{policy}:" in rejected and "colour" in rejected
        append(logs / "auth.log", _burst("203.0.113.183"))
        wait_for(lambda: query(state, "SELECT policy_name FROM incidents WHERE level = 1"),
                 "an incident escalated by the running policy")
        assert query(state, "SELECT policy_name FROM incidents") == [("page",)]  # the old policy runs

        policy.write_text(good.replace("name: page", "name: page-v2"))
        watcher.send(signal.SIGHUP)
        watcher.wait_log("event=reloaded")
        append(logs / "auth.log", _burst("203.0.113.184"))
        by_attacker = "SELECT dedup_key, policy_name FROM incidents WHERE scenario_id = 'ssh-bruteforce' ORDER BY 1"
        wait_for(lambda: len(query(state, by_attacker)) == 2, "an incident for the second attacker")
        assert query(state, by_attacker) == [
            ("ssh-bruteforce|source.ip=203.0.113.183", "page"),  # frozen when it opened
            ("ssh-bruteforce|source.ip=203.0.113.184", "page-v2"),
        ]
        assert watcher.stop() == 0
    assert journal.exists()
