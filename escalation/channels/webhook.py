"""`webhook`: the JSON payload POSTed with an HMAC-SHA256 signature.

Signed content: the ASCII decimal Unix timestamp from `X-Logwarden-Timestamp`, one `.`, then
the exact body bytes. `X-Logwarden-Signature: sha256=<hex HMAC-SHA256(secret, signed content)>`.
Each attempt is signed anew (receivers may reject stale timestamps to stop replays) while
`X-Logwarden-Delivery` (the outbox message id) stays the same for receiver deduplication.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field

from escalation.channels.envsecret import read_secret
from escalation.channels.httppost import (
    HTTP_KEYS,
    HttpEndpoint,
    post_json,
    read_endpoint,
)
from escalation.channels.message import to_json
from escalation.channels.notification import Notification
from escalation.channels.spec import SpecReader

SIGNATURE_HEADER = "X-Logwarden-Signature"
TIMESTAMP_HEADER = "X-Logwarden-Timestamp"
DELIVERY_HEADER = "X-Logwarden-Delivery"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The value of X-Logwarden-Signature for this timestamp and body."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


@dataclass(frozen=True)
class WebhookChannel:
    name: str
    endpoint: HttpEndpoint
    secret_env: str
    kind: str = field(default="webhook", init=False)

    @property
    def label(self) -> str:
        return f"webhook channel {self.name!r}"

    def send(self, note: Notification) -> None:
        secret = read_secret(self.label, self.secret_env, "webhook signing secret")
        body = to_json(note).encode("ascii")
        timestamp = str(int(time.time()))
        headers = {
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: note.id,
            "X-Logwarden-Event": note.event,
        }
        if note.exercise:
            headers["X-Logwarden-Exercise"] = "true"
        post_json(self.label, self.endpoint, body, headers)


def build(name: str, reader: SpecReader) -> WebhookChannel:
    reader.check_keys("webhook", HTTP_KEYS | {"secret_env"})
    endpoint = read_endpoint(reader)
    secret_env = reader.env_name("secret_env", "WEBHOOK_SECRET", required=True)
    return WebhookChannel(name, endpoint, secret_env or "")
