"""`slack`: a Slack-compatible incoming-webhook message (`text` + Block Kit sections, mrkdwn).

Log content is escaped for mrkdwn (`&`, `<`, `>`), so it cannot form links or mentions such as
`<!channel>`; evidence sits in a code block so bare URLs in it are not made clickable. The
incoming-webhook URL is itself a credential: prefer `url_env`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from escalation.channels.httppost import (
    HTTP_KEYS,
    HttpEndpoint,
    post_json,
    read_endpoint,
)
from escalation.channels.message import dumps, markdown_sections
from escalation.channels.notification import Notification
from escalation.channels.spec import SpecReader

SECTION_LIMIT = 3000  # Slack's limit for one section's text


def slack_body(note: Notification) -> dict:
    sections = [s if len(s) <= SECTION_LIMIT else s[: SECTION_LIMIT - 3] + "..." for s in markdown_sections(note)]
    return {
        "text": "\n".join(sections),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections],
        "unfurl_links": False,
        "unfurl_media": False,
    }


@dataclass(frozen=True)
class SlackChannel:
    name: str
    endpoint: HttpEndpoint
    kind: str = field(default="slack", init=False)

    def send(self, note: Notification) -> None:
        post_json(f"slack channel {self.name!r}", self.endpoint, dumps(slack_body(note)).encode("ascii"))


def build(name: str, reader: SpecReader) -> SlackChannel:
    reader.check_keys("slack", HTTP_KEYS)
    return SlackChannel(name, read_endpoint(reader, example="https://hooks.slack.com/services/T000/B000/XXXX"))
