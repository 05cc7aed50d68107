"""POSTing a JSON body with a hard deadline, and turning every failure into a ChannelError.

Retry semantics shared by webhook, Slack, PagerDuty and Alertmanager: 2xx is delivered;
408, 425, 429 and 5xx, connection failures and timeouts are retryable; other 4xx, redirects
(which would turn the POST into a bodiless GET), bad URLs and certificate failures are not.
The URL is never repeated in messages beyond scheme://host:port (a Slack URL is a secret).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from escalation.channels.deadline import Deadline
from escalation.channels.envsecret import read_secret
from escalation.channels.message import safe
from escalation.channels.notification import ChannelError
from escalation.channels.spec import SpecReader, url_problem
from escalation.channels.tls import TlsTrust, read_trust

USER_AGENT = "logwarden-escalation/1"
HTTP_KEYS = {"url", "url_env", "timeout", "ca_file", "verify"}
_RETRYABLE_4XX = {408, 425, 429}
_SNIPPET = 300


@dataclass(frozen=True)
class HttpEndpoint:
    url: str | None  # from the policy file
    url_env: str | None  # or the name of a variable holding it (Slack URLs are secrets)
    timeout: float
    trust: TlsTrust

    def resolve_url(self, label: str) -> str:
        if self.url is not None:
            return self.url
        assert self.url_env is not None
        url = read_secret(label, self.url_env, "URL to POST to")
        problem = url_problem(url)
        if problem:
            raise ChannelError(f"{label}: the URL in ${self.url_env} {problem}", retryable=False)
        return url


def read_endpoint(reader: SpecReader, default_url: str | None = None, example: str | None = None) -> HttpEndpoint:
    example = example or "https://hooks.example.com/logwarden"
    url = reader.url("url", example)
    url_env = reader.env_name("url_env", "WEBHOOK_URL")
    if "url" in reader.spec and "url_env" in reader.spec:
        reader.add("url_env", "url and url_env are both set; keep one of them")
    elif "url" not in reader.spec and "url_env" not in reader.spec and default_url is None:
        reader.add(None, f"url is missing; add url: {example} (or url_env: NAME of a variable holding it)")
    if url is None and url_env is None:
        url = default_url
    return HttpEndpoint(url=url, url_env=url_env, timeout=reader.timeout(), trust=read_trust(reader))


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]


def is_retryable_status(status: int) -> bool:
    return status in _RETRYABLE_4XX or status >= 500


def post_json(label: str, endpoint: HttpEndpoint, body: bytes, headers: dict[str, str] | None = None) -> HttpReply:
    """POST `body`; return the 2xx reply or raise ChannelError (retryable as documented above).

    A 2xx status means the receiver took the message: its body is not waited for."""
    url = endpoint.resolve_url(label)
    where = _origin(url)
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
    )
    context = endpoint.trust.context(label) if url.startswith("https:") else None
    with Deadline(endpoint.timeout) as deadline:
        try:
            with _opener(deadline, context).open(request, timeout=endpoint.timeout) as response:
                reply = HttpReply(response.status, dict(response.headers.items()))
            if deadline.expired:  # the answer was cut off (http.client takes EOF as end of headers)
                raise _connection_error(label, where, TimeoutError(), deadline, endpoint.timeout)
            return reply
        except urllib.error.HTTPError as exc:
            raise _status_error(label, where, exc) from None
        except urllib.error.URLError as exc:
            raise _connection_error(label, where, exc.reason, deadline, endpoint.timeout) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _connection_error(label, where, exc, deadline, endpoint.timeout) from None
        except ValueError as exc:  # a URL urllib cannot use
            raise ChannelError(f"{label}: cannot POST to {where}: {safe(exc, 300)}", retryable=False) from None


def _status_error(label: str, where: str, exc: urllib.error.HTTPError) -> ChannelError:
    try:
        snippet = _read_snippet(exc)
    except (OSError, http.client.HTTPException):
        snippet = ""
    detail = f": {safe(snippet, _SNIPPET)}" if snippet.strip() else ""
    status = exc.code
    if 300 <= status < 400:
        target = safe(exc.headers.get("Location", "?"), 200)
        return ChannelError(
            f"{label}: {where} answered HTTP {status} redirect to {target}; configure the final URL "
            "(a redirected POST loses its body)",
            retryable=False,
        )
    retry_after = exc.headers.get("Retry-After")
    after = f" (Retry-After: {safe(retry_after, 40)})" if retry_after else ""
    return ChannelError(f"{label}: {where} answered HTTP {status}{after}{detail}", retryable=is_retryable_status(status))


def _connection_error(label: str, where: str, reason: Any, deadline: Deadline, timeout: float) -> ChannelError:
    if deadline.expired or isinstance(reason, (TimeoutError, socket.timeout)):
        return ChannelError(f"{label}: {where} gave no complete answer within {timeout:g}s", retryable=True)
    if isinstance(reason, ssl.SSLCertVerificationError):
        return ChannelError(
            f"{label}: TLS certificate of {where} could not be verified ({reason.verify_message}); "
            "set ca_file to the CA that signed it",
            retryable=False,
        )
    if isinstance(reason, ConnectionRefusedError):
        return ChannelError(f"{label}: connection to {where} refused", retryable=True)
    if isinstance(reason, socket.gaierror):
        return ChannelError(f"{label}: cannot resolve the host of {where}: {reason}", retryable=True)
    if isinstance(reason, str):  # urllib's own complaints about the URL (unknown scheme, no host)
        return ChannelError(f"{label}: cannot POST to {where}: {safe(reason, 200)}", retryable=False)
    return ChannelError(f"{label}: sending to {where} failed: {safe(reason, 200)}", retryable=True)


def _read_snippet(response: Any) -> str:
    return response.read(64 * 1024).decode("utf-8", "replace")


def _origin(url: str) -> str:
    """scheme://host[:port] only: paths and queries may carry tokens."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"
    except ValueError:
        return "(invalid URL)"


# --- urllib plumbing: connections whose sockets the deadline can shut down -------------------------


class _Watched:
    """Mixin for http.client connections: the deadline can shut their socket down."""

    sock: socket.socket | None

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self._deadline = deadline

    def connect(self) -> None:
        self._deadline.watch(lambda: self.sock)  # covers connect and the TLS handshake
        super().connect()  # type: ignore[misc]
        sock = self.sock
        self._deadline.watch(lambda: sock)  # urllib drops self.sock before the body is read


class _WatchedHTTPConnection(_Watched, http.client.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(partial(_WatchedHTTPConnection, deadline=self._deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline, context: ssl.SSLContext | None) -> None:
        super().__init__(context=context)
        self._deadline = deadline
        self._tls = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(partial(_WatchedHTTPSConnection, deadline=self._deadline), req, context=self._tls)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # surfaces as HTTPError 3xx


def _opener(deadline: Deadline, context: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_HTTPHandler(deadline), _HTTPSHandler(deadline, context), _NoRedirect())
