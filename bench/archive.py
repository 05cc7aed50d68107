"""A fleet's log archive for `bench_dask.py`: ≥ 20M lines in ≥ 20 files, generated once.

    .venv/bin/python bench/archive.py [--out bench/data/archive] [--scale 1.0]

Two days of four web hosts and their bastion, as an archive of rotated logs looks: per web host
nginx `access.log.2.gz` (oldest, compressed), `access.log.1`, `access.log` and `auth.log.1.gz`,
`auth.log`; the shop API's JSON log and the fleet's RFC 5424 syslog, each in two generations.
Every stream is one continuous generator run split into its generations, so event time runs on
across the rotation, and every stream covers the same two days (rates are set per stream), so
reading them interleaved in event time is what a real retro-hunt over a fleet does. Mixed
formats (nginx combined, RFC 3164 auth, JSON lines, RFC 5424), success-heavy auth logs, attack
traffic at 0.2 %. A manifest beside the directory (`archive.json`: parameters, generator hash,
line counts) tells whether it can be reused.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate_logs  # noqa: E402

DEFAULT_OUT = HERE / "data" / "archive"
SPAN_SECONDS = 2 * 86400  # every stream covers the same two days
SEED = 11
ATTACK_RATE = 0.002


@dataclass(frozen=True)
class Stream:
    """One log and its generations: (file name, lines), oldest first."""

    directory: str
    kind: str
    host: str
    generations: tuple[tuple[str, int], ...]

    @property
    def lines(self) -> int:
        return sum(n for _, n in self.generations)


def fleet(scale: float) -> list[Stream]:
    def n(lines: int) -> int:
        return max(1, int(lines * scale))

    streams = []
    for i in range(1, 5):
        host = f"web{i}"
        streams.append(Stream(f"{host}/nginx", "access", host,
                              (("access.log.2.gz", n(500_000)), ("access.log.1", n(1_000_000)), ("access.log", n(2_000_000)))))
        streams.append(Stream(f"{host}/log", "auth", host, (("auth.log.1.gz", n(250_000)), ("auth.log", n(500_000)))))
    streams.append(Stream("api", "app-json", "api1", (("shop-api.jsonl.1", n(500_000)), ("shop-api.jsonl", n(1_000_000)))))
    streams.append(Stream("syslog", "syslog5424", "fleet", (("fleet.log.1.gz", n(500_000)), ("fleet.log", n(1_000_000)))))
    return streams


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted([HERE / "generate_logs.py", HERE / "archive.py", *(HERE / "loggen").glob("*.py")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _write_stream(root: Path, number: int, stream: Stream) -> None:
    clock: list = [None]
    rate = stream.lines / SPAN_SECONDS
    lines = generate_logs._stream_for(  # noqa: SLF001 - the clock tells each generation's last event time
        stream.kind, stream.lines, SEED + number, generate_logs.DEFAULT_START, rate, ATTACK_RATE, stream.host, clock
    )
    directory = root / stream.directory
    directory.mkdir(parents=True, exist_ok=True)
    for name, count in stream.generations:
        target = directory / name
        partial = target.with_name(name + ".part")
        with open(partial, "wb") as raw:
            sink = gzip.GzipFile(filename=name[:-3], mode="wb", fileobj=raw, mtime=0) if name.endswith(".gz") else raw
            with sink:
                left = count
                while left and (block := list(islice(lines, min(left, 8192)))):
                    sink.write("".join(block).encode())
                    left -= len(block)
        os.replace(partial, target)
        if clock[0] is not None:
            os.utime(target, (clock[0], clock[0]))  # a rotated log's mtime is its last write


def archive(out: Path = DEFAULT_OUT, scale: float = 1.0) -> tuple[Path, int, int]:
    """The archive at `out` (generated unless its manifest matches): (root, files, lines)."""
    streams = fleet(scale)
    manifest = out.with_name(out.name + ".json")  # beside it: a scan of the archive must not read it
    wanted = {"scale": scale, "seed": SEED, "attack_rate": ATTACK_RATE, "generator": _fingerprint(),
              "streams": [asdict(s) for s in streams]}
    files = sum(len(s.generations) for s in streams)
    lines = sum(s.lines for s in streams)
    if manifest.exists() and json.loads(manifest.read_text()) == json.loads(json.dumps(wanted)):
        return out, files, lines
    manifest.unlink(missing_ok=True)
    print(f"generating {out} ({files} files, {lines:,} lines)...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    for number, stream in enumerate(streams):
        _write_stream(out, number, stream)
    manifest.write_text(json.dumps(wanted, indent=2) + "\n")
    print(f"  done in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    return out, files, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every file's line count")
    args = parser.parse_args(argv)
    root, files, lines = archive(args.out, args.scale)
    print(f"{root}: {files} files, {lines:,} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
