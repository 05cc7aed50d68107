"""Syslog framing: RFC 3164 (`auth.log`), rsyslog's ISO timestamps, RFC 5424; PRI values."""

from __future__ import annotations

from .clock import bsd_stamp, iso_stamp, micros
from .engine import Payload


class Framing:
    """How a syslog record (host, program, pid, message, PRI) becomes a line."""

    def payload(self, host: str, prog: str, pid: int | None, msg: str, pri: int) -> Payload:
        raise NotImplementedError

    def render(self, t: float, payload: Payload) -> str:
        raise NotImplementedError


class Bsd(Framing):
    """RFC 3164 as Debian's rsyslog writes `auth.log`: `Nov 23 10:00:00 host tag[pid]: msg`."""

    def __init__(self) -> None:
        self.stamp = bsd_stamp()

    def payload(self, host: str, prog: str, pid: int | None, msg: str, pri: int) -> Payload:
        tag = prog if pid is None else f"{prog}[{pid}]"
        return ("", f" {host} {tag}: {msg}\n")

    def render(self, t: float, payload: Payload) -> str:
        return self.stamp(t) + payload[1]


class IsoSyslog(Bsd):
    """rsyslog's RSYSLOG_FileFormat: `2026-11-23T10:00:00.123456+00:00 host tag: msg`."""

    def __init__(self) -> None:
        self.stamp = iso_stamp()

    def render(self, t: float, payload: Payload) -> str:
        return f"{self.stamp(t)}.{micros(t):06d}+00:00{payload[1]}"


class Rfc5424(Framing):
    """`<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG` with rsyslog's RFC 3339 timestamps."""

    def __init__(self) -> None:
        self.stamp = iso_stamp()

    def payload(
        self, host: str, prog: str, pid: int | None, msg: str, pri: int, msgid: str = "-", sd: str = "-"
    ) -> Payload:
        return (f"<{pri}>1 ", f" {host} {prog} {'-' if pid is None else pid} {msgid} {sd} {msg}\n")

    def render(self, t: float, payload: Payload) -> str:
        return f"{payload[0]}{self.stamp(t)}.{micros(t):06d}+00:00{payload[1]}"


# PRI values (facility * 8 + severity) of what the programs here really log.
AUTH_INFO, AUTH_ERR = 38, 35  # sshd, systemd-logind
AUTHPRIV_INFO, AUTHPRIV_NOTICE, AUTHPRIV_ALERT = 86, 85, 81  # PAM, sudo
DAEMON_INFO = 30  # systemd
USER_INFO, USER_WARN, USER_ERR = 14, 12, 11  # the shop API
LOCAL0_INFO, LOCAL0_WARN, LOCAL0_ERR = 134, 132, 131  # haproxy, postgres
