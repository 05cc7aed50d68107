"""Sigma correlation semantics through `DetectionEngine.process` with a real SQLite store:
thresholds, windows, group-by, value_count, temporal (ordered or not) across log kinds,
chaining, lateness, state across runs, reopening, deterministic ids, evidence cap."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
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
    findings_of,
    frame,
    materialize,
    process,
    read_in_order,
    scenario_doc,
    write_checklist,
)
from detector.checklist import load_checklist
from detector.detection.engine import DetectionEngine
from detector.model import Finding
from detector.state.store import Store

A, B, C = "203.0.113.7", "198.51.100.23", "192.0.2.99"
US = timedelta(microseconds=1)


def failure(ts: datetime, ip: str | None = A, user: str = "root") -> dict[str, Any]:
    event: dict[str, Any] = {"@timestamp": ts, "event.action": "ssh-failed-password", "user.name": user}
    if ip is not None:
        event["source.ip"] = ip
    return event


def accepted(ts: datetime, ip: str = A, user: str = "deploy") -> dict[str, Any]:
    return {"@timestamp": ts, "event.action": "ssh-accepted-password", "source.ip": ip, "user.name": user}


def admin_hit(ts: datetime, ip: str = A) -> dict[str, Any]:
    return {"@timestamp": ts, "source.ip": ip, "url.path": "/admin/login", "http.response.status_code": 200}


def brute(sid: str = "brute", gte: int = 5, group_by: list[str] | None = None, timespan: str = "10m", **more: Any) -> dict[str, Any]:
    return scenario_doc(
        sid,
        rules={"auth-failure": auth_failure_rule()},
        correlation={
            "type": "event_count",
            "rules": ["auth-failure"],
            "group-by": group_by or ["source.ip"],
            "timespan": timespan,
            "condition": {"gte": gte},
        },
        **more,
    )


ACCEPTED_RULE = {"detection": {"selection": {"event.action": "ssh-accepted-password"}, "condition": "selection"}}
ADMIN_RULE = {"detection": {"selection": {"url.path|startswith": "/admin"}, "condition": "selection"}}


def temporal(sid: str, kind: str) -> dict[str, Any]:
    """Web admin access and a successful SSH login from one address, within 10 minutes."""
    return scenario_doc(
        sid,
        requires=["access", "auth"],
        rules={"admin-access": ADMIN_RULE, "ssh-login": ACCEPTED_RULE},
        correlation={"type": kind, "rules": ["admin-access", "ssh-login"], "group-by": ["source.ip"], "timespan": "10m"},
    )


def run(tmp_path: Path, scenarios: list[dict[str, Any]], batches: list[Batch], name: str = "state", **meta: Any) -> list[Finding]:
    """Write the test's checklist (once, as repo/rules), then run `batches` into state `name`."""
    rules = tmp_path / "repo" / "rules"
    if not rules.exists():
        write_checklist(tmp_path / "repo", scenarios, **meta)
    return process(tmp_path / f"{name}.db", rules, batches)


def auth_batch(log: LogFile, events: list[dict[str, Any]]) -> Batch:
    return Batch(log.frame(events), log.context())


def seconds(*values: float) -> list[datetime]:
    return [T0 + timedelta(seconds=v) for v in values]


# -- event_count -------------------------------------------------------------------------------


def test_event_count_threshold_edge(tmp_path: Path) -> None:
    auth = LogFile("/var/log/auth.log", "auth")
    first = auth_batch(auth, [failure(t) for t in seconds(0, 1, 2, 3)])
    found = run(tmp_path, [brute(gte=5)], [first])
    assert found == []
    second = auth_batch(auth, [failure(T0 + timedelta(seconds=4))])
    found = process(tmp_path / "state.db", tmp_path / "repo" / "rules", [second])
    assert [(f.scenario_id, f.entity, f.count, f.first_seen, f.last_seen) for f in found] == [
        ("brute", {"source.ip": A}, 5, T0, T0 + timedelta(seconds=4))
    ]
    finding = found[0]
    assert finding.severity == "high"
    assert finding.status == "open"
    assert finding.log_kinds == ("auth",)
    assert finding.attack == ("T1110.001",)
    assert finding.checklist_version == "2026.11.0"
    assert finding.scenario_version == "1.0.0"
    assert finding.detected_at == NOW
    lines = [*first.frame.itertuples(index=False), *second.frame.itertuples(index=False)]
    assert [(e.path, e.offset, e.line, e.timestamp, e.log_kind, e.file_uid) for e in finding.evidence] == [
        ("/var/log/auth.log", row[1], row[2], row[0], "auth", "uid-/var/log/auth.log") for row in lines
    ]


@pytest.mark.parametrize(("last", "fires"), [(timedelta(minutes=10), True), (timedelta(minutes=10) + US, False)])
def test_events_exactly_timespan_apart_are_inside_the_window(tmp_path: Path, last: timedelta, fires: bool) -> None:
    auth = LogFile("/var/log/auth.log", "auth")
    times = [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), T0 + timedelta(minutes=3), T0 + last]
    found = run(tmp_path, [brute(gte=5)], [auth_batch(auth, [failure(t) for t in times])])
    assert [(f.count, f.first_seen, f.last_seen) for f in found] == ([(5, T0, T0 + last)] if fires else [])


def test_gt_condition_needs_one_more_event(tmp_path: Path) -> None:
    auth = LogFile("/var/log/auth.log", "auth")
    scenario = brute()
    scenario["correlation"]["condition"] = {"gt": 5}
    found = run(tmp_path, [scenario], [auth_batch(auth, [failure(t) for t in seconds(0, 1, 2, 3, 4)])])
    assert found == []
    found = process(tmp_path / "state.db", tmp_path / "repo" / "rules", [auth_batch(auth, [failure(T0 + timedelta(seconds=5))])])
    assert [f.count for f in found] == [6]


def test_group_by_separates_interleaved_sources(tmp_path: Path) -> None:
    auth = LogFile("/var/log/auth.log", "auth")
    events = [failure(T0 + timedelta(seconds=i), ip=A if i % 2 == 0 else B) for i in range(10)]
    events.append(failure(T0 + timedelta(seconds=11), ip=C))
    found = run(tmp_path, [brute(gte=5)], [auth_batch(auth, events)])
    assert sorted((f.entity["source.ip"], f.count, f.first_seen, f.last_seen) for f in found) == sorted(
        [
            (A, 5, T0, T0 + timedelta(seconds=8)),
            (B, 5, T0 + timedelta(seconds=1), T0 + timedelta(seconds=9)),
        ]
    )


def test_group_by_two_fields(tmp_path: Path) -> None:
    auth = LogFile("/var/log/auth.log", "auth")
    events = (
        [failure(T0 + timedelta(seconds=i), ip=A, user="root") for i in range(5)]
        + [failure(T0 + timedelta(seconds=10 + i), ip=A, user="admin") for i in range(4)]
        + [failure(T0 + timedelta(seconds=20 + i), ip=B, user="root") for i in range(5)]
    )
    found = run(tmp_path, [brute(gte=5, group_by=["source.ip", "user.name"])], [auth_batch(auth, events)])
    assert sorted((tuple(sorted(f.entity.items())), f.count) for f in found) == [
        ((("source.ip", B), ("user.name", "root")), 5),
        ((("source.ip", A), ("user.name", "root")), 5),
    ]


def test_events_without_a_group_by_value_are_not_grouped(tmp_path: Path) -> None:
    auth = LogFile("/var/log/auth.log", "auth")
    events = [failure(T0 + timedelta(seconds=i), ip=None) for i in range(8)]
    events += [failure(T0 + timedelta(seconds=20 + i), ip=A) for i in range(4)]
    found = run(tmp_path, [brute(gte=5)], [auth_batch(auth, events)])
    assert found == []


# -- value_count -------------------------------------------------------------------------------


def spray(gte: int = 3) -> dict[str, Any]:
    return scenario_doc(
        "spray",
        rules={"auth-failure": auth_failure_rule()},
        correlation={
            "type": "value_count",
            "rules": ["auth-failure"],
            "group-by": ["source.ip"],
            "field": "user.name",
            "timespan": "10m",
            "condition": {"gte": gte},
        },
    )


def test_value_count_counts_distinct_values(tmp_path: Path) -> None:
    auth = LogFile("/var/log/auth.log", "auth")
    events = [failure(T0 + timedelta(seconds=i), ip=B, user="root") for i in range(10)]
    events += [failure(T0 + timedelta(seconds=20 + i), ip=A, user=u) for i, u in enumerate(["root", "root", "admin", "admin"])]
    found = run(tmp_path, [spray(gte=3)], [auth_batch(auth, events)])
    assert found == []
    found = process(
        tmp_path / "state.db", tmp_path / "repo" / "rules", [auth_batch(auth, [failure(T0 + timedelta(seconds=30), ip=A, user="oracle")])]
    )
    assert [(f.entity, f.count, f.extra) for f in found] == [
        ({"source.ip": A}, 5, {"distinct_values": 3, "values": ["root", "admin", "oracle"]})
    ]


# -- temporal, temporal_ordered, several log kinds ---------------------------------------------


@pytest.mark.parametrize("access_first", [True, False])
def test_temporal_any_order_across_log_kinds(tmp_path: Path, access_first: bool) -> None:
    """The login comes before the admin page, so only `temporal` (not ordered) fires; the
    files are read in either order (the watermark says what the other file still holds)."""
    access = LogFile("/var/log/nginx/access.log", "access")
    auth = LogFile("/var/log/auth.log", "auth")
    batches = [
        Batch(auth.frame([accepted(T0), accepted(T0 + timedelta(seconds=5), ip=B)]), auth.context()),
        Batch(access.frame([admin_hit(T0 + timedelta(minutes=3)), admin_hit(T0 + timedelta(minutes=20), ip=B)]), access.context()),
    ]
    if access_first:
        batches.reverse()
    found = run(tmp_path, [temporal("web-then-ssh", "temporal"), temporal("ordered", "temporal_ordered")], read_in_order(batches))
    assert [(f.entity, f.count, f.log_kinds, f.first_seen, f.last_seen) for f in found] == [
        ({"source.ip": A}, 2, ("access", "auth"), T0, T0 + timedelta(minutes=3))
    ]
    assert sorted((e.path, e.log_kind) for e in found[0].evidence) == [
        ("/var/log/auth.log", "auth"),
        ("/var/log/nginx/access.log", "access"),
    ]


def test_temporal_requires_every_rule(tmp_path: Path) -> None:
    access = LogFile("/var/log/nginx/access.log", "access")
    batches = [Batch(access.frame([admin_hit(T0 + timedelta(seconds=i)) for i in range(20)]), access.context())]
    assert run(tmp_path, [temporal("web-then-ssh", "temporal")], batches) == []


@pytest.mark.parametrize(("admin_at", "login_at", "fires"), [(0, 60, True), (60, 0, False), (30, 30, True)])
def test_temporal_ordered_fires_only_in_order(tmp_path: Path, admin_at: int, login_at: int, fires: bool) -> None:
    access = LogFile("/var/log/nginx/access.log", "access")
    auth = LogFile("/var/log/auth.log", "auth")
    batches = [
        Batch(auth.frame([accepted(T0 + timedelta(seconds=login_at))]), auth.context()),
        Batch(access.frame([admin_hit(T0 + timedelta(seconds=admin_at))]), access.context()),
    ]
    found = run(tmp_path, [temporal("web-then-ssh", "temporal_ordered")], batches)
    expected = [({"source.ip": A}, 2, ("access", "auth"))] if fires else []
    assert [(f.entity, f.count, f.log_kinds) for f in found] == expected


def test_chaining_of_scenarios(tmp_path: Path) -> None:
    chained = scenario_doc(
        "brute-then-login",
        severity="critical",
        rules={"ssh-login": ACCEPTED_RULE},
        correlation={
            "type": "temporal_ordered",
            "rules": ["brute", "ssh-login"],
            "group-by": ["source.ip"],
            "timespan": "30m",
        },
    )
    auth = LogFile("/var/log/auth.log", "auth")
    events = [failure(T0 + timedelta(seconds=i), ip=ip) for i in range(5) for ip in (A, B)]
    events += [accepted(T0 + timedelta(minutes=5), ip=A), accepted(T0 - timedelta(minutes=5), ip=C)]
    found = run(tmp_path, [brute(gte=5), chained], [auth_batch(auth, events)])
    summary = sorted((f.scenario_id, f.entity["source.ip"], f.count, f.severity) for f in found)
    assert summary == [
        ("brute", B, 5, "high"),
        ("brute", A, 5, "high"),
        ("brute-then-login", A, 6, "critical"),
    ]
    # the finding holds the chain from its earliest start: the brute force finding's events, then the login
    chain = next(f for f in found if f.scenario_id == "brute-then-login")
    assert (chain.first_seen, chain.last_seen) == (T0, T0 + timedelta(minutes=5))
    assert [e.line.split()[0] for e in chain.evidence] == ["event.action=ssh-failed-password"] * 5 + ["event.action=ssh-accepted-password"]


# -- lateness, runs, reopening -----------------------------------------------------------------


@pytest.mark.parametrize(("newest", "fires"), [(timedelta(minutes=14), True), (timedelta(minutes=16), False)])
def test_out_of_order_lines_within_the_lateness_allowance(tmp_path: Path, newest: timedelta, fires: bool) -> None:
    """timespan 10m + lateness 5m: a late line still meets pooled events up to 15 minutes
    older than the newest event of its group, not beyond."""
    auth = LogFile("/var/log/auth.log", "auth")
    batches = [
        auth_batch(auth, [failure(t) for t in seconds(0, 1, 2, 3)]),
        auth_batch(auth, [failure(T0 + newest)]),
        auth_batch(auth, [failure(T0 + timedelta(seconds=4))]),  # late line
    ]
    found = run(tmp_path, [brute(gte=5)], batches)
    expected = [(6, T0, T0 + newest)] if fires else []
    assert [(f.count, f.first_seen, f.last_seen) for f in found] == expected


def _attack(count: int = 12) -> list[dict[str, Any]]:
    return [failure(T0 + timedelta(seconds=7 * i), ip=A if i % 3 else B) for i in range(count)]


@pytest.mark.parametrize("split", [1, 3, 6, 8, 11])
def test_an_attack_split_across_runs_is_found_once_like_in_one_batch(tmp_path: Path, split: int) -> None:
    events = _attack()
    whole = run(tmp_path, [brute(gte=4)], [auth_batch(LogFile("/var/log/auth.log", "auth"), events)], name="whole")
    log = LogFile("/var/log/auth.log", "auth")
    first = auth_batch(log, events[:split])
    second = auth_batch(log, events[split:])
    rules = tmp_path / "repo" / "rules"
    process(tmp_path / "split.db", rules, [first])  # run 1: its own engine and store
    split_found = process(tmp_path / "split.db", rules, [second])  # run 2: new engine, reopened store
    assert sorted((f.id, f.entity["source.ip"], f.count, f.first_seen, f.last_seen) for f in split_found) == sorted(
        (f.id, f.entity["source.ip"], f.count, f.first_seen, f.last_seen) for f in whole
    )
    assert sorted(f.count for f in whole) == [4, 8]


def test_repeats_within_reopen_after_extend_the_open_finding(tmp_path: Path) -> None:
    auth = LogFile("/var/log/auth.log", "auth")
    batches = [
        auth_batch(auth, [failure(t) for t in seconds(0, 1, 2, 3, 4)]),
        auth_batch(auth, [failure(T0 + timedelta(minutes=50))]),
        auth_batch(auth, [failure(T0 + timedelta(minutes=50) + timedelta(hours=1))]),  # exactly reopen_after later
    ]
    found = run(tmp_path, [brute(gte=5)], batches)
    assert [(f.count, f.first_seen, f.last_seen, f.status) for f in found] == [
        (7, T0, T0 + timedelta(minutes=110), "open")
    ]
    with Store(tmp_path / "state.db") as store:
        assert [c[1:] for c in store.finding_changes_since(0)] == [
            (found[0].id, "new"),
            (found[0].id, "extended"),
            (found[0].id, "extended"),
        ]


def test_after_reopen_after_a_new_finding_opens_and_the_old_one_closes(tmp_path: Path) -> None:
    auth = LogFile("/var/log/auth.log", "auth")
    later = T0 + timedelta(seconds=4) + timedelta(hours=1) + US
    batches = [
        auth_batch(auth, [failure(t) for t in seconds(0, 1, 2, 3, 4)]),
        auth_batch(auth, [failure(later + timedelta(seconds=i)) for i in range(5)]),
    ]
    found = run(tmp_path, [brute(gte=5)], batches)
    assert [(f.count, f.first_seen, f.status) for f in found] == [(5, T0, "closed"), (5, later, "open")]
    assert found[0].id != found[1].id


def test_a_lone_repeat_after_reopen_after_closes_without_opening(tmp_path: Path) -> None:
    auth = LogFile("/var/log/auth.log", "auth")
    batches = [
        auth_batch(auth, [failure(t) for t in seconds(0, 1, 2, 3, 4)]),
        auth_batch(auth, [failure(T0 + timedelta(hours=2))]),
    ]
    found = run(tmp_path, [brute(gte=5)], batches)
    assert [(f.count, f.status) for f in found] == [(5, "closed")]


def test_finding_ids_are_deterministic(tmp_path: Path) -> None:
    events = _attack(20)
    scenarios = [brute(gte=4)]
    one = run(tmp_path, scenarios, [auth_batch(LogFile("/var/log/auth.log", "auth"), events)], name="one")
    two = run(tmp_path, scenarios, [auth_batch(LogFile("/var/log/auth.log", "auth"), events)], name="two")
    assert len(one) == 2
    assert [f.to_dict() for f in one] == [f.to_dict() for f in two]


def test_finding_id_does_not_depend_on_the_file_path(tmp_path: Path) -> None:
    """Rotation renames files and cron and daemon keep separate state: the id hashes the first
    evidence's time, offset and text, not its path."""
    events = _attack(20)
    one = run(tmp_path, [brute(gte=4)], [auth_batch(LogFile("/var/log/auth.log", "auth"), events)], name="one")
    two = run(tmp_path, [brute(gte=4)], [auth_batch(LogFile("/var/log/auth.log.1", "auth"), events)], name="two")
    assert [f.id for f in one] == [f.id for f in two]


def test_evidence_is_capped_and_keeps_the_earliest_lines(tmp_path: Path) -> None:
    auth = LogFile("/var/log/auth.log", "auth")
    events = [failure(T0 + timedelta(seconds=i)) for i in range(10)]
    batches = [auth_batch(auth, events[:6]), auth_batch(auth, events[6:])]
    found = run(tmp_path, [brute(gte=5)], batches, evidence_cap=3)
    assert [(f.count, len(f.evidence)) for f in found] == [(10, 3)]
    first_lines = batches[0].frame.head(3)
    assert [(e.timestamp, e.offset, e.line) for e in found[0].evidence] == list(
        zip(first_lines["@timestamp"].tolist(), first_lines["log.offset"].tolist(), first_lines["log.original"].tolist())
    )


def test_single_event_scenarios_fire_on_one_line(tmp_path: Path) -> None:
    scenario = scenario_doc("login-as-root", rules={"root-login": {"detection": {"s": {"event.action": "ssh-accepted-password", "user.name": "root"}, "condition": "s"}}})
    auth = LogFile("/var/log/auth.log", "auth")
    found = run(tmp_path, [scenario], [auth_batch(auth, [accepted(T0, user="deploy"), accepted(T0 + timedelta(seconds=1), user="root")])])
    assert [(f.entity, f.count, f.first_seen) for f in found] == [({"source.ip": A}, 1, T0 + timedelta(seconds=1))]
    assert found[0].evidence[0].line == f"event.action=ssh-accepted-password source.ip={A} user.name=root"


# -- property: batching never changes what is found --------------------------------------------


def fail_then_login() -> dict[str, Any]:
    """An auth-only ordered sequence: failures, then a successful login, within 10 minutes."""
    return scenario_doc(
        "fail-then-login",
        rules={"auth-failure": auth_failure_rule(), "ssh-login": ACCEPTED_RULE},
        correlation={"type": "temporal_ordered", "rules": ["auth-failure", "ssh-login"], "group-by": ["source.ip"], "timespan": "10m"},
    )


def noisy() -> dict[str, Any]:
    """An event_count over rules reading two log kinds."""
    return scenario_doc(
        "noisy",
        requires=["access", "auth"],
        rules={"auth-failure": auth_failure_rule(), "admin-access": ADMIN_RULE},
        correlation={
            "type": "event_count", "rules": ["auth-failure", "admin-access"], "group-by": ["source.ip"],
            "timespan": "5m", "condition": {"gte": 3},
        },
    )


ALL_KINDS = [
    brute(gte=3, timespan="5m"),
    spray(gte=2),
    fail_then_login(),
    temporal("web-then-ssh", "temporal_ordered"),
    temporal("web-and-ssh", "temporal"),
]


def stream(max_seconds: int, kinds: list[str]):
    return st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=max_seconds),
            st.sampled_from([A, B]),
            st.sampled_from(["root", "admin", "oracle"]),
            st.sampled_from(kinds),
        ),
        min_size=1,
        max_size=40,
    )


def _summary(found: list[Finding]) -> list[tuple]:
    return sorted((f.id, f.scenario_id, f.count, f.first_seen, f.last_seen, f.status, f.log_kinds, f.confidence) for f in found)


def _check_batching(root: Path, events: list[tuple[int, str, str, str]], cuts: list[int]) -> None:
    """Both files cut at the same event times; each piece in a new run (fresh engine, reopened
    store, the piece all that run reads) must find what one run reading both files finds, with
    the watermark the pipeline hands over when it interleaves them."""
    rules = write_checklist(root, ALL_KINDS)
    auth, access = LogFile("/var/log/auth.log", "auth"), LogFile("/var/log/nginx/access.log", "access")
    auth_rows, access_rows = [], []
    for seconds_after, ip, user, kind in sorted(events):
        ts = T0 + timedelta(seconds=seconds_after)
        if kind == "fail":
            auth_rows += auth.rows([failure(ts, ip=ip, user=user)])
        elif kind == "login":
            auth_rows += auth.rows([accepted(ts, ip=ip, user=user)])
        else:
            access_rows += access.rows([admin_hit(ts, ip=ip)])
    times = sorted({r["@timestamp"] for r in auth_rows + access_rows})

    def batches(cut_points: list[int]) -> list[Batch]:
        edges = sorted({times[min(c, len(times) - 1)] for c in cut_points})
        out, lower = [], None
        for upper in edges + [None]:
            for log, rows in ((auth, auth_rows), (access, access_rows)):
                part = [r for r in rows if (lower is None or r["@timestamp"] >= lower) and (upper is None or r["@timestamp"] < upper)]
                if part:
                    out.append(Batch(frame(part), log.context()))
            lower = upper
        return out

    whole = process(root / "whole.db", rules, read_in_order(batches([])))
    checklist = load_checklist(rules)
    for batch in batches(cuts):
        with Store(root / "split.db") as store:
            materialize(store, [batch])
            with store.transaction():
                DetectionEngine(checklist).process(store, batch.frame, batch.ctx)
    assert _summary(findings_of(root / "split.db")) == _summary(whole)


PROPERTY = settings(max_examples=int(os.environ.get("LOGWARDEN_TEST_EXAMPLES", "30")), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@PROPERTY
@given(events=stream(3 * 3600, ["fail", "fail", "login"]), cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=4))
def test_splitting_one_file_into_batches_and_runs_finds_the_same(tmp_path_factory, events, cuts) -> None:
    _check_batching(tmp_path_factory.mktemp("split"), events, cuts)


@PROPERTY
@given(events=stream(5 * 60, ["fail", "login", "admin"]), cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=4))
def test_splitting_two_files_within_the_lateness_allowance_finds_the_same(tmp_path_factory, events, cuts) -> None:
    """Events of both files within the lateness allowance (5m) of each other: a run may read one
    file's piece after the other's, each line at most that late. (Further apart, a login whose
    group saw no first step is no longer kept for a line that late: the pipeline interleaves
    files by event time, so only truly late lines are.)"""
    _check_batching(tmp_path_factory.mktemp("split"), events, cuts)


def test_cross_source_pair_in_a_backlog_read_file_by_file(tmp_path: Path) -> None:
    """The auth log is read whole before the access log, whose first line is older than
    everything in it: the watermark keeps the auth events pooled until the access log is read."""
    auth, access = LogFile("/var/log/auth.log", "auth"), LogFile("/var/log/nginx/access.log", "access")
    batches = [
        Batch(auth.frame([accepted(T0 + timedelta(seconds=30)), accepted(T0 + timedelta(minutes=40))]), auth.context()),
        Batch(access.frame([admin_hit(T0)]), access.context()),
    ]
    found = run(tmp_path, [temporal("web-then-ssh", "temporal_ordered")], read_in_order(batches))
    assert [(f.count, f.first_seen) for f in found] == [(3, T0)]


def test_count_over_two_log_kinds_gives_the_same_id_whichever_file_is_read_first(tmp_path: Path) -> None:
    def read(order: list[str], name: str) -> list[tuple]:
        auth, access = LogFile("/var/log/auth.log", "auth"), LogFile("/var/log/nginx/access.log", "access")
        files = {
            "auth": Batch(auth.frame([failure(T0 + timedelta(seconds=1))] * 3), auth.context()),
            "access": Batch(access.frame([admin_hit(T0)]), access.context()),
        }
        return _summary(run(tmp_path, [noisy()], read_in_order([files[k] for k in order]), name=name))

    assert read(["auth", "access"], "auth-first") == read(["access", "auth"], "access-first")



def _run_screened(root: Path, batches: list[Batch], screening: bool) -> list[tuple]:
    rules = root / "repo" / "rules"
    if not rules.exists():
        write_checklist(root / "repo", ALL_KINDS)
    engine = DetectionEngine(load_checklist(rules))
    for correlator in engine.correlators.values():
        correlator.screening = screening
    with Store(root / f"screened-{screening}.db") as store:
        for batch in batches:
            with store.transaction():
                engine.process(store, batch.frame, batch.ctx)
        with store.transaction():
            engine.finish(store, NOW)
    return _summary(findings_of(root / f"screened-{screening}.db"))


@PROPERTY
@given(events=stream(3 * 3600, ["fail", "fail", "login", "admin"]), cut=st.integers(min_value=0, max_value=40))
def test_screening_never_drops_a_group_that_would_fire(tmp_path_factory, events, cut) -> None:
    """The vectorized screen only skips groups that cannot fire: with it, every correlation
    type finds exactly what the per-event path finds for every group."""
    root = tmp_path_factory.mktemp("screen")
    auth, access = LogFile("/var/log/auth.log", "auth"), LogFile("/var/log/nginx/access.log", "access")
    rows = []
    for seconds_after, ip, user, kind in sorted(events):
        ts = T0 + timedelta(seconds=seconds_after)
        if kind == "fail":
            rows.append((auth, failure(ts, ip=ip, user=user)))
        elif kind == "login":
            rows.append((auth, accepted(ts, ip=ip, user=user)))
        else:
            rows.append((access, admin_hit(ts, ip=ip)))
    batches = []
    for part in (rows[:cut], rows[cut:]):
        for log in (auth, access):
            mine = [event for owner, event in part if owner is log]
            if mine:
                batches.append(Batch(log.frame(mine), log.context()))
    batches = read_in_order(batches)
    assert _run_screened(root, batches, True) == _run_screened(root, batches, False)


def test_pools_of_an_older_version_are_taken_over_once(tmp_path: Path) -> None:
    """State written before the columnar pools held one `corr_events` row per event: the
    first run of this version converts them, and the attack they began is still found."""
    import json as _json

    auth = LogFile("/var/log/auth.log", "auth")
    rows = auth.rows([failure(t) for t in seconds(0, 1, 2, 3)])
    rules = write_checklist(tmp_path / "repo", [brute(gte=5)])
    with Store(tmp_path / "state.db") as store, store.transaction():
        for row in rows:
            evidence = _json.dumps([row["log.file.path"], row["log.original"], "auth", None, [A]])
            store.execute(
                "INSERT INTO corr_events(scenario_id, group_key, ts, rule, value, file_uid, offset, evidence)"
                " VALUES ('brute', ?, ?, 'auth-failure', NULL, 'uid-/var/log/auth.log', ?, ?)",
                (_json.dumps([A]), int(row["@timestamp"].timestamp() * 1_000_000), row["log.offset"], evidence),
            )
    found = process(tmp_path / "state.db", rules, [auth_batch(auth, [failure(T0 + timedelta(seconds=4))])])
    assert [(f.count, f.first_seen, [e.line for e in f.evidence][:1]) for f in found] == [(5, T0, [rows[0]["log.original"]])]
    with Store(tmp_path / "state.db") as store:
        assert store.execute("SELECT COUNT(*) FROM corr_events").fetchone()[0] == 0
