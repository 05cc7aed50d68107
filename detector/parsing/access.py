"""Apache/nginx access logs: `common` and `combined`, with optional vhost prefix and trailing fields.

    [vhost[:port] ]client ident user [10/Oct/2026:13:55:36 -0700] "GET /x?y HTTP/1.1" 200 2326 "referer" "agent" ...

Fast path: split every line on `"` (a quote ends or starts each quoted field), then split the
short pieces on spaces. Lines that do not have that shape, and lines with an escaped quote
(`\\"`, nginx and Apache escape quotes inside fields), go through one full regex instead.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import (
    constant,
    fill_rows,
    group,
    list_get,
    list_is,
    mask_of,
    null_if_equal,
    to_int,
    when,
)
from detector.parsing.base import ParseContext, ParseResult
from detector.parsing.result import NO_MATCH, Verdicts, build_result
from detector.parsing.timeloose import or_loose
from detector.parsing.timeparse import parse_clf
from detector.parsing.urldecode import split_target, target_host

RAW_FIELDS = ("vhost", "client", "user", "time", "request", "status", "bytes", "referrer", "agent")

_QUOTED = r'"(?P<{name}>(?:[^"\\]|\\.)*)"'
# The client is never a bare `-`: that tells `vhost client - user` from `client - user with spaces`.
_HEAD = r"^(?:(?P<vhost>[^ ]+) )?(?P<client>[^ -][^ ]*|-[^ ]+) [^ ]+ (?P<user>.*?) \[(?P<time>[^\]]*)\] "
_STATUS = r" (?P<status>[0-9]{3}) (?P<bytes>[0-9]+|-)"
_TRAILER = r"(?:[ \t].*)?$"
COMMON_PATTERN = _HEAD + _QUOTED.format(name="request") + _STATUS + _TRAILER
COMBINED_PATTERN = (
    _HEAD
    + _QUOTED.format(name="request")
    + _STATUS
    + " "
    + _QUOTED.format(name="referrer")
    + " "
    + _QUOTED.format(name="agent")
    + _TRAILER
)
METHOD = r"^[A-Za-z][A-Za-z0-9_-]{0,31}$"
#: The start of a syslog line (RFC 3164 or ISO stamp, optional PRI).
SYSLOG_HEAD = (
    r"^(?:<[0-9]{1,3}>)?(?:[A-Z][a-z]{2} +[0-9]{1,2}(?: [0-9]{4})? [0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2})"
)
VERSION = r"^HTTP/[0-9]+(\.[0-9]+)?$"
REQUEST_PATTERN = r"^(?P<method>[^ ]+) (?P<target>.*?)(?: (?P<version>HTTP/[0-9]+(?:\.[0-9]+)?))?$"


def _split_path(lines: pa.Array, combined: bool) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Raw fields of well-shaped lines by splitting; and which lines had that shape.

    After splitting on `"`: 0 = head, 1 = request, 2 = ` status bytes `, 3 = referer, 4 = ` `,
    5 = user agent, then trailing fields. The head splits on spaces into
    `[vhost] client ident user [date zone] ''`."""
    parts = pc.split_pattern(lines, '"')
    count = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    tokens = pc.split_pattern(list_get(parts, 0), " ")
    width = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
    date, zone = list_get(tokens, -3), list_get(tokens, -2)
    status_part = list_get(parts, 2)
    middle = pc.split_pattern(status_part, " ")
    with_vhost = width == 7
    shaped = (
        ((width == 6) | with_vhost)
        & list_is(tokens, -1, "")
        & mask_of(pc.starts_with(date, "["))
        & mask_of(pc.ends_with(zone, "]"))
        & mask_of(pc.starts_with(status_part, " "))
        & ~(with_vhost & list_is(tokens, 1, "-"))
    )
    if combined:
        shaped &= (count >= 6) & list_is(parts, 4, " ") & list_is(middle, 3, "")
        shaped &= pc.list_value_length(middle).to_numpy(zero_copy_only=False) == 4
    else:
        shaped &= count >= 3
    fields = {
        "vhost": when(pa.array(with_vhost), list_get(tokens, 0))
        if with_vhost.any()
        else pa.nulls(len(lines), pa.string()),
        "client": list_get(tokens, -6),
        "user": list_get(tokens, -4),
        "time": pc.binary_join_element_wise(date, zone, " "),
        "request": list_get(parts, 1),
        "status": list_get(middle, 1),
        "bytes": list_get(middle, 2),
        "referrer": list_get(parts, 3) if combined else None,
        "agent": list_get(parts, 5) if combined else None,
    }
    return fields, shaped


def _regex_path(lines: pa.Array, combined: bool) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Raw fields by one full regex (escaped quotes, users with spaces); and which lines matched.

    A syslog header in front (`Jul 8 11:07:07 web1 nginx[2869]: 203.0.113.5 - - [...]`) would
    otherwise read as vhost `Jul`, client `8`: such lines are left to the syslog parser, which
    unwraps them."""
    match = pc.extract_regex(lines, COMBINED_PATTERN if combined else COMMON_PATTERN)
    present = RAW_FIELDS if combined else RAW_FIELDS[:-2]
    fields = {name: group(match, name, empty_is_null=False) for name in present}
    fields["vhost"] = null_if_equal(fields["vhost"], "")
    wrapped = mask_of(pc.match_substring_regex(lines, SYSLOG_HEAD))
    return fields, mask_of(match.is_valid()) & ~wrapped


def _parse_request(request: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(method, target, version) of a request line; null parts where the line is garbage.

    `GET /x HTTP/1.1` is the norm; `GET /` (HTTP/0.9 style), `-` and TLS bytes sent to a
    plain-HTTP port (`\\x16\\x03\\x01...`) also occur."""
    tokens = pc.split_pattern(request, " ")
    count = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
    method = list_get(tokens, 0)
    target = list_get(tokens, 1)
    last = list_get(tokens, -1)
    has_version = mask_of(pc.match_substring_regex(last, VERSION))
    version = when(pa.array((count == 3) & has_version), last)
    odd = np.flatnonzero(~(((count == 3) & has_version) | (count == 2)) & (count > 2))
    if len(odd):
        # Targets with spaces, or three words without a protocol: one regex on those few rows.
        subset = request.take(pa.array(odd))
        match = pc.extract_regex(subset, REQUEST_PATTERN)
        target = fill_rows(target, odd, group(match, "target", empty_is_null=False))
        version = fill_rows(version, odd, group(match, "version"))
    sensible = pc.and_(pa.array(count >= 2), pc.fill_null(pc.match_substring_regex(method, METHOD), False))
    version = pc.utf8_slice_codeunits(version, 5)
    return when(sensible, method), when(sensible, target), when(sensible, version)


def _typed(raw: dict[str, pa.Array | None], ctx: ParseContext) -> dict[str, pa.Array | None]:
    """Raw fields with the numbers and the time converted (conversions are cheaper to merge).

    Times other than `10/Oct/2026:13:55:36 -0700` (a one-digit day, no zone: local to the
    source's zone) go through `timeloose`."""
    size = raw["bytes"]
    return {
        **raw,
        "status": to_int(raw["status"], max_digits=3),
        "bytes": pc.if_else(pc.equal(size, "-"), pa.scalar(0, pa.int64()), to_int(size)),
        "time": or_loose(parse_clf(raw["time"]), raw["time"], ctx.timezone, ctx.file_mtime),
    }


def outcome_from_status(status: pa.Array) -> pa.Array:
    """HTTP status -> event.outcome: success below 400, failure from 400, null without status."""
    return pc.if_else(pc.less(status, 400), "success", "failure")


def request_columns(request: pa.Array, status: pa.Array) -> dict[str, pa.Array]:
    """The ECS columns of a request line and its status, as every access-log format sets them."""
    method, target, version = _parse_request(request)
    path, query = split_target(target)
    return {
        "http.request.method": method,
        "url.original": target,
        "url.path": path,
        "url.query": query,
        "http.version": version,
        "http.response.status_code": status,
        "event.action": constant("http-request", len(request)),
        "event.outcome": outcome_from_status(status),
    }


def parse_access(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    combined = fmt == "combined"
    size = len(lines)
    raw, shaped = _split_path(lines, combined)
    fields = _typed(raw, ctx)
    escaped = mask_of(pc.match_substring_regex(lines, r'\\"'))
    slow = np.flatnonzero(escaped | ~shaped)
    matched = shaped & ~escaped
    if len(slow):
        slow_raw, ok = _regex_path(lines.take(pa.array(slow)), combined)
        slow_fields = _typed(slow_raw, ctx)
        for name, values in fields.items():
            if values is not None:
                fields[name] = fill_rows(values, slow, slow_fields[name])
        matched[slow] = ok
    status, byte_count = fields["status"], fields["bytes"]
    verdicts = Verdicts(size)
    verdicts.fail(~matched | ~mask_of(pc.is_valid(status)) | ~mask_of(pc.is_valid(byte_count)), NO_MATCH)

    request = request_columns(fields["request"], status)
    columns: dict[str, pa.Array] = {
        "source.ip": fields["client"],
        "user.name": null_if_equal(fields["user"], "-", ""),
        **request,
        "http.response.body.bytes": byte_count,
        # a proxy's absolute-form target names the host asked for; else the vhost prefix
        "url.domain": pc.coalesce(
            target_host(request["url.original"]),
            pc.replace_substring_regex(fields["vhost"], r":[0-9]+$", "", max_replacements=1),
        ),
    }
    if combined:
        columns["http.request.referrer"] = null_if_equal(fields["referrer"], "-", "")
        columns["user_agent.original"] = null_if_equal(fields["agent"], "-", "")
    return build_result(columns, verdicts, fmt, ctx.kind or "access", fields["time"])
