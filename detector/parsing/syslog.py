"""Syslog files: RFC 3164 (`Nov 23 10:00:00 host prog[pid]: msg`), the ISO-timestamp variant of
rsyslog and `journalctl -o short-iso`, and RFC 5424; then the recognizers of `auth.py`.

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
from detector.parsing.auth import recognize
from detector.parsing.base import ParseContext, ParseResult
from detector.parsing.result import NO_MATCH, Verdicts, build_result
from detector.parsing.timeparse import parse_bsd, parse_iso

_PRI = r"^(?:<(?P<pri>[0-9]{1,3})>)?"
_BSD_TIME = r"(?P<bsd>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2})"
_ISO_TIME = (
    r"(?P<iso>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)"
)
_TAG = r" (?P<host>[^ ]+) (?P<prog>[^ \[]+)(?:\[(?P<pid>[0-9]*)\])?$"
#: The head before the first ": " of a plain RFC 3164 line: the bulk of every auth.log, so it
#: gets a pattern of its own (half the cost of the general one below).
BSD_HEAD_PATTERN = "^" + _BSD_TIME + _TAG
#: The head of any tagged line: optional PRI, RFC 3164 or ISO time (one byte decides each branch,
#: which keeps the pattern one-pass for RE2).
HEAD_PATTERN = _PRI + "(?:" + _BSD_TIME + "|" + _ISO_TIME + ")" + _TAG
#: A line without a tag (`last message repeated 3 times`).
UNTAGGED_PATTERN = _PRI + "(?:" + _BSD_TIME + "|" + _ISO_TIME + r") (?P<host>[^ ]+) (?P<message>.*)$"
RFC5424_PATTERN = (
    r"^<(?P<pri>[0-9]{1,3})>1 (?P<iso>[^ ]+) (?P<host>[^ ]+) (?P<prog>[^ ]+) (?P<pid>[^ ]+) [^ ]+ "
    r'(?:-|(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\])+)(?: (?:\x{FEFF})?(?P<message>.*))?$'
)

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
    timestamp = parse_bsd(fields["bsd"], ctx.timezone, ctx.file_mtime)
    if valid_mask(fields["iso"]).any():
        timestamp = pc.coalesce(timestamp, parse_iso(fields["iso"], ctx.timezone))
    process = fields["prog"]
    message = fields["message"]
    columns: dict[str, pa.Array] = {
        "host.name": fields["host"],
        "process.name": process,
        "process.pid": to_int(fields["pid"]),
        "message": message,
    }
    recognized = recognize(message, process)
    columns.update(recognized.columns)
    return build_result(columns, verdicts, fmt, recognized.kind, timestamp)
