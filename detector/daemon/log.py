"""Structured logs of the daemon on stderr: one line per event, `key=value` text or JSON.

Under systemd (stderr connected to the journal, `$JOURNAL_STREAM` names it), each line starts
with the sd-daemon priority prefix `<N>` so `journalctl -p warning` filters by level.
Every value is escaped: paths and messages can come from hostile log content.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import IO, Any

LOGGER_NAME = "logwarden"
FORMATS = ("text", "json")

# sd-daemon(3) priorities
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@+,")
MAX_VALUE = 4000


def _text_value(value: Any) -> str:
    """A bare token when harmless, else a JSON string (ASCII-escaped: no control character,
    no bidi override and no quote of log content survives unescaped)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE] + f"... [{len(text) - MAX_VALUE} more characters]"
    if text and _BARE.issuperset(text):
        return text
    return json.dumps(text, ensure_ascii=True)


class TextFormatter(logging.Formatter):
    """`time=... level=info event=pass files=3 ...` (logfmt: easy to read and to grep)."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [f"time={_timestamp(record)}", f"level={record.levelname.lower()}",
                 f"event={_text_value(record.getMessage())}"]
        parts.extend(f"{key}={_text_value(value)}" for key, value in _fields(record).items())
        if record.exc_info:
            parts.append(f"traceback={_text_value(self.formatException(record.exc_info))}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (ASCII-escaped: control characters cannot reach a terminal)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        document.update(_fields(record))
        if record.exc_info:
            document["traceback"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=True)


class _JournalPrefix(logging.Formatter):
    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return f"<{_PRIORITY.get(record.levelno, 6)}>{self.inner.format(record)}"


def stderr_is_journal(stream: IO[str]) -> bool:
    """True when systemd connected this stream to the journal ($JOURNAL_STREAM = dev:inode)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


def setup_logging(fmt: str = "text", stream: IO[str] | None = None, level: int = logging.INFO) -> logging.Logger:
    """Configure the `logwarden` logger (and watchdog's warnings) to write to stderr."""
    stream = stream or sys.stderr
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    if stderr_is_journal(stream):
        formatter = _JournalPrefix(formatter)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    watchdog_logger = logging.getLogger("watchdog")
    watchdog_logger.handlers[:] = [handler]
    watchdog_logger.setLevel(logging.WARNING)
    watchdog_logger.propagate = False
    return logger


class CommandLogHandler(logging.Handler):
    """For the commands other than `watch`: `logwarden: warning: event key=value ...` on the
    stderr of the moment (looked up per record, so a replaced sys.stderr is followed)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            parts = [f"logwarden: {record.levelname.lower()}: {_text_value(record.getMessage())}"]
            parts.extend(f"{key}={_text_value(value)}" for key, value in _fields(record).items())
            sys.stderr.write(" ".join(parts) + "\n")
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


def command_logging() -> None:
    """Give the `logwarden` logger a stderr handler unless one is set (the daemon sets its own)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        logger.addHandler(CommandLogHandler(logging.WARNING))
        logger.propagate = False


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log `event` with structured fields (fields that are None are left out)."""
    logger.log(level, event, extra={"fields": {k: v for k, v in fields.items() if v is not None}})
