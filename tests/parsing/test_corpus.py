"""The conformance corpus (tests/corpus/*.yaml): realistic lines of every format and service,
each with the fields it must produce, read as one mixed batch per file and line by line."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from detector.parsing import parse_any
from detector.parsing.base import ParseContext

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
FILES = sorted(CORPUS.glob("*.yaml"))
TEN_MB = 10 << 20


def _context(data: dict[str, Any]) -> ParseContext:
    mtime = datetime.fromisoformat(str(data.get("mtime", "2026-06-09T00:00:00+00:00")))
    return ParseContext(path="/var/log/corpus.log", timezone=data.get("timezone", "UTC"), file_mtime=mtime)


def _cases(path: Path) -> tuple[ParseContext, list[dict[str, Any]]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return _context(data), data["cases"]


def _outcomes(lines: list[str], ctx: ParseContext) -> list[dict[str, Any] | str]:
    """Per line: its parsed row, or the reason it stayed unparsed."""
    result = parse_any(pa.array(lines, pa.string()), None, ctx).result
    out: list[dict[str, Any] | str] = [""] * len(lines)
    for position, row in zip(result.parsed_index.to_pylist(), result.table.to_pylist(), strict=True):
        out[position] = row
    for position, reason in zip(result.unparsed_index.to_pylist(), result.unparsed_reason.to_pylist(), strict=True):
        out[position] = reason
    return out


def _check(case: dict[str, Any], got: dict[str, Any] | str, where: str) -> None:
    if "unparsed" in case:
        assert got == case["unparsed"], f"{where}: expected unparsed ({case['unparsed']}), got {got!r}"
        return
    assert isinstance(got, dict), f"{where}: not parsed ({got})"
    for field, value in case["expect"].items():
        actual = got.get(field)
        if field == "@timestamp":
            actual = actual.astimezone(timezone.utc).isoformat()
        assert actual == value, f"{where}: {field} is {actual!r}, expected {value!r}"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_corpus_file_as_one_mixed_batch(path: Path):
    ctx, cases = _cases(path)
    outcomes = _outcomes([case["line"] for case in cases], ctx)
    for number, (case, got) in enumerate(zip(cases, outcomes, strict=True)):
        _check(case, got, f"{path.name} case {number + 1}")


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_corpus_lines_one_by_one(path: Path):
    ctx, cases = _cases(path)
    for number, case in enumerate(cases):
        (got,) = _outcomes([case["line"]], ctx)
        _check(case, got, f"{path.name} case {number + 1} alone")


def test_the_corpus_covers_every_format():
    from detector.schema import FORMATS

    formats = set()
    for path in FILES:
        ctx, cases = _cases(path)
        formats |= {case["expect"].get("log.format") for case in cases if "expect" in case}
    assert set(FORMATS) <= formats


@pytest.mark.parametrize(
    "line",
    [
        "A" * TEN_MB,
        "Jun  7 10:00:00 bastion sshd[1]: Failed password for " + "x from 6.6.6.6 " * (TEN_MB // 16) + "from 203.0.113.9 port 22 ssh2",
        '203.0.113.9 - - [07/Jun/2026:10:00:00 +0000] "GET /' + "a" * TEN_MB + ' HTTP/1.1" 200 1 "-" "-"',
        "{" + '"k":"' + "\\u0041" * (TEN_MB // 6) + '"}',
    ],
    ids=["letters", "sshd-from-flood", "access-long-url", "json-escapes"],
)
def test_ten_megabyte_lines_are_read_or_refused_in_linear_time(line: str):
    """RE2 and splitting keep a 10 MB hostile line linear: no catastrophic backtracking, no crash;
    neighbouring lines are unaffected. (The reader refuses lines over 64 KB before parsing; this
    is the parser's own guarantee for callers that pass longer ones.)"""
    good = "Jun  7 10:00:01 bastion sshd[2]: Invalid user test from 203.0.113.10 port 50000"
    ctx = ParseContext(path="/x", timezone="UTC", file_mtime=datetime(2026, 6, 9, tzinfo=timezone.utc))
    outcomes = _outcomes([good, line, good], ctx)
    assert isinstance(outcomes[0], dict) and outcomes[0]["source.ip"] == "203.0.113.10"
    assert isinstance(outcomes[2], dict) and outcomes[2]["source.ip"] == "203.0.113.10"
    if isinstance(outcomes[1], dict) and outcomes[1].get("event.action") == "ssh-failed-password":
        assert outcomes[1]["source.ip"] == "203.0.113.9"


@pytest.mark.parametrize("usual", ["combined", "syslog", "json", "nginx-error"])
def test_each_corpus_file_reads_the_same_whatever_the_files_usual_format(usual: str):
    """The usual format is only tried first: lines it cannot read (or, like a syslog-wrapped
    access line `Jul 8 11:07:07 web1 nginx[1]: 203.0.113.4 - - [...]`, must not read) go to
    their own parser, so the outcome does not depend on what the file mostly holds."""
    for path in FILES:
        ctx, cases = _cases(path)
        result = parse_any(pa.array([case["line"] for case in cases], pa.string()), usual, ctx).result
        rows = dict(zip(result.parsed_index.to_pylist(), result.table.to_pylist(), strict=True))
        for number, case in enumerate(cases):
            if "expect" in case:
                assert number in rows, f"{path.name} case {number + 1} (usual {usual}): not parsed"
                _check(case, rows[number], f"{path.name} case {number + 1} (usual {usual})")
