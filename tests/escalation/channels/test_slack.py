"""The Slack-compatible webhook against a real HTTP server: structure and mrkdwn escaping."""

from __future__ import annotations

from channelkit import HttpRecorder, channel_spec, make_note

from escalation.channels import build_channel
from escalation.channels.message import markdown_sections
from escalation.channels.notification import EvidenceLine


def send(server: HttpRecorder, tmp_path, note) -> dict:
    spec = channel_spec(f"kind: slack\nurl: {server.url}\ntimeout: 0.5\n")
    build_channel("chat", spec, str(tmp_path / "policy.yaml"), 1, tmp_path).send(note)
    return server.requests[-1].json()


def test_slack_payload_is_text_plus_mrkdwn_sections(http_server: HttpRecorder, tmp_path) -> None:
    note = make_note()
    body = send(http_server, tmp_path, note)
    assert sorted(body) == ["blocks", "text", "unfurl_links", "unfurl_media"]
    assert body["unfurl_links"] is False and body["unfurl_media"] is False
    sections = markdown_sections(note)
    assert body["blocks"] == [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections]
    assert body["text"] == "\n".join(sections)
    assert body["text"].startswith("*[HIGH] SSH password brute force from one source: source.ip=203.0.113.7")
    assert "*Evidence:*\n```\n/var/log/auth.log:1234: " in body["text"]
    assert "*Acknowledge:* `logwarden incidents ack INC-4f1c2a --by &lt;your name&gt;`" in body["text"]


def test_hostile_log_content_cannot_mention_link_or_colour(http_server: HttpRecorder, tmp_path) -> None:
    body = send(http_server, tmp_path, make_note(entity={"user.name": "<!here> <@U01ADMIN>"}))
    texts = [body["text"]] + [block["text"]["text"] for block in body["blocks"]]
    for text in texts:
        assert "<" not in text and ">" not in text and "\x1b" not in text
    assert "&lt;!channel&gt; &lt;http://evil.example|click&gt; &lt;script&gt;" in body["text"]
    assert "`user.name=&lt;!here&gt; &lt;@U01ADMIN&gt;`" in body["text"]
    assert "\\x1b[31mRED\\x1b[0m\\nforged line" in body["text"]


def test_exercise_banner_comes_first(http_server: HttpRecorder, tmp_path) -> None:
    body = send(http_server, tmp_path, make_note(exercise=True))
    first = body["blocks"][0]["text"]["text"]
    assert first.startswith("*EXERCISE - this is a drill, not a real incident.")
    assert "*[EXERCISE] [HIGH] SSH password" in first


def test_long_evidence_stays_within_slack_limits(http_server: HttpRecorder, tmp_path) -> None:
    many = tuple(EvidenceLine("/var/log/auth.log", i * 500, "<" * 400) for i in range(40))
    body = send(http_server, tmp_path, make_note(evidence=many))
    assert all(len(block["text"]["text"]) <= 3000 for block in body["blocks"])
    evidence = body["blocks"][1]["text"]["text"]
    assert evidence.count("```") == 2 and "more evidence lines in the incident_" in evidence
