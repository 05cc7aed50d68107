"""`/var/log/auth.log` of an internet-facing Debian/Ubuntu host."""

from __future__ import annotations

import base64
import random

from .addresses import (
    ATTACKER_V4,
    BACKUP_HOST,
    CI_RUNNERS,
    OFFICE_VPN,
    PUBLIC_V4,
    any_port,
    attacker_v6,
    ephemeral_port,
    public_v6,
)
from .clock import civil, next_at
from .engine import Event, Model, Timer
from .framing import (
    AUTH_ERR,
    AUTH_INFO,
    AUTHPRIV_ALERT,
    AUTHPRIV_INFO,
    AUTHPRIV_NOTICE,
    Bsd,
    Framing,
    IsoSyslog,
    Rfc5424,
)
from .randomness import Cycle, between, integer, picker, rng_choice, uniform

NOISE_USERS = [
    ("admin", 30),
    ("test", 18),
    ("user", 16),
    ("ubuntu", 14),
    ("oracle", 8),
    ("postgres", 8),
    ("git", 7),
    ("ftpuser", 5),
    ("guest", 5),
    ("pi", 5),
    ("mysql", 4),
    ("hadoop", 3),
    ("minecraft", 3),
    ("steam", 2),
    ("ts3", 2),
    ("ftp", 3),
    ("dev", 4),
    ("jenkins", 4),
    ("sa", 2),
    ("teste", 2),
    ("usuario", 2),
    ("debian", 3),
    ("centos", 2),
    ("ec2-user", 3),
    ("azureuser", 2),
    ("sol", 3),
    ("solana", 3),
    ("validator", 2),
    ("node", 2),
    ("ubnt", 2),
    ("vagrant", 2),
    ("nagios", 2),
    ("odoo", 2),
    ("elastic", 2),
    ("es", 1),
    ("kafka", 1),
    ("zabbix", 2),
    ("redis", 2),
    ("tomcat", 2),
    ("www", 2),
    ("web", 2),
    ("demo", 2),
    ("server", 2),
]
KEX_OFFERS = [
    "diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1",
    "diffie-hellman-group1-sha1",
    "diffie-hellman-group-exchange-sha1,diffie-hellman-group14-sha1",
]
ADMINS = {"alice": 1000, "bob": 1001}
DEPLOY_UID, BACKUP_UID, SUPPORT_UID = 1002, 1003, 1004
ADMIN_COMMANDS = [
    ("/usr/bin/systemctl restart nginx", 6),
    ("/usr/bin/systemctl status shop-api", 5),
    ("/usr/bin/journalctl -u shop-api --since today", 5),
    ("/usr/bin/apt-get update", 3),
    ("/usr/bin/apt-get upgrade -y", 2),
    ("/usr/bin/tail -n 200 /var/log/nginx/error.log", 4),
    ("/usr/bin/less /var/log/auth.log", 2),
    ("/usr/bin/docker ps", 2),
    ("/usr/sbin/ufw status verbose", 2),
    ("/usr/bin/certbot renew --dry-run", 1),
    ("/bin/bash", 3),
    ("/usr/bin/vim /etc/nginx/sites-available/shop", 2),
    ("/usr/sbin/nginx -t", 3),
    ("/usr/bin/systemctl reload nginx", 3),
    ("/usr/bin/du -sh /var/log", 1),
]
DEPLOY_COMMANDS = [
    "/usr/bin/systemctl restart shop-api",
    "/usr/bin/systemctl reload nginx",
    "/usr/bin/systemctl restart shop-worker",
    "/usr/bin/rsync --server -logDtpre.iLsfxCIvu . /srv/shop/releases",
]
ATTACK_USERS = [
    "root",
    "admin",
    "ubuntu",
    "user",
    "test",
    "oracle",
    "postgres",
    "git",
    "deploy",
    "pi",
    "ftpuser",
    "guest",
    "support",
    "mysql",
    "administrator",
    "dev",
    "www-data",
    "backup",
    "nagios",
    "ansible",
    "jenkins",
    "docker",
    "minecraft",
    "hadoop",
    "test1",
    "test2",
    "web",
    "sysadmin",
    "operator",
    "info",
]


def _fingerprint(rng: random.Random) -> str:
    return "SHA256:" + base64.b64encode(rng.randbytes(32)).decode().rstrip("=")


class AuthModel(Model):
    """`/var/log/auth.log` of an internet-facing Debian/Ubuntu host: sshd (with the noise of the
    internet), PAM, sudo, cron and systemd-logind."""

    default_rate = 1.5

    def __init__(self, rng: random.Random, host: str, framing: str = "bsd") -> None:
        super().__init__(rng, host)
        self.options = {"framing": framing}
        self.framing: Framing = {"bsd": Bsd, "iso": IsoSyslog, "5424": Rfc5424}[framing]()
        self.frame = self.framing.payload
        self.render = self.framing.render  # type: ignore[method-assign]
        self.now = 0.0
        self.pid = integer(rng, 100_000, 900_000)
        self.logind_pid = integer(rng, 500, 900)
        self.session_id = integer(rng, 1_000, 20_000)
        self.noise_ip = Cycle(rng, PUBLIC_V4)
        self.noise_user = picker(rng, NOISE_USERS)
        self.keys = {user: _fingerprint(rng) for user in (*ADMINS, "deploy", "backup")}
        self.kind = picker(
            rng,
            [
                (self._noise_invalid_user, 30),
                (self._noise_known_user, 12),
                (self._noise_preauth, 18),
                (self._noise_key_only, 10),
                (self._deploy, 1.6),
                (self._admin, 1.0),
                (self._backup, 0.4),
            ],
        )
        self.attack_kind = picker(rng, [(self._bruteforce, 45), (self._enumeration, 35), (self._sudo_abuse, 20)])
        self.attacker = uniform(rng, ATTACKER_V4)
        self.admin_command = picker(rng, ADMIN_COMMANDS)

    def new_pid(self) -> int:
        """The next process id: increasing with gaps, wrapping at Linux's pid_max."""
        self.pid += integer(self.rng, 1, 40)
        if self.pid > 4_194_000:
            self.pid = 1_000
        return self.pid

    def rec(self, at: float, prog: str, pid: int | None, msg: str, pri: int = AUTHPRIV_INFO) -> Event:
        return (at, self.frame(self.host, prog, pid, msg, pri))

    def sshd(self, at: float, pid: int, msg: str, pri: int = AUTH_INFO) -> Event:
        return (at, self.frame(self.host, "sshd", pid, msg, pri))

    # -- benign ------------------------------------------------------------------------------
    def session(self, t: float) -> list[Event]:
        self.now = t
        return self.kind()()

    def _office_hours(self) -> bool:
        """Mostly 07:00-18:59 UTC on weekdays; the odd evening or weekend session happens."""
        g = civil(int(self.now))
        return (7 <= g.tm_hour < 19 and g.tm_wday < 5) or self.rng.random() < 0.08

    def _internet_source(self) -> str:
        return self.noise_ip() if self.rng.random() < 0.97 else public_v6(self.rng)

    def _noise_invalid_user(self) -> list[Event]:
        rng = self.rng
        ip, port, pid, user = self._internet_source(), any_port(rng), self.new_pid(), self.noise_user()
        at = between(rng, 0.3, 1.2)
        events = [self.sshd(0.0, pid, f"Invalid user {user} from {ip} port {port}")]
        if rng.random() < 0.8:  # tries a password
            events += [
                self.sshd(at, pid, "pam_unix(sshd:auth): check pass; user unknown", AUTHPRIV_NOTICE),
                self.sshd(
                    at,
                    pid,
                    f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}",
                    AUTHPRIV_NOTICE,
                ),
                self.sshd(
                    at + between(rng, 1.5, 3.0),
                    pid,
                    f"Failed password for invalid user {user} from {ip} port {port} ssh2",
                ),
            ]
            at += 3.2
        if rng.random() < 0.6:
            events.append(self.sshd(at + 0.1, pid, f"Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"))
            events.append(self.sshd(at + 0.1, pid, f"Disconnected from invalid user {user} {ip} port {port} [preauth]"))
        else:
            events.append(
                self.sshd(at + 0.2, pid, f"Connection closed by invalid user {user} {ip} port {port} [preauth]")
            )
        return events

    def _noise_known_user(self) -> list[Event]:
        rng = self.rng
        ip, port, pid = self._internet_source(), any_port(rng), self.new_pid()
        user = "root" if rng.random() < 0.85 else "deploy"
        at = between(rng, 1.5, 3.5)
        events = [
            self.sshd(
                at - 0.4,
                pid,
                f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}",
                AUTHPRIV_NOTICE,
            ),
            self.sshd(at, pid, f"Failed password for {user} from {ip} port {port} ssh2"),
        ]
        if rng.random() < 0.5:
            events.append(self.sshd(at + 0.2, pid, f"Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"))
            events.append(
                self.sshd(at + 0.2, pid, f"Disconnected from authenticating user {user} {ip} port {port} [preauth]")
            )
        else:
            events.append(
                self.sshd(at + 0.3, pid, f"Connection closed by authenticating user {user} {ip} port {port} [preauth]")
            )
        return events

    def _noise_preauth(self) -> list[Event]:
        """Banner grabbers and broken clients: never reach authentication."""
        rng = self.rng
        ip, port, pid = self._internet_source(), any_port(rng), self.new_pid()
        roll = rng.random()
        if roll < 0.35:
            return [self.sshd(0.0, pid, f"Connection closed by {ip} port {port} [preauth]")]
        if roll < 0.55:
            return [
                self.sshd(0.0, pid, "error: kex_exchange_identification: Connection closed by remote host", AUTH_ERR),
                self.sshd(0.0, pid, f"Connection closed by {ip} port {port}"),
            ]
        if roll < 0.7:
            return [
                self.sshd(
                    0.0,
                    pid,
                    f"Unable to negotiate with {ip} port {port}: no matching key exchange method found. Their offer: {rng_choice(rng, KEX_OFFERS)} [preauth]",
                )
            ]
        if roll < 0.8:
            return [self.sshd(0.0, pid, f"banner exchange: Connection from {ip} port {port}: invalid format")]
        if roll < 0.88:
            return [
                self.sshd(
                    0.0,
                    pid,
                    'error: kex_exchange_identification: client sent invalid protocol identifier "GET / HTTP/1.1"',
                    AUTH_ERR,
                ),
                self.sshd(0.0, pid, f"banner exchange: Connection from {ip} port {port}: invalid format"),
            ]
        if roll < 0.95:
            return [
                self.sshd(0.0, pid, f"Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"),
                self.sshd(0.0, pid, f"Disconnected from {ip} port {port} [preauth]"),
            ]
        return [self.sshd(0.0, pid, f"Timeout before authentication for {ip} port {port}", AUTH_ERR)]

    def _noise_key_only(self) -> list[Event]:
        """Scanners trying a user name with keys only (password authentication refused)."""
        rng = self.rng
        ip, port, pid, user = self._internet_source(), any_port(rng), self.new_pid(), self.noise_user()
        at = between(rng, 0.3, 2.0)
        return [
            self.sshd(0.0, pid, f"Invalid user {user} from {ip} port {port}"),
            self.sshd(at, pid, f"Connection closed by invalid user {user} {ip} port {port} [preauth]"),
        ]

    def _login(
        self,
        user: str,
        uid: int,
        ip: str,
        duration: float,
        commands: list[tuple[float, str, bool]],
        subsystem: bool = False,
        password: bool = False,
    ) -> list[Event]:
        """An accepted SSH login, its PAM session, logind, sudo commands and the logout."""
        rng = self.rng
        pid, port, session_id = self.new_pid(), ephemeral_port(rng), self.session_id
        self.session_id += integer(rng, 1, 6)
        method = (
            f"password for {user} from {ip} port {port} ssh2"
            if password
            else f"publickey for {user} from {ip} port {port} ssh2: ED25519 {self.keys.get(user, _fingerprint(rng))}"
        )
        events = [
            self.sshd(0.0, pid, f"Accepted {method}"),
            self.sshd(0.01, pid, f"pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)"),
            self.rec(0.03, "systemd-logind", self.logind_pid, f"New session {session_id} of user {user}.", AUTH_INFO),
        ]
        if subsystem:
            events.append(self.sshd(0.2, pid, f"subsystem request for sftp by user {user}"))
        tty = f"pts/{integer(rng, 0, 3)}"
        for at, command, with_tty in commands:
            where = f"TTY={tty} ; " if with_tty else ""
            events.append(
                self.rec(
                    at,
                    "sudo",
                    None,
                    f"{user:>8} : {where}PWD=/home/{user} ; USER=root ; COMMAND={command}",
                    AUTHPRIV_NOTICE,
                )
            )
            events.append(
                self.rec(
                    at + 0.005,
                    "sudo",
                    None,
                    f"pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid={uid})",
                )
            )
            events.append(
                self.rec(
                    at + between(rng, 0.05, 4.0), "sudo", None, "pam_unix(sudo:session): session closed for user root"
                )
            )
        events += [
            self.sshd(duration, pid, f"Received disconnect from {ip} port {port}:11: disconnected by user"),
            self.sshd(duration, pid, f"Disconnected from user {user} {ip} port {port}"),
            self.sshd(duration + 0.01, pid, f"pam_unix(sshd:session): session closed for user {user}"),
            self.rec(
                duration + 0.02,
                "systemd-logind",
                self.logind_pid,
                f"Session {session_id} logged out. Waiting for processes to exit.",
                AUTH_INFO,
            ),
            self.rec(duration + 0.03, "systemd-logind", self.logind_pid, f"Removed session {session_id}.", AUTH_INFO),
        ]
        return events

    def _deploy(self) -> list[Event]:
        """CI deploys over SSH (ansible-style `become`, no TTY)."""
        rng = self.rng
        duration = between(rng, 4, 60)
        commands = []
        for _ in range(integer(rng, 1, 3)):
            if rng.random() < 0.5:
                token = "".join(rng_choice(rng, "abcdefghijklmnopqrstuvwxyz") for _ in range(32))
                command = f"/bin/sh -c echo BECOME-SUCCESS-{token} ; /usr/bin/python3"
            else:
                command = rng_choice(rng, DEPLOY_COMMANDS)
            commands.append((between(rng, 1, duration - 1), command, False))
        commands.sort()
        return self._login("deploy", DEPLOY_UID, rng_choice(rng, CI_RUNNERS), duration, commands)

    def _admin(self) -> list[Event]:
        """An administrator's interactive session from the office VPN, with a few sudo commands."""
        rng = self.rng
        if not self._office_hours():
            return self._noise_invalid_user()
        user = rng_choice(rng, list(ADMINS))
        duration = between(rng, 120, 3600)
        commands = sorted(
            (between(rng, 5, duration - 5), self.admin_command(), True) for _ in range(integer(rng, 0, 4))
        )
        return self._login(user, ADMINS[user], rng_choice(rng, OFFICE_VPN), duration, commands)

    def _backup(self) -> list[Event]:
        return self._login("backup", BACKUP_UID, BACKUP_HOST, between(self.rng, 20, 400), [], subsystem=True)

    def timers(self, start: float) -> list[tuple[float, Timer]]:
        """cron: a */5 app job as www-data, php session cleanup at :09 and :39, cron.hourly at :17."""

        def job(user: str, uid: int, period: float, phase: float) -> Timer:
            def fire(t: float) -> tuple[list[Event], float]:
                pid = self.new_pid()
                return [
                    self.rec(
                        0.0,
                        "CRON",
                        pid,
                        f"pam_unix(cron:session): session opened for user {user}(uid={uid}) by (uid=0)",
                    ),
                    self.rec(
                        between(self.rng, 0.05, 2.5),
                        "CRON",
                        pid,
                        f"pam_unix(cron:session): session closed for user {user}",
                    ),
                ], t + period

            return Timer(fire)

        jobs = [("www-data", 33, 300.0, 0.0), ("root", 0, 1800.0, 540.0), ("root", 0, 3600.0, 1020.0)]
        return [
            (next_at(start, period, phase) + 0.02, job(user, uid, period, phase)) for user, uid, period, phase in jobs
        ]

    # -- attacks -----------------------------------------------------------------------------
    def attack(self, t: float) -> list[Event]:
        return self.attack_kind()()

    def _attack_source(self) -> str:
        return self.attacker() if self.rng.random() < 0.92 else attacker_v6(self.rng)

    def _bruteforce(self) -> list[Event]:
        """Password guessing against one account over several connections (up to MaxAuthTries 6
        each); sometimes it works, and the intruder logs in."""
        rng = self.rng
        ip = self._attack_source()
        user = rng_choice(rng, ["root", "root", "admin", "ubuntu", "support"])
        events: list[Event] = []
        start = 0.0
        for _ in range(integer(rng, 2, 14)):
            pid, port = self.new_pid(), any_port(rng)
            tries = rng_choice(rng, [3, 6, 6, 6])
            at = start + between(rng, 0.5, 2.0)
            events.append(
                self.sshd(
                    at - 0.1,
                    pid,
                    f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}",
                    AUTHPRIV_NOTICE,
                )
            )
            for _ in range(tries):
                events.append(self.sshd(at, pid, f"Failed password for {user} from {ip} port {port} ssh2"))
                at += between(rng, 1.8, 4.0)
            if tries == 6:
                events.append(
                    self.sshd(
                        at,
                        pid,
                        f"error: maximum authentication attempts exceeded for {user} from {ip} port {port} ssh2 [preauth]",
                        AUTH_ERR,
                    )
                )
                events.append(
                    self.sshd(
                        at,
                        pid,
                        f"Disconnecting authenticating user {user} {ip} port {port}: Too many authentication failures [preauth]",
                    )
                )
                events.append(
                    self.sshd(
                        at,
                        pid,
                        f"PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}",
                        AUTHPRIV_NOTICE,
                    )
                )
                events.append(self.sshd(at, pid, "PAM service(sshd) ignoring max retries; 6 > 3", AUTHPRIV_NOTICE))
            else:
                events.append(
                    self.sshd(
                        at + 0.2, pid, f"Connection closed by authenticating user {user} {ip} port {port} [preauth]"
                    )
                )
                events.append(
                    self.sshd(
                        at + 0.2,
                        pid,
                        f"PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}",
                        AUTHPRIV_NOTICE,
                    )
                )
            start += between(rng, 2.0, 25.0)
        if user == "support" and rng.random() < 0.5:  # the weak password of a forgotten account
            events += [(start + at, item) for at, item in self._intruder_session(ip)]
        return events

    def _intruder_session(self, ip: str) -> list[Event]:
        """The guessed password works: a login from the attacker's address, and sudo refused."""
        rng = self.rng
        tries_sudo_at = between(rng, 20, 60)
        events = self._login("support", SUPPORT_UID, ip, between(rng, 300, 900), [], password=True)
        refusal = (
            f"{'support':>8} : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/support ; USER=root ; COMMAND=/bin/bash"
        )
        events.append(self.rec(tries_sudo_at, "sudo", None, refusal, AUTHPRIV_ALERT))
        return events

    def _enumeration(self) -> list[Event]:
        """One source walking a list of user names (OpenSSH says which ones are invalid)."""
        rng = self.rng
        ip = self._attack_source()
        events: list[Event] = []
        at = 0.0
        for user in rng.sample(ATTACK_USERS, integer(rng, 8, len(ATTACK_USERS))):
            pid, port = self.new_pid(), any_port(rng)
            valid = user in ("root", "deploy", "backup", "support")
            if not valid:
                events.append(self.sshd(at, pid, f"Invalid user {user} from {ip} port {port}"))
            fail = at + between(rng, 0.8, 2.5)
            if valid:
                events.append(self.sshd(fail, pid, f"Failed password for {user} from {ip} port {port} ssh2"))
                events.append(
                    self.sshd(
                        fail + 0.1, pid, f"Connection closed by authenticating user {user} {ip} port {port} [preauth]"
                    )
                )
            else:
                events.append(
                    self.sshd(
                        fail - 0.2,
                        pid,
                        f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}",
                        AUTHPRIV_NOTICE,
                    )
                )
                events.append(
                    self.sshd(fail, pid, f"Failed password for invalid user {user} from {ip} port {port} ssh2")
                )
                events.append(
                    self.sshd(fail + 0.1, pid, f"Received disconnect from {ip} port {port}:11: Bye Bye [preauth]")
                )
                events.append(
                    self.sshd(fail + 0.1, pid, f"Disconnected from invalid user {user} {ip} port {port} [preauth]")
                )
            at += between(rng, 0.3, 4.0)
        return events

    def _sudo_abuse(self) -> list[Event]:
        """A stolen password used from outside: the login works, sudo does not."""
        rng = self.rng
        ip = self._attack_source()
        user, uid = "support", SUPPORT_UID
        duration = between(rng, 120, 900)
        events = self._login(user, uid, ip, duration, [], password=True)
        at = between(rng, 10, 40)
        for command in rng.sample(
            [
                "/bin/bash",
                "/usr/bin/cat /etc/shadow",
                "/usr/bin/id",
                "/usr/sbin/useradd -m -s /bin/bash sysadm",
                "/usr/bin/su -",
            ],
            integer(rng, 1, 3),
        ):
            events.append(
                self.rec(
                    at,
                    "sudo",
                    None,
                    f"pam_unix(sudo:auth): authentication failure; logname={user} uid={uid} euid=0 tty=/dev/pts/1 ruser={user} rhost=  user={user}",
                    AUTHPRIV_NOTICE,
                )
            )
            events.append(
                self.rec(
                    at + between(rng, 6, 15),
                    "sudo",
                    None,
                    f"{user:>8} : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/{user} ; USER=root ; COMMAND={command}",
                    AUTHPRIV_ALERT,
                )
            )
            at += between(rng, 20, 60)
        if at < duration:
            events.append(
                self.rec(
                    at,
                    "sudo",
                    None,
                    f"{user:>8} : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh",
                    AUTHPRIV_ALERT,
                )
            )
        return events
