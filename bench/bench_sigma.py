"""SigmaHQ rules in logwarden: the load table, and the scan cost of running all of them.

    .venv/bin/python bench/bench_sigma.py [--sigma ../shared/sigma] [--lines 1000000] [--repeat 1]
    .venv/bin/python bench/bench_sigma.py --stages [--stage-lines 200000]

1. Loads every rule under --sigma (default: the SigmaHQ subset beside the repository,
   `../shared/sigma`) and prints the load table: per log source, rules read, loaded,
   skipped, out of scope; the totals per reason; the share of in-scope rules that load
   (target >= 95 %); and what the loaded rules compile to (rules, fields with a combined
   prefilter).
2. Scans bench_scan.py's generated access log (1M lines, 0.2 % attack traffic) twice, as a
   child process each: with the bundled checklist alone, then with `--sigma` (every loaded
   Sigma rule enabled). Printed per scan: seconds (whole process), lines/s, peak RSS
   (os.wait4 on the child), findings. Targets with Sigma: >= 150,000 lines/s, <= 400 MB.

With --stages, the scan is taken apart instead, in this process: the first --stage-lines lines
are read and parsed into the batches the scan makes, then the matcher runs over them with the
bundled checklist and with the Sigma rules too; printed per stage, CPU seconds per million
lines: parsing, then per rule set the prefilter (alternations over the columns) and the rules
on their candidate rows.

Exit status: 0, 1 on a failed scan or an unreadable rule set, 3 with --strict when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_scan  # noqa: E402

from detector.checklist import load_checklist  # noqa: E402
from detector.detection.compiler import FrameView  # noqa: E402
from detector.parsing.base import ParseContext  # noqa: E402
from detector.pipeline import parse_batch  # noqa: E402
from detector.sources.reader import LineReader  # noqa: E402
from detector.checklist.sigma import LOADED, Defaults, load_sigma  # noqa: E402
from detector.checklist.sigma.report import logsource_table, totals_lines  # noqa: E402
from detector.detection.matcher import Matcher  # noqa: E402

TARGET_LINES_PER_SECOND = 150_000
TARGET_RSS_MB = 400.0
TARGET_LOADED_SHARE = 0.95


def load_table(sigma: Path) -> bool:
    """Print the load table; True when the in-scope share meets the target."""
    began = time.perf_counter()
    load = load_sigma([sigma], Defaults(owner="bench", reopen_after=timedelta(hours=1)))
    took = time.perf_counter() - began
    if load.problems:
        raise bench_scan.BenchError("rule files that are not valid Sigma:\n" + "\n".join(load.problems))
    print(f"Sigma rules under {sigma} (loaded in {took:.2f} s)\n")
    for line in logsource_table(load):
        print(line)
    print()
    for line in totals_lines(load):
        print(line)
    share = load.count(LOADED) / load.in_scope if load.in_scope else 1.0
    print(f"  in-scope share loaded: {share:.1%} (target >= {TARGET_LOADED_SHARE:.0%}: "
          f"{bench_scan.verdict(share >= TARGET_LOADED_SHARE)})")
    matcher = Matcher(load_checklist(None, [sigma]))
    prefilter = matcher.prefilter
    print(f"  compiled: {len(matcher.rules)} rules (bundled + Sigma); {len(prefilter.probes)} needed patterns in "
          f"{len(prefilter.groups)} alternations on {len(prefilter.fields)} fields: {', '.join(prefilter.fields)}\n")
    return share >= TARGET_LOADED_SHARE


def parsed_batches(path: Path, lines: int) -> tuple[list, float]:
    """The first `lines` lines of `path` as the scan's event frames, and the CPU seconds taken."""
    ctx = ParseContext(path=str(path), timezone="UTC", file_mtime=datetime.now(timezone.utc))
    frames, read, fmt = [], 0, None
    began = time.process_time()
    with open(path, "rb") as handle:
        for batch in LineReader(handle, 0, final=True):
            parsed = parse_batch(batch, ctx, fmt, "")
            fmt = parsed.fmt
            if parsed.frame is not None:
                frames.append(parsed.frame)
            read += batch.lines_total
            if read >= lines:
                break
    return frames, time.process_time() - began


def match_stages(matcher: Matcher, frames: list) -> tuple[float, float]:
    """CPU seconds of (the prefilter, the rules on their candidate rows) over `frames`: the
    whole match, and the prefilter alone again on the same batches."""
    matcher.match(frames[0])  # broad patterns are isolated on the first batch, as in a scan
    began = time.process_time()
    for frame in frames:
        matcher.match(frame)
    whole = time.process_time() - began
    began = time.process_time()
    for frame in frames:
        matcher.prefilter.candidates(FrameView(frame))
    prefilter = time.process_time() - began
    return prefilter, max(whole - prefilter, 0.0)


def stages(sigma: Path, lines: int) -> None:
    """Print the per-stage CPU cost per million lines of the access log."""
    path = bench_scan.dataset("access", 1_000_000)[0]
    frames, parse = parsed_batches(path, lines)
    read = sum(len(frame) for frame in frames)
    per_million = 1_000_000 / read
    print(f"stages over the first {read:,} lines of {path.name} ({len(frames)} batches), "
          f"CPU seconds per million lines\n")
    print(f"  {'parse':40} {parse * per_million:6.2f}")
    for label, folders in (("bundled", []), ("bundled + Sigma", [sigma])):
        matcher = Matcher(load_checklist(None, folders))
        prefilter, rules = match_stages(matcher, frames)
        print(f"  {label + ': prefilter':40} {prefilter * per_million:6.2f}")
        print(f"  {label + ': rules on candidate rows':40} {rules * per_million:6.2f}")
        print(f"  {label + ': matcher':40} {(prefilter + rules) * per_million:6.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sigma", type=Path, default=HERE.parent.parent / "shared" / "sigma",
                        help="Sigma rule folder (default: ../shared/sigma beside the repository)")
    parser.add_argument("--lines", type=int, default=1_000_000, help="access log size in lines")
    parser.add_argument("--repeat", type=int, default=1, help="scans per configuration; the median time is shown")
    parser.add_argument("--logwarden", help="logwarden executable (default: the one next to this Python)")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    parser.add_argument("--stages", action="store_true", help="take the scan apart: CPU per stage, in this process")
    parser.add_argument("--stage-lines", type=int, default=200_000, help="lines for --stages (default 200,000)")
    args = parser.parse_args(argv)
    sigma = args.sigma.resolve()
    if not sigma.is_dir() or args.lines <= 0 or args.repeat < 1 or args.stage_lines <= 0:
        parser.error(f"--sigma must be a folder ({sigma} is not); --lines, --repeat, --stage-lines must be positive")
    if args.stages:
        stages(sigma, args.stage_lines)
        return 0
    try:
        ok = load_table(sigma)
        command = bench_scan.logwarden_command(args.logwarden)
        paths = bench_scan.dataset("access", args.lines)
        header = f"{'rules':18} {'lines':>11} {'seconds':>8} {'lines/s':>10}   {'peak RSS MB':>11}   findings"
        print(header)
        print("-" * len(header))
        for label, extra in (("bundled", ()), ("bundled + Sigma", ("--sigma", str(sigma)))):
            runs = [bench_scan.scan_once(command, "access", paths, args.lines, extra) for _ in range(args.repeat)]
            seconds = sorted(r.seconds for r in runs)[len(runs) // 2]
            rss = max(r.peak_rss_mb for r in runs)
            rate = args.lines / seconds
            verdicts = ""
            if extra:
                fast, small = rate >= TARGET_LINES_PER_SECOND, rss <= TARGET_RSS_MB
                ok &= fast and small
                verdicts = (f"   (targets >= {TARGET_LINES_PER_SECOND:,} lines/s {bench_scan.verdict(fast)}, "
                            f"<= {TARGET_RSS_MB:.0f} MB {bench_scan.verdict(small)})")
            print(f"{label:18} {args.lines:11,} {seconds:8.2f} {rate:10,.0f}   {rss:11.0f}   {runs[0].findings:>8}"
                  f"{verdicts}", flush=True)
    except bench_scan.BenchError as error:
        print(f"bench_sigma: {error}", file=sys.stderr)
        return 1
    return 3 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
