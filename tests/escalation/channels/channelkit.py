"""Real servers on 127.0.0.1 for the channel tests, a hostile notification, and test certificates.

Imported by the tests in this directory as `channelkit` (pytest puts the directory on sys.path).
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from detector.yamlsafe import load_yaml_text
from escalation.channels.notification import EvidenceLine, Notification

# A log line written by an attacker: Slack mention and link syntax, HTML, ANSI colour, a second
# forged line, a bidi override, and SD-PARAM metacharacters.
HOSTILE_LINE = (
    'Failed password for <!channel> <http://evil.example|click> <script>alert(1)</script> '
    '\x1b[31mRED\x1b[0m\nforged line "quote" back\\slash ]bracket \u202eevil & `tick```'
)
CREATED = datetime(2026, 11, 21, 10, 20, 0, tzinfo=timezone.utc)


def make_note(**changes: Any) -> Notification:
    """A realistic SSH brute-force notification with one hostile evidence line."""
    note = Notification(
        id="ntf-0001-l1-oncall-email",
        dedup_key="lw-4f1c2a9b7d3e5a10",
        incident_id="INC-4f1c2a",
        event="trigger",
        created_at=CREATED,
        level=1,
        target="secops-oncall",
        address="oncall@example.com",
        severity="high",
        confidence=0.82,
        confidence_reasons=("scenario prior 0.70", "12 failures, threshold 6"),
        title="SSH password brute force from one source",
        scenario_id="ssh-bruteforce",
        entity={"source.ip": "203.0.113.7"},
        first_seen=datetime(2026, 11, 21, 10, 1, 2, tzinfo=timezone.utc),
        last_seen=datetime(2026, 11, 21, 10, 9, 40, tzinfo=timezone.utc),
        finding_count=12,
        attack=("T1110.001",),
        evidence=(
            EvidenceLine("/var/log/auth.log", 1234, "Nov 21 10:01:02 bastion sshd[811]: Failed password for root"),
            EvidenceLine("/var/log/auth.log", 5678, HOSTILE_LINE),
        ),
        ack_command="logwarden incidents ack INC-4f1c2a --by <your name>",
    )
    return dataclasses.replace(note, **changes)


def channel_spec(text: str) -> Any:
    """A channel mapping as the policy loader hands it over (LineDict with line numbers)."""
    return load_yaml_text(text, "policy.yaml")


# --- certificates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certs:
    ca: Path  # PEM of the CA that signed the server certificate
    other_ca: Path  # a CA that did not
    cert: Path  # server certificate for 127.0.0.1 / localhost
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certs(directory: Path) -> Certs:
    """A throw-away CA and a server certificate for 127.0.0.1, made with the openssl CLI."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    key_args = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    for name in ("ca", "other-ca"):
        openssl("req", "-x509", *key_args, "-keyout", f"{name}.key", "-out", f"{name}.pem",
                "-days", "2", "-subj", f"/CN=logwarden test {name}", *ca_ext)
    openssl("req", *key_args, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return Certs(directory / "ca.pem", directory / "other-ca.pem", directory / "server.pem", directory / "server.key")


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpRecorder:
    """A threaded HTTP(S) server that records every POST and answers as told.

    `behaviour`: "answer" (status/reply at once), "hold" (answer only once `release` is set),
    "drip" (send the status line, then one header byte every 50 ms until `release`)."""

    tls: ssl.SSLContext | None = None
    status: int = 200
    reply: bytes = b"ok"
    reply_headers: dict[str, str] = field(default_factory=dict)
    behaviour: str = "answer"
    requests: list[HttpRequest] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)  # a held/dripping answer ended

    def __post_init__(self) -> None:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.requests.append(HttpRequest(self.path, dict(self.headers.items()), body))
                try:
                    recorder._answer(self)
                except OSError:
                    pass  # the client gave up, as it should

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        if self.behaviour == "hold":
            self.release.wait(10)
            self.finished.set()
        if self.behaviour == "drip":  # the status line, then a header that never ends
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(200):
                if self.release.wait(0.05):
                    return
                handler.wfile.write(b"a")
                handler.wfile.flush()
            self.finished.set()
            return
        handler.send_response(self.status)
        for name, value in self.reply_headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(self.reply)))
        handler.end_headers()
        handler.wfile.write(self.reply)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> "HttpRecorder":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# --- SMTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    tls: bool  # the session was encrypted (STARTTLS or implicit TLS)
    login: str | None  # the authenticated user, if any


class MailRecorder:
    """aiosmtpd handler: keeps every accepted message; `rcpt_replies` refuses chosen recipients."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.rcpt_replies: dict[str, str] = {}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message, encrypted, login))
        return "250 Message accepted for delivery"


class SmtpServer(Controller):
    """aiosmtpd's threaded controller on an ephemeral 127.0.0.1 port."""

    def __init__(self, handler: MailRecorder, **kwargs: Any) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=0, **kwargs)

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]  # the port the OS picked
        super()._trigger_server()


def password_authenticator(login: str, password: str) -> Any:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() == login and data.password.decode() == password
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    return authenticate


# --- plain sockets ---------------------------------------------------------------------------------


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SilentListener:
    """Accepts TCP connections (via the backlog) and never says a word."""

    def __enter__(self) -> "SilentListener":
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def read_tcp_stream(listener: socket.socket, wait: float = 5.0) -> bytes:
    """Accept one connection and read it until the peer closes it."""
    listener.settimeout(wait)
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(wait)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


class TricklingListener:
    """Accepts one TCP connection and sends `data` one byte every 50 ms (a slowloris server)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.finished = threading.Event()  # the whole of `data` was sent
        self.stop = threading.Event()

    def __enter__(self) -> "TricklingListener":
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            try:
                for byte in self.data:
                    if self.stop.wait(0.05):
                        return
                    conn.sendall(bytes([byte]))
                self.finished.set()
            except OSError:
                pass  # the client hung up

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(5)
