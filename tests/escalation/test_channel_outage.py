"""An SMTP server (aiosmtpd) and a webhook (HTTP on 127.0.0.1) both down for the first ten
minutes of simulated time, then up, while incidents open and escalate through `logwarden scan`
and cron `escalation tick`s: every notification is delivered at least once (to its channel, or
to the fallback its channel names), in order per incident, with each failed attempt, retry and
fallback in the audit trail. Real servers on the ports the policy names, real CLI, `--now`."""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
from collections import defaultdict
from http.server import ThreadingHTTPServer
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "channels"))
from channelkit import HttpRecorder, MailRecorder, closed_port  # noqa: E402
from escalationkit import MONDAY_BUSINESS  # noqa: E402

from aiosmtpd.controller import Controller  # noqa: E402
from detector.cli.root import main  # noqa: E402
from detector.model import iso  # noqa: E402

M = timedelta(minutes=1)
SECRET_ENV = "LOGWARDEN_OUTAGE_WEBHOOK_SECRET"
POLICY = """\
schema: 1
timezone: UTC
default_calendar: always
calendars:
  always:
    hours:
      mon-sun: 00:00-24:00
channels:
  mail: {{kind: email, host: 127.0.0.1, port: {smtp}, tls: none, from: logwarden@example.com, timeout: 2}}
  hook: {{kind: webhook, url: "http://127.0.0.1:{http}/hook", secret_env: {secret}, timeout: 2}}
  journal: {{kind: file, path: fallback.jsonl}}
delivery:
  retry_backoff: 30s
  max_backoff: 2m
  give_up_after: 1h
  channels:
    mail: {{fallback: journal, give_up_after: 5m}}
contacts:
  alice: {{channels: [mail, hook], email: alice@example.com}}
  bob: {{channels: [mail, hook], email: bob@example.com}}
policies:
  - name: page
    match: {{severity: low}}
    after_hours: notify
    levels:
      - notify: [alice]
        wait: 20m
      - notify: [alice, bob]
        wait: 30m
"""


class Site:
    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str], smtp: int, http: int) -> None:
        self.root, self.capsys = root, capsys
        self.smtp_port, self.http_port = smtp, http
        (root / "logs").mkdir()
        (root / "policy.yaml").write_text(POLICY.format(smtp=smtp, http=http, secret=SECRET_ENV))
        (root / "logwarden.yaml").write_text("state: state/state.db\nescalation: policy.yaml\ntimezone: UTC\n")

    def lw(self, *args: str, now: datetime) -> str:
        self.capsys.readouterr()
        try:
            main([*args, "-c", str(self.root / "logwarden.yaml"), "--now", iso(now)])  # type: ignore[list-item]
        except SystemExit as exc:
            assert exc.code in (0, 3, None), self.capsys.readouterr().err
        return self.capsys.readouterr().out

    def brute_force(self, ip: str, at: datetime) -> None:
        with open(self.root / "logs" / "auth.log", "a") as handle:
            handle.writelines(f"{(at - 9 * M + timedelta(seconds=40 * i)):%b %d %H:%M:%S} bastion sshd[811]: "
                              f"Failed password for root from {ip} port {40000 + i} ssh2\n" for i in range(7))

    def tick(self, now: datetime) -> dict[str, Any]:
        return json.loads(self.lw("escalation", "tick", "--format", "json", now=now))

    def query(self, sql: str) -> list[tuple]:
        conn = sqlite3.connect(self.root / "state" / "state.db")
        try:
            return [tuple(r) for r in conn.execute(sql)]
        finally:
            conn.close()


class _Smtp(Controller):
    def __init__(self, handler: MailRecorder, port: int) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=port)


@pytest.fixture
def site(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.delenv("LOGWARDEN_CONFIG", raising=False)
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(SECRET_ENV, "outage-secret")
    monkeypatch.chdir(tmp_path)
    return Site(tmp_path, capsys, closed_port(), closed_port())


def _http_recorder_on(port: int) -> HttpRecorder:
    """The channel tests' recorder, bound to the port the policy names (it was down till now)."""
    recorder = HttpRecorder()
    handler = recorder.server.RequestHandlerClass
    recorder.server.server_close()
    recorder.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    recorder.server.daemon_threads = True
    recorder.thread = threading.Thread(target=recorder.server.serve_forever, args=(0.05,), daemon=True)
    return recorder


def test_smtp_and_webhook_down_ten_minutes_then_up(site: Site) -> None:
    t0 = MONDAY_BUSINESS
    site.brute_force("203.0.113.7", t0)
    site.brute_force("203.0.113.8", t0)
    site.lw("scan", str(site.root / "logs"), now=t0)
    for minute in range(1, 10):  # down: every attempt refused
        if minute == 5:
            site.brute_force("203.0.113.9", t0 + 5 * M)  # a third incident opens during the outage
            site.lw("scan", str(site.root / "logs"), now=t0 + 5 * M)
        site.tick(t0 + minute * M)
    assert site.query("SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND channel != 'journal'") == [(0,)]

    mails = MailRecorder()
    smtp = _Smtp(mails, site.smtp_port)
    smtp.start()
    hook = _http_recorder_on(site.http_port)
    try:
        with hook:
            for minute in range(10, 61):
                site.tick(t0 + minute * M)
    finally:
        smtp.stop()

    outbox = site.query("SELECT id, incident_id, channel, event, level, status, created_at, fallback_of FROM outbox"
                        " ORDER BY created_at, id")
    assert len({r[1] for r in outbox}) >= 3  # three brute forces (and the account they target) ...
    assert {(r[3], r[4]) for r in outbox if r[2] != "journal"} == {("trigger", 1), ("escalate", 2)}  # ... two levels
    # delivered at least once: nothing pending or failed; what fell back reached the journal
    assert {r[5] for r in outbox} <= {"sent", "fallen_back"}, [r for r in outbox if r[5] not in ("sent", "fallen_back")]
    fell_back = {r[0] for r in outbox if r[5] == "fallen_back"}
    assert fell_back and all(r[2] == "mail" for r in outbox if r[0] in fell_back)
    journal_ids = {json.loads(line)["id"] for line in (site.root / "fallback.jsonl").read_text().splitlines()}
    assert {r[7] for r in outbox if r[2] == "journal"} == fell_back and {r[0] for r in outbox if r[2] == "journal"} <= journal_ids
    hook_ids = [req.headers["X-Logwarden-Delivery"] for req in hook.requests]
    assert {r[0] for r in outbox if r[2] == "hook"} == set(hook_ids)
    mail_ids = [m.message["Message-ID"] for m in mails.mails]
    assert len(mail_ids) == sum(1 for r in outbox if r[2] == "mail" and r[5] == "sent")
    # in order per incident: a level's message never arrives before an earlier level's
    arrived: dict[str, list[int]] = defaultdict(list)
    level_of = {r[0]: (r[1], r[4]) for r in outbox}
    for note_id in dict.fromkeys(hook_ids):
        incident, level = level_of[note_id]
        arrived[incident].append(level)
    assert all(levels == sorted(levels) for levels in arrived.values()), arrived
    # the audit tells the story: refused attempts, retries, fallbacks, deliveries
    audit = site.query("SELECT action, json_extract(details, '$.outbox_id'), json_extract(details, '$.error') FROM audit"
                       " WHERE actor = 'outbox' ORDER BY seq")
    failed = [a for a in audit if a[0] == "notify_failed"]
    assert {level_of[a[1]][0] for a in failed} == {r[1] for r in outbox}  # every incident was retried
    assert all("refused" in a[2] or "Connection" in a[2] for a in failed), failed[:3]
    assert {a[1] for a in audit if a[0] == "fallback"} == fell_back
    notified = {a[1] for a in audit if a[0] == "notified"}
    assert notified == {r[0] for r in outbox if r[5] == "sent"}
