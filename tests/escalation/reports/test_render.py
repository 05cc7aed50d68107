"""Rendering: hostile log content is escaped in HTML and Markdown; the HTML is one self-contained
file that loads nothing and runs no script."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from typing import Any

import pytest
import statekit

from escalation.reports.escalation_report import build_escalation_report
from escalation.reports.render import human_duration, render

PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>|*_[x](y)"


@pytest.fixture(scope="module")
def doc(kit: statekit.Kit) -> dict[str, Any]:
    with kit.store() as store:
        report = build_escalation_report(store, statekit.PERIOD, statekit.NOW, kit.policy_set, kit.audit(store).verify())
    hostile = copy.deepcopy(report)
    first = hostile["incidents"][0]
    first["title"] = "title " + PAYLOAD
    first["entity"] = {"user.name": PAYLOAD}
    first["root_cause"] = PAYLOAD
    hostile["channels"][1]["last_error"] = PAYLOAD
    return hostile


def test_html_escapes_every_piece_of_log_content(doc: dict[str, Any]) -> None:
    html = render(doc, "html")
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in html  # the evidence line, as text
    assert "&lt;img src=x onerror=&#34;document.body" in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 4  # title, entity, root cause, channel error


class Tags(HTMLParser):
    """Every element and attribute a browser would build from the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained_and_scriptless(doc: dict[str, Any]) -> None:
    parser = Tags()
    parser.feed(render(doc, "html"))
    names = {tag for tag, _ in parser.tags}
    assert not names & {"script", "img", "link", "iframe", "object", "embed", "base", "form"}
    attributes = {name for _, attrs in parser.tags for name in attrs}
    assert not [a for a in attributes if a.startswith("on") or a in ("src", "srcset", "action")]
    assert all(attrs["href"].startswith("#") for tag, attrs in parser.tags if tag == "a")
    csp = next(attrs["content"] for tag, attrs in parser.tags if attrs.get("http-equiv") == "Content-Security-Policy")
    assert csp.startswith("default-src 'none'")  # no script may run, nothing may load
    assert sum(1 for tag, _ in parser.tags if tag == "svg") == 9  # trend, 4 durations, by day, channels, 2 policy weeks


def test_markdown_escapes_log_content(doc: dict[str, Any]) -> None:
    md = render(doc, "md")
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(md)  # as a CommonMark/GFM viewer shows it
    assert "<script" not in html and "<img" not in html and "&amp;lt;" not in html
    # evidence sits in code spans: shown as the log wrote it (`<`, not `&lt;`), never as markup
    assert "<code>Nov 16 10:00:05 bastion sshd[1]: Failed password for &lt;img src=x" in html
    assert r"checked \*bastion\* \| see \[runbook\]\(http://evil\.example/\) &lt;b&gt;now&lt;/b&gt;" in md
    hook = next(line for line in md.splitlines() if line.startswith("| hook |"))
    assert hook.count(" | ") == 12  # 13 columns: the payload's pipe does not add a cell
    assert "\\|\\*\\_\\[x\\]\\(y\\)" in md  # the payload's Markdown metacharacters, escaped


def test_markdown_table_cells_keep_a_pipe_inside_a_code_span(kit: statekit.Kit) -> None:
    from datetime import timedelta

    from detector.checklist import load_checklist
    from escalation.reports.evidence import Inputs
    from escalation.reports.maturity import build_maturity_report
    from escalation.reports.periods import Period

    with kit.store() as store:
        inputs = Inputs(store, kit.config, load_checklist(kit.config.checklist), kit.policy_set, statekit.NOW,
                        Period(statekit.NOW - timedelta(days=365), statekit.NOW), kit.audit(store).verify())
        maturity = copy.deepcopy(build_maturity_report(inputs))
    evidence = maturity["evidence"]
    evidence["source_defects"][0]["subject"] = "/var/log/up|loads/a`b.log"  # a file name an uploader chose
    evidence["applications"][0]["sources"][0]["path"] = "/srv/x|y/*.log"
    md = render(maturity, "md")
    defect = next(line for line in md.splitlines() if line.startswith(r"| source\-missing |"))
    assert defect.replace("\\|", "").count("|") == 7  # 6 columns: the name's pipe stays in its cell
    assert r"| ``/var/log/up\|loads/a`b.log`` |" in defect  # one code span, its backtick inside a longer fence
    app = next(line for line in md.splitlines() if line.startswith(f"| {evidence['applications'][0]['name']} |"))
    assert app.replace("\\|", "").count("|") == 7


def test_json_is_the_document(doc: dict[str, Any]) -> None:
    import json

    assert json.loads(render(doc, "json")) == json.loads(json.dumps(doc))


@pytest.mark.parametrize(("seconds", "text"), [(None, "—"), (0, "0s"), (17.5, "17.5s"), (150, "2m 30s"),
                                               (194372, "2d 5h"), (-30, "-30s")])
def test_human_durations(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text
