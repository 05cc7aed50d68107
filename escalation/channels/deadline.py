"""A hard limit on the total time of one send.

Socket timeouts bound each single read or write, so a server that trickles one byte at a time
could stretch a send indefinitely. A `Deadline` shuts the watched sockets down when the time is
up, which wakes any blocked read or write at once; the channel then reports a retryable timeout.
(Name resolution is not a socket operation and is bounded by the system resolver instead.)
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Callable

SocketGetter = Callable[[], "socket.socket | None"]


class Deadline:
    """`with Deadline(seconds) as deadline: deadline.watch(lambda: conn.sock) ...`"""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._watched: list[SocketGetter] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "Deadline":
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._timer.cancel()

    def watch(self, get_socket: SocketGetter) -> None:
        """Shut down whatever socket `get_socket()` returns when the deadline passes."""
        with self._lock:
            self._watched.append(get_socket)
            expired = self.expired
        if expired:
            _shutdown(get_socket())

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            watched = list(self._watched)
        for get_socket in watched:
            _shutdown(get_socket())


def _shutdown(sock: socket.socket | None) -> None:
    if sock is None:
        return
    try:
        # The plain socket method, also for SSLSocket: close the TCP stream without touching
        # the TLS state another thread may be using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected: nothing to wake
