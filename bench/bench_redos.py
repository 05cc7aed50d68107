"""Hostile lines against rules with nested quantifiers: logwarden's matcher (RE2 through
pyarrow) stays linear in the line length, where a backtracking engine (Python's `re`) doubles
its time with every extra character.

    .venv/bin/python bench/bench_redos.py [--lengths 1000 10000 100000 1000000]

Prints, per line length, the matcher's seconds and nanoseconds per byte over a batch of such
lines, then Python `re` on the same pattern for short lines (stopped once one line takes over
a second).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.checklist import load_checklist  # noqa: E402
from detector.detection.matcher import Matcher  # noqa: E402
from detector.schema import arrow_dtype  # noqa: E402

PATTERNS = ["(a+)+$", "(a|aa)+b", "^(a|a?)+$", "(x+x+)+y"]
REVIEWED = date(2026, 11, 20)


def checklist(root: Path) -> Path:
    rules = root / "rules"
    (rules / "scenarios").mkdir(parents=True)
    (rules / "checklist.yaml").write_text(yaml.safe_dump({
        "schema": 1, "version": "2026.11.0", "owner": "bench", "review_interval": "90d",
        "reviews": [{"date": REVIEWED, "by": "bench", "note": "bench"}], "scenarios": "scenarios",
    }))
    for sample in ("positive.log", "negative.log"):
        (root / sample).touch()
    (rules / "scenarios" / "redos.yaml").write_text(yaml.safe_dump({
        "id": "redos", "version": "1.0.0", "title": "nested quantifiers", "status": "test", "owner": "bench",
        "severity": "low", "confidence": 0.5, "attack": ["T1190"], "requires": ["application"],
        "provenance": [{"kind": "threat-model", "ref": "bench"}], "last_reviewed": REVIEWED,
        "rules": {"redos-rule": {"detection": {"selection": {"message|re": PATTERNS}, "condition": "selection"}}},
        "samples": [{"log": "positive.log", "expect": [{"entity": {"source.ip": "203.0.113.7"}}]},
                    {"log": "negative.log", "expect": []}],
    }))
    return rules


def frame(lines: list[str]) -> pd.DataFrame:
    dtype = arrow_dtype("message")
    return pd.DataFrame({"message": pd.Series(pa.array(lines, type=dtype.pyarrow_dtype), dtype=dtype)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--lines", type=int, default=64, help="hostile lines per batch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        matcher = Matcher(load_checklist(checklist(Path(tmp))))
    matcher.match(frame(["warm-up"]))  # compile the patterns before timing
    print(f"patterns: {', '.join(PATTERNS)}")
    print(f"{'line bytes':>12} {'lines':>6} {'seconds':>9} {'ns/byte':>8} {'matches':>8}")
    for length in args.lengths:
        batch = frame(["a" * length + "!" for _ in range(args.lines)])
        started = time.perf_counter()
        hits = matcher.match(batch)
        seconds = time.perf_counter() - started
        per_byte = seconds / (length * args.lines) * 1e9
        print(f"{length:>12,} {args.lines:>6} {seconds:>9.4f} {per_byte:>8.2f} {sum(len(v) for v in hits.values()):>8}")
    print("\nPython re (backtracking), one line, pattern (a+)+$:")
    print(f"{'line bytes':>12} {'seconds':>9}")
    pattern = re.compile(PATTERNS[0])
    for length in range(16, 40):
        started = time.perf_counter()
        pattern.search("a" * length + "!")
        seconds = time.perf_counter() - started
        print(f"{length:>12} {seconds:>9.4f}")
        if seconds > 1.0:
            break


if __name__ == "__main__":
    main()
