"""Format sniffing from the first lines of a file."""

from __future__ import annotations

import pytest

from detector.parsing import sniff_format

SAMPLES = {
    "combined": [
        '203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0"',
        '203.0.113.9 - - [10/Oct/2026:13:55:37 -0700] "GET /favicon.ico HTTP/1.1" 404 153 "-" "curl/8.5.0"',
    ],
    "common": ['127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326'],
    "apache-error": ["[Wed Oct 11 14:32:52 2026] [error] [client 203.0.113.7] File does not exist: /var/www/x"],
    "nginx-error": ["2026/11/23 10:00:01 [notice] 1234#1234: signal process started"],
    "syslog": [
        "Nov 23 10:00:00 bastion sshd[1234]: Failed password for root from 203.0.113.7 port 52311 ssh2",
        "Nov 23 10:00:01 bastion kernel: [1.2] [UFW BLOCK] IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 LEN=40 PROTO=TCP SPT=1 DPT=2",
    ],
    "json": ['{"ts":"2026-11-23T10:00:00Z","level":"info","msg":"started"}'],
    "logfmt": ['ts=2026-11-23T10:00:00Z level=info msg="started" port=8080'],
}


@pytest.mark.parametrize("fmt", list(SAMPLES))
def test_each_format_is_recognized(fmt):
    assert sniff_format(SAMPLES[fmt]) == fmt


def test_prose_and_empty_samples_have_no_format():
    assert sniff_format(["Dear operator,", "this file is a letter: not a log.", "Regards"]) is None
    assert sniff_format([]) is None
    assert sniff_format(["", "   "]) is None


def test_the_majority_decides_and_a_minority_is_not_enough():
    assert sniff_format(SAMPLES["syslog"] * 3 + ["random banner line"]) == "syslog"
    assert sniff_format(SAMPLES["json"] + ["plain text", "more plain text"]) is None


def test_structured_logs_without_timestamps_still_have_a_format():
    assert sniff_format(['{"level":"info","msg":"no time key"}']) == "json"
