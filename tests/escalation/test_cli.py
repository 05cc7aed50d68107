"""`logwarden scan / incidents / escalation` end to end: real log files scanned into a real state
file, then simulated time with `--now`, asserting who was told what and when (one journal per
person), the exit codes of DESIGN §9, and what the audit trail recorded."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from escalationkit import (
    CHRISTMAS_EVE,
    FRIDAY_EVENING,
    MONDAY_BUSINESS,
    MONDAY_EVENING,
    NEXT_MONDAY_OPENING,
    make_finding,
    received,
    standard_policy_text,
    write_policy,
)

from detector.cli.root import main
from detector.model import iso
from detector.state.store import Store

REPO = Path(__file__).resolve().parents[2]
M = timedelta(minutes=1)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


@dataclass
class Setup:
    """A directory with logwarden.yaml, the test policy (a journal per person) and log files."""

    root: Path
    capsys: pytest.CaptureFixture[str]

    @property
    def config(self) -> Path:
        return self.root / "logwarden.yaml"

    @property
    def state(self) -> Path:
        return self.root / "state" / "state.db"

    def lw(self, *args: str, now: datetime | None = None) -> Result:
        argv = [*args, "-c", str(self.config)] + (["--now", iso(now)] if now else [])  # type: ignore[list-item]
        self.capsys.readouterr()
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:  # pragma: no cover - main always exits
            code = 0
        out, err = self.capsys.readouterr()
        return Result(code, out, err)

    def ssh_bruteforce(self, ip: str, at: datetime, name: str = "auth.log") -> None:
        """Seven failed root logins from `ip` in the minutes before `at` (ssh-bruteforce, high)."""
        lines = [
            f"{(at - timedelta(minutes=9) + timedelta(seconds=40 * i)):%b %d %H:%M:%S} bastion sshd[811]: "
            f"Failed password for root from {ip} port {40000 + i} ssh2"
            for i in range(7)
        ]
        self._append(name, lines, at)

    def scanner(self, ip: str, at: datetime, count: int = 3) -> None:
        """Requests with sqlmap's user agent (web-scanner-user-agent, low)."""
        lines = [
            f'{ip} - - [{(at - timedelta(minutes=5) + timedelta(seconds=20 * i)):%d/%b/%Y:%H:%M:%S} +0000] '
            f'"GET /admin?id={i} HTTP/1.1" 404 120 "-" "sqlmap/1.8#stable (https://sqlmap.org)"'
            for i in range(count)
        ]
        self._append("access.log", lines, at)

    def _append(self, name: str, lines: list[str], at: datetime) -> None:
        path = self.root / "logs" / name
        path.parent.mkdir(exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.utime(path, (at.timestamp(), at.timestamp()))  # syslog lines take their year from here

    def scan(self, now: datetime, *extra: str) -> Result:
        return self.lw("scan", str(self.root / "logs"), *extra, now=now)

    def incidents(self, status: str = "all") -> list[dict]:
        result = self.lw("incidents", "list", "--status", status, "--format", "json")
        assert result.code == 0, result.err
        return result.json()["incidents"]

    def show(self, incident_id: str) -> dict:
        result = self.lw("incidents", "show", incident_id, "--format", "json")
        assert result.code == 0, result.err
        return result.json()


@pytest.fixture
def setup(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Setup:
    monkeypatch.delenv("LOGWARDEN_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    write_policy(tmp_path)
    (tmp_path / "logwarden.yaml").write_text("state: state/state.db\nescalation: policy.yaml\ntimezone: UTC\n")
    return Setup(tmp_path, capsys)


def _only(incidents: list[dict], scenario: str) -> dict:
    (found,) = [i for i in incidents if i["scenario_id"] == scenario]
    return found


def test_business_hours_levels_ack_after_the_deadline_ack_timeout_and_resolve(setup: Setup) -> None:
    t = MONDAY_BUSINESS
    setup.ssh_bruteforce("203.0.113.7", t)
    assert setup.scan(t).code == 0
    incident = _only(setup.incidents(), "ssh-bruteforce")
    assert received(setup.root) == {"alice": [("trigger", 1, "2026-11-23T09:00:00Z")]}
    assert setup.lw("escalation", "tick", now=t + 19 * M).code == 0
    assert setup.lw("escalation", "tick", now=t + 20 * M).code == 0
    assert received(setup.root)["carol"] == [("escalate", 2, "2026-11-23T09:20:00Z")]
    # carol acknowledges at 09:30: after level 1's deadline, within level 2's
    ack = setup.lw("incidents", "ack", incident["id"], "--by", "carol", now=t + 30 * M)
    assert ack.code == 0 and f"{incident['id']} acknowledged by carol" in ack.out
    setup.lw("escalation", "tick", now=t + 60 * M)
    shown = setup.show(incident["id"])
    assert shown["incident"]["status"] == "acknowledged" and shown["incident"]["acknowledged_by"] == "carol"
    assert [s["action"] for s in shown["steps"]] == ["fire_level", "fire_level"]
    acked = [e for e in shown["audit"] if e["action"] == "acknowledged"]
    assert [(e["actor"], e["details"]["level"], e["details"]["within_deadline"]) for e in acked] == [("carol", 2, True)]
    # two hours without a resolution: the acknowledgement has gone stale
    setup.lw("escalation", "tick", now=t + 150 * M)
    assert received(setup.root) == {
        "alice": [("trigger", 1, "2026-11-23T09:00:00Z"), ("acknowledge", 0, "2026-11-23T09:30:00Z"),
                  ("reminder", 1, "2026-11-23T11:30:00Z")],
        "carol": [("escalate", 2, "2026-11-23T09:20:00Z"), ("acknowledge", 0, "2026-11-23T09:30:00Z")],
    }
    # a high incident cannot be closed without its root cause
    refused = setup.lw("incidents", "resolve", incident["id"], "--by", "carol", "--note", "blocked", now=t + 160 * M)
    assert refused.code == 2
    assert "is a high incident: resolving it needs --root-cause TEXT" in refused.err
    assert setup.show(incident["id"])["incident"]["status"] == "open"
    done = setup.lw("incidents", "resolve", incident["id"], "--by", "carol", "--note", "blocked 203.0.113.7",
                    "--root-cause", "password logins allowed on the bastion", now=t + 161 * M)
    assert done.code == 0
    shown = setup.show(incident["id"])
    assert (shown["incident"]["status"], shown["incident"]["root_cause"]) == ("resolved", "password logins allowed on the bastion")
    assert [e["action"] for e in shown["audit"] if e["actor"] != "outbox"] == [
        "opened", "escalated", "escalated", "acknowledged", "ack_timeout", "escalated", "resolved"
    ]
    assert incident["id"] not in {i["id"] for i in setup.incidents("active")}


def test_after_hours_and_holidays_page_the_rotation_business_hours_page_alice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOGWARDEN_CONFIG", raising=False)
    seen = {}
    for label, when in (("business", MONDAY_BUSINESS), ("evening", MONDAY_EVENING), ("holiday", CHRISTMAS_EVE)):
        root = tmp_path / label
        write_policy(root)
        (root / "logwarden.yaml").write_text("state: state/state.db\nescalation: policy.yaml\n")
        setup = Setup(root, capsys)
        setup.ssh_bruteforce("203.0.113.7", when)
        assert setup.scan(when).code == 0
        incident = _only(setup.incidents(), "ssh-bruteforce")
        notes = setup.show(incident["id"])["notifications"]
        seen[label] = (incident["day_class"], received(root), [(n["target"], n["via"]) for n in notes])
    assert seen == {
        "business": ("business", {"alice": [("trigger", 1, "2026-11-23T09:00:00Z")]}, [("alice", None)]),
        "evening": ("after_hours", {"erin": [("trigger", 1, "2026-11-23T20:00:00Z")]}, [("erin", "night")]),
        "holiday": ("holiday", {"erin": [("trigger", 1, "2026-12-24T10:00:00Z")]}, [("erin", "night")]),
    }


def test_two_levels_then_repeat_then_exhaustion_through_cron_ticks(setup: Setup) -> None:
    t = MONDAY_BUSINESS
    setup.ssh_bruteforce("203.0.113.7", t)
    setup.scan(t)
    for minutes in (20, 50, 70, 100, 200):
        tick = setup.lw("escalation", "tick", "--format", "json", now=t + minutes * M)
        assert tick.code == 0
        tick.json()  # stdout is one JSON document
    assert received(setup.root) == {
        "alice": [("trigger", 1, "2026-11-23T09:00:00Z"), ("repeat", 1, "2026-11-23T09:50:00Z")],
        "carol": [("escalate", 2, "2026-11-23T09:20:00Z"), ("escalate", 2, "2026-11-23T10:10:00Z")],
        "dave": [("escalate", 3, "2026-11-23T10:40:00Z")],
    }
    incident = _only(setup.incidents(), "ssh-bruteforce")
    assert (incident["exhausted_at"], incident["next_action"], incident["cycle"]) == ("2026-11-23T10:40:00Z", None, 1)
    shown = setup.show(incident["id"])
    assert [(s["action"], s["ran_at"], s["late_seconds"]) for s in shown["steps"]] == [
        ("fire_level", "2026-11-23T09:00:00Z", 0.0),
        ("fire_level", "2026-11-23T09:20:00Z", 0.0),
        ("repeat", "2026-11-23T09:50:00Z", 0.0),
        ("fire_level", "2026-11-23T10:10:00Z", 0.0),
        ("exhausted", "2026-11-23T10:40:00Z", 0.0),
    ]
    assert [e["action"] for e in shown["audit"] if e["actor"] == "logwarden"] == [
        "opened", "escalated", "escalated", "repeated", "escalated", "exhausted"
    ]


def test_hold_then_digest_snooze_resolve_and_reopen(setup: Setup) -> None:
    setup.scanner("203.0.113.40", FRIDAY_EVENING)
    assert setup.scan(FRIDAY_EVENING).code == 0
    incident = _only(setup.incidents(), "web-scanner-user-agent")
    assert (incident["policy_name"], incident["held"], incident["next_action"]) == ("review", True, "digest")
    assert incident["next_due_at"] == "2026-11-30T08:00:00Z"
    setup.lw("escalation", "tick", now=NEXT_MONDAY_OPENING - M)
    assert received(setup.root) == {}
    setup.lw("escalation", "tick", now=NEXT_MONDAY_OPENING)
    assert received(setup.root) == {"alice": [("digest", 1, "2026-11-30T08:00:00Z")]}
    # alice snoozes it for an hour at 08:10; level 2 (due 09:00) waits for the snooze to end
    snoozed = setup.lw("incidents", "snooze", incident["id"], "--for", "1h", "--by", "alice", now=NEXT_MONDAY_OPENING + 10 * M)
    assert snoozed.code == 0 and "snoozed until 2026-11-30T09:10:00Z" in snoozed.out
    setup.lw("escalation", "tick", now=NEXT_MONDAY_OPENING + 60 * M)
    assert "carol" not in received(setup.root)
    setup.lw("escalation", "tick", now=NEXT_MONDAY_OPENING + 70 * M)
    setup.lw("escalation", "tick", now=NEXT_MONDAY_OPENING + 130 * M)
    assert received(setup.root) == {
        "alice": [("digest", 1, "2026-11-30T08:00:00Z"), ("reminder", 1, "2026-11-30T09:10:00Z")],
        "carol": [("escalate", 2, "2026-11-30T10:10:00Z")],
    }
    # low severity: a note is enough to resolve
    resolved = setup.lw("incidents", "resolve", incident["id"], "--by", "carol", "--note", "our own pentest",
                        now=NEXT_MONDAY_OPENING + 135 * M)
    assert resolved.code == 0
    # the scanner comes back two hours later: same incident, reopened, escalated again
    back = NEXT_MONDAY_OPENING + 255 * M
    setup.scanner("203.0.113.40", back)
    setup.scan(back)
    reopened = _only(setup.incidents(), "web-scanner-user-agent")
    assert (reopened["id"], reopened["status"], reopened["resolved_at"]) == (incident["id"], "open", None)
    assert received(setup.root)["alice"][-1] == ("trigger", 1, "2026-11-30T12:15:00Z")
    actions = [e["action"] for e in setup.show(incident["id"])["audit"] if e["actor"] != "outbox"]
    assert actions == [
        "opened", "held", "digest", "snoozed", "unsnoozed", "escalated", "escalated", "resolved",
        "reopened", "finding_attached", "escalated",
    ]


def test_scan_of_the_sample_logs_with_the_bundled_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOGWARDEN_CONFIG", raising=False)
    monkeypatch.setenv("TZ", "UTC")  # the bundled calendar follows the machine's zone
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "tmp" / "state.db"
    with pytest.raises(SystemExit) as exited:
        main(["scan", str(REPO / "sample_logs"), "--state", str(state), "--now", "2026-11-23T10:00:00Z"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    journal = state.parent / "journal.jsonl"
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    with Store(state) as store:
        incidents = {r["id"]: dict(r) for r in store.execute("SELECT * FROM incidents")}
    assert len(incidents) > 20
    # Monday 10:00 is business hours: every incident a policy matched was told to the on-call
    # contact at once, on both channels of the bundled policy
    matched = {i for i, row in incidents.items() if row["policy_name"]}
    assert {line["incident_id"] for line in lines} == matched
    assert all(line["event"] == "trigger" and line["target"] == "on-call" for line in lines)
    assert out.count("Acknowledge: logwarden incidents ack INC-") == len(lines)
    for incident_id in list(matched)[:5]:
        assert f"({incident_id})" in out
    assert "\x1b" not in out
    assert stat.S_IMODE((tmp_path / "tmp" / "state.audit.jsonl").stat().st_mode) == 0o600


def test_scan_json_output_is_not_corrupted_by_the_stdout_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOGWARDEN_CONFIG", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "state.db"
    with pytest.raises(SystemExit) as exited:
        main(["scan", str(REPO / "sample_logs" / "infra"), "--state", str(state), "--format", "json",
              "--now", "2026-11-23T10:00:00Z"])
    assert exited.value.code == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    sent = document["escalation"]["delivery"]["sent"]
    assert sent > 0 and document["findings"]
    # the stdout channel's messages went to stderr instead (one of the two channels of each message)
    assert captured.err.count("Acknowledge: logwarden incidents ack INC-") == sent // 2


def test_verify_audit_passes_then_detects_an_edited_mirror(setup: Setup) -> None:
    setup.ssh_bruteforce("203.0.113.7", MONDAY_BUSINESS)
    setup.scan(MONDAY_BUSINESS)
    good = setup.lw("escalation", "verify-audit")
    assert good.code == 0 and "audit trail OK" in good.out
    mirror = setup.root / "state" / "state.audit.jsonl"
    text = mirror.read_text()
    assert '"actor":"logwarden"' in text
    mirror.write_text(text.replace('"actor":"logwarden"', '"actor":"mallory"', 1))
    bad = setup.lw("escalation", "verify-audit", "--format", "json")
    assert bad.code == 1
    report = bad.json()
    assert report["ok"] is False and any("seq 1" in p for p in report["problems"])


def test_a_bad_policy_is_refused_with_every_problem_and_nothing_is_applied(setup: Setup) -> None:
    setup.ssh_bruteforce("203.0.113.7", MONDAY_BUSINESS)
    assert setup.scan(MONDAY_BUSINESS, "--no-escalate").code == 0
    policy = setup.root / "policy.yaml"
    good = policy.read_text()
    policy.write_text(good.replace("wait: 20m", "wait: twenty").replace("notify: [carol]", "notify: [karol]", 1))
    refused = setup.lw("escalation", "tick", now=MONDAY_BUSINESS)
    assert refused.code == 2
    lines = refused.err.splitlines()
    assert lines[0].startswith(f"{policy}:") and "wait 'twenty' is not a duration" in lines[0]
    assert "unknown contact or rotation 'karol' (did you mean 'carol'?)" in lines[1]
    assert lines[-1] == "logwarden: 2 problem(s); nothing was applied"
    assert setup.incidents() == []
    policy.write_text(good)
    assert setup.lw("escalation", "tick", now=MONDAY_BUSINESS + M).code == 0
    (incident,) = setup.incidents()
    assert (incident["scenario_id"], incident["opened_at"]) == ("ssh-bruteforce", "2026-11-23T09:00:00Z")
    assert received(setup.root) == {"alice": [("trigger", 1, "2026-11-23T09:01:00Z")]}
    # the minute lost to the broken policy is on record
    assert [s["late_seconds"] for s in setup.show(incident["id"])["steps"]] == [60.0]


def test_listings_escape_log_content(setup: Setup) -> None:
    hostile = "203.0.113.9\x1b]0;pwned\x07\u202e"
    with Store(setup.state) as store:
        with store.transaction():
            store.put_finding(make_finding(ip=hostile, detected_at=MONDAY_BUSINESS), "new", MONDAY_BUSINESS)
    setup.lw("escalation", "tick", now=MONDAY_BUSINESS)
    listed = setup.lw("incidents", "list")
    assert listed.code == 0 and "source.ip=203.0.113.9\\x1b]0;pwned\\x07\\u202e" in listed.out
    (incident,) = setup.incidents()
    shown = setup.lw("incidents", "show", incident["id"])
    for text in (listed.out, shown.out, shown.err):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert incident["entity"] == {"source.ip": hostile}  # JSON keeps the value, escaped by the encoder


def test_test_channels_reports_each_channel_and_exits_1_on_a_failure(setup: Setup) -> None:
    (setup.root / "not-a-dir").write_text("")
    policy = setup.root / "policy.yaml"
    policy.write_text(standard_policy_text().replace("path: journals/dave.jsonl", "path: not-a-dir/dave.jsonl"))
    result = setup.lw("escalation", "test-channels", "--by", "alice", "--format", "json", now=MONDAY_BUSINESS)
    assert result.code == 1
    by_channel = {c["channel"]: c for c in result.json()["channels"]}
    assert [name for name, c in sorted(by_channel.items()) if c["ok"]] == ["alice-log", "bob-log", "carol-log", "erin-log"]
    assert "cannot append" in by_channel["dave-log"]["error"]
    (test,) = [json.loads(line) for line in (setup.root / "journals" / "alice.jsonl").read_text().splitlines()]
    assert (test["event"], test["incident_id"]) == ("test", "TEST-20261123T090000Z")
    only = setup.lw("escalation", "test-channels", "--channel", "bob-log", now=MONDAY_BUSINESS)
    assert only.code == 0 and "bob-log (file) -> logwarden-test: ok" in only.out
    with Store(setup.state) as store:
        notes = [json.loads(r[0]) for r in store.execute("SELECT details FROM audit WHERE action = 'note'")]
    assert [n["text"] for n in notes] == ["channel test", "channel test"]


def test_usage_errors_exit_2(setup: Setup) -> None:
    setup.ssh_bruteforce("203.0.113.7", MONDAY_BUSINESS)
    setup.scan(MONDAY_BUSINESS)
    missing = setup.lw("incidents", "ack", "INC-0123456789", "--by", "alice", now=MONDAY_BUSINESS)
    assert missing.code == 2 and "no incident 'INC-0123456789'" in missing.err
    (incident,) = setup.incidents()
    bad_for = setup.lw("incidents", "snooze", incident["id"], "--for", "a while", now=MONDAY_BUSINESS)
    assert bad_for.code == 2 and "--for" in bad_for.err
    twice = setup.lw("incidents", "ack", incident["id"], "--by", "alice", now=MONDAY_BUSINESS + M)
    assert twice.code == 0
    again = setup.lw("incidents", "ack", incident["id"], "--by", "bob", now=MONDAY_BUSINESS + 2 * M)
    assert again.code == 2 and "already acknowledged by alice" in again.err
