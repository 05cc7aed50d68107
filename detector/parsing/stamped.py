"""Daemons' own log files: a time, then the message (`stamped`), or a program tag without any
time at all (`bare`).

    Mon Jul  8 11:07:07 2026 [pid 1234] [bob] FAIL LOGIN: Client "203.0.113.5"     (vsftpd)
    2026-07-08 11:07:07 login authenticator failed for (x) [203.0.113.5]: 535 ...  (exim)
    2026-07-08 11:07:07 203.0.113.5:1194 TLS Auth Error: ...                        (openvpn)
    sshd[1234]: Failed password for root from 203.0.113.5 port 22 ssh2              (bare)

The event catalog's services that list these formats read the message. A `bare` line takes the
file's modification time and says so in `log.time_source`.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import constant, group, mask_of, to_int
from detector.parsing.base import ParseContext, ParseResult
from detector.parsing.catalog import classify_messages, merge_into
from detector.parsing.result import NO_MATCH, Verdicts, build_result
from detector.parsing.timeloose import parse_loose
from detector.parsing.timeparse import parse_iso, parse_ymd_local
from detector.schema import TIMESTAMP

_ISO = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]{1,9})?(?: ?(?:Z|[+-][0-9]{2}:?[0-9]{2}))?"
STAMPED_PATTERN = (
    r"^(?:(?P<iso>" + _ISO + r")|(?P<ctime>[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]?[0-9] [0-9:]{8}(?:\.[0-9]+)? [0-9]{4})"
    r"|(?P<ymd>[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:]{8})) +(?:\[(?:pid )?(?P<pid>[0-9]+)\] )?(?P<message>.*)$"
)
BARE_PATTERN = r"^(?P<prog>[A-Za-z][A-Za-z0-9_./-]*)(?:\[(?P<pid>[0-9]+)\])?: (?P<message>.*)$"


def _finish(columns: dict[str, pa.Array], message: pa.Array, process: pa.Array | None, fmt: str) -> pa.Array:
    """Add what the catalog says to `columns`; the per-line log.kind."""
    classified = classify_messages(message, process, constant(fmt, len(message)))
    return pc.coalesce(merge_into(columns, classified), pa.scalar("system"))


def parse_stamped(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    match = pc.extract_regex(lines, STAMPED_PATTERN)
    verdicts = Verdicts(len(lines))
    verdicts.fail(~mask_of(match.is_valid()), NO_MATCH)
    timestamp = pc.coalesce(
        parse_iso(group(match, "iso"), ctx.timezone),
        parse_loose(group(match, "ctime"), ctx.timezone, ctx.file_mtime),
        parse_ymd_local(group(match, "ymd"), ctx.timezone),
    )
    message = group(match, "message", empty_is_null=False)
    columns: dict[str, pa.Array] = {"process.pid": to_int(group(match, "pid")), "message": message}
    kind = _finish(columns, message, None, fmt)
    return build_result(columns, verdicts, fmt, ctx.kind or kind, timestamp)


def parse_bare(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    match = pc.extract_regex(lines, BARE_PATTERN)
    verdicts = Verdicts(len(lines))
    verdicts.fail(~mask_of(match.is_valid()), NO_MATCH)
    message = group(match, "message", empty_is_null=False)
    process = group(match, "prog")
    columns: dict[str, pa.Array] = {
        "process.name": process,
        "process.pid": to_int(group(match, "pid")),
        "message": message,
        "log.time_source": constant("file-mtime", len(lines)),
    }
    kind = _finish(columns, message, process, fmt)
    mtime = pa.scalar(ctx.file_mtime, pa.timestamp("us", tz="UTC")).cast(TIMESTAMP)
    return build_result(columns, verdicts, fmt, ctx.kind or kind, pa.repeat(mtime, len(lines)))
