"""RFC 5424 syslog over real UDP and TCP listeners on 127.0.0.1, parsed back field by field."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator

import pytest
from channelkit import (
    HOSTILE_LINE,
    channel_spec,
    closed_port,
    make_note,
    read_tcp_stream,
)

from escalation.channels import build_channel
from escalation.channels.message import subject
from escalation.channels.notification import ChannelError, EvidenceLine

# RFC 5424 section 6 grammar for our one SD-ELEMENT; inside a PARAM-VALUE `"`, `\` and `]`
# may only appear escaped.
_VALUE = r'(?:[^"\\\]]|\\["\\\]])*'
_PARAM = rf' ([^= \]"]+)="({_VALUE})"'
MESSAGE = re.compile(
    rf'<(?P<pri>\d{{1,3}})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) '
    rf'\[(?P<sdid>[^ \]=]+)(?P<params>(?:{_PARAM})*)\] (?P<msg>.*)',
    re.S,
)


def parse(message: bytes) -> dict:
    match = MESSAGE.fullmatch(message.decode("utf-8"))
    assert match, message
    fields = match.groupdict()
    fields["sd"] = {name: re.sub(r'\\(["\\\]])', r"\1", value) for name, value in re.findall(_PARAM, fields["params"])}
    return fields


@pytest.fixture
def udp_listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        yield sock


@pytest.fixture
def tcp_listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield sock


def syslog(port: int, tmp_path, extra: str = ""):
    spec = channel_spec(f"kind: syslog\nhost: 127.0.0.1\nport: {port}\nhostname: bastion-01\ntimeout: 0.5\n{extra}")
    return build_channel("siem", spec, str(tmp_path / "policy.yaml"), 1, tmp_path)


def test_udp_message_header_structured_data_and_msg(udp_listener: socket.socket, tmp_path) -> None:
    hostile_entity = {"user.name": 'ro"ot\\]x\nforged'}
    syslog(udp_listener.getsockname()[1], tmp_path).send(make_note(entity=hostile_entity))
    datagram, _ = udp_listener.recvfrom(65536)
    fields = parse(datagram)
    assert int(fields["pri"]) == 4 * 8 + 3  # facility auth, severity err (incident severity high)
    assert fields["ts"] == "2026-11-21T10:20:00Z"
    assert (fields["host"], fields["app"], fields["procid"], fields["msgid"]) == (
        "bastion-01", "logwarden", str(os.getpid()), "trigger",
    )
    assert fields["sdid"] == "logwarden@32473"
    assert fields["sd"] == {
        "incident": "INC-4f1c2a",
        "event": "trigger",
        "severity": "high",
        "level": "1",
        "scenario": "ssh-bruteforce",
        "entity": 'user.name=ro"ot\\]x\\nforged',  # terminal-safe first, then SD-escaped on the wire
        "confidence": "0.82",
        "dedup_key": "lw-4f1c2a9b7d3e5a10",
        "notification": "ntf-0001-l1-oncall-email",
    }
    assert '\\"ot\\\\\\]x' in fields["params"]  # the escaping as it is on the wire
    msg = fields["msg"]
    assert msg.startswith(subject(make_note(entity=hostile_entity)))
    assert "ack: logwarden incidents ack INC-4f1c2a --by <your name>" in msg
    assert not re.search(r"[\x00-\x1f\x7f]", msg)


def test_facility_and_severity_mapping(udp_listener: socket.socket, tmp_path) -> None:
    channel = syslog(udp_listener.getsockname()[1], tmp_path, "facility: local3\napp_name: lw-prod\n")
    channel.send(make_note(severity="critical"))
    channel.send(make_note(event="resolve", level=0))
    critical, resolved = (parse(udp_listener.recvfrom(65536)[0]) for _ in range(2))
    assert int(critical["pri"]) == 19 * 8 + 2 and critical["app"] == "lw-prod"
    assert int(resolved["pri"]) == 19 * 8 + 5 and resolved["msgid"] == "resolve"  # notice: news, not alarm


def test_exercise_is_marked(udp_listener: socket.socket, tmp_path) -> None:
    syslog(udp_listener.getsockname()[1], tmp_path).send(make_note(exercise=True))
    fields = parse(udp_listener.recvfrom(65536)[0])
    assert fields["sd"]["exercise"] == "true" and fields["msg"].startswith("[EXERCISE] ")


def test_udp_message_is_kept_within_2048_bytes(udp_listener: socket.socket, tmp_path) -> None:
    huge = make_note(
        title="é" * 3000, entity={"user.name": "ö" * 3000}, evidence=(EvidenceLine("/var/" + "ü" * 600, 1, "ü" * 5000),)
    )
    syslog(udp_listener.getsockname()[1], tmp_path).send(huge)
    datagram, _ = udp_listener.recvfrom(65536)
    assert len(datagram) <= 2048 and datagram.endswith(b"...")
    parse(datagram)  # still valid UTF-8 and a complete message


def test_tcp_uses_octet_counting(tcp_listener: socket.socket, tmp_path) -> None:
    note = make_note(entity={"user.name": "jürgen"}, evidence=(EvidenceLine("/var/log/auth.log", 9, HOSTILE_LINE),))
    syslog(tcp_listener.getsockname()[1], tmp_path, "transport: tcp\n").send(note)
    stream = read_tcp_stream(tcp_listener)
    length, _, message = stream.partition(b" ")
    assert length.isdigit() and int(length) == len(message)  # octets, not characters
    assert len(message) != len(message.decode("utf-8"))
    fields = parse(message)
    assert fields["sd"]["entity"] == "user.name=jürgen"
    assert "\\x1b[31m" in fields["msg"] and "\n" not in fields["msg"]


def test_tcp_receiver_down_is_retryable(tmp_path) -> None:
    with pytest.raises(ChannelError) as info:
        syslog(closed_port(), tmp_path, "transport: tcp\n").send(make_note())
    assert info.value.retryable and "refused" in str(info.value)
