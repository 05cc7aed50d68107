"""What went wrong with the state, in one line: what failed, where, and what to do.

SQLite and the OS report failures as bare codes ("database or disk is full", errno 13); the CLI
edge turns them into a typed error through `state_failure`, so an operator reads a sentence
instead of 40 lines of Python. Nothing here decides what is lost: every write is one
transaction, so a failure leaves the last committed batch in place and the next run goes on.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from detector.errors import LockError, LogwardenError, StateError

_REDO = "nothing committed is lost: the batch in hand was rolled back and is read again next run"
_CORRUPT = (
    "restore it from a backup, or keep the damaged file aside (`sqlite3 FILE .recover` may save "
    "its content) and start a new state elsewhere: a new state reads every log again and notifies anew"
)


def _not_a_directory(path: Path) -> Path | None:
    """`path` or its nearest ancestor that exists and is not a directory, if any."""
    return next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)


def _os_failure(exc: OSError, state: Path) -> LogwardenError:
    where = Path(exc.filename) if exc.filename else state
    if where.name.startswith(f".{state.name}.") and where.parent == state.parent:
        where = state.parent  # the new state's temporary file: its directory is what failed
    reason = exc.strerror or str(exc)
    code = exc.errno
    blocker = _not_a_directory(where) if code in (errno.ENOTDIR, errno.EEXIST) else None
    if blocker is not None:
        return StateError(
            f"{state}: cannot create the state there: {blocker} is not a directory; "
            "pass --state with a path inside a directory (or set `state:` in logwarden.yaml)"
        )
    if code in (errno.ENOSPC, errno.EDQUOT):
        return StateError(f"{where}: no space left on the file system ({reason}); free some space and run "
                          f"again ({_REDO})")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS) and where in state.parents:
        return StateError(f"{where}: cannot create the state's directory here ({reason}); create it for the user "
                          "logwarden runs as (mode 0700), or pass --state with a writable path")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS) and where.parent != state.parent:
        return StateError(f"{where}: {reason}; check the permissions of this path (and of its directory)")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StateError(f"{where}: cannot write it ({reason}); run logwarden as the user that owns the state "
                          "(or make it writable by this user), or pass --state with a writable path")
    return StateError(f"{where}: {reason} (errno {code}); check the file system, then run again ({_REDO})")


def _sqlite_failure(exc: sqlite3.Error, state: Path) -> LogwardenError:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return LockError(f"{state}: the state is busy (another logwarden run is writing to it); try again later")
    if name == "SQLITE_FULL" or "disk is full" in text:
        return StateError(f"{state}: no space left for the state database ({text}); free some space on its "
                          f"file system and run again ({_REDO})")
    if name.startswith("SQLITE_READONLY") or "readonly database" in text or name.startswith("SQLITE_CANTOPEN"):
        return StateError(f"{state}: cannot write the state database or its directory ({text}); run logwarden as "
                          "the user that owns it (or make it writable by this user), or pass --state")
    if name == "SQLITE_NOTADB" or "not a database" in text:
        return StateError(f"{state}: not a logwarden state database, or a damaged one ({text}); {_CORRUPT}")
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return StateError(f"{state}: the state database is corrupt ({text}); {_CORRUPT}")
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in text:
        return StateError(f"{state}: input/output error on the state database ({text}); check the disk and free "
                          f"space (dmesg), then run again ({_REDO})")
    return StateError(f"{state}: the state database failed ({name or type(exc).__name__}: {text})")


def state_failure(exc: BaseException, state: Path) -> LogwardenError | None:
    """The one-line error for an SQLite or OS failure met while using `state`; None otherwise."""
    if isinstance(exc, sqlite3.Error):
        return _sqlite_failure(exc, Path(state))
    if isinstance(exc, OSError):
        return _os_failure(exc, Path(state))
    return None
