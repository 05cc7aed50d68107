"""Syslog framing: RFC 3164, the ISO variants, RFC 5424; years, zones and DST."""

from __future__ import annotations

from datetime import datetime, timezone

UTC = timezone.utc


def test_rfc3164_line_without_pri(parse):
    row = parse("Nov 23 10:00:00 bastion sshd[1234]: Server listening on 0.0.0.0 port 22.", "syslog").row
    assert row["@timestamp"] == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert (row["host.name"], row["process.name"], row["process.pid"]) == ("bastion", "sshd", 1234)
    assert row["message"] == "Server listening on 0.0.0.0 port 22."
    assert (row["log.format"], row["log.kind"], row["event.kind"]) == ("syslog", "auth", "event")
    assert row["event.action"] is None


def test_rfc3164_variants(parse):
    rows = parse(
        [
            "<34>Nov  3 09:05:01 web01 CRON[4242]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
            "Nov  3 09:05:02 web01 kernel: [   12.345678] usb 1-1: new high-speed USB device number 2 using xhci_hcd",
            'Nov  3 09:05:03 web01 rsyslogd: [origin software="rsyslogd"] rsyslogd was HUPed',
            "Nov  3 09:05:04 web01 last message repeated 3 times",
            "Nov  3 09:05:05 web01 systemd[1]: Started session-12.scope - Session 12 of User bob.",
        ],
        "syslog",
    ).rows
    assert rows[0]["@timestamp"] == datetime(2026, 11, 3, 9, 5, 1, tzinfo=UTC)
    assert (rows[0]["host.name"], rows[0]["process.name"], rows[0]["process.pid"]) == ("web01", "CRON", 4242)
    assert rows[0]["message"].startswith("(root) CMD (command -v")
    assert (rows[1]["process.name"], rows[1]["process.pid"], rows[1]["log.kind"]) == ("kernel", None, "system")
    assert rows[1]["message"] == "[   12.345678] usb 1-1: new high-speed USB device number 2 using xhci_hcd"
    assert (rows[2]["process.name"], rows[2]["process.pid"]) == ("rsyslogd", None)
    assert (rows[3]["host.name"], rows[3]["process.name"], rows[3]["message"]) == (
        "web01",
        None,
        "last message repeated 3 times",
    )
    assert (rows[4]["process.name"], rows[4]["log.kind"]) == ("systemd", "system")


def test_iso_timestamp_variants_carry_their_own_offset(parse):
    rows = parse(
        [
            "2026-11-23T10:00:00.123456+01:00 bastion sshd[5]: Connection from 203.0.113.9 port 4000 on 10.0.0.5 port 22",
            "2026-11-23T10:00:00+0100 bastion sshd[6]: Connection from 203.0.113.9 port 4001 on 10.0.0.5 port 22",
            "2026-11-23T10:00:00.5Z bastion sshd[7]: Connection from 203.0.113.9 port 4002 on 10.0.0.5 port 22",
            "2026-11-23T10:00:00 bastion sshd[8]: Connection from 203.0.113.9 port 4003 on 10.0.0.5 port 22",
        ],
        "syslog",
        timezone_name="America/New_York",
    ).rows
    assert rows[0]["@timestamp"] == datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
    assert rows[1]["@timestamp"] == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert rows[2]["@timestamp"] == datetime(2026, 11, 23, 10, 0, 0, 500000, tzinfo=UTC)
    assert rows[3]["@timestamp"] == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # no offset: the source's zone
    assert [row["process.pid"] for row in rows] == [5, 6, 7, 8]


def test_rfc5424_with_structured_data_bom_and_nil_values(parse):
    parsed = parse(
        [
            '<165>1 2026-11-23T10:00:00.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
            'eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] \ufeffAn application event',
            "<34>1 2026-11-23T22:14:15.003+02:00 mymachine.example.com su 4711 ID47 - 'su root' failed for lonvick on /dev/pts/8",
            '<13>1 2026-11-23T10:00:00Z - sshd - - [x@1 a="b \\"q\\" \\]"] Failed password for root from 203.0.113.8 port 2222 ssh2',
            "<13>1 - host app - - - no time at all",
        ],
        "syslog",
    )
    first, second, third = parsed.rows  # the fourth line has a nil timestamp
    assert first["@timestamp"] == datetime(2026, 11, 23, 10, 0, 0, 3000, tzinfo=UTC)
    assert (first["host.name"], first["process.name"], first["process.pid"]) == (
        "mymachine.example.com",
        "evntslog",
        None,
    )
    assert first["message"] == "An application event"
    assert second["@timestamp"] == datetime(2026, 11, 23, 20, 14, 15, 3000, tzinfo=UTC)
    assert (second["process.name"], second["process.pid"]) == ("su", 4711)
    assert second["message"] == "'su root' failed for lonvick on /dev/pts/8"
    assert (third["host.name"], third["process.name"], third["event.action"]) == (None, "sshd", "ssh-failed-password")
    assert third["source.ip"] == "203.0.113.8"
    assert parsed.unparsed == {3: "bad-timestamp"}


def test_year_comes_from_the_file_time_with_new_year_roll_over(parse):
    lines = [
        "Dec 31 23:59:58 host app[1]: last year",
        "Jan  1 00:00:02 host app[1]: this year",
        "Jan  3 09:00:00 host app[1]: within a day of the file time",
        "Jan  4 09:00:00 host app[1]: too far in the future: last year",
    ]
    rows = parse(lines, "syslog", mtime=datetime(2027, 1, 2, 12, 0, tzinfo=UTC)).rows
    assert [row["@timestamp"] for row in rows] == [
        datetime(2026, 12, 31, 23, 59, 58, tzinfo=UTC),
        datetime(2027, 1, 1, 0, 0, 2, tzinfo=UTC),
        datetime(2027, 1, 3, 9, 0, tzinfo=UTC),
        datetime(2026, 1, 4, 9, 0, tzinfo=UTC),
    ]


def test_february_29_belongs_to_the_last_leap_year(parse):
    parsed = parse(
        ["Feb 29 10:00:00 host app: leap", "Feb 30 10:00:00 host app: never"],
        "syslog",
        mtime=datetime(2029, 1, 5, tzinfo=UTC),
    )
    assert parsed.rows[0]["@timestamp"] == datetime(2028, 2, 29, 10, 0, tzinfo=UTC)
    assert parsed.unparsed == {1: "bad-timestamp"}


def test_local_time_in_the_source_zone_across_dst(parse):
    lines = [
        "Mar 29 01:30:00 host app: CET",
        "Mar 29 02:30:00 host app: does not exist, moved forward",
        "Mar 29 03:30:00 host app: CEST",
        "Oct 25 02:10:00 host app: first pass (CEST)",
        "Oct 25 02:50:00 host app: first pass (CEST)",
        "Oct 25 02:05:00 host app: clock turned back (CET)",
        "Oct 25 02:40:00 host app: second pass (CET)",
        "Oct 25 03:10:00 host app: CET",
    ]
    rows = parse(lines, "syslog", timezone_name="Europe/Berlin", mtime=datetime(2026, 11, 1, tzinfo=UTC)).rows
    assert [row["@timestamp"] for row in rows] == [
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 10, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 50, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 5, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 40, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 10, tzinfo=UTC),
    ]


def test_small_disorder_inside_the_fold_is_not_a_clock_change(parse):
    lines = [
        "Oct 25 02:10:30 host app: a",
        "Oct 25 02:10:00 host app: written a bit late",
        "Oct 25 02:11:00 host app: b",
    ]
    rows = parse(lines, "syslog", timezone_name="Europe/Berlin", mtime=datetime(2026, 11, 1, tzinfo=UTC)).rows
    assert [row["@timestamp"].hour for row in rows] == [0, 0, 0]


def test_lines_that_are_not_syslog(parse):
    parsed = parse(
        [
            "",
            "just words here",
            "2026-11-23 host",
            "Nov 23 10:00:00",
            "Foo 23 10:00:00 host app: month?",
            "Nov 23 10:00:00 host sshd[1]: ok",
        ],
        "syslog",
    )
    assert parsed.unparsed == {0: "no-match", 1: "no-match", 2: "no-match", 3: "no-match", 4: "bad-timestamp"}
    assert parsed.parsed_index == [5]


def test_headers_real_servers_write(parse):
    """One-space days, no host, Solaris message ids, fractions, short-full, ISO before BSD."""
    rows = parse(
        [
            "Jun 7 10:00:00 bastion sshd[1]: Server listening on :: port 22.",
            "Jun  7 10:00:01 sshd[2]: Server listening on :: port 22.",
            "Jun  7 10:00:02 bastion sshd[3]: [ID 800047 auth.info] Server listening on :: port 22.",
            "Jun 07 10:00:03.250000 bastion sshd[4]: Server listening on :: port 22.",
            "Sun 2026-06-07 10:00:04 CEST bastion sshd[5]: Server listening on :: port 22.",
            "2026-06-07T10:00:05.123456+02:00 Jun  7 10:00:05 bastion sshd[6]: Server listening on :: port 22.",
            "Jun  7 2026 10:00:06 bastion sshd[7]: Server listening on :: port 22.",
        ],
        "syslog",
        timezone_name="Europe/Berlin",
    ).rows
    assert [row["process.pid"] for row in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert [row["host.name"] for row in rows] == ["bastion", None, "bastion", "bastion", "bastion", "bastion", "bastion"]
    assert {row["message"] for row in rows} == {"Server listening on :: port 22."}
    stamps = [row["@timestamp"] for row in rows]
    assert stamps[0] == datetime(2026, 6, 7, 8, 0, tzinfo=UTC)
    assert stamps[3] == datetime(2026, 6, 7, 8, 0, 3, 250000, tzinfo=UTC)
    assert stamps[4] == datetime(2026, 6, 7, 8, 0, 4, tzinfo=UTC)
    assert stamps[5] == datetime(2026, 6, 7, 8, 0, 5, 123456, tzinfo=UTC)
    assert stamps[6] == datetime(2026, 6, 7, 8, 0, 6, tzinfo=UTC)
