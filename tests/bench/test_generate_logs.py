"""The log generator behind the benchmarks and sample_logs/: exact, deterministic, streaming,
well-formed for every kind (logwarden's own parsers read every line), attacks only on request,
and the committed sample logs are exactly what `sample_logs/regenerate.sh` produces."""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
import re
import subprocess
import sys
import tracemalloc
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from detector.parsing import parse_lines, sniff_format
from detector.parsing.base import ParseContext

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import generate_logs  # noqa: E402

KINDS = list(generate_logs.KINDS)
START = datetime(2026, 11, 23, tzinfo=timezone.utc)

# What each kind is, as logwarden's format sniffer should see it.
FORMATS = {
    "access": "combined",
    "access-vhost": "combined",
    "access-common": "common",
    "access-longtail": "combined",
    "auth": "syslog",
    "auth-iso": "syslog",
    "syslog5424": "syslog",
    "kern-firewall": "syslog",
    "app-json": "json",
    "app-logfmt": "logfmt",
    "error-apache": "apache-error",
    "error-nginx": "nginx-error",
}

QUOTED = r'"(?:[^"\\]|\\.)*"'
CLF_TIME = r"\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\]"
BSD_TIME = r"[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}"
ISO_MICROS = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00"
TAG = r"[\w.-]+(?:\[\d+\])?"
SHAPES = {
    "access": rf"\S+ - \S+ {CLF_TIME} {QUOTED} \d{{3}} \d+ {QUOTED} {QUOTED}",
    "access-vhost": rf"[\w.-]+:\d+ \S+ - \S+ {CLF_TIME} {QUOTED} \d{{3}} \d+ {QUOTED} {QUOTED}",
    "access-common": rf"\S+ - \S+ {CLF_TIME} {QUOTED} \d{{3}} (?:\d+|-)",
    "access-longtail": rf"\S+ - \S+ {CLF_TIME} {QUOTED} \d{{3}} \d+ {QUOTED} {QUOTED}",
    "auth": rf"{BSD_TIME} web1 {TAG}: .*\S",
    "auth-iso": rf"{ISO_MICROS} web1 {TAG}: .*\S",
    "syslog5424": rf"<\d{{1,3}}>1 {ISO_MICROS} [\w.-]+ [\w.-]+ (?:\d+|-) \S+ (?:-|(?:\[[^\]]*\])+) .*\S",
    "kern-firewall": rf"{BSD_TIME} web1 kernel: \[ *\d+\.\d{{6}}\] \S.*",
    "app-json": r"\{.*\}",
    "app-logfmt": r'ts=\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z level=\w+(?: [\w.]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]+))+',
    "error-apache": r"\[[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2}\.\d{6} \d{4}\] \[[\w_]+:\w+\] \[pid \d+:tid \d+\] \S.*",
    "error-nginx": r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[(?:notice|info|warn|error|crit|alert)\] \d+#\d+: \S.*",
}

ATTACK_NETWORKS = [ipaddress.ip_network(net) for net in generate_logs.ATTACK_NETWORKS]
IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
IPV6 = re.compile(r"(?<![\w:])(2001:[0-9a-fA-F:]*[0-9a-fA-F])")
#: Text that only attack traffic may contain, per family of kinds.
ATTACK_WORDS = re.compile(
    r"jndi:|\(\) \{|UNION|SLEEP\(|sqlmap|Nikto|<script|%3Cscript|\.\./|%2e|/\.env|/\.git/|wp-login|"
    r"incorrect password attempts|NOT in sudoers|maximum authentication attempts|account_locked|"
    r"ModSecurity|limiting requests|password authentication failed|AH10244|access_denied",
    re.IGNORECASE,
)


def generated(kind: str, lines: int, **options) -> list[str]:
    return list(generate_logs.generate(kind, lines, **options))


def attacker_addresses(line: str) -> set[str]:
    found = set()
    for text in IPV4.findall(line) + IPV6.findall(line):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if any(address in net for net in ATTACK_NETWORKS if net.version == address.version):
            found.add(text)
    return found


def parse(kind: str, lines: list[str]):
    context = ParseContext(path=kind, timezone="UTC", file_mtime=datetime(2026, 12, 31, tzinfo=timezone.utc))
    return parse_lines(pa.array([line.rstrip("\n") for line in lines], pa.string()), FORMATS[kind], context)


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_gives_the_same_bytes_and_another_seed_other_bytes(kind):
    first = generated(kind, 400, seed=5, attack_rate=0.05)
    assert generated(kind, 400, seed=5, attack_rate=0.05) == first
    assert generated(kind, 400, seed=6, attack_rate=0.05) != first


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("count", [0, 1, 777])
def test_exactly_the_requested_number_of_complete_lines(kind, count):
    lines = generated(kind, count, seed=2)
    assert len(lines) == count
    assert all(line.endswith("\n") and line.count("\n") == 1 and "\r" not in line for line in lines)


@pytest.mark.parametrize("kind", KINDS)
def test_every_line_has_the_shape_of_its_format(kind):
    lines = generated(kind, 1500, seed=3, attack_rate=0.05)
    shape = re.compile(SHAPES[kind] + r"\n")
    bad = [line for line in lines if not shape.fullmatch(line)]
    assert bad == []
    if kind in ("access", "access-longtail"):  # nginx escapes quotes inside fields as \x22: 6 quotes per line
        assert {line.count('"') for line in lines} == {6}
    if kind == "app-json":
        records = [json.loads(line) for line in lines]
        assert all({"ts", "level", "msg", "event"} <= record.keys() for record in records)
        assert all(set(record["http"]) == {"method", "path", "status"} for record in records if "http" in record)


@pytest.mark.parametrize("kind", KINDS)
def test_logwarden_sniffs_and_parses_every_line_in_time_order(kind):
    lines = generated(kind, 2000, seed=4, attack_rate=0.05)
    assert sniff_format([line.rstrip("\n") for line in lines[:200]]) == FORMATS[kind]
    result = parse(kind, lines)
    assert len(result.table) == len(lines)
    stamps = result.table.column("@timestamp").cast(pa.int64()).to_numpy()
    assert (np.diff(stamps) >= 0).all()
    assert stamps[0] >= int(START.timestamp() * 1_000_000)


@pytest.mark.parametrize("kind", KINDS)
def test_attack_traffic_only_when_asked_for(kind):
    quiet = generated(kind, 4000, seed=8, attack_rate=0.0)
    assert [line for line in quiet if attacker_addresses(line)] == []
    assert [line for line in quiet if ATTACK_WORDS.search(line)] == []
    noisy = generated(kind, 4000, seed=8, attack_rate=0.2)
    assert any(attacker_addresses(line) for line in noisy)
    if kind != "kern-firewall":  # a port scan is told by its shape, not by its words
        assert any(ATTACK_WORDS.search(line) for line in noisy)


@pytest.mark.parametrize("kind", ["access", "auth", "app-json"])
def test_attack_rate_sets_the_share_of_attack_lines(kind):
    lines = generated(kind, 20000, seed=1, attack_rate=0.01)
    share = sum(1 for line in lines if attacker_addresses(line)) / len(lines)
    assert 0.004 < share < 0.025


def test_the_attacks_are_the_realistic_ones():
    web = "".join(generated("access", 60_000, seed=11, attack_rate=0.1))
    for needle in ("${jndi:ldap://", "() { :", "UNION", "/.env", "/.git/config", "sqlmap/", "Nikto", "\\x22"):
        assert needle in web
    auth = "".join(generated("auth", 20000, seed=11, attack_rate=0.05))
    for needle in (
        "maximum authentication attempts exceeded",
        "Invalid user",
        "3 incorrect password attempts",
        "NOT in sudoers",
    ):
        assert needle in auth
    app = [json.loads(line) for line in generated("app-json", 20000, seed=11, attack_rate=0.05)]
    assert any(r["event"] == "account_locked" for r in app)
    assert any(r["event"] == "role_change" and r["user"] == r["target_user"] and r["new_role"] == "admin" for r in app)


def test_rate_and_start_set_the_event_time():
    lines = generated("auth", 6000, seed=3, start="2026-11-01T12:00:00Z", rate=2.0, attack_rate=0.0)
    stamps = parse("auth", lines).table.column("@timestamp").to_pylist()
    assert stamps[0] >= datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    span = (stamps[-1] - stamps[0]).total_seconds()
    assert 6000 / 2.0 * 0.7 < span < 6000 / 2.0 * 1.3


def test_generation_is_lazy():
    first = next(iter(generate_logs.generate("access", 10**12)))
    assert first.endswith("\n")


def test_writing_needs_the_same_memory_for_four_times_the_lines(tmp_path):
    def peak(lines: int) -> int:
        tracemalloc.start()
        try:
            generate_logs.write("auth", lines, tmp_path / f"{lines}.log")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    generate_logs.write("auth", 10, tmp_path / "warm.log")  # calibration and imports outside the measure
    small, large = peak(9_000), peak(36_000)
    assert (tmp_path / "36000.log").stat().st_size > 3.5 * (tmp_path / "9000.log").stat().st_size
    assert large < small * 1.25 + 512 * 1024


def test_write_gzip_and_mtime(tmp_path):
    plain, packed = tmp_path / "access.log", tmp_path / "access.log.2.gz"
    last = generate_logs.write("access", 500, plain, seed=4)
    generate_logs.write("access", 500, packed, seed=4)
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    assert plain.read_bytes().endswith(b"\n") and plain.read_bytes().count(b"\n") == 500
    assert plain.stat().st_mtime == pytest.approx(last, abs=1e-3)
    assert not list(tmp_path.glob("*.part"))


def test_command_line(tmp_path):
    out = tmp_path / "auth.log"
    script = ROOT / "bench" / "generate_logs.py"
    done = subprocess.run(
        [sys.executable, str(script), "auth", "--lines", "25", "--out", str(out), "--seed", "3", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "".join(generate_logs.generate("auth", 25, seed=3))
    wrong = subprocess.run(
        [sys.executable, str(script), "nope", "--lines", "5", "--out", str(out)], capture_output=True
    )
    assert wrong.returncode == 2


def test_sample_logs_are_exactly_what_regenerate_sh_produces(tmp_path):
    samples = ROOT / "sample_logs"
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(["bash", str(samples / "regenerate.sh"), str(tmp_path)], check=True, env=env)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert len(made) == 14
    for relative in made:
        assert (samples / relative).read_bytes() == (tmp_path / relative).read_bytes(), relative


def test_sample_logs_are_small_complete_and_the_gz_is_real_gzip():
    samples = ROOT / "sample_logs"
    files = [
        p for p in samples.rglob("*") if p.is_file() and "scenarios" not in p.parts and p.suffix not in (".md", ".sh")
    ]
    assert len(files) == 14
    for path in files:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        assert data.endswith(b"\n"), path
        assert 300 <= data.count(b"\n") <= 800, path
    rotated = samples / "web" / "nginx"
    newest = (rotated / "access.log").read_text().splitlines()
    older = (rotated / "access.log.1").read_text().splitlines()
    oldest = gzip.decompress((rotated / "access.log.2.gz").read_bytes()).decode().splitlines()
    times = [
        parse("access", [lines[0], lines[-1]]).table.column("@timestamp").to_pylist()
        for lines in (oldest, older, newest)
    ]
    assert times[0][1] < times[1][0] and times[1][1] < times[2][0]


def test_first_lines_of_a_stream_are_a_prefix_of_a_longer_one():
    """Asking for more lines continues the same log (handy when benchmarks reuse data)."""
    short = generated("app-logfmt", 300, seed=9)
    assert list(islice(generate_logs.generate("app-logfmt", 900, seed=9), 300)) == short
