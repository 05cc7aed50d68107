"""`kern.log` of a host behind UFW: the internet's background scanning, blocked; port scans."""

from __future__ import annotations

import ipaddress
import random

from .addresses import ATTACKER_V4, PUBLIC_V4, SERVER_V4, SERVER_V6, any_port, public_v6
from .clock import bsd_stamp, micros
from .engine import Event, Model, Payload
from .randomness import Cycle, between, integer, picker, rng_choice, uniform

SCAN_PORTS = [
    (23, 12),
    (3389, 8),
    (445, 6),
    (8080, 6),
    (5900, 3),
    (1433, 3),
    (3306, 3),
    (6379, 3),
    (8443, 3),
    (2323, 2),
    (5555, 2),
    (9200, 2),
    (27017, 2),
    (81, 2),
    (8000, 2),
    (8888, 2),
    (2375, 1),
    (5432, 2),
    (25, 2),
    (21, 2),
    (1723, 1),
    (7547, 2),
    (37215, 1),
    (52869, 1),
    (60001, 1),
    (10000, 1),
    (111, 1),
    (135, 1),
    (139, 1),
    (3000, 1),
    (5000, 1),
    (9000, 1),
    (9090, 1),
    (11211, 1),
    (6443, 1),
    (2222, 2),
    (8081, 1),
    (8088, 1),
    (4443, 1),
    (5060, 1),
]
UDP_PORTS = [(5060, 4), (123, 2), (161, 2), (1900, 2), (53, 2), (19, 1), (11211, 1), (3702, 1), (500, 1), (137, 1)]
NMAP_TOP_PORTS = [
    80,
    23,
    443,
    21,
    22,
    25,
    3389,
    110,
    445,
    139,
    143,
    53,
    135,
    3306,
    8080,
    1723,
    111,
    995,
    993,
    5900,
    1025,
    587,
    8888,
    199,
    1720,
    465,
    548,
    113,
    81,
    6001,
    10000,
    514,
    5060,
    179,
    1026,
    2000,
    8443,
    8000,
    32768,
    554,
    26,
    1433,
    49152,
    2001,
    515,
    8008,
    49154,
    1027,
    5666,
    646,
    5000,
    5631,
    631,
    49153,
    8081,
    2049,
    88,
    79,
    5800,
    106,
    2121,
    1110,
    49155,
    6000,
    513,
    990,
    5357,
    427,
    49156,
    543,
    544,
    5101,
    144,
    7,
    389,
    8009,
    3128,
    444,
    9999,
    5009,
    7070,
    5190,
    3000,
    5432,
    1900,
    3986,
    13,
    1029,
    9,
    5051,
    6646,
    49157,
    1028,
    873,
    1755,
    2717,
    4899,
    9100,
    119,
    37,
]
OTHER_KERNEL = [
    "TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.  Check SNMP counters.",
    "perf: interrupt took too long (2510 > 2500), lowering kernel.perf_event_max_sample_rate to 79500",
    'audit: type=1400 audit({audit}:{serial}): apparmor="STATUS" operation="profile_replace" profile="unconfined" name="/usr/sbin/tcpdump" pid={pid} comm="apparmor_parser"',
]


def exploded_v6(address: str) -> str:
    return ipaddress.IPv6Address(address).exploded


class FirewallModel(Model):
    """`kern.log` of a host behind UFW: the internet's background scanning, blocked."""

    default_rate = 0.5

    def __init__(self, rng: random.Random, host: str) -> None:
        super().__init__(rng, host)
        self.options = {}
        self.stamp = bsd_stamp()
        self.boot = None  # seconds of uptime are counted from a boot before the first line
        self.uptime_at_start = between(rng, 3 * 86400, 40 * 86400)
        nic = ":".join(f"{rng.getrandbits(8):02x}" for _ in range(5))
        gateway = ":".join(f"{rng.getrandbits(8):02x}" for _ in range(6))
        self.mac4 = f"96:{nic}:{gateway}:08:00"
        self.mac6 = f"96:{nic}:{gateway}:86:dd"
        self.dst6 = exploded_v6(SERVER_V6)
        self.source = Cycle(rng, PUBLIC_V4)
        self.v6_sources = [exploded_v6(public_v6(rng)) for _ in range(80)]
        self.tcp_port = picker(rng, SCAN_PORTS)
        self.udp_port = picker(rng, UDP_PORTS)
        self.kind = picker(
            rng,
            [
                (self._tcp_probe, 70),
                (self._udp_probe, 12),
                (self._icmp, 4),
                (self._v6_probe, 4),
                (self._ssh_limit, 2),
                (self._other, 1),
            ],
        )
        self.attack_kind = picker(rng, [(self._port_scan, 75), (self._ssh_flood, 25)])
        self.attacker = uniform(rng, ATTACKER_V4)

    def render(self, t: float, payload: Payload) -> str:
        if self.boot is None:
            self.boot = t - self.uptime_at_start
        up = t - self.boot
        return f"{self.stamp(t)} {self.host} kernel: [{int(up):5d}.{micros(up):06d}] {payload[1]}"

    def _tcp(
        self, src: str, ttl: int, spt: int, dpt: int, signature: tuple[int, int, str], prefix: str = "[UFW BLOCK]"
    ) -> Payload:
        length, window, df = signature
        return (
            "",
            f"{prefix} IN=eth0 OUT= MAC={self.mac4} SRC={src} DST={SERVER_V4} LEN={length} TOS=0x00 PREC=0x00 "
            f"TTL={ttl} ID={self.rng.getrandbits(16)}{df} PROTO=TCP SPT={spt} DPT={dpt} WINDOW={window} RES=0x00 SYN URGP=0\n",
        )

    def _signature(self) -> tuple[int, int, str]:
        return rng_choice(
            self.rng, [(40, 65535, ""), (44, 1024, ""), (60, 64240, " DF"), (52, 8192, " DF"), (60, 29200, " DF")]
        )

    def session(self, t: float) -> list[Event]:
        return self.kind()()

    def _tcp_probe(self) -> list[Event]:
        rng = self.rng
        src, ttl, spt, sig = self.source(), integer(rng, 40, 250), any_port(rng), self._signature()
        events: list[Event] = []
        at = 0.0
        for _ in range(rng_choice(rng, [1, 1, 1, 2, 3])):
            dpt = self.tcp_port() if rng.random() < 0.85 else any_port(rng)
            events.append((at, self._tcp(src, ttl, spt, dpt, sig)))
            if sig[2] and rng.random() < 0.4:  # a real TCP stack retransmits its SYN
                events.append((at + 1.0, self._tcp(src, ttl, spt, dpt, sig)))
            at += between(rng, 0.5, 30)
        return events

    def _udp_probe(self) -> list[Event]:
        rng = self.rng
        src, dpt = self.source(), self.udp_port()
        size = integer(rng, 48, 480)
        return [
            (
                0.0,
                (
                    "",
                    f"[UFW BLOCK] IN=eth0 OUT= MAC={self.mac4} SRC={src} DST={SERVER_V4} LEN={size} TOS=0x00 PREC=0x00 "
                    f"TTL={integer(rng, 40, 120)} ID={rng.getrandbits(16)} PROTO=UDP SPT={any_port(rng)} DPT={dpt} LEN={size - 20}\n",
                ),
            )
        ]

    def _icmp(self) -> list[Event]:
        rng = self.rng
        return [
            (
                0.0,
                (
                    "",
                    f"[UFW BLOCK] IN=eth0 OUT= MAC={self.mac4} SRC={self.source()} DST={SERVER_V4} LEN=84 TOS=0x00 PREC=0x00 "
                    f"TTL={integer(rng, 40, 120)} ID={rng.getrandbits(16)} DF PROTO=ICMP TYPE=8 CODE=0 ID={rng.getrandbits(16)} SEQ=1\n",
                ),
            )
        ]

    def _v6_probe(self) -> list[Event]:
        rng = self.rng
        return [
            (
                0.0,
                (
                    "",
                    f"[UFW BLOCK] IN=eth0 OUT= MAC={self.mac6} SRC={rng_choice(rng, self.v6_sources)} DST={self.dst6} LEN=80 TC=0 "
                    f"HOPLIMIT={integer(rng, 40, 64)} FLOWLBL={rng.getrandbits(20)} PROTO=TCP SPT={any_port(rng)} DPT={self.tcp_port()} "
                    f"WINDOW=64800 RES=0x00 SYN URGP=0\n",
                ),
            )
        ]

    def _ssh_limit(self) -> list[Event]:
        rng = self.rng
        src, ttl = self.source(), integer(rng, 40, 60)
        return [(0.0, self._tcp(src, ttl, any_port(rng), 22, (60, 64240, " DF"), "[UFW LIMIT BLOCK]"))]

    def _other(self) -> list[Event]:
        rng = self.rng
        text = rng_choice(rng, OTHER_KERNEL).format(
            audit=f"{1_795_000_000 + integer(rng, 0, 999999)}.{integer(rng, 100, 999)}",
            serial=integer(rng, 100, 9999),
            pid=integer(rng, 1000, 99999),
        )
        return [(0.0, ("", text + "\n"))]

    def attack(self, t: float) -> list[Event]:
        return self.attack_kind()()

    def _port_scan(self) -> list[Event]:
        """An nmap SYN scan: one source, one source port, many destination ports within seconds."""
        rng = self.rng
        src, spt, ttl = self.attacker(), any_port(rng), integer(rng, 37, 59)
        size = rng_choice(rng, [20, 60, 100, 100, 300])
        ports = rng.sample(NMAP_TOP_PORTS, min(size, len(NMAP_TOP_PORTS)))
        ports += rng.sample(range(1, 65536), max(0, size - len(ports)))
        ports = [p for p in ports if p not in (80, 443)]  # open ports are not logged
        events, at = [], 0.0
        for port in ports:
            events.append((at, self._tcp(src, ttl, spt, port, (44, 1024, ""))))
            at += rng.expovariate(60.0)
        return events

    def _ssh_flood(self) -> list[Event]:
        """Connection flood against the rate-limited SSH port."""
        rng = self.rng
        src, ttl = self.attacker(), integer(rng, 40, 60)
        events, at = [], 0.0
        for _ in range(integer(rng, 10, 40)):
            events.append((at, self._tcp(src, ttl, any_port(rng), 22, (60, 64240, " DF"), "[UFW LIMIT BLOCK]")))
            at += between(rng, 0.2, 2.5)
        return events
