"""JSON lines application logs: ECS mapping, flattening, type conflicts, broken lines."""

from __future__ import annotations

import json
from datetime import datetime, timezone

UTC = timezone.utc


def test_common_keys_map_to_ecs_and_every_key_is_kept(parse):
    line = json.dumps(
        {
            "ts": "2026-11-23T10:00:00.250Z",
            "level": "warn",
            "msg": "login failed",
            "user": "bob",
            "ip": "203.0.113.9",
            "outcome": "FAILED",
            "event": "user.login",
            "service": "auth-api",
            "host": "api-1",
            "method": "POST",
            "path": "/login?next=%2Fadmin",
            "status": 401,
            "pid": 4242,
            "attempt": 3,
            "target_user": "root",
            "roles": ["admin", "dev"],
            "remember": False,
        }
    )
    parsed = parse(line, "json")
    row = parsed.row
    assert row["@timestamp"] == datetime(2026, 11, 23, 10, 0, 0, 250000, tzinfo=UTC)
    assert (row["log.level"], row["message"], row["user.name"], row["source.ip"]) == (
        "warn",
        "login failed",
        "bob",
        "203.0.113.9",
    )
    assert (row["event.action"], row["event.outcome"], row["service.name"], row["host.name"]) == (
        "user.login",
        "failure",
        "auth-api",
        "api-1",
    )
    assert (row["http.request.method"], row["url.original"], row["url.path"], row["url.query"]) == (
        "POST",
        "/login?next=%2Fadmin",
        "/login",
        "next=/admin",
    )
    assert (row["http.response.status_code"], row["process.pid"]) == (401, 4242)
    assert (row["user.target.name"], row["user.roles"]) == ("root", '["admin","dev"]')
    # the log's own keys, as text
    assert (row["ts"], row["attempt"], row["status"], row["remember"], row["roles"]) == (
        "2026-11-23T10:00:00.250Z",
        "3",
        "401",
        "false",
        '["admin","dev"]',
    )
    assert (row["log.kind"], row["log.format"], row["event.kind"]) == ("application", "json", "event")


def test_nested_objects_are_flattened_with_dots(parse):
    line = (
        '{"time":"2026-11-23T10:00:00Z","http":{"request":{"method":"GET"},"response":{"status_code":503}},'
        '"user":{"name":"eve","id":7},"tags":[{"k":"v"}],"empty":{}}'
    )
    row = parse(line, "json").row
    assert row["http.request.method"] == "GET"
    assert row["http.response.status_code"] == 503
    assert (row["user.name"], row["user.id"]) == ("eve", "7")
    assert row["tags"] == '[{"k":"v"}]'


def test_case_insensitive_keys_and_ecs_names_win_over_aliases(parse):
    row = parse(
        '{"Timestamp":"2026-11-23T10:00:00Z","LEVEL":"ERROR","Message":"boom","msg":"other",'
        '"USERNAME":"carol","source.port":"2222","log.level":"crit"}',
        "json",
    ).row
    assert row["@timestamp"] == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert (row["message"], row["user.name"], row["log.level"]) == ("boom", "carol", "crit")
    assert row["source.port"] == 2222
    assert (row["LEVEL"], row["Message"], row["msg"]) == ("ERROR", "boom", "other")


def test_timestamps_iso_local_epoch_seconds_and_milliseconds(parse):
    lines = [
        '{"ts":"2026-11-23T10:00:00+01:00","n":1}',
        '{"ts":"2026-11-23 10:00:00,123","n":2}',
        '{"ts":"2026-11-23T10:00:00","n":3}',
        '{"ts":1795000000,"n":4}',
        '{"ts":1795000000123,"n":5}',
        '{"ts":1795000000.5,"n":6}',
        '{"ts":"2026-11-23T10:00:00.123456789Z","n":7}',
    ]
    stamps = parse(lines, "json", timezone_name="Europe/Berlin").column("@timestamp")
    assert stamps == [
        datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 23, 9, 0, 0, 123000, tzinfo=UTC),
        datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 18, 11, 6, 40, tzinfo=UTC),
        datetime(2026, 11, 18, 11, 6, 40, 123000, tzinfo=UTC),
        datetime(2026, 11, 18, 11, 6, 40, 500000, tzinfo=UTC),
        datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC),
    ]


def test_second_precision_timestamps_keep_their_text_and_zone(parse):
    # Arrow would read these as timestamps and drop the zone; the text must survive as written.
    rows = parse(
        ['{"ts":"2026-11-23T10:00:00+05:00","seen":"2026-11-23 08:00:00"}', '{"ts":"2026-11-23T10:00:00","seen":"x"}'],
        "json",
        timezone_name="UTC",
    ).rows
    assert rows[0]["ts"] == "2026-11-23T10:00:00+05:00"
    assert rows[0]["@timestamp"] == datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    assert rows[0]["seen"] == "2026-11-23 08:00:00"
    assert rows[1]["@timestamp"] == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_type_conflicts_between_lines_keep_every_line(parse):
    lines = [
        '{"ts":"2026-11-23T10:00:00Z","user":"bob","code":7,"ok":true}',
        '{"ts":"2026-11-23T10:00:01Z","user":123,"code":"E42","ok":"yes"}',
        '{"ts":"2026-11-23T10:00:02Z","user":{"name":"eve"},"code":7.5}',
        '{"ts":"2026-11-23T10:00:03Z","user":null,"code":[1,2]}',
    ]
    parsed = parse(lines, "json")
    assert parsed.parsed_index == [0, 1, 2, 3]
    assert parsed.column("user.name") == ["bob", "123", "eve", None]
    assert parsed.column("code") == ["7", "E42", "7.5", "[1,2]"]
    assert parsed.column("ok") == ["true", "yes", None, None]


def test_invalid_lines_are_bad_json_and_the_rest_is_kept(parse):
    good = '{"ts":"2026-11-23T10:%02d:%02dZ","msg":"line %d"}'
    lines = [good % (i // 60, i % 60, i) for i in range(200)]
    lines[3] = "Traceback (most recent call last):"
    lines[50] = '{"ts":"2026-11-23T10:00:50Z","msg":"cut off in the midd'
    lines[51] = "[1, 2, 3]"
    lines[52] = '"just a string"'
    lines[120] = '{"ts":"2026-11-23T10:02:00Z"}{"ts":"2026-11-23T10:02:01Z"}'
    lines[121] = '{"a":1,"a":2}'
    lines[150] = "{not json}"
    lines[199] = "   "
    parsed = parse(lines, "json")
    bad = {3, 50, 51, 52, 120, 121, 150, 199}
    assert parsed.unparsed == {index: "bad-json" for index in bad}
    assert parsed.parsed_index == [i for i in range(200) if i not in bad]
    assert parsed.column("msg")[:4] == ["line 0", "line 1", "line 2", "line 4"]


def test_json_with_a_bad_time_is_bad_timestamp_and_without_one_takes_the_file_time(parse):
    parsed = parse(['{"msg":"no time"}', '{"ts":"yesterday","msg":"x"}', '{"ts":"2026-02-30T10:00:00Z"}'], "json")
    assert parsed.unparsed == {1: "bad-timestamp", 2: "bad-timestamp"}
    # a line without any time key takes the file's time, flagged as such
    assert parsed.row["@timestamp"] == datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    assert parsed.row["log.time_source"] == "file-mtime"


def test_outcome_words_are_normalized(parse):
    words = [
        "success",
        "Succeeded",
        "OK",
        "true",
        "allowed",
        "fail",
        "FAILED",
        "failure",
        "denied",
        "error",
        "false",
        "blocked",
        "pending",
    ]
    lines = [json.dumps({"ts": "2026-11-23T10:00:00Z", "result": word}) for word in words]
    assert parse(lines, "json").column("event.outcome") == ["success"] * 5 + ["failure"] * 7 + ["unknown"]


def test_pipeline_columns_cannot_be_forged_by_the_log(parse):
    row = parse(
        '{"ts":"2026-11-23T10:00:00Z","log.original":"forged","log.offset":5,"log.kind":"auth",'
        '"event.kind":"alert","log":{"file":{"path":"/etc/shadow"}}}',
        "json",
        kind=None,
    ).row
    assert "log.original" not in row and "log.offset" not in row and "log.file.path" not in row
    assert (row["log.kind"], row["event.kind"]) == ("application", "event")


def test_many_distinct_keys_are_capped(parse):
    lines = [json.dumps({"ts": "2026-11-23T10:00:00Z", "msg": "x", f"k{i}": i}) for i in range(400)]
    parsed = parse(lines, "json")
    assert len(parsed.rows) == 400
    assert len(parsed.result.table.column_names) < 300
    assert set(parsed.column("message")) == {"x"}


def test_slices_with_different_keys_are_joined(parse, monkeypatch):
    import detector.parsing as parsing

    monkeypatch.setattr(parsing, "SLICE_BYTES", 200)
    lines = [json.dumps({"ts": "2026-11-23T10:00:00Z", f"only_in_{i // 10}": i, "msg": "m"}) for i in range(40)]
    parsed = parse(lines, "json")
    assert parsed.parsed_index == list(range(40))
    assert parsed.column("only_in_0")[:10] == [str(i) for i in range(10)]
    assert parsed.column("only_in_3")[30:] == [str(i) for i in range(30, 40)]
    assert parsed.column("only_in_3")[:30] == [None] * 30
