"""The OWASP CRS over access logs: scan throughput and memory per paranoia level, false
positives on benign traffic, and how much of the CRS loads.

    flock /work/locks/cpu.lock .venv/bin/python bench/bench_crs.py [--crs ../shared/crs] [--lines 1000000]
                                                                    [--levels 1,2] [--strict]

Data: a realistic nginx combined log from bench/generate_logs.py with 0.5 % attack traffic
(attackers only ever use ATTACK_NETWORKS, so every other request is benign), kept in
bench/data/ and reused while the generator is unchanged.

Per paranoia level:
- `logwarden scan FILE -c <config with crs: {path, paranoia}> --state <fresh> --format json
  --no-escalate` as a child process: wall time, lines/s, peak RSS of that child and any
  process it starts (their VmRSS summed, sampled every 20 ms; at least os.wait4's peak) and
  their peak PSS;
- in this process, the same file parsed and scored batch by batch (16,384 lines): the CRS stage
  alone (lines/s), benign requests at or over the threshold (false positives: target <= 0.1 %),
  and attack requests over it.
With --site-exclusions, the false positives again with bench/crs-site-exclusions.conf added to
the CRS install (the exclusions a site with this traffic would write; the target stays the
untuned figure). Then the load table: request rules that add an anomaly score, loaded, and
skipped per reason.
Targets: >= 150,000 lines/s at PL1, >= 100,000 at PL2 (2 cores), peak RSS <= 400 MB.
Exit status: 0; 1 on a failed scan; 3 with --strict when a target is missed.
"""

from __future__ import annotations

import argparse
from collections import Counter
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate_logs  # noqa: E402
from bench_scan import BenchError, generator_fingerprint, logwarden_command  # noqa: E402
from loggen.addresses import ATTACK_NETWORKS  # noqa: E402

DATA = HERE / "data"
SEED = 1
ATTACK_RATE = 0.005
TARGETS = {1: 150_000, 2: 100_000}
TARGET_RSS_MB = 400.0
TARGET_FP = 0.001
BATCH = 16_384
VARIABLE = re.compile(r"\[([A-Z_]+(?::[^\s:]+)?): ")  # in a `crs.matched` detail
SITE_EXCLUSIONS = HERE / "crs-site-exclusions.conf"  # the bench shop's CRS tuning (reported, never timed)
KIND = "access-longtail"  # the shop with a real site's long tail of one-off values (loggen/longtail.py)


def dataset(lines: int) -> Path:
    path = DATA / f"access-crs-{lines}.log"
    meta = path.with_name(path.name + ".json")
    wanted = {"kind": KIND, "lines": lines, "seed": SEED, "attack_rate": ATTACK_RATE, "generator": generator_fingerprint()}
    if path.exists() and meta.exists() and json.loads(meta.read_text()) == {**wanted, "bytes": path.stat().st_size}:
        return path
    print(f"generating {path.name} ({lines:,} lines)...", file=sys.stderr, flush=True)
    DATA.mkdir(exist_ok=True)
    meta.unlink(missing_ok=True)
    generate_logs.write(KIND, lines, path, seed=SEED, attack_rate=ATTACK_RATE)
    meta.write_text(json.dumps({**wanted, "bytes": path.stat().st_size}, indent=2) + "\n")
    return path


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (the scan and any helper process it starts)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo.extend(int(c) for c in handle.read().split())
        except OSError:
            continue
    return found


def _memory_kb(pid: int, field: str = "VmRSS:", where: str = "status") -> int:
    try:
        with open(f"/proc/{pid}/{where}") as handle:
            return next((int(line.split()[1]) for line in handle if line.startswith(field)), 0)
    except OSError:
        return 0


class TreeRss:
    """Peak of the summed RSS of a process and its children, sampled every 20 ms (a helper
    process, e.g. a Python of its own scoring the CRS, counts too). Summing RSS counts the pages
    processes share (libraries) twice: an upper bound, the figure held against the target; the
    summed PSS (shared pages split between them, sampled every 100 ms) is what the machine gives
    the scan. With one process the RSS equals os.wait4's peak (taken when it is higher)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kb, self.peak_pss_kb, self.processes = pid, 0, 0, 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        tick = 0
        while not self._stop.wait(0.02):
            pids = _tree(self.pid)
            self.processes = max(self.processes, len(pids))
            self.peak_kb = max(self.peak_kb, sum(_memory_kb(p) for p in pids))
            if tick % 5 == 0:
                pss = sum(_memory_kb(p, "Pss:", "smaps_rollup") for p in pids)
                self.peak_pss_kb = max(self.peak_pss_kb, pss)
            tick += 1

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024, self.peak_pss_kb / 1024


def scan(command: list[str], path: Path, crs: Path, level: int, lines: int) -> tuple[float, float, float, int, int]:
    """(seconds, peak RSS MB of the scan and its children together, their peak PSS MB, how
    many processes, findings) of one scan with the CRS at `level`."""
    with tempfile.TemporaryDirectory(prefix="lw-crs-bench-") as scratch:
        config = Path(scratch) / "logwarden.yaml"
        config.write_text(json.dumps({"crs": {"path": str(crs.resolve()), "paranoia": level}}))
        argv = [*command, "scan", str(path), "-c", str(config), "--state", str(Path(scratch) / "s.db"),
                "--format", "json", "--no-escalate"]
        out_path = Path(scratch) / "out.json"
        with open(out_path, "wb") as out, open(Path(scratch) / "err.txt", "wb") as err:
            began = time.perf_counter()
            child = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
            sampler = TreeRss(child.pid)
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - began
            tree_mb, pss_mb = sampler.stop()
        if os.waitstatus_to_exitcode(status) != 0:
            raise BenchError((Path(scratch) / "err.txt").read_text()[-3000:])
        report = json.loads(out_path.read_text())
        if report["stats"]["lines_read"] != lines:
            raise BenchError(f"read {report['stats']['lines_read']:,} lines of {lines:,}")
        crs_findings = sum(1 for f in report["findings"] if f["scenario_id"] == "web-crs-inbound")
        return seconds, max(tree_mb, usage.ru_maxrss / 1024), pss_mb, sampler.processes, crs_findings


def _attackers(ips: list[str | None]) -> np.ndarray:
    networks = [ipaddress.ip_network(n) for n in ATTACK_NETWORKS]
    out = np.zeros(len(ips), dtype=bool)
    for i, ip in enumerate(ips):
        try:
            address = ipaddress.ip_address(ip or "")
        except ValueError:
            continue
        out[i] = any(address in n for n in networks if n.version == address.version)
    return out


def score_file(path: Path, crs: Path, level: int) -> dict[str, float]:
    """The CRS stage alone over the file, batch by batch, with benign/attack verdicts."""
    from detector.config import CrsSettings
    from detector.detection.crs.stage import load_crs_stage
    from detector.parsing import parse_lines
    from detector.parsing.base import ParseContext
    from detector.pipeline import frame_from

    stage = load_crs_stage(CrsSettings(crs, paranoia=level))
    ctx = ParseContext(path=str(path), timezone="UTC", file_mtime=datetime.now(timezone.utc))
    counts: dict = {"requests": 0, "benign": 0, "benign_over": 0, "attacks": 0, "attacks_over": 0, "seconds": 0.0,
                    "causes": Counter()}  # fmt: skip
    with open(path, encoding="utf-8", errors="replace") as handle:
        while True:
            chunk = [line.rstrip("\n") for _, line in zip(range(BATCH), handle)]
            if not chunk:
                break
            lines = pa.array(chunk, pa.string())
            result = parse_lines(lines, "combined", ctx)
            frame = frame_from(result.table, lines, np.arange(len(chunk), dtype=np.int64), result.parsed_index, str(path))
            began = time.perf_counter()
            enriched = stage.enrich(frame)
            counts["seconds"] += time.perf_counter() - began
            over = enriched["crs.anomaly_score"].fillna(0).to_numpy() >= stage.settings.threshold
            attack = _attackers(enriched["source.ip"].tolist())
            counts["requests"] += len(frame)
            counts["benign"] += int((~attack).sum())
            counts["benign_over"] += int((over & ~attack).sum())
            for detail in enriched["crs.matched"].to_numpy(dtype=object)[over & ~attack]:
                for part in (detail or "").split(" | "):  # "932235 message [ARGS:dl: value]"
                    variable = VARIABLE.search(part)
                    counts["causes"][(part.split(" ", 1)[0], variable.group(1) if variable else "?")] += 1
            counts["attacks"] += int(attack.sum())
            counts["attacks_over"] += int((over & attack).sum())
    return counts


def with_site_exclusions(crs: Path, scratch: Path) -> Path:
    """A CRS install in `scratch` that is `crs` plus the bench shop's exclusion file (links, no
    copies): what the site would run after tuning the CRS for its own traffic."""
    rules = scratch / "rules"
    rules.mkdir()
    for item in (crs / "rules").iterdir():
        (rules / item.name).symlink_to(item.resolve())
    (rules / "REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf").symlink_to(SITE_EXCLUSIONS)
    return scratch


def load_table(crs: Path) -> list[str]:
    from detector.checklist.crs import load_crs
    from detector.checklist.crs.report import check_report
    from detector.config import CrsSettings

    report = check_report(load_crs(crs), CrsSettings(crs))
    total = report["scored_request_rules"]
    rows = [
        f"OWASP CRS {report['version']}: {total} request rules add an anomaly score; loaded "
        f"{report['loaded']} ({report['loaded_share']:.1%}): "
        + ", ".join(f"PL{k} {v}" for k, v in report["loaded_per_paranoia"].items()),
        f"{'reason':<15}{'rules':>6}{'share of scored':>17}",
    ]
    for reason, entry in report["reasons"].items():
        share = f"{entry['rules'] / total:.1%}" if reason not in ("control", "response") else "-"
        rows.append(f"{reason:<15}{entry['rules']:>6}{share:>17}  {entry['meaning']}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crs", type=Path, default=HERE.parent.parent / "shared" / "crs")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--levels", default="1,2")
    parser.add_argument("--logwarden", help="logwarden executable (default: the one next to this Python)")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--site-exclusions", action="store_true",
                        help=f"also score with {SITE_EXCLUSIONS.name} (false positives after the site's tuning)")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    missed = False
    try:
        command = logwarden_command(args.logwarden)
        path = dataset(args.lines)
        header = (f"{'PL':>2} {'lines':>10} {'seconds':>8} {'lines/s':>9} {'target':>9}    {'RSS MB':>6}      "
                  f"{'CRS-only/s':>10} {'benign over':>14} {'FP':>8}      {'attacks over':>14} {'findings':>8}")
        print(header)
        print("-" * len(header))
        for level in levels:
            seconds, rss, pss, processes, findings = scan(command, path, args.crs, level, args.lines)
            counts = score_file(path, args.crs, level)
            rate = args.lines / seconds
            fp = counts["benign_over"] / max(counts["benign"], 1)
            ok_rate, ok_rss, ok_fp = rate >= TARGETS.get(level, 0), rss <= TARGET_RSS_MB, fp <= TARGET_FP
            missed |= not (ok_rate and ok_rss and ok_fp)
            print(
                f"{level:>2} {args.lines:>10,} {seconds:>8.2f} {rate:>9,.0f} {'>=' + format(TARGETS.get(level, 0), ','):>9} "
                f"{'ok' if ok_rate else 'MISSED':<6}{rss:>6.0f} {'ok' if ok_rss else 'MISSED':<6}"
                f"{counts['requests'] / counts['seconds']:>10,.0f} {counts['benign_over']:>6,}/{counts['benign']:<9,}"
                f"{fp:>7.3%} {'ok' if ok_fp else 'MISSED':<6}{counts['attacks_over']:>6,}/{counts['attacks']:<7,} {findings:>8}",
                flush=True,
            )
            print(f"   memory: {processes} process(es), peak summed RSS {rss:.0f} MB, peak summed PSS {pss:.0f} MB", flush=True)
            causes = ", ".join(f"{rule} on {variable} {n:,}" for (rule, variable), n in counts["causes"].most_common(5))
            print(f"   benign requests over the threshold, top rule hits: {causes or '-'}", flush=True)
            if args.site_exclusions:
                with tempfile.TemporaryDirectory(prefix="lw-crs-site-") as scratch:
                    tuned = score_file(path, with_site_exclusions(args.crs, Path(scratch)), level)
                tuned_fp = tuned["benign_over"] / max(tuned["benign"], 1)
                causes = ", ".join(f"{r} on {v} {n:,}" for (r, v), n in tuned["causes"].most_common(3))
                print(f"   with the site's exclusions ({SITE_EXCLUSIONS.name}): benign over {tuned['benign_over']:,} "
                      f"({tuned_fp:.3%}), attacks over {tuned['attacks_over']:,}/{tuned['attacks']:,}; "
                      f"top: {causes or '-'}", flush=True)
        print()
        for row in load_table(args.crs):
            print(row)
    except BenchError as error:
        print(f"bench_crs: {error}", file=sys.stderr)
        return 1
    return 3 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
