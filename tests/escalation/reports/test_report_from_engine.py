"""The escalation and maturity reports over a state written by the real engine (not by hand as in
statekit.py): the report reads what the engine records, and a missed deadline after which the
path ran out with nobody left to tell is not counted as an escalation.

Test policy (escalationkit): `page` (high) alice 20m -> carol 30m, repeat 1, then dave;
`confident-medium` (medium, confidence >= 0.9) carol 1h, then nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # escalationkit

from escalationkit import MONDAY_BUSINESS, Harness, make_finding, received  # noqa: E402

from detector.checklist import load_checklist  # noqa: E402
from escalation.reports.escalation_report import build_escalation_report  # noqa: E402
from escalation.reports.evidence import Inputs  # noqa: E402
from escalation.reports.maturity import build_maturity_report  # noqa: E402
from escalation.reports.periods import Period  # noqa: E402
from escalation.reports.render import render  # noqa: E402

M = timedelta(minutes=1)
NOW = MONDAY_BUSINESS + 3 * 60 * M
PERIOD = Period(MONDAY_BUSINESS - timedelta(days=1), MONDAY_BUSINESS + timedelta(days=1))


@pytest.fixture(scope="module")
def engine_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, dict[str, str]]]:
    h = Harness(tmp_path_factory.mktemp("engine-report"))
    h.detect(make_finding(ip="203.0.113.7", severity="high", detected_at=MONDAY_BUSINESS))
    h.detect(make_finding(scenario="app-spray", ip="198.51.100.9", severity="medium", confidence=0.95,
                          detected_at=MONDAY_BUSINESS))
    for minutes in (0, 20, 50, 60, 70, 100, 180):  # cron ticks; nobody acknowledges anything
        h.run(MONDAY_BUSINESS + minutes * M)
    ids = {i.scenario_id: i.id for i in h.engine.incidents.all()}
    yield h, ids
    h.close()


def escalation_doc(h: Harness) -> dict[str, Any]:
    return build_escalation_report(h.store, PERIOD, NOW, h.engine.policy, h.engine.audit.verify())


def test_the_engine_told_who_the_report_says(engine_state: tuple[Harness, dict[str, str]]) -> None:
    h, _ = engine_state
    assert received(h.directory) == {
        "alice": [("trigger", 1, "2026-11-23T09:00:00Z"), ("repeat", 1, "2026-11-23T09:50:00Z")],
        "carol": [("trigger", 1, "2026-11-23T09:00:00Z"), ("escalate", 2, "2026-11-23T09:20:00Z"),
                  ("escalate", 2, "2026-11-23T10:10:00Z")],
        "dave": [("escalate", 3, "2026-11-23T10:40:00Z")],
    }
    doc = escalation_doc(h)
    assert doc["summary"]["incidents"] == 2 and doc["summary"]["unacknowledged"] == 2
    assert doc["audit"]["ok"] is True
    notified = sorted((e["detail"]["to"], e["at"]) for i in doc["incidents"] for e in i["timeline"]
                      if e["event"] == "notified")
    assert notified == [
        ("alice", "2026-11-23T09:00:00Z"), ("alice", "2026-11-23T09:50:00Z"),
        ("carol", "2026-11-23T09:00:00Z"), ("carol", "2026-11-23T09:20:00Z"), ("carol", "2026-11-23T10:10:00Z"),
        ("dave", "2026-11-23T10:40:00Z"),
    ]


def test_a_path_that_runs_out_telling_nobody_is_not_an_escalation(engine_state: tuple[Harness, dict[str, str]]) -> None:
    h, ids = engine_state
    doc = escalation_doc(h)
    breaches = {(b["incident_id"], b["cycle"], b["level"]): b for b in doc["deadlines"]["breaches"]}
    page, medium = ids["ssh-bruteforce"], ids["app-spray"]
    # page: 09:20 level 2, 09:50 repeat, 10:10 level 2, 10:40 dave: every miss reached someone new
    assert {k: (b["escalated"], b["next_step"]["action"]) for k, b in breaches.items() if k[0] == page} == {
        (page, 0, 1): (True, "fire_level"),
        (page, 0, 2): (True, "repeat"),
        (page, 1, 1): (True, "fire_level"),
        (page, 1, 2): (True, "exhausted"),
    }
    assert breaches[(page, 1, 2)]["next_step"]["told_someone"] is True  # on_exhausted: dave
    # confident-medium: carol's hour passed at 10:00; the path ended and nobody else was told
    quiet = breaches[(medium, 0, 1)]
    assert (quiet["escalated"], quiet["next_step"]) == (
        False, {"action": "exhausted", "level": 2, "ran_at": "2026-11-23T10:00:00Z", "told_someone": False})
    assert (doc["deadlines"]["breach_count"], doc["deadlines"]["breaches_escalated"]) == (5, 4)
    assert doc["deadlines"]["share_breaches_escalated"] == 0.8
    assert f"| {medium} | 1 | 2026-11-23 10:00:00Z | — | NO | exhausted level 2 at 2026-11-23 10:00:00Z (nobody was told) |" \
        in render(doc, "md").replace("\\-", "-")
    assert "(nobody was told)" in render(doc, "html")


def test_the_maturity_report_fails_o_im_3_a_on_it(engine_state: tuple[Harness, dict[str, str]]) -> None:
    h, _ = engine_state
    inputs = Inputs(h.store, h.config, load_checklist(None), h.engine.policy, NOW, PERIOD, h.engine.audit.verify())
    activity = build_maturity_report(inputs)["activities"]["O-IM-3-A"]
    (quality,) = [c for c in activity["criteria"] if c["criterion"].startswith("Detection quality")]
    assert quality["status"] == "fail"
    assert quality["reason"] == "1 of 5 missed acknowledgement deadline(s) did not escalate"
    assert activity["answer"] == "No"


def _in_time_order(timeline: list[dict[str, Any]]) -> bool:
    from detector.model import parse_iso

    times = [parse_iso(e["at"]) for e in timeline]
    return times == sorted(times)


def test_an_acknowledgement_in_the_same_tick_follows_the_page_it_answers(tmp_path: Path) -> None:
    """Same instant: the level fires, its messages go out, then the person acknowledges, then the
    notices of the acknowledgement: cause before effect, every time."""
    h = Harness(tmp_path)
    try:
        h.detect(make_finding(ip="203.0.113.7", severity="high", detected_at=MONDAY_BUSINESS))
        h.run(MONDAY_BUSINESS)
        (incident,) = h.engine.incidents.all()
        h.engine.acknowledge(incident.id, "alice", MONDAY_BUSINESS)
        h.run(MONDAY_BUSINESS)
        doc = escalation_doc(h)
    finally:
        h.close()
    (entry,) = doc["incidents"]
    events = [(e["event"], e["detail"].get("message")) for e in entry["timeline"]]
    fired = events.index(("level_fired", None))
    acked = events.index(("acknowledged", None))
    pages = [i for i, e in enumerate(events) if e == ("notified", "trigger")]
    notices = [i for i, e in enumerate(events) if e == ("notified", "acknowledge")]
    assert pages and notices
    assert events[:2] == [("first_evidence", None), ("detected", None)]
    assert fired < min(pages) and max(pages) < acked < min(notices)
    assert _in_time_order(entry["timeline"])
