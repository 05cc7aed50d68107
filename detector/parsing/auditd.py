"""Linux audit records as auditd writes them to /var/log/audit/audit.log:

    [node=host ]type=USER_AUTH msg=audit(1720436827.123:456): pid=1234 uid=0 ... res=failed'

The time is the epoch in `msg=audit(...)`. The record type and body become the message
(`USER_AUTH pid=1234 ...`), which is the shape audisp/journald forward through syslog too, so one
set of catalog templates (`catalog/auditd.yaml`) reads both.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import constant, group, mask_of
from detector.parsing.base import ParseContext, ParseResult
from detector.parsing.catalog import classify_messages, merge_into
from detector.parsing.result import NO_MATCH, Verdicts, build_result
from detector.parsing.timeparse import parse_epoch

AUDIT_PATTERN = (
    r"^(?:node=(?P<node>[^ ]+) )?type=(?P<type>[A-Z0-9_]+) msg=audit\((?P<epoch>[0-9]+(?:\.[0-9]+)?):[0-9]+\): ?"
    r"(?P<body>.*)$"
)


def parse_auditd(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    match = pc.extract_regex(lines, AUDIT_PATTERN)
    verdicts = Verdicts(len(lines))
    verdicts.fail(~mask_of(match.is_valid()), NO_MATCH)
    message = pc.binary_join_element_wise(group(match, "type"), group(match, "body", empty_is_null=False), " ")
    columns: dict[str, pa.Array] = {"host.name": group(match, "node"), "message": message}
    classified = classify_messages(message, None, constant(fmt, len(lines)))
    kind = pc.coalesce(merge_into(columns, classified), pa.scalar("system"))
    return build_result(columns, verdicts, fmt, ctx.kind or kind, parse_epoch(group(match, "epoch")))
