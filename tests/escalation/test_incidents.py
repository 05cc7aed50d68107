"""Grouping findings and defects into incidents: keys, aggregates, reopening, the frozen policy."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from escalationkit import MONDAY_BUSINESS, Harness, make_finding, standard_policy_text

from detector.errors import UsageError
from detector.model import Defect, iso
from escalation.engine.incidents import finding_dedup_key, noisy_or

M = timedelta(minutes=1)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.close()


def test_noisy_or_combines_independent_signals() -> None:
    assert noisy_or([0.5]) == 0.5
    assert noisy_or([0.5, 0.6]) == pytest.approx(0.8)
    assert noisy_or([0.7, 0.7, 0.7]) == pytest.approx(0.973)
    assert noisy_or([0.2, 1.0]) == 1.0
    assert noisy_or([]) == 0.0


def test_dedup_keys_follow_group_by() -> None:
    finding = make_finding(entity={"user.name": "root", "source.ip": "203.0.113.7"})
    assert finding_dedup_key(finding, ("scenario", "entity")) == "ssh-bruteforce|source.ip=203.0.113.7,user.name=root"
    assert finding_dedup_key(finding, ("entity",)) == "*|source.ip=203.0.113.7,user.name=root"
    assert finding_dedup_key(finding, ("scenario",)) == "ssh-bruteforce|*"


def test_an_incident_opens_with_the_findings_facts_and_its_frozen_policy(h: Harness) -> None:
    finding = h.detect(make_finding(detected_at=MONDAY_BUSINESS + 3 * M))
    h.engine.ingest(MONDAY_BUSINESS + 5 * M)
    incident = h.incident()
    assert re.fullmatch(r"INC-[0-9a-f]{10}", incident.id)
    assert (incident.kind, incident.status, incident.title, incident.scenario_id) == (
        "finding", "open", "Test scenario ssh-bruteforce", "ssh-bruteforce"
    )
    assert incident.entity == {"source.ip": "203.0.113.7"}
    assert (incident.severity, incident.confidence, incident.attack) == ("high", 0.7, ("T1110.001",))
    # opened when logwarden knew (detection time), first evidence from the log lines
    assert incident.opened_at == MONDAY_BUSINESS + 3 * M
    assert incident.first_evidence_at == finding.first_seen
    assert (incident.day_class, incident.level, incident.next_action, incident.next_due_at) == (
        "business", 0, "fire_level", MONDAY_BUSINESS + 3 * M
    )
    assert incident.policy is not None and incident.policy.name == "page"
    row = h.store.execute("SELECT policy_name, policy FROM incidents").fetchone()
    assert row[0] == "page" and json.loads(row[1])["policy"]["levels"][0]["wait_seconds"] == 1200
    (opened,) = h.audit_details(incident.id, "opened")
    assert opened["member"] == {"kind": "finding", "id": finding.id}
    assert opened["policy_hash"] == incident.policy.content_hash


def test_grouping_by_entity_folds_scenarios_together_with_max_severity(tmp_path: Path) -> None:
    h = Harness(tmp_path, policy_text="group_by: [entity]\n" + standard_policy_text())
    try:
        h.detect(make_finding(scenario="web-scanner", severity="low", confidence=0.4, detected_at=MONDAY_BUSINESS))
        h.detect(make_finding(scenario="ssh-bruteforce", severity="critical", confidence=0.5, detected_at=MONDAY_BUSINESS))
        h.detect(make_finding(scenario="ssh-bruteforce", ip="192.0.2.1", detected_at=MONDAY_BUSINESS))
        h.engine.ingest(MONDAY_BUSINESS)
        first, other = sorted(h.engine.incidents.all(), key=lambda i: i.entity["source.ip"], reverse=True)
        assert first.dedup_key == "*|source.ip=203.0.113.7"
        assert first.scenario_id == "web-scanner"  # named after what opened it
        assert (first.severity, first.confidence) == ("critical", pytest.approx(0.7))
        assert len(h.engine.incidents.member_ids(first.id)) == 2
        assert other.dedup_key == "*|source.ip=192.0.2.1"
        assert [a for _, _, a in h.audit(first.id)] == ["opened", "finding_attached"]
        # nobody had been told when the critical finding came: the paging policy took over
        assert first.policy_name == "page"
        assert h.audit_details(first.id, "finding_attached")[0]["policy_changed"] == {"from": "review", "to": "page"}
    finally:
        h.close()


def test_reopen_window_boundary(h: Harness) -> None:
    finding = h.detect(make_finding(detected_at=MONDAY_BUSINESS))
    h.run(MONDAY_BUSINESS)
    incident_id = h.incident().id
    resolved_at = MONDAY_BUSINESS + 10 * M
    h.engine.resolve(incident_id, "alice", "done", "weak password", resolved_at)
    at_edge = resolved_at + timedelta(hours=24)
    h.detect(finding, change="extended", at=at_edge)
    h.engine.ingest(at_edge)
    assert [i.id for i in h.engine.incidents.all()] == [incident_id]  # exactly 24h: still reopened
    assert h.incident().status == "open"
    h.engine.resolve(incident_id, "alice", "done", "weak password", at_edge + M)
    past = at_edge + M + timedelta(hours=24, seconds=1)
    h.detect(finding, change="extended", at=past)
    h.engine.ingest(past)
    assert len(h.engine.incidents.all()) == 2


def test_defects_are_grouped_per_kind_and_subject(h: Harness) -> None:
    def gap(offset: int, subject: str = "/var/log/nginx/access.log") -> Defect:
        return Defect(
            id=f"gap-{subject}-{offset}", kind="gap", severity="medium", subject=subject,
            detail=f"{subject}: truncated at {offset}", first_seen=MONDAY_BUSINESS, last_seen=MONDAY_BUSINESS,
        )

    h.defect(gap(100), MONDAY_BUSINESS)
    h.defect(gap(900), MONDAY_BUSINESS + M)
    h.defect(gap(5, "/var/log/auth.log"), MONDAY_BUSINESS + 2 * M)
    h.engine.ingest(MONDAY_BUSINESS + 2 * M)
    found = {i.dedup_key: i for i in h.engine.incidents.all()}
    assert set(found) == {"defect:gap|/var/log/nginx/access.log", "defect:gap|/var/log/auth.log"}
    nginx = found["defect:gap|/var/log/nginx/access.log"]
    assert (nginx.kind, nginx.severity, nginx.confidence, nginx.policy_name) == ("defect", "medium", 1.0, "confident-medium")
    assert [m[1] for m in h.engine.incidents.member_ids(nginx.id)] == [
        "gap-/var/log/nginx/access.log-100", "gap-/var/log/nginx/access.log-900"
    ]
    assert nginx.opened_at == MONDAY_BUSINESS


def test_a_finding_stays_in_its_incident_when_grouping_changes(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    finding = first.detect(make_finding(detected_at=MONDAY_BUSINESS))
    first.engine.ingest(MONDAY_BUSINESS)
    incident_id = first.incident().id
    first.close()
    second = Harness(tmp_path, policy_text="group_by: [entity]\n" + standard_policy_text())
    try:
        second.detect(finding, change="extended", at=MONDAY_BUSINESS + 5 * M)
        second.engine.ingest(MONDAY_BUSINESS + 5 * M)
        assert [i.id for i in second.engine.incidents.all()] == [incident_id]
        assert second.audit_details(incident_id, "finding_attached")[0]["change"] == "extended"
    finally:
        second.close()


def test_listing_and_lookup_by_prefix(h: Harness) -> None:
    h.detect(make_finding(detected_at=MONDAY_BUSINESS))
    h.detect(make_finding(ip="192.0.2.50", detected_at=MONDAY_BUSINESS + M))
    h.engine.ingest(MONDAY_BUSINESS + M)
    every = h.engine.incidents.all()
    assert [iso(i.opened_at) for i in every] == ["2026-11-23T09:00:00Z", "2026-11-23T09:01:00Z"]
    target = every[1]
    prefix = next(target.id[:n] for n in range(5, 15) if not every[0].id.startswith(target.id[:n]))
    assert h.engine.resolve_id(prefix).id == target.id
    assert h.engine.resolve_id(target.id).id == target.id
    with pytest.raises(UsageError, match="matches 2 incidents"):
        h.engine.resolve_id("INC-")
    data = target.to_dict()
    assert data["id"] == target.id and data["status"] == "open" and data["entity"] == {"source.ip": "192.0.2.50"}
    assert json.loads(json.dumps(data)) == data
