"""The facts the maturity report judges, each read from what the pipeline really did: which
applications' logs were read and when, how often analysis ran, what data was lost, which log
sources are missing or silent (and how those defects were triaged), the checklist's versions,
reviews and provenance, the escalation path for severe incidents, and the exercises run."""

from __future__ import annotations

import fnmatch
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from detector.checklist import Checklist
from detector.config import Application, Config
from detector.model import iso, parse_iso, severity_rank
from detector.state.history import history, overdue_reviews
from detector.state.store import Store
from escalation.audit import AuditVerification
from escalation.engine.policy import Facts, PolicySet
from escalation.reports.coverage import level_offsets, policy_coverage
from escalation.reports.periods import Period

# How stale an application's analysis may be, by criticality (DESIGN §8 inventory). SAMM
# O-IM-1-A: "the frequency of this analysis is aligned with the criticality of your applications".
ANALYSIS_INTERVAL = {
    "critical": timedelta(hours=1),
    "high": timedelta(hours=4),
    "medium": timedelta(hours=24),
    "low": timedelta(days=7),
}
SOURCE_DEFECT_KINDS = ("source-missing", "source-silent", "source-unreadable")
SEVERE = "high"  # incidents at or above this severity must reach a person at any hour
ANNUAL = timedelta(days=365)
PROVENANCE_NEEDED = ("external", "past-incident", "threat-model")  # SAMM O-IM-3-A (i), (ii), (iii)


@dataclass(frozen=True)
class Inputs:
    """Everything the maturity report is computed from."""

    store: Store
    config: Config
    checklist: Checklist
    policy_set: PolicySet | None
    now: datetime
    period: Period
    audit: AuditVerification | None = None
    policy_error: str | None = None  # why no policy could be loaded, if so


def _dt(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


# --- applications -------------------------------------------------------------------------------


def _files(store: Store) -> list[dict[str, Any]]:
    ingest = {
        r["file_uid"]: r
        for r in store.execute(
            "SELECT file_uid, MIN(committed_at) AS first, MAX(committed_at) AS last, SUM(lines) AS lines,"
            " GROUP_CONCAT(DISTINCT log_kind) AS kinds FROM ingest_log GROUP BY file_uid"
        )
    }
    out = []
    for row in store.execute("SELECT uid, path, status, source, lines_read, last_seen FROM files"):
        log = ingest.get(row["uid"])
        out.append(
            {
                "uid": row["uid"],
                "path": row["path"],
                "status": row["status"],
                "last_checked": _dt(row["last_seen"]),
                "lines": max(int(row["lines_read"] or 0), int(log["lines"] or 0) if log else 0),
                "first_read": _dt(log["first"]) if log else None,
                "kinds": {k for k in (log["kinds"] or "").split(",") if k} if log else set(),
            }
        )
    return out


def _source_analysis(app: Application, files: list[dict[str, Any]], now: datetime, interval: timedelta) -> list[dict[str, Any]]:
    out = []
    for source in app.sources:
        matched = [f for f in files if fnmatch.fnmatch(f["path"], source.path)]
        active = [f for f in matched if f["status"] == "active"]
        last = max((f["last_checked"] for f in active if f["last_checked"]), default=None)
        lines = sum(f["lines"] for f in matched)
        if not active:
            reason = "no file matching this source has been read" if not matched else "its files are gone"
        elif lines == 0:
            reason = "its files hold no line logwarden could read"
        elif last is None or now - last > interval:
            reason = f"last analyzed {iso(last)}, more than {_human(interval)} ago"
        else:
            reason = None
        out.append(
            {
                "path": source.path,
                "kind": source.kind,
                "files": len(active),
                "lines_read": lines,
                "last_analyzed": iso(last),
                "first_read": iso(min((f["first_read"] for f in matched if f["first_read"]), default=None)),
                "analyzed": reason is None,
                "reason": reason,
                "kinds": sorted({k for f in matched for k in f["kinds"]} | ({source.kind} if source.kind else set())),
            }
        )
    return out


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def applications(inputs: Inputs) -> list[dict[str, Any]]:
    """Per application of the inventory: was each of its sources analyzed within the interval
    its criticality asks for, which log kinds it has, which scenarios can see it."""
    files = _files(inputs.store)
    active = [s for s in inputs.checklist.scenarios if s.status != "deprecated"]
    overdue = {subject for subject, _ in overdue_reviews(inputs.checklist, inputs.now)}
    out = []
    for app in inputs.config.applications:
        interval = ANALYSIS_INTERVAL.get(app.criticality, ANALYSIS_INTERVAL["medium"])
        sources = _source_analysis(app, files, inputs.now, interval)
        kinds = sorted({k for s in sources for k in s["kinds"]})
        applicable = [s.id for s in active if s.requires and set(s.requires) <= set(kinds)]
        firsts = [parse_iso(s["first_read"]) for s in sources if s["first_read"]]
        onboarded = app.onboarded
        deadline = None
        if onboarded is not None:
            start = datetime(onboarded.year, onboarded.month, onboarded.day, tzinfo=inputs.now.tzinfo)
            deadline = start + inputs.config.coverage_deadline
        analyzed = bool(sources) and all(s["analyzed"] for s in sources)
        out.append(
            {
                "name": app.name,
                "criticality": app.criticality,
                "owner": app.owner or None,
                "onboarded": onboarded.isoformat() if onboarded else None,
                "coverage_deadline": iso(deadline),
                "first_analyzed": iso(max(firsts)) if firsts and len(firsts) == len(sources) else None,
                "required_interval_seconds": int(interval.total_seconds()),
                "analyzed": analyzed,
                "sources": sources,
                "log_kinds": kinds,
                "scenarios": applicable,
                "scenarios_overdue": [s for s in applicable if s in overdue],
            }
        )
    return out


def new_applications(inputs: Inputs, apps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Applications onboarded in the period: covered within the deadline, late, or still in grace."""
    out = []
    for app in apps:
        if app["onboarded"] is None:
            continue
        deadline = parse_iso(app["coverage_deadline"])
        onboarded_at = deadline - inputs.config.coverage_deadline  # type: ignore[operator]
        if not (inputs.period.since <= onboarded_at < inputs.period.until):
            continue
        first = parse_iso(app["first_analyzed"]) if app["first_analyzed"] else None
        if first is not None and first <= deadline:  # type: ignore[operator]
            state = "covered"
        elif deadline <= inputs.now:  # type: ignore[operator]
            state = "late"
        else:
            state = "in_grace"
        out.append({"name": app["name"], "onboarded": app["onboarded"], "deadline": app["coverage_deadline"],
                    "first_analyzed": app["first_analyzed"], "state": state})
    return out


# --- analysis cadence and lost data -------------------------------------------------------------


def analysis_cadence(inputs: Inputs) -> dict[str, Any]:
    """The longest stretch without analysis in the period (since logwarden first ran), from the
    run history, or — when no runs are recorded — from the ingest history (a lower bound: a
    quiet log leaves no ingest entry although it was checked)."""
    store, now = inputs.store, inputs.now
    until = min(inputs.period.until, now)
    spans: list[tuple[datetime, datetime]] = []
    runs = store.execute("SELECT mode, started_at, finished_at FROM runs WHERE started_at < ?", (iso(until),)).fetchall()
    for run in runs:
        start = parse_iso(run["started_at"])
        end = parse_iso(run["finished_at"]) if run["finished_at"] else (now if run["mode"] == "watch" else start)
        spans.append((start, end))  # type: ignore[arg-type]
    for row in store.execute("SELECT DISTINCT committed_at FROM ingest_log WHERE committed_at < ?", (iso(until),)):
        at = parse_iso(row[0])
        spans.append((at, at))  # type: ignore[arg-type]
    spans = [(s, e) for s, e in spans if e >= inputs.period.since]
    if not spans:
        return {"source": "runs" if runs else "ingest_log", "runs": len(runs), "first": None, "last": None,
                "longest_gap_seconds": None}
    spans.sort()
    start = max(spans[0][0], inputs.period.since)
    longest, reach = timedelta(0), start
    for s, e in spans:
        if s > reach:
            longest = max(longest, s - reach)
        reach = max(reach, e)
    longest = max(longest, until - reach)
    return {
        "source": "runs" if runs else "ingest_log",
        "runs": len(runs),
        "first": iso(start),
        "last": iso(reach),
        "longest_gap_seconds": round(longest.total_seconds(), 3),
    }


def lost_data(inputs: Inputs) -> list[dict[str, Any]]:
    """Gaps recorded in the period: log data that changed or vanished before it was read."""
    return [
        {"path": r["path"], "reason": r["reason"], "lost_bytes": r["lost_bytes"], "detected_at": r["detected_at"],
         "detail": r["detail"]}
        for r in inputs.store.execute(
            "SELECT * FROM gaps WHERE detected_at >= ? AND detected_at < ? ORDER BY id",
            (iso(inputs.period.since), iso(inputs.period.until)),
        )
    ]


def source_defects(inputs: Inputs) -> list[dict[str, Any]]:
    """Missing, silent and unreadable log sources recorded as defects (open, or seen in the period)."""
    out = []
    for d in inputs.store.defects():
        if d.kind not in SOURCE_DEFECT_KINDS:
            continue
        if d.status != "open" and d.last_seen < inputs.period.since:
            continue
        out.append({"id": d.id, "kind": d.kind, "subject": d.subject, "detail": d.detail, "status": d.status,
                    "triage": d.triage, "first_seen": iso(d.first_seen), "last_seen": iso(d.last_seen)})
    return out


# --- checklist ----------------------------------------------------------------------------------


def checklist_evidence(inputs: Inputs) -> dict[str, Any]:
    checklist, now = inputs.checklist, inputs.now
    active = [s for s in checklist.scenarios if s.status != "deprecated"]
    provenance = Counter(p.kind for s in active for p in {p.kind: p for p in s.provenance}.values())
    overdue = overdue_reviews(checklist, now)
    defects = {d.subject: d for d in inputs.store.defects() if d.kind == "review-overdue"}
    last = checklist.last_review()
    versions = [
        {
            "version": e.load.version,
            "loaded_at": iso(e.load.loaded_at),
            "source": e.load.source,
            "added": len(e.added),
            "removed": len(e.removed),
            "changed": len(e.changed),
            "unversioned_changes": list(e.unversioned),
        }
        for e in history(inputs.store)
    ]
    return {
        "version": checklist.version,
        "owner": checklist.owner,
        "scenarios": len(active),
        "attack_techniques": len({a for s in active for a in s.attack}),
        "review_interval_days": checklist.review_interval.days,
        "reviews": [{"date": r.date.isoformat(), "by": r.by, "note": r.note} for r in checklist.reviews],
        "last_review": last.isoformat() if last else None,
        "overdue": [
            {
                "subject": subject,
                "detail": message,
                "defect": (
                    {"id": defects[subject].id, "status": defects[subject].status, "triage": defects[subject].triage}
                    if subject in defects
                    else None
                ),
            }
            for subject, message in overdue
        ],
        "provenance": {kind: provenance.get(kind, 0) for kind in sorted(set(provenance) | set(PROVENANCE_NEEDED))},
        "scenarios_with_provenance": {
            kind: sum(1 for s in active if any(p.kind == kind for p in s.provenance)) for kind in PROVENANCE_NEEDED
        },
        "versions": versions,
        "recorded": bool(versions),
    }


# --- escalation path ----------------------------------------------------------------------------


def severe_paths(inputs: Inputs) -> dict[str, Any]:
    """For every active scenario at or above `SEVERE`: the policy its incident would get (at its
    prior confidence), how soon each level fires, and how much of the week it pages at once."""
    if inputs.policy_set is None:
        return {"loaded": False, "error": inputs.policy_error, "policies": {}, "uncovered": [], "unmatched": []}
    policies: dict[str, dict[str, Any]] = {}
    unmatched, uncovered = [], []
    for scenario in inputs.checklist.scenarios:
        if scenario.status == "deprecated" or severity_rank(scenario.severity) < severity_rank(SEVERE):
            continue
        frozen = inputs.policy_set.select(
            Facts(severity=scenario.severity, confidence=scenario.confidence, scenarios=(scenario.id,),
                  attack=scenario.attack)
        )
        if frozen is None or not frozen.policy.levels:
            unmatched.append(scenario.id)
            continue
        policy = frozen.policy
        coverage = policy_coverage(policy)
        entry = policies.setdefault(
            policy.name,
            {
                "after_hours": policy.after_hours,
                "levels": len(policy.levels),
                "offsets_seconds": [int(o.total_seconds()) for o in level_offsets(policy.levels)],
                "coverage": coverage.to_dict(),
                "scenarios": [],
            },
        )
        entry["scenarios"].append(scenario.id)
        if not coverage.after_hours_covered:
            uncovered.append(scenario.id)
    shares = [p["coverage"]["share"] for p in policies.values()]
    return {
        "loaded": True,
        "source": inputs.policy_set.source,
        "policies": policies,
        "unmatched": unmatched,
        "uncovered": uncovered,
        "weakest_share": 0.0 if unmatched else min(shares, default=None),
    }


def severity_classification(inputs: Inputs) -> dict[str, str | None]:
    """Which policy an incident of each severity gets (certain confidence, any scenario)."""
    if inputs.policy_set is None:
        return {}
    out: dict[str, str | None] = {}
    for severity in ("low", "medium", "high", "critical"):
        frozen = inputs.policy_set.select(Facts(severity=severity, confidence=1.0, scenarios=("*",)))
        out[severity] = frozen.name if frozen else None
    return out


# --- process ------------------------------------------------------------------------------------


def documentation(inputs: Inputs) -> dict[str, Any]:
    """Where the process documentation is, and whether a local path really exists."""
    doc = inputs.config.process.documentation
    if doc is None:
        return {"location": None, "exists": None}
    if "://" in doc:
        return {"location": doc, "exists": None, "note": "a URL; not fetched"}
    path = Path(doc).expanduser()
    if not path.is_absolute() and inputs.config.path is not None:
        path = inputs.config.path.parent / path
    return {"location": doc, "exists": path.exists(), "resolved": str(path)}
