"""`stdout`: one human-readable block per notification, for cron mail and `journalctl`."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from escalation.channels.message import plain_text
from escalation.channels.notification import ChannelError, Notification
from escalation.channels.spec import SpecReader

SEPARATOR = "-" * 72


@dataclass(frozen=True)
class StdoutChannel:
    name: str
    kind: str = field(default="stdout", init=False)

    def send(self, note: Notification) -> None:
        # sys.stdout is looked up per send so the CLI can redirect it (to stderr when stdout
        # carries a JSON document).
        try:
            sys.stdout.write(plain_text(note) + SEPARATOR + "\n")
            sys.stdout.flush()
        except (OSError, ValueError) as exc:  # closed or broken stdout does not heal by retrying
            raise ChannelError(f"stdout channel {self.name!r}: cannot write: {exc}", retryable=False) from None


def build(name: str, reader: SpecReader) -> StdoutChannel:
    reader.check_keys("stdout", set())
    return StdoutChannel(name)
