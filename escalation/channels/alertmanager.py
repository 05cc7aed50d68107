"""`alertmanager`: the payload Alertmanager itself POSTs to webhook receivers (version 4).

Anything that consumes Alertmanager webhooks (alert routers, chat bridges, SOAR) can take
logwarden's notifications unchanged. Labels identify the alert and stay fixed for an incident
(alertname, severity, incident, scenario); everything that changes goes in annotations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from detector.model import iso, stable_hash
from escalation.channels.httppost import (
    HTTP_KEYS,
    HttpEndpoint,
    post_json,
    read_endpoint,
)
from escalation.channels.message import dumps, entity_text, plain_text, safe, subject
from escalation.channels.notification import Notification
from escalation.channels.spec import SpecReader

ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager sends as endsAt of a firing alert


def alertmanager_body(note: Notification, receiver: str, external_url: str) -> dict[str, Any]:
    status = "resolved" if note.event == "resolve" else "firing"
    labels = {
        "alertname": safe(note.scenario_id, 200),
        "severity": safe(note.severity, 20),
        "incident": safe(note.incident_id, 80),
        "scenario": safe(note.scenario_id, 200),
        "source": "logwarden",
    }
    if note.exercise:
        labels["exercise"] = "true"
    annotations = {
        "summary": subject(note),
        "description": plain_text(note),
        "title": safe(note.title, 500),
        "entity": entity_text(note),
        "confidence": f"{note.confidence:.2f}",
        "reasons": "; ".join(safe(r, 300) for r in note.confidence_reasons),
        "attack": ", ".join(safe(a, 40) for a in note.attack),
        "event": safe(note.event, 40),
        "level": str(note.level),
        "ack_command": safe(note.ack_command, 300),
        "dedup_key": note.dedup_key,
        "notification_id": note.id,
    }
    alert = {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": iso(note.first_seen or note.created_at),
        "endsAt": iso(note.created_at) if status == "resolved" else ZERO_TIME,
        "generatorURL": external_url,
        "fingerprint": stable_hash(note.dedup_key, length=16),
    }
    return {
        "version": "4",
        "groupKey": "{}:{incident=" + json.dumps(labels["incident"]) + "}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"incident": labels["incident"]},
        "commonLabels": dict(labels),
        "commonAnnotations": dict(annotations),
        "externalURL": external_url,
        "alerts": [alert],
    }


@dataclass(frozen=True)
class AlertmanagerChannel:
    name: str
    endpoint: HttpEndpoint
    receiver: str
    external_url: str
    kind: str = field(default="alertmanager", init=False)

    def send(self, note: Notification) -> None:
        body = dumps(alertmanager_body(note, self.receiver, self.external_url)).encode("ascii")
        post_json(f"alertmanager channel {self.name!r}", self.endpoint, body)


def build(name: str, reader: SpecReader) -> AlertmanagerChannel:
    reader.check_keys("alertmanager", HTTP_KEYS | {"receiver", "external_url"})
    endpoint = read_endpoint(reader, example="https://alerts.example.com/hooks/alertmanager")
    receiver = reader.string("receiver", "logwarden") or name
    external_url = reader.string("external_url", "https://logwarden.example.com/") or ""
    return AlertmanagerChannel(name, endpoint, receiver, external_url)
