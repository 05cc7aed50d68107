"""The HTML reports in a real browser (headless Chromium, installed by .ci/run): charts and
tables are in the rendered DOM, and log lines carrying <script> or onerror= payloads are shown
as text and never run. A control page with the same payloads left unescaped proves that the
harness would see a payload run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import statekit

from escalation.reports.charts import BAR_AREA

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((found for name in BROWSERS if (found := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium found (chromium/chromium-browser); .ci/run installs Debian's chromium"
)
CSP = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n?')


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM after loading `page` and letting timers and error events run."""
    result = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", f"--user-data-dir={profile}", "--virtual-time-budget=3000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def pages(kit: statekit.Kit, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("pages")
    escalation, maturity = statekit.html_reports(kit)
    files = {"escalation": out / "escalation.html", "maturity": out / "maturity.html",
             "no_csp": out / "no-csp.html", "control": out / "control.html"}
    files["escalation"].write_text(escalation)
    files["maturity"].write_text(maturity)
    # the report with its CSP removed: only the escaping stands between the payload and the page
    files["no_csp"].write_text(CSP.sub("", escalation))
    # control: the same page, the evidence lines pasted in unescaped (what a broken template would do)
    control = CSP.sub("", escalation)
    for line in (statekit.SCRIPT_LINE, statekit.ONERROR_LINE):
        escaped = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")
        assert escaped in control
        control = control.replace(escaped, line)
    files["control"].write_text(control)
    return {name: dump_dom(path, out / f"profile-{name}") for name, path in files.items()}


def title(dom: str) -> str:
    found = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert found is not None
    return found.group(1)


def test_the_control_page_runs_its_payloads(pages: dict[str, Any]) -> None:
    dom = pages["control"]
    assert title(dom) == "pwned"
    assert re.search(r'<body[^>]*data-pwned="1"', dom)


@pytest.mark.parametrize("page", ["escalation", "no_csp"])
def test_payloads_are_shown_as_text_and_never_run(pages: dict[str, Any], page: str) -> None:
    dom = pages[page]
    assert title(dom).startswith("logwarden escalation report")
    assert not re.search(r"<body[^>]*data-pwned", dom)
    assert "<script" not in dom and "<img" not in dom
    evidence = re.findall(r'<pre class="evidence">(.*?)</pre>', dom, re.S)
    assert "/&lt;script&gt;document.title='pwned'&lt;/script&gt; HTTP/1.1" in evidence[0]
    assert "&lt;img src=x onerror=\"document.body.setAttribute('data-pwned',1)\"&gt;" in evidence[1]


def test_escalation_charts_and_tables_render(pages: dict[str, Any]) -> None:
    dom = pages["escalation"]
    charts = re.findall(r'<svg class="chart[^"]*".*?</svg>', dom, re.S)
    trend = [c for c in charts if c.startswith('<svg class="chart trend"')]
    charts = [c for c in charts if not c.startswith('<svg class="chart trend"')]
    assert len(charts) == 8 and len(trend) == 1
    bars = [float(w) for chart in charts[:4] for w in re.findall(r'<rect class="\w+" x="\d+" y="\d+" width="([\d.]+)"', chart)]
    assert len(bars) == 12 and max(bars) == BAR_AREA  # 3 classes of day x 4 measures; the longest fills the axis
    week = charts[6]
    assert week.count('class="business"') == 5 * 8 and week.count('class="covered"') == 168 - 40
    assert len(re.findall(r"<table", dom)) >= 8 and "INC-" in dom


def test_maturity_charts_and_tables_render(pages: dict[str, Any]) -> None:
    dom = pages["maturity"]
    assert title(dom).startswith("logwarden SAMM Incident Management evidence")
    chart = re.search(r'<svg class="chart".*?</svg>', dom, re.S)
    assert chart is not None and chart.group(0).count("<rect") == 6  # one bar per activity
    activities = re.search(r'<table class="activities">.*?</table>', dom, re.S)
    assert activities is not None
    for activity_id in ("O-IM-1-A", "O-IM-2-A", "O-IM-3-A", "O-IM-1-B", "O-IM-2-B", "O-IM-3-B"):
        assert f'<a href="#{activity_id}">{activity_id}</a>' in activities.group(0)
    assert dom.count('<table class="criteria">') == 6
