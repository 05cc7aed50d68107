"""The normalized event frame (DESIGN §4): ECS column names, their Arrow types, and vocabularies.

Every parser produces columns from this list (plus, for application logs, their own flattened
keys). Rules may only name fields listed here or declared by the scenario as custom fields.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

#: ECS columns and their Arrow types. Strings are plain UTF-8; integers are int64.
ECS_FIELDS: dict[str, pa.DataType] = {
    "@timestamp": TIMESTAMP,
    "event.kind": pa.string(),
    "event.action": pa.string(),
    "event.outcome": pa.string(),
    "event.dataset": pa.string(),
    "event.category": pa.string(),
    "event.reason": pa.string(),
    "log.kind": pa.string(),
    "log.format": pa.string(),
    "log.level": pa.string(),
    "log.file.path": pa.string(),
    "log.offset": pa.int64(),
    "log.original": pa.string(),
    "message": pa.string(),
    "source.ip": pa.string(),
    "source.port": pa.int64(),
    "source.domain": pa.string(),
    "destination.ip": pa.string(),
    "destination.port": pa.int64(),
    "network.transport": pa.string(),
    "user.name": pa.string(),
    "user.id": pa.string(),
    "user.target.name": pa.string(),
    "user.roles": pa.string(),
    "group.name": pa.string(),
    "host.name": pa.string(),
    "service.name": pa.string(),
    "process.name": pa.string(),
    "process.pid": pa.int64(),
    "process.command_line": pa.string(),
    "http.request.method": pa.string(),
    "http.version": pa.string(),
    "http.response.status_code": pa.int64(),
    "http.response.body.bytes": pa.int64(),
    "http.request.referrer": pa.string(),
    "url.original": pa.string(),
    "url.path": pa.string(),
    "url.query": pa.string(),
    "url.domain": pa.string(),
    "user_agent.original": pa.string(),
    "error.message": pa.string(),
    "rule.name": pa.string(),
    "observer.ingress.interface.name": pa.string(),
    # How @timestamp was obtained when the line carries no time of its own ("file-mtime");
    # null for the usual case of a time read from the line.
    "log.time_source": pa.string(),
}

INTEGER_FIELDS = frozenset(k for k, t in ECS_FIELDS.items() if pa.types.is_integer(t))

#: Values of `log.kind` (the log families scenarios `require`).
LOG_KINDS = ("access", "web-error", "application", "auth", "system", "firewall")

#: Values of `event.outcome`.
OUTCOMES = ("success", "failure", "unknown")

#: `event.action` values of syslog and service messages come from the event catalog
#: (detector/parsing/catalog/*.yaml; `detector.parsing.catalog.actions()` lists them).

#: Format names (the `format` of a source, and `log.format` of each row).
FORMATS = (
    "combined",
    "common",
    "apache-error",
    "nginx-error",
    "json",
    "logfmt",
    "syslog",
    "haproxy",
    "aws-alb",
    "auditd",
    "stamped",
    "bare",
)


def arrow_dtype(field: str) -> pd.ArrowDtype:
    """pandas dtype for a column: its ECS Arrow type, or a string for custom keys."""
    return pd.ArrowDtype(ECS_FIELDS.get(field, pa.string()))


def empty_frame(columns: list[str] | None = None) -> pd.DataFrame:
    """An empty event frame with the right dtypes (useful as a neutral element)."""
    names = columns if columns is not None else list(ECS_FIELDS)
    return pd.DataFrame({name: pd.Series([], dtype=arrow_dtype(name)) for name in names})
