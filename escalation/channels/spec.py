"""Reading one channel's YAML mapping: typed getters that collect every problem at once.

Each problem reads `source:line: channel 'name': what is wrong; what to write instead`. Getters
always return a usable value (the default when the input is bad) so a builder can keep going
and report the next problem too; `build_channel` raises once at the end.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from detector.durations import parse_duration
from detector.yamlsafe import LineDict

DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 300.0
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOST = re.compile(r"^[A-Za-z0-9.:_\[\]-]+$")
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")

# A secret written inline, and the key that should name its environment variable instead.
_INLINE_SECRETS = {
    "password": "password_env",
    "secret": "secret_env",
    "routing_key": "routing_key_env",
    "integration_key": "routing_key_env",
}


class SpecReader:
    """One channel's spec plus the problems found in it so far."""

    def __init__(self, name: str, spec: dict[str, Any], source: str, line: int) -> None:
        self.name = name
        self.spec = spec
        self.source = source
        self.line = line
        self._found: list[tuple[int, str]] = []

    @property
    def problems(self) -> list[str]:
        """Every problem, in file order."""
        return [message for _, message in sorted(self._found, key=lambda item: item[0])]

    # -- reporting ----------------------------------------------------------------------------

    def line_of(self, key: str | None) -> int:
        if key is not None and isinstance(self.spec, LineDict) and key in self.spec:
            return self.spec.line_of(key)
        return self.line

    def add(self, key: str | None, message: str) -> None:
        line = self.line_of(key)
        self._found.append((line, f"{self.source}:{line}: channel {self.name!r}: {message}"))

    def relative_to(self) -> Path:
        """Directory that relative paths in the spec are resolved against (the policy's)."""
        return Path(self.source).parent

    # -- structure ----------------------------------------------------------------------------

    def check_keys(self, kind: str, allowed: set[str]) -> None:
        """Unknown keys, with a hint for typos and for secrets written into the file."""
        allowed = allowed | {"kind"}
        for key in self.spec:
            if key in allowed:
                continue
            env_key = _INLINE_SECRETS.get(str(key))
            if env_key in allowed:
                example = {"password_env": "SMTP_PASSWORD", "secret_env": "WEBHOOK_SECRET"}.get(
                    env_key, "PD_ROUTING_KEY"
                )
                self.add(
                    key,
                    f"{key} must not be written in the policy file; put it in an environment "
                    f"variable and write {env_key}: {example}",
                )
                continue
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.add(
                key,
                f"unknown key {key!r} for kind {kind}{hint}; expected one of: {', '.join(sorted(allowed))}",
            )

    # -- scalars ------------------------------------------------------------------------------

    def string(self, key: str, example: str, required: bool = False) -> str | None:
        value = self.spec.get(key)
        if value is None:
            if required:
                self.add(None, f"{key} is missing; add {key}: {example}")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(key, f"{key} must be a non-empty text such as {example}, got {value!r}")
            return None
        return value.strip()

    def choice(self, key: str, choices: dict[str, str], default: str, what: str | None = None) -> str:
        """One of `choices` (name -> explanation used in the message)."""
        value = self.spec.get(key, default)
        if value not in choices:
            listed = ", ".join(f"{name} ({why})" if why else name for name, why in choices.items())
            self.add(key, f"unknown {what or key} {value!r}; use one of {listed}")
            return default
        return str(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.spec.get(key, default)
        if not isinstance(value, bool):
            self.add(key, f"{key} must be true or false, got {value!r}")
            return default
        return value

    def port(self, default: int) -> int:
        value = self.spec.get("port", default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            self.add("port", f"port {value!r} is not a TCP/UDP port; use a number from 1 to 65535")
            return default
        return value

    def host(self, example: str) -> str:
        value = self.string("host", example, required=True)
        if value is not None and ("://" in value or not _HOST.match(value)):
            self.add("host", f"host {value!r} must be a bare host name or IP address such as {example}")
        return value or ""

    def timeout(self) -> float:
        """Seconds that one send may take in total (number, or a duration such as `30s`)."""
        value = self.spec.get("timeout", DEFAULT_TIMEOUT)
        seconds: float | None
        if isinstance(value, bool):
            seconds = None
        elif isinstance(value, (int, float)):
            seconds = float(value)
        else:
            try:
                seconds = parse_duration(value).total_seconds()
            except ValueError:
                seconds = None
        if seconds is None or seconds <= 0:
            self.add(
                "timeout",
                f"timeout must be a positive number of seconds such as 10 (or a duration such as 30s), got {value!r}",
            )
            return DEFAULT_TIMEOUT
        if seconds > MAX_TIMEOUT:
            self.add(
                "timeout",
                f"timeout {value!r} is too long: a slow channel would hold up escalation; use at most {int(MAX_TIMEOUT)} seconds",
            )
            return DEFAULT_TIMEOUT
        return seconds

    def env_name(self, key: str, example: str, required: bool = False) -> str | None:
        """The NAME of an environment variable holding a secret (the secret is read at send time)."""
        value = self.spec.get(key)
        if value is None:
            if required:
                self.add(None, f"{key} is missing; add {key}: {example} and export {example} for the service")
            return None
        if not isinstance(value, str) or not _ENV_NAME.match(value):
            self.add(
                key,
                f"{key} must name an environment variable such as {example} (the secret itself goes in "
                f"that variable, never in this file), got {_redacted(value)}",
            )
            return None
        return value

    def path(self, key: str, example: str) -> Path | None:
        value = self.string(key, example)
        if value is None:
            return None
        candidate = Path(os.path.expanduser(value))
        return candidate if candidate.is_absolute() else self.relative_to() / candidate

    def address(self, key: str, value: object, example: str) -> str | None:
        if not isinstance(value, str) or not _ADDRESS.match(value.strip()):
            self.add(key, f"{key} {value!r} is not an email address; write e.g. {example}")
            return None
        return value.strip()

    def addresses(self, key: str, example: str) -> tuple[str, ...]:
        value = self.spec.get(key)
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            self.add(key, f"{key} must be an email address or a list of them, e.g. [{example}]")
            return ()
        found = [self.address(key, item, example) for item in items]
        return tuple(a for a in found if a)

    def url(self, key: str = "url", example: str = "https://hooks.example.com/logwarden") -> str | None:
        value = self.string(key, example)
        if value is None:
            return None
        problem = url_problem(value)
        if problem:
            self.add(key, f"{key} {value!r} {problem}; write e.g. {example}")
            return None
        return value


def url_problem(url: str) -> str | None:
    """Why `url` cannot be POSTed to, or None. Shared with URLs read from the environment."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.username or parts.password:
        return "must not carry user:password@ (credentials do not belong in the policy file)"
    return None


def _redacted(value: object) -> str:
    """Show the shape of a bad value without echoing what may be a pasted secret."""
    if isinstance(value, str):
        return f"a text of {len(value)} characters that is not a variable name"
    return repr(value)
