"""Rendering: what a responder reads, and that log content cannot drive the medium it lands in."""

from __future__ import annotations

import json

from channelkit import HOSTILE_LINE, make_note

from detector.textsafe import terminal_safe
from escalation.channels.message import markdown, payload, plain_text, subject, to_json


def test_plain_text_has_everything_a_responder_needs() -> None:
    text = plain_text(make_note())
    assert text.splitlines()[0] == subject(make_note())
    for expected in (
        "Incident:   INC-4f1c2a",
        "Scenario:   ssh-bruteforce - SSH password brute force from one source",
        "Entity:     source.ip=203.0.113.7",
        "Severity:   high",
        "Confidence: 0.82 (scenario prior 0.70; 12 failures, threshold 6)",
        "Seen:       2026-11-21T10:01:02Z .. 2026-11-21T10:09:40Z",
        "Findings:   12",
        "ATT&CK:     T1110.001",
        "Level:      1 (for secops-oncall)",
        "  /var/log/auth.log:1234: Nov 21 10:01:02 bastion sshd[811]: Failed password for root",
        "Acknowledge: logwarden incidents ack INC-4f1c2a --by <your name>",
    ):
        assert expected in text.splitlines(), expected


def test_plain_text_shows_hostile_evidence_on_one_line_without_control_characters() -> None:
    text = plain_text(make_note())
    assert "\x1b" not in text and "\u202e" not in text
    hostile = [line for line in text.splitlines() if ":5678: " in line]
    assert hostile == [f"  /var/log/auth.log:5678: {terminal_safe(HOSTILE_LINE)}"]
    assert not any(line.startswith("forged") for line in text.splitlines())


def test_subject_names_event_severity_title_entity_and_incident() -> None:
    assert subject(make_note()) == (
        "[HIGH] SSH password brute force from one source: source.ip=203.0.113.7 (INC-4f1c2a)"
    )
    escalated = subject(make_note(event="escalate", level=2, exercise=True))
    assert escalated.startswith("[EXERCISE] ESCALATED (level 2): [HIGH] SSH password")
    assert subject(make_note(event="resolve", level=0)).startswith("RESOLVED: [HIGH]")


def test_subject_cannot_be_split_by_a_hostile_entity() -> None:
    note = make_note(entity={"user.name": "root\r\nBcc: victim@example.com"})
    assert "\n" not in subject(note) and "\r" not in subject(note)
    assert "root\\r\\nBcc" in subject(note)


def test_exercise_is_announced_in_text_and_payload() -> None:
    note = make_note(exercise=True)
    assert plain_text(note).startswith("[EXERCISE] ")
    assert "EXERCISE - this is a drill, not a real incident." in plain_text(note)
    assert payload(note)["exercise"] is True and payload(make_note())["exercise"] is False


def test_markdown_cannot_mention_or_link() -> None:
    text = markdown(make_note(entity={"user.name": "<@U123> & <#C1>"}))
    assert "<" not in text and ">" not in text  # every Slack control sequence starts with <
    assert "&lt;!channel&gt;" in text and "&lt;http://evil.example|click&gt;" in text
    assert "&lt;@U123&gt; &amp; &lt;#C1&gt;" in text
    assert "\x1b" not in text and "\\x1b[31m" in text


def test_markdown_evidence_cannot_close_its_code_block() -> None:
    text = markdown(make_note())
    block = text.split("```\n", 1)[1].split("\n```", 1)[0]
    assert "`" not in block and "\u02cbtick\u02cb\u02cb\u02cb" in block
    assert text.count("```") == 2


def test_json_payload_shape() -> None:
    data = json.loads(to_json(make_note()))
    assert sorted(data) == sorted(
        [
            "schema", "id", "dedup_key", "incident_id", "event", "level", "target", "severity",
            "confidence", "reasons", "title", "summary", "scenario_id", "entity", "first_seen",
            "last_seen", "evidence_age_seconds", "count", "attack", "evidence", "ack_command", "exercise",
            "created_at",
        ]
    )
    assert data["first_seen"] == "2026-11-21T10:01:02Z" and data["created_at"] == "2026-11-21T10:20:00Z"
    assert data["reasons"] == ["scenario prior 0.70", "12 failures, threshold 6"]
    assert data["evidence"][1] == {"path": "/var/log/auth.log", "offset": 5678, "line": terminal_safe(HOSTILE_LINE)}
    assert (data["count"], data["attack"], data["entity"]) == (12, ["T1110.001"], {"source.ip": "203.0.113.7"})


def test_json_is_stable_and_carries_no_markup_or_controls() -> None:
    text = to_json(make_note())
    assert text == to_json(make_note())
    assert "<" not in text and ">" not in text and "\\u001b" not in text and "\n" not in text
    assert "\\u003cscript\\u003e" in text


def test_only_open_incidents_ask_for_an_acknowledgement() -> None:
    for event in ("acknowledge", "resolve"):
        note = make_note(event=event, level=0)
        assert "Acknowledge:" not in plain_text(note) and "Acknowledge:" not in markdown(note)
    assert "Acknowledge:" in plain_text(make_note(event="reminder"))
