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
    # journalctl -o json: __REALTIME_TIMESTAMP (microseconds), _HOSTNAME, SYSLOG_IDENTIFIER, _PID
    "@timestamp": ("@timestamp", "timestamp", "ts", "time", "t", "__realtime_timestamp", "startutc"),
    "log.level": ("log.level", "level", "severity", "lvl"),
    "message": ("message", "msg"),
    # caddy: request.client_ip/remote_ip; traefik: ClientHost; nginx/Apache JSON: remote_addr
    "source.ip": (
        "source.ip", "ip", "client_ip", "clientip", "remote_addr", "remote_ip", "src_ip",
        "request.client_ip", "request.remote_ip", "clienthost",
    ),
    "user.name": ("user.name", "user", "username", "user_name", "login", "remote_user", "user_id"),
    "event.action": ("event.action", "event", "action", "event_type"),
    "event.outcome": ("event.outcome", "outcome", "result"),
    "user.target.name": ("user.target.name", "target_user", "target"),
    "user.roles": ("user.roles", "role", "new_role", "roles"),
    "host.name": ("host.name", "host", "hostname", "_hostname"),
    "service.name": ("service.name", "service", "app", "application"),
    "process.name": ("process.name", "syslog_identifier", "_comm"),
    "http.request.method": (
        "http.request.method", "method", "request.method", "requestmethod", "request_method", "request_verb",
    ),
    "url.original": ("url.original", "url", "path", "request.uri", "requestpath", "request_uri", "uri", "request_url"),
    "url.domain": ("url.domain", "request.host", "requesthost", "server_name", "vhost"),
    "http.response.status_code": (
        "http.response.status_code", "status", "status_code", "downstreamstatus", "elb_status_code",
    ),
    "http.response.body.bytes": (
        "http.response.body.bytes", "size", "body_bytes_sent", "bytes_sent", "downstreamcontentsize", "sent_bytes",
    ),
    "user_agent.original": (
        "user_agent.original", "request.headers.user-agent", "request_user-agent", "http_user_agent",
        "user_agent", "useragent", "user-agent",
    ),
    "http.request.referrer": (
        "http.request.referrer", "request.headers.referer", "request_referer", "http_referer", "referer", "referrer",
    ),
    "process.pid": ("process.pid", "pid", "_pid", "syslog_pid"),
}
#: Header values some servers log as a JSON list (caddy: `"User-Agent": ["curl/8.5.0"]`).
LIST_VALUED = ("user_agent.original", "http.request.referrer")
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


def _first_of_list(values: pa.Array) -> pa.Array:
    """`["a","b"]` (a JSON list kept as text) -> `a`; other values unchanged."""
    listed = pc.extract_regex(values, r'^\["(?P<first>(?:[^"\\]|\\.)*)"')
    first = pc.replace_substring(pc.struct_field(listed, "first"), '\\"', '"')
    return pc.if_else(listed.is_valid(), first, values)


def has_time_key(columns: dict[str, pa.Array], length: int) -> np.ndarray:
    """Rows that carry any time key at all (a row without one takes the file's time)."""
    present = np.zeros(length, dtype=bool)
    for values in _candidates(columns, "@timestamp"):
        present |= values.is_valid().to_numpy(zero_copy_only=False)
    return present


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
        elif name in ("process.pid", "http.response.body.bytes"):
            values = to_int(values)
        elif name in LIST_VALUED:
            values = _first_of_list(values)
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
