"""Web server error logs: Apache 2.2/2.4 (`apache-error`) and nginx (`nginx-error`).

Error logs are small next to access logs, so one regex per line shape is fast enough here.
Their times carry no zone: they are local to the source's timezone.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import (
    constant,
    group,
    mask_of,
    split_once,
    to_int,
    when,
)
from detector.parsing.base import ParseContext, ParseResult
from detector.parsing.catalog import classify_messages, merge_into
from detector.parsing.result import NO_MATCH, Verdicts, build_result
from detector.parsing.timeparse import parse_local, parse_ymd_local
from detector.parsing.urldecode import split_target

APACHE_PATTERN = (
    r"^\[(?P<weekday>[A-Za-z]{3}) (?P<date>[A-Za-z]{3} [ 0-9][0-9]) (?P<clock>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<frac>[0-9]{1,6}))? (?P<year>[0-9]{4})\] "
    r"\[(?:(?P<module>[^:\] ]+):)?(?P<level>[A-Za-z0-9]+)\]"
    r"(?: \[pid (?P<pid>[0-9]+)(?::tid [0-9]+)?\])?"
    r" ?(?P<rest>.*)$"
)
APACHE_CLIENT = r"\[(?:client|remote) (?P<client>[^\] ]+)\] ?"
APACHE_REFERER = r", referer: (?P<referer>[^ ]*)$"

NGINX_PATTERN = (
    r"^(?P<time>[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}) \[(?P<level>[a-z]+)\] "
    r"(?P<pid>[0-9]+)#[0-9]+: (?:\*[0-9]+ )?(?P<message>.*)$"
)
_NGINX_QUOTED = r'"(?P<{name}>(?:[^"\\]|\\.)*)"'
#: nginx appends the request context at the end of the message, always in this order.
NGINX_CONTEXT = (
    r", client: (?P<client>[^ ,]+), server: (?P<server>[^,]*)"
    r"(?:, request: " + _NGINX_QUOTED.format(name="request") + ")?"
    r"(?:, subrequest: " + _NGINX_QUOTED.format(name="subrequest") + ")?"
    r"(?:, upstream: " + _NGINX_QUOTED.format(name="upstream") + ")?"
    r"(?:, host: " + _NGINX_QUOTED.format(name="host") + ")?"
    r"(?:, referrer: " + _NGINX_QUOTED.format(name="referrer") + ")?$"
)
REQUEST_PATTERN = r"^(?P<method>[A-Za-z][A-Za-z0-9_-]{0,31}) (?P<target>[^ ]+)(?: HTTP/[0-9.]+)?$"


def _apache_client(client: pa.Array, apache24: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Apache 2.4 logs `ip:port` (IPv6 too, unbracketed); 2.2 logs the bare address."""
    host, port_text = split_once(client, ":", reverse=True)
    colons = pc.count_substring(client, ":")
    has_port = pc.and_(
        pc.or_(apache24, pc.equal(colons, 1)), pc.fill_null(pc.match_substring_regex(port_text, r"^[0-9]{1,5}$"), False)
    )
    has_port = pc.fill_null(has_port, False)
    return pc.if_else(has_port, host, client), to_int(when(has_port, port_text))


def parse_apache_error(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    match = pc.extract_regex(lines, APACHE_PATTERN)
    verdicts = Verdicts(len(lines))
    verdicts.fail(~mask_of(match.is_valid()), NO_MATCH)
    rest = group(match, "rest", empty_is_null=False)
    client = group(pc.extract_regex(rest, r"(?:^|\] )" + APACHE_CLIENT), "client")
    message = pc.replace_substring_regex(rest, APACHE_CLIENT, "", max_replacements=1)
    apache24 = pc.is_valid(group(match, "module"))
    ip, port = _apache_client(client, apache24)
    day = pc.replace_substring(group(match, "date"), "  ", " 0")  # `Oct  1` -> `Oct 01`
    stamp = pc.binary_join_element_wise(group(match, "year"), day, group(match, "clock"), " ")
    timestamp = parse_local(stamp, "%Y %b %d %H:%M:%S", ctx.timezone, fraction=group(match, "frac"))
    columns = {
        "log.level": group(match, "level"),
        "process.pid": to_int(group(match, "pid")),
        "source.ip": ip,
        "source.port": port,
        "message": message,
        "error.message": message,
        "http.request.referrer": group(pc.extract_regex(rest, APACHE_REFERER), "referer"),
        "event.action": constant("web-error", len(lines)),
    }
    merge_into(columns, classify_messages(message, None, constant(fmt, len(lines))))
    return build_result(columns, verdicts, fmt, ctx.kind or "web-error", timestamp)


def parse_nginx_error(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    match = pc.extract_regex(lines, NGINX_PATTERN)
    verdicts = Verdicts(len(lines))
    verdicts.fail(~mask_of(match.is_valid()), NO_MATCH)
    message = group(match, "message", empty_is_null=False)
    context = pc.extract_regex(message, NGINX_CONTEXT)
    request = pc.extract_regex(group(context, "request"), REQUEST_PATTERN)
    target = group(request, "target")
    path, query = split_target(target)
    timestamp = parse_ymd_local(group(match, "time"), ctx.timezone)
    columns = {
        "log.level": group(match, "level"),
        "process.pid": to_int(group(match, "pid")),
        "source.ip": group(context, "client"),
        "message": message,
        "error.message": message,
        "http.request.method": group(request, "method"),
        "url.original": target,
        "url.path": path,
        "url.query": query,
        "url.domain": group(context, "host"),
        "http.request.referrer": group(context, "referrer"),
        "event.action": constant("web-error", len(lines)),
    }
    merge_into(columns, classify_messages(message, None, constant(fmt, len(lines))))
    return build_result(columns, verdicts, fmt, ctx.kind or "web-error", timestamp)
