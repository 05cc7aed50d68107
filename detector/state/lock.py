"""One writer per state database: overlapping cron runs (or a cron run next to the daemon)
are refused with a clear message instead of racing on checkpoints. A refusal exits 75
(EX_TEMPFAIL: try again later), so cron tells an overlap from a failure; `--wait SECONDS`
waits that long for the other run to finish instead."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from detector.errors import LockError
from detector.state.private import private_dirs, tighten_fd


class StateLock:
    """Exclusive, non-blocking flock on `<state>.lock`, released when the process dies."""

    def __init__(self, state_path: Path, purpose: str = "scan", wait: float = 0.0) -> None:
        self.path = state_path.with_name(state_path.name + ".lock")
        self.purpose = purpose
        self.wait = wait  # seconds to wait for another holder to finish before refusing
        self._fd: int | None = None

    def acquire(self) -> None:
        private_dirs(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        tighten_fd(fd, self.path)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
                    continue
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                waited = f" after waiting {self.wait:g}s" if self.wait else ""
                raise LockError(
                    f"{self.path.with_suffix('')}: state is in use by {holder}{waited}; another logwarden scan "
                    "or watch is running against it (try later, pass --wait SECONDS, or use another --state)"
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"logwarden {self.purpose} pid {os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "StateLock":
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
