"""Realistic synthetic logs for benchmarks, tests and the bundled samples (stdlib only).

    python bench/generate_logs.py KIND --lines N --out FILE [--seed 1] [--start 2026-11-23T00:00:00Z]
                                  [--rate LINES_PER_SECOND] [--attack-rate 0.002] [--host web1] [--quiet]

KIND is one of: access, access-vhost, access-common, access-longtail, auth, auth-iso, syslog5424, kern-firewall,
app-json, app-logfmt, error-apache, error-nginx. A FILE ending in `.gz` is written gzip-compressed.
As a library: `generate(kind, lines, seed, start, ...)` yields the lines lazily, `write(...)` writes
a file; both in constant memory. The models live in the `loggen` package next to this file.

How the traffic is made: every kind is a set of *sessions* (a page view with its assets, an SSH
login with its PAM and logind lines, a scanner's failed attempt...). Session starts form a Poisson
process whose rate follows the hour of day; the lines of overlapping sessions are merged in event
time, so timestamps are monotonic and sessions interleave the way a real server writes them.
Clock-driven jobs (cron, log rotation) fire at their real times on top of that. Attack episodes
(brute-force bursts, injection probes, scanner 404 bursts, port scans...) are sessions too,
started with the probability that makes their lines about `attack_rate` of the output.

Address plan (documentation ranges only): benign internet clients 198.51.100.0/24,
203.0.113.1-127, 192.0.2.128-254 and 2001:db8:1000::-2001:db8:9fff::; crawlers and monitors in
192.0.2.16-70; the server 192.0.2.10 / 2001:db8:10::10; internal hosts 10.0.0.0/8. Attack sources
come only from ATTACK_NETWORKS (203.0.113.128/25, 2001:db8:bad::/48), benign traffic never does.
Same kind, line count, seed, start, rate, attack rate and host => byte-identical output.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # the `loggen` package lives next to this file

from loggen.addresses import ATTACK_NETWORKS  # noqa: E402
from loggen.app import AppModel  # noqa: E402
from loggen.auth import AuthModel  # noqa: E402
from loggen.engine import Model, stream  # noqa: E402
from loggen.firewall import FirewallModel  # noqa: E402
from loggen.fleet import Syslog5424Model  # noqa: E402
from loggen.web import AccessModel  # noqa: E402
from loggen.weberror import ApacheErrorModel, NginxErrorModel  # noqa: E402

__all__ = ["ATTACK_NETWORKS", "DEFAULT_ATTACK_RATE", "DEFAULT_START", "KINDS", "generate", "main", "write"]

DEFAULT_START = "2026-11-23T00:00:00Z"
DEFAULT_ATTACK_RATE = 0.002
DEFAULT_HOST = "web1"


KINDS: dict[str, Callable[[random.Random, str], Model]] = {
    "access": lambda rng, host: AccessModel(rng, host, "combined"),
    "access-vhost": lambda rng, host: AccessModel(rng, host, "vhost"),
    "access-common": lambda rng, host: AccessModel(rng, host, "common"),
    "access-longtail": lambda rng, host: AccessModel(rng, host, "combined", long_tail=True),
    "auth": lambda rng, host: AuthModel(rng, host, "bsd"),
    "auth-iso": lambda rng, host: AuthModel(rng, host, "iso"),
    "syslog5424": Syslog5424Model,
    "kern-firewall": FirewallModel,
    "app-json": lambda rng, host: AppModel(rng, host, "json", "shop-api"),
    "app-logfmt": lambda rng, host: AppModel(rng, host, "logfmt", "billing"),
    "error-apache": ApacheErrorModel,
    "error-nginx": NginxErrorModel,
}


def parse_start(value: str | datetime) -> float:
    """Epoch seconds of an ISO 8601 time (naive means UTC)."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _stream_for(
    kind: str,
    lines: int,
    seed: int,
    start: str | datetime,
    rate: float | None,
    attack_rate: float,
    host: str,
    clock: list,
) -> Iterator[str]:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known kinds: {', '.join(KINDS)}")
    if lines < 0:
        raise ValueError("lines must be >= 0")
    if rate is not None and rate <= 0:
        raise ValueError("rate must be > 0")
    if not 0 <= attack_rate <= 0.5:
        raise ValueError("attack_rate must be between 0 and 0.5")
    model = KINDS[kind](random.Random(seed), host)
    return stream(model, lines, parse_start(start), rate or model.default_rate, attack_rate, clock)


def generate(
    kind: str,
    lines: int,
    seed: int = 1,
    start: str | datetime = DEFAULT_START,
    rate: float | None = None,
    attack_rate: float = DEFAULT_ATTACK_RATE,
    host: str = DEFAULT_HOST,
) -> Iterator[str]:
    """Exactly `lines` lines of `kind` (each ending in "\\n"), lazily, in event-time order."""
    return _stream_for(kind, lines, seed, start, rate, attack_rate, host, [None])


def write(
    kind: str,
    lines: int,
    out: Path,
    seed: int = 1,
    start: str | datetime = DEFAULT_START,
    rate: float | None = None,
    attack_rate: float = DEFAULT_ATTACK_RATE,
    host: str = DEFAULT_HOST,
) -> float | None:
    """Write the lines to `out` (gzip when it ends in .gz) through a temporary file, set the
    file's mtime to the last event like a real log, and return that time (None when empty)."""
    clock: list = [None]
    stream = _stream_for(kind, lines, seed, start, rate, attack_rate, host, clock)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    try:
        with open(partial, "wb") as raw:
            packed = out.name.endswith(".gz")
            sink = gzip.GzipFile(filename=out.name[:-3], mode="wb", fileobj=raw, mtime=0) if packed else raw
            with sink:
                while block := list(islice(stream, 8192)):
                    sink.write("".join(block).encode())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if clock[0] is not None:
        os.utime(out, (clock[0], clock[0]))
    return clock[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=list(KINDS))
    parser.add_argument("--lines", type=int, required=True, help="exact number of lines to write")
    parser.add_argument("--out", type=Path, required=True, help="output file; .gz suffix writes gzip")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", default=DEFAULT_START, help="event time of the first session (ISO 8601)")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="lines per second of event time, averaged over a day (default per kind)",
    )
    parser.add_argument(
        "--attack-rate", type=float, default=DEFAULT_ATTACK_RATE, help="share of attack lines (0 for none)"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="host name in syslog lines")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    try:
        last = write(args.kind, args.lines, args.out, args.seed, args.start, args.rate, args.attack_rate, args.host)
    except ValueError as error:
        parser.error(str(error))
    took = time.perf_counter() - began
    if not args.quiet:
        until = datetime.fromtimestamp(last, timezone.utc).isoformat() if last is not None else "-"
        print(
            f"{args.out}: {args.lines:,} {args.kind} lines in {took:.2f} s ({args.lines / max(took, 1e-9):,.0f} lines/s), last event {until}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
