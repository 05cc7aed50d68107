"""The signed JSON webhook against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from channelkit import HOSTILE_LINE, HttpRecorder, channel_spec, make_note

from detector.textsafe import terminal_safe
from escalation.channels import build_channel
from escalation.channels.message import payload
from escalation.channels.notification import ChannelError
from escalation.channels.webhook import sign

SECRET = "whsec-test-6f0c"


def webhook(url: str, tmp_path, extra: str = ""):
    spec = channel_spec(f"kind: webhook\nurl: {url}\nsecret_env: LW_TEST_WEBHOOK_SECRET\ntimeout: 0.5\n{extra}")
    return build_channel("soar", spec, str(tmp_path / "policy.yaml"), 1, tmp_path)


@pytest.fixture(autouse=True)
def secret(monkeypatch) -> None:
    monkeypatch.setenv("LW_TEST_WEBHOOK_SECRET", SECRET)


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Written out from the documentation, independently of the channel's `sign`."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_webhook_posts_the_payload_signed(http_server: HttpRecorder, tmp_path) -> None:
    note = make_note()
    webhook(http_server.url, tmp_path).send(note)
    (request,) = http_server.requests
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Logwarden-Delivery"] == "ntf-0001-l1-oncall-email"
    assert request.headers["X-Logwarden-Event"] == "trigger"
    assert "X-Logwarden-Exercise" not in request.headers
    assert request.json() == payload(note)
    timestamp = request.headers["X-Logwarden-Timestamp"]
    assert timestamp.isdigit()
    signature = request.headers["X-Logwarden-Signature"]
    assert hmac.compare_digest(signature, expected_signature(SECRET, timestamp, request.body))
    assert signature == sign(SECRET, timestamp, request.body)
    assert signature != expected_signature("another-secret", timestamp, request.body)
    assert signature != expected_signature(SECRET, str(int(timestamp) + 1), request.body)  # timestamp is signed


def test_hostile_evidence_arrives_escaped(http_server: HttpRecorder, tmp_path) -> None:
    webhook(http_server.url, tmp_path).send(make_note())
    (request,) = http_server.requests
    raw = request.body
    assert b"\x1b" not in raw and b"\n" not in raw and b"<" not in raw and b">" not in raw
    assert request.json()["evidence"][1]["line"] == terminal_safe(HOSTILE_LINE)


def test_same_incident_keeps_its_dedup_key_and_delivery_id(http_server: HttpRecorder, tmp_path) -> None:
    channel = webhook(http_server.url, tmp_path)
    channel.send(make_note())
    channel.send(make_note())  # a retry of the same outbox message
    channel.send(make_note(id="ntf-0002-l2-lead-email", event="escalate", level=2))
    first, retry, escalated = http_server.requests
    assert first.body == retry.body
    assert first.headers["X-Logwarden-Delivery"] == retry.headers["X-Logwarden-Delivery"]
    assert escalated.headers["X-Logwarden-Delivery"] == "ntf-0002-l2-lead-email"
    assert {r.json()["dedup_key"] for r in http_server.requests} == {"lw-4f1c2a9b7d3e5a10"}


def test_exercise_is_flagged(http_server: HttpRecorder, tmp_path) -> None:
    webhook(http_server.url, tmp_path).send(make_note(exercise=True))
    (request,) = http_server.requests
    assert request.headers["X-Logwarden-Exercise"] == "true" and request.json()["exercise"] is True


def test_missing_secret_is_not_retried_and_nothing_is_sent(http_server: HttpRecorder, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("LW_TEST_WEBHOOK_SECRET")
    with pytest.raises(ChannelError) as info:
        webhook(http_server.url, tmp_path).send(make_note())
    assert not info.value.retryable
    assert "environment variable LW_TEST_WEBHOOK_SECRET is not set" in str(info.value)
    assert http_server.requests == []


def test_https_with_private_ca(https_server: HttpRecorder, certs, tmp_path) -> None:
    webhook(https_server.url, tmp_path, f"ca_file: {certs.ca}\n").send(make_note())
    assert len(https_server.requests) == 1
    with pytest.raises(ChannelError) as info:
        webhook(https_server.url, tmp_path, f"ca_file: {certs.other_ca}\n").send(make_note())
    assert not info.value.retryable and "could not be verified" in str(info.value)
    with pytest.raises(ChannelError) as info:
        webhook(https_server.url, tmp_path).send(make_note())  # system CAs do not know the test CA
    assert not info.value.retryable
    assert len(https_server.requests) == 1


def test_body_is_valid_json_for_any_receiver(http_server: HttpRecorder, tmp_path) -> None:
    note = make_note(entity={"user.name": "ünïcødé & <b>"})
    webhook(http_server.url, tmp_path).send(note)
    (request,) = http_server.requests
    request.body.decode("ascii")  # pure ASCII on the wire
    assert json.loads(request.body)["entity"] == {"user.name": "ünïcødé & <b>"}
