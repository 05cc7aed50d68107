"""What the daemon meets on real hosts, each case ending in the findings a cron scan of the same
bytes gives, every line committed once:

- inotify queue overflow: the kernel dropped the events; the overflow warning starts a full
  pass at once (and without it the periodic re-check would, see test_watch.py);
- the inotify watch limit reached: fall back to polling, with a warning, and keep reading;
- the watched directory removed and recreated; a file replaced by an editor's atomic rename;
- a file system without events: `--polling` gives the same findings;
- logrotate's `copy` (a duplicate of the live file next to it), `dateext` and `olddir`.

In-process daemons (a monkeypatched observer) where the fault cannot be made on a shared
machine without changing kernel limits for everyone; real `logwarden watch` processes otherwise.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from watchdog.events import FileSystemEventHandler
from watchkit import (
    BundledLoader,
    Watcher,
    append,
    assert_contiguous,
    auth_benign,
    burst,
    comparable,
    findings,
    lines_ingested,
    memory_logger,
    query,
    rotate_through_copy_dateext_and_olddir,
    scan_findings,
    wait_for,
    wait_ingested,
)

import detector.daemon.observer as watch_observer
from detector.daemon.watch import Daemon, WatchOptions


def _same_as_a_scan(state: Path, logs: Path, scan_state: Path) -> list[dict]:
    """The daemon's findings equal a cron scan's of the same bytes; no byte read twice."""
    assert_contiguous(state)
    watched = findings(state)
    scanned = scan_findings([logs], scan_state, "--no-escalate")["findings"]
    assert sorted(map(comparable, watched)) == sorted(map(comparable, scanned))
    return watched


def _bruteforce_ips(found: list[dict]) -> set[str]:
    return {f["entity"]["source.ip"] for f in found if f["scenario_id"] == "ssh-bruteforce"}


# -- in-process daemons --------------------------------------------------------------------------


@contextmanager
def _daemon(tmp_path: Path, logs: Path, **options: float) -> Iterator[tuple[Daemon, io.StringIO]]:
    stream = io.StringIO()
    logger = memory_logger(f"logwarden.test.faults.{id(stream)}", stream)
    daemon = Daemon(WatchOptions(paths=(logs,), **options), BundledLoader(tmp_path / "state" / "state.db"), logger)
    outcome: dict[str, object] = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("code", daemon.run()), daemon=True)
    thread.start()
    try:
        wait_for(lambda: "event=started" in stream.getvalue(), "the daemon to start")
        yield daemon, stream
    finally:
        daemon.request_stop("test")
        thread.join(timeout=60)
    assert outcome.get("code") == 0, stream.getvalue()


class _Deaf(FileSystemEventHandler):
    """What the daemon's handler receives after the kernel dropped the events: nothing."""


class _OverflowingInotify(watch_observer.Observer):  # type: ignore[misc, valid-type]
    """Real inotify whose events are all lost, as after an IN_Q_OVERFLOW."""

    def schedule(self, handler, path, **kwargs):  # noqa: ANN001, ANN003 - watchdog's signature
        return super().schedule(_Deaf(), path, **kwargs)


def test_queue_overflow_events_lost_the_warning_starts_a_catch_up_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch_observer, "Observer", _OverflowingInotify)
    logs = tmp_path / "logs"
    logs.mkdir()
    append(logs / "auth.log", [auth_benign(i) for i in range(5)])
    # re-check an hour away: only the overflow warning can make this daemon read again
    with _daemon(tmp_path, logs, recheck=3600, tick=3600, settle=0.05) as (daemon, log):
        state = tmp_path / "state" / "state.db"
        wait_for(lambda: lines_ingested(state) == 5, "the start-up pass")
        append(logs / "auth.log", burst("203.0.113.160", 0, 7, 60))
        time.sleep(1.5)
        assert lines_ingested(state) == 5, "events were supposed to be lost"
        logging.getLogger("watchdog.observers.inotify_c").warning("Inotify queue overflowed; filesystem events were lost")
        wait_for(lambda: lines_ingested(state) == 12, "the pass the overflow starts")
    assert "trigger=event" in log.getvalue()
    assert _bruteforce_ips(_same_as_a_scan(state, logs, tmp_path / "scan.db")) == {"203.0.113.160"}


class _NoWatchesLeft(watch_observer.Observer):  # type: ignore[misc, valid-type]
    """inotify on a host whose fs.inotify.max_user_watches is used up (ENOSPC)."""

    def schedule(self, *args, **kwargs):  # noqa: ANN002, ANN003
        raise OSError(errno.ENOSPC, "No space left on device")


def test_watch_limit_reached_falls_back_to_polling_with_a_warning_and_keeps_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch_observer, "Observer", _NoWatchesLeft)
    logs = tmp_path / "logs"
    logs.mkdir()
    with _daemon(tmp_path, logs, recheck=3600, tick=3600, settle=0.05, poll_interval=0.2) as (daemon, log):
        state = tmp_path / "state" / "state.db"
        assert daemon.tree is not None and daemon.tree.kind == "polling"
        append(logs / "auth.log", [auth_benign(i) for i in range(3)] + burst("203.0.113.161", 0, 7, 60))
        wait_for(lambda: lines_ingested(state) == 10, "lines read by the polling observer's hints")
    text = log.getvalue()
    warning = [line for line in text.splitlines() if "event=observer-fallback" in line]
    assert len(warning) == 1 and "level=error" in warning[0] and "max_user_watches" in warning[0]
    assert "errno 28" in warning[0]
    assert _bruteforce_ips(_same_as_a_scan(state, logs, tmp_path / "scan.db")) == {"203.0.113.161"}


# -- real daemons ------------------------------------------------------------------------------


def test_the_watched_directory_removed_and_recreated(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with Watcher(tmp_path, [str(logs), "--no-escalate", "--recheck", "3600", "--missing-grace", "60"]) as watcher:
        append(logs / "auth.log", burst("203.0.113.162", 0, 7, 0))
        wait_ingested(watcher.state, 7, watcher)
        shutil.rmtree(logs)
        time.sleep(0.5)
        logs.mkdir()
        time.sleep(1.5)  # supervision (once a second) watches the new directory
        append(logs / "auth.log", [auth_benign(i) for i in range(3)] + burst("203.0.113.163", 0, 7, 100))
        wait_ingested(watcher.state, 17, watcher)  # with re-checks an hour away: the new watch woke it
        assert watcher.stop() == 0
    assert "pass-failed" not in watcher.log()
    watched = findings(watcher.state)
    assert _bruteforce_ips(watched) == {"203.0.113.162", "203.0.113.163"}
    assert len({f["id"] for f in watched}) == len(watched)


def test_an_editor_replacing_the_file_atomically_is_read_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "auth.log"
    first = [auth_benign(i) for i in range(20)] + burst("203.0.113.164", 0, 4, 30)
    with Watcher(tmp_path, [str(logs), "--no-escalate", "--recheck", "0.5"]) as watcher:
        append(log, first)
        wait_ingested(watcher.state, len(first), watcher)
        saved = logs / ".auth.log.new"  # vim, `sed -i`, lineinfile: write a copy, rename it over
        append(saved, first + burst("203.0.113.164", 4, 4, 40))
        os.replace(saved, log)
        wait_ingested(watcher.state, len(first) + 4, watcher)
        time.sleep(1.5)  # a few re-checks more: nothing is read again
        assert lines_ingested(watcher.state) == len(first) + 4
        assert watcher.stop() == 0
    assert query(watcher.state, "SELECT reason FROM gaps") == []
    assert _bruteforce_ips(_same_as_a_scan(watcher.state, logs, tmp_path / "scan.db")) == {"203.0.113.164"}


@pytest.mark.parametrize("observer", ["inotify", "polling"])
def test_copy_dateext_and_olddir_rotations_give_what_a_scan_gives(tmp_path: Path, observer: str) -> None:
    """With inotify, and with polling (a file system without events: NFS, FUSE): same findings."""
    logs = tmp_path / "logs"
    logs.mkdir()
    written = 0

    def write(path: Path, lines: list[str]) -> None:
        nonlocal written
        append(path, lines)
        written += len(lines)
        time.sleep(0.3)  # let the daemon read some of it before the next step, sometimes

    extra = ["--polling", "--poll-interval", "0.2"] if observer == "polling" else []
    with Watcher(tmp_path, [str(logs), "--no-escalate", "--recheck", "1", *extra]) as watcher:
        rotate_through_copy_dateext_and_olddir(logs, write)
        wait_ingested(watcher.state, written, watcher)
        time.sleep(2.5)  # two re-checks more: a duplicate would be read by now
        assert lines_ingested(watcher.state) == written
        assert watcher.stop() == 0
    assert query(watcher.state, "SELECT reason, detail FROM gaps") == []
    watched = _same_as_a_scan(watcher.state, logs, tmp_path / "scan.db")
    assert _bruteforce_ips(watched) == {"203.0.113.170", "203.0.113.173"}
    assert {f["entity"]["source.ip"] for f in watched if f["scenario_id"] == "web-log4shell-jndi"} == {
        "203.0.113.171", "203.0.113.172"}
