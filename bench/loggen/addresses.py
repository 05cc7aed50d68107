"""The address plan: documentation ranges for the internet, RFC 1918 for internal hosts.

Attack traffic comes only from ATTACK_NETWORKS; benign traffic never does, so a test (or a
reader) can tell them apart by address alone.
"""

from __future__ import annotations

import random

from .randomness import integer

ATTACK_NETWORKS = ("203.0.113.128/25", "2001:db8:bad::/48")


def _v4(prefix: str, first: int, last: int) -> list[str]:
    return [f"{prefix}.{i}" for i in range(first, last + 1)]


PUBLIC_V4 = _v4("198.51.100", 1, 254) + _v4("203.0.113", 1, 127) + _v4("192.0.2", 128, 254)
CRAWLER_V4 = _v4("192.0.2", 16, 63)
ATTACKER_V4 = _v4("203.0.113", 128, 254)
SERVER_V4 = "192.0.2.10"
SERVER_V6 = "2001:db8:10::10"
OFFICE_VPN = _v4("10.8.0", 2, 40)
CI_RUNNERS = ["10.20.0.15", "10.20.0.16"]
BACKUP_HOST = "10.0.3.5"
MONITOR_INTERNAL = "10.0.1.20"
MONITOR_EXTERNAL = "192.0.2.70"


def public_v6(rng: random.Random) -> str:
    """A benign client address in 2001:db8:1000::/36 .. 2001:db8:9fff::/48 (never 2001:db8:bad::)."""
    return (
        f"2001:db8:{integer(rng, 0x1000, 0x9FFF):x}:{rng.getrandbits(16):x}:"
        f"{rng.getrandbits(16):x}:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}"
    )


def attacker_v6(rng: random.Random) -> str:
    return f"2001:db8:bad:{rng.getrandbits(16):x}::{integer(rng, 1, 0xFFFF):x}"


def ephemeral_port(rng: random.Random) -> int:
    return integer(rng, 32768, 60999)


def any_port(rng: random.Random) -> int:
    return integer(rng, 1024, 65535)
