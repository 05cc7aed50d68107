"""End-to-end scan throughput and memory: `logwarden scan` on generated 1M+ line logs, per profile.

    .venv/bin/python bench/bench_scan.py [--profiles auth-busy,auth-attack,access,mixed]
                                         [--sizes 1000000,5000000] [--repeat 1] [--strict]

Profiles (each a realistic log, or set of logs, from bench/generate_logs.py, kept in bench/data/
and reused while the parameters and the generator are unchanged):

- `auth-busy`: a CI fleet's jump host: 23 % accepted SSH logins, 35 % `session opened`, 10 %
  sudo, 15 % cron, 2 % failed passwords (success-heavy: every login meets the chain scenarios);
- `auth-attack`: an exposed host: 13-15 % failed passwords from 500+ sources, fast and slow
  brute force, enumeration, stolen passwords (attack rate 5 %);
- `access`: an nginx access log of a web shop (attack rate 0.2 %);
- `mixed`: access (50 %), auth-busy (35 %) and a JSON application log (15 %) of the same ten
  hours, scanned together; attackers come from one address pool, so web scans, brute force
  and logins of one source meet across files (attack rate 1 %);
- `auth`: the exposed host of earlier benchmarks (attack rate 0.2 %), on request.

For each profile and size: `logwarden scan FILES --state <fresh temporary state> --format json
--no-escalate` as a child process (the `logwarden` next to this Python). Printed: lines, seconds
(wall, whole process: start-up, sniffing, parsing, rules, correlation, SQLite), lines/s, the
child's peak RSS from os.wait4() on that child alone (its own rusage, so per run), findings,
and the correlation state at the end: state rows, the event references they hold and the open
groups (entity keys) they belong to. When `fail2ban-regex` is installed, it runs on the
auth-busy file with its `sshd` filter in the same run and the ratio is printed.

Targets (2 cores, whole process): >= 300,000 lines/s for every profile at 1M lines, peak RSS
<= 300 MB at every size, correlation state <= a few event references per open group, and
>= 15x fail2ban-regex's sshd filter on auth-busy. The scan must read exactly the generated
lines (`stats.lines_read`), or the script fails.
Exit status: 0, 1 on a failed or inconsistent scan, 3 with --strict when a target is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate_logs  # noqa: E402

DATA = HERE / "data"
SEED = 1
MIXED_HOURS = 10
TARGET_LINES_PER_SECOND = 300_000
TARGET_RSS_MB = 300.0
TARGET_REFS_PER_GROUP = 8.0
TARGET_FAIL2BAN_RATIO = 15.0


@dataclass(frozen=True)
class Part:
    kind: str  # generate_logs kind
    share: float  # of the profile's lines
    attack_rate: float
    seed: int
    hours: float | None = None  # spread over this much event time (None: the kind's own rate)


PROFILES: dict[str, tuple[Part, ...]] = {
    "auth-busy": (Part("auth-busy", 1.0, 0.002, SEED),),
    "auth-attack": (Part("auth-attack", 1.0, 0.05, SEED),),
    "access": (Part("access", 1.0, 0.002, SEED),),
    "mixed": (
        Part("access", 0.50, 0.01, 2, MIXED_HOURS),
        Part("auth-busy", 0.35, 0.01, 3, MIXED_HOURS),
        Part("app-json", 0.15, 0.01, 4, MIXED_HOURS),
    ),
    "auth": (Part("auth", 1.0, 0.002, SEED),),
}
DEFAULT_PROFILES = "auth-busy,auth-attack,access,mixed"


class BenchError(Exception):
    """A scan that failed or did not read what was generated: the figures would be meaningless."""


@dataclass(frozen=True)
class Run:
    profile: str
    lines: int
    seconds: float
    peak_rss_mb: float
    findings: int
    state_rows: int
    held_events: int
    open_groups: int

    @property
    def rate(self) -> float:
        return self.lines / self.seconds


def generator_fingerprint() -> str:
    """Hash of the generator's sources: data made by another generator version is not reused."""
    digest = hashlib.sha256()
    for path in sorted([HERE / "generate_logs.py", *(HERE / "loggen").glob("*.py")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _generate(part: Part, lines: int, path: Path) -> None:
    """One part's file, made once and reused while its parameters match."""
    meta = path.with_name(path.name + ".json")
    rate = lines / (part.hours * 3600) if part.hours else None
    wanted = {
        "kind": part.kind,
        "lines": lines,
        "seed": part.seed,
        "start": generate_logs.DEFAULT_START,
        "rate": rate,
        "attack_rate": part.attack_rate,
        "generator": generator_fingerprint(),
    }
    if path.exists() and meta.exists() and json.loads(meta.read_text()) == {**wanted, "bytes": path.stat().st_size}:
        return
    print(f"generating {path.relative_to(HERE.parent)} ({lines:,} {part.kind} lines)...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    meta.unlink(missing_ok=True)
    generate_logs.write(part.kind, lines, path, seed=part.seed, rate=rate, attack_rate=part.attack_rate)
    meta.write_text(json.dumps({**wanted, "bytes": path.stat().st_size}, indent=2) + "\n")
    took = time.perf_counter() - began
    print(f"  done in {took:.1f} s ({lines / took:,.0f} lines/s)", file=sys.stderr, flush=True)


def dataset(profile: str, lines: int) -> list[Path]:
    """The files of a profile at `lines` lines in all (parts share them out)."""
    parts = PROFILES[profile]
    folder = DATA / f"{profile}-{lines}"
    folder.mkdir(parents=True, exist_ok=True)
    counts = [int(lines * part.share) for part in parts]
    counts[0] += lines - sum(counts)
    paths = []
    for part, count in zip(parts, counts):
        path = folder / f"{part.kind}.log"
        _generate(part, count, path)
        paths.append(path)
    return paths


def logwarden_command(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    beside = Path(sys.executable).parent / "logwarden"
    if not beside.exists():
        raise BenchError(f"{beside} not found: install logwarden into this Python (pip install -e .)")
    return [str(beside)]


def state_size(state: Path) -> tuple[int, int, int]:
    """(state rows, event references held, open groups) of correlation at the end of a scan."""
    with sqlite3.connect(state) as db:
        rows, held, groups = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(rows), 0), COALESCE(SUM(groups), 0) FROM corr_state"
        ).fetchone()
    return int(rows), int(held), int(groups)


def child_env() -> dict[str, str]:
    """The scan's environment: as installed software runs, with compiled bytecode (pip writes
    it at install; a PYTHONDONTWRITEBYTECODE inherited from a developer shell would add the
    compilation of every module to each run's start-up)."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def warm_up(command: list[str]) -> None:
    """One run before the timed ones, so that the bytecode caches exist."""
    subprocess.run([*command, "rules", "list"], env=child_env(), capture_output=True, check=False)


def scan_once(
    command: list[str], profile: str, paths: list[Path], expected_lines: int, extra: tuple[str, ...] = ()
) -> Run:
    """One `logwarden scan` child on `paths` (plus `extra` options, e.g. `--sigma DIR`)."""
    with tempfile.TemporaryDirectory(prefix="lw-bench-") as scratch:
        state = Path(scratch) / "state.db"
        out_path, err_path = Path(scratch) / "stdout.json", Path(scratch) / "stderr.txt"
        argv = [*command, "scan", *map(str, paths), "--state", str(state), "--format", "json", "--no-escalate", *extra]
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            began = time.perf_counter()
            child = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=child_env())
            _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage: per run
            seconds = time.perf_counter() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr = err_path.read_text(errors="replace").strip()
        if child.returncode != 0:
            raise BenchError(f"{' '.join(argv)} exited with {child.returncode}:\n{stderr[-3000:]}")
        try:
            report = json.loads(out_path.read_text())
            lines_read = int(report["stats"]["lines_read"])
            findings = len(report["findings"])
        except (ValueError, KeyError, TypeError) as error:
            raise BenchError(f"scan output is not the documented JSON document ({error}):\n{stderr[-2000:]}") from error
        if lines_read != expected_lines:
            raise BenchError(f"{profile}: logwarden read {lines_read:,} lines, {expected_lines:,} were generated")
        rows, held, groups = state_size(state)
        return Run(profile, expected_lines, seconds, usage.ru_maxrss / 1024, findings, rows, held, groups)


def measure(command: list[str], profile: str, lines: int, repeat: int) -> Run:
    paths = dataset(profile, lines)
    runs = [scan_once(command, profile, paths, lines) for _ in range(repeat)]
    first = runs[0]
    return Run(
        profile, lines, statistics.median(run.seconds for run in runs), max(run.peak_rss_mb for run in runs),
        first.findings, first.state_rows, first.held_events, first.open_groups,
    )


def fail2ban_rate(path: Path, lines: int) -> float | None:
    """Lines/s of `fail2ban-regex FILE sshd` (its stock sshd filter), None when not installed."""
    tool = shutil.which("fail2ban-regex")
    if tool is None:
        return None
    began = time.perf_counter()
    done = subprocess.run([tool, str(path), "sshd"], capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise BenchError(f"fail2ban-regex exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return lines / seconds


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_run(run: Run) -> bool:
    fast = run.rate >= TARGET_LINES_PER_SECOND or run.lines > 1_000_000  # the speed target is set at 1M lines
    small = run.peak_rss_mb <= TARGET_RSS_MB
    per_group = run.held_events / run.open_groups if run.open_groups else 0.0
    bounded = per_group <= TARGET_REFS_PER_GROUP
    print(
        f"{run.profile:11} {run.lines:11,} {run.seconds:8.2f} {run.rate:10,.0f} {verdict(fast):6}"
        f"{run.peak_rss_mb:8.0f} {verdict(small):6} {run.findings:8} {run.state_rows:6} {run.held_events:8,}"
        f" {run.open_groups:7,} {per_group:6.1f} {verdict(bounded)}",
        flush=True,
    )
    return fast and small and bounded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", default=DEFAULT_PROFILES, help=f"comma-separated: {', '.join(PROFILES)}")
    parser.add_argument("--sizes", default="1000000,5000000", help="lines per profile (every profile at every size)")
    parser.add_argument("--repeat", type=int, default=1, help="scans per file; the median time is shown")
    parser.add_argument("--logwarden", help="logwarden executable (default: the one next to this Python)")
    parser.add_argument("--no-fail2ban", action="store_true", help="skip the fail2ban-regex comparison")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args(argv)
    sizes = sorted({int(size) for size in args.sizes.split(",") if size.strip()})
    profiles = [name.strip() for name in args.profiles.split(",") if name.strip()]
    unknown = [name for name in profiles if name not in PROFILES]
    if unknown or not sizes or min(sizes) <= 0 or args.repeat < 1:
        parser.error(f"--profiles takes {', '.join(PROFILES)}; --sizes and --repeat must be positive")
    plan = [(profile, size) for profile in profiles for size in sizes]
    try:
        command = logwarden_command(args.logwarden)
        for profile, size in plan:  # generate everything first: scan timings stay apart from generation
            dataset(profile, size)
        warm_up(command)
        print(
            f"targets: >= {TARGET_LINES_PER_SECOND:,} lines/s at 1M lines, peak RSS <= {TARGET_RSS_MB:.0f} MB, "
            f"<= {TARGET_REFS_PER_GROUP:.0f} held event references per open group"
        )
        header = (
            f"{'profile':11} {'lines':>11} {'seconds':>8} {'lines/s':>10} {'':6}{'RSS MB':>8} {'':6} {'findings':>8}"
            f" {'state':>6} {'held':>8} {'groups':>7} {'/group':>6}"
        )
        print(header)
        print("-" * (len(header) + 4))
        missed = False
        busy: Run | None = None
        for profile, size in plan:
            run = measure(command, profile, size, args.repeat)
            missed |= not print_run(run)
            if profile == "auth-busy" and busy is None:
                busy = run
        if busy is not None and not args.no_fail2ban:
            rate = fail2ban_rate(dataset("auth-busy", busy.lines)[0], busy.lines)
            if rate is None:
                print("\nfail2ban-regex not installed: no ratio (apt-get install fail2ban)")
            else:
                ratio = busy.rate / rate
                print(
                    f"\nfail2ban-regex sshd on auth-busy {busy.lines:,} lines: {rate:,.0f} lines/s; "
                    f"logwarden {busy.rate:,.0f} lines/s = {ratio:.1f}x (target >= {TARGET_FAIL2BAN_RATIO:.0f}x: "
                    f"{verdict(ratio >= TARGET_FAIL2BAN_RATIO)})"
                )
                missed |= ratio < TARGET_FAIL2BAN_RATIO
    except BenchError as error:
        print(f"bench_scan: {error}", file=sys.stderr)
        return 1
    return 3 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
