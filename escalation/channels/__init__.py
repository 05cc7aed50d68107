"""Notification channels: the `Notification` value, how it is rendered, and where it is delivered.
May import detector's model, textsafe and state.private (file modes) only; never the engine.

`build_channel` turns one channel mapping of the policy file into a configured channel,
reporting every problem in it at once; `send(note)` delivers or raises `ChannelError`
(`retryable` tells the outbox whether trying again can help). See docs/channels.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from detector.errors import PolicyError
from escalation.channels import (
    alertmanager,
    journal,
    pagerduty,
    slack,
    smtp,
    stdout,
    syslog,
    webhook,
)
from escalation.channels.notification import Channel
from escalation.channels.spec import SpecReader

CHANNEL_KINDS = ("stdout", "file", "email", "webhook", "slack", "pagerduty", "alertmanager", "syslog")

_BUILDERS: dict[str, Callable[[str, SpecReader], Channel]] = {
    "stdout": stdout.build,
    "email": smtp.build,
    "webhook": webhook.build,
    "slack": slack.build,
    "pagerduty": pagerduty.build,
    "alertmanager": alertmanager.build,
    "syslog": syslog.build,
}


def build_channel(name: str, spec: dict[str, Any], source: str, line: int, state_dir: Path) -> Channel:
    """A configured channel, or PolicyError listing every problem as `source:line: ...`.

    `spec` is the channel's mapping (a LineDict from detector.yamlsafe gives each problem the
    line of its key; `line` is used for problems of the mapping as a whole). Relative paths
    are taken relative to the directory of `source`. Secrets are only named here (`*_env`)
    and read at send time.
    """
    if not isinstance(spec, dict):
        raise PolicyError(
            f"{source}:{line}: channel {name!r} must be a mapping with a kind, e.g. {{kind: stdout}}; "
            f"kinds: {', '.join(CHANNEL_KINDS)}"
        )
    reader = SpecReader(name, spec, source, line)
    kind = spec.get("kind")
    if kind is None:
        raise PolicyError(f"{source}:{line}: channel {name!r} has no kind; add kind: one of {', '.join(CHANNEL_KINDS)}")
    if kind not in CHANNEL_KINDS:
        raise PolicyError(
            f"{source}:{reader.line_of('kind')}: channel {name!r}: unknown kind {kind!r}; "
            f"use one of {', '.join(CHANNEL_KINDS)}"
        )
    channel = journal.build(name, reader, state_dir) if kind == "file" else _BUILDERS[kind](name, reader)
    if reader.problems:
        raise PolicyError(reader.problems)
    return channel


__all__ = ["CHANNEL_KINDS", "build_channel"]
