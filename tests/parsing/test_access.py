"""Apache/nginx access logs (`combined`, `common`): every field, and the lines real servers write."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa

from detector.parsing import parse_lines
from detector.parsing.base import ParseContext

UTC = timezone.utc


def test_nginx_combined_line_fills_every_field(parse):
    line = (
        '203.0.113.9 - frank [10/Oct/2026:13:55:36 -0700] "GET /search/caf%C3%A9?q=red+shoes&size=42%25 HTTP/1.1" '
        '200 2326 "https://www.example.com/start.html" "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"'
    )
    row = parse(line, "combined").row
    assert row["@timestamp"] == datetime(2026, 10, 10, 20, 55, 36, tzinfo=UTC)
    assert row["source.ip"] == "203.0.113.9"
    assert row["user.name"] == "frank"
    assert row["http.request.method"] == "GET"
    assert row["url.original"] == "/search/caf%C3%A9?q=red+shoes&size=42%25"
    assert row["url.path"] == "/search/café"
    assert row["url.query"] == "q=red shoes&size=42%"
    assert row["http.version"] == "1.1"
    assert row["http.response.status_code"] == 200
    assert row["http.response.body.bytes"] == 2326
    assert row["http.request.referrer"] == "https://www.example.com/start.html"
    assert row["user_agent.original"].startswith("Mozilla/5.0 (X11; Linux x86_64")
    assert row["url.domain"] is None
    assert row["event.action"] == "http-request"
    assert row["event.outcome"] == "success"
    assert row["event.kind"] == "event"
    assert row["log.kind"] == "access"
    assert row["log.format"] == "combined"


def test_dashes_mean_absent_and_error_statuses_are_failures(parse):
    row = parse(
        '198.51.100.23 - - [10/Oct/2026:13:55:36 +0000] "POST /wp-login.php HTTP/1.1" 401 - "-" "-"', "combined"
    ).row
    assert row["user.name"] is None
    assert row["http.request.referrer"] is None
    assert row["user_agent.original"] is None
    assert row["http.response.body.bytes"] == 0
    assert row["event.outcome"] == "failure"
    assert row["url.query"] is None


def test_vhost_prefix_with_and_without_port(parse):
    parsed = parse(
        [
            'shop.example.com:443 203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET /cart HTTP/2.0" 200 512 "-" "curl/8.5.0"',
            'blog.example.com 203.0.113.10 - - [10/Oct/2026:13:55:37 +0000] "GET / HTTP/1.1" 304 - "-" "curl/8.5.0"',
        ],
        "combined",
    )
    first, second = parsed.rows
    assert (first["url.domain"], first["source.ip"], first["http.version"]) == (
        "shop.example.com",
        "203.0.113.9",
        "2.0",
    )
    assert (second["url.domain"], second["source.ip"]) == ("blog.example.com", "203.0.113.10")


def test_trailing_fields_after_the_user_agent_are_ignored(parse):
    line = (
        '10.1.2.3 - - [10/Oct/2026:13:55:36 +0000] "GET /api/v1/orders?page=2 HTTP/1.1" 200 88 "-" '
        '"python-requests/2.32.3" "203.0.113.77, 10.0.0.1" rt=0.004 uct="0.001" upstream=10.0.0.8:8080'
    )
    row = parse(line, "combined").row
    assert row["user_agent.original"] == "python-requests/2.32.3"
    assert row["url.path"] == "/api/v1/orders"
    assert row["url.query"] == "page=2"


def test_escaped_quotes_inside_fields(parse):
    lines = [
        # nginx escapes a quote in the user agent as \"
        '203.0.113.5 - - [10/Oct/2026:13:55:36 +0000] "GET /x HTTP/1.1" 200 5 "-" "Mozilla \\"evil\\" () { :; }; /bin/id"',
        # and in the request line; the referer has one too
        '203.0.113.5 - - [10/Oct/2026:13:55:37 +0000] "GET /a\\"b HTTP/1.1" 404 0 "http://x/\\"y" "curl/8"',
        # Apache writes a trailing backslash as \\ right before the closing quote
        '203.0.113.5 - - [10/Oct/2026:13:55:38 +0000] "GET /c HTTP/1.1" 200 1 "-" "agent\\\\"',
    ]
    first, second, third = parse(lines, "combined").rows
    assert first["user_agent.original"] == 'Mozilla \\"evil\\" () { :; }; /bin/id'
    assert first["http.response.status_code"] == 200
    assert second["url.original"] == '/a\\"b'
    assert second["http.request.referrer"] == 'http://x/\\"y'
    assert second["http.response.status_code"] == 404
    assert third["user_agent.original"] == "agent\\\\"
    assert third["@timestamp"] == datetime(2026, 10, 10, 13, 55, 38, tzinfo=UTC)


def test_garbage_requests_are_parsed_lines_without_method(parse):
    lines = [
        '45.148.10.2 - - [10/Oct/2026:13:55:36 +0000] "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03" 400 157 "-" "-"',
        '45.148.10.2 - - [10/Oct/2026:13:55:36 +0000] "-" 408 0 "-" "-"',
        '45.148.10.2 - - [10/Oct/2026:13:55:36 +0000] "GET /" 200 12 "-" "-"',
        '45.148.10.2 - - [10/Oct/2026:13:55:36 +0000] "GET /a b HTTP/1.1" 400 0 "-" "-"',
        '45.148.10.2 - - [10/Oct/2026:13:55:36 +0000] "" 400 0 "-" "-"',
    ]
    tls, dash, short, spaced, empty = parse(lines, "combined").rows
    for row in (tls, dash, empty):
        assert row["http.request.method"] is None
        assert row["url.original"] is None
        assert row["url.path"] is None
        assert row["http.version"] is None
    assert tls["http.response.status_code"] == 400 and tls["event.outcome"] == "failure"
    assert (short["http.request.method"], short["url.original"], short["http.version"]) == ("GET", "/", None)
    assert (spaced["http.request.method"], spaced["url.original"], spaced["http.version"]) == ("GET", "/a b", "1.1")


def test_user_names_with_spaces_are_not_mistaken_for_a_vhost(parse):
    line = '203.0.113.9 - john doe [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "-"'
    row = parse(line, "combined").row
    assert (row["source.ip"], row["user.name"], row["url.domain"]) == ("203.0.113.9", "john doe", None)


def test_percent_decoding_keeps_invalid_escapes_and_invalid_utf8_raw(parse):
    lines = [
        '1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET /cgi-bin/%2e%2e/%2E%2e/etc/passwd HTTP/1.1" 400 0 "-" "-"',
        '1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET /a%zz%4/b%2 HTTP/1.1" 400 0 "-" "-"',
        '1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET /bad%ff%fe?x=%ff HTTP/1.1" 400 0 "-" "-"',
        '1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET /a+b?c=%2B+d HTTP/1.1" 200 0 "-" "-"',
        '1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] "GET http://proxy.example/p%20q?r=1 HTTP/1.1" 200 0 "-" "-"',
    ]
    traversal, invalid, not_utf8, plus, absolute = parse(lines, "combined").rows
    assert traversal["url.path"] == "/cgi-bin/../../etc/passwd"
    assert invalid["url.path"] == "/a%zz%4/b%2"
    assert (not_utf8["url.path"], not_utf8["url.query"]) == ("/bad%ff%fe", "x=%ff")
    assert (plus["url.path"], plus["url.query"]) == ("/a+b", "c=+ d")
    assert (absolute["url.original"], absolute["url.path"], absolute["url.query"]) == (
        "http://proxy.example/p%20q?r=1",
        "/p q",
        "r=1",
    )


def test_proxy_targets_name_the_host_asked_for(parse):
    """A forward proxy logs absolute-form targets (`GET http://host/path`) and CONNECT
    authorities (`host:443`): the host goes to url.domain (Sigma's cs-host), the path and
    query to url.path and url.query; a vhost prefix names the proxy itself, not the target."""
    lines = [
        '10.1.2.3 - - [10/Oct/2026:13:55:36 +0000] "GET http://Api.Telegram.org:8080/bot1/send?chat_id=7 HTTP/1.1" 200 5 "-" "curl/8"',
        '10.1.2.3 - - [10/Oct/2026:13:55:36 +0000] "CONNECT api.dropbox.com:443 HTTP/1.1" 200 0 "-" "-"',
        'proxy.lan:3128 10.1.2.3 - - [10/Oct/2026:13:55:36 +0000] "GET https://u@x.example/a HTTP/1.1" 200 1 "-" "-"',
        'www.example:443 10.1.2.3 - - [10/Oct/2026:13:55:36 +0000] "GET /local?q=1 HTTP/1.1" 200 1 "-" "-"',
    ]
    absolute, connect, behind_vhost, origin = parse(lines, "combined").rows
    assert (absolute["url.domain"], absolute["url.path"], absolute["url.query"]) == (
        "Api.Telegram.org", "/bot1/send", "chat_id=7"
    )
    assert connect["url.domain"] == "api.dropbox.com"
    assert (behind_vhost["url.domain"], behind_vhost["url.path"]) == ("x.example", "/a")
    assert (origin["url.domain"], origin["url.path"]) == ("www.example", "/local")


def test_common_format_and_combined_lines_read_as_common(parse):
    lines = [
        '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
        '127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 5 "-" "curl/8"',
    ]
    parsed = parse(lines, "common")
    first, second = parsed.rows
    assert first["user.name"] == "frank"
    assert first["url.path"] == "/apache_pb.gif"
    assert first["@timestamp"] == datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)
    assert first["log.format"] == "common"
    assert "user_agent.original" not in parsed.result.table.column_names
    assert second["http.response.body.bytes"] == 5


def test_combined_needs_referer_and_agent(parse):
    parsed = parse('127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326', "combined")
    assert parsed.unparsed == {0: "no-match"}


def test_bad_lines_get_reasons_and_good_ones_keep_their_index(parse):
    lines = [
        "garbage without structure",
        '1.2.3.4 - - [31/Feb/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 0 "-" "-"',
        '1.2.3.4 - - [10/Oct/2026:25:00:00 +0000] "GET / HTTP/1.1" 200 0 "-" "-"',
        '1.2.3.4 - - [10/Oct/2026:10:00:00 +0000] "GET / HTTP/1.1" 2000 0 "-" "-"',
        '1.2.3.4 - - [10/Oct/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 0 "-" "-"',
    ]
    parsed = parse(lines, "combined")
    assert parsed.unparsed == {0: "no-match", 1: "bad-timestamp", 2: "bad-timestamp", 3: "no-match"}
    assert parsed.parsed_index == [4]


def test_source_kind_overrides_the_default_kind(parse):
    row = parse(
        '1.2.3.4 - - [10/Oct/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 0 "-" "-"', "combined", kind="web-error"
    ).row
    assert row["log.kind"] == "web-error"


def test_large_string_input_and_empty_batches():
    ctx = ParseContext(path="x", timezone="UTC", file_mtime=datetime(2026, 11, 1, tzinfo=UTC))
    line = '1.2.3.4 - - [10/Oct/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 0 "-" "-"'
    result = parse_lines(pa.array([line, line], pa.large_string()), "combined", ctx)
    assert result.parsed_index.to_pylist() == [0, 1]
    empty = parse_lines(pa.array([], pa.string()), "combined", ctx)
    assert len(empty.table) == 0 and len(empty.unparsed_index) == 0
    assert empty.table.schema.field("@timestamp").type == pa.timestamp("us", tz="UTC")


def test_large_batches_are_parsed_in_slices_with_the_same_result(monkeypatch):
    import detector.parsing as parsing

    ctx = ParseContext(path="x", timezone="UTC", file_mtime=datetime(2026, 11, 1, tzinfo=UTC))
    lines = pa.array(
        [
            f'10.0.0.{i % 200} - - [10/Oct/2026:10:00:{i % 60:02d} +0000] "GET /p{i} HTTP/1.1" 200 {i} "-" "-"'
            if i % 7
            else "garbage"
            for i in range(500)
        ]
    )
    whole = parse_lines(lines, "combined", ctx)
    monkeypatch.setattr(parsing, "SLICE_BYTES", 1000)
    sliced = parse_lines(lines, "combined", ctx)
    assert sliced.parsed_index.to_pylist() == whole.parsed_index.to_pylist()
    assert sliced.unparsed_index.to_pylist() == whole.unparsed_index.to_pylist()
    assert sliced.table.to_pylist() == whole.table.to_pylist()


def test_one_digit_days_and_times_without_zone(parse):
    rows = parse(
        [
            '203.0.113.5 - - [1/Apr/2026:10:00:00 +0200] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0"',
            '203.0.113.5 - - [10/Apr/2026:10:00:00] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0"',
        ],
        "combined",
        timezone_name="Europe/Berlin",
    ).rows
    assert [row["@timestamp"] for row in rows] == [
        datetime(2026, 4, 1, 8, 0, tzinfo=timezone.utc),
        datetime(2026, 4, 10, 8, 0, tzinfo=timezone.utc),  # no zone: the source's zone
    ]


def test_a_syslog_header_in_front_is_not_a_vhost_and_a_client(parse):
    """`Jul 8 11:07:07 web1 nginx[2869]: 203.0.113.4 - - [...]` once gave source.ip "8"."""
    parsed = parse(
        'Jul 8 11:07:07 web1 nginx[2869]: 203.0.113.4 - - [08/Jul/2026:11:07:07 +0000] "GET /a HTTP/1.1" 404 5 "-" "curl/8"',
        "combined",
    )
    assert parsed.rows == [] and parsed.unparsed == {0: "no-match"}
