"""The observer behind the daemon's hints, on real inotify (and polling): which directories are
watched, what wakes the daemon and what does not, and that the observer survives handler
exceptions, its own death and the deletion of what it watches."""

from __future__ import annotations

import errno
import io
import logging
import os
import shutil
import threading
from pathlib import Path

import pytest
from watchdog.observers.polling import PollingObserver
from watchkit import wait_for

import detector.daemon.observer as watch_observer
from detector.config import Application, Config, SourceSpec
from detector.daemon.log import TextFormatter
from detector.daemon.observer import WatchRoot, WatchTree, interest_dirs, watch_roots


class Hints:
    """Collects hints from the observer thread."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.fail = False

    def __call__(self, reason: str, path: str) -> None:
        if self.fail:
            self.fail = False
            raise RuntimeError("handler bug")
        with self.lock:
            self.items.append((reason, path))

    def paths(self) -> set[str]:
        with self.lock:
            return {p for _, p in self.items}

    def reasons_for(self, path: Path) -> set[str]:
        with self.lock:
            return {r for r, p in self.items if p == str(path)}

    def wait_path(self, path: Path) -> None:
        wait_for(lambda: str(path) in self.paths(), f"a hint about {path}", timeout=20)


@pytest.fixture
def log_stream() -> io.StringIO:
    return io.StringIO()


def _tree(interests: list[tuple[Path, bool]], hints: Hints, log_stream: io.StringIO, **kwargs) -> WatchTree:
    logger = logging.getLogger(f"logwarden.test.{id(hints)}")
    handler = logging.StreamHandler(log_stream)
    handler.setFormatter(TextFormatter())
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    state_dir = kwargs.pop("state_dir", None)
    return WatchTree(
        interests=lambda: interests,
        on_hint=hints,
        ignore=lambda p: state_dir is not None and Path(p).parent == state_dir and Path(p).name.startswith("state."),
        logger=logger,
        **kwargs,
    )


# -- which directories ------------------------------------------------------------------------


def test_roots_are_the_source_directories_their_parents_and_the_nearest_ancestor_of_missing_ones(
    tmp_path: Path,
) -> None:
    (tmp_path / "web" / "nginx").mkdir(parents=True)
    (tmp_path / "app").mkdir()
    roots = watch_roots([
        (tmp_path / "web", True),  # a directory read recursively
        (tmp_path / "web" / "nginx", False),  # covered by the recursive watch above
        (tmp_path / "app", False),
        (tmp_path / "later" / "deep", False),  # created later: watch what exists above it
    ])
    assert roots == sorted([
        WatchRoot(str(tmp_path), False),  # parent of web and app, nearest ancestor of later/deep
        WatchRoot(str(tmp_path / "app"), False),
        WatchRoot(str(tmp_path / "web"), True),
    ])


def test_interests_follow_command_line_paths_and_config_globs(tmp_path: Path) -> None:
    log = tmp_path / "single.log"
    log.write_text("")
    config = Config(path=None, state=tmp_path / "s.db", checklist=None, escalation=None, timezone="UTC")
    assert interest_dirs(config, [log, tmp_path / "dir"]) == [(tmp_path, False), (tmp_path / "dir", True)]
    specs = (
        SourceSpec(path=f"{tmp_path}/nginx/access.log*"),
        SourceSpec(path=f"{tmp_path}/apps/*/current/*.log"),
        SourceSpec(path=f"{tmp_path}/audit/**/*.json"),
        SourceSpec(path=f"{tmp_path}/plain/app.log"),
    )
    config = Config(path=None, state=tmp_path / "s.db", checklist=None, escalation=None, timezone="UTC",
                    applications=(Application("a", "low", "me", None, specs),))
    assert interest_dirs(config, []) == [
        (tmp_path / "nginx", False),
        (tmp_path / "apps", True),
        (tmp_path / "audit", True),
        (tmp_path / "plain", False),
    ]


# -- what wakes the daemon ----------------------------------------------------------------------


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_appends_creations_and_new_subdirectories_are_hinted(tmp_path: Path, log_stream: io.StringIO, polling: bool) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    hints = Hints()
    tree = _tree([(logs, True)], hints, log_stream, polling=polling, poll_interval=0.1)
    tree.start()
    try:
        (logs / "access.log").write_text("one\n")
        hints.wait_path(logs / "access.log")
        (logs / "nested" / "deeper").mkdir(parents=True)
        hints.wait_path(logs / "nested")
        (logs / "nested" / "deeper" / "app.log").write_text("two\n")
        hints.wait_path(logs / "nested" / "deeper" / "app.log")
    finally:
        tree.stop()


def test_unpaired_moves_into_and_out_of_the_tree_are_hinted(tmp_path: Path, log_stream: io.StringIO) -> None:
    """A file moved in from outside the watched tree (no MOVED_FROM seen) or out of it (no
    MOVED_TO seen) is still a hint."""
    logs, outside = tmp_path / "logs", tmp_path / "elsewhere"
    logs.mkdir()
    outside.mkdir()
    (outside / "incoming.log").write_text("one\n")
    (logs / "leaving.log").write_text("two\n")
    hints = Hints()
    tree = _tree([(logs, True)], hints, log_stream)
    tree.start()
    try:
        os.rename(outside / "incoming.log", logs / "incoming.log")
        hints.wait_path(logs / "incoming.log")
        os.rename(logs / "leaving.log", outside / "leaving.log")
        hints.wait_path(logs / "leaving.log")
        assert str(outside / "incoming.log") not in hints.paths()
    finally:
        tree.stop()


def test_reading_a_log_and_writing_state_files_wake_nothing(tmp_path: Path, log_stream: io.StringIO) -> None:
    """The daemon's own reads (open, access, close without write) and its own state database next
    to the logs must not wake it, or it would loop forever."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "access.log"
    log.write_text("line\n")
    hints = Hints()
    tree = _tree([(logs, True)], hints, log_stream, state_dir=logs)
    tree.start()
    try:
        log.read_text()
        (logs / "state.db-wal").write_bytes(b"wal")
        (logs / "sentinel.log").write_text("x\n")  # events arrive in order: everything before is in
        hints.wait_path(logs / "sentinel.log")
        assert hints.paths() == {str(logs / "sentinel.log")}
    finally:
        tree.stop()


def test_events_outside_the_sources_are_ignored_in_a_watched_parent(tmp_path: Path, log_stream: io.StringIO) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    hints = Hints()
    tree = _tree([(logs, False)], hints, log_stream)
    tree.start()
    try:
        assert WatchRoot(str(tmp_path), False) in tree.watches  # the parent is watched ...
        (tmp_path / "unrelated.txt").write_text("x\n")  # ... but its other entries do not matter
        (logs / "app.log").write_text("x\n")
        hints.wait_path(logs / "app.log")
        assert str(tmp_path / "unrelated.txt") not in hints.paths()
    finally:
        tree.stop()


# -- staying up -----------------------------------------------------------------------------------


def test_a_handler_exception_does_not_kill_the_observer(tmp_path: Path, log_stream: io.StringIO) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    hints = Hints()
    errors: list[int] = []
    tree = _tree([(logs, True)], hints, log_stream, on_handler_error=lambda: errors.append(1))
    tree.start()
    try:
        hints.fail = True
        (logs / "first.log").write_text("x\n")
        wait_for(lambda: errors, "the handler error to be counted", timeout=20)
        assert "observer-handler-error" in log_stream.getvalue()
        assert "RuntimeError: handler bug" in log_stream.getvalue()
        (logs / "second.log").write_text("x\n")
        hints.wait_path(logs / "second.log")
        assert tree.observer is not None and tree.observer.is_alive()
    finally:
        tree.stop()


def test_a_dead_observer_is_restarted_and_logged(tmp_path: Path, log_stream: io.StringIO) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    hints = Hints()
    restarts: list[int] = []
    tree = _tree([(logs, True)], hints, log_stream, on_restart=lambda: restarts.append(1))
    tree.start()
    try:
        assert tree.supervise() is False  # alive: nothing to do
        dead = tree.observer
        assert dead is not None
        dead.stop()  # the thread ends as if it had crashed
        dead.join(timeout=10)
        assert not dead.is_alive()
        assert tree.supervise() is True  # events may have been lost: the caller re-checks
        assert restarts == [1] and tree.restarts == 1
        assert tree.observer is not dead and tree.observer.is_alive()
        assert "observer-restarted" in log_stream.getvalue()
        (logs / "after.log").write_text("x\n")
        hints.wait_path(logs / "after.log")
    finally:
        tree.stop()


def test_a_watched_directory_deleted_and_recreated_is_watched_again(tmp_path: Path, log_stream: io.StringIO) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    hints = Hints()
    tree = _tree([(logs, True)], hints, log_stream)
    tree.start()
    try:
        shutil.rmtree(logs)
        hints.wait_path(logs)  # seen from the parent's watch
        logs.mkdir()
        wait_for(lambda: "created" in hints.reasons_for(logs), "the re-creation seen from the parent")
        tree.supervise()  # what the daemon does before every pass
        assert WatchRoot(str(logs), True) in tree.watches
        (logs / "again.log").write_text("x\n")
        hints.wait_path(logs / "again.log")
    finally:
        tree.stop()


def test_a_kernel_queue_overflow_is_a_hint(tmp_path: Path, log_stream: io.StringIO) -> None:
    """watchdog reports IN_Q_OVERFLOW only as a warning log record; events were lost, so the
    daemon must re-check at once."""
    hints = Hints()
    tree = _tree([(tmp_path, True)], hints, log_stream)
    tree.start()
    try:
        logging.getLogger("watchdog.observers.inotify_c").warning("Inotify queue overflowed; filesystem events were lost")
        assert ("overflow", "") in hints.items
    finally:
        tree.stop()


class _ExhaustedInotify(watch_observer.Observer):  # type: ignore[misc, valid-type]
    """An inotify observer on a host whose inotify watches are used up."""

    def schedule(self, *args, **kwargs):  # noqa: ANN002, ANN003 - watchdog's signature
        raise OSError(errno.ENOSPC, "No space left on device")


def test_exhausted_inotify_falls_back_to_polling(
    tmp_path: Path, log_stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch_observer, "Observer", _ExhaustedInotify)
    logs = tmp_path / "logs"
    logs.mkdir()
    hints = Hints()
    tree = _tree([(logs, True)], hints, log_stream, poll_interval=0.1)
    tree.start()
    try:
        assert tree.kind == "polling" and isinstance(tree.observer, PollingObserver)
        assert WatchRoot(str(logs), True) in tree.watches
        logged = log_stream.getvalue()
        assert "event=observer-fallback to=polling" in logged and "errno 28" in logged
        (logs / "app.log").write_text("x\n")
        hints.wait_path(logs / "app.log")  # the daemon still wakes early, by polling
        assert tree.supervise() is False  # and stays on polling: no fallback loop
        assert logged.count("observer-fallback") == 1
    finally:
        tree.stop()


def test_a_watch_that_cannot_be_scheduled_is_logged_once_and_retried(
    tmp_path: Path, log_stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory vanishing between discovery and scheduling is retried at every supervision
    (once a second) without a warning each time."""
    logs = tmp_path / "logs"
    logs.mkdir()
    failures = {"left": 3}

    class Flaky(watch_observer.Observer):  # type: ignore[misc, valid-type]
        def schedule(self, handler, path, **kwargs):  # noqa: ANN001, ANN003
            if str(path) == str(logs) and failures["left"]:
                failures["left"] -= 1
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
            return super().schedule(handler, path, **kwargs)

    monkeypatch.setattr(watch_observer, "Observer", Flaky)
    hints = Hints()
    tree = _tree([(logs, True)], hints, log_stream)
    tree.start()
    try:
        assert WatchRoot(str(logs), True) not in tree.watches
        tree.supervise()
        tree.supervise()
        assert log_stream.getvalue().count("event=watch-failed") == 1
        tree.supervise()
        assert WatchRoot(str(logs), True) in tree.watches and tree.kind == "inotify"
        assert "event=watch-restored" in log_stream.getvalue()
        (logs / "app.log").write_text("x\n")
        hints.wait_path(logs / "app.log")
    finally:
        tree.stop()
