"""logfmt application logs: quoting, escapes, bare and empty keys, ECS mapping."""

from __future__ import annotations

from datetime import datetime, timezone

UTC = timezone.utc


def test_logfmt_line_maps_to_ecs(parse):
    row = parse(
        'ts=2026-11-23T10:00:00Z level=warn msg="login failed" user=bob ip=203.0.113.9 attempt=3 outcome=denied',
        "logfmt",
    ).row
    assert row["@timestamp"] == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert (row["log.level"], row["message"], row["user.name"], row["source.ip"], row["event.outcome"]) == (
        "warn",
        "login failed",
        "bob",
        "203.0.113.9",
        "failure",
    )
    assert (row["attempt"], row["msg"]) == ("3", "login failed")
    assert (row["log.kind"], row["log.format"]) == ("application", "logfmt")


def test_quoting_escapes_empty_bare_and_repeated_keys(parse):
    row = parse(
        'time="2026-11-23 10:00:00" msg="say \\"hi\\" to C:\\\\temp\\n" empty= flag user=first user=second '
        'path=/a=b url="http://x/?q=1 2"',
        "logfmt",
    ).row
    assert row["message"] == 'say "hi" to C:\\temp\n'
    assert row["empty"] == ""
    assert "flag" not in row
    assert row["user"] == "first"
    assert row["path"] == "/a=b"
    assert row["url"] == "http://x/?q=1 2"


def test_spacing_and_tabs(parse):
    row = parse("  ts=2026-11-23T10:00:00Z\tlvl=error   msg=x  ", "logfmt").row
    assert (row["log.level"], row["message"]) == ("error", "x")


def test_lines_without_pairs_or_time(parse):
    parsed = parse(["hello world", "ts=2026-11-23T10:00:00Z", "msg=no_time", "= = ="], "logfmt")
    assert parsed.unparsed == {0: "no-match", 2: "bad-timestamp", 3: "no-match"}
