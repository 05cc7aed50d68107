"""Private files and directories: the state, its lock, the audit mirror and the notification
journal hold log content and who was told what, so they are 0600 and the directories logwarden
creates for them 0700, whatever the umask. A file found more open than that (copied in, made by
an older version, edited by hand) is tightened when logwarden opens it, and the change reported
on the `logwarden` logger (the daemon's log, or one line on stderr for a command).

A directory that existed before is the operator's: it is never changed (it may hold other
files); one writable by everyone without the sticky bit is reported, since anyone could then
replace the state.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("logwarden")

FILE_MODE = 0o600
DIR_MODE = 0o700
_warned_dirs: set[str] = set()


def private_dirs(directory: Path) -> None:
    """Create `directory` and every missing parent 0700 each (`mkdir -p` makes the parents
    0777 minus the umask: 0777 under `umask 000`)."""
    missing = []
    for path in (directory, *directory.parents):
        if os.path.isdir(path):
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            if not os.path.isdir(path):
                raise
            continue
        os.chmod(path, DIR_MODE)  # the umask only removes bits; this makes the mode exact
    _check_existing_dir(directory)


def _check_existing_dir(directory: Path) -> None:
    try:
        mode = os.stat(directory).st_mode
    except OSError:
        return
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX and str(directory) not in _warned_dirs:
        _warned_dirs.add(str(directory))
        log.warning("directory-writable-by-all", extra={"fields": {
            "path": str(directory), "mode": f"{stat.S_IMODE(mode):04o}",
            "detail": "anyone can replace logwarden's files in it; chmod o-w it (logwarden leaves "
                      "directories it did not create as they are)"}})


def tighten_fd(fd: int, path: Path) -> None:
    """Make an open file 0600 if group or others had any access; report the change."""
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    if mode & 0o077:
        os.fchmod(fd, FILE_MODE)
        _report(path, mode)


def tighten(path: Path) -> None:
    """`tighten_fd` for a path that may not exist (then nothing to do)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, FILE_MODE)
        _report(path, mode)


def _report(path: Path, was: int) -> None:
    log.warning("permissions-tightened", extra={"fields": {
        "path": str(path), "was": f"{was:04o}", "now": f"{FILE_MODE:04o}",
        "detail": "it holds log content; logwarden keeps its files private to their owner"}})
