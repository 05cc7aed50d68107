"""One attack, one finding: a fast SSH brute force is also a slow one, and only the fast
scenario speaks for it (`suppressed_by`); a chain finding stays open while a stage's finding
can still hand over its events, so a long attack is one chain, not overlapping ones. Through
the real pipeline with the bundled checklist, in one run and split over runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from detection.builders import scan_logs, with_scenario
from detector.checklist import load_checklist
from detector.errors import RuleError

ATTACKER = "100.64.20.5"
DAY = datetime(2026, 11, 21, tzinfo=timezone.utc)


def failure(at: datetime, pid: int, ip: str = ATTACKER) -> str:
    return f"{at:%b %d %H:%M:%S} bastion07 sshd[{pid}]: Failed password for root from {ip} port {40000 + pid % 20000} ssh2\n"


def login(at: datetime, pid: int, ip: str = ATTACKER) -> str:
    return f"{at:%b %d %H:%M:%S} bastion07 sshd[{pid}]: Accepted password for deploy from {ip} port {50000 + pid % 10000} ssh2\n"


def failures(start: datetime, count: int, every: timedelta, first_pid: int) -> list[tuple[datetime, str]]:
    return [(start + i * every, failure(start + i * every, first_pid + i)) for i in range(count)]


def write(path: Path, lines: list[tuple[datetime, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(text for _, text in sorted(lines)))
    return path


def spans(findings: list) -> list[tuple[str, str, int]]:
    return [(f"{f.first_seen:%H:%M}", f"{f.last_seen:%H:%M}", f.count) for f in findings]


@pytest.mark.parametrize("runs", [1, 2])
def test_a_fast_brute_force_is_one_finding_not_also_a_slow_one(tmp_path: Path, runs: int) -> None:
    """Twenty guesses in ten minutes: ssh-bruteforce fires; the slow scenario (ten in two hours)
    would too, on the same lines, and stays silent. Split over two cron runs: the same."""
    lines = failures(DAY.replace(hour=3), 20, timedelta(seconds=30), 1000)
    log = tmp_path / "logs" / "auth.log"
    if runs == 1:
        found = scan_logs(tmp_path / "state.db", write(log, lines))
    else:
        write(log, lines[:7])
        scan_logs(tmp_path / "state.db", log)
        found = scan_logs(tmp_path / "state.db", write(log, lines))
    assert spans(with_scenario(found, "ssh-bruteforce")) == [("03:00", "03:09", 20)]
    assert with_scenario(found, "ssh-bruteforce-slow") == []


def test_a_slow_brute_force_alone_is_found(tmp_path: Path) -> None:
    lines = failures(DAY.replace(hour=3), 12, timedelta(minutes=9), 1000)
    found = scan_logs(tmp_path / "state.db", write(tmp_path / "auth.log", lines))
    assert with_scenario(found, "ssh-bruteforce") == []
    assert spans(with_scenario(found, "ssh-bruteforce-slow")) == [("03:00", "04:39", 12)]


def test_a_slow_brute_force_that_speeds_up_is_reported_by_both(tmp_path: Path) -> None:
    """Ten paced guesses raise the slow finding first; the burst after it is a fast brute force
    of its own: the slow finding was not inside a fast one's time, so both stand."""
    start = DAY.replace(hour=3)
    slow = failures(start, 10, timedelta(minutes=10), 1000)
    burst = failures(start + timedelta(minutes=100), 8, timedelta(seconds=20), 2000)
    found = scan_logs(tmp_path / "state.db", write(tmp_path / "auth.log", slow + burst))
    assert spans(with_scenario(found, "ssh-bruteforce")) == [("04:40", "04:42", 8)]
    assert [f.first_seen for f in with_scenario(found, "ssh-bruteforce-slow")] == [start]


def test_a_long_attack_then_logins_is_one_chain_not_overlapping_ones(tmp_path: Path) -> None:
    """Two slow brute-force findings (a 75-minute pause between them) and logins during and
    after the second, read in small batches beside a second log (so windows fire as the
    watermark passes them, as in a daemon): the second's failures reach the chain only when it
    fires, 90 minutes after its first line. The chain finding opened by the first stays open for
    them, so the address has one chain finding holding all three logins, not a second one
    starting inside the first."""
    start = DAY.replace(hour=0)
    first = failures(start, 10, timedelta(minutes=10), 1000)  # 00:00-01:30
    second = failures(start + timedelta(minutes=165), 10, timedelta(minutes=10), 2000)  # 02:45-04:15
    logins = [(start + timedelta(minutes=m), login(start + timedelta(minutes=m), 3000 + m)) for m in (120, 170, 270)]
    cron = [
        (start + timedelta(minutes=m), f"{start + timedelta(minutes=m):%b %d %H:%M:%S} bastion07 CRON[{9000 + m}]: "
         "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)\n")
        for m in range(0, 400, 5)
    ]
    logs = tmp_path / "logs"
    write(logs / "auth.log", first + second + logins)
    write(logs / "cron.log", cron)
    found = scan_logs(tmp_path / "state.db", logs, chunk_size=512)
    assert len(with_scenario(found, "ssh-bruteforce-slow")) == 2
    chain = with_scenario(found, "recon-then-login")
    assert spans(chain) == [("00:00", "04:30", 23)]
    assert chain[0].extra["stages"] == {"ssh-bruteforce-slow": 20}


def _scenario_with(tmp_path: Path, suppressed_by: list[str]) -> Path:
    bundled = load_checklist().directory
    rules = tmp_path / "rules"
    (rules / "scenarios").mkdir(parents=True)
    (rules / "checklist.yaml").write_text((bundled / "checklist.yaml").read_text())
    for source in (bundled / "scenarios").glob("*.yaml"):
        text = source.read_text()
        if source.stem == "ssh-bruteforce-slow":
            data = yaml.safe_load(text)
            data["suppressed_by"] = suppressed_by
            text = yaml.safe_dump(data, sort_keys=False)
        (rules / "scenarios" / source.name).write_text(text)
    return rules


@pytest.mark.parametrize(
    ("suppressed_by", "message"),
    [
        (["ssh-brutforce"], "suppressed_by names 'ssh-brutforce', which is not another scenario id"),
        (["ssh-user-bruteforce"], "a suppressing scenario must have the same entity fields"),
    ],
)
def test_a_wrong_suppressor_is_a_rule_error_with_file_and_line(tmp_path: Path, suppressed_by: list[str], message: str) -> None:
    rules = _scenario_with(tmp_path, suppressed_by)
    with pytest.raises(RuleError) as caught:
        load_checklist(rules)
    problems = [p for p in caught.value.problems if "suppressed_by" in p]
    assert len(problems) == 1 and message in problems[0], caught.value.problems
    assert problems[0].startswith(f"{rules / 'scenarios' / 'ssh-bruteforce-slow.yaml'}:")
