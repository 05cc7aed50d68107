"""Two more `auth.log`s: a busy jump host (success-heavy) and a host under attack.

`BastionModel` is the bastion of a CI fleet and an operations team: about 23 % of the lines are
accepted SSH logins, 35 % `session opened` (sshd, sudo and cron), 10 % sudo, 15 % cron and 2 %
failed passwords from the internet. Hundreds of runners log in as dozens of service accounts,
so correlation meets many keys that never fire. `AttackedHostModel` is the classic exposed host
(`AuthModel`'s traffic, 13 % failures from 500+ sources) whose attack episodes add slow brute
force: one guess every few minutes for hours, under every short window.
"""

from __future__ import annotations

import random

from .auth import ADMIN_COMMANDS, DEPLOY_COMMANDS, AuthModel, _fingerprint
from .engine import Event
from .framing import AUTHPRIV_NOTICE
from .randomness import Cycle, between, integer, picker, rng_choice

RUNNERS = [f"10.20.{block}.{host}" for block in range(4) for host in range(10, 110)]  # 400 CI runners
SERVICE_ACCOUNTS = [f"ci-{team}" for team in ("web", "api", "data", "infra", "mobile", "ml", "ops", "qa")] + [
    f"deploy-{n:02d}" for n in range(40)
]
CRON_JOBS = [("root", 0), ("www-data", 33), ("backup", 1003), ("postgres", 112), ("prometheus", 115)]


class BastionModel(AuthModel):
    """A jump host: CI jobs log in and out all day, many run one sudo command, cron is busy."""

    default_rate = 25.0

    def __init__(self, rng: random.Random, host: str, framing: str = "bsd") -> None:
        super().__init__(rng, host, framing)
        self.runner = Cycle(rng, RUNNERS)
        self.account = picker(rng, [(name, 1.0 / (rank + 1)) for rank, name in enumerate(SERVICE_ACCOUNTS)])
        # session shares that give the line mix of the module docstring
        self.kind = picker(rng, [(self._ci_job, 59), (self._ci_sudo_job, 10), (self._cron, 22.5), (self._scanner, 6)])

    def _accepted(self, user: str, ip: str, pid: int) -> list[Event]:
        port = integer(self.rng, 32768, 60999)
        key = self.keys.get(user) or self.keys.setdefault(user, _fingerprint(self.rng))
        return [
            self.sshd(0.0, pid, f"Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 {key}"),
            self.sshd(0.01, pid, f"pam_unix(sshd:session): session opened for user {user}(uid={_uid(user)}) by (uid=0)"),
        ]

    def _ci_job(self) -> list[Event]:
        pid = self.new_pid()
        user = self.account()
        duration = between(self.rng, 0.5, 40)
        return [*self._accepted(user, self.runner(), pid), self.sshd(duration, pid, f"pam_unix(sshd:session): session closed for user {user}")]

    def _ci_sudo_job(self) -> list[Event]:
        rng = self.rng
        pid = self.new_pid()
        user = self.account()
        duration = between(rng, 2, 90)
        at = between(rng, 0.5, duration - 0.5)
        command = rng_choice(rng, DEPLOY_COMMANDS) if rng.random() < 0.7 else rng_choice(rng, ADMIN_COMMANDS)[0]
        return [
            *self._accepted(user, self.runner(), pid),
            self.rec(at, "sudo", None, f"{user:>8} : PWD=/home/{user} ; USER=root ; COMMAND={command}", AUTHPRIV_NOTICE),
            self.rec(at + 0.005, "sudo", None, f"pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid={_uid(user)})"),
            self.rec(at + between(rng, 0.05, 3.0), "sudo", None, "pam_unix(sudo:session): session closed for user root"),
            self.sshd(duration, pid, f"pam_unix(sshd:session): session closed for user {user}"),
        ]

    def _cron(self) -> list[Event]:
        pid = self.new_pid()
        user, uid = rng_choice(self.rng, CRON_JOBS)
        return [
            self.rec(0.0, "CRON", pid, f"pam_unix(cron:session): session opened for user {user}(uid={uid}) by (uid=0)"),
            self.rec(between(self.rng, 0.05, 20.0), "CRON", pid, f"pam_unix(cron:session): session closed for user {user}"),
        ]

    def _scanner(self) -> list[Event]:
        rng = self.rng
        ip, port, pid, user = self._internet_source(), integer(rng, 1024, 65535), self.new_pid(), self.noise_user()
        at = between(rng, 0.5, 3.0)
        return [
            self.sshd(0.0, pid, f"Invalid user {user} from {ip} port {port}"),
            self.sshd(at, pid, f"Failed password for invalid user {user} from {ip} port {port} ssh2"),
            self.sshd(at + 0.2, pid, f"Connection closed by invalid user {user} {ip} port {port} [preauth]"),
        ]

    def timers(self, start: float) -> list:
        return []  # cron runs as sessions here: too many jobs for one timer each


class AttackedHostModel(AuthModel):
    """`AuthModel`'s exposed host; its attack episodes include slow brute force."""

    def __init__(self, rng: random.Random, host: str, framing: str = "bsd") -> None:
        super().__init__(rng, host, framing)
        self.attack_kind = picker(
            rng, [(self._bruteforce, 35), (self._slow_bruteforce, 25), (self._enumeration, 25), (self._sudo_abuse, 15)]
        )

    def _slow_bruteforce(self) -> list[Event]:
        """One guess per connection every two to nine minutes, for hours: no ten-minute
        window ever holds six failures (fail2ban's default would not ban it)."""
        rng = self.rng
        ip = self._attack_source()
        user = rng_choice(rng, ["root", "admin", "ubuntu", "oracle", "git"])
        events: list[Event] = []
        at = 0.0
        for _ in range(integer(rng, 10, 40)):
            pid, port = self.new_pid(), integer(rng, 1024, 65535)
            events.append(self.sshd(at, pid, f"Failed password for {user} from {ip} port {port} ssh2"))
            events.append(self.sshd(at + 0.2, pid, f"Connection closed by authenticating user {user} {ip} port {port} [preauth]"))
            at += between(rng, 120, 540)
        return events


def _uid(user: str) -> int:
    return 2000 + sum(user.encode()) % 5000

