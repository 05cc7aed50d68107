"""Apache 2.2/2.4 and nginx error logs: level, client, pid, message, request context, local time."""

from __future__ import annotations

from datetime import datetime, timezone

UTC = timezone.utc


def test_apache_22_error(parse):
    row = parse(
        "[Wed Oct 11 14:32:52 2026] [error] [client 203.0.113.7] File does not exist: /var/www/html/favicon.ico",
        "apache-error",
    ).row
    assert row["@timestamp"] == datetime(2026, 10, 11, 14, 32, 52, tzinfo=UTC)
    assert row["log.level"] == "error"
    assert (row["source.ip"], row["source.port"], row["process.pid"]) == ("203.0.113.7", None, None)
    assert row["message"] == "File does not exist: /var/www/html/favicon.ico"
    assert row["error.message"] == row["message"]
    # what the message says comes from the event catalog (catalog/web-error.yaml)
    assert (row["event.action"], row["log.kind"], row["log.format"]) == ("web-file-not-found", "web-error", "apache-error")
    assert row["url.path"] is None  # a file-system path is not a URL


def test_apache_24_error_with_pid_tid_client_port_and_referer(parse):
    row = parse(
        "[Sun Oct 11 14:32:52.123456 2026] [core:error] [pid 1234:tid 140377854936832] [client 203.0.113.7:51234] "
        "AH00124: Request exceeded the limit of 10 internal redirects due to probable configuration error. "
        "Use 'LimitInternalRecursion' to increase the limit if necessary., referer: https://example.com/start",
        "apache-error",
        timezone_name="Europe/Berlin",
    ).row
    assert row["@timestamp"] == datetime(2026, 10, 11, 12, 32, 52, 123456, tzinfo=UTC)
    assert (row["log.level"], row["process.pid"]) == ("error", 1234)
    assert (row["source.ip"], row["source.port"]) == ("203.0.113.7", 51234)
    assert row["message"].startswith("AH00124: Request exceeded the limit")
    assert row["http.request.referrer"] == "https://example.com/start"


def test_apache_24_ipv6_client_and_lines_without_client(parse):
    rows = parse(
        [
            "[Wed Oct 14 09:00:00.000001 2026] [authz_core:error] [pid 99:tid 5] [client 2001:db8::7:40000] "
            "AH01630: client denied by server configuration: /srv/private",
            "[Wed Oct 14 09:00:01.5 2026] [mpm_prefork:notice] [pid 1234] AH00163: Apache/2.4.62 (Debian) configured "
            "-- resuming normal operations",
            "[Wed Oct 14 09:00:02 2026] [error] [client 2001:db8::9] Invalid method in request",
        ],
        "apache-error",
    ).rows
    assert (rows[0]["source.ip"], rows[0]["source.port"]) == ("2001:db8::7", 40000)
    assert (rows[1]["source.ip"], rows[1]["log.level"], rows[1]["process.pid"]) == (None, "notice", 1234)
    assert rows[1]["@timestamp"] == datetime(2026, 10, 14, 9, 0, 1, 500000, tzinfo=UTC)
    assert (rows[2]["source.ip"], rows[2]["source.port"]) == ("2001:db8::9", None)


def test_nginx_error_with_request_context(parse):
    row = parse(
        '2026/11/23 10:00:00 [error] 1234#1234: *5 open() "/usr/share/nginx/html/.env" failed (2: No such file or '
        'directory), client: 203.0.113.9, server: example.com, request: "GET /.env?x=%41 HTTP/1.1", host: "example.com", '
        'referrer: "http://example.com/"',
        "nginx-error",
        timezone_name="Europe/Berlin",
    ).row
    assert row["@timestamp"] == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert (row["log.level"], row["process.pid"], row["source.ip"]) == ("error", 1234, "203.0.113.9")
    assert (row["http.request.method"], row["url.original"], row["url.path"], row["url.query"]) == (
        "GET",
        "/.env?x=%41",
        "/.env",
        "x=A",
    )
    assert row["url.domain"] == "example.com"
    assert row["http.request.referrer"] == "http://example.com/"
    assert row["message"].startswith('open() "/usr/share/nginx/html/.env" failed')
    assert row["event.action"] == "web-file-not-found"


def test_nginx_error_without_client_and_with_ipv6_client(parse):
    rows = parse(
        [
            "2026/11/23 10:00:01 [notice] 1234#1234: signal process started",
            "2026/11/23 10:00:02 [crit] 1234#0: *77 SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad "
            "key share) while SSL handshaking, client: 2001:db8::1, server: 0.0.0.0:443",
        ],
        "nginx-error",
    ).rows
    assert (rows[0]["log.level"], rows[0]["source.ip"], rows[0]["message"]) == (
        "notice",
        None,
        "signal process started",
    )
    assert (rows[1]["log.level"], rows[1]["source.ip"], rows[1]["http.request.method"]) == ("crit", "2001:db8::1", None)


def test_a_fake_client_inside_the_message_does_not_win(parse):
    row = parse(
        '2026/11/23 10:00:00 [error] 77#77: *1 open() "/srv/a, client: 6.6.6.6, server: x" failed (2: No such file or '
        'directory), client: 203.0.113.9, server: example.com, request: "GET /a HTTP/1.1", host: "example.com"',
        "nginx-error",
    ).row
    assert row["source.ip"] == "203.0.113.9"


def test_error_log_lines_that_do_not_fit(parse):
    parsed = parse(
        [
            "PHP Warning: something",
            "[Wed Feb 30 10:00:00 2026] [error] [client 1.2.3.4] x",
            "2026/13/01 10:00:00 [error] 1#1: x",
        ],
        "apache-error",
    )
    assert parsed.unparsed == {0: "no-match", 1: "bad-timestamp", 2: "no-match"}
    parsed = parse(["2026/13/01 10:00:00 [error] 1#1: x", "[error] x"], "nginx-error")
    assert parsed.unparsed == {0: "bad-timestamp", 1: "no-match"}
