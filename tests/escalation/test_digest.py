"""Incidents held over a night or a weekend reach each person as ONE digest per channel read by
people (a real aiosmtpd server and a real HTTP Slack receiver on 127.0.0.1), listing every
incident worst first with its acknowledge command; machine channels (the journal) keep one
message per incident; every incident's audit trail still says it was notified."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from escalationkit import FRIDAY_EVENING, NEXT_MONDAY_OPENING, Harness, journal, make_finding
from outboxkit import HttpRecorder  # also puts the channel tests' kit on sys.path

from channelkit import MailRecorder, SmtpServer  # noqa: E402  (path set by outboxkit)

POLICY = """\
schema: 1
timezone: Europe/Berlin
default_calendar: office
calendars:
  office:
    hours: {{mon-fri: 09:00-17:00}}
channels:
  mail: {{kind: email, host: 127.0.0.1, port: {smtp_port}, tls: none, from: logwarden@example.com, timeout: 5}}
  chat: {{kind: slack, url: "{slack_url}", timeout: 5}}
  alice-log: {{kind: file, path: journals/alice.jsonl}}
contacts:
  alice: {{channels: [mail, chat, alice-log], email: alice@example.com}}
  bob: {{channels: [mail], email: bob@example.com}}
policies:
  - name: review
    match: {{severity: low}}
    after_hours: hold
    levels:
      - notify: [alice, bob]
        wait: 4h
"""
IPS = ["203.0.113.7", "203.0.113.8", "198.51.100.9", "192.0.2.10"]


@pytest.fixture
def servers() -> Iterator[tuple[MailRecorder, HttpRecorder, int]]:
    mail = MailRecorder()
    smtp = SmtpServer(mail)
    smtp.start()
    with HttpRecorder() as chat:
        yield mail, chat, smtp.port
    smtp.stop()


@pytest.fixture
def h(tmp_path: Path, servers: tuple[MailRecorder, HttpRecorder, int]) -> Iterator[Harness]:
    mail, chat, port = servers
    harness = Harness(tmp_path, POLICY.format(smtp_port=port, slack_url=chat.url))
    yield harness
    harness.close()


def test_held_incidents_become_one_digest_per_person_per_channel(h: Harness, servers) -> None:
    mail, chat, _ = servers
    for n, ip in enumerate(IPS):
        at = FRIDAY_EVENING + timedelta(hours=n)  # Friday night, 18:00 .. 21:00 in Berlin
        h.detect(make_finding(scenario=f"web-probe-{n}", severity="low", confidence=0.6, ip=ip, detected_at=at))
        h.run(at)
    incidents = h.engine.incidents.all()
    assert len(incidents) == 4 and all(i.held for i in incidents)
    assert mail.mails == [] and chat.requests == []
    h.run(NEXT_MONDAY_OPENING)

    # email: one message each for alice and bob, naming every incident with its ack command
    assert sorted(m.rcpt_tos[0] for m in mail.mails) == ["alice@example.com", "bob@example.com"]
    for message in (m.message for m in mail.mails):
        assert message["Subject"] == "DIGEST: [LOW] 4 incidents held outside business hours (4 low)"
        body = message.get_body(("plain",)).get_content()
        for incident in incidents:
            assert f"Acknowledge: logwarden incidents ack {incident.id} --by <your name>" in body
        assert [ip for ip in IPS if f"source.ip={ip}" in body] == IPS
        assert body.index("source.ip=203.0.113.7") < body.index("source.ip=192.0.2.10")  # earliest first
    # Slack: one POST for alice, every incident in it
    (post,) = chat.requests
    text = post.json()["text"]
    assert all(incident.id in text for incident in incidents)
    # the journal (read by machines) keeps one message per incident
    assert sorted(m["incident_id"] for m in journal(h.directory, "alice")) == sorted(i.id for i in incidents)
    # and every incident's trail records each delivery
    for incident in incidents:
        notified = [(d["channel"], d["target"]) for d in h.audit_details(incident.id, "notified")]
        assert sorted(notified) == [("alice-log", "alice"), ("chat", "alice"), ("mail", "alice"), ("mail", "bob")]


def test_a_single_held_incident_is_sent_as_itself(h: Harness, servers) -> None:
    mail, _, _ = servers
    h.detect(make_finding(scenario="web-probe", severity="low", confidence=0.6, detected_at=FRIDAY_EVENING))
    h.run(FRIDAY_EVENING)
    h.run(NEXT_MONDAY_OPENING)
    incident = h.incident()
    assert len(mail.mails) == 2
    assert all(m.message["Subject"].endswith(f"({incident.id})") for m in mail.mails)


def test_a_digest_escapes_log_content_for_every_medium() -> None:
    from channelkit import HOSTILE_LINE, make_note

    from escalation.channels.digest import combine
    from escalation.channels.message import markdown, payload, plain_text

    notes = [
        make_note(id=f"ntf-{n}", incident_id=f"INC-{n}", event="digest", severity=sev, entity={"user.name": HOSTILE_LINE})
        for n, sev in enumerate(["low", "critical"])
    ]
    note = combine(notes)
    text = plain_text(note)
    assert "\x1b" not in text and "\u202e" not in text and "\nforged" not in text
    assert text.index("INC-1") < text.index("INC-0")  # critical first
    slack = markdown(note)
    assert "<!channel>" not in slack and "<http://evil" not in slack and "&lt;!channel&gt;" in slack
    assert [item["incident_id"] for item in payload(note)["digest"]] == ["INC-1", "INC-0"]
    assert all("\x1b" not in item["entity"]["user.name"] for item in payload(note)["digest"])
