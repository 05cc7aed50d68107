"""The escalation report as a lead reads it after a weekend: response times split by severity (a
held low incident's wait must not hide that the high one paged at once), the incidents that
need someone first with links to them, and incidents per day by severity."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from escalationkit import FRIDAY_EVENING, NEXT_MONDAY_OPENING, Harness, make_finding

from escalation.reports.escalation_report import build_escalation_report
from escalation.reports.periods import Period
from escalation.reports.render import render

PERIOD = Period(FRIDAY_EVENING - timedelta(days=2), NEXT_MONDAY_OPENING + timedelta(days=1))


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.close()


def _report(h: Harness, now):
    return build_escalation_report(h.store, PERIOD, now, h.engine.policy)


def test_times_by_severity_attention_first_and_trend(h: Harness) -> None:
    h.detect(make_finding(severity="high", ip="203.0.113.7", detected_at=FRIDAY_EVENING))
    h.detect(make_finding(scenario="web-scanner", severity="low", confidence=0.6, ip="192.0.2.9",
                                detected_at=FRIDAY_EVENING))
    h.run(FRIDAY_EVENING)
    h.run(NEXT_MONDAY_OPENING)  # the held low incident goes out in the morning digest
    doc = _report(h, NEXT_MONDAY_OPENING + timedelta(minutes=5))
    notify = doc["metrics_by_severity"]["time_to_notify"]
    assert list(notify) == ["high", "low"]  # worst first
    assert notify["high"]["after_hours"] == {"n": 1, "median": 0.0, "p90": 0.0, "mean": 0.0}
    held = (NEXT_MONDAY_OPENING - FRIDAY_EVENING).total_seconds()
    assert notify["low"]["after_hours"]["median"] == held  # 63 h: the hold, not a slow page
    assert doc["metrics"]["time_to_notify"]["after_hours"]["median"] == held / 2  # what the mix alone said

    incidents = {i.scenario_id: i.id for i in h.engine.incidents.all()}
    assert [(a["id"], a["reason"]) for a in doc["attention"]] == [
        (incidents["ssh-bruteforce"], "open critical/high"), (incidents["web-scanner"], "never acknowledged")]
    day = FRIDAY_EVENING.date().isoformat()
    (friday,) = [d for d in doc["trend"]["days"] if d["day"] == day]
    assert friday == {"day": day, "total": 2, "high": 1, "low": 1}
    assert len(doc["trend"]["days"]) == (PERIOD.until.date() - PERIOD.since.date()).days + 1

    html = render(doc, "html")
    attention = re.search(r'<table class="attention">.*?</table>', html, re.S).group(0)
    assert attention.index(incidents["ssh-bruteforce"]) < attention.index(incidents["web-scanner"])
    for incident_id in incidents.values():
        assert f'<a href="#{incident_id}">' in attention and f'<details id="{incident_id}"' in html
    trend = re.search(r'<svg class="chart trend".*?</svg>', html, re.S).group(0)
    assert trend.count(f"<title>{day}: 1 high</title>") == 1 and trend.count(f"<title>{day}: 1 low</title>") == 1
    md = render(doc, "md")
    assert "## Needs attention" in md
    assert f"| {day} | 2 | 1 | 1 |" in md

    # once someone acknowledges the high incident, it no longer waits; the low one still does
    h.engine.acknowledge(incidents["ssh-bruteforce"], "alice", NEXT_MONDAY_OPENING + timedelta(minutes=10))
    doc = _report(h, NEXT_MONDAY_OPENING + timedelta(minutes=15))
    assert [a["id"] for a in doc["attention"]] == [incidents["web-scanner"]]
