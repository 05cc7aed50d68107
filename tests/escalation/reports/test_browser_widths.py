"""The HTML reports on a phone (390 px) and a laptop (1280 px) in headless Chromium: no table is
wider than the box it sits in, no cell's content spills out of it, and the page never needs a
horizontal scroll. Measured by a script added to a copy of each page (the reports themselves run
no script); a control page with one unbreakable wide table proves the measurement sees clipping."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import statekit


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((found for name in BROWSERS if (found := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium found; .ci/run installs Debian's chromium")
CSP = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n?')
WIDTHS = (390, 1280)
MEASURE = """<script>
addEventListener('load', () => {
  for (const d of document.querySelectorAll('details')) d.open = true;
  const vw = document.documentElement.clientWidth, bad = [];
  document.querySelectorAll('table').forEach((t, i) => {
    const box = t.parentElement.getBoundingClientRect(), r = t.getBoundingClientRect();
    if (r.width > box.width + 1 || r.right > vw + 1)
      bad.push(`table ${i} (${t.className}): ${Math.round(r.width)} px in ${Math.round(box.width)} px`);
    t.querySelectorAll('th, td').forEach(c => {
      if (c.scrollWidth > c.clientWidth + 1)
        bad.push(`table ${i} cell "${c.textContent.trim().slice(0, 40)}": ${c.scrollWidth} > ${c.clientWidth}`);
    });
  });
  if (document.documentElement.scrollWidth > vw + 1)
    bad.push(`page is ${document.documentElement.scrollWidth} px wide in ${vw} px`);
  parent.postMessage(JSON.stringify({viewport: vw, tables: document.querySelectorAll('table').length, clipped: bad}), '*');
});
</script>"""
# Chromium's window is at least 500 px wide: the page is laid out in an iframe of the width
# wanted (its own viewport, media queries included) and posts what it measured to the host.
HOST = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{page}" width="{width}" height="900" style="border:0"></iframe>
<script>addEventListener('message', e => document.body.setAttribute('data-result', e.data));</script>
</body></html>"""
WIDE = '<div class="scroll"><table class="control"><tr><td style="white-space:nowrap">' + "x" * 400 + "</td></tr></table></div>"


def measure(page: Path, width: int, profile: Path) -> tuple[int, int, list[str]]:
    """(viewport width, tables, problems) of `page` laid out `width` px wide."""
    host = page.with_name(f"host-{width}-{page.name}")
    host.write_text(HOST.format(page=page.name, width=width))
    result = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--hide-scrollbars", f"--window-size={width + 40},1000", f"--user-data-dir={profile}",
         "--virtual-time-budget=5000", "--dump-dom", host.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<body[^>]*data-result="([^"]*)"', result.stdout)
    assert found is not None, "the page posted no measurement"
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    data = json.loads(text)
    return int(data["viewport"]), int(data["tables"]), list(data["clipped"])


@pytest.fixture(scope="module")
def pages(kit: statekit.Kit, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("widths")
    escalation, maturity = statekit.html_reports(kit)
    files = {}
    for name, html in (("escalation", escalation), ("maturity", maturity),
                       ("control", escalation.replace("</h1>", "</h1>" + WIDE, 1))):
        files[name] = out / f"{name}.html"
        files[name].write_text(CSP.sub("", html).replace("</body>", MEASURE + "</body>"))
    return files


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("report", ["escalation", "maturity"])
def test_no_table_is_clipped(pages: dict[str, Path], report: str, width: int, tmp_path: Path) -> None:
    viewport, tables, clipped = measure(pages[report], width, tmp_path / "profile")
    assert width * 0.95 < viewport <= width  # laid out at that width
    assert tables >= 6
    assert clipped == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_measurement_sees_a_clipped_table(pages: dict[str, Path], width: int, tmp_path: Path) -> None:
    _, _, clipped = measure(pages["control"], width, tmp_path / "profile")
    assert any('"xxxxxxxx' in problem or '(control)' in problem for problem in clipped), clipped
