"""Web server error logs: Apache 2.4 `error_log` and nginx `error.log`."""

from __future__ import annotations

import base64
import random

from .addresses import ATTACKER_V4, OFFICE_VPN, PUBLIC_V4, SERVER_V4, any_port
from .clock import WEB_DAY, apache_stamp, civil, micros, next_at, nginx_stamp
from .engine import Event, Model, Payload, Timer
from .randomness import between, integer, picker, rng_choice, uniform
from .web import CATEGORIES, DOTFILE_PATHS, PROBE_PATHS, nginx_escape


class ApacheErrorModel(Model):
    """Apache 2.4 `error_log` in front of PHP-FPM: PHP warnings, proxy errors, access denials."""

    default_rate = 0.1
    day = WEB_DAY

    def __init__(self, rng: random.Random, host: str) -> None:
        super().__init__(rng, host)
        self.options = {}
        self.stamp = apache_stamp()
        self.main_pid = integer(rng, 600, 1200)
        self.children = {
            integer(rng, 20_000, 90_000): [integer(rng, 139_900_000_000_000, 140_999_999_999_999) for _ in range(25)]
            for _ in range(4)
        }
        self.clients = uniform(rng, PUBLIC_V4)
        self.kind = picker(
            rng,
            [
                (self._php_warning, 35),
                (self._fcgi_error, 12),
                (self._backend_down, 8),
                (self._denied_status, 8),
                (self._directory, 5),
                (self._auth_typo, 4),
                (self._timeout, 6),
            ],
        )
        self.attack_kind = picker(
            rng, [(self._modsecurity, 30), (self._traversal, 20), (self._probes, 30), (self._basic_auth, 20)]
        )
        self.attacker = uniform(rng, ATTACKER_V4)

    def render(self, t: float, payload: Payload) -> str:
        g = civil(int(t))
        return f"[{self.stamp(t)}.{micros(t):06d} {g.tm_year}] {payload[1]}"

    def worker(self) -> str:
        pid = rng_choice(self.rng, list(self.children))
        return f"[pid {pid}:tid {rng_choice(self.rng, self.children[pid])}]"

    def rec(
        self, at: float, module: str, level: str, text: str, client: str | None = None, referer: str | None = None
    ) -> Event:
        where = f" [client {client}:{any_port(self.rng)}]" if client else ""
        tail = f", referer: {referer}" if referer else ""
        return (at, ("", f"[{module}:{level}] {self.worker()}{where} {text}{tail}\n"))

    def session(self, t: float) -> list[Event]:
        return self.kind()()

    def _php_warning(self) -> list[Event]:
        rng = self.rng
        text = rng_choice(
            rng,
            [
                "AH01071: Got error 'PHP message: PHP Warning:  Undefined array key \"page\" in /var/www/shop/includes/pagination.php on line 42'",
                "AH01071: Got error 'PHP message: PHP Warning:  Undefined variable $cart in /var/www/shop/cart.php on line 88'",
                "AH01071: Got error 'PHP message: PHP Deprecated:  strlen(): Passing null to parameter #1 ($string) of type string is deprecated in /var/www/shop/lib/Text.php on line 17'",
                "AH01071: Got error 'PHP message: PHP Warning:  Trying to access array offset on value of type null in /var/www/shop/product.php on line 133'",
            ],
        )
        return [
            self.rec(
                0.0,
                "proxy_fcgi",
                "error",
                text,
                self.clients(),
                f"https://www.example.com/category/{rng_choice(rng, CATEGORIES)}",
            )
        ]

    def _fcgi_error(self) -> list[Event]:
        return [
            self.rec(
                0.0,
                "proxy_fcgi",
                "error",
                "AH01071: Got error 'PHP message: PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /var/www/shop/lib/Db.php:31\\nStack trace:\\n#0 /var/www/shop/lib/Db.php(31): PDO->__construct()\\n#1 {main}\\n  thrown in /var/www/shop/lib/Db.php on line 31'",
                self.clients(),
            )
        ]

    def _backend_down(self) -> list[Event]:
        """php-fpm restarting during a deploy: a short burst of connection errors."""
        rng = self.rng
        events: list[Event] = []
        at = 0.0
        for _ in range(integer(rng, 1, 4)):
            client = self.clients()
            events.append(
                self.rec(
                    at,
                    "proxy",
                    "error",
                    "(111)Connection refused: AH00957: FCGI: attempt to connect to 127.0.0.1:9000 (127.0.0.1:9000) failed",
                )
            )
            events.append(
                self.rec(at, "proxy_fcgi", "error", "AH01079: failed to make connection to backend: 127.0.0.1", client)
            )
            at += between(rng, 0.1, 2)
        return events

    def _denied_status(self) -> list[Event]:
        return [
            self.rec(
                0.0,
                "authz_core",
                "error",
                "AH01630: client denied by server configuration: /var/www/html/server-status",
                rng_choice(self.rng, OFFICE_VPN),
            )
        ]

    def _directory(self) -> list[Event]:
        return [
            self.rec(
                0.0,
                "autoindex",
                "error",
                "AH01276: Cannot serve directory /var/www/shop/static/: No matching DirectoryIndex (index.php,index.html) found, and server-generated directory index forbidden by Options directive",
                self.clients(),
            )
        ]

    def _auth_typo(self) -> list[Event]:
        rng = self.rng
        user = rng_choice(rng, ["alice", "bob", "carol"])
        return [
            self.rec(
                0.0,
                "auth_basic",
                "error",
                f'AH01617: user {user}: authentication failure for "/admin/": Password Mismatch',
                rng_choice(rng, OFFICE_VPN),
            )
        ]

    def _timeout(self) -> list[Event]:
        return [
            self.rec(0.0, "proxy_fcgi", "error", "AH01075: Error dispatching request to : (polling)", self.clients())
        ]

    def timers(self, start: float) -> list[tuple[float, Timer]]:
        """logrotate's nightly graceful restart."""

        def fire(t: float) -> tuple[list[Event], float]:
            main = f"[pid {self.main_pid}:tid {self.children[next(iter(self.children))][0]}]"
            return [
                (0.0, ("", f"[mpm_event:notice] {main} AH00493: SIGUSR1 received.  Doing graceful restart\n")),
                (
                    0.08,
                    (
                        "",
                        f"[ssl:warn] {main} AH01909: www.example.com:443:0 server certificate does NOT include an ID which matches the server name\n",
                    ),
                ),
                (
                    0.1,
                    (
                        "",
                        f"[mpm_event:notice] {main} AH00489: Apache/2.4.65 (Debian) OpenSSL/3.5.1 configured -- resuming normal operations\n",
                    ),
                ),
                (0.1, ("", f"[core:notice] {main} AH00094: Command line: '/usr/sbin/apache2'\n")),
            ], t + 86400

        return [(next_at(start, 86400.0) + 0.35, Timer(fire))]

    def attack(self, t: float) -> list[Event]:
        return self.attack_kind()()

    def _modsecurity(self) -> list[Event]:
        rng = self.rng
        ip = self.attacker()
        events: list[Event] = []
        at = 0.0
        for _ in range(integer(rng, 3, 15)):
            uid = base64.b64encode(rng.randbytes(18)).decode().replace("/", "A").replace("+", "B")
            uri = rng_choice(rng, ["/products", "/search", "/index.php"])
            data, rule, msg, tag = rng_choice(
                rng,
                [
                    ("1' OR '1'='1", "942100", "SQL Injection Attack Detected via libinjection", "attack-sqli"),
                    (
                        "1 UNION ALL SELECT NULL,NULL,NULL-- -",
                        "942100",
                        "SQL Injection Attack Detected via libinjection",
                        "attack-sqli",
                    ),
                    ("<script>alert(1)</script>", "941100", "XSS Attack Detected via libinjection", "attack-xss"),
                ],
            )
            detail = (
                f'[file "/usr/share/modsecurity-crs/rules/REQUEST-9{rule[1:3]}-APPLICATION-ATTACK-{"SQLI" if "sqli" in tag else "XSS"}.conf"] '
                f'[line "66"] [id "{rule}"] [msg "{msg}"] [data "Matched Data: {data} found within ARGS:q: {data}"] [severity "CRITICAL"] '
                f'[ver "OWASP_CRS/4.7.0"] [tag "{tag}"] [hostname "www.example.com"] [uri "{uri}"] [unique_id "{uid}"]'
            )
            events.append(
                self.rec(at, "security2", "error", f"[client {ip}] ModSecurity: Warning. {msg}. {detail}", ip)
            )
            events.append(
                self.rec(
                    at,
                    "security2",
                    "error",
                    f'[client {ip}] ModSecurity: Access denied with code 403 (phase 2). Operator GE matched 5 at TX:blocking_inbound_anomaly_score. [file "/usr/share/modsecurity-crs/rules/REQUEST-949-BLOCKING-EVALUATION.conf"] [line "222"] [id "949110"] [msg "Inbound Anomaly Score Exceeded (Total Score: 5)"] [ver "OWASP_CRS/4.7.0"] [tag "anomaly-evaluation"] [hostname "www.example.com"] [uri "{uri}"] [unique_id "{uid}"]',
                    ip,
                )
            )
            at += between(rng, 0.3, 3)
        return events

    def _traversal(self) -> list[Event]:
        rng = self.rng
        ip = self.attacker()
        events: list[Event] = []
        at = 0.0
        for _ in range(integer(rng, 2, 8)):
            if rng.random() < 0.5:
                events.append(
                    self.rec(
                        at,
                        "core",
                        "error",
                        f"AH10244: invalid URI path (/cgi-bin/.%2e/.%2e/.%2e/.%2e/{rng_choice(rng, ['etc/passwd', 'bin/sh'])})",
                        ip,
                    )
                )
            else:
                events.append(
                    self.rec(
                        at,
                        "core",
                        "error",
                        "AH00126: Invalid URI in request GET /..%2f..%2f..%2f..%2fetc%2fpasswd HTTP/1.1",
                        ip,
                    )
                )
            at += between(rng, 0.2, 2)
        return events

    def _probes(self) -> list[Event]:
        rng = self.rng
        ip = self.attacker()
        events: list[Event] = []
        at = 0.0
        for path in rng.sample(PROBE_PATHS, integer(rng, 5, 25)):
            if path.startswith("/."):
                events.append(
                    self.rec(
                        at,
                        "authz_core",
                        "error",
                        f"AH01630: client denied by server configuration: /var/www/shop{path}",
                        ip,
                    )
                )
            elif path.endswith(".php"):
                events.append(self.rec(at, "proxy_fcgi", "error", "AH01071: Got error 'Primary script unknown'", ip))
            else:
                continue
            at += between(rng, 0.05, 1)
        if not events:
            events.append(self.rec(0.0, "core", "error", "AH00135: Invalid method in request \\x16\\x03\\x01\\x02", ip))
        return events

    def _basic_auth(self) -> list[Event]:
        rng = self.rng
        ip = self.attacker()
        events: list[Event] = []
        at = 0.0
        for _ in range(integer(rng, 6, 30)):
            user = rng_choice(rng, ["admin", "alice", "root", "administrator", "test"])
            if user == "alice":
                events.append(
                    self.rec(
                        at,
                        "auth_basic",
                        "error",
                        f'AH01617: user {user}: authentication failure for "/admin/": Password Mismatch',
                        ip,
                    )
                )
            else:
                events.append(self.rec(at, "auth_basic", "error", f"AH01618: user {user} not found: /admin/", ip))
            at += between(rng, 0.2, 2)
        return events


class NginxErrorModel(Model):
    """nginx `error.log` of a reverse proxy in front of the shop API."""

    default_rate = 0.1
    day = WEB_DAY

    def __init__(self, rng: random.Random, host: str) -> None:
        super().__init__(rng, host)
        self.options = {}
        self.stamp = nginx_stamp()
        self.master = integer(rng, 700, 1200)
        self.workers = [self.master + 1, self.master + 2]
        self.connection = integer(rng, 10_000, 900_000)
        self.clients = uniform(rng, PUBLIC_V4)
        self.kind = picker(
            rng,
            [
                (self._missing_file, 30),
                (self._upstream_timeout, 15),
                (self._deploy_refused, 8),
                (self._buffered, 15),
                (self._ssl_handshake, 20),
                (self._premature, 8),
            ],
        )
        self.attack_kind = picker(
            rng, [(self._dotfiles, 35), (self._rate_limited, 30), (self._php_probes, 25), (self._big_body, 10)]
        )
        self.attacker = uniform(rng, ATTACKER_V4)

    def render(self, t: float, payload: Payload) -> str:
        return self.stamp(t) + payload[1]

    def rec(
        self,
        at: float,
        level: str,
        text: str,
        client: str | None = None,
        request: str | None = None,
        upstream: str | None = None,
        host: str | None = "www.example.com",
        referrer: str | None = None,
        server: str = "www.example.com",
        connection: bool = True,
    ) -> Event:
        worker = rng_choice(self.rng, self.workers)
        conn = ""
        if connection:
            self.connection += integer(self.rng, 1, 400)
            conn = f"*{self.connection} "
        context = ""
        if client:
            context = f", client: {client}, server: {server}"
            if request:
                context += f', request: "{nginx_escape(request)}"'
            if upstream:
                context += f', upstream: "{upstream}"'
            if host and request:
                context += f', host: "{host}"'
            if referrer:
                context += f', referrer: "{referrer}"'
        return (at, ("", f" [{level}] {worker}#{worker}: {conn}{text}{context}\n"))

    def session(self, t: float) -> list[Event]:
        return self.kind()()

    def _missing_file(self) -> list[Event]:
        rng = self.rng
        path = rng_choice(
            rng,
            [
                "/apple-touch-icon.png",
                "/apple-touch-icon-precomposed.png",
                "/ads.txt",
                "/images/products/1337-800.webp",
            ],
        )
        return [
            self.rec(
                0.0,
                "error",
                f'open() "/var/www/shop/public{path}" failed (2: No such file or directory)',
                self.clients(),
                f"GET {path} HTTP/2.0",
            )
        ]

    def _upstream_timeout(self) -> list[Event]:
        rng = self.rng
        path = rng_choice(
            rng, ["/api/v1/search?q=boots", "/api/v1/products?category=sale&page=4", "/api/v1/orders?limit=50"]
        )
        return [
            self.rec(
                0.0,
                "error",
                "upstream timed out (110: Connection timed out) while reading response header from upstream",
                self.clients(),
                f"GET {path} HTTP/2.0",
                f"http://127.0.0.1:8000{path}",
                referrer="https://www.example.com/",
            )
        ]

    def _deploy_refused(self) -> list[Event]:
        rng = self.rng
        events: list[Event] = []
        at = 0.0
        for _ in range(integer(rng, 2, 8)):
            events.append(
                self.rec(
                    at,
                    "error",
                    "connect() failed (111: Connection refused) while connecting to upstream",
                    self.clients(),
                    "GET /api/v1/cart HTTP/2.0",
                    "http://127.0.0.1:8000/api/v1/cart",
                )
            )
            at += between(rng, 0.05, 1.5)
        return events

    def _premature(self) -> list[Event]:
        return [
            self.rec(
                0.0,
                "error",
                "upstream prematurely closed connection while reading response header from upstream",
                self.clients(),
                "POST /api/v1/orders HTTP/2.0",
                "http://127.0.0.1:8000/api/v1/orders",
            )
        ]

    def _buffered(self) -> list[Event]:
        rng = self.rng
        if rng.random() < 0.5:
            return [
                self.rec(
                    0.0,
                    "warn",
                    f"an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/{integer(rng, 0, 9)}/{integer(rng, 10, 99)}/00000{integer(rng, 10000, 99999)} while reading upstream",
                    self.clients(),
                    "GET /api/v1/products?limit=200 HTTP/2.0",
                    "http://127.0.0.1:8000/api/v1/products?limit=200",
                )
            ]
        return [
            self.rec(
                0.0,
                "warn",
                f"a client request body is buffered to a temporary file /var/cache/nginx/client_temp/00000{integer(rng, 10000, 99999)}",
                self.clients(),
                "POST /api/v1/uploads HTTP/2.0",
            )
        ]

    def _ssl_handshake(self) -> list[Event]:
        rng = self.rng
        reason = rng_choice(
            rng,
            [
                "SSL: error:0A00006C:SSL routines::bad key share",
                "SSL: error:0A000102:SSL routines::unsupported protocol",
                "SSL: error:0A0000C1:SSL routines::no shared cipher",
            ],
        )
        return [
            self.rec(
                0.0,
                "crit",
                f"SSL_do_handshake() failed ({reason}) while SSL handshaking",
                self.clients(),
                server="0.0.0.0:443",
            )
        ]

    def timers(self, start: float) -> list[tuple[float, Timer]]:
        """logrotate's nightly USR1: the master and each worker reopen their logs."""

        def fire(t: float) -> tuple[list[Event], float]:
            events = [
                (
                    0.0,
                    (
                        "",
                        f" [notice] {self.master}#{self.master}: signal 10 (SIGUSR1) received from {integer(self.rng, 20000, 90000)}, reopening logs\n",
                    ),
                ),
                (0.0, ("", f" [notice] {self.master}#{self.master}: reopening logs\n")),
            ]
            events += [(0.01, ("", f" [notice] {w}#{w}: reopening logs\n")) for w in self.workers]
            return events, t + 86400

        return [(next_at(start, 86400.0) + 0.02, Timer(fire))]

    def attack(self, t: float) -> list[Event]:
        return self.attack_kind()()

    def _dotfiles(self) -> list[Event]:
        rng = self.rng
        ip = self.attacker()
        events: list[Event] = []
        at = 0.0
        for path in rng.sample(DOTFILE_PATHS, integer(rng, 3, len(DOTFILE_PATHS))):
            if path.startswith("/.git"):
                events.append(
                    self.rec(at, "error", "access forbidden by rule", ip, f"GET {path} HTTP/1.1", host=SERVER_V4)
                )
            else:
                events.append(
                    self.rec(
                        at,
                        "error",
                        f'open() "/var/www/shop/public{path}" failed (2: No such file or directory)',
                        ip,
                        f"GET {path} HTTP/1.1",
                        host=SERVER_V4,
                    )
                )
            at += between(rng, 0.05, 1)
        return events

    def _php_probes(self) -> list[Event]:
        rng = self.rng
        ip = self.attacker()
        events: list[Event] = []
        at = 0.0
        for path in rng.sample([p for p in PROBE_PATHS if p.endswith(".php") or p.endswith("/")], integer(rng, 5, 20)):
            if path.endswith("/"):
                events.append(
                    self.rec(
                        at,
                        "error",
                        f'directory index of "/var/www/shop/public{path}" is forbidden',
                        ip,
                        f"GET {path} HTTP/1.1",
                    )
                )
            else:
                events.append(
                    self.rec(
                        at,
                        "error",
                        f'open() "/var/www/shop/public{path}" failed (2: No such file or directory)',
                        ip,
                        f"GET {path} HTTP/1.1",
                    )
                )
            at += between(rng, 0.05, 0.8)
        return events

    def _rate_limited(self) -> list[Event]:
        """Credential stuffing hitting the `limit_req zone=login` of the login endpoint."""
        rng = self.rng
        ip = self.attacker()
        events: list[Event] = []
        at = 0.0
        for _ in range(integer(rng, 5, 40)):
            events.append(
                self.rec(
                    at,
                    "error",
                    f'limiting requests, excess: {between(rng, 5, 20):.3f} by zone "login"',
                    ip,
                    "POST /login HTTP/1.1",
                    referrer="https://www.example.com/login",
                )
            )
            at += between(rng, 0.1, 1.5)
        return events

    def _big_body(self) -> list[Event]:
        ip = self.attacker()
        return [
            self.rec(
                0.0,
                "error",
                f"client intended to send too large body: {integer(self.rng, 20, 900) * 1048576} bytes",
                ip,
                "POST /api/v1/uploads HTTP/1.1",
            )
        ]
