"""What `logwarden scan` prints for a person: the summary first, findings grouped by the actor
behind them and ordered by severity then time, the notifications of the bundled policy in the
same order, `-q` for cron, colour only on a terminal (NO_COLOR respected), progress on stderr."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from detector.cli.root import main
from detector.cli.scanview import Progress
from detector.config import Config
from detector.runs.scan import run_scan
from detector.state.store import Store

LOGWARDEN = str(Path(sys.executable).with_name("logwarden"))
NOW = "2026-11-23T10:00:00Z"
T = datetime(2026, 11, 23, 9, 0, 0)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _write_logs(logs: Path) -> None:
    """Two SSH brute forces (high) at 09:00 and 09:30; one address that runs sqlmap with SQL
    injection at 07:00 (high and low: two findings, one actor); sqlmap alone at 06:00 (low)."""
    logs.mkdir(parents=True, exist_ok=True)
    auth = [
        f"{T + timedelta(seconds=20 * i):%b %d %H:%M:%S} bastion sshd[811]: Failed password for invalid user "
        f"admin{i} from 203.0.113.50 port {40000 + i} ssh2"
        for i in range(8)
    ] + [
        f"{T + timedelta(minutes=30, seconds=20 * i):%b %d %H:%M:%S} bastion sshd[812]: Failed password for root "
        f"from 198.51.100.9 port {41000 + i} ssh2"
        for i in range(7)
    ]
    (logs / "auth.log").write_text("\n".join(auth) + "\n")
    stamp = T.replace(tzinfo=timezone.utc).timestamp() + 3600
    os.utime(logs / "auth.log", (stamp, stamp))  # syslog lines take their year from the file
    agent = '"-" "sqlmap/1.8#stable (https://sqlmap.org)"'
    access = [
        f'192.0.2.99 - - [{T - timedelta(hours=3, seconds=-10 * i):%d/%b/%Y:%H:%M:%S} +0000] '
        f'"GET /shop/item?id={i} HTTP/1.1" 200 512 {agent}'
        for i in range(4)
    ] + [
        f'192.0.2.33 - - [{T - timedelta(hours=2, seconds=-10 * i):%d/%b/%Y:%H:%M:%S} +0000] '
        f'"GET /shop/item?id={i}%27%20UNION%20SELECT%20username,password%20FROM%20users-- HTTP/1.1" 500 120 {agent}'
        for i in range(4)
    ]
    (logs / "access.log").write_text("\n".join(access) + "\n")


@pytest.fixture
def logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("LOGWARDEN_CONFIG", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./logwarden.yaml: the bundled checklist and policy
    _write_logs(tmp_path / "logs")
    return tmp_path / "logs"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def _finding_rows(out: str) -> list[tuple[str, str, str]]:
    """(severity, scenario, actor) of each finding line of the listing, in printed order."""
    rows, actor = [], None
    for line in out.splitlines():
        if heading := re.match(r"^  (\S+=\S+): \d+ findings$", line):
            actor = heading.group(1)
        elif row := re.match(r"^ +\[(\w+) *\] [\d.]+ (\S+)(?: \((\S+)\))? x", line):
            rows.append((row.group(1), row.group(2), row.group(3) or actor))
    return rows


def test_summary_first_then_findings_by_actor_worst_first_then_notifications_in_that_order(logs, capsys, tmp_path):
    code, out, _ = _run(capsys, "scan", str(logs), "--state", str(tmp_path / "st" / "s.db"), "--now", NOW)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("logwarden scan: 2 file(s)")
    assert lines[1] == "findings raised or extended: 5 (3 high, 2 low) from 4 actor(s)"
    assert _finding_rows(out) == [
        ("high", "web-sqli", "source.ip=192.0.2.33"),  # the actor's worst finding leads its group
        ("low", "web-scanner-user-agent", "source.ip=192.0.2.33"),
        ("high", "ssh-bruteforce", "source.ip=203.0.113.50"),
        ("high", "ssh-bruteforce", "source.ip=198.51.100.9"),
        ("low", "web-scanner-user-agent", "source.ip=192.0.2.99"),  # earliest, but low: last
    ]
    # the bundled policy prints every notification: after the summary, severity then time
    subjects = [line for line in lines if re.match(r"^\[(HIGH|LOW)\]", line)]
    assert [re.search(r"source\.ip=(\S+)", s).group(1) for s in subjects] == [
        "192.0.2.33", "203.0.113.50", "198.51.100.9", "192.0.2.99", "192.0.2.33"
    ]
    assert out.index(subjects[0]) > out.index("by actor, worst first:")
    assert lines[-1].startswith("escalation: 10 notification(s) sent; 5 active incident(s)")


def test_quiet_prints_the_summary_only_and_nothing_when_nothing_is_new(logs, capsys, tmp_path):
    state = str(tmp_path / "st" / "s.db")
    code, out, err = _run(capsys, "scan", str(logs), "--state", state, "--now", NOW, "-q", "--no-escalate")
    assert code == 0 and err == ""
    assert out.splitlines() == [
        out.splitlines()[0],
        "findings raised or extended: 5 (3 high, 2 low) from 4 actor(s)",
        "escalation not run (--no-escalate): `logwarden escalation tick` hands the findings on",
    ]
    code, out, err = _run(capsys, "scan", str(logs), "--state", state, "--now", NOW, "-q", "--no-escalate")
    assert (code, out, err) == (0, "", "")  # a cron run with nothing new mails nothing


def test_colour_can_be_forced_and_is_off_in_a_pipe(logs, capsys, tmp_path):
    state = str(tmp_path / "st" / "s.db")
    _, out, _ = _run(capsys, "scan", str(logs), "--state", state, "--now", NOW, "--no-escalate", "--color", "always")
    assert "\x1b[31m" in out  # high in red
    assert "\x1b[" not in _run(capsys, "scan", str(logs), "--state", state + "2", "--now", NOW, "--no-escalate")[1]


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> str:
    """Run logwarden with stdout on a pseudo-terminal; what it printed there."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdout=follower, stderr=subprocess.PIPE, env=env)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError("logwarden did not finish")
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    os.close(leader)
    return b"".join(chunks).decode()


def test_on_a_terminal_severities_are_coloured_unless_no_color_is_set(logs, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "LOGWARDEN_CONFIG")}
    env["TERM"] = "xterm"
    argv = [LOGWARDEN, "scan", str(logs), "--now", NOW, "--no-escalate", "--state"]
    coloured = _on_a_terminal(argv + [str(tmp_path / "a.db")], env)
    assert "\x1b[31m" in coloured and "findings raised or extended: 5" in ANSI.sub("", coloured)
    plain = _on_a_terminal(argv + [str(tmp_path / "b.db")], {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in plain and "findings raised or extended: 5" in plain


def test_progress_line_appears_after_a_few_seconds_and_is_erased():
    clock = iter([0.0, 1.0, 3.5, 3.7, 4.5, 9.0]).__next__
    stream = io.StringIO()
    meter = Progress(stream, after=3.0, every=0.5, clock=clock)
    meter.update(1 << 20, 4 << 20)  # 1 s: a short scan stays silent
    assert stream.getvalue() == ""
    meter.update(2 << 20, 4 << 20)  # 3.5 s
    meter.update(3 << 20, 4 << 20)  # 3.7 s: too soon to redraw
    meter.update(5 << 20, None)  # 4.5 s: a compressed file hides the total
    assert stream.getvalue().split("\r")[1:] == [
        "logwarden scan:  50% of 4.0 MB read, 4s",
        "logwarden scan: 5.0 MB read, 4s".ljust(39),  # covers the longer line before
    ]
    meter.finish()
    assert stream.getvalue().endswith("\r" + " " * 31 + "\r")


def test_the_pipeline_reports_progress_against_the_bytes_it_planned(tmp_path):
    log = tmp_path / "access.log"
    line = '198.51.100.7 - - [23/Nov/2026:09:00:00 +0000] "GET /shop/item/1 HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n'
    log.write_text(line * 2000)
    seen: list[tuple[int, int | None]] = []
    config = Config(path=None, state=tmp_path / "s.db", checklist=None, escalation=None, timezone="UTC")
    with Store(config.state) as store:
        run_scan(store, config, [log], datetime.now(timezone.utc), chunk_size=16384,
                 on_progress=lambda done, planned: seen.append((done, planned)))
    size = log.stat().st_size
    assert len(seen) > 5 and all(planned == size for _, planned in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen) and seen[-1][0] == size
