"""`email`: SMTP submission with STARTTLS or implicit TLS, optional AUTH, bounded by a deadline.

The message is multipart/mixed: the plain-text body a responder reads, and the JSON payload
as an attachment for ticket systems. Message-ID is stable per outbox message (a retried send
is recognisably the same mail) and References thread every mail about one incident.
Retry semantics: 5xx replies, refused authentication, a server without STARTTLS/AUTH and
certificate failures are permanent; 4xx replies, connection failures and timeouts are not.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from escalation.channels.deadline import Deadline
from escalation.channels.envsecret import read_secret
from escalation.channels.message import plain_text, safe, subject, to_json
from escalation.channels.notification import ChannelError, Notification
from escalation.channels.spec import SpecReader
from escalation.channels.tls import TlsTrust, read_trust

TLS_MODES = {"none": "plain text, local relays only", "starttls": "upgrade, usually port 587", "tls": "implicit TLS, usually port 465"}
_DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class EmailChannel:
    name: str
    host: str
    port: int
    tls: str  # none | starttls | tls
    sender: str
    to: tuple[str, ...]  # empty: the notification's address
    username: str | None
    password_env: str | None
    timeout: float
    trust: TlsTrust
    kind: str = field(default="email", init=False)

    @property
    def label(self) -> str:
        return f"email channel {self.name!r}"

    def send(self, note: Notification) -> None:
        recipients = self.to or ((note.address,) if note.address else ())
        if not recipients:
            raise ChannelError(
                f"{self.label}: no recipient; give contact {note.target!r} an email address or set to: on the channel",
                retryable=False,
            )
        password = read_secret(self.label, self.password_env, "SMTP password") if self.password_env else None
        try:
            message = build_message(note, self.sender, recipients)
        except (ValueError, TypeError) as exc:  # e.g. a line break in the contact's address
            raise ChannelError(f"{self.label}: cannot build the message: {safe(exc, 300)}", retryable=False) from None
        context = self.trust.context(self.label) if self.tls != "none" else None
        with Deadline(self.timeout) as deadline:
            client: smtplib.SMTP | None = None
            try:
                client = self._connect(deadline, context)
                self._submit(client, context, password, message, recipients)
            except ChannelError:
                raise
            except smtplib.SMTPRecipientsRefused as exc:
                raise self._refused(exc.recipients) from None
            except smtplib.SMTPResponseException as exc:
                raise self._reply_error(exc, deadline) from None
            except smtplib.SMTPNotSupportedError as exc:
                raise ChannelError(f"{self.label}: {self.host}:{self.port} does not support it: {exc}", retryable=False) from None
            except ssl.SSLCertVerificationError as exc:
                raise ChannelError(
                    f"{self.label}: TLS certificate of {self.host}:{self.port} could not be verified "
                    f"({exc.verify_message}); set ca_file to the CA that signed it",
                    retryable=False,
                ) from None
            except (OSError, smtplib.SMTPException) as exc:
                raise self._connection_error(exc, deadline) from None
            finally:
                if client is not None:
                    client.close()

    def _connect(self, deadline: Deadline, context: ssl.SSLContext | None) -> smtplib.SMTP:
        options = {"local_hostname": _local_name(), "timeout": self.timeout, "deadline": deadline}
        if self.tls == "tls":
            return _WatchedSMTPSSL(self.host, self.port, context=context, **options)
        return _WatchedSMTP(self.host, self.port, **options)

    def _submit(
        self,
        client: smtplib.SMTP,
        context: ssl.SSLContext | None,
        password: str | None,
        message: EmailMessage,
        recipients: tuple[str, ...],
    ) -> None:
        if self.tls == "starttls":
            client.starttls(context=context)  # raises SMTPNotSupportedError if not offered
        if self.username and password is not None:
            client.login(self.username, password)
        refused = client.send_message(message, from_addr=self.sender, to_addrs=list(recipients))
        if refused:  # some recipients accepted: report the others
            raise self._refused(refused, partly_delivered=True)
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            pass  # the server has accepted the message; a lost QUIT changes nothing

    def _refused(self, refused: dict[str, tuple[int, bytes]], partly_delivered: bool = False) -> ChannelError:
        """A retry re-sends to every recipient: duplicates beat a silently missing page."""
        listed = "; ".join(f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in refused.items())
        temporary = any(400 <= code < 500 for code, _ in refused.values())
        others = " (the other recipients got the message)" if partly_delivered else ""
        return ChannelError(f"{self.label}: recipients refused: {listed}{others}", retryable=temporary)

    def _reply_error(self, exc: smtplib.SMTPResponseException, deadline: Deadline) -> ChannelError:
        if deadline.expired:
            return self._connection_error(exc, deadline)
        code = exc.smtp_code
        what = "authentication refused" if isinstance(exc, smtplib.SMTPAuthenticationError) else "server refused"
        return ChannelError(
            f"{self.label}: {what} by {self.host}:{self.port}: {code} {_text(exc.smtp_error)}",
            retryable=not 500 <= code < 600,
        )

    def _connection_error(self, exc: BaseException, deadline: Deadline) -> ChannelError:
        where = f"{self.host}:{self.port}"
        if deadline.expired or isinstance(exc, (TimeoutError, socket.timeout)):
            return ChannelError(f"{self.label}: {where} gave no complete answer within {self.timeout:g}s", retryable=True)
        if isinstance(exc, ConnectionRefusedError):
            return ChannelError(f"{self.label}: connection to {where} refused", retryable=True)
        hint = " (check tls: and port)" if isinstance(exc, ssl.SSLError) else ""
        return ChannelError(f"{self.label}: sending via {where} failed: {safe(exc, 300)}{hint}", retryable=True)


def build_message(note: Notification, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    domain = sender.rpartition("@")[2] or "logwarden.invalid"
    message = EmailMessage()
    message["Subject"] = subject(note)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(note.created_at)
    message["Message-ID"] = f"<{_ID_UNSAFE.sub('_', note.id)}@{domain}>"
    message["References"] = f"<incident.{_ID_UNSAFE.sub('_', note.dedup_key)}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message["X-Logwarden-Incident"] = safe(note.incident_id, 80)
    message["X-Logwarden-Event"] = safe(note.event, 40)
    message["X-Logwarden-Severity"] = safe(note.severity, 20)
    if note.exercise:
        message["X-Logwarden-Exercise"] = "yes"
    message.set_content(plain_text(note), subtype="plain", charset="utf-8")
    message.add_attachment(
        to_json(note).encode("ascii"),
        maintype="application",
        subtype="json",
        filename=f"{_ID_UNSAFE.sub('_', note.incident_id)}.json",
    )
    return message


def build(name: str, reader: SpecReader) -> EmailChannel:
    reader.check_keys(
        "email", {"host", "port", "tls", "from", "to", "username", "password_env", "timeout", "ca_file", "verify"}
    )
    host = reader.host("smtp.example.com")
    tls = reader.choice("tls", TLS_MODES, "starttls", "tls mode")
    port = reader.port(_DEFAULT_PORTS[tls])
    sender_text = reader.string("from", "logwarden@example.com", required=True)
    sender = reader.address("from", sender_text, "logwarden@example.com") if sender_text else None
    to = reader.addresses("to", "secops@example.com")
    username = reader.string("username", "alerts@example.com")
    password_env = reader.env_name("password_env", "SMTP_PASSWORD")
    if username and "password_env" not in reader.spec:
        reader.add("username", "username is set but password_env is not; add password_env: SMTP_PASSWORD (the variable holding the password)")
    if "password_env" in reader.spec and "username" not in reader.spec:
        reader.add("password_env", "password_env is set but username is not; add username: the SMTP login name")
    if tls == "none" and ("username" in reader.spec or "password_env" in reader.spec):
        reader.add("tls", "tls: none with username/password_env would send the password in clear text; use tls: starttls or tls: tls")
    if tls == "none" and ("ca_file" in reader.spec or "verify" in reader.spec):
        reader.add("tls", "ca_file/verify have no effect with tls: none; use tls: starttls or tls: tls, or remove them")
    timeout = reader.timeout()
    trust = read_trust(reader)
    return EmailChannel(
        name=name,
        host=host,
        port=port,
        tls=tls,
        sender=sender or "",
        to=to,
        username=username,
        password_env=password_env,
        timeout=timeout,
        trust=trust,
    )


class _Watched:
    """Mixin for smtplib clients: the deadline shuts the socket down (banner, TLS, DATA...)."""

    sock: socket.socket | None

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        self._deadline = deadline
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]  # connects

    def connect(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        self._deadline.watch(lambda: self.sock)
        return super().connect(*args, **kwargs)  # type: ignore[misc]


class _WatchedSMTP(_Watched, smtplib.SMTP):
    pass


class _WatchedSMTPSSL(_Watched, smtplib.SMTP_SSL):
    pass


def _local_name() -> str:
    """EHLO name without DNS lookups (smtplib's default getfqdn() can stall on a broken resolver)."""
    return socket.gethostname() or "localhost"


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return safe(text, 300)
