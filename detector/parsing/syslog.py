"""Syslog files: RFC 3164 (`Nov 23 10:00:00 host prog[pid]: msg`), the ISO-timestamp variant of
rsyslog and `journalctl -o short-iso`, and RFC 5424; then the event catalog (`catalog/`).

The common shape is split on the first `": "` (the end of the tag) and only the short head goes
through a regex; lines without a tag and RFC 5424 lines (a minority) go through their own regex.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import (
    fill_rows,
    group,
    mask_of,
    null_if_equal,
    split_once,
    to_int,
    valid_mask,
)
from detector.parsing.base import ParseContext, ParseResult
from detector.parsing.catalog import classify_messages, merge_into
from detector.parsing.result import NO_MATCH, Verdicts, build_result
from detector.parsing.timeloose import or_loose
from detector.parsing.timeparse import parse_bsd, parse_iso

_PRI = r"^(?:<(?P<pri>[0-9]{1,3})>)?"
_BSD_FIXED = r"(?P<bsd>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2})"
#: RFC 3164 as written in the wild: one-digit days with one space, a year (network gear),
#: fractions (`journalctl -o short-precise`), and journalctl's `short-full` (`Mon 2026-07-08
#: 11:07:07 CEST`); read by `timeloose`.
_BSD_LOOSE = (
    r"(?P<bsd>[A-Z][a-z]{2} +[0-9]{1,2}(?: [0-9]{4})? [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"|[A-Z][a-z]{2} [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})? [A-Z]{2,5})"
)
_ISO_TIME = (
    r"(?P<iso>[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]{1,9})?"
    r"(?: ?(?:Z|[+-][0-9]{2}:?[0-9]{2}))?)"
)
#: Host and program; the host is absent when a daemon writes its own file (`Jul  8 10:00:00
#: sshd[12]: ...`) and on some embedded syslogs.
_TAG = r" (?:(?P<host>[^ ]+) )?(?P<prog>[^ \[]+)(?:\[(?P<pid>[0-9]*)\])?$"
#: The head before the first ": " of a plain RFC 3164 line: the bulk of every auth.log, so it
#: gets a pattern of its own (half the cost of the general one below).
BSD_HEAD_PATTERN = "^" + _BSD_FIXED + r" (?P<host>[^ ]+) (?P<prog>[^ \[]+)(?:\[(?P<pid>[0-9]*)\])?$"
#: The head of any tagged line: optional PRI, RFC 3164 (loose) or ISO time, or an ISO time a
#: relay put in front of an RFC 3164 stamp (the ISO one is read: it has a year and a zone).
HEAD_PATTERN = _PRI + "(?:" + _ISO_TIME + "(?: " + _BSD_LOOSE.replace("bsd", "inner") + ")?|" + _BSD_LOOSE + ")" + _TAG
#: A line without a tag (`last message repeated 3 times`). Only syslog stamps (RFC 3164, or
#: RFC 3339 with `T` and a zone) and a host name with a letter: daemons' own files
#: (`2026-06-07 10:00:35 login authenticator failed ...`, MySQL's `...Z 12 [Note] ...`) are
#: not syslog and go to their own format.
_RFC3339 = (
    r"(?P<iso>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]{1,9})?(?:Z|[+-][0-9]{2}:?[0-9]{2}))"
)
UNTAGGED_PATTERN = (
    _PRI + "(?:" + _BSD_LOOSE + "|" + _RFC3339 + r") (?P<host>[A-Za-z0-9_.-]*[A-Za-z][A-Za-z0-9_.-]*) (?P<message>.*)$"
)
RFC5424_PATTERN = (
    r"^<(?P<pri>[0-9]{1,3})>1 (?P<iso>[^ ]+) (?P<host>[^ ]+) (?P<prog>[^ ]+) (?P<pid>[^ ]+) [^ ]+ "
    r'(?:-|(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\])+)(?: (?:\x{FEFF})?(?P<message>.*))?$'
)
#: Solaris and illumos put the message id and facility in front of the text.
SOLARIS_ID = r"^\[ID [0-9]+ [a-z0-9]+\.[a-z]+\] "
#: rsyslog's repeat reduction: `message repeated 2 times: [ Failed password for root from ...]`
#: is read as the message it repeats (one event: the count is not multiplied out).
REPEATED = r"^message repeated [0-9]+ times: \[ ?(.*?) ?\]$"

FIELDS = ("bsd", "iso", "host", "prog", "pid", "message")


def _take_fields(match: pa.StructArray, message: pa.Array | None = None) -> dict[str, pa.Array]:
    """The FIELDS of one pattern's match (null where the pattern has no such group)."""
    names = {field.name for field in match.type}
    fields = {
        name: null_if_equal(group(match, name), "-") if name in names else pa.nulls(len(match), pa.string())
        for name in FIELDS
    }
    if "message" in names:
        fields["message"] = group(match, "message", empty_is_null=False)
    elif message is not None:
        fields["message"] = pc.if_else(match.is_valid(), message, pa.scalar(None, pa.string()))
    return fields


def _header(lines: pa.Array) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Raw header fields of every line, and which lines have a syslog header at all.

    A cascade: each pattern only sees the lines the ones before it could not read."""
    head, message = split_once(lines, ": ")
    match = pc.extract_regex(head, BSD_HEAD_PATTERN)
    fields = _take_fields(match, message)
    found = mask_of(match.is_valid())
    stages = [
        (lambda rows: pc.extract_regex(head.take(rows), HEAD_PATTERN), lambda rows: message.take(rows)),
        (lambda rows: pc.extract_regex(lines.take(rows), RFC5424_PATTERN), None),
        (lambda rows: pc.extract_regex(lines.take(rows), UNTAGGED_PATTERN), None),
    ]
    for run, messages in stages:
        rest = np.flatnonzero(~found)
        if len(rest) == 0:
            break
        indices = pa.array(rest)
        stage_match = run(indices)
        stage_fields = _take_fields(stage_match, messages(indices) if messages else None)
        for name in FIELDS:
            fields[name] = fill_rows(fields[name], rest, stage_fields[name])
        found[rest] = mask_of(stage_match.is_valid())
    return fields, found


def parse_syslog(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    fields, found = _header(lines)
    verdicts = Verdicts(len(lines))
    verdicts.fail(~found, NO_MATCH)
    timestamp = or_loose(parse_bsd(fields["bsd"], ctx.timezone, ctx.file_mtime), fields["bsd"], ctx.timezone, ctx.file_mtime)
    if valid_mask(fields["iso"]).any():
        timestamp = pc.coalesce(parse_iso(fields["iso"], ctx.timezone), timestamp)
    process = fields["prog"]
    message = fields["message"]
    if mask_of(pc.starts_with(message, "[ID ")).any():
        message = pc.replace_substring_regex(message, SOLARIS_ID, "", max_replacements=1)
    if mask_of(pc.starts_with(message, "message repeated ")).any():
        message = pc.replace_substring_regex(message, REPEATED, r"\1", max_replacements=1)
    columns: dict[str, pa.Array] = {
        "host.name": fields["host"],
        "process.name": process,
        "process.pid": to_int(fields["pid"]),
        "message": message,
    }
    kind = pc.coalesce(merge_into(columns, classify_messages(message, process)), pa.scalar("system"))
    return build_result(columns, verdicts, fmt, kind, timestamp)
