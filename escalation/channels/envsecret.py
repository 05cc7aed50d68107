"""Secrets come from the environment at send time, never from the policy file."""

from __future__ import annotations

import os

from escalation.channels.notification import ChannelError


def read_secret(label: str, variable: str, what: str) -> str:
    """The value of `variable`; a missing or empty one cannot be fixed by retrying."""
    value = os.environ.get(variable, "")
    if not value:
        raise ChannelError(
            f"{label}: environment variable {variable} is not set; export it (the {what}) "
            "in the environment logwarden runs in",
            retryable=False,
        )
    return value
