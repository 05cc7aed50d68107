"""The check behind every CRS speed change: the CRS stage's verdict on every line of a log,
written once before a change and once after, then compared line by line.

    .venv/bin/python bench/crs_scores.py dump bench/data/access-crs-1000000.log --paranoia 2 --out /tmp/before.arrow
    ... change the engine ...
    .venv/bin/python bench/crs_scores.py dump bench/data/access-crs-1000000.log --paranoia 2 --out /tmp/after.arrow
    .venv/bin/python bench/crs_scores.py compare /tmp/before.arrow /tmp/after.arrow

A dump holds, per parsed line (its number in the file), the anomaly score and the columns the
CRS stage adds: rule ids, categories and per rule the variable and matched (transformed) data.
`compare` exits 0 when both are identical, 1 with the first differing lines otherwise. To dump
with another revision, run `dump` from a checkout of it (`git worktree add`, or `git archive REV`
unpacked, with that tree first on the Python path).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

HERE = Path(__file__).resolve().parent
BATCH = 16_384
COLUMNS = ("crs.anomaly_score", "crs.rules", "crs.categories", "crs.matched")


def _arrow(column: pd.Series) -> pa.Array:
    values = column.array.__arrow_array__()
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def dump(path: Path, crs: Path, level: int, out: Path, limit: int | None) -> int:
    from detector.config import CrsSettings
    from detector.detection.crs.stage import load_crs_stage
    from detector.parsing import parse_lines
    from detector.parsing.base import ParseContext
    from detector.pipeline import frame_from

    stage = load_crs_stage(CrsSettings(crs, paranoia=level))
    ctx = ParseContext(path=str(path), timezone="UTC", file_mtime=datetime.now(timezone.utc))
    schema = pa.schema([("line", pa.int64()), ("crs.anomaly_score", pa.int64())] + [(c, pa.string()) for c in COLUMNS[1:]])
    first, rows = 0, 0
    with open(path, encoding="utf-8", errors="replace") as handle, pa.ipc.new_file(out, schema) as writer:
        while limit is None or first < limit:
            size = BATCH if limit is None else min(BATCH, limit - first)
            chunk = [line.rstrip("\n") for _, line in zip(range(size), handle)]
            if not chunk:
                break
            lines = pa.array(chunk, pa.string())
            result = parse_lines(lines, "combined", ctx)
            numbers = np.arange(first, first + len(chunk), dtype=np.int64)
            frame = stage.enrich(frame_from(result.table, lines, numbers, result.parsed_index, str(path)))
            columns = [pa.array(frame["log.offset"].to_numpy(dtype=np.int64))]
            columns += [_arrow(frame[c]).cast(schema.field(c).type) for c in COLUMNS]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            first += len(chunk)
            rows += len(frame)
    print(f"{out}: {rows:,} parsed lines of {first:,} scored at PL{level}")
    return 0


def compare(before: Path, after: Path, shown: int = 5) -> int:
    a = pa.ipc.open_file(before).read_all()
    b = pa.ipc.open_file(after).read_all()
    if a["line"] != b["line"]:
        print(f"different lines scored: {a.num_rows:,} in {before}, {b.num_rows:,} in {after}")
        return 1
    differ = np.zeros(a.num_rows, dtype=bool)
    for column in ("crs.anomaly_score", *COLUMNS[1:]):
        same = pc.fill_null(pc.equal(a[column], b[column]), False).to_numpy(zero_copy_only=False)
        both_null = (pc.is_null(a[column]).to_numpy(zero_copy_only=False) & pc.is_null(b[column]).to_numpy(zero_copy_only=False))
        wrong = ~(same | both_null)
        print(f"{column:<18} {int(wrong.sum()):>9,} lines differ")
        differ |= wrong
    for row in np.flatnonzero(differ)[:shown].tolist():
        print(f"line {a['line'][row].as_py()}:")
        for column in COLUMNS:
            print(f"  before {column}: {a[column][row].as_py()!r}\n  after  {column}: {b[column][row].as_py()!r}")
    total = int(differ.sum())
    print(f"{a.num_rows:,} lines compared: " + ("identical" if not total else f"{total:,} differ"))
    return 1 if total else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("dump", help="score every line of a combined access log and write the verdicts")
    make.add_argument("log", type=Path)
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--paranoia", type=int, default=1)
    make.add_argument("--crs", type=Path, default=HERE.parent.parent / "shared" / "crs")
    make.add_argument("--lines", type=int, default=None, help="only the first N lines")
    check = commands.add_parser("compare", help="compare two dumps line by line")
    check.add_argument("before", type=Path)
    check.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "dump":
        return dump(args.log, args.crs, args.paranoia, args.out, args.lines)
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
