"""Finding confidence: the scenario prior, raised (never lowered) by evidence beyond the
threshold and by corroboration on the same entity, every raise explained."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detection.builders import (
    NOW,
    T0,
    Batch,
    LogFile,
    auth_failure_rule,
    process,
    scenario_doc,
    write_checklist,
)
from detector.checklist import load_checklist
from detector.detection import confidence
from detector.detection.engine import DetectionEngine
from detector.model import Evidence, Finding
from detector.state.store import Store

A, B = "203.0.113.7", "198.51.100.23"
RAISE = re.compile(r"^\+\d\.\d\d: \S")


def failure(seconds: float, ip: str = A, user: str = "root") -> dict[str, Any]:
    return {"@timestamp": T0 + timedelta(seconds=seconds), "event.action": "ssh-failed-password", "source.ip": ip, "user.name": user}


def admin_hit(seconds: float, ip: str = A) -> dict[str, Any]:
    return {"@timestamp": T0 + timedelta(seconds=seconds), "source.ip": ip, "url.path": "/admin/login"}


def brute() -> dict[str, Any]:
    return scenario_doc(
        "brute",
        confidence=0.6,
        rules={"auth-failure": auth_failure_rule()},
        correlation={"type": "event_count", "rules": ["auth-failure"], "group-by": ["source.ip"], "timespan": "10m", "condition": {"gte": 5}},
    )


def spray() -> dict[str, Any]:
    return scenario_doc(
        "spray",
        confidence=0.5,
        rules={"auth-failure": auth_failure_rule()},
        correlation={
            "type": "value_count", "rules": ["auth-failure"], "group-by": ["source.ip"],
            "field": "user.name", "timespan": "10m", "condition": {"gte": 3},
        },
    )


def web_admin() -> dict[str, Any]:
    rule = {"detection": {"s": {"url.path|startswith": "/admin"}, "condition": "s"}}
    return scenario_doc("web-admin", confidence=0.5, requires=["access"], rules={"admin-access": rule})


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_checklist(tmp_path / "repo", [brute(), spray(), web_admin()])


AUTH = "/var/log/auth.log"
ACCESS = "/var/log/nginx/access.log"


_FILES: dict[str, LogFile] = {}


@pytest.fixture(autouse=True)
def _fresh_files() -> None:
    """Each test reads its own files from offset 0."""
    _FILES.clear()


def batch(path: str, events: list[dict[str, Any]]) -> Batch:
    """The next lines of `path` (offsets continue where the previous batch of the test ended)."""
    handle = _FILES.setdefault(path, LogFile(path, "auth" if path == AUTH else "access"))
    return Batch(handle.frame(events), handle.context())


def by_scenario(found: list[Finding]) -> dict[str, Finding]:
    return {f.scenario_id: f for f in found}


def test_confidence_starts_at_the_prior(tmp_path: Path, rules: Path) -> None:
    found = process(tmp_path / "s.db", rules, [batch(AUTH, [failure(i) for i in range(5)])])
    assert [(f.scenario_id, f.confidence, f.confidence_reasons) for f in found] == [
        ("brute", 0.6, ("prior 0.60 of scenario brute v1.0.0",))
    ]


@pytest.mark.parametrize(
    ("count", "expected", "reason"),
    [
        (9, 0.6, None),
        (10, 1 - 0.4 * 0.8, "+0.08: 10 events, 2.0x the threshold of 5"),
        (20, 1 - 0.4 * 0.8**2, "+0.14: 20 events, 4.0x the threshold of 5"),
        (200, 1 - 0.4 * 0.8**4, "+0.24: 200 events, 40.0x the threshold of 5"),
    ],
)
def test_evidence_beyond_the_threshold_raises_confidence(tmp_path: Path, rules: Path, count: int, expected: float, reason: str | None) -> None:
    found = process(tmp_path / "s.db", rules, [batch(AUTH, [failure(i) for i in range(count)])])
    finding = by_scenario(found)["brute"]
    assert finding.count == count
    assert finding.confidence == pytest.approx(expected, abs=5e-5)  # stored with 4 decimals
    assert finding.confidence_reasons[1:] == ((reason,) if reason else ())


def test_value_count_evidence_counts_distinct_values(tmp_path: Path, rules: Path) -> None:
    users = [f"user{i}" for i in range(6)]
    found = process(tmp_path / "s.db", rules, [batch(AUTH, [failure(i * 200, ip=B, user=u) for i, u in enumerate(users)])])
    finding = by_scenario(found)["spray"]
    assert finding.extra["distinct_values"] == 6
    assert finding.confidence == pytest.approx(1 - 0.5 * 0.8)
    assert finding.confidence_reasons == (
        "prior 0.50 of scenario spray v1.0.0",
        "+0.10: 6 distinct user.name values, 2.0x the threshold of 3",
    )


def test_corroboration_from_another_log_kind_counts_more_than_from_the_same(tmp_path: Path, rules: Path) -> None:
    brute_then_spray = [failure(i, user=f"u{i % 3}") for i in range(5)]
    found = by_scenario(process(tmp_path / "same.db", rules, [batch(AUTH, brute_then_spray)]))
    assert found["brute"].confidence == pytest.approx(1 - 0.4 * (1 - 0.5 * 0.5))
    assert found["brute"].confidence_reasons[1:] == (f"+0.10: corroborated by spray (auth) on source.ip={A}",)

    found = by_scenario(
        process(tmp_path / "other.db", rules, [batch(AUTH, [failure(i) for i in range(5)]), batch(ACCESS, [admin_hit(60)])])
    )
    assert found["brute"].confidence == pytest.approx(1 - 0.4 * (1 - 0.8 * 0.5))
    assert found["brute"].confidence_reasons[1:] == (
        f"+0.16: corroborated by web-admin (access, another log kind) on source.ip={A}",
    )
    assert found["web-admin"].confidence == pytest.approx(1 - 0.5 * (1 - 0.8 * 0.6))
    assert found["web-admin"].confidence_reasons[1:] == (
        f"+0.24: corroborated by brute (auth, another log kind) on source.ip={A}",
    )


def test_a_raise_by_a_later_finding_is_announced_in_the_feed(tmp_path: Path, rules: Path) -> None:
    process(tmp_path / "s.db", rules, [batch(AUTH, [failure(i) for i in range(5)])])
    found = by_scenario(process(tmp_path / "s.db", rules, [batch(ACCESS, [admin_hit(60)])]))
    with Store(tmp_path / "s.db") as store:
        changes = [(fid, change) for _, fid, change in store.finding_changes_since(0)]
    assert changes == [(found["brute"].id, "new"), (found["web-admin"].id, "new"), (found["brute"].id, "confidence")]


def test_an_unchanged_confidence_is_not_announced_again(tmp_path: Path, rules: Path) -> None:
    """40 failures (8x the threshold) corroborated by a web finding: 1 - 0.4 * 0.8**3 * 0.6 =
    0.87712, stored as 0.8771; later batches that change nothing for it must stay silent."""
    process(tmp_path / "s.db", rules, [batch(AUTH, [failure(i) for i in range(40)]), batch(ACCESS, [admin_hit(600)])])
    with Store(tmp_path / "s.db") as store:
        seq = max(s for s, _, _ in store.finding_changes_since(0))
        brute_finding = store.findings()[0]
    assert brute_finding.confidence == 0.8771
    found = by_scenario(process(tmp_path / "s.db", rules, [batch(ACCESS, [admin_hit(660)]), batch(ACCESS, [admin_hit(720)])]))
    with Store(tmp_path / "s.db") as store:
        later = [(fid, change) for _, fid, change in store.finding_changes_since(seq)]
    assert later == [(found["web-admin"].id, "extended"), (found["web-admin"].id, "extended")]
    assert found["brute"].confidence == 0.8771


def test_other_entities_and_distant_times_do_not_corroborate(tmp_path: Path, rules: Path) -> None:
    found = by_scenario(
        process(
            tmp_path / "s.db",
            rules,
            [batch(AUTH, [failure(i) for i in range(5)]), batch(ACCESS, [admin_hit(60, ip=B), admin_hit(3 * 86400)])],
        )
    )
    assert found["brute"].confidence == 0.6
    assert found["brute"].confidence_reasons == ("prior 0.60 of scenario brute v1.0.0",)


def _finding(scenario: str, kinds: tuple[str, ...], exercise: bool = False, count: int = 1, entity: dict | None = None) -> Finding:
    ev = Evidence(path="/x", offset=0, line="x", timestamp=T0, log_kind=kinds[0])
    return Finding(
        id=f"{scenario}-{exercise}", scenario_id=scenario, scenario_version="1.0.0", checklist_version="2026.11.0",
        title=scenario, severity="high", confidence=0.5, confidence_reasons=(), entity=entity or {"source.ip": A},
        first_seen=T0, last_seen=T0, detected_at=NOW, count=count, log_kinds=kinds, attack=("T1110.001",),
        evidence=(ev,), exercise=exercise,
    )


def test_exercise_findings_do_not_corroborate_real_ones(tmp_path: Path, rules: Path) -> None:
    with Store(tmp_path / "s.db") as store, store.transaction():
        store.put_finding(_finding("web-admin", ("access",), exercise=True), change="new", now=NOW)
    found = process(tmp_path / "s.db", rules, [batch(AUTH, [failure(i) for i in range(5)])])
    real = [f for f in found if not f.exercise]
    assert [(f.scenario_id, f.confidence, f.confidence_reasons) for f in real] == [
        ("brute", 0.6, ("prior 0.60 of scenario brute v1.0.0",))
    ]
    checklist = load_checklist(rules)
    value, reasons = confidence.compute(_finding("brute", ("auth",), exercise=True, count=5), checklist, real)
    assert (value, reasons) == (0.6, ("prior 0.60 of scenario brute v1.0.0",))


def test_corroboration_by_one_scenario_counts_once(rules: Path) -> None:
    checklist = load_checklist(rules)
    others = [replace(_finding("web-admin", ("access",)), id=f"w{i}") for i in range(5)]
    value, reasons = confidence.compute(_finding("brute", ("auth",), count=5), checklist, others)
    assert value == pytest.approx(1 - 0.4 * (1 - 0.8 * 0.5))
    assert len(reasons) == 2


def test_confidence_stays_below_certainty(rules: Path) -> None:
    checklist = load_checklist(rules)
    value, _ = confidence.compute(_finding("brute", ("auth",), count=10**9), checklist, [
        _finding("web-admin", ("access",)), _finding("spray", ("firewall",)),
    ])
    assert 0.9 < value <= 0.999


# -- monotone across batches -------------------------------------------------------------------

EVENT = st.tuples(
    st.sampled_from(["fail", "admin"]),
    st.sampled_from([A, B]),
    st.sampled_from(["root", "admin", "oracle", "pi"]),
    st.integers(min_value=0, max_value=7200),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(EVENT, min_size=1, max_size=12), min_size=2, max_size=5))
def test_confidence_never_decreases_and_every_raise_is_explained(tmp_path_factory, batches) -> None:
    root = tmp_path_factory.mktemp("mono")
    rules = write_checklist(root, [brute(), spray(), web_admin()])
    engine = DetectionEngine(load_checklist(rules))
    seen: dict[str, float] = {}
    auth, access = LogFile(AUTH, "auth"), LogFile(ACCESS, "access")
    with Store(root / "s.db") as store:
        for events in batches:
            fails = [failure(t, ip=ip, user=u) for kind, ip, u, t in events if kind == "fail"]
            admins = [admin_hit(t, ip=ip) for kind, ip, u, t in events if kind == "admin"]
            for log, rows in ((auth, fails), (access, admins)):
                if rows:
                    with store.transaction():
                        engine.process(store, log.frame(rows), log.context())
            for finding in store.findings(include_exercise=True):
                assert finding.confidence >= seen.get(finding.id, 0.0) - 1e-9
                seen[finding.id] = finding.confidence
                prior = {"brute": 0.6, "spray": 0.5, "web-admin": 0.5}[finding.scenario_id]
                assert finding.confidence >= prior
                assert finding.confidence_reasons[0] == f"prior {prior:.2f} of scenario {finding.scenario_id} v1.0.0"
                assert all(RAISE.match(r) for r in finding.confidence_reasons[1:]), finding.confidence_reasons
                assert (finding.confidence > prior + 1e-9) == (len(finding.confidence_reasons) > 1)
