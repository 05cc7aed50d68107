"""Parser throughput: generate realistic lines in memory, parse them, print lines/s per format.

    .venv/bin/python bench/bench_parse.py [--lines 1000000] [--repeat 3] [--seed 7]

Targets on the reference machine (2 cores): 1M nginx combined lines and 1M auth.log lines each
parsed in <= 2.0 s by one process (one `parse_lines` call on the whole array). Lines are built
column-wise with numpy/pyarrow, so generating a million of them takes about a second; the mix
imitates an internet-facing web server and an SSH bastion under a brute-force attack.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing import parse_any, parse_lines
from detector.parsing.base import ParseContext, ParseResult

START = np.datetime64("2026-11-03T00:00:00", "s")


class Mix:
    """Column-wise random choices; every helper returns an Arrow string array of `size` items."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = np.random.default_rng(seed)

    def pick(self, choices: list[str], weights: list[float] | None = None) -> pa.Array:
        p = None if weights is None else np.array(weights, dtype=float) / sum(weights)
        index = self.rng.choice(len(choices), size=self.size, p=p)
        return pa.array(np.array(choices, dtype=object)).take(pa.array(index))

    def ints(self, low: int, high: int) -> pa.Array:
        return pa.array(self.rng.integers(low, high, size=self.size)).cast(pa.string())

    def ipv4_pool(self, count: int) -> list[str]:
        octets = self.rng.integers(1, 255, size=(count, 4))
        return [".".join(map(str, row)) for row in octets]

    def times(self, span_seconds: int) -> pa.Array:
        """Sorted event times spread over `span_seconds` from START."""
        offsets = np.sort(self.rng.integers(0, span_seconds, size=self.size))
        return pa.array((START + offsets).astype("datetime64[s]"))


def join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def combined_lines(size: int, seed: int) -> pa.Array:
    mix = Mix(size, seed)
    clients = mix.pick(mix.ipv4_pool(20000) + ["2001:db8::17", "2001:db8:4::a1"])
    users = mix.pick(["-", "-", "-", "-", "-", "-", "-", "alice"])
    stamp = pc.strftime(mix.times(3 * 3600), format="%d/%b/%Y:%H:%M:%S +0000")
    requests = mix.pick(
        [
            "GET / HTTP/1.1",
            "GET /index.html HTTP/1.1",
            "GET /static/app.3f9a.js HTTP/1.1",
            "GET /static/style.css HTTP/2.0",
            "GET /api/v1/orders?page=2&sort=desc HTTP/1.1",
            "POST /api/v1/login HTTP/1.1",
            "GET /search?q=caf%C3%A9+au+lait&lang=fr HTTP/1.1",
            "GET /images/logo%20big.png HTTP/1.1",
            "GET /wp-login.php HTTP/1.1",
            "GET /.env HTTP/1.1",
            "GET /cgi-bin/%2e%2e/%2e%2e/etc/passwd HTTP/1.1",
            "GET /products/42?ref=newsletter&utm_source=mail HTTP/1.1",
            "HEAD /health HTTP/1.1",
            "-",
            "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03",
            "GET /",
        ],
        [14, 12, 14, 10, 10, 6, 4, 5, 3, 2, 1, 8, 6, 0.6, 0.6, 0.2],
    )
    status = mix.pick(["200", "200", "200", "200", "304", "301", "404", "401", "403", "500", "400"])
    size_text = pc.if_else(pc.equal(status, "304"), "-", mix.ints(0, 250000))
    referrers = mix.pick(
        ["-", "-", "https://www.example.com/", "https://www.google.com/", "https://shop.example.com/cart?id=9"]
    )
    agents = mix.pick(
        [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "curl/8.5.0",
            "python-requests/2.32.3",
            "-",
            "Go-http-client/1.1",
            'Mozilla/5.0 \\"injected\\" (compatible; scanner)',
        ],
        [30, 20, 15, 10, 8, 6, 5, 5, 0.5],
    )
    return join(
        clients,
        " - ",
        users,
        " [",
        stamp,
        '] "',
        requests,
        '" ',
        status,
        " ",
        size_text,
        ' "',
        referrers,
        '" "',
        agents,
        '"',
    )


def auth_lines(size: int, seed: int) -> pa.Array:
    mix = Mix(size, seed)
    stamp = pc.strftime(mix.times(5 * 86400), format="%b %e %H:%M:%S")
    attackers = mix.pick(mix.ipv4_pool(3000) + ["2001:db8::bad:1"])
    port = mix.ints(1024, 65535)
    pid = mix.ints(1000, 99999)
    user = mix.pick(["root", "admin", "test", "oracle", "ubuntu", "postgres", "git", "user", "deploy", "pi"])
    sshd = join("sshd[", pid, "]: ")
    messages = [
        (join(sshd, "Failed password for ", user, " from ", attackers, " port ", port, " ssh2"), 24),
        (join(sshd, "Failed password for invalid user ", user, " from ", attackers, " port ", port, " ssh2"), 12),
        (join(sshd, "Invalid user ", user, " from ", attackers, " port ", port), 12),
        (
            join(sshd, "Connection closed by authenticating user ", user, " ", attackers, " port ", port, " [preauth]"),
            8,
        ),
        (join(sshd, "Disconnected from invalid user ", user, " ", attackers, " port ", port, " [preauth]"), 6),
        (join(sshd, "Received disconnect from ", attackers, " port ", port, ":11: Bye Bye [preauth]"), 6),
        (
            join(
                sshd,
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=",
                attackers,
                "  user=",
                user,
            ),
            8,
        ),
        (
            join(
                sshd,
                "error: maximum authentication attempts exceeded for ",
                user,
                " from ",
                attackers,
                " port ",
                port,
                " ssh2 [preauth]",
            ),
            2,
        ),
        (
            join(
                sshd,
                "Accepted publickey for deploy from 198.51.100.20 port ",
                port,
                " ssh2: ED25519 SHA256:3q2+7w0Yy1hXbV0ZcKkqPzQyS8hA1m0sR9d7Q6kL2vE",
            ),
            1,
        ),
        (join(sshd, "pam_unix(sshd:session): session opened for user deploy(uid=1001) by (uid=0)"), 1),
        (join("CRON[", pid, "]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"), 5),
        (join("CRON[", pid, "]: pam_unix(cron:session): session closed for user root"), 5),
        (join("systemd-logind[612]: New session ", pid, " of user deploy."), 2),
        (
            join(
                "sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx"
            ),
            1.5,
        ),
        (
            join(
                "sudo:   deploy : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/bin/bash"
            ),
            0.2,
        ),
        (
            join(
                "kernel: [",
                pid,
                ".123456] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=",
                attackers,
                " DST=10.0.0.5 LEN=44 TOS=0x00 PREC=0x00 TTL=240 ID=54321 PROTO=TCP SPT=",
                port,
                " DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0",
            ),
            4,
        ),
        (join("su[", pid, "]: (to root) deploy on pts/0"), 0.3),
        (
            join(
                "useradd[",
                pid,
                "]: new user: name=svc, UID=1002, GID=1002, home=/home/svc, shell=/bin/bash, from=/dev/pts/0",
            ),
            0.1,
        ),
        (join("systemd[1]: Started session-", pid, ".scope - Session of User deploy."), 1.9),
    ]
    weights = np.array([weight for _, weight in messages], dtype=float)
    choice = mix.rng.choice(len(messages), size=size, p=weights / weights.sum())
    body = messages[0][0]
    for index, (text, _) in enumerate(messages[1:], start=1):
        body = pc.if_else(pa.array(choice == index), text, body)
    return join(stamp, " bastion ", body)


def json_lines(size: int, seed: int) -> pa.Array:
    mix = Mix(size, seed)
    stamp = pc.strftime(mix.times(3600), format="%Y-%m-%dT%H:%M:%S.000Z")
    return join(
        '{"ts":"',
        stamp,
        '","level":"',
        mix.pick(["info", "info", "info", "warn", "error"]),
        '","msg":"',
        mix.pick(["login succeeded", "login failed", "order created", "cache miss"]),
        '","user":"',
        mix.pick(["bob", "alice", "eve", "mallory"]),
        '","ip":"',
        mix.pick(mix.ipv4_pool(500)),
        '","outcome":"',
        mix.pick(["success", "failure"]),
        '","latency_ms":',
        mix.ints(1, 900),
        ',"http":{"method":"',
        mix.pick(["GET", "POST"]),
        '","status":',
        mix.pick(["200", "401", "500"]),
        "}}",
    )


def logfmt_lines(size: int, seed: int) -> pa.Array:
    mix = Mix(size, seed)
    stamp = pc.strftime(mix.times(3600), format="%Y-%m-%dT%H:%M:%SZ")
    return join(
        "ts=",
        stamp,
        " level=",
        mix.pick(["info", "warn", "error"]),
        ' msg="',
        mix.pick(["login failed", "request done"]),
        '" user=',
        mix.pick(["bob", "alice", "eve"]),
        " ip=",
        mix.pick(mix.ipv4_pool(500)),
        " attempt=",
        mix.ints(1, 9),
        " duration=",
        mix.ints(1, 999),
        "ms",
    )


def nginx_error_lines(size: int, seed: int) -> pa.Array:
    mix = Mix(size, seed)
    stamp = pc.strftime(mix.times(86400), format="%Y/%m/%d %H:%M:%S")
    return join(
        stamp,
        " [error] 1234#1234: *",
        mix.ints(1, 999999),
        ' open() "/usr/share/nginx/html/',
        mix.pick(["favicon.ico", ".env", "wp-login.php"]),
        '" failed (2: No such file or directory), client: ',
        mix.pick(mix.ipv4_pool(500)),
        ', server: example.com, request: "GET /',
        mix.pick(["favicon.ico", ".env", "wp-login.php"]),
        ' HTTP/1.1", host: "example.com"',
    )


def apache_error_lines(size: int, seed: int) -> pa.Array:
    mix = Mix(size, seed)
    stamp = pc.strftime(mix.times(86400), format="%a %b %d %H:%M:%S.123456 %Y")
    return join(
        "[",
        stamp,
        "] [core:error] [pid ",
        mix.ints(100, 9999),
        ":tid 140377854936832] [client ",
        mix.pick(mix.ipv4_pool(500)),
        ":",
        mix.ints(1024, 65535),
        "] AH00126: Invalid URI in request GET /",
        mix.pick(["..%2f..%2fetc/passwd", "%%32%65 HTTP/1.1"]),
    )


def syslog_iso_lines(size: int, seed: int) -> pa.Array:
    mix = Mix(size, seed)
    stamp = pc.strftime(mix.times(86400), format="%Y-%m-%dT%H:%M:%S.123456+01:00")
    return join(
        stamp,
        " bastion sshd[",
        mix.ints(100, 99999),
        "]: Failed password for root from ",
        mix.pick(mix.ipv4_pool(500)),
        " port ",
        mix.ints(1024, 65535),
        " ssh2",
    )


def mixed_access_lines(size: int, seed: int) -> pa.Array:
    """A busy web host's access log as it really is: combined lines, with syslog-wrapped access
    lines (a second vhost logging through syslog), nginx error lines and comment lines mixed in
    (4 % of the lines are not the file's usual format)."""
    mix = Mix(size, seed)
    plain = combined_lines(size, seed)
    stamp = pc.strftime(mix.times(3 * 3600), format="%b %e %H:%M:%S")
    wrapped = join(stamp, " web2 nginx[2869]: ", plain)
    error = join(
        pc.strftime(mix.times(3 * 3600), format="%Y/%m/%d %H:%M:%S"),
        ' [error] 2869#2869: *1 open() "/srv/www/.env" failed (2: No such file or directory), client: ',
        mix.pick(mix.ipv4_pool(500)),
        ', server: example.com, request: "GET /.env HTTP/1.1", host: "example.com"',
    )
    choice = mix.rng.choice(4, size=size, p=[0.96, 0.025, 0.01, 0.005])
    body = pc.if_else(pa.array(choice == 1), wrapped, plain)
    body = pc.if_else(pa.array(choice == 2), error, body)
    return pc.if_else(pa.array(choice == 3), "# rotated by logrotate", body)


def haproxy_lines(size: int, seed: int) -> pa.Array:
    mix = Mix(size, seed)
    return join(
        pc.strftime(mix.times(86400), format="%b %e %H:%M:%S"),
        " lb1 haproxy[99]: ",
        mix.pick(mix.ipv4_pool(2000)),
        ":",
        mix.ints(1024, 65535),
        " [",
        pc.strftime(mix.times(86400), format="%d/%b/%Y:%H:%M:%S.123"),
        "] www~ app/web",
        mix.ints(1, 4),
        " 0/0/1/2/3 ",
        mix.pick(["200", "200", "304", "404", "503"]),
        " 1234 - - ---- 1/1/0/0/0 0/0 \"",
        mix.pick(["GET / HTTP/1.1", "GET /api/orders?page=2 HTTP/1.1", "POST /login HTTP/1.1"]),
        "\"",
    )


def caddy_json_lines(size: int, seed: int) -> pa.Array:
    mix = Mix(size, seed)
    return join(
        '{"level":"info","ts":',
        pc.cast(pc.cast(mix.times(3600), pa.int64()), pa.string()),
        '.5,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"',
        mix.pick(mix.ipv4_pool(2000)),
        '","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"',
        mix.pick(["/", "/search?q=caf%C3%A9", "/.env", "/static/app.js"]),
        '","headers":{"User-Agent":["',
        mix.pick(["Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0"]),
        '"]}},"bytes_read":0,"duration":0.001,"size":',
        mix.ints(0, 90000),
        ',"status":',
        mix.pick(["200", "404", "301"]),
        "}",
    )


def auditd_lines(size: int, seed: int) -> pa.Array:
    mix = Mix(size, seed)
    return join(
        "type=USER_AUTH msg=audit(",
        pc.cast(pc.cast(mix.times(86400), pa.int64()), pa.string()),
        ".123:",
        mix.ints(1, 999999),
        "): pid=",
        mix.ints(100, 99999),
        " uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct=\"",
        mix.pick(["root", "admin", "oracle"]),
        '" exe="/usr/sbin/sshd" hostname=',
        mix.pick(mix.ipv4_pool(500)),
        " addr=",
        mix.pick(mix.ipv4_pool(500)),
        " terminal=ssh res=",
        mix.pick(["failed", "success"]),
        "'",
    )


BENCHES: list[tuple[str, str, Callable[[int, int], pa.Array], float]] = [
    ("combined (nginx)", "combined", combined_lines, 1.0),
    ("auth.log (syslog)", "syslog", auth_lines, 1.0),
    ("syslog ISO timestamps", "syslog", syslog_iso_lines, 0.2),
    ("json", "json", json_lines, 0.2),
    ("logfmt", "logfmt", logfmt_lines, 0.2),
    ("nginx-error", "nginx-error", nginx_error_lines, 0.2),
    ("apache-error", "apache-error", apache_error_lines, 0.2),
    ("mixed access (4 % other)", "mixed:combined", mixed_access_lines, 1.0),
    ("haproxy via syslog", "syslog", haproxy_lines, 0.2),
    ("caddy json", "json", caddy_json_lines, 0.2),
    ("auditd", "auditd", auditd_lines, 0.2),
]


def run(lines: pa.Array, fmt: str, ctx: ParseContext) -> ParseResult:
    """`mixed:FMT` is the per-line reader with FMT as the file's usual format (the pipeline's
    call); any other name, that one format's parser."""
    if fmt.startswith("mixed:"):
        return parse_any(lines, fmt.split(":", 1)[1], ctx).result
    return parse_lines(lines, fmt, ctx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines for the two main benchmarks")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", help="run only benchmarks whose format contains this text")
    args = parser.parse_args()
    ctx = ParseContext(path="bench", timezone="Europe/Berlin", file_mtime=datetime(2026, 11, 8, tzinfo=timezone.utc))
    print(f"{'benchmark':24} {'lines':>9} {'median s':>9} {'best s':>8} {'lines/s':>11} {'parsed':>7}")
    for title, fmt, generate, share in BENCHES:
        if args.only and args.only not in fmt:
            continue
        size = max(1, int(args.lines * share))
        lines = generate(size, args.seed)
        timings = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            result = run(lines, fmt, ctx)
            timings.append(time.perf_counter() - began)
        median = statistics.median(timings)
        parsed = len(result.table) / size
        print(f"{title:24} {size:9d} {median:9.3f} {min(timings):8.3f} {size / median:11,.0f} {parsed:7.1%}")


if __name__ == "__main__":
    main()
