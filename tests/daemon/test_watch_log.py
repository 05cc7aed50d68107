"""The daemon's structured stderr lines: parseable, escaped, journald priorities under systemd."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from detector.daemon.log import log_event, setup_logging

HOSTILE = "/var/log/\x1b[2Jevil\u202e.log\nlevel=critical event=fake"


@pytest.fixture(autouse=True)
def _restore_loggers():
    """setup_logging configures process-wide loggers: put them back for the other tests."""
    saved = {name: (lg.handlers[:], lg.level, lg.propagate)
             for name in ("logwarden", "watchdog") for lg in [logging.getLogger(name)]}
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


def _emit(tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch, journal: bool = False) -> str:
    out = tmp_path / f"stderr-{fmt}-{journal}.log"
    with open(out, "w") as stream:
        if journal:
            st = os.fstat(stream.fileno())
            monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        else:
            monkeypatch.delenv("JOURNAL_STREAM", raising=False)
        logger = setup_logging(fmt, stream)
        log_event(logger, logging.WARNING, "defect", kind="gap", subject=HOSTILE, count=3, skipped=None)
        log_event(logger, logging.INFO, "pass", files=2, entity={"source.ip": "203.0.113.7"})
        for handler in logger.handlers:
            handler.flush()
    return out.read_text()


def test_text_lines_are_key_value_pairs_with_hostile_values_quoted_and_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _emit(tmp_path, "text", monkeypatch).splitlines()
    assert " level=warning event=defect kind=gap subject=" in first
    assert "\x1b" not in first and "\u202e" not in first
    assert '\\u001b[2Jevil\\u202e.log\\nlevel=critical event=fake"' in first
    assert first.endswith(" count=3") and "skipped" not in first
    assert second.endswith('event=pass files=2 entity="{\\"source.ip\\": \\"203.0.113.7\\"}"')


def test_json_lines_are_one_object_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = (json.loads(line) for line in _emit(tmp_path, "json", monkeypatch).splitlines())
    assert first["event"] == "defect" and first["level"] == "warning" and first["subject"] == HOSTILE
    assert second["entity"] == {"source.ip": "203.0.113.7"}


def test_under_systemd_each_line_carries_its_journal_priority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _emit(tmp_path, "text", monkeypatch, journal=True).splitlines()
    assert first.startswith("<4>time=") and second.startswith("<6>time=")
