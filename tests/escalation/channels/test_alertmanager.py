"""The Alertmanager-compatible webhook: the exact shape Alertmanager POSTs to webhook receivers."""

from __future__ import annotations

from channelkit import CREATED, HttpRecorder, channel_spec, make_note

from escalation.channels import build_channel
from escalation.channels.message import plain_text, subject


def channel(server: HttpRecorder, tmp_path):
    spec = channel_spec(
        f"kind: alertmanager\nurl: {server.url}\nreceiver: secops-bridge\n"
        "external_url: https://logwarden.example.com/\ntimeout: 0.5\n"
    )
    return build_channel("am", spec, str(tmp_path / "policy.yaml"), 1, tmp_path)


def test_firing_alert_payload(http_server: HttpRecorder, tmp_path) -> None:
    note = make_note()
    channel(http_server, tmp_path).send(note)
    body = http_server.requests[0].json()
    labels = {
        "alertname": "ssh-bruteforce",
        "severity": "high",
        "incident": "INC-4f1c2a",
        "scenario": "ssh-bruteforce",
        "source": "logwarden",
    }
    assert {k: v for k, v in body.items() if k != "alerts" and k != "commonAnnotations"} == {
        "version": "4",
        "groupKey": '{}:{incident="INC-4f1c2a"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "secops-bridge",
        "groupLabels": {"incident": "INC-4f1c2a"},
        "commonLabels": labels,
        "externalURL": "https://logwarden.example.com/",
    }
    (alert,) = body["alerts"]
    assert alert["status"] == "firing" and alert["labels"] == labels
    assert alert["startsAt"] == "2026-11-21T10:01:02Z" and alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["generatorURL"] == "https://logwarden.example.com/"
    assert len(alert["fingerprint"]) == 16 and int(alert["fingerprint"], 16) >= 0
    annotations = alert["annotations"]
    assert annotations["summary"] == subject(note) and annotations["description"] == plain_text(note)
    assert annotations["entity"] == "source.ip=203.0.113.7" and annotations["attack"] == "T1110.001"
    assert body["commonAnnotations"] == annotations


def test_resolve_keeps_the_alert_identity(http_server: HttpRecorder, tmp_path) -> None:
    am = channel(http_server, tmp_path)
    am.send(make_note())
    am.send(make_note(id="n2", event="escalate", level=2))
    am.send(make_note(id="n3", event="resolve", level=0))
    firing, escalated, resolved = (r.json()["alerts"][0] for r in http_server.requests)
    assert firing["fingerprint"] == escalated["fingerprint"] == resolved["fingerprint"]
    assert firing["labels"] == escalated["labels"] == resolved["labels"]
    assert escalated["annotations"]["level"] == "2"
    assert resolved["status"] == "resolved" and http_server.requests[2].json()["status"] == "resolved"
    assert resolved["endsAt"] == "2026-11-21T10:20:00Z" == CREATED.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_exercise_label_and_escaped_description(http_server: HttpRecorder, tmp_path) -> None:
    channel(http_server, tmp_path).send(make_note(exercise=True))
    alert = http_server.requests[0].json()["alerts"][0]
    assert alert["labels"]["exercise"] == "true"
    assert alert["annotations"]["summary"].startswith("[EXERCISE] ")
    assert "\x1b" not in alert["annotations"]["description"]
    assert b"<script>" not in http_server.requests[0].body
