"""Checklist versions seen by this state database, what changed between them, and review
tracking (unversioned content changes and overdue reviews become process defects)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from detector.checklist import Checklist
from detector.model import Defect, iso, parse_iso, stable_hash
from detector.state.store import Store


@dataclass(frozen=True)
class ChecklistLoad:
    version: str
    content_hash: str
    loaded_at: datetime
    source: str
    scenarios: dict[str, dict[str, str]]  # id -> {version, hash, title}


@dataclass(frozen=True)
class HistoryEntry:
    load: ChecklistLoad
    added: list[str]
    removed: list[str]
    changed: list[tuple[str, str, str]]  # (id, old version, new version)
    unversioned: list[str]  # content changed, version not bumped


def _loads(store: Store) -> list[ChecklistLoad]:
    return [
        ChecklistLoad(
            version=r["version"],
            content_hash=r["content_hash"],
            loaded_at=parse_iso(r["loaded_at"]),  # type: ignore[arg-type]
            source=r["source"],
            scenarios=json.loads(r["scenarios"]),
        )
        for r in store.execute("SELECT * FROM checklist_loads ORDER BY id")
    ]


def diff(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> tuple[list[str], list[str], list[tuple[str, str, str]], list[str]]:
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed, unversioned = [], []
    for sid in sorted(set(old) & set(new)):
        if old[sid]["hash"] == new[sid]["hash"] and old[sid]["version"] == new[sid]["version"]:
            continue
        if old[sid]["version"] == new[sid]["version"]:
            unversioned.append(sid)
        else:
            changed.append((sid, old[sid]["version"], new[sid]["version"]))
    return added, removed, changed, unversioned


def history(store: Store) -> list[HistoryEntry]:
    entries = []
    previous: dict[str, dict[str, str]] = {}
    for load in _loads(store):
        added, removed, changed, unversioned = diff(previous, load.scenarios)
        entries.append(HistoryEntry(load, added, removed, changed, unversioned))
        previous = load.scenarios
    return entries


def snapshot(checklist: Checklist) -> dict[str, dict[str, str]]:
    return {
        s.id: {"version": s.version, "hash": s.content_hash, "title": s.title} for s in checklist.scenarios
    }


def record_checklist(store: Store, checklist: Checklist, now: datetime) -> list[str]:
    """Store this checklist when it differs from the last one seen; raise or clear process
    defects for unversioned changes and overdue reviews. Returns human warnings."""
    warnings: list[str] = []
    current = snapshot(checklist)
    with store.transaction():
        row = store.execute("SELECT scenarios, content_hash FROM checklist_loads ORDER BY id DESC LIMIT 1").fetchone()
        if row is None or row["content_hash"] != checklist.content_hash:
            store.execute(
                "INSERT INTO checklist_loads(version, content_hash, loaded_at, source, scenarios) VALUES (?, ?, ?, ?, ?)",
                (
                    checklist.version,
                    checklist.content_hash,
                    iso(now),
                    "bundled" if checklist.bundled else str(checklist.directory),
                    json.dumps(current, sort_keys=True),
                ),
            )
            if row is not None:
                _, _, _, unversioned = diff(json.loads(row["scenarios"]), current)
                for sid in unversioned:
                    message = (
                        f"scenario {sid} changed without a version bump (still {current[sid]['version']}); "
                        "bump `version` in its file"
                    )
                    warnings.append(message)
                    store.put_defect(
                        Defect(
                            id="unversioned-" + stable_hash(sid, current[sid]["hash"]),
                            kind="unversioned-change",
                            severity="low",
                            subject=sid,
                            detail=message,
                            first_seen=now,
                            last_seen=now,
                        ),
                        now,
                    )
        warnings.extend(_reviews(store, checklist, now))
    return warnings


def overdue_reviews(checklist: Checklist, now: datetime) -> list[tuple[str, str]]:
    """(subject, message) for the checklist and every scenario whose review is overdue."""
    today = now.date()
    out = []
    last = checklist.last_review()
    if last is None or last + checklist.review_interval < today:
        when = last.isoformat() if last else "never"
        out.append(("checklist", f"checklist review overdue: last reviewed {when}, interval {checklist.review_interval.days}d"))
    for scenario in checklist.scenarios:
        if scenario.status == "deprecated":
            continue
        reviewed = scenario.last_reviewed
        if reviewed is None or reviewed + checklist.review_interval < today:
            when = reviewed.isoformat() if reviewed else "never"
            out.append((scenario.id, f"scenario {scenario.id} review overdue: last reviewed {when}, interval {checklist.review_interval.days}d"))
    return out


def _reviews(store: Store, checklist: Checklist, now: datetime) -> list[str]:
    overdue = dict(overdue_reviews(checklist, now))
    open_defects = {d.subject: d for d in store.defects(status="open") if d.kind == "review-overdue"}
    for subject, message in overdue.items():
        store.put_defect(
            Defect(
                id="review-" + stable_hash(subject),
                kind="review-overdue",
                severity="low",
                subject=subject,
                detail=message,
                first_seen=now,
                last_seen=now,
            ),
            now,
        )
    for subject, defect in open_defects.items():
        if subject not in overdue:
            store.resolve_defect(defect.id, now)
    return list(overdue.values())
