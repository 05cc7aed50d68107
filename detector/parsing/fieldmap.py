"""Application logs (JSON, logfmt): map a log's own keys onto ECS fields.

Key names are matched case-insensitively; when several aliases are present the first one in
the list with a value wins, row by row (the exact ECS name comes first: a log that already
speaks ECS means what it says). The original keys stay as their own string columns.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import to_int
from detector.parsing.result import PIPELINE_COLUMNS
from detector.parsing.timeparse import parse_epoch, parse_iso
from detector.parsing.urldecode import split_target
from detector.schema import ECS_FIELDS

#: ECS field -> the keys that mean it, in order of preference (lower case).
ALIASES: dict[str, tuple[str, ...]] = {
    "@timestamp": ("@timestamp", "timestamp", "ts", "time", "t"),
    "log.level": ("log.level", "level", "severity", "lvl"),
    "message": ("message", "msg"),
    "source.ip": ("source.ip", "ip", "client_ip", "clientip", "remote_addr", "remote_ip", "src_ip"),
    "user.name": ("user.name", "user", "username", "user_name", "login"),
    "event.action": ("event.action", "event", "action", "event_type"),
    "event.outcome": ("event.outcome", "outcome", "result"),
    "user.target.name": ("user.target.name", "target_user", "target"),
    "user.roles": ("user.roles", "role", "new_role", "roles"),
    "host.name": ("host.name", "host", "hostname"),
    "service.name": ("service.name", "service", "app", "application"),
    "http.request.method": ("http.request.method", "method"),
    "url.original": ("url.original", "url", "path"),
    "http.response.status_code": ("http.response.status_code", "status", "status_code"),
    "process.pid": ("process.pid", "pid"),
}
SUCCESS_WORDS = ("success", "succeeded", "successful", "ok", "true", "allowed", "allow", "accepted", "pass", "passed")
FAILURE_WORDS = ("fail", "failed", "failure", "denied", "deny", "error", "false", "blocked", "block", "rejected")


def normalize_outcome(values: pa.Array) -> pa.Array:
    """Free-form result words -> success | failure | unknown (null stays null)."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    success = pc.is_in(lowered, value_set=pa.array(SUCCESS_WORDS))
    failure = pc.is_in(lowered, value_set=pa.array(FAILURE_WORDS))
    word = pc.if_else(success, "success", pc.if_else(failure, "failure", "unknown"))
    return pc.if_else(pc.is_valid(values), word, pa.scalar(None, pa.string()))


def _candidates(columns: dict[str, pa.Array], target: str) -> list[pa.Array]:
    by_lower: dict[str, str] = {}
    for name in columns:
        by_lower.setdefault(name.lower(), name)
    return [columns[by_lower[alias]] for alias in ALIASES[target] if alias in by_lower]


def _exact(columns: dict[str, pa.Array], name: str) -> list[pa.Array]:
    return [values for key, values in columns.items() if key.lower() == name][:1]


def _first(arrays: list[pa.Array], length: int) -> pa.Array:
    if not arrays:
        return pa.nulls(length, pa.string())
    return arrays[0] if len(arrays) == 1 else pc.coalesce(*arrays)


def timestamp_of(columns: dict[str, pa.Array], length: int, tz: str) -> pa.Array:
    """UTC time from the first time key that parses, as ISO-8601 text or epoch numbers."""
    parsed = [pc.coalesce(parse_iso(values, tz), parse_epoch(values)) for values in _candidates(columns, "@timestamp")]
    if not parsed:
        return pa.nulls(length, pa.timestamp("us", tz="UTC"))
    return parsed[0] if len(parsed) == 1 else pc.coalesce(*parsed)


def map_fields(columns: dict[str, pa.Array], length: int, tz: str) -> tuple[dict[str, pa.Array], pa.Array]:
    """(ECS columns + the original keys as strings, @timestamp) for a batch of application log lines.

    `columns` holds every original key as a full-length string column."""
    text = {target: _first(_candidates(columns, target), length) for target in ALIASES if target != "@timestamp"}
    original = text.pop("url.original")
    path, query = split_target(original)
    path = _first([*_exact(columns, "url.path"), path], length)
    query = _first([*_exact(columns, "url.query"), query], length)
    mapped: dict[str, pa.Array] = {}
    for name, values in text.items():
        if name == "event.outcome":
            values = normalize_outcome(values)
        elif name == "http.response.status_code":
            values = to_int(values, max_digits=3)
        elif name == "process.pid":
            values = to_int(values)
        mapped[name] = values
    mapped.update({"url.original": original, "url.path": path, "url.query": query})

    out: dict[str, pa.Array] = {}
    for name, values in columns.items():
        if name in PIPELINE_COLUMNS or name == "@timestamp":
            continue
        if name in ECS_FIELDS and name not in mapped:
            target = ECS_FIELDS[name]
            values = to_int(values, signed=True) if pa.types.is_integer(target) else values
        out[name] = values
    out.update(mapped)
    return out, timestamp_of(columns, length, tz)


def select_keys(counts: dict[str, int], limit: int) -> set[str]:
    """The keys kept as columns when a batch has more than `limit` distinct keys: the most used,
    and every key an ECS alias needs (hostile lines with random keys cannot blow up the frame)."""
    if len(counts) <= limit:
        return set(counts)
    wanted = {alias for aliases in ALIASES.values() for alias in aliases}
    keep = {name for name in counts if name.lower() in wanted}
    names = np.array(list(counts), dtype=object)
    order = np.argsort(-np.array(list(counts.values())), kind="stable")
    for name in names[order]:
        if len(keep) >= limit:
            break
        keep.add(name)
    return keep
