"""Checklist history in the state database: versions, what changed between them, content
changed without a version bump, and overdue reviews as process defects."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from detection.builders import (
    REVIEWED,
    auth_failure_rule,
    scenario_doc,
    write_checklist,
)
from detector.checklist import load_checklist
from detector.state.history import history, record_checklist
from detector.state.store import Store

SOON = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
LATER = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def scenario(sid: str, version: str = "1.0.0", action: str = "ssh-failed-password", **more: Any) -> dict[str, Any]:
    rule = auth_failure_rule()
    rule["detection"]["selection"]["event.action"] = action
    return scenario_doc(sid, version=version, rules={"r": rule}, **more)


def record(root: Path, scenarios: list[dict[str, Any]], state: Path, now: datetime, **meta: Any) -> list[str]:
    rules = root / "rules"
    if (rules / "scenarios").exists():
        for old in (rules / "scenarios").glob("*.yaml"):
            old.unlink()
    write_checklist(root, scenarios, **meta)
    with Store(state) as store:
        return record_checklist(store, load_checklist(rules), now)


def loads(state: Path) -> list[tuple[str, list[str], list[str], list[tuple[str, str, str]], list[str]]]:
    with Store(state) as store:
        return [(e.load.version, e.added, e.removed, e.changed, e.unversioned) for e in history(store)]


def defects(state: Path) -> list[tuple[str, str, str, str]]:
    with Store(state) as store:
        return [(d.kind, d.subject, d.status, d.detail) for d in store.defects()]


def test_two_versions_give_added_removed_and_changed(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    assert record(tmp_path, [scenario("alpha"), scenario("beta")], state, SOON) == []
    warnings = record(
        tmp_path,
        [scenario("alpha", version="1.1.0", action="ssh-invalid-user"), scenario("gamma")],
        state,
        LATER,
        version="2026.12.0",
    )
    assert warnings == []
    assert loads(state) == [
        ("2026.11.0", ["alpha", "beta"], [], [], []),
        ("2026.12.0", ["gamma"], ["beta"], [("alpha", "1.0.0", "1.1.0")], []),
    ]
    with Store(state) as store:
        entries = history(store)
    assert [e.load.loaded_at for e in entries] == [SOON, LATER]
    assert entries[1].load.scenarios["alpha"]["version"] == "1.1.0"
    assert defects(state) == []


def test_loading_the_same_checklist_again_records_nothing(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    record(tmp_path, [scenario("alpha")], state, SOON)
    record(tmp_path, [scenario("alpha")], state, LATER)
    # a new review date alone is not a content change
    record(tmp_path, [scenario("alpha", last_reviewed=date(2026, 11, 22))], state, LATER)
    assert loads(state) == [("2026.11.0", ["alpha"], [], [], [])]


def test_a_version_bump_without_a_content_change_is_a_change(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    record(tmp_path, [scenario("alpha")], state, SOON)
    record(tmp_path, [scenario("alpha", version="1.0.1")], state, LATER)
    assert loads(state)[1] == ("2026.11.0", [], [], [("alpha", "1.0.0", "1.0.1")], [])


def test_a_content_change_without_a_version_bump_is_flagged_and_becomes_a_defect(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    record(tmp_path, [scenario("alpha"), scenario("beta")], state, SOON)
    warnings = record(tmp_path, [scenario("alpha", action="ssh-invalid-user"), scenario("beta")], state, LATER)
    message = "scenario alpha changed without a version bump (still 1.0.0); bump `version` in its file"
    assert warnings == [message]
    assert loads(state)[1] == ("2026.11.0", [], [], [], ["alpha"])
    assert defects(state) == [("unversioned-change", "alpha", "open", message)]
    with Store(state) as store:
        defect = store.defects()[0]
        assert (defect.first_seen, defect.severity) == (LATER, "low")
        assert [change for _, _, change in store.defect_changes_since(0)] == ["new"]


REVIEW_INTERVAL_DAYS = 90  # builders.meta_doc: review_interval 90d, reviewed 2026-11-20


@pytest.mark.parametrize(
    ("now", "overdue"),
    [
        (datetime(2027, 2, 18, 23, 0, tzinfo=timezone.utc), False),  # 2026-11-20 + 90 days
        (datetime(2027, 2, 19, 0, 30, tzinfo=timezone.utc), True),
    ],
)
def test_review_overdue_boundary(tmp_path: Path, now: datetime, overdue: bool) -> None:
    state = tmp_path / "s.db"
    warnings = record(tmp_path, [scenario("alpha")], state, now)
    expected = [
        f"checklist review overdue: last reviewed {REVIEWED.isoformat()}, interval {REVIEW_INTERVAL_DAYS}d",
        f"scenario alpha review overdue: last reviewed {REVIEWED.isoformat()}, interval {REVIEW_INTERVAL_DAYS}d",
    ]
    assert warnings == (expected if overdue else [])
    assert sorted(defects(state)) == sorted(
        [("review-overdue", s, "open", m) for s, m in zip(["checklist", "alpha"], expected)] if overdue else []
    )


def test_an_overdue_review_is_resolved_when_reviewed_again(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    late = datetime(2027, 3, 1, 8, 0, tzinfo=timezone.utc)
    record(tmp_path, [scenario("alpha"), scenario("old", status="deprecated")], state, late)
    assert sorted((kind, subject, status) for kind, subject, status, _ in defects(state)) == [
        ("review-overdue", "alpha", "open"),
        ("review-overdue", "checklist", "open"),
    ]
    # recorded again while still overdue: same defects, nothing new
    record(tmp_path, [scenario("alpha"), scenario("old", status="deprecated")], state, late)
    assert len(defects(state)) == 2
    reviewed = date(2027, 3, 1)
    warnings = record(
        tmp_path,
        [scenario("alpha", last_reviewed=reviewed), scenario("old", status="deprecated")],
        state,
        late,
        reviews=[{"date": REVIEWED, "by": "secops", "note": "first"}, {"date": reviewed, "by": "alice", "note": "quarterly"}],
    )
    assert warnings == []
    assert sorted((kind, subject, status) for kind, subject, status, _ in defects(state)) == [
        ("review-overdue", "alpha", "resolved"),
        ("review-overdue", "checklist", "resolved"),
    ]
    with Store(state) as store:
        assert sorted(change for _, _, change in store.defect_changes_since(0)) == ["new", "new", "resolved", "resolved"]


def test_a_scenario_reviewed_only_on_its_own_clears_only_its_defect(tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    late = datetime(2027, 3, 1, 8, 0, tzinfo=timezone.utc)
    record(tmp_path, [scenario("alpha"), scenario("beta")], state, late)
    record(tmp_path, [scenario("alpha", last_reviewed=date(2027, 2, 28)), scenario("beta")], state, late)
    assert sorted((subject, status) for _, subject, status, _ in defects(state)) == [
        ("alpha", "resolved"),
        ("beta", "open"),
        ("checklist", "open"),
    ]
