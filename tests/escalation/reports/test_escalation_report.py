"""The escalation report over the fixed state of statekit.py. Every number below is worked out by
hand from the plan in statekit's docstring; the golden files pin the rendered JSON and Markdown."""

from __future__ import annotations

import json
from typing import Any

import goldenfiles
import pytest
import statekit

from detector.model import parse_iso
from escalation.reports.escalation_report import build_escalation_report
from escalation.reports.render import render


@pytest.fixture(scope="module")
def doc(kit: statekit.Kit) -> dict[str, Any]:
    with kit.store() as store:
        return build_escalation_report(store, statekit.PERIOD, statekit.NOW, kit.policy_set, kit.audit(store).verify())


def incident(doc: dict[str, Any], kit: statekit.Kit, key: str) -> dict[str, Any]:
    return next(i for i in doc["incidents"] if i["id"] == kit.incident_ids[key])


def test_summary_counts_the_period_without_exercises(doc: dict[str, Any]) -> None:
    assert doc["summary"] == {
        "incidents": 5,
        "exercise_incidents_excluded": 1,
        "by_status": {"acknowledged": 2, "open": 1, "resolved": 2},
        "by_severity": {"high": 3, "low": 2},
        "by_day_class": {"business": 2, "after_hours": 2, "holiday": 1},
        "by_kind": {"finding": 5},
        "unacknowledged": 1,  # C
    }


def test_time_to_detect_split_by_class_of_day(doc: dict[str, Any]) -> None:
    # A 120 s, D 300 s (business); B 300 s, E 30 s (after hours); C 60 s (holiday)
    ttd = doc["metrics"]["time_to_detect"]
    assert ttd["all"] == {"n": 5, "median": 120.0, "p90": 300.0, "mean": (120 + 300 + 300 + 30 + 60) / 5}
    assert ttd["business"] == {"n": 2, "median": 210.0, "p90": 120 + 0.9 * 180, "mean": 210.0}
    assert ttd["after_hours"] == {"n": 2, "median": 165.0, "p90": 30 + 0.9 * 270, "mean": 165.0}
    assert ttd["holiday"] == {"n": 1, "median": 60.0, "p90": 60.0, "mean": 60.0}


def test_time_to_notify_counts_the_hold_of_a_held_incident(doc: dict[str, Any]) -> None:
    # A 30, B 10, C 30, D 5, E Sat 03:00:30 -> Mon 09:00:02 = 2 d 5 h 59 m 32 s = 194372 s
    held = 2 * 86400 + 5 * 3600 + 59 * 60 + 32
    ttn = doc["metrics"]["time_to_notify"]
    assert ttn["all"]["n"] == 5 and ttn["all"]["median"] == 30.0
    assert ttn["all"]["mean"] == pytest.approx((30 + 10 + 30 + 5 + held) / 5)
    assert ttn["all"]["p90"] == pytest.approx(30 + 0.6 * (held - 30))  # rank 3.6 of 5, 10, 30, 30, held
    assert ttn["after_hours"]["median"] == (10 + held) / 2
    assert ttn["business"] == {"n": 2, "median": 17.5, "p90": 5 + 0.9 * 25, "mean": 17.5}


def test_time_to_acknowledge_and_resolve(doc: dict[str, Any]) -> None:
    # A 8 min, B 35 min, D 4 h 35 min, E 2 d 6 h 19 m 30 s; C never
    a, b, d, e = 480, 2100, 16500, 2 * 86400 + 6 * 3600 + 19 * 60 + 30
    tta = doc["metrics"]["time_to_acknowledge"]
    assert tta["all"]["n"] == 4 and tta["all"]["median"] == (b + d) / 2 and tta["all"]["mean"] == (a + b + d + e) / 4
    assert tta["all"]["p90"] == pytest.approx(d + 0.7 * (e - d))
    assert tta["holiday"] == {"n": 0, "median": None, "p90": None, "mean": None}
    ttr = doc["metrics"]["time_to_resolve"]
    assert ttr["all"] == {"n": 2, "median": 7200.0, "p90": 3600 + 0.9 * 7200, "mean": 7200.0}  # A 1 h, B 3 h


def test_deadlines_breaches_and_whether_each_escalated(doc: dict[str, Any], kit: statekit.Kit) -> None:
    first = doc["deadlines"]["first_deadline"]
    assert first["all"] == {"decided": 5, "acknowledged_within": 2, "share": 0.4}  # A and E in time
    assert first["business"]["share"] == 0.5 and first["after_hours"]["share"] == 0.5
    assert first["holiday"] == {"decided": 1, "acknowledged_within": 0, "share": 0.0}
    breaches = {(b["incident_id"], b["level"]): b for b in doc["deadlines"]["breaches"]}
    ids = kit.incident_ids
    assert set(breaches) == {(ids["B"], 1), (ids["C"], 1), (ids["C"], 2), (ids["D"], 1)}
    assert breaches[(ids["B"], 1)]["next_step"] == {"action": "fire_level", "level": 2, "ran_at": "2026-11-17T22:20:30Z",
                                                   "told_someone": True}
    assert breaches[(ids["C"], 2)]["next_step"]["action"] == "exhausted"
    assert breaches[(ids["D"], 1)]["escalated"] is False and breaches[(ids["D"], 1)]["next_step"] is None
    assert doc["deadlines"]["breach_count"] == 4 and doc["deadlines"]["breaches_escalated"] == 3
    assert doc["deadlines"]["share_breaches_escalated"] == 0.75
    levels = {d["level"]: d["outcome"] for d in incident(doc, kit, "B")["deadlines"]}
    assert levels == {1: "breached", 2: "met"}  # level 2 at 22:20:30 + 30 min; acknowledged 22:40


def test_depth_exhausted_and_held(doc: dict[str, Any], kit: statekit.Kit) -> None:
    assert doc["escalation_depth"] == {"max_level": 2, "max_cycle": 0, "by_level": {"1": 3, "2": 2}}
    assert doc["exhausted"] == [kit.incident_ids["C"]]
    assert doc["held"] == [kit.incident_ids["E"]]


def test_channel_delivery_health(doc: dict[str, Any]) -> None:
    console, hook = doc["channels"]
    assert console["channel"] == "console" and console["kind"] == "stdout"
    assert (console["messages"], console["sent"], console["attempts"], console["delivery_rate"]) == (7, 7, 7, 1.0)
    assert console["delivery_seconds"]["median"] == 10.0  # 30, 10, 10, 10, 1, 5, 2
    assert hook["kind"] == "webhook"
    assert (hook["messages"], hook["sent"], hook["fallen_back"], hook["failed_attempts"]) == (3, 2, 1, 3)
    assert hook["delivery_rate"] == 0.6667 and hook["last_error"] == "connection refused"


def test_policy_with_offsets_and_weekly_coverage(doc: dict[str, Any]) -> None:
    high, low = doc["policy"]["policies"]
    assert [lv["offset_seconds"] for lv in high["levels"]] == [0, 900]
    assert high["path_seconds"] == 2700
    assert high["coverage"]["share"] == 1.0 and high["coverage"]["covered_hours"] == 168
    assert low["coverage"] == {"week_hours": 168, "business_hours": 40.0, "covered_hours": 40.0,
                               "share": round(40 / 168, 4), "after_hours": "hold", "after_hours_covered": False}


def test_audit_trail_verified(doc: dict[str, Any]) -> None:
    assert doc["audit"]["ok"] is True and doc["audit"]["problems"] == []
    # opened x6, acknowledged x4, resolved x2, note x1, notified x10 (one per sent message)
    assert doc["audit"]["entries"] == 6 + 4 + 2 + 1 + 10


def test_timeline_from_first_evidence_to_resolution(doc: dict[str, Any], kit: statekit.Kit) -> None:
    a = incident(doc, kit, "A")
    assert [e["event"] for e in a["timeline"]] == [
        "first_evidence", "detected", "level_fired", "notified", "acknowledged", "note", "resolved"]
    notified = a["timeline"][3]
    assert notified["detail"]["to"] == "oncall" and notified["detail"]["channel"] == "console"
    assert a["timeline"][-1]["detail"] == {"note": "password reset, source blocked", "root_cause": "weak password on bastion"}
    assert a["root_cause"] == "weak password on bastion"
    c = incident(doc, kit, "C")
    events = [(e["event"], e["detail"].get("to"), e["detail"].get("channel")) for e in c["timeline"]]
    assert ("fell_back", "lead", "hook") in events and ("notified", "lead", "console") in events
    assert events[-1][0] == "exhausted"


def test_evidence_lines_are_kept_verbatim_in_json(doc: dict[str, Any], kit: statekit.Kit) -> None:
    lines = [e["line"] for e in incident(doc, kit, "A")["evidence"]]
    assert lines == [statekit.SCRIPT_LINE, statekit.ONERROR_LINE]
    assert json.loads(render(doc, "json"))["incidents"][0]["evidence"][0]["line"] == statekit.SCRIPT_LINE


def test_golden_json_and_markdown(doc: dict[str, Any], kit: statekit.Kit) -> None:
    goldenfiles.check("escalation.json", render(doc, "json"), kit.root)
    goldenfiles.check("escalation.md", render(doc, "md"), kit.root)


def test_every_timeline_is_in_time_order(doc: dict[str, Any]) -> None:
    """A message is placed at the time it shows (delivered, else its last attempt), so a retried
    message that fell back does not appear before earlier deliveries."""
    for entry in doc["incidents"]:
        times = [parse_iso(e["at"]) for e in entry["timeline"]]
        assert times == sorted(times), entry["id"]
