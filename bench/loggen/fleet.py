"""RFC 5424 lines a central collector receives from a small fleet."""

from __future__ import annotations

import random

from .addresses import PUBLIC_V4, any_port, ephemeral_port
from .auth import AuthModel
from .clock import MONTHS, WEB_DAY, civil, micros
from .engine import Event, Model
from .framing import (
    DAEMON_INFO,
    LOCAL0_ERR,
    LOCAL0_INFO,
    LOCAL0_WARN,
    USER_ERR,
    USER_INFO,
    USER_WARN,
)
from .randomness import between, integer, picker, rng_choice, uniform

#: The fleet's internal addresses, as their rsyslog puts them in `origin`.
FLEET = {"app1": "10.0.2.11", "app2": "10.0.2.12", "db1": "10.0.2.20", "lb1": "10.0.2.5", "bastion": "10.0.2.2"}


class Syslog5424Model(Model):
    """Lines a central rsyslog collector receives in RFC 5424 from several hosts."""

    default_rate = 10.0
    day = WEB_DAY

    def __init__(self, rng: random.Random, host: str) -> None:
        super().__init__(rng, host)
        self.options = {}
        self.bastion = AuthModel(rng, "bastion", framing="5424")
        self.framing = self.bastion.framing
        self.render = self.framing.render  # type: ignore[method-assign]
        self.app_pids = {"app1": integer(rng, 2000, 9000), "app2": integer(rng, 2000, 9000)}
        self.haproxy_pid = integer(rng, 900, 1500)
        self.pg_pid = integer(rng, 10_000, 60_000)
        self.now = 0.0
        self.clients = uniform(rng, PUBLIC_V4)
        self.kind = picker(
            rng,
            [
                (self._api_request, 40),
                (self._haproxy, 25),
                (self._postgres, 10),
                (self._bastion, 4),
                (self._systemd, 5),
                (self._api_warning, 3),
            ],
        )
        self.attack_kind = picker(
            rng,
            [
                (self.bastion._bruteforce, 40),
                (self.bastion._enumeration, 20),
                (self._pg_bruteforce, 25),
                (self.bastion._sudo_abuse, 15),
            ],
        )

    def _rec(
        self,
        at: float,
        host: str,
        app: str,
        pid: int | None,
        msg: str,
        pri: int,
        msgid: str = "-",
        sd: str | None = None,
    ) -> Event:
        origin = sd or f'[origin ip="{FLEET[host]}" software="rsyslogd" swVersion="8.2406.0"]'
        return (at, self.framing.payload(host, app, pid, msg, pri, msgid, origin))  # type: ignore[call-arg]

    def session(self, t: float) -> list[Event]:
        self.now = t
        return self.kind()()

    def attack(self, t: float) -> list[Event]:
        return self.attack_kind()()

    def _api_request(self) -> list[Event]:
        rng = self.rng
        host = rng_choice(rng, ["app1", "app2"])
        path = rng_choice(
            rng,
            [
                "/api/v1/products?page=2",
                "/api/v1/cart",
                "/api/v1/products/4711",
                "/api/v1/me",
                "/api/v1/orders?limit=10",
                "/api/v1/recommendations?product=2210",
            ],
        )
        status = 200 if rng.random() < 0.97 else rng_choice(rng, [401, 404, 500])
        req = f"{rng.getrandbits(64):016x}"
        sd = f'[req@32473 id="{req}" ip="{self.clients()}" status="{status}"]'
        pri = USER_INFO if status < 500 else USER_ERR
        return [
            self._rec(
                0.0,
                host,
                "shop-api",
                self.app_pids[host],
                f"{rng_choice(rng, ['GET', 'GET', 'GET', 'POST'])} {path} {status} {integer(rng, 3, 180)}ms",
                pri,
                "REQ",
                sd,
            )
        ]

    def _api_warning(self) -> list[Event]:
        rng = self.rng
        host = rng_choice(rng, ["app1", "app2"])
        msg, pri = rng_choice(
            rng,
            [
                (
                    f"slow query: {integer(rng, 900, 4000)}ms SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at DESC",
                    USER_WARN,
                ),
                ("upstream timeout: payment-gateway did not answer within 10000ms", USER_ERR),
                (f"cache miss storm: {integer(rng, 200, 900)} misses in 10s for key prefix product:", USER_WARN),
            ],
        )
        return [self._rec(0.0, host, "shop-api", self.app_pids[host], msg, pri)]

    def _haproxy(self) -> list[Event]:
        rng = self.rng
        ip, port = self.clients(), any_port(rng)
        backend = rng_choice(rng, ["app1", "app2"])
        status = 200 if rng.random() < 0.95 else rng_choice(rng, [304, 404, 503])
        tr = integer(rng, 2, 200)
        g = civil(int(self.now))  # haproxy's own accept date, a few ms before the log time
        stamp = f"{g.tm_mday:02d}/{MONTHS[g.tm_mon - 1]}/{g.tm_year}:{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}.{micros(self.now) // 1000:03d}"
        msg = (
            f"{ip}:{port} [{stamp}] fe_https~ be_shop/{backend} 0/0/1/{tr}/{tr + 1} {status} {integer(rng, 200, 40000)} "
            f'- - ---- {integer(rng, 10, 60)}/{integer(rng, 10, 60)}/3/1/0 0/0 "GET /api/v1/cart HTTP/2.0"'
        )
        return [self._rec(0.0, "lb1", "haproxy", self.haproxy_pid, msg, LOCAL0_INFO)]

    def _postgres(self) -> list[Event]:
        rng = self.rng
        self.pg_pid += integer(rng, 1, 30)
        pid = self.pg_pid
        roll = rng.random()
        if roll < 0.6:
            app = rng_choice(rng, ["shop-api", "shop-worker", "metabase"])
            return [
                self._rec(
                    0.0,
                    "db1",
                    "postgres",
                    pid,
                    f"[{pid}-1] LOG:  connection received: host=10.0.2.{integer(rng, 11, 12)} port={ephemeral_port(rng)}",
                    LOCAL0_INFO,
                ),
                self._rec(
                    0.01,
                    "db1",
                    "postgres",
                    pid,
                    f"[{pid}-2] LOG:  connection authorized: user=shop database=shop application_name={app}",
                    LOCAL0_INFO,
                ),
            ]
        if roll < 0.85:
            return [
                self._rec(
                    0.0,
                    "db1",
                    "postgres",
                    pid,
                    f"[{pid}-1] LOG:  duration: {between(rng, 500, 3000):.3f} ms  statement: SELECT o.id, o.total FROM orders o WHERE o.customer_id = {integer(rng, 1, 90000)} ORDER BY o.created_at DESC LIMIT 20",
                    LOCAL0_WARN,
                )
            ]
        return [
            self._rec(0.0, "db1", "postgres", 1234, "[1234-1] LOG:  checkpoint starting: time", LOCAL0_INFO),
            self._rec(
                between(rng, 30, 150),
                "db1",
                "postgres",
                1234,
                f"[1234-2] LOG:  checkpoint complete: wrote {integer(rng, 100, 4000)} buffers ({between(rng, 0.5, 20):.1f}%); 0 WAL file(s) added, 0 removed, 1 recycled",
                LOCAL0_INFO,
            ),
        ]

    def _bastion(self) -> list[Event]:
        return self.bastion.session(self.now)

    def _systemd(self) -> list[Event]:
        rng = self.rng
        host = rng_choice(rng, ["app1", "app2", "db1", "lb1", "bastion"])
        unit, text = rng_choice(
            rng,
            [
                ("apt-daily.service", "Daily apt download activities"),
                ("logrotate.service", "Rotate log files"),
                ("systemd-tmpfiles-clean.service", "Cleanup of Temporary Directories"),
                ("man-db.service", "Daily man-db regeneration"),
                ("fwupd-refresh.service", "Refresh fwupd metadata and update motd"),
            ],
        )
        return [
            self._rec(0.0, host, "systemd", 1, f"Starting {unit} - {text}...", DAEMON_INFO),
            self._rec(0.4, host, "systemd", 1, f"{unit}: Deactivated successfully.", DAEMON_INFO),
            self._rec(0.4, host, "systemd", 1, f"Finished {unit} - {text}.", DAEMON_INFO),
        ]

    def _pg_bruteforce(self) -> list[Event]:
        """Password guessing against a database port that should never have been public."""
        rng = self.rng
        ip = self.bastion.attacker()
        user = rng_choice(rng, ["postgres", "admin", "root", "shop"])
        events: list[Event] = []
        at = 0.0
        for _ in range(integer(rng, 6, 40)):
            self.pg_pid += integer(rng, 1, 5)
            pid = self.pg_pid
            events.append(
                self._rec(
                    at,
                    "db1",
                    "postgres",
                    pid,
                    f"[{pid}-1] LOG:  connection received: host={ip} port={any_port(rng)}",
                    LOCAL0_INFO,
                )
            )
            events.append(
                self._rec(
                    at + 0.05,
                    "db1",
                    "postgres",
                    pid,
                    f'[{pid}-2] FATAL:  password authentication failed for user "{user}"',
                    LOCAL0_ERR,
                )
            )
            events.append(
                self._rec(
                    at + 0.05,
                    "db1",
                    "postgres",
                    pid,
                    f'[{pid}-3] DETAIL:  Connection matched file "/etc/postgresql/17/main/pg_hba.conf" line 102: "host all all 0.0.0.0/0 scram-sha-256"',
                    LOCAL0_ERR,
                )
            )
            at += between(rng, 0.2, 3.0)
        return events
