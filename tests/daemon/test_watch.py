"""`logwarden watch` reads what `logwarden scan` reads: attack lines appended while it runs,
files rotated under it (rename+create, copytruncate, compression, date-named generations), the
same findings, none twice; and notifications are only hints: the re-check reads without them."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

from watchkit import (
    LOGWARDEN,
    T0,
    Watcher,
    access_benign,
    access_log4shell,
    append,
    assert_contiguous,
    auth_benign,
    bastion_config,
    burst,
    comparable,
    findings,
    query,
    scan_findings,
    wait_for,
    wait_ingested,
)


def test_watch_finds_what_scan_finds_through_rotations(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    auth, access = logs / "auth.log", logs / "access.log"
    written = 0

    def write(path: Path, lines: list[str]) -> None:
        nonlocal written
        append(path, lines)
        written += len(lines)

    with Watcher(tmp_path, [str(logs), "--no-escalate", "--recheck", "1"]) as watcher:
        state = watcher.state
        # 1. files appear after the daemon started; one brute force is complete
        write(auth, [auth_benign(i) for i in range(40)] + burst("203.0.113.140", 0, 7, 50))
        write(access, [access_benign(i) for i in range(30)] + [access_log4shell("203.0.113.150", T0)])
        wait_ingested(state, written, watcher)

        # 2. half a burst, then rename+create before the daemon may have read it; the rest of
        #    the burst lands in the new file
        write(auth, [auth_benign(i) for i in range(60, 70)] + burst("203.0.113.141", 0, 3, 80))
        os.rename(auth, logs / "auth.log.1")
        write(auth, burst("203.0.113.141", 3, 4, 85) + [auth_benign(i) for i in range(100, 120)])
        wait_ingested(state, written, watcher)

        # 3. copytruncate of the access log, with lines appended just before the copy
        write(access, [access_benign(i) for i in range(30, 50)] + [access_log4shell("203.0.113.151", T0 + timedelta(minutes=1))])
        shutil.copyfile(access, logs / "access.log.1")
        os.truncate(access, 0)
        write(access, [access_benign(i) for i in range(50, 60)] + [access_log4shell("203.0.113.152", T0 + timedelta(minutes=2))])
        # and one more rename+create of the auth log, the new file appearing empty first
        os.rename(logs / "auth.log.1", logs / "auth.log.2")
        os.rename(auth, logs / "auth.log.1")
        auth.touch()
        write(auth, burst("203.0.113.142", 0, 6, 300))
        wait_ingested(state, written, watcher)

        # 4. logrotate's compress (of a generation already read) and dateext names, with a
        #    brute force split across the live file and the next one
        with open(logs / "auth.log.2", "rb") as plain, gzip.open(logs / "auth.log.2.gz", "wb") as packed:
            shutil.copyfileobj(plain, packed)
        os.remove(logs / "auth.log.2")
        write(auth, burst("203.0.113.146", 0, 3, 400))
        os.rename(logs / "access.log.1", logs / "access.log-20261121")
        os.rename(auth, logs / "auth.log-20261121")
        write(auth, burst("203.0.113.146", 3, 4, 405))
        wait_ingested(state, written, watcher)
        assert watcher.stop(signal.SIGTERM) == 0

    assert_contiguous(state)
    watched = findings(state)
    scanned = scan_findings([logs], tmp_path / "scan" / "state.db", "--no-escalate")["findings"]
    assert sorted(map(comparable, watched)) == sorted(map(comparable, scanned))
    ids = [f["id"] for f in watched]
    assert len(ids) == len(set(ids)), "a finding was raised twice"
    by_scenario = {(f["scenario_id"], f["entity"].get("source.ip")) for f in watched}
    for ip in ("203.0.113.140", "203.0.113.141", "203.0.113.142", "203.0.113.146"):
        assert ("ssh-bruteforce", ip) in by_scenario
    for ip in ("203.0.113.150", "203.0.113.151", "203.0.113.152"):
        assert ("web-log4shell-jndi", ip) in by_scenario
    assert "event=finding" in watcher.log()
    gaps = [line for line in watcher.log().splitlines() if "kind=gap" in line]
    assert gaps == [], "a rotation was reported as lost data"


def test_without_any_notification_the_periodic_recheck_reads_everything(tmp_path: Path) -> None:
    """A file system that notifies nothing (NFS written by another host, a lost inotify queue):
    polling so slow that it never fires, and only the re-check can find the lines."""
    logs = tmp_path / "logs"
    logs.mkdir()
    args = [str(logs), "--no-escalate", "--polling", "--poll-interval", "3600", "--recheck", "0.3"]
    with Watcher(tmp_path, args) as watcher:
        # The start pass must be over before the lines arrive, or on a loaded machine it is the
        # start pass, not the re-check, that reads them.
        watcher.wait_log("trigger=start")
        append(logs / "auth.log", burst("203.0.113.147", 0, 6, 0))
        (logs / "later").mkdir()  # a directory created after the start, with a log inside
        append(logs / "later" / "app.log", [auth_benign(i) for i in range(4)])
        wait_ingested(watcher.state, 10, watcher)
        # the pass logs its line once its last batch is committed: wait for it, not only the commit
        reading = wait_for(lambda: [line for line in watcher.log_lines("pass") if "lines=0" not in line.split()],
                           "the reading pass's log line")
        assert all("trigger=recheck" in line.split() for line in reading), reading
        assert watcher.stop() == 0
    assert [f["entity"] for f in findings(watcher.state) if f["scenario_id"] == "ssh-bruteforce"] == [
        {"source.ip": "203.0.113.147"}
    ]


def test_a_log_created_empty_then_written_is_not_a_gap(tmp_path: Path) -> None:
    """logrotate's `create` makes an empty file that the daemon sees before the first write."""
    logs = tmp_path / "logs"
    logs.mkdir()
    auth = logs / "auth.log"
    with Watcher(tmp_path, [str(logs), "--no-escalate", "--recheck", "0.2"]) as watcher:
        auth.touch()
        wait_for(lambda: query(watcher.state, "SELECT uid FROM files WHERE path = ?", (str(auth),)),
                 "the daemon to record the empty file")
        append(auth, burst("203.0.113.143", 0, 6, 0))
        wait_ingested(watcher.state, 6, watcher)
        assert watcher.stop() == 0
    assert query(watcher.state, "SELECT reason, detail FROM gaps") == []
    assert query(watcher.state, "SELECT id FROM defects") == []
    assert [f["entity"] for f in findings(watcher.state) if f["scenario_id"] == "ssh-bruteforce"] == [
        {"source.ip": "203.0.113.143"}
    ]


def test_a_configured_path_renamed_before_its_successor_exists_is_not_a_gap(tmp_path: Path) -> None:
    """Between logrotate's rename and the new file, the daemon may look: the renamed
    generation is still found and finished, nothing is reported lost."""
    logs = tmp_path / "logs"
    logs.mkdir()
    auth = logs / "auth.log"
    append(auth, [auth_benign(1)])
    config = bastion_config(tmp_path, auth)
    args = ["-c", str(config), "--no-escalate", "--missing-grace", "60"]
    with Watcher(tmp_path, args, state=tmp_path / "state.db") as watcher:
        wait_ingested(watcher.state, 1, watcher)
        append(auth, burst("203.0.113.144", 0, 3, 10))
        os.rename(auth, logs / "auth.log.1")
        wait_ingested(watcher.state, 4, watcher)  # read from the renamed file while none is live
        append(auth, burst("203.0.113.144", 3, 3, 20))
        wait_ingested(watcher.state, 7, watcher)
        assert watcher.stop() == 0
    assert query(watcher.state, "SELECT reason, detail FROM gaps") == []
    assert query(watcher.state, "SELECT kind FROM defects WHERE status = 'open'") == []
    assert [(f["entity"], f["count"]) for f in findings(watcher.state) if f["scenario_id"] == "ssh-bruteforce"] == [
        ({"source.ip": "203.0.113.144"}, 6)
    ]


def test_a_hostile_file_name_is_read_and_logged_escaped(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with Watcher(tmp_path, [str(logs), "--no-escalate"]) as watcher:
        evil = logs / "evil\n\x1b[2J\u202e.log"
        append(evil, burst("203.0.113.145", 0, 6, 0))
        wait_ingested(watcher.state, 6, watcher)
        wait_for(lambda: watcher.log_lines("finding"), "the finding's log line")
        assert watcher.stop() == 0
    raw = watcher.log_path.read_bytes()
    assert b"\x1b" not in raw and "\u202e".encode() not in raw
    assert "pass-failed" not in watcher.log()
    assert [f["entity"] for f in findings(watcher.state) if f["scenario_id"] == "ssh-bruteforce"] == [
        {"source.ip": "203.0.113.145"}
    ]


def test_the_daemon_holds_the_state_lock_and_refuses_bad_start_up_input(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with Watcher(tmp_path, [str(logs), "--no-escalate"]) as watcher:
        scan = subprocess.run([LOGWARDEN, "scan", str(logs), "--state", str(watcher.state)],
                              capture_output=True, text=True, timeout=60)
        assert scan.returncode == 75  # EX_TEMPFAIL: cron tells an overlap from a failure
        assert "state is in use by logwarden watch pid" in scan.stderr
        assert watcher.stop() == 0
    rules = tmp_path / "rules"
    (rules / "scenarios").mkdir(parents=True)
    (rules / "checklist.yaml").write_text("schema: 1\nversion: x\n")
    bad = subprocess.run([LOGWARDEN, "watch", str(logs), "--checklist", str(rules), "--state", str(tmp_path / "s.db")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert f"{rules / 'checklist.yaml'}:" in bad.stderr
    nothing = subprocess.run([LOGWARDEN, "watch", "--state", str(tmp_path / "s.db"), "--no-escalate"],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path,
                             env={k: v for k, v in os.environ.items() if k != "LOGWARDEN_CONFIG"})
    assert nothing.returncode == 2 and "nothing to scan" in nothing.stderr
    bad_address = subprocess.run(
        [LOGWARDEN, "watch", str(logs), "--state", str(tmp_path / "s.db"), "--no-escalate", "--metrics-addr", "nonsense"],
        capture_output=True, text=True, timeout=60,
    )
    assert bad_address.returncode == 2 and "expected HOST:PORT" in bad_address.stderr
