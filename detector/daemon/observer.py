"""File system notifications for the daemon: *hints* that something may have changed.

Events never decide what is read (the pass re-discovers and re-plans everything); they only wake
the main loop early. So the observer can lose events (inotify queue overflow, a watch removed
with its directory, a network file system without notifications) without losing data: the
periodic re-check still reads it. What this module guarantees is that the observer itself stays
up: handler exceptions are caught and counted, dead observer or emitter threads are restarted,
watches follow directories that appear or disappear, and when inotify itself cannot be used
(no inotify instance or watch left: `fs.inotify.max_user_instances` / `max_user_watches`, or a
kernel without it) the tree falls back to the polling observer instead of going blind.
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from detector.config import Config
from detector.daemon.log import log_event

# inotify_init / inotify_add_watch failures that no retry fixes: out of instances or watches, or
# no inotify at all. A vanished directory (ENOENT, ENOTDIR) is not one of them.
INOTIFY_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOSPC, errno.ENOMEM, errno.ENOSYS})

# Opens, reads and no-write closes are left out: the daemon's own reading would wake it forever.
EVENT_TYPES: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]


@dataclass(frozen=True, order=True)
class WatchRoot:
    """One directory to watch."""

    path: str
    recursive: bool


def _nearest_existing_dir(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path("/")


def interest_dirs(config: Config, paths: list[Path]) -> list[tuple[Path, bool]]:
    """(directory, recursive) whose content the sources read, whether or not it exists yet."""
    found: list[tuple[Path, bool]] = []
    if paths:
        for raw in paths:
            path = Path(os.path.abspath(raw))
            if path.is_file():
                found.append((path.parent, False))
            else:
                found.append((path, True))  # a directory, or a path that does not exist yet
        return found
    for spec in config.sources():
        parts = Path(os.path.abspath(spec.path)).parts
        static = _static_prefix(parts)
        rest = parts[len(static):]
        base = Path(*static) if static else Path("/")
        if not rest:  # no glob character: a plain file path
            found.append((base.parent, False))
        else:
            found.append((base, len(rest) > 1 or any("**" in part for part in rest)))
    return found


def _static_prefix(parts: tuple[str, ...]) -> list[str]:
    prefix: list[str] = []
    for part in parts:
        if glob.has_magic(part):
            break
        prefix.append(part)
    return prefix


def watch_roots(interests: list[tuple[Path, bool]]) -> list[WatchRoot]:
    """Directories to watch for `interests`: each existing directory (recursive when its
    sources are), its parent (to see it deleted, moved or recreated), and for a directory that
    does not exist yet its nearest existing ancestor (to see it created)."""
    wanted: dict[str, bool] = {}

    def add(path: Path, recursive: bool) -> None:
        key = str(path)
        wanted[key] = wanted.get(key, False) or recursive

    for directory, recursive in interests:
        if directory.is_dir():
            add(directory, recursive)
            if directory.parent != directory:
                add(directory.parent, False)
        else:
            add(_nearest_existing_dir(directory), False)
    recursive_roots = [p for p, r in wanted.items() if r]
    roots = []
    for path, recursive in sorted(wanted.items()):
        covered = not recursive and any(path == r or path.startswith(r.rstrip("/") + "/") for r in recursive_roots)
        if not covered:
            roots.append(WatchRoot(path, recursive))
    return roots


class HintHandler(FileSystemEventHandler):
    """Turns relevant events into a hint; never raises into the observer thread."""

    def __init__(
        self,
        on_hint: Callable[[str, str], None],
        is_relevant: Callable[[str], bool],
        on_error: Callable[[BaseException], None],
    ) -> None:
        super().__init__()
        self.on_hint = on_hint
        self.is_relevant = is_relevant
        self.on_error = on_error

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            paths = [os.fsdecode(event.src_path)]
            dest = getattr(event, "dest_path", "")
            if dest:
                paths.append(os.fsdecode(dest))
            relevant = [p for p in paths if self.is_relevant(p)]
            if relevant:
                self.on_hint(event.event_type, relevant[0])
        except Exception as exc:  # noqa: BLE001 - an exception here would kill the observer thread
            try:
                self.on_error(exc)
            except Exception:  # noqa: BLE001
                pass


class _OverflowHint(logging.Handler):
    """watchdog reports a kernel queue overflow only as a log record: turn it into a hint."""

    def __init__(self, on_hint: Callable[[str, str], None]) -> None:
        super().__init__(level=logging.WARNING)
        self.on_hint = on_hint

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if "overflow" in record.getMessage().lower():
                self.on_hint("overflow", "")
        except Exception:  # noqa: BLE001 - logging must never raise
            pass


class WatchTree:
    """The observer, its watches, and its supervision (call `supervise()` from the main loop)."""

    def __init__(
        self,
        interests: Callable[[], list[tuple[Path, bool]]],
        on_hint: Callable[[str, str], None],
        ignore: Callable[[str], bool],
        logger: logging.Logger,
        polling: bool = False,
        poll_interval: float = 1.0,
        on_restart: Callable[[], None] | None = None,
        on_handler_error: Callable[[], None] | None = None,
    ) -> None:
        self.interests = interests
        self.on_hint = on_hint
        self.ignore = ignore
        self.logger = logger
        self.polling = polling
        self.poll_interval = poll_interval
        self.on_restart = on_restart or (lambda: None)
        self.on_handler_error = on_handler_error or (lambda: None)
        self.observer: BaseObserver | None = None
        self.watches: dict[WatchRoot, ObservedWatch] = {}
        self._interest_dirs: list[tuple[str, bool]] = []
        self._lock = threading.Lock()
        self._overflow = _OverflowHint(on_hint)
        self._failed: set[WatchRoot] = set()  # roots whose last schedule failed (logged once)
        self.restarts = 0
        self.fallback_reason: str | None = None  # why inotify was given up for polling

    @property
    def kind(self) -> str:
        """`inotify` or `polling` (selected, or fallen back to)."""
        return "polling" if self.polling else "inotify"

    # -- relevance ----------------------------------------------------------------------------

    def is_relevant(self, path: str) -> bool:
        """Inside a directory the sources read, or an ancestor of one (created, moved, deleted)."""
        if self.ignore(path):
            return False
        with self._lock:
            interests = self._interest_dirs
        for directory, recursive in interests:
            if path == directory or directory.startswith(path.rstrip("/") + "/"):
                return True
            if recursive and path.startswith(directory.rstrip("/") + "/"):
                return True
            if not recursive and os.path.dirname(path) == directory:
                return True
        return False

    def _handler_error(self, exc: BaseException) -> None:
        self.on_handler_error()
        log_event(self.logger, logging.ERROR, "observer-handler-error", error=f"{type(exc).__name__}: {exc}")

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        logging.getLogger("watchdog").addHandler(self._overflow)
        self._start_observer()
        self.reconcile()

    def stop(self) -> None:
        logging.getLogger("watchdog").removeHandler(self._overflow)
        observer, self.observer = self.observer, None
        self.watches.clear()
        if observer is not None:
            observer.stop()
            if observer.is_alive():
                observer.join(timeout=5)

    def _start_observer(self) -> None:
        self.observer = PollingObserver(timeout=self.poll_interval) if self.polling else Observer()
        self.observer.name = "logwarden-observer"
        self.handler = HintHandler(self.on_hint, self.is_relevant, self._handler_error)
        self.watches = {}
        self.observer.start()

    def supervise(self) -> bool:
        """Restart a dead observer, re-create dead watches, follow new directories.
        True when something was restarted (the caller should run a full pass: events were lost)."""
        restarted = False
        if self.observer is None or not self.observer.is_alive():
            self.restarts += 1
            log_event(self.logger, logging.ERROR, "observer-restarted",
                      reason="the observer thread died", restarts=self.restarts)
            old = self.observer
            if old is not None:
                try:
                    old.stop()
                except Exception:  # noqa: BLE001 - it is dead already
                    pass
            self._start_observer()
            self.on_restart()
            restarted = True
        return self.reconcile() or restarted

    def reconcile(self) -> bool:
        """Schedule the watches the sources need now; drop stale and dead ones."""
        assert self.observer is not None
        interests = self.interests()
        with self._lock:
            self._interest_dirs = [(str(d), r) for d, r in interests]
        wanted = set(watch_roots(interests))
        alive = {e.watch for e in self.observer.emitters if e.is_alive()}
        changed = False
        for root, watch in list(self.watches.items()):
            if root not in wanted or watch not in alive:
                try:
                    self.observer.unschedule(watch)
                except (KeyError, OSError):
                    pass
                del self.watches[root]
                changed = changed or root in wanted  # a dead watch we still need: events were lost
        self._failed &= wanted
        for root in sorted(wanted - set(self.watches)):
            try:
                self.watches[root] = self.observer.schedule(
                    self.handler, root.path, recursive=root.recursive, event_filter=EVENT_TYPES
                )
            except OSError as exc:
                if not self.polling and exc.errno in INOTIFY_EXHAUSTED:
                    self._fall_back_to_polling(root, exc)
                    return True  # the new observer scheduled every root; events were lost
                if root not in self._failed:  # vanished in between: retried quietly each supervision
                    log_event(self.logger, logging.WARNING, "watch-failed", path=root.path, error=str(exc))
                self._failed.add(root)
                continue
            if root in self._failed:
                self._failed.discard(root)
                log_event(self.logger, logging.INFO, "watch-restored", path=root.path)
        return changed

    def _fall_back_to_polling(self, root: WatchRoot, exc: OSError) -> None:
        """inotify is exhausted or absent: poll every root rather than watch some and not others."""
        self.fallback_reason = f"{root.path}: {exc.strerror or exc} (errno {exc.errno})"
        log_event(
            self.logger, logging.ERROR, "observer-fallback", to="polling", reason=self.fallback_reason,
            hint="raise fs.inotify.max_user_watches / max_user_instances, or start with --polling",
            poll_interval=self.poll_interval,
        )
        old = self.observer
        self.polling = True
        self._start_observer()
        if old is not None:
            try:
                old.stop()
            except Exception:  # noqa: BLE001 - it failed already
                pass
        self.reconcile()
