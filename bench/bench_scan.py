"""End-to-end scan throughput and memory: `logwarden scan` on generated 1M+ line logs.

    .venv/bin/python bench/bench_scan.py [--sizes 1000000,3000000] [--kinds access,auth] [--repeat 1]

For each run: a realistic log from bench/generate_logs.py (attack rate 0.002, kept in bench/data/
and reused while the parameters and the generator are unchanged), then

    logwarden scan FILE --state <fresh temporary state> --format json --no-escalate

as a child process (the `logwarden` next to this Python). Printed per run: lines, seconds (wall,
whole process: start-up, sniffing, parsing, rules, correlation, SQLite), lines/s, and the child's
peak RSS, taken from os.wait4() on that child alone (its own rusage, so per run, never the
maximum over earlier runs as RUSAGE_CHILDREN would be). Access logs are scanned at every size
given, auth logs at the smallest: peak RSS must not grow with the file.

Targets: >= 100,000 lines/s for access, >= 150,000 lines/s for auth, peak RSS < 400 MB.
The scan must read exactly the generated lines (`stats.lines_read`), or the script fails.
Exit status: 0, 1 on a failed or inconsistent scan, 3 with --strict when a target is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
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
ATTACK_RATE = 0.002
TARGET_LINES_PER_SECOND = {"access": 100_000, "auth": 150_000}
TARGET_RSS_MB = 400.0


class BenchError(Exception):
    """A scan that failed or did not read what was generated: the figures would be meaningless."""


@dataclass(frozen=True)
class Run:
    kind: str
    lines: int
    seconds: float
    peak_rss_mb: float
    lines_read: int
    findings: int

    @property
    def rate(self) -> float:
        return self.lines / self.seconds


def generator_fingerprint() -> str:
    """Hash of the generator's sources: data made by another generator version is not reused."""
    digest = hashlib.sha256()
    for path in sorted([HERE / "generate_logs.py", *(HERE / "loggen").glob("*.py")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def dataset(kind: str, lines: int) -> Path:
    """The generated log for (kind, lines), made once and reused while its parameters match."""
    path = DATA / f"{kind}-{lines}.log"
    meta = path.with_name(path.name + ".json")
    wanted = {
        "kind": kind,
        "lines": lines,
        "seed": SEED,
        "start": generate_logs.DEFAULT_START,
        "attack_rate": ATTACK_RATE,
        "generator": generator_fingerprint(),
    }
    if path.exists() and meta.exists() and json.loads(meta.read_text()) == {**wanted, "bytes": path.stat().st_size}:
        return path
    print(f"generating {path.relative_to(HERE.parent)} ({lines:,} {kind} lines)...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    meta.unlink(missing_ok=True)
    generate_logs.write(kind, lines, path, seed=SEED, attack_rate=ATTACK_RATE)
    meta.write_text(json.dumps({**wanted, "bytes": path.stat().st_size}, indent=2) + "\n")
    took = time.perf_counter() - began
    print(f"  done in {took:.1f} s ({lines / took:,.0f} lines/s)", file=sys.stderr, flush=True)
    return path


def logwarden_command(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    beside = Path(sys.executable).parent / "logwarden"
    if not beside.exists():
        raise BenchError(f"{beside} not found: install logwarden into this Python (pip install -e .)")
    return [str(beside)]


def scan_once(command: list[str], path: Path, expected_lines: int, kind: str, extra: tuple[str, ...] = ()) -> Run:
    """One `logwarden scan` child on `path` (plus `extra` options, e.g. `--sigma DIR`)."""
    with tempfile.TemporaryDirectory(prefix="lw-bench-") as scratch:
        state = Path(scratch) / "state.db"
        out_path, err_path = Path(scratch) / "stdout.json", Path(scratch) / "stderr.txt"
        argv = [*command, "scan", str(path), "--state", str(state), "--format", "json", "--no-escalate", *extra]
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            began = time.perf_counter()
            child = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
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
            raise BenchError(f"{path.name}: logwarden read {lines_read:,} lines, {expected_lines:,} were generated")
        return Run(kind, expected_lines, seconds, usage.ru_maxrss / 1024, lines_read, findings)


def measure(command: list[str], kind: str, lines: int, repeat: int) -> Run:
    path = dataset(kind, lines)
    runs = [scan_once(command, path, lines, kind) for _ in range(repeat)]
    seconds = statistics.median(run.seconds for run in runs)
    return Run(kind, lines, seconds, max(run.peak_rss_mb for run in runs), runs[0].lines_read, runs[0].findings)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,3000000", help="access log sizes in lines (auth: the smallest)")
    parser.add_argument("--kinds", default="access,auth", help="comma-separated: access, auth")
    parser.add_argument("--repeat", type=int, default=1, help="scans per file; the median time is shown")
    parser.add_argument("--logwarden", help="logwarden executable (default: the one next to this Python)")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    args = parser.parse_args(argv)
    sizes = sorted({int(size) for size in args.sizes.split(",") if size.strip()})
    kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in TARGET_LINES_PER_SECOND]
    if unknown or not sizes or min(sizes) <= 0 or args.repeat < 1:
        parser.error(f"--kinds takes {', '.join(TARGET_LINES_PER_SECOND)}; --sizes and --repeat must be positive")
    plan = [(kind, size) for kind in kinds for size in (sizes if kind == "access" else sizes[:1])]
    try:
        command = logwarden_command(args.logwarden)
        for kind, size in plan:  # generate everything first: scan timings stay apart from generation
            dataset(kind, size)
        header = f"{'log':8} {'lines':>11} {'seconds':>8} {'lines/s':>10} {'target':>9}   {'peak RSS MB':>11} {'target':>7}   findings"
        print(header)
        print("-" * len(header))
        runs: list[Run] = []
        missed = False
        for kind, size in plan:
            run = measure(command, kind, size, args.repeat)
            runs.append(run)
            fast, small = run.rate >= TARGET_LINES_PER_SECOND[kind], run.peak_rss_mb < TARGET_RSS_MB
            missed |= not (fast and small)
            print(
                f"{kind:8} {run.lines:11,} {run.seconds:8.2f} {run.rate:10,.0f} "
                f"{'>=' + format(TARGET_LINES_PER_SECOND[kind], ','):>9} {verdict(fast):6}"
                f"{run.peak_rss_mb:8.0f} {'<' + format(TARGET_RSS_MB, '.0f'):>7} {verdict(small):6} {run.findings:>5}",
                flush=True,
            )
        access = sorted((run for run in runs if run.kind == "access"), key=lambda run: run.lines)
        if len(access) > 1:
            growth = access[-1].peak_rss_mb / access[0].peak_rss_mb
            print(
                f"\npeak RSS {access[0].lines:,} -> {access[-1].lines:,} access lines: "
                f"{access[0].peak_rss_mb:.0f} -> {access[-1].peak_rss_mb:.0f} MB (x{growth:.2f}; bounded by the chunk size, "
                f"not the file: {verdict(growth < 1.5)})"
            )
            missed |= growth >= 1.5
    except BenchError as error:
        print(f"bench_scan: {error}", file=sys.stderr)
        return 1
    return 3 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
