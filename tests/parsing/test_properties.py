"""Hostile input never crashes a parser, and every input line lands in exactly one place."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.parsing import parse_lines, sniff_format
from detector.parsing.base import ParseContext
from detector.schema import ECS_FIELDS, FORMATS

REAL_LINES = [
    '203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET /a%20b?q=1+2 HTTP/1.1" 200 5 "-" "Mozilla \\"x\\""',
    'vh.example:80 203.0.113.9 - bob [10/Oct/2026:13:55:36 +0000] "-" 400 - "-" "-" rt=0.1',
    "[Wed Oct 11 14:32:52.123456 2026] [core:error] [pid 1:tid 2] [client 1.2.3.4:5] AH00124: x, referer: y",
    '2026/11/23 10:00:00 [error] 1#1: *5 open() "/x" failed, client: 1.2.3.4, server: s, request: "GET / HTTP/1.1", host: "h"',
    "Nov  3 10:00:00 bastion sshd[1234]: Failed password for invalid user a b from 203.0.113.7 port 52311 ssh2",
    "Nov 23 10:00:00 bastion sudo:   bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh",
    "Nov 23 10:00:00 bastion kernel: [1.2] [UFW BLOCK] IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 LEN=1 PROTO=TCP SPT=1 DPT=2",
    '<13>1 2026-11-23T10:00:00Z host app 12 - [a@1 b="c\\"]"] msg',
    "2026-11-23T10:00:00.123+01:00 host su[7]: pam_unix(su:session): session opened for user root(uid=0) by bob(uid=1)",
    '{"ts":"2026-11-23T10:00:00Z","user":{"name":"x"},"roles":["a",1],"n":1.5,"ok":true}',
    'ts=2026-11-23T10:00:00Z msg="a \\"b\\"" user= bare k=v',
]

hostile_text = st.one_of(
    st.text(max_size=120),
    st.binary(max_size=120).map(lambda raw: raw.decode("utf-8", errors="replace")),
    st.text(alphabet='"\\[]{}:=%+ -<>0123456789aZ\t\x00\x1b', max_size=80),
    st.tuples(st.sampled_from(REAL_LINES), st.integers(0, 140), st.integers(0, 140), st.text(max_size=8)).map(
        lambda parts: parts[0][: parts[1]] + parts[3] + parts[0][parts[2] :]
    ),
)

CONTEXT = ParseContext(path="fuzz", timezone="Europe/Berlin", file_mtime=datetime(2026, 11, 24, tzinfo=timezone.utc))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(hostile_text, max_size=24), fmt=st.sampled_from(FORMATS))
def test_no_parser_crashes_and_every_line_lands_exactly_once(lines, fmt):
    result = parse_lines(pa.array(lines, pa.string()), fmt, CONTEXT)
    parsed = result.parsed_index.to_pylist()
    unparsed = result.unparsed_index.to_pylist()
    assert sorted(parsed + unparsed) == list(range(len(lines)))
    assert len(result.table) == len(parsed) and len(result.unparsed_reason) == len(unparsed)
    assert set(result.unparsed_reason.to_pylist()) <= {"no-match", "bad-timestamp", "bad-json"}
    for field in result.table.schema:
        assert field.type == ECS_FIELDS.get(field.name, pa.string())
    assert result.table.column("@timestamp").null_count == 0
    result.table.validate(full=True)


@settings(max_examples=40, deadline=None)
@given(sample=st.lists(hostile_text, max_size=20))
def test_sniffing_hostile_samples_never_crashes(sample):
    assert sniff_format(sample) in (*FORMATS, None)
