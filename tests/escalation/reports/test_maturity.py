"""The SAMM maturity report: answers computed from the fixed state, the answer rule itself, and
answers that change to "No" (with the reason) when the evidence changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import goldenfiles
import pytest
import statekit

from detector.checklist import load_checklist
from detector.config import load_config
from detector.state.store import Store
from escalation.reports.evidence import Inputs, analysis_cadence
from escalation.reports.maturity import (
    ACTIVITIES,
    answer,
    build_maturity_report,
    criterion,
)
from escalation.reports.periods import Period
from escalation.reports.render import render

YEAR = Period(statekit.NOW - timedelta(days=365), statekit.NOW)


def report(kit: statekit.Kit, policy_set: Any = None) -> dict[str, Any]:
    with kit.store() as store:
        inputs = Inputs(store, kit.config, load_checklist(kit.config.checklist), policy_set or kit.policy_set,
                        statekit.NOW, YEAR, kit.audit(store).verify())
        return build_maturity_report(inputs)


@pytest.fixture(scope="module")
def doc(kit: statekit.Kit) -> dict[str, Any]:
    return report(kit)


def statuses(activity: dict[str, Any]) -> list[str]:
    return [c["status"] for c in activity["criteria"]]


def reasons(activity: dict[str, Any]) -> str:
    return " ".join(activity["reasons"])


# --- the answer rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(0, 4, 0.0), (1, 4, 0.25), (2, 4, 0.5), (2, 3, 0.5), (3, 4, 1.0), (4, 4, 1.0), (0, 0, 0.0)],
)
def test_coverage_bands(numerator: int, denominator: int, expected: float) -> None:
    result = answer(ACTIVITIES[0], [criterion("c", "pass", "ok")], numerator, denominator, most=0.75)
    assert result["value"] == expected


def test_most_threshold_is_configurable_and_unknown_does_not_block() -> None:
    crit = [criterion("c", "unknown", "not visible")]
    assert answer(ACTIVITIES[0], crit, 2, 3, most=0.6)["value"] == 1.0
    assert answer(ACTIVITIES[0], crit, 2, 3, most=0.75)["answer"] == "Yes, for at least half of the applications"


def test_any_failed_criterion_answers_no_with_the_reason() -> None:
    result = answer(ACTIVITIES[3], [criterion("has owner", "pass", "x"), criterion("documents", "fail", "chain broken")],
                    5, 5, most=0.75)
    assert result["answer"] == "No" and result["value"] == 0.0
    assert result["reasons"] == ["criterion failed: documents: chain broken"]


# --- answers over the fixed state ---------------------------------------------------------------


def test_detection_stream(doc: dict[str, Any]) -> None:
    a1, a2, a3 = (doc["activities"][i] for i in ("O-IM-1-A", "O-IM-2-A", "O-IM-3-A"))
    # shop and bastion analyzed 10 minutes ago; billing 2 days ago (> 24 h for medium); newapp never
    assert a1["coverage"] == {"numerator": 2, "denominator": 4, "unit": "applications", "ratio": 0.5}
    assert statuses(a1) == ["pass", "pass", "unknown"]  # no run history: cadence cannot be judged
    assert (a1["answer"], a1["value"]) == ("Yes, for at least half of the applications", 0.5)
    # newapp (onboarded 2026-11-20, deadline 30 days) is in its grace period: 2 of 3 follow the process
    assert a2["coverage"]["numerator"] == 2 and a2["coverage"]["denominator"] == 3
    assert statuses(a2) == ["pass"] * 6 and a2["value"] == 0.5
    # D's missed deadline never escalated: quality depends on whether a tick ran
    assert statuses(a3) == ["pass", "pass", "pass", "fail"]
    assert a3["answer"] == "No" and "1 of 4 missed acknowledgement deadline(s) did not escalate" in reasons(a3)
    assert doc["streams"]["A"]["score"] == 1.0


def test_response_stream(doc: dict[str, Any]) -> None:
    b1, b2, b3 = (doc["activities"][i] for i in ("O-IM-1-B", "O-IM-2-B", "O-IM-3-B"))
    assert (b1["coverage"]["numerator"], b1["coverage"]["denominator"], b1["value"]) == (4, 5, 1.0)  # C never answered
    assert statuses(b1) == ["pass", "pass"]
    # types: ssh-brute (A, B answered), fw-scan (C not), web-probe (D, E answered)
    assert (b2["coverage"]["numerator"], b2["coverage"]["denominator"], b2["value"]) == (2, 3, 0.5)
    assert statuses(b2) == ["pass", "pass", "pass", "unknown"]
    assert b3["coverage"]["numerator"] == 168.0 and b3["value"] == 1.0
    assert statuses(b3) == ["pass", "unknown", "pass"]
    assert doc["streams"]["B"]["score"] == 2.5
    assert doc["practice_score"] == 1.75


def test_evidence_is_keyed_and_computed(doc: dict[str, Any]) -> None:
    assert list(doc["activities"]) == ["O-IM-1-A", "O-IM-2-A", "O-IM-3-A", "O-IM-1-B", "O-IM-2-B", "O-IM-3-B"]
    ev = doc["evidence"]
    assert [a["name"] for a in ev["applications"] if a["analyzed"]] == ["shop", "bastion"]
    assert ev["new_applications"] == [{"name": "newapp", "onboarded": "2026-11-20", "deadline": "2026-12-20T00:00:00Z",
                                       "first_analyzed": None, "state": "in_grace"}]
    assert ev["checklist"]["provenance"] == {"external": 2, "past-incident": 1, "threat-model": 1}
    assert ev["checklist"]["versions"][0]["version"] == "2026.11.0"
    assert [(d["kind"], d["triage"]) for d in ev["source_defects"]] == [("source-missing", "acknowledged")]
    # no run history; the only ingest was 2 days ago (the later scan found nothing new)
    assert ev["analysis_cadence"]["source"] == "ingest_log"
    assert ev["analysis_cadence"]["longest_gap_seconds"] == 2 * 86400
    assert ev["exercises"][0]["detected"] == 3 and ev["exercises"][0]["notified"] == 2
    assert ev["escalation_paths"]["policies"]["page-high"]["scenarios"] == ["fw-scan", "ssh-brute"]


def test_golden_json_and_markdown(doc: dict[str, Any], kit: statekit.Kit) -> None:
    goldenfiles.check("maturity.json", render(doc, "json"), kit.root)
    goldenfiles.check("maturity.md", render(doc, "md"), kit.root)


# --- the answers follow the evidence -------------------------------------------------------------


@pytest.fixture
def healthy(tmp_path: Path) -> statekit.Kit:
    """The fixed state without the breach that never escalated: O-IM-3-A answers "most or all"."""
    return statekit.build(tmp_path, with_unescalated_breach=False)


def test_healthy_baseline(healthy: statekit.Kit) -> None:
    doc = report(healthy)
    assert doc["activities"]["O-IM-3-A"]["value"] == 1.0  # shop, bastion, newapp reviewed: 3 of 4 >= 75 %
    assert doc["activities"]["O-IM-2-A"]["value"] == 0.5


def test_a_missing_log_source_turns_o_im_3_a_to_no(healthy: statekit.Kit) -> None:
    tmp_path = healthy.root
    crm = {"name": "crm", "criticality": "high", "owner": "sales-it", "sources": [{"path": "logs/crm/*.log", "kind": "access"}]}
    config = load_config(statekit.write_config(tmp_path, extra_apps=[crm]))  # crm joins the inventory
    statekit.scan(tmp_path, config, statekit.NOW - timedelta(minutes=5))  # its source matches no file: a defect
    doc = report(replace(healthy, config=config))
    a3 = doc["activities"]["O-IM-3-A"]
    assert a3["answer"] == "No"
    assert f"source-missing {tmp_path}/logs/crm/*.log" in reasons(a3) and "untriaged" in reasons(a3)
    crm = next(a for a in doc["evidence"]["applications"] if a["name"] == "crm")
    assert crm["analyzed"] is False and crm["sources"][0]["reason"] == "no file matching this source has been read"


def test_an_overdue_checklist_review_turns_o_im_3_a_to_no(tmp_path: Path) -> None:
    kit = statekit.build(tmp_path, with_unescalated_breach=False, reviewed=date(2026, 6, 1))
    doc = report(kit)
    a3 = doc["activities"]["O-IM-3-A"]
    assert a3["answer"] == "No"
    assert "checklist review overdue: last reviewed 2026-06-01, interval 90d" in reasons(a3)
    assert "raised as process defect" in reasons(a3) and "triage new" in reasons(a3)


def test_no_after_hours_path_turns_o_im_2_a_to_no(tmp_path: Path) -> None:
    kit = statekit.build(tmp_path, with_unescalated_breach=False, after_hours="hold")
    doc = report(kit)
    a2 = doc["activities"]["O-IM-2-A"]
    assert a2["answer"] == "No"
    assert "no after-hours path: 2 severe scenario(s) notify nobody outside business hours" in reasons(a2)
    assert "page-high (40/168 h, after hours: hold)" in reasons(a2)
    assert doc["activities"]["O-IM-3-A"]["answer"] == "No"
    assert doc["activities"]["O-IM-3-B"]["coverage"]["numerator"] == 40.0  # some of the time
    assert doc["activities"]["O-IM-3-B"]["value"] == 0.25


def test_cadence_from_run_history(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    start = statekit.NOW - timedelta(hours=3)
    with Store(state) as store:
        for minutes in (0, 5, 10, 70, 75):  # a 60-minute hole, then nothing for the last 105 minutes
            run = store.start_run("scan", start + timedelta(minutes=minutes), "2026.11.0")
            store.finish_run(run, start + timedelta(minutes=minutes, seconds=30), {})
        inputs = Inputs(store, None, None, None, statekit.NOW, Period(start, statekit.NOW))  # type: ignore[arg-type]
        cadence = analysis_cadence(inputs)
    assert cadence["source"] == "runs" and cadence["runs"] == 5
    assert cadence["longest_gap_seconds"] == (180 - 75.5) * 60
