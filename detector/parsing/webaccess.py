"""Access logs that are not Apache/nginx `combined`: HAProxy's HTTP log and AWS load balancers.

    203.0.113.5:52144 [08/Jul/2026:11:07:07.123] www~ app/web1 0/0/1/2/3 200 1234 - - ---- 1/1/0/0/0 0/0 "GET /x HTTP/1.1"
    https 2026-07-08T11:07:07.123456Z app/my-lb/50dc6c 203.0.113.5:52144 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366
        "GET https://example.com:443/x?y HTTP/1.1" "curl/8.5.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 ...

Both are rare next to combined logs, so one regex per line is fine; the request line is taken
apart as in access logs.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.access import request_columns
from detector.parsing.arrowtext import group, mask_of, null_if_equal, to_int
from detector.parsing.base import ParseContext, ParseResult
from detector.parsing.result import NO_MATCH, Verdicts, build_result
from detector.parsing.timeloose import parse_loose
from detector.parsing.timeparse import parse_iso
from detector.parsing.urldecode import target_host

_QUOTED = r'"(?P<{name}>(?:[^"\\]|\\.)*)"'
HAPROXY_PATTERN = (
    r"^(?P<client>[^ ]+):(?P<port>[0-9]{1,5}) \[(?P<time>[^\]]+)\] (?P<frontend>[^ ]+) (?P<backend>[^ /]+)/"
    r"(?P<server>[^ ]+) (?P<timers>[-+0-9/]+) (?P<status>-?[0-9]{1,3}) (?P<bytes>\+?[0-9]+) .*?"
    + _QUOTED.format(name="request")
    + r"$"
)
ALB_PATTERN = (
    r"^(?P<type>[^ ]+) (?P<time>[^ ]+) (?P<elb>[^ ]+) (?P<client>[^ ]+):(?P<port>[0-9]{1,5}) [^ ]+ "
    r"[^ ]+ [^ ]+ [^ ]+ (?P<status>[0-9]{3}|-) [^ ]+ [0-9-]+ (?P<bytes>[0-9-]+) "
    + _QUOTED.format(name="request")
    + " "
    + _QUOTED.format(name="agent")
    + r"(?: .*)?$"
)


def _http_columns(match: pa.StructArray) -> dict[str, pa.Array]:
    status = to_int(group(match, "status"), max_digits=3)
    return {
        "source.ip": group(match, "client"),
        "source.port": to_int(group(match, "port"), max_digits=5),
        **request_columns(group(match, "request", empty_is_null=False), status),
        "http.response.body.bytes": to_int(pc.utf8_ltrim(group(match, "bytes"), characters="+")),
    }


def parse_haproxy(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    match = pc.extract_regex(lines, HAPROXY_PATTERN)
    verdicts = Verdicts(len(lines))
    verdicts.fail(~mask_of(match.is_valid()), NO_MATCH)
    columns = _http_columns(match)
    columns["service.name"] = group(match, "frontend")
    timestamp = parse_loose(group(match, "time"), ctx.timezone, ctx.file_mtime)
    return build_result(columns, verdicts, fmt, ctx.kind or "access", timestamp)


def parse_alb(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    match = pc.extract_regex(lines, ALB_PATTERN)
    verdicts = Verdicts(len(lines))
    verdicts.fail(~mask_of(match.is_valid()), NO_MATCH)
    columns = _http_columns(match)
    columns["user_agent.original"] = null_if_equal(group(match, "agent"), "-", "")
    columns["url.domain"] = target_host(columns["url.original"])
    columns["service.name"] = group(match, "elb")
    timestamp = parse_iso(group(match, "time"), ctx.timezone)
    return build_result(columns, verdicts, fmt, ctx.kind or "access", timestamp)
