"""The escalation engine through simulated time: who is told what, when, and what the audit says.

Each person of the test policy has their own journal channel, so `received()` is exactly what
each person got. The calendar is Europe/Berlin, Mon-Fri 09:00-17:00 (08:00-16:00 UTC).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from escalationkit import (
    CHRISTMAS_EVE,
    FRIDAY_EVENING,
    MONDAY_BUSINESS,
    MONDAY_EVENING,
    NEXT_MONDAY_OPENING,
    Harness,
    journal,
    make_finding,
    received,
    utc,
)

from detector.errors import NotFoundError, UsageError
from detector.model import Defect, Finding

M = timedelta(minutes=1)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.close()


def test_business_hours_two_levels_then_repeat_then_exhaustion(h: Harness) -> None:
    h.detect(make_finding(detected_at=MONDAY_BUSINESS))
    t = MONDAY_BUSINESS
    h.run(t)
    h.run(t + 19 * M)  # nothing is due yet
    h.run(t + 20 * M)  # level 2
    h.run(t + 50 * M)  # path restarts: level 1 again
    h.run(t + 70 * M)  # level 2 again
    h.run(t + 100 * M)  # exhausted
    h.run(t + 600 * M)  # nothing more
    assert received(h.directory) == {
        "alice": [("trigger", 1, "2026-11-23T09:00:00Z"), ("repeat", 1, "2026-11-23T09:50:00Z")],
        "carol": [("escalate", 2, "2026-11-23T09:20:00Z"), ("escalate", 2, "2026-11-23T10:10:00Z")],
        "dave": [("escalate", 3, "2026-11-23T10:40:00Z")],
    }
    incident = h.incident()
    assert (incident.status, incident.level, incident.cycle, incident.next_action) == ("open", 2, 1, None)
    assert incident.exhausted_at == t + 100 * M
    assert incident.first_notified_at == t
    assert h.steps(incident.id) == [
        ("fire_level", 1, 0, "2026-11-23T09:00:00Z", "2026-11-23T09:00:00Z", 0.0, "business"),
        ("fire_level", 2, 0, "2026-11-23T09:20:00Z", "2026-11-23T09:20:00Z", 0.0, "business"),
        ("repeat", 1, 1, "2026-11-23T09:50:00Z", "2026-11-23T09:50:00Z", 0.0, "business"),
        ("fire_level", 2, 1, "2026-11-23T10:10:00Z", "2026-11-23T10:10:00Z", 0.0, "business"),
        ("exhausted", 3, 1, "2026-11-23T10:40:00Z", "2026-11-23T10:40:00Z", 0.0, "business"),
    ]
    assert [a for _, _, a in h.audit(incident.id)] == ["opened", "escalated", "escalated", "repeated", "escalated", "exhausted"]
    # every message was delivered, and the outbox said so in the audit trail
    assert [a for _, actor, a in h.audit(incident.id, actor="outbox")] == ["notified"] * 5
    assert h.engine.audit.verify().ok


def test_a_late_tick_is_recorded_and_the_wait_counts_from_when_the_level_really_fired(h: Harness) -> None:
    h.detect(make_finding(detected_at=MONDAY_BUSINESS))
    h.run(MONDAY_BUSINESS)
    h.run(MONDAY_BUSINESS + 27 * M)  # the cron tick came 7 minutes late
    h.run(MONDAY_BUSINESS + 56 * M)  # level 2 waits 30m from 09:27: not yet
    incident = h.incident()
    assert h.steps(incident.id)[1][:6] == ("fire_level", 2, 0, "2026-11-23T09:20:00Z", "2026-11-23T09:27:00Z", 420.0)
    assert incident.next_due_at == MONDAY_BUSINESS + 57 * M
    assert [e for e, _, _ in received(h.directory)["alice"]] == ["trigger"]
    assert h.audit_details(incident.id, "escalated")[1]["late_seconds"] == 420.0


def test_after_hours_pages_the_on_call_rotation_at_once(h: Harness) -> None:
    h.detect(make_finding(detected_at=MONDAY_EVENING))
    h.run(MONDAY_EVENING)
    h.run(MONDAY_EVENING + 20 * M)
    incident = h.incident()
    # week of 23 November: the third hand-over after 2 November, so erin holds the pager
    assert received(h.directory) == {
        "erin": [("trigger", 1, "2026-11-23T20:00:00Z")],
        "carol": [("escalate", 2, "2026-11-23T20:20:00Z")],  # level 2 has no after-hours targets
    }
    assert incident.day_class == "after_hours"
    assert h.outbox(incident.id)[0] == ("erin", "erin-log", "night", "trigger", 1, "sent")
    assert [s[6] for s in h.steps(incident.id)] == ["after_hours", "after_hours"]
    assert h.audit_details(incident.id, "escalated")[0]["recipients"] == [
        {"target": "erin", "via": "night", "channel": "erin-log"}
    ]


def test_a_holiday_counts_as_after_hours_and_the_rotation_moves_on(h: Harness) -> None:
    h.detect(make_finding(detected_at=CHRISTMAS_EVE))
    h.run(CHRISTMAS_EVE)
    incident = h.incident()
    assert incident.day_class == "holiday"
    # Thursday 24 December 11:00 would be business hours; on the holiday the night rotation
    # (erin's week: the seventh hand-over) is paged instead of alice
    assert received(h.directory) == {"erin": [("trigger", 1, "2026-12-24T10:00:00Z")]}
    assert h.steps(incident.id)[0][6] == "holiday"


def test_acknowledging_before_the_deadline_stops_the_escalation(h: Harness) -> None:
    h.detect(make_finding(detected_at=MONDAY_BUSINESS))
    h.run(MONDAY_BUSINESS)
    h.engine.acknowledge(h.incident().id, "alice", MONDAY_BUSINESS + 10 * M)
    h.run(MONDAY_BUSINESS + 20 * M)
    h.run(MONDAY_BUSINESS + 110 * M)
    incident = h.incident()
    assert incident.status == "acknowledged" and incident.acknowledged_by == "alice"
    assert received(h.directory) == {
        "alice": [("trigger", 1, "2026-11-23T09:00:00Z"), ("acknowledge", 0, "2026-11-23T09:10:00Z")],
    }
    (ack,) = h.audit_details(incident.id, "acknowledged")
    assert ack["within_deadline"] is True and ack["level"] == 1
    assert ack["seconds_since_first_notified"] == 600.0
    assert ("2026-11-23T09:10:00Z", "alice", "acknowledged") in h.audit(incident.id)


def test_acknowledging_after_the_deadline(h: Harness) -> None:
    first = h.detect(make_finding(detected_at=MONDAY_BUSINESS))
    second = h.detect(make_finding(ip="198.51.100.9", detected_at=MONDAY_BUSINESS))
    h.run(MONDAY_BUSINESS)
    by_ip = {i.entity["source.ip"]: i for i in h.engine.incidents.all()}
    early, late = by_ip[first.entity["source.ip"]], by_ip[second.entity["source.ip"]]
    # no tick ran since the deadline: the ack still stops level 2, but is recorded as late
    h.engine.acknowledge(early.id, "bob", MONDAY_BUSINESS + 25 * M)
    assert h.audit_details(early.id, "acknowledged")[0]["within_deadline"] is False
    # for the other incident a tick ran at the deadline and fired level 2 before the ack came
    h.run(MONDAY_BUSINESS + 20 * M)
    assert [s[0] for s in h.steps(early.id)] == ["fire_level"]  # acknowledged: nothing more
    assert [(s[0], s[1]) for s in h.steps(late.id)] == [("fire_level", 1), ("fire_level", 2)]
    h.engine.acknowledge(late.id, "carol", MONDAY_BUSINESS + 25 * M)
    (ack,) = h.audit_details(late.id, "acknowledged")
    assert (ack["level"], ack["within_deadline"], ack["ack_deadline"]) == (2, True, "2026-11-23T09:50:00Z")
    carol = [(m["event"], m["incident_id"]) for m in journal(h.directory, "carol")]
    assert carol == [("escalate", late.id), ("acknowledge", late.id)]
    alice = [(m["event"], m["incident_id"]) for m in journal(h.directory, "alice")]
    assert sorted(alice) == sorted(
        [("trigger", early.id), ("trigger", late.id), ("acknowledge", early.id), ("acknowledge", late.id)]
    )


def test_a_stale_acknowledgement_times_out_and_escalates_again(h: Harness) -> None:
    h.detect(make_finding(detected_at=MONDAY_BUSINESS))
    h.run(MONDAY_BUSINESS)
    incident = h.engine.acknowledge(h.incident().id, "alice", MONDAY_BUSINESS + 10 * M)
    assert incident.next_action == "ack_timeout" and incident.next_due_at == MONDAY_BUSINESS + 130 * M
    h.run(MONDAY_BUSINESS + 129 * M)
    assert h.incident().status == "acknowledged"
    h.run(MONDAY_BUSINESS + 130 * M)  # two hours after the ack, still not resolved
    assert h.incident().status == "open"
    h.run(MONDAY_BUSINESS + 150 * M)
    assert received(h.directory) == {
        "alice": [
            ("trigger", 1, "2026-11-23T09:00:00Z"),
            ("acknowledge", 0, "2026-11-23T09:10:00Z"),
            ("reminder", 1, "2026-11-23T11:10:00Z"),
        ],
        "carol": [("escalate", 2, "2026-11-23T11:30:00Z")],
    }
    assert [s[0] for s in h.steps(incident.id)] == ["fire_level", "ack_timeout", "fire_level", "fire_level"]
    assert [a for _, _, a in h.audit(incident.id)] == [
        "opened", "escalated", "acknowledged", "ack_timeout", "escalated", "escalated"
    ]
    assert h.audit_details(incident.id, "ack_timeout")[0]["acknowledged_by"] == "alice"


def test_after_hours_hold_sends_one_digest_when_business_hours_start(h: Harness) -> None:
    finding = h.detect(make_finding(scenario="web-scanner", severity="low", confidence=0.6, detected_at=FRIDAY_EVENING))
    h.run(FRIDAY_EVENING)
    incident = h.incident()
    assert incident.policy_name == "review" and incident.held
    assert received(h.directory) == {}
    assert h.outbox(incident.id) == [("alice", "alice-log", None, "trigger", 1, "suppressed")]
    (held,) = h.audit_details(incident.id, "held")
    assert held["digest_at"] == "2026-11-30T08:00:00Z"  # Monday 09:00 in Berlin
    # over the weekend the scanner comes back; the incident grows, nobody is woken
    h.detect(replace_count(finding, 40), change="extended", at=utc("2026-11-28 23:00"))
    h.run(utc("2026-11-28 23:00"))
    h.run(utc("2026-11-29 12:00"))
    h.run(NEXT_MONDAY_OPENING - M)
    assert received(h.directory) == {}
    h.run(NEXT_MONDAY_OPENING)
    h.run(NEXT_MONDAY_OPENING + 30 * M)
    assert received(h.directory) == {"alice": [("digest", 1, "2026-11-30T08:00:00Z")]}
    (digest,) = journal(h.directory, "alice")
    assert digest["count"] == 40
    h.run(NEXT_MONDAY_OPENING + 60 * M)  # no ack within the hour: level 2 as usual
    assert received(h.directory)["carol"] == [("escalate", 2, "2026-11-30T09:00:00Z")]
    assert [(s[0], s[6]) for s in h.steps(incident.id)] == [
        ("hold", "after_hours"), ("digest", "business"), ("fire_level", "business")
    ]
    assert h.steps(incident.id)[1][5] == 0.0  # the digest went out on time
    assert [a for _, _, a in h.audit(incident.id)] == ["opened", "held", "finding_attached", "digest", "escalated"]


def test_hold_skips_holidays(h: Harness) -> None:
    evening = utc("2026-12-23 18:00")  # Wednesday 19:00 in Berlin; Thursday and Friday are holidays
    h.detect(make_finding(severity="low", detected_at=evening))
    h.run(evening)
    h.run(utc("2026-12-24 09:00"))
    h.run(utc("2026-12-25 09:00"))
    assert received(h.directory) == {}
    assert h.incident().next_due_at == utc("2026-12-28 08:00")
    h.run(utc("2026-12-28 08:00"))
    assert received(h.directory) == {"alice": [("digest", 1, "2026-12-28T08:00:00Z")]}


def test_snooze_suspends_until_its_end_then_reminds(h: Harness) -> None:
    h.detect(make_finding(detected_at=MONDAY_BUSINESS))
    h.run(MONDAY_BUSINESS)
    incident = h.engine.snooze(h.incident().id, timedelta(hours=1), "alice", MONDAY_BUSINESS + 5 * M)
    assert (incident.status, incident.snoozed_until) == ("snoozed", MONDAY_BUSINESS + 65 * M)
    h.run(MONDAY_BUSINESS + 20 * M)
    h.run(MONDAY_BUSINESS + 64 * M)
    assert "carol" not in received(h.directory)
    h.run(MONDAY_BUSINESS + 65 * M)
    assert h.incident().status == "open"
    h.run(MONDAY_BUSINESS + 85 * M)
    assert received(h.directory) == {
        "alice": [("trigger", 1, "2026-11-23T09:00:00Z"), ("reminder", 1, "2026-11-23T10:05:00Z")],
        "carol": [("escalate", 2, "2026-11-23T10:25:00Z")],
    }
    assert [a for _, _, a in h.audit(incident.id)] == ["opened", "escalated", "snoozed", "unsnoozed", "escalated", "escalated"]
    (snoozed,) = h.audit_details(incident.id, "snoozed")
    assert snoozed["until"] == "2026-11-23T10:05:00Z"


def test_resolve_needs_a_root_cause_for_high_severity_and_tells_who_was_paged(h: Harness) -> None:
    h.detect(make_finding(detected_at=MONDAY_BUSINESS))
    h.run(MONDAY_BUSINESS)
    incident_id = h.incident().id
    with pytest.raises(UsageError, match="needs --root-cause"):
        h.engine.resolve(incident_id, "alice", "blocked the address", None, MONDAY_BUSINESS + 5 * M)
    assert h.incident().status == "open"  # nothing half-applied
    resolved = h.engine.resolve(incident_id, "alice", "blocked the address", "password login allowed", MONDAY_BUSINESS + 6 * M)
    assert (resolved.status, resolved.resolved_by, resolved.root_cause) == ("resolved", "alice", "password login allowed")
    h.run(MONDAY_BUSINESS + 60 * M)
    assert received(h.directory) == {"alice": [("trigger", 1, "2026-11-23T09:00:00Z"), ("resolve", 0, "2026-11-23T09:06:00Z")]}
    with pytest.raises(UsageError, match="already resolved"):
        h.engine.acknowledge(incident_id, "bob", MONDAY_BUSINESS + 61 * M)
    with pytest.raises(NotFoundError):
        h.engine.acknowledge("INC-0000000000", "bob", MONDAY_BUSINESS + 61 * M)


def test_new_activity_within_the_reopen_window_reopens_later_activity_opens_a_new_incident(h: Harness) -> None:
    finding = h.detect(make_finding(detected_at=MONDAY_BUSINESS))
    h.run(MONDAY_BUSINESS)
    first_id = h.incident().id
    h.engine.resolve(first_id, "alice", "blocked", "weak password", MONDAY_BUSINESS + 10 * M)
    again = MONDAY_BUSINESS + 5 * 60 * M  # five hours later, within 24h
    h.detect(replace_count(finding, 30), change="extended", at=again)
    h.run(again)
    reopened = h.incident()
    assert (reopened.id, reopened.status, reopened.level, reopened.resolved_at) == (first_id, "open", 1, None)
    assert [a for _, _, a in h.audit(first_id)] == [
        "opened", "escalated", "resolved", "reopened", "finding_attached", "escalated"
    ]
    assert h.audit_details(first_id, "reopened")[0]["previous"]["root_cause"] == "weak password"
    assert received(h.directory)["alice"][-1] == ("trigger", 1, "2026-11-23T14:00:00Z")
    h.engine.resolve(first_id, "alice", "blocked again", "weak password", again + 5 * M)
    two_days = again + timedelta(days=2)
    h.detect(replace_count(finding, 60), change="extended", at=two_days)
    h.run(two_days)
    incidents = h.engine.incidents.all()
    assert [(i.id == first_id, i.status) for i in incidents] == [(True, "resolved"), (False, "open")]
    assert incidents[1].opened_at == two_days
    assert h.engine.incidents.member_ids(incidents[1].id)[0][1] == finding.id


def test_policy_is_reselected_while_nobody_was_told_and_kept_afterwards(h: Harness) -> None:
    # after hours a medium finding of modest confidence is held for the morning digest ...
    quiet = h.detect(make_finding(scenario="app-spray", severity="medium", confidence=0.6, detected_at=MONDAY_EVENING))
    h.run(MONDAY_EVENING)
    held = h.incident()
    assert (held.policy_name, held.held, held.level) == ("review", True, 0)
    # ... until corroboration lifts its confidence over the paging policy's threshold
    later = MONDAY_EVENING + 30 * M
    h.detect(replace_confidence(quiet, 0.95), change="confidence", at=later)
    h.run(later)
    paged = h.incident()
    assert paged.policy_name == "confident-medium"
    assert received(h.directory) == {"carol": [("trigger", 1, "2026-11-23T20:30:00Z")]}
    (attached,) = h.audit_details(paged.id, "finding_attached")
    assert attached["policy_changed"] == {"from": "review", "to": "confident-medium"}


def test_after_the_first_notification_the_frozen_policy_stays_and_the_difference_is_recorded(h: Harness) -> None:
    quiet = h.detect(make_finding(scenario="app-spray", severity="medium", confidence=0.6, detected_at=MONDAY_BUSINESS))
    h.run(MONDAY_BUSINESS)
    h.detect(replace_confidence(quiet, 0.95), change="confidence", at=MONDAY_BUSINESS + 5 * M)
    h.run(MONDAY_BUSINESS + 5 * M)
    incident = h.incident()
    assert (incident.policy_name, incident.confidence) == ("review", 0.95)
    (attached,) = h.audit_details(incident.id, "finding_attached")
    assert attached["policy_would_match"] == "confident-medium" and "policy_changed" not in attached
    assert received(h.directory) == {"alice": [("trigger", 1, "2026-11-23T09:00:00Z")]}


def test_findings_of_one_key_form_one_incident_with_noisy_or_confidence(h: Harness) -> None:
    first = h.detect(make_finding(confidence=0.5, detected_at=MONDAY_BUSINESS))
    h.run(MONDAY_BUSINESS)
    # the first finding closed; the same scenario and source start again: a second finding
    second = make_finding(confidence=0.6, detected_at=MONDAY_BUSINESS + 10 * M, severity="critical")
    assert second.id != first.id
    h.detect(second)
    h.run(MONDAY_BUSINESS + 10 * M)
    incident = h.incident()
    assert incident.confidence == pytest.approx(0.8)
    assert incident.severity == "critical"
    assert {m[1] for m in h.engine.incidents.member_ids(incident.id)} == {first.id, second.id}
    assert incident.dedup_key == "ssh-bruteforce|source.ip=203.0.113.7"
    assert [e for e, _, _ in received(h.directory)["alice"]] == ["trigger"]  # no second page


def test_a_defect_is_escalated_like_a_finding_of_its_severity(h: Harness) -> None:
    defect = Defect(
        id="gap-1", kind="gap", severity="high", subject="/var/log/auth.log",
        detail="/var/log/auth.log was truncated: 4096 bytes were never read",
        first_seen=MONDAY_BUSINESS, last_seen=MONDAY_BUSINESS,
    )
    h.defect(defect, MONDAY_BUSINESS)
    h.run(MONDAY_BUSINESS)
    incident = h.incident()
    assert (incident.kind, incident.dedup_key, incident.scenario_id, incident.policy_name) == (
        "defect", "defect:gap|/var/log/auth.log", "defect:gap", "page"
    )
    (message,) = journal(h.directory, "alice")
    assert message["event"] == "trigger" and message["entity"] == {"defect.subject": "/var/log/auth.log"}
    assert "4096 bytes were never read" in " ".join(message["reasons"])
    h.engine.acknowledge(incident.id, "alice", MONDAY_BUSINESS + M)
    assert [d.triage for d in h.store.defects()] == ["acknowledged"]


def test_an_incident_no_policy_matches_is_recorded_but_nobody_is_told(h: Harness) -> None:
    h.detect(make_finding(severity="informational", detected_at=MONDAY_BUSINESS))
    h.run(MONDAY_BUSINESS)
    incident = h.incident()
    assert (incident.policy_name, incident.next_action, incident.status) == (None, None, "open")
    assert received(h.directory) == {}
    assert h.audit_details(incident.id, "opened")[0]["policy"] is None
    # people can still work on it; a snooze ends on time even without a policy
    h.engine.snooze(incident.id, timedelta(minutes=30), "alice", MONDAY_BUSINESS + M)
    h.run(MONDAY_BUSINESS + 31 * M)
    assert h.incident().status == "open"
    assert [a for _, _, a in h.audit(incident.id)] == ["opened", "snoozed", "unsnoozed"]


def test_ingest_is_idempotent_and_keeps_its_cursor(h: Harness) -> None:
    h.detect(make_finding(detected_at=MONDAY_BUSINESS))
    assert h.engine.ingest(MONDAY_BUSINESS) == 1
    assert h.engine.ingest(MONDAY_BUSINESS) == 0
    h.run(MONDAY_BUSINESS)
    h.run(MONDAY_BUSINESS)
    assert len(h.engine.incidents.all()) == 1
    assert received(h.directory) == {"alice": [("trigger", 1, "2026-11-23T09:00:00Z")]}
    assert h.store.get_meta("escalation.finding_seq") == "1"


def test_the_policy_frozen_at_open_survives_an_edited_policy_file(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    first.detect(make_finding(detected_at=MONDAY_BUSINESS))
    first.run(MONDAY_BUSINESS)
    first.close()
    edited = (tmp_path / "policy.yaml").read_text().replace("notify: [carol]\n        wait: 30m", "notify: [bob]\n        wait: 30m")
    second = Harness(tmp_path, policy_text=edited)
    second.run(MONDAY_BUSINESS + 20 * M)
    assert "bob" not in received(tmp_path)
    assert received(tmp_path)["carol"] == [("escalate", 2, "2026-11-23T09:20:00Z")]
    second.close()


def test_log_content_in_a_notification_is_made_safe(h: Harness) -> None:
    hostile = "203.0.113.9\x1b[31m\u202e"
    h.detect(make_finding(ip=hostile, detected_at=MONDAY_BUSINESS))
    h.run(MONDAY_BUSINESS)
    (message,) = journal(h.directory, "alice")
    assert message["entity"] == {"source.ip": "203.0.113.9\\x1b[31m\\u202e"}


# --- helpers ------------------------------------------------------------------------------------


def replace_count(finding: Finding, count: int) -> Finding:
    return replace(finding, count=count, last_seen=finding.first_seen + timedelta(seconds=30 * (count - 1)))


def replace_confidence(finding: Finding, confidence: float) -> Finding:
    return replace(finding, confidence=confidence, confidence_reasons=(*finding.confidence_reasons, "corroborated"))
