"""Application logs (JSON lines, logfmt): requests, logins, password resets, role changes,
lockouts and business events of a shop API and a billing service.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from .addresses import ATTACKER_V4, OFFICE_VPN, PUBLIC_V4, public_v6
from .clock import WEB_DAY, iso_stamp, micros
from .engine import Event, Model, Payload
from .randomness import between, integer, picker, rng_choice, uniform, zipf_weights

FIRST = [
    "maria",
    "james",
    "sofia",
    "liam",
    "emma",
    "noah",
    "olivia",
    "lucas",
    "mia",
    "ben",
    "lena",
    "jonas",
    "ana",
    "luca",
    "chloe",
    "david",
    "sara",
    "tom",
    "nina",
    "paul",
    "julia",
    "felix",
    "hannah",
    "leo",
]
LAST = [
    "garcia",
    "smith",
    "muller",
    "rossi",
    "martin",
    "novak",
    "jensen",
    "silva",
    "kowalski",
    "brown",
    "dubois",
    "schmidt",
    "costa",
    "nielsen",
    "weber",
    "moreau",
]
STAFF = {
    "admin1": "admin",
    "admin2": "admin",
    "alice": "editor",
    "bob": "viewer",
    "carol": "editor",
    "dave": "support",
    "finance.eva": "finance",
}
ROLES = ["viewer", "editor", "support", "finance", "admin"]


_JSON_PLAIN = re.compile(r"[ !#-\[\]-~]*\Z")  # printable ASCII without `"` and `\`
_LOGFMT_BARE = re.compile(r"[!#-<>-\[\]-~]+\Z")  # printable ASCII without space, `"`, `=` and `\`


def json_value(value: Any) -> str:
    """JSON text of a value; plain ASCII strings skip json.dumps (most values, and the hot path)."""
    kind = type(value)
    if kind is str:
        return f'"{value}"' if _JSON_PLAIN.match(value) else json.dumps(value, ensure_ascii=False)
    if kind is int:
        return str(value)
    if kind is dict:
        return "{" + ",".join(f'"{k}":{json_value(v)}' for k, v in value.items()) + "}"
    return json.dumps(value)


def logfmt_value(value: Any) -> str:
    """A logfmt value: bare when it can be, quoted and escaped otherwise."""
    kind = type(value)
    if kind is str:
        if _LOGFMT_BARE.match(value):
            return value
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return '""'
    return str(value) if kind is int else repr(value)


def logfmt_pairs(fields: dict[str, Any], prefix: str = "") -> list[str]:
    """`key=value` pairs, nested objects flattened with dots (`http.status=200`)."""
    pairs = []
    for key, value in fields.items():
        if type(value) is dict:
            pairs += logfmt_pairs(value, f"{prefix}{key}.")
        else:
            pairs.append(f"{prefix}{key}={logfmt_value(value)}")
    return pairs


SERVICES = {
    "shop-api": {
        "login_path": "/api/v1/auth/login",
        "paths": [
            ("GET", "/api/v1/products?category=shoes&page=2", 8),
            ("GET", "/api/v1/products/{pid}", 10),
            ("GET", "/api/v1/cart", 6),
            ("POST", "/api/v1/cart/items", 2),
            ("GET", "/api/v1/me", 3),
            ("GET", "/api/v1/orders?limit=10", 2),
            ("GET", "/api/v1/recommendations?product={pid}", 4),
            ("POST", "/api/v1/events", 3),
        ],
    },
    "billing": {
        "login_path": "/v1/portal/login",
        "paths": [
            ("GET", "/v1/invoices?customer={cid}", 8),
            ("GET", "/v1/invoices/{inv}", 6),
            ("POST", "/v1/payments/{inv}/capture", 3),
            ("GET", "/v1/customers/{cid}", 5),
            ("GET", "/v1/subscriptions?status=active", 2),
            ("POST", "/v1/webhooks/psp", 4),
        ],
    },
}


class AppModel(Model):
    """An application's own log: requests, logins, logouts, password resets, role changes,
    lockouts and business events, as JSON lines or logfmt."""

    default_rate = 20.0
    day = WEB_DAY

    def __init__(self, rng: random.Random, host: str, encoding: str = "json", service: str = "shop-api") -> None:
        super().__init__(rng, host)
        self.options = {"encoding": encoding, "service": service}
        self.service = service
        self.spec = SERVICES[service]
        self.json = encoding == "json"
        self.stamp = iso_stamp()
        self.customers = [
            (
                f"{rng_choice(rng, FIRST)}.{rng_choice(rng, LAST)}{'' if rng.random() < 0.6 else integer(rng, 1, 99)}@{rng_choice(rng, ['example.org', 'example.com'])}",
                ip,
            )
            for ip in (rng_choice(rng, PUBLIC_V4) if rng.random() < 0.95 else public_v6(rng) for _ in range(600))
        ]
        self.customer = picker(rng, list(zip(self.customers, zipf_weights(600, 0.6), strict=True)), resolution=16384)
        self.path = picker(rng, [((m, p), w) for m, p, w in self.spec["paths"]])
        self.kind = picker(
            rng,
            [
                (self._visit, 70),
                (self._anonymous, 15),
                (self._staff, 4),
                (self._background, 8),
                (self._forgot_password, 3),
            ],
        )
        self.attack_kind = picker(
            rng,
            [
                (self._bruteforce, 35),
                (self._stuffing, 30),
                (self._spraying, 15),
                (self._self_promotion, 10),
                (self._reset_abuse, 10),
            ],
        )
        self.attacker = uniform(rng, ATTACKER_V4)

    def render(self, t: float, payload: Payload) -> str:
        return f"{payload[0]}{self.stamp(t)}.{micros(t) // 1000:03d}Z{payload[1]}"

    def rec(self, at: float, level: str, msg: str, event: str, **fields: Any) -> Event:
        """An application event; `ts` is filled in at render time, the fields keep their order."""
        body = {"level": level, "service": self.service, "msg": msg, "event": event, **fields}
        if self.json:
            return (at, ('{"ts":"', '",' + ",".join(f'"{k}":{json_value(v)}' for k, v in body.items()) + "}\n"))
        return (at, ("ts=", " " + " ".join(logfmt_pairs(body)) + "\n"))

    def request_id(self) -> str:
        return f"req_{self.rng.getrandbits(64):016x}"

    def _target(self) -> tuple[str, str]:
        rng = self.rng
        method, path = self.path()
        if "{" not in path:
            return method, path
        if "{pid}" in path:
            path = path.replace("{pid}", str(integer(rng, 1000, 9999)))
        if "{cid}" in path:
            path = path.replace("{cid}", f"cus_{rng.getrandbits(40):010x}")
        if "{inv}" in path:
            path = path.replace("{inv}", f"in_{rng.getrandbits(40):010x}")
        return method, path

    def http(self, at: float, ip: str, user: str | None, status: int | None = None) -> Event:
        """The request log line, most of an application log: written directly (same text as rec())."""
        rng = self.rng
        method, path = self._target()
        if status is None:
            roll = rng.random()
            status = 200 if roll < 0.96 else 404 if roll < 0.98 else 500 if roll < 0.99 else 401
            if method == "POST" and status == 200:
                status = 201
        level = "error" if status >= 500 else "warn" if status in (401, 403) else "info"
        duration = integer(rng, 2, 180) if status < 500 else integer(rng, 1000, 10000)
        request_id = f"req_{rng.getrandbits(64):016x}"
        if self.json:
            who = f'"user":{json_value(user)},' if user else ""
            return (
                at,
                (
                    '{"ts":"',
                    f'","level":"{level}","service":"{self.service}","msg":"request completed","event":"http_request",'
                    f'"request_id":"{request_id}",{who}"ip":"{ip}","duration_ms":{duration},'
                    f'"http":{{"method":"{method}","path":{json_value(path)},"status":{status}}}}}\n',
                ),
            )
        who = f" user={logfmt_value(user)}" if user else ""
        return (
            at,
            (
                "ts=",
                f' level={level} service={self.service} msg="request completed" event=http_request request_id={request_id}'
                f"{who} ip={ip} duration_ms={duration} http.method={method} http.path={logfmt_value(path)} http.status={status}\n",
            ),
        )

    def login(
        self, at: float, ip: str, user: str, ok: bool, reason: str = "bad_password", status: int | None = None
    ) -> Event:
        rng = self.rng
        http = {"method": "POST", "path": self.spec["login_path"], "status": status or (200 if ok else 401)}
        if ok:
            return self.rec(
                at,
                "info",
                "login succeeded",
                "login",
                outcome="success",
                request_id=self.request_id(),
                user=user,
                ip=ip,
                duration_ms=integer(rng, 120, 320),
                mfa=rng.random() < 0.3,
                http=http,
            )
        return self.rec(
            at,
            "warn",
            "login failed",
            "login",
            outcome="failure",
            reason=reason,
            request_id=self.request_id(),
            user=user,
            ip=ip,
            duration_ms=integer(rng, 120, 320),
            mfa=False,
            http=http,
        )

    # -- benign ------------------------------------------------------------------------------
    def session(self, t: float) -> list[Event]:
        return self.kind()()

    def _visit(self) -> list[Event]:
        rng = self.rng
        user, ip = self.customer()
        events: list[Event] = []
        at = 0.0
        logged_in = rng.random() < 0.35
        if logged_in:
            events.append(self.login(at, ip, user, True))
            at += between(rng, 0.5, 5)
        for _ in range(integer(rng, 1, 8)):
            events.append(self.http(at, ip, user if logged_in else None))
            at += between(rng, 0.3, 30)
        if logged_in and rng.random() < 0.2:
            if self.service == "shop-api":
                events.append(
                    self.rec(
                        at,
                        "info",
                        "order created",
                        "order_created",
                        request_id=self.request_id(),
                        user=user,
                        ip=ip,
                        order_id=f"ord_{rng.getrandbits(40):010x}",
                        amount=round(between(rng, 9, 400), 2),
                        currency="EUR",
                    )
                )
            else:
                events.append(
                    self.rec(
                        at,
                        "info",
                        "payment captured",
                        "payment_captured",
                        request_id=self.request_id(),
                        user=user,
                        ip=ip,
                        invoice_id=f"in_{rng.getrandbits(40):010x}",
                        amount=round(between(rng, 9, 400), 2),
                        currency="EUR",
                    )
                )
            at += between(rng, 1, 20)
        if logged_in and rng.random() < 0.3:
            events.append(
                self.rec(at, "info", "user logged out", "logout", request_id=self.request_id(), user=user, ip=ip)
            )
        return events

    def _anonymous(self) -> list[Event]:
        ip = self.customer()[1]
        return [self.http(0.0, ip, None)]

    def _forgot_password(self) -> list[Event]:
        """A customer who mistypes, maybe resets the password, then gets in."""
        rng = self.rng
        user, ip = self.customer()
        events: list[Event] = []
        at = 0.0
        for _ in range(integer(rng, 1, 3)):
            events.append(self.login(at, ip, user, False))
            at += between(rng, 5, 40)
        if rng.random() < 0.5:
            events.append(
                self.rec(
                    at,
                    "info",
                    "password reset requested",
                    "password_reset_requested",
                    request_id=self.request_id(),
                    user=user,
                    ip=ip,
                )
            )
            at += between(rng, 60, 600)
            events.append(
                self.rec(
                    at,
                    "info",
                    "password reset completed",
                    "password_reset_completed",
                    request_id=self.request_id(),
                    user=user,
                    ip=ip,
                )
            )
            at += between(rng, 2, 20)
        events.append(self.login(at, ip, user, True))
        return events

    def _staff(self) -> list[Event]:
        rng = self.rng
        user = rng_choice(rng, list(STAFF))
        ip = rng_choice(rng, OFFICE_VPN)
        events = [self.login(0.0, ip, user, True)]
        at = between(rng, 2, 10)
        for _ in range(integer(rng, 1, 5)):
            roll = rng.random()
            if STAFF[user] == "admin" and roll < 0.15:
                target = rng_choice(rng, [u for u in STAFF if u != user])
                old = STAFF[target]
                new = rng_choice(rng, [r for r in ROLES if r not in (old, "admin")])
                events.append(
                    self.rec(
                        at,
                        "info",
                        "role changed",
                        "role_change",
                        request_id=self.request_id(),
                        user=user,
                        ip=ip,
                        target_user=target,
                        old_role=old,
                        new_role=new,
                    )
                )
            elif STAFF[user] == "admin" and roll < 0.25:
                events.append(
                    self.rec(
                        at,
                        "info",
                        "api key created",
                        "api_key_created",
                        request_id=self.request_id(),
                        user=user,
                        ip=ip,
                        key_id=f"key_{rng.getrandbits(32):08x}",
                        scopes="read:orders",
                    )
                )
            elif roll < 0.4 and self.service == "billing":
                events.append(
                    self.rec(
                        at,
                        "info",
                        "refund issued",
                        "refund_issued",
                        request_id=self.request_id(),
                        user=user,
                        ip=ip,
                        invoice_id=f"in_{rng.getrandbits(40):010x}",
                        amount=round(between(rng, 5, 200), 2),
                        currency="EUR",
                    )
                )
            else:
                events.append(self.http(at, ip, user))
            at += between(rng, 5, 120)
        events.append(self.rec(at, "info", "user logged out", "logout", request_id=self.request_id(), user=user, ip=ip))
        return events

    def _background(self) -> list[Event]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            job = rng_choice(
                rng,
                ["send_order_emails", "sync_inventory", "expire_carts", "reindex_search"]
                if self.service == "shop-api"
                else ["dunning_run", "sync_psp_payouts", "generate_invoices"],
            )
            return [
                self.rec(0.0, "info", "job completed", "job_completed", job=job, duration_ms=integer(rng, 40, 9000))
            ]
        if roll < 0.85:
            return [
                self.rec(
                    0.0,
                    "warn",
                    "slow query",
                    "db_slow_query",
                    duration_ms=integer(rng, 900, 4500),
                    query="SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at DESC",
                )
            ]
        return [
            self.rec(
                0.0,
                "error",
                "payment provider timeout",
                "payment_failed",
                order_id=f"ord_{rng.getrandbits(40):010x}",
                provider="example-pay",
                error="timeout after 10000ms",
            )
        ]

    # -- attacks -----------------------------------------------------------------------------
    def attack(self, t: float) -> list[Event]:
        return self.attack_kind()()

    def _bruteforce(self) -> list[Event]:
        """Password guessing against one account until it locks, and on a little longer."""
        rng = self.rng
        ip, user = (
            self.attacker(),
            self.customer()[0] if rng.random() < 0.7 else rng_choice(rng, ["admin1", "alice", "admin"]),
        )
        events: list[Event] = []
        at = 0.0
        for n in range(1, integer(rng, 8, 40)):
            if n <= 5:
                events.append(self.login(at, ip, user, False))
            else:
                events.append(self.login(at, ip, user, False, reason="account_locked", status=423))
            if n == 5:
                events.append(
                    self.rec(
                        at + 0.01,
                        "warn",
                        "account locked",
                        "account_locked",
                        user=user,
                        ip=ip,
                        reason="too_many_failures",
                        failures=5,
                    )
                )
            at += between(rng, 0.5, 3.0)
        return events

    def _stuffing(self) -> list[Event]:
        """Leaked credential pairs replayed from one source: unknown users, wrong passwords, a hit."""
        rng = self.rng
        ip = self.attacker()
        events: list[Event] = []
        at = 0.0
        for _ in range(integer(rng, 15, 60)):
            roll = rng.random()
            if roll < 0.6:
                user = f"{rng_choice(rng, FIRST)}{integer(rng, 1, 9999)}@example.com"
                events.append(self.login(at, ip, user, False, reason="unknown_user"))
            elif roll < 0.98:
                events.append(self.login(at, ip, self.customer()[0], False))
            else:
                events.append(self.login(at, ip, self.customer()[0], True))
            at += between(rng, 0.2, 2.0)
        return events

    def _spraying(self) -> list[Event]:
        """One common password against many accounts, slowly, from a few addresses."""
        rng = self.rng
        ips = [self.attacker() for _ in range(3)]
        events: list[Event] = []
        at = 0.0
        for _ in range(integer(rng, 10, 40)):
            events.append(self.login(at, rng_choice(rng, ips), self.customer()[0], False))
            at += between(rng, 5, 40)
        return events

    def _self_promotion(self) -> list[Event]:
        """A stolen staff session used to raise its own role (and denied admin calls before)."""
        rng = self.rng
        ip, user = self.attacker(), rng_choice(rng, ["bob", "dave"])
        events = [self.login(0.0, ip, user, True)]
        at = between(rng, 3, 20)
        for _ in range(integer(rng, 2, 6)):
            events.append(
                self.rec(
                    at,
                    "warn",
                    "access denied",
                    "access_denied",
                    request_id=self.request_id(),
                    user=user,
                    ip=ip,
                    http={
                        "method": "GET",
                        "path": rng_choice(
                            rng, ["/api/v1/admin/users", "/api/v1/admin/settings", "/api/v1/admin/export"]
                        ),
                        "status": 403,
                    },
                )
            )
            at += between(rng, 1, 10)
        events.append(
            self.rec(
                at,
                "info",
                "role changed",
                "role_change",
                request_id=self.request_id(),
                user=user,
                ip=ip,
                target_user=user,
                old_role=STAFF[user],
                new_role="admin",
            )
        )
        return events

    def _reset_abuse(self) -> list[Event]:
        rng = self.rng
        ip = self.attacker()
        events: list[Event] = []
        at = 0.0
        for _ in range(integer(rng, 8, 30)):
            events.append(
                self.rec(
                    at,
                    "info",
                    "password reset requested",
                    "password_reset_requested",
                    request_id=self.request_id(),
                    user=self.customer()[0],
                    ip=ip,
                )
            )
            at += between(rng, 0.5, 4)
        return events
