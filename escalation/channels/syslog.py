"""`syslog`: RFC 5424 messages over UDP (RFC 5426) or TCP with octet counting (RFC 6587).

One message per notification: the header's PRI comes from the configured facility and the
incident severity, MSGID is the event, the structured data element `logwarden@32473` carries
the machine-readable facts (32473 is the private enterprise number RFC 5612 reserves for
examples; no registration is needed), and MSG is one escaped line for people.
UDP cannot notice a receiver that is down (no answer is expected); TCP can, but has no
application-level acknowledgement either (RELP is not spoken).
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field

from detector.model import iso
from escalation.channels.deadline import Deadline
from escalation.channels.message import entity_text, evidence_lines, safe, subject
from escalation.channels.notification import ChannelError, Notification
from escalation.channels.spec import SpecReader

SD_ID = "logwarden@32473"
FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "clock": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}
# Incident severity -> syslog severity (2 crit, 3 err, 4 warning, 5 notice, 6 info).
SEVERITIES = {"critical": 2, "high": 3, "medium": 4, "low": 5, "informational": 6}
QUIET_EVENTS = {"acknowledge": 5, "resolve": 5, "test": 6}  # news, not alarms
MAX_FRAME = {"udp": 2048, "tcp": 8192}  # RFC 5426 receivers SHOULD take 2048 bytes over UDP
_PRINTUSASCII = re.compile(r"^[\x21-\x7e]+$")


def sd_escape(value: str) -> str:
    """PARAM-VALUE escaping of RFC 5424 section 6.3.3: `"`, `\\` and `]` get a backslash."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_field(value: str, limit: int) -> str:
    """A header field is 1..limit printable ASCII characters, or the nil value `-`."""
    return value if value and len(value) <= limit and _PRINTUSASCII.match(value) else "-"


def format_message(note: Notification, facility: int, app_name: str, hostname: str, max_bytes: int) -> bytes:
    """The RFC 5424 message (without transport framing), at most `max_bytes` long."""
    severity = QUIET_EVENTS.get(note.event, SEVERITIES.get(note.severity, 3))
    params = {
        "incident": note.incident_id,
        "event": note.event,
        "severity": note.severity,
        "level": str(note.level),
        "scenario": note.scenario_id,
        "entity": entity_text(note),
        "confidence": f"{note.confidence:.2f}",
        "dedup_key": note.dedup_key,
        "notification": note.id,
    }
    if note.exercise:
        params["exercise"] = "true"
    # Values are capped so that header and structured data always leave room for MSG.
    sd = "[" + SD_ID + "".join(f' {name}="{sd_escape(safe(value, 200))}"' for name, value in params.items()) + "]"
    header = " ".join(
        [
            f"<{facility * 8 + severity}>1",
            iso(note.created_at) or "-",
            _header_field(hostname, 255),
            _header_field(app_name, 48),
            _header_field(str(os.getpid()), 128),
            _header_field(note.event, 32),
        ]
    )
    parts = [subject(note), f"confidence {note.confidence:.2f}", f"count {note.finding_count}"]
    evidence = evidence_lines(note, 300)
    if evidence:
        parts.append(f"evidence {evidence[0]}" + (f" (+{len(evidence) - 1} more)" if len(evidence) > 1 else ""))
    if note.event not in ("acknowledge", "resolve"):
        parts.append(f"ack: {safe(note.ack_command, 300)}")
    head = f"{header} {sd} ".encode("utf-8")
    text = safe(" | ".join(parts), None).encode("utf-8")
    room = max_bytes - len(head)
    if len(text) > room:
        text = text[: max(room - 3, 0)].decode("utf-8", "ignore").encode("utf-8") + b"..."
    return head + text


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 section 3.4.1 framing: `MSG-LEN SP SYSLOG-MSG`, the length in octets."""
    return str(len(message)).encode("ascii") + b" " + message


@dataclass(frozen=True)
class SyslogChannel:
    name: str
    host: str
    port: int
    transport: str  # udp | tcp
    facility: int
    app_name: str
    hostname: str
    timeout: float
    kind: str = field(default="syslog", init=False)

    @property
    def label(self) -> str:
        return f"syslog channel {self.name!r}"

    def send(self, note: Notification) -> None:
        message = format_message(note, self.facility, self.app_name, self.hostname, MAX_FRAME[self.transport])
        where = f"{self.transport}://{self.host}:{self.port}"
        with Deadline(self.timeout) as deadline:
            try:
                if self.transport == "udp":
                    self._send_udp(message)
                else:
                    self._send_tcp(octet_counted(message), deadline)
            except (TimeoutError, socket.timeout):
                raise ChannelError(f"{self.label}: {where} timed out after {self.timeout:g}s", retryable=True) from None
            except ConnectionRefusedError:
                raise ChannelError(f"{self.label}: connection to {where} refused", retryable=True) from None
            except OSError as exc:
                if deadline.expired:
                    raise ChannelError(f"{self.label}: {where} timed out after {self.timeout:g}s", retryable=True) from None
                raise ChannelError(f"{self.label}: sending to {where} failed: {exc}", retryable=True) from None

    def _send_udp(self, message: bytes) -> None:
        family, kind, proto, _, address = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(self.timeout)
            sock.sendto(message, address)

    def _send_tcp(self, frame: bytes, deadline: Deadline) -> None:
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
            deadline.watch(lambda: sock)
            sock.sendall(frame)


def build(name: str, reader: SpecReader) -> SyslogChannel:
    reader.check_keys("syslog", {"host", "port", "transport", "facility", "app_name", "hostname", "timeout"})
    host = reader.host("syslog.example.com")
    transport = reader.choice("transport", {"udp": "RFC 5426", "tcp": "RFC 6587 octet counting"}, "udp")
    port = reader.port(514)
    facility = reader.choice("facility", {name: "" for name in FACILITIES}, "auth")
    app_name = reader.string("app_name", "logwarden") or "logwarden"
    if not (len(app_name) <= 48 and _PRINTUSASCII.match(app_name)):
        reader.add("app_name", f"app_name {app_name!r} must be 1 to 48 printable ASCII characters without spaces, e.g. logwarden")
    hostname = reader.string("hostname", "bastion-01.example.com")
    if hostname is not None and not (len(hostname) <= 255 and _PRINTUSASCII.match(hostname)):
        reader.add("hostname", f"hostname {hostname!r} must be printable ASCII without spaces, e.g. bastion-01.example.com")
    return SyslogChannel(
        name=name,
        host=host,
        port=port,
        transport=transport,
        facility=FACILITIES[facility],
        app_name=app_name,
        hostname=hostname or socket.gethostname(),
        timeout=reader.timeout(),
    )
