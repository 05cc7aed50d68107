"""PagerDuty Events API v2 against a real HTTP server standing in for events.pagerduty.com."""

from __future__ import annotations

import pytest
from channelkit import HttpRecorder, channel_spec, make_note

from escalation.channels import build_channel
from escalation.channels.message import payload
from escalation.channels.notification import ChannelError


@pytest.fixture
def pagerduty(http_server: HttpRecorder, tmp_path, monkeypatch):
    monkeypatch.setenv("LW_TEST_PD_KEY", "R0UT1NGKEY0123456789abcdefabcdef")
    http_server.status, http_server.reply = 202, b'{"status":"success","message":"Event processed"}'
    spec = channel_spec(
        f"kind: pagerduty\nurl: {http_server.url}\nrouting_key_env: LW_TEST_PD_KEY\nsource: bastion-01\ntimeout: 0.5\n"
    )
    return build_channel("pd", spec, str(tmp_path / "policy.yaml"), 1, tmp_path)


def test_trigger_event(pagerduty, http_server: HttpRecorder) -> None:
    note = make_note()
    pagerduty.send(note)
    body = http_server.requests[0].json()
    assert body == {
        "routing_key": "R0UT1NGKEY0123456789abcdefabcdef",
        "event_action": "trigger",
        "dedup_key": "lw-4f1c2a9b7d3e5a10",
        "client": "logwarden",
        "payload": {
            "summary": "[HIGH] SSH password brute force from one source: source.ip=203.0.113.7 (INC-4f1c2a)",
            "source": "bastion-01",
            "severity": "error",
            "timestamp": "2026-11-21T10:20:00Z",
            "class": "ssh-bruteforce",
            "custom_details": payload(note),
        },
    }


def test_whole_lifecycle_shares_one_dedup_key(pagerduty, http_server: HttpRecorder) -> None:
    pagerduty.send(make_note())
    pagerduty.send(make_note(id="n2", event="escalate", level=2))
    pagerduty.send(make_note(id="n3", event="acknowledge", level=0))
    pagerduty.send(make_note(id="n4", event="resolve", level=0))
    bodies = [r.json() for r in http_server.requests]
    assert [b["event_action"] for b in bodies] == ["trigger", "trigger", "acknowledge", "resolve"]
    assert {b["dedup_key"] for b in bodies} == {"lw-4f1c2a9b7d3e5a10"}
    assert "payload" not in bodies[2] and "payload" not in bodies[3]


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("critical", "critical"), ("high", "error"), ("medium", "warning"), ("low", "info"), ("informational", "info")],
)
def test_severity_mapping(pagerduty, http_server: HttpRecorder, severity: str, expected: str) -> None:
    pagerduty.send(make_note(severity=severity))
    assert http_server.requests[0].json()["payload"]["severity"] == expected


def test_summary_is_capped_and_exercise_marked(pagerduty, http_server: HttpRecorder) -> None:
    pagerduty.send(make_note(title="x" * 5000, exercise=True, entity={"url.path": "/a" * 2000}))
    details = http_server.requests[0].json()["payload"]
    assert len(details["summary"]) <= 1024 and details["summary"].startswith("[EXERCISE] ")
    assert details["custom_details"]["exercise"] is True


def test_rejected_event_is_not_retried_and_throttling_is(pagerduty, http_server: HttpRecorder) -> None:
    http_server.status = 400
    http_server.reply = b'{"status":"invalid event","message":"Event object is invalid","errors":["Length of \'routing_key\' is incorrect"]}'
    with pytest.raises(ChannelError) as info:
        pagerduty.send(make_note())
    assert not info.value.retryable and "Event object is invalid" in str(info.value)
    http_server.status, http_server.reply = 429, b'{"status":"throttle event"}'
    with pytest.raises(ChannelError) as info:
        pagerduty.send(make_note())
    assert info.value.retryable


def test_missing_routing_key_is_not_retried(pagerduty, http_server: HttpRecorder, monkeypatch) -> None:
    monkeypatch.delenv("LW_TEST_PD_KEY")
    with pytest.raises(ChannelError) as info:
        pagerduty.send(make_note())
    assert not info.value.retryable and "LW_TEST_PD_KEY is not set" in str(info.value)
    assert http_server.requests == []
