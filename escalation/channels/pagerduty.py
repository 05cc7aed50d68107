"""`pagerduty`: PagerDuty Events API v2 (trigger / acknowledge / resolve on one dedup_key).

The routing (integration) key is read from the environment at send time. Every event of one
incident carries the incident's stable dedup_key, so PagerDuty folds repeats and escalations
into one alert and the acknowledge/resolve of logwarden reach that same alert.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from detector.model import iso
from escalation.channels.envsecret import read_secret
from escalation.channels.httppost import (
    HTTP_KEYS,
    HttpEndpoint,
    post_json,
    read_endpoint,
)
from escalation.channels.message import dumps, payload, safe, subject
from escalation.channels.notification import Notification
from escalation.channels.spec import SpecReader

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_LIMIT = 1024
ACTIONS = {"acknowledge": "acknowledge", "resolve": "resolve"}  # every other event triggers
SEVERITIES = {"critical": "critical", "high": "error", "medium": "warning", "low": "info", "informational": "info"}


def pagerduty_body(note: Notification, routing_key: str, source: str) -> dict[str, Any]:
    action = ACTIONS.get(note.event, "trigger")
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": note.dedup_key,
        "client": "logwarden",
    }
    if action == "trigger":
        summary = subject(note)
        body["payload"] = {
            "summary": summary if len(summary) <= SUMMARY_LIMIT else summary[: SUMMARY_LIMIT - 3] + "...",
            "source": source,
            "severity": SEVERITIES.get(note.severity, "error"),
            "timestamp": iso(note.created_at),
            "class": safe(note.scenario_id, 200),
            "custom_details": payload(note),
        }
    return body


@dataclass(frozen=True)
class PagerDutyChannel:
    name: str
    endpoint: HttpEndpoint
    routing_key_env: str
    source: str
    kind: str = field(default="pagerduty", init=False)

    @property
    def label(self) -> str:
        return f"pagerduty channel {self.name!r}"

    def send(self, note: Notification) -> None:
        key = read_secret(self.label, self.routing_key_env, "PagerDuty routing key")
        body = dumps(pagerduty_body(note, key, self.source)).encode("ascii")
        post_json(self.label, self.endpoint, body)


def build(name: str, reader: SpecReader) -> PagerDutyChannel:
    reader.check_keys("pagerduty", HTTP_KEYS | {"routing_key_env", "source"})
    endpoint = read_endpoint(reader, default_url=DEFAULT_URL, example=DEFAULT_URL)
    routing_key_env = reader.env_name("routing_key_env", "PD_ROUTING_KEY", required=True)
    source = reader.string("source", "bastion-01.example.com") or socket.gethostname() or "logwarden"
    return PagerDutyChannel(name, endpoint, routing_key_env or "", source)
