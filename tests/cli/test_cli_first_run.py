"""First contact with existing logs: a backlog must not page as if it were happening now.

`scan --since` evaluates only recent events, `scan --baseline` records what is found without
escalating it, evidence older than the policy's `stale_after` (24 h by default) opens an incident
that pages nobody unless a policy asks for stale incidents, and every notification says how old
its evidence is."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from clikit import Result, run_cli

from detector.model import iso

ATTACK_AT = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)  # a Monday, business hours


def brute_force(ip: str, end: datetime) -> list[str]:
    """Seven failed root logins from `ip`, 40 s apart, the last one minute before `end`
    (ssh-bruteforce, high)."""
    return [
        f"{iso(end - timedelta(minutes=5) + timedelta(seconds=40 * i)).replace('Z', '+00:00')} bastion "
        f"sshd[811]: Failed password for root from {ip} port {40000 + i} ssh2"
        for i in range(7)
    ]


class Site:
    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root, self.capsys = root, capsys
        self.logs = root / "logs"
        self.logs.mkdir()
        self.state = root / "state" / "state.db"

    def append(self, lines: list[str]) -> None:
        with open(self.logs / "auth.log", "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")

    def lw(self, *argv: str, now: datetime) -> Result:
        return run_cli(self.capsys, *argv, "--state", str(self.state), "--now", iso(now))  # type: ignore[arg-type]

    def scan(self, *options: str, now: datetime) -> Result:
        result = self.lw("scan", str(self.logs), "--format", "json", *options, now=now)
        assert result.code == 0, result.err
        return result

    def pages(self) -> list[dict]:
        journal = self.state.parent / "journal.jsonl"
        return [json.loads(line) for line in journal.read_text().splitlines()] if journal.exists() else []

    def incidents(self, now: datetime) -> list[dict]:
        return self.lw("incidents", "list", "--format", "json", now=now).json()["incidents"]


@pytest.fixture
def site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Site:
    return Site(tmp_path, capsys)


def test_a_two_week_old_attack_is_recorded_but_pages_nobody(site: Site) -> None:
    site.append(brute_force("203.0.113.7", ATTACK_AT))
    later = ATTACK_AT + timedelta(days=14)
    scanned = site.scan(now=later).json()
    assert [f["scenario_id"] for f in scanned["findings"]] == ["ssh-bruteforce"]
    assert scanned["escalation"]["delivery"]["sent"] == 0 and site.pages() == []
    (incident,) = site.incidents(later)
    assert incident["policy_name"] is None and incident["severity"] == "high"
    # later ticks do not page it either
    assert site.lw("escalation", "tick", now=later + timedelta(hours=1)).code == 0
    assert site.pages() == []
    shown = site.lw("incidents", "show", incident["id"], "--format", "json", now=later).json()
    opened = next(a for a in shown["audit"] if a["action"] == "opened")
    assert opened["details"]["stale"]["age_seconds"] == 14 * 86400 + 60
    assert opened["details"]["stale"]["stale_after_seconds"] == 86400


def test_the_same_attack_going_on_now_pages_with_its_age(site: Site) -> None:
    site.append(brute_force("203.0.113.7", ATTACK_AT))
    later = ATTACK_AT + timedelta(days=14)
    site.scan(now=later)
    assert site.pages() == []
    site.append(brute_force("198.51.100.23", later - timedelta(minutes=3)))
    scanned = site.scan(now=later)
    assert scanned.json()["escalation"]["delivery"]["sent"] > 0
    pages = site.pages()
    assert {p["entity"]["source.ip"] for p in pages} == {"198.51.100.23"}
    assert all(p["evidence_age_seconds"] == 4 * 60 for p in pages)
    assert "Age:        newest event 4m before this message" in scanned.err


def test_a_policy_may_page_stale_incidents_and_is_validated(site: Site) -> None:
    policy = site.root / "policy.yaml"
    policy.write_text(
        "schema: 1\nstale_after: 2d\n"
        "channels:\n  journal: {kind: file}\n"
        "contacts:\n  archivist: {channels: [journal]}\n"
        "policies:\n"
        "  - name: backlog-review\n    match: {stale: true}\n    levels:\n      - notify: [archivist]\n        wait: 1d\n"
        "  - name: page\n    match: {severity: high}\n    levels:\n      - notify: [archivist]\n        wait: 20m\n"
    )
    config = site.root / "logwarden.yaml"
    config.write_text(f"escalation: {policy}\nstate: {site.state}\n")
    site.append(brute_force("203.0.113.7", ATTACK_AT))
    day_later = ATTACK_AT + timedelta(days=1, hours=1)  # older than the default 24 h, not than 2d: pages
    result = run_cli(site.capsys, "scan", str(site.logs), "-c", str(config), "--now", iso(day_later))  # type: ignore[arg-type]
    assert result.code == 0, result.err
    assert [(p["target"], p["level"]) for p in site.pages()] == [("archivist", 1)]
    assert site.pages()[0]["evidence_age_seconds"] == 86400 + 3600 + 60
    week_later = ATTACK_AT + timedelta(days=7)
    site.append(brute_force("198.51.100.23", ATTACK_AT + timedelta(minutes=30)))
    result = run_cli(site.capsys, "scan", str(site.logs), "-c", str(config), "--now", iso(week_later))  # type: ignore[arg-type]
    assert result.code == 0, result.err
    incidents = run_cli(site.capsys, "incidents", "list", "-c", str(config), "--format", "json").json()["incidents"]
    assert {i["entity"]["source.ip"]: i["policy_name"] for i in incidents} == {
        "203.0.113.7": "page", "198.51.100.23": "backlog-review"}

    policy.write_text(policy.read_text().replace("stale_after: 2d", "stale_after: soon").replace(
        "match: {stale: true}", "match: {stale: yes please}"))
    bad = run_cli(site.capsys, "scan", str(site.logs), "-c", str(config))
    assert bad.code == 2
    assert f"{policy}:2: stale_after 'soon' is not a duration; write e.g. stale_after: 24h, or never" in bad.err
    assert f"{policy}:9: policy 'backlog-review': stale must be true" in bad.err


def test_baseline_records_the_backlog_and_pages_only_what_comes_after(site: Site) -> None:
    site.append(brute_force("203.0.113.7", ATTACK_AT))
    first = site.scan("--baseline", now=ATTACK_AT + timedelta(minutes=5))  # fresh evidence, still not paged
    assert [f["scenario_id"] for f in first.json()["findings"]] == ["ssh-bruteforce"]
    assert "baseline: 1 finding(s) recorded, none escalated" in first.err
    assert site.pages() == [] and site.incidents(ATTACK_AT + timedelta(minutes=5)) == []
    assert site.lw("escalation", "tick", now=ATTACK_AT + timedelta(minutes=30)).code == 0
    assert site.pages() == []
    listed = run_cli(site.capsys, "findings", "--state", str(site.state), "--format", "json").json()["findings"]
    assert [f["entity"]["source.ip"] for f in listed] == ["203.0.113.7"]
    site.append(brute_force("198.51.100.23", ATTACK_AT + timedelta(hours=1)))
    site.scan(now=ATTACK_AT + timedelta(hours=1, minutes=1))
    assert {p["entity"]["source.ip"] for p in site.pages()} == {"198.51.100.23"}
    audit = run_cli(site.capsys, "escalation", "verify-audit", "--state", str(site.state))
    assert audit.code == 0, audit.err


def test_since_evaluates_only_recent_events_but_reads_everything(site: Site) -> None:
    site.append(brute_force("203.0.113.7", ATTACK_AT - timedelta(days=3)))
    site.append(brute_force("198.51.100.23", ATTACK_AT - timedelta(minutes=30)))
    scanned = site.scan("--since", "2h", "--no-escalate", now=ATTACK_AT)
    doc = scanned.json()
    assert [f["entity"]["source.ip"] for f in doc["findings"]] == ["198.51.100.23"]
    assert doc["stats"]["events_before_since"] == 7 and doc["stats"]["lines_read"] == 14
    assert "7 event(s) before 2026-11-23T08:00:00Z read but not evaluated (--since)" in scanned.err
    again = site.scan(now=ATTACK_AT).json()  # the old lines were checkpointed: not read again
    assert again["stats"]["lines_read"] == 0 and again["findings"] == []
    iso_since = site.scan("--since", "2026-11-23T09:00:00Z", now=ATTACK_AT).json()
    assert iso_since["stats"]["events_before_since"] == 0
    bad = site.lw("scan", str(site.logs), "--since", "yesterday", now=ATTACK_AT)
    assert bad.code == 2
    assert "--since 'yesterday' is neither a duration (2h, 7d, 1h30m) nor an ISO-8601 instant" in bad.err
