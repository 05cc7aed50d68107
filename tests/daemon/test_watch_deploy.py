"""The deployment files in docs/deploy are valid for the tools that read them (systemd, cron,
logrotate) and call logwarden with options that exist."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from detector.cli.root import build_cli

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"
LOGWARDEN = str(Path(sys.executable).with_name("logwarden"))

UNIT_KEYS = {
    "Unit": {"Description", "Documentation", "After", "Wants", "Requires", "Before"},
    "Service": {
        "Type", "User", "Group", "SupplementaryGroups", "ExecStart", "ExecReload", "KillSignal",
        "TimeoutStopSec", "Restart", "RestartSec", "RestartPreventExitStatus", "Environment",
        "StateDirectory", "StateDirectoryMode", "UMask", "NoNewPrivileges", "ProtectSystem", "ProtectHome",
        "ReadOnlyPaths", "ReadWritePaths", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
        "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
        "ProtectHostname", "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime",
        "RestrictSUIDSGID", "LockPersonality", "SystemCallArchitectures", "CapabilityBoundingSet",
    },
    "Install": {"WantedBy"},
}


def _parses_with_the_cli(argv: list[str]) -> None:
    """The words after the executable name a real logwarden command with real options."""
    group = build_cli()
    ctx = group.make_context("logwarden", argv[1:2] + [], resilient_parsing=True)
    command = group.get_command(ctx, argv[1])
    assert command is not None, f"no command {argv[1]!r}"
    try:
        command.make_context(argv[1], argv[2:], parent=ctx)
    except click.UsageError as exc:
        raise AssertionError(f"{shlex.join(argv)}: {exc.format_message()}") from None


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string((DEPLOY / "logwarden.service").read_text())
    return parser


def test_the_systemd_unit_has_known_sections_and_keys_and_a_valid_command() -> None:
    unit = _unit()
    assert set(unit.sections()) == set(UNIT_KEYS)
    for section in unit.sections():
        unknown = set(unit[section]) - UNIT_KEYS[section]
        assert not unknown, f"[{section}] unknown keys {unknown}"
    service = unit["Service"]
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillSignal"] == "SIGTERM" and service["RestartPreventExitStatus"] == "2"
    argv = shlex.split(service["ExecStart"])
    assert argv[1] == "watch"
    _parses_with_the_cli(argv)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    text = (DEPLOY / "logwarden.service").read_text().replace("/usr/local/bin/logwarden", LOGWARDEN)
    unit = tmp_path / "logwarden.service"
    unit.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    about_ours = [line for line in (done.stdout + done.stderr).splitlines() if "logwarden.service" in line]
    assert done.returncode == 0 and about_ours == [], done.stderr


_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
_NAMES = re.compile(r"^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat)$", re.I)
_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def test_the_cron_line_has_five_valid_fields_and_a_valid_command() -> None:
    entries = []
    for raw in (DEPLOY / "logwarden.cron").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        entries.append(line)
    assert len(entries) == 1
    fields = entries[0].split(None, 5)
    assert len(fields) == 6, "a crontab line is 5 time fields and a command"
    for field, (low, high) in zip(fields[:5], _RANGES):
        assert _FIELD.match(field) or _NAMES.match(field), f"bad cron field {field!r}"
        for number in map(int, re.findall(r"\d+", field.split("/")[0])):
            assert low <= number <= high, f"{field!r} outside {low}-{high}"
    command = fields[5]
    assert "%" not in command, "cron turns % into a newline"
    argv = shlex.split(command)
    assert argv[0].endswith("/logwarden") and argv[1] == "scan"
    _parses_with_the_cli(argv)


_LOGROTATE_DIRECTIVES = {
    "daily", "weekly", "monthly", "rotate", "missingok", "notifempty", "compress", "delaycompress",
    "dateext", "dateformat", "create", "copytruncate", "sharedscripts", "postrotate", "endscript",
}


def _logrotate() -> str | None:
    return shutil.which("logrotate") or next(
        (p for p in ("/usr/sbin/logrotate", "/sbin/logrotate") if Path(p).exists()), None
    )


@pytest.mark.skipif(_logrotate() is None, reason="logrotate is not installed")
def test_logrotate_accepts_the_note(tmp_path: Path) -> None:
    done = subprocess.run([_logrotate(), "-d", "-s", str(tmp_path / "status"), str(DEPLOY / "logrotate-note")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # an unknown directive is only an `error:` line ("ignoring line"), with exit code 0
    assert not [ln for ln in (done.stdout + done.stderr).splitlines() if ln.startswith("error:")], done.stderr


def test_the_logrotate_note_is_well_formed_and_follows_the_rotations_logwarden_reads() -> None:
    """Without logrotate too: blocks balance, every directive is one logrotate knows, and each
    block rotates in a way logwarden follows (create or copytruncate, generations kept)."""
    depth, in_script = 0, False
    blocks: list[set[str]] = []
    for raw in (DEPLOY / "logrotate-note").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if in_script:
            in_script = line != "endscript"
            continue
        if line.endswith("{"):
            depth += 1
            blocks.append(set())
        elif line == "}":
            depth -= 1
        else:
            directive = line.split()[0]
            assert directive in _LOGROTATE_DIRECTIVES, f"unknown directive {line!r}"
            blocks[-1].add(directive)
            in_script = directive == "postrotate"
        assert depth in (0, 1)
    assert depth == 0 and not in_script
    assert blocks
    for directives in blocks:
        assert "rotate" in directives
        assert not {"create", "copytruncate"} <= directives, "create and copytruncate contradict each other"
