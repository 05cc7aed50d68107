"""SIGKILL a real `logwarden scan` at random moments, many times, then let it finish:
every byte of the file was committed exactly once and no finding was duplicated."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from detector.state.store import Store

LOGWARDEN = str(Path(sys.executable).with_name("logwarden"))
BURSTS = 12


def _auth_log(path: Path, lines: int) -> int:
    """Benign sshd traffic with BURSTS brute-force bursts from distinct documentation IPs."""
    rng = random.Random(42)
    start = datetime(2026, 11, 21, 0, 0, tzinfo=timezone.utc)
    burst_at = {int(lines * (k + 0.5) / BURSTS): k for k in range(BURSTS)}
    with open(path, "w") as handle:
        i = 0
        n = 0
        while n < lines:
            ts = start + timedelta(seconds=i * 2)
            i += 1
            stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
            if n in burst_at:
                k = burst_at[n]
                for j in range(8):
                    t = (ts + timedelta(seconds=j)).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
                    handle.write(f"{t} bastion sshd[{9000 + j}]: Failed password for root from 203.0.113.{k + 1} port {40000 + j} ssh2\n")
                n += 8
                continue
            user = rng.choice(["deploy", "alice", "backup"])
            handle.write(
                f"{stamp} bastion sshd[{1000 + n % 5000}]: Accepted publickey for {user} from 10.0.{n % 200}.{n % 250 + 1} "
                f"port {30000 + n % 20000} ssh2: ED25519 SHA256:AbCdEf{n}\n"
            )
            n += 1
    return n


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "auth.log"
    log.parent.mkdir()
    total = _auth_log(log, 240_000)  # enough work that most of the ten runs are killed mid-way
    state = tmp_path / "state.db"
    cmd = [LOGWARDEN, "scan", str(log.parent), "--state", str(state), "--no-escalate", "--format", "json",
           "--chunk-size", str(48 << 10)]
    rng = random.Random(1)
    kills = 0
    for _ in range(10):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.8, 3.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    final = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert kills >= 5, "the scan finished before it could be killed; make the file larger"
    json.loads(final.stdout)
    size = os.path.getsize(log)
    with Store(state) as store:
        ranges = [tuple(r) for r in store.execute(
            "SELECT start_offset, end_offset, lines FROM ingest_log ORDER BY start_offset")]
        findings = [f for f in store.findings() if f.scenario_id == "ssh-bruteforce"]
    position = 0
    for start, end, _ in ranges:
        assert start == position, f"hole or overlap at byte {position}: next batch starts at {start}"
        position = end
    assert position == size
    assert sum(r[2] for r in ranges) == total
    assert sorted(f.entity["source.ip"] for f in findings) == sorted(f"203.0.113.{k + 1}" for k in range(BURSTS))
    assert all(f.count == 8 for f in findings)
