"""The long tail of a real shop's access log, all of it benign: thousands of distinct user agents
(device models, browser builds, in-app browsers with per-install ids), tracking parameters with
one-off click ids on landing pages, free-text searches typed by people (quotes, apostrophes, `&`,
`%`, accents, sizes with `/`), long faceted-filter query strings, cache-busting asset versions,
search-suggest calls sent raw by JavaScript, and analytics beacons carrying whole encoded URLs.

Most of these values are seen once: a rule engine cannot lean on repetition for them.
"""

from __future__ import annotations

import random
from urllib.parse import quote, quote_plus

from .randomness import between, integer, picker, rng_choice, zipf_weights

_TOKEN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_HEX = "0123456789abcdef"

ANDROID_MODELS = [
    "SM-S921B", "SM-A546B", "SM-A155F", "SM-G991B", "SM-S918B", "SM-A356B", "SM-X210", "Pixel 8", "Pixel 7a",
    "Pixel 9 Pro", "Pixel 6", "2312DRA50G", "23129RAA4G", "M2101K6G", "CPH2581", "CPH2451", "RMX3830", "moto g54 5G",
    "motorola edge 40", "V2250", "NE2213", "ASUS_AI2302", "XQ-DQ72", "22111317G", "HUAWEI P30", "SM-T736B",
]  # fmt: skip
IPHONES = ["iPhone14,5", "iPhone14,7", "iPhone15,2", "iPhone15,3", "iPhone16,1", "iPhone16,2", "iPhone17,1", "iPhone13,2"]
IOS = ["17_6_1", "18_1", "18_3_2", "18_5", "18_6", "18_6_2", "26_0", "26_1"]
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT", "pl_PL", "sv_SE"]

#: Words people type into a shop's search box: products, colours, sizes, brands, and ordinary
#: English that happens to look like SQL or shell (`select`, `order`, `drop`, `from`, `where`).
SEARCH_WORDS = [
    "running", "shoes", "rain", "jacket", "wool", "socks", "merino", "hoodie", "black", "navy", "olive", "white",
    "red", "kids", "women's", "men's", "boots", "waterproof", "sale", "gift", "card", "backpack", "beanie", "trail",
    "runner", "gtx", "linen", "shirt", "t-shirt", "fleece", "parka", "size", "42", "44", "10.5", "xl", "xxl",
    "petite", "tall", "wide", "fit", "slim", "organic", "cotton", "recycled", "down", "vest", "rain", "pants", "cap",
    "tote", "bag", "jack", "select", "colour", "order", "status", "drop", "shoulder", "from", "where",
    "is", "my", "and", "or", "with", "for", "the", "a", "o'neill", "levi's", "h&m", "r&b", "50%", "1/2", "3/4",
    "café", "naïve", "über", "jalapeño", "crème", "ski", "snowboard", "gore-tex", "2-in-1", "5€", "$20",
    "under", "new", "arrivals", "black friday", "christmas", "return", "exchange", "track", "parcel", "script",
    "font", "mug", "alert", "reflective", "vs", "&", "+", "#1", "best", "seller", "!",
]  # fmt: skip
CAMPAIGNS = ["black-friday", "cyber-monday", "winter-sale", "newsletter-48", "retargeting", "brand", "pmax-shoes"]
FACETS = {
    "color": ["black", "navy", "olive", "sand", "red", "white", "grey", "multi"],
    "size": ["36", "38", "40", "42", "44", "46", "s", "m", "l", "xl", "10.5", "w32l34"],
    "brand": ["alpine", "trail", "city", "classic", "o-neill", "north-ridge"],
    "material": ["merino", "cotton", "recycled-polyester", "gore-tex", "linen", "down"],
    "price": ["0-25", "25-50", "50-100", "100-200", "200-"],
    "rating": ["4", "4.5"],
    "fit": ["regular", "slim", "relaxed"],
}
#: Facets a filtered page combines, by a uniform draw of 1..7: one (4 in 7), two (2 in 7), three.
FACETS_KEPT = {1: 1, 2: 1, 3: 1, 4: 1, 5: 2, 6: 2, 7: 3}
#: Values picked per facet, by a uniform draw of 1..3 (1..2 for ratings): one (most), two.
VALUES_KEPT = {1: 1, 2: 1, 3: 2}
SORTS = ["popular", "newest", "price_asc", "price_desc", "rating", "relevance"]
API_FIELDS = ["id", "name", "slug", "price", "currency", "images", "variants", "stock", "rating", "badges", "colors"]
TITLES = ["Trail Runner GTX | Example Shop", "Merino Crew Sock (3-pack) – Example", "Search: rain jacket", "Your cart (2)",
          "Sale – up to 50% off | Example Shop", "Checkout · Step 2 of 3", "Q&A: \"Is it waterproof?\""]  # fmt: skip


class LongTail:
    """Benign values drawn fresh (or from long zipf tails) for every visit."""

    def __init__(self, rng: random.Random, product_ids: list[int]) -> None:
        self.rng = rng
        self.product_ids = product_ids
        self.word = picker(rng, list(zip(SEARCH_WORDS, zipf_weights(len(SEARCH_WORDS), 0.6), strict=True)))
        self._ua = picker(
            rng,
            [(self._chrome, 30), (self._android, 24), (self._safari_ios, 20), (self._in_app, 10),
             (self._firefox, 6), (self._edge, 6), (self._samsung, 4)],
        )  # fmt: skip
        deploys = [f"?v=4.{integer(rng, 0, 20)}.{n}" for n in range(3)] + [f"?ver={integer(rng, 1732000000, 1733000000)}"]
        self._version = picker(rng, list(zip(deploys, [6, 3, 1, 1], strict=True)))

    # -- user agents -------------------------------------------------------------------------
    def user_agent(self) -> str:
        return self._ua()()

    def _major(self) -> int:
        return 142 - min(int(self.rng.expovariate(0.45)), 22)

    def _chrome(self) -> str:
        os = rng_choice(self.rng, ["Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7", "X11; Linux x86_64",
                                   "X11; CrOS x86_64 14541.0.0"])  # fmt: skip
        return f"Mozilla/5.0 ({os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{self._major()}.0.0.0 Safari/537.36"

    def _edge(self) -> str:
        major = self._major()
        return (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 "
                f"Safari/537.36 Edg/{major}.0.{integer(self.rng, 2000, 3600)}.{integer(self.rng, 10, 120)}")  # fmt: skip

    def _firefox(self) -> str:
        version = 145 - min(int(self.rng.expovariate(0.5)), 30)
        os = rng_choice(self.rng, ["Windows NT 10.0; Win64; x64", "X11; Linux x86_64", "Macintosh; Intel Mac OS X 10.15",
                                   "X11; Ubuntu; Linux x86_64"])  # fmt: skip
        return f"Mozilla/5.0 ({os}; rv:{version}.0) Gecko/20100101 Firefox/{version}.0"

    def _android(self) -> str:
        rng = self.rng
        model = rng_choice(rng, ANDROID_MODELS)
        webview = "; wv" if rng.random() < 0.15 else ""
        build = f"{self._major()}.0.{integer(rng, 6000, 7500)}.{integer(rng, 30, 200)}"
        return (f"Mozilla/5.0 (Linux; Android {integer(rng, 10, 16)}; {model}{webview}) AppleWebKit/537.36 "
                f"(KHTML, like Gecko) Version/4.0 Chrome/{build} Mobile Safari/537.36")  # fmt: skip

    def _safari_ios(self) -> str:
        ios = rng_choice(self.rng, IOS)
        device = "iPad; CPU OS" if self.rng.random() < 0.1 else "iPhone; CPU iPhone OS"
        version = ios.split("_")[0] + "." + (ios.split("_")[1] if "_" in ios else "0")
        return (f"Mozilla/5.0 ({device} {ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                f"Version/{version} Mobile/15E148 Safari/604.1")  # fmt: skip

    def _samsung(self) -> str:
        rng = self.rng
        return (f"Mozilla/5.0 (Linux; Android {integer(rng, 12, 15)}; SAMSUNG {rng_choice(rng, ANDROID_MODELS[:7])}) "
                f"AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/{integer(rng, 24, 28)}.0 "
                f"Chrome/{self._major()}.0.0.0 Mobile Safari/537.36")  # fmt: skip

    def _in_app(self) -> str:
        """Instagram and Facebook in-app browsers: device, locale, screen and a per-install number."""
        rng = self.rng
        ios = rng_choice(rng, IOS)
        phone = rng_choice(rng, IPHONES)
        locale = rng_choice(rng, LOCALES)
        base = f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
        if rng.random() < 0.5:
            return (f"{base} Instagram {integer(rng, 380, 410)}.0.0.{integer(rng, 10, 40)}.{integer(rng, 60, 120)} "
                    f"({phone}; iOS {ios}; {locale}; {locale[:2]}; scale=3.00; 1179x2556; {integer(rng, 600000000, 899999999)})")  # fmt: skip
        return (f"{base} [FBAN/FBIOS;FBAV/{integer(rng, 480, 520)}.0.0.{integer(rng, 30, 60)}.{integer(rng, 100, 120)};"
                f"FBBV/{integer(rng, 600000000, 699999999)};FBDV/{phone};FBMD/iPhone;FBSN/iOS;FBSV/{ios.replace('_', '.')};"
                f"FBSS/3;FBID/phone;FBLC/{locale};FBOP/5;FBRV/{integer(rng, 100000000, 999999999)}]")  # fmt: skip

    # -- query strings -----------------------------------------------------------------------
    def _token(self, low: int, high: int, alphabet: str = _TOKEN) -> str:
        rand = self.rng.random
        return "".join(alphabet[int(rand() * len(alphabet))] for _ in range(integer(self.rng, low, high)))

    def landing_query(self) -> str:
        """What ad networks and newsletters append to a landing page (one-off click ids)."""
        rng = self.rng
        roll = rng.random()
        campaign = rng_choice(rng, CAMPAIGNS)
        if roll < 0.45:
            return (f"utm_source=google&utm_medium=cpc&utm_campaign={campaign}&utm_term={quote_plus(self.search_text())}"
                    f"&gad_source=1&gclid={self._token(70, 96)}")  # fmt: skip
        if roll < 0.7:
            return f"utm_source=facebook&utm_medium=paid&utm_campaign={campaign}&fbclid=IwAR{self._token(50, 60)}"
        if roll < 0.85:
            ga = f"{integer(rng, 100000000, 999999999)}.{integer(rng, 1732000000, 1733000000)}"
            return f"_gl=1*{self._token(6, 8, _HEX)}*_ga*{ga}*_ga_K7X9Q2PL3M*MTczMjQ{self._token(20, 28)}.."
        return f"utm_source=newsletter&utm_medium=email&utm_campaign={campaign}&utm_content=hero%20banner&mc_eid={self._token(10, 10, _HEX)}"

    def search_text(self) -> str:
        rng = self.rng
        words = [self.word() for _ in range(1 + int(rng.expovariate(0.9)))]
        text = " ".join(words)
        if rng.random() < 0.05:
            text = f'"{text}"'
        if rng.random() < 0.05:
            text = text.title()
        return text

    def search(self) -> str:
        """A search form submission (form-encoded: `+`, `%22`, `%27`, `%26`, UTF-8 escapes)."""
        rng = self.rng
        target = f"/search?q={quote_plus(self.search_text())}"
        if rng.random() < 0.3:
            target += f"&sort={rng_choice(rng, SORTS)}"
        if rng.random() < 0.2:
            target += f"&page={integer(rng, 2, 6)}"
        return target

    def suggest(self) -> str:
        """The search box's autocomplete: JavaScript's encodeURIComponent keeps `'()*!` raw."""
        typed = self.search_text()
        typed = typed[: integer(self.rng, 2, max(2, len(typed)))]
        return f"/api/v1/search/suggest?q={quote(typed, safe=chr(39) + '()*!')}&limit=8"

    def filters(self, category: str) -> str:
        """A faceted category page: repeated parameters, ranges, long strings. Shoppers mostly
        filter on one facet, some on two or three (FACETS_KEPT), and mostly pick one value of
        each (VALUES_KEPT): a page with every facet set is rare. The draws are those of a uniform
        choice, mapped, so the rest of the log is line for line what it was with uniform counts."""
        rng = self.rng
        params = []
        facets = rng.sample(list(FACETS), integer(rng, 1, len(FACETS)))
        for number, facet in enumerate(facets):
            values = rng.sample(FACETS[facet], integer(rng, 1, min(3, len(FACETS[facet]))))
            named = [f"{facet}={v}" if rng.random() < 0.7 else f"filter%5B{facet}%5D%5B%5D={v}" for v in values]
            if number < FACETS_KEPT[len(facets)]:
                params += named[: VALUES_KEPT[len(values)]]
        params.append(f"sort={rng_choice(rng, SORTS)}")
        if rng.random() < 0.4:
            params.append(f"page={integer(rng, 2, 12)}")
        if rng.random() < 0.3:
            params.append("view=grid&per_page=48")
        return f"/category/{category}?" + "&".join(params)

    def product_list_api(self) -> str:
        rng = self.rng
        ids = ",".join(str(rng_choice(rng, self.product_ids)) for _ in range(integer(rng, 4, 40)))
        fields = ",".join(rng.sample(API_FIELDS, integer(rng, 3, len(API_FIELDS))))
        return f"/api/v1/products?ids={ids}&fields={fields}&currency={rng_choice(rng, ['EUR', 'USD', 'GBP'])}"

    def asset_version(self) -> str:
        """Cache busting: the version of one of the day's deploys (old pages linger in caches)."""
        return self._version()

    def beacon(self, page_url: str, referrer: str) -> str:
        """A first-party analytics hit (server-side tagging): the page, its title and the
        referrer travel percent-encoded in the query string."""
        rng = self.rng
        client = f"{integer(rng, 100000000, 999999999)}.{integer(rng, 1732000000, 1733000000)}"
        params = [
            "v=2", "tid=G-K7X9Q2PL3M", f"gtm=45je5{self._token(4, 4, _HEX)}", "_p=" + str(integer(rng, 10**9, 2 * 10**9)),
            f"cid={client}", f"ul={rng_choice(rng, LOCALES).replace('_', '-').lower()}", "sr=1920x1080",
            f"_s={integer(rng, 1, 30)}", f"sid={integer(rng, 1732000000, 1733000000)}", "sct=3", "seg=1",
            f"dl={quote(page_url, safe='')}", f"dr={quote(referrer, safe='') if referrer != '-' else ''}",
            f"dt={quote(rng_choice(rng, TITLES), safe='')}", f"en={rng_choice(rng, ['page_view', 'scroll', 'view_item', 'user_engagement'])}",
            f"_et={integer(rng, 5, 90000)}", f"tfd={integer(rng, 300, 120000)}",
        ]  # fmt: skip
        return "/g/collect?" + "&".join(params)

    def dwell(self) -> float:
        return between(self.rng, 0.2, 2.0)
