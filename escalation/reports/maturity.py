"""`logwarden report maturity`: OWASP SAMM 2 Operations › Incident Management evidence.

For each activity (stream A, Incident Detection: O-IM-1-A..3-A; stream B, Incident Response:
O-IM-1-B..3-B) the report states SAMM's assessment question, judges each quality criterion
pass / fail / unknown from the evidence (evidence.py: the state database, the checklist, the
policy and the application inventory — nothing is typed in), measures coverage, and answers:

- any failed criterion ⇒ "No" (0);
- otherwise coverage = numerator / denominator ⇒ 0 "No", below one half "some" (0.25), at
  least half "at least half" (0.5), at least `most_threshold` (config, default 0.75) "most or
  all" (1.0). "unknown" criteria do not block an answer; they are shown with what is missing.

A stream's score is the sum of its three answers (0..3), the practice score their mean, as in
the SAMM toolbox. Criteria marked `source: "activity"` are requirements from SAMM's activity
text that the listed quality criteria leave implicit (e.g. "notify responsible staff
immediately, even outside business hours").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from detector.model import iso, severity_rank
from escalation.exercise import Exercise, load_exercises
from escalation.reports.escalation_report import build_escalation_report
from escalation.reports.evidence import (
    ANNUAL,
    PROVENANCE_NEEDED,
    SEVERE,
    Inputs,
    analysis_cadence,
    applications,
    checklist_evidence,
    documentation,
    lost_data,
    new_applications,
    severe_paths,
    severity_classification,
    source_defects,
)
from escalation.reports.stats import share

REPORT_SCHEMA = 1
PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
VALUES = (0.0, 0.25, 0.5, 1.0)
_COVERAGE_ANSWERS = ("No", "Yes, for some {u}", "Yes, for at least half of the {u}", "Yes, for most or all of the {u}")


@dataclass(frozen=True)
class Activity:
    id: str
    stream: str
    level: int
    title: str
    question: str
    unit: str  # what coverage counts
    answers: tuple[str, str, str, str]


def _answers(unit: str) -> tuple[str, str, str, str]:
    return tuple(a.format(u=unit) for a in _COVERAGE_ANSWERS)  # type: ignore[return-value]


ACTIVITIES = (
    Activity("O-IM-1-A", "A", 1, "Use best-effort incident detection",
             "Do you analyze log data for security incidents periodically?", "applications", _answers("applications")),
    Activity("O-IM-2-A", "A", 2, "Define an incident detection process",
             "Do you follow a documented process for incident detection?", "applications", _answers("applications")),
    Activity("O-IM-3-A", "A", 3, "Improve the incident detection process",
             "Do you review and update the incident detection process regularly?", "applications",
             _answers("applications")),
    Activity("O-IM-1-B", "B", 1, "Create an incident response plan",
             "Do you respond to detected incidents?", "incidents",
             ("No", "Yes, for some of the incidents", "Yes, for at least half of the incidents",
              "Yes, for most or all of the incidents")),
    Activity("O-IM-2-B", "B", 2, "Define an incident response process",
             "Do you use a repeatable process for incident handling?", "incident types", _answers("incident types")),
    Activity("O-IM-3-B", "B", 3, "Establish an incident response team",
             "Do you have a dedicated incident response team available?", "hours of the week",
             ("No", "Yes, some of the time", "Yes, at least half of the time", "Yes, most or all of the time")),
)
STREAMS = {"A": "Incident Detection", "B": "Incident Response"}


def criterion(text: str, status: str, reason: str, evidence: dict[str, Any] | None = None,
              source: str = "quality criterion") -> dict[str, Any]:
    return {"criterion": text, "source": source, "status": status, "reason": reason, "evidence": evidence or {}}


def answer(activity: Activity, criteria: list[dict[str, Any]], numerator: float, denominator: float,
           most: float) -> dict[str, Any]:
    """SAMM's rule: a failed criterion means "No"; else the coverage band."""
    failed = [c for c in criteria if c["status"] == FAIL]
    ratio = numerator / denominator if denominator else None
    if failed:
        index, why = 0, [f"criterion failed: {c['criterion']}: {c['reason']}" for c in failed]
    elif ratio is None:
        index, why = 0, [f"no {activity.unit} to measure coverage on in the period"]
    elif ratio <= 0:
        index, why = 0, [f"coverage 0 of {_num(denominator)} {activity.unit}"]
    else:
        index = 1 if ratio < 0.5 else 2 if ratio < most else 3
        why = [f"coverage {_num(numerator)} of {_num(denominator)} {activity.unit} ({ratio:.0%})"]
    return {
        "answer": activity.answers[index],
        "value": VALUES[index],
        "reasons": why,
    }


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _status(ok: bool | None) -> str:
    return UNKNOWN if ok is None else PASS if ok else FAIL


# --- stream A: incident detection ---------------------------------------------------------------


def _o_im_1_a(inputs: Inputs, ev: dict[str, Any]) -> tuple[list[dict[str, Any]], float, float]:
    process = inputs.config.process
    apps = ev["applications"]
    cadence = ev["cadence"]
    gaps = ev["lost_data"]
    read_anything = any(s["lines_read"] for a in apps for s in a["sources"]) or cadence["longest_gap_seconds"] is not None
    strictest = min((a["required_interval_seconds"] for a in apps), default=None)
    longest = cadence["longest_gap_seconds"]
    if longest is None or strictest is None:
        cadence_ok, cadence_reason = None, "no analysis recorded in the period" if longest is None else "no applications in the inventory"
    elif longest <= strictest:
        cadence_ok, cadence_reason = True, f"longest stretch without analysis {_dur(longest)} <= {_dur(strictest)} (strictest criticality)"
    elif cadence["source"] == "runs":
        cadence_ok, cadence_reason = False, f"longest stretch without analysis {_dur(longest)} > {_dur(strictest)} required by the most critical application"
    else:
        cadence_ok, cadence_reason = None, (
            f"ingest history has a stretch of {_dur(longest)} without new lines; no run history is recorded, "
            "so a quiet log cannot be told from a missed run"
        )
    criteria = [
        criterion(
            "You have a contact point for the creation of security incidents",
            _status(bool(process.point_of_contact)),
            f"process.point_of_contact: {process.point_of_contact}" if process.point_of_contact
            else "no process.point_of_contact in logwarden.yaml; name who takes incident reports",
            {"point_of_contact": process.point_of_contact},
        ),
        criterion(
            "You analyze data in accordance with the log data retention periods",
            _status(None if not read_anything else not gaps),
            ("no log data has been analyzed yet" if not read_anything
             else f"{len(gaps)} gap(s): log data changed or vanished before it was read" if gaps
             else "no log data was lost before it was read in the period"),
            {"gaps": gaps},
        ),
        criterion(
            "The frequency of this analysis is aligned with the criticality of your applications",
            _status(cadence_ok),
            cadence_reason,
            {"cadence": cadence, "required_interval_seconds": {a["name"]: a["required_interval_seconds"] for a in apps}},
        ),
    ]
    return criteria, sum(1 for a in apps if a["analyzed"]), len(apps)


def _o_im_2_a(inputs: Inputs, ev: dict[str, Any]) -> tuple[list[dict[str, Any]], float, float]:
    process = inputs.config.process
    doc = ev["documentation"]
    paths = ev["severe_paths"]
    checklist = ev["checklist"]
    exercises = ev["exercises_recent"]
    news = ev["new_applications"]
    if not paths["loaded"]:
        path_status, path_reason = FAIL, f"no escalation policy could be loaded ({paths.get('error')})"
    elif paths["unmatched"]:
        path_status, path_reason = FAIL, f"no policy with levels for severe scenarios: {', '.join(paths['unmatched'])}"
    elif paths["uncovered"]:
        names = ", ".join(f"{n} ({p['coverage']['covered_hours']:g}/{p['coverage']['week_hours']} h, after hours: {p['after_hours']})"
                          for n, p in paths["policies"].items() if not p["coverage"]["after_hours_covered"])
        path_status, path_reason = FAIL, (
            f"no after-hours path: {len(paths['uncovered'])} severe scenario(s) notify nobody outside business hours "
            f"under {names}; set `after_hours: notify` for them"
        )
    elif not paths["policies"]:
        path_status, path_reason = UNKNOWN, "the checklist has no severe scenario to route"
    else:
        path_status, path_reason = PASS, "every severe scenario reaches a person at once, around the clock: " + ", ".join(
            f"{n} (levels at +{', +'.join(_dur(o) for o in p['offsets_seconds'])})" for n, p in paths["policies"].items()
        )
    late = [n for n in news if n["state"] == "late"]
    criteria = [
        criterion(
            "The process has a dedicated owner",
            _status(bool(process.owner)),
            f"process.owner: {process.owner}" if process.owner else "no process.owner in logwarden.yaml",
            {"owner": process.owner, "checklist_owner": checklist["owner"]},
        ),
        criterion(
            "You store process documentation in an accessible location",
            FAIL if doc["location"] is None or doc["exists"] is False else PASS,
            "no process.documentation in logwarden.yaml" if doc["location"] is None
            else f"{doc['location']} does not exist" if doc["exists"] is False
            else f"documentation at {doc['location']}",
            doc,
        ),
        criterion("The process considers an escalation path for further analysis", path_status, path_reason, paths),
        criterion(
            "You train employees responsible for incident detection in this process",
            PASS if exercises else UNKNOWN,
            f"{len(exercises)} exercise(s) in the last year, last {exercises[-1]['started_at']}" if exercises
            else "no exercise recorded in the last year; training is not otherwise visible to logwarden (run `logwarden exercise`)",
            {"exercises": [e["id"] for e in exercises]},
        ),
        criterion(
            "You have a checklist of potential attacks to simplify incident detection",
            _status(checklist["scenarios"] > 0 and checklist["recorded"]),
            f"checklist {checklist['version']}: {checklist['scenarios']} active scenarios, "
            f"{checklist['attack_techniques']} ATT&CK techniques"
            + ("" if checklist["recorded"] else "; never loaded by a scan of this state"),
            {"version": checklist["version"], "scenarios": checklist["scenarios"]},
        ),
        criterion(
            "New applications are covered within the deadline",
            FAIL if late else PASS,
            (f"not analyzed within {_dur(inputs.config.coverage_deadline.total_seconds())} of onboarding: "
             + ", ".join(n["name"] for n in late)) if late
            else f"{len(news)} application(s) onboarded in the period, none late",
            {"new_applications": news},
            source="activity",
        ),
    ]
    in_grace = {n["name"] for n in news if n["state"] == "in_grace"}
    counted = [a for a in ev["applications"] if a["name"] not in in_grace]
    following = [a for a in counted if a["analyzed"] and a["owner"] and a["scenarios"]]
    return criteria, len(following), len(counted)


def _o_im_3_a(inputs: Inputs, ev: dict[str, Any]) -> tuple[list[dict[str, Any]], float, float]:
    checklist = ev["checklist"]
    paths = ev["severe_paths"]
    deadlines = ev["escalation"]["deadlines"]
    last = checklist["last_review"]
    overdue = checklist["overdue"]
    annual = last is not None and (inputs.now.date() - date.fromisoformat(last)) <= ANNUAL
    if overdue:
        review_reason = "review overdue, raised as process defect(s): " + "; ".join(
            f"{o['detail']}" + (f" [defect {o['defect']['id']}, triage {o['defect']['triage']}]" if o["defect"] else "")
            for o in overdue
        )
    elif not annual:
        review_reason = f"last checklist review {last or 'never'}: more than a year ago"
    else:
        review_reason = f"last checklist review {last}, every scenario reviewed within {checklist['review_interval_days']}d"
    missing_kinds = [k for k in PROVENANCE_NEEDED if not checklist["scenarios_with_provenance"][k]]
    defects = ev["source_defects"]
    untriaged = [d for d in defects if d["status"] == "open" and d["triage"] == "new"]
    breaches = deadlines["breach_count"]
    not_escalated = breaches - deadlines["breaches_escalated"]
    if not paths["loaded"] or paths["unmatched"] or paths["uncovered"]:
        time_status = FAIL
        time_reason = "severe incidents do not reach a person at every hour of the week (see O-IM-2-A escalation path)"
    elif not_escalated:
        time_status = FAIL
        time_reason = f"{not_escalated} of {breaches} missed acknowledgement deadline(s) did not escalate"
    else:
        time_status = PASS
        time_reason = (
            f"severe incidents page around the clock; {breaches} missed deadline(s), all escalated"
            if breaches else "severe incidents page around the clock; no acknowledgement deadline was missed"
        )
    metrics = ev["escalation"]["metrics"]
    criteria = [
        criterion(
            "You perform reviews at least annually",
            FAIL if overdue or not annual else PASS,
            review_reason,
            {"reviews": checklist["reviews"], "versions": checklist["versions"], "overdue": overdue},
        ),
        criterion(
            "You update the checklist of potential attacks with external and internal data",
            FAIL if missing_kinds else PASS,
            ("no scenario comes from " + ", ".join(missing_kinds)) if missing_kinds
            else "scenarios from " + ", ".join(f"{k} ({checklist['scenarios_with_provenance'][k]})" for k in PROVENANCE_NEEDED),
            {"provenance": checklist["provenance"], "scenarios_with_provenance": checklist["scenarios_with_provenance"]},
        ),
        criterion(
            "Absent log data is recorded as a defect, triaged and handled",
            FAIL if untriaged else PASS,
            ("untriaged: " + "; ".join(f"{d['kind']} {d['subject']} (defect {d['id']}, since {d['first_seen']})" for d in untriaged))
            if untriaged else f"{len(defects)} log source defect(s), all triaged" if defects
            else "no missing or silent log source",
            {"defects": defects},
            source="activity",
        ),
        criterion(
            "Detection quality does not depend on the time or day; unacknowledged incidents escalate",
            time_status,
            time_reason,
            {
                "time_to_detect": metrics["time_to_detect"],
                "time_to_acknowledge": metrics["time_to_acknowledge"],
                "first_deadline": deadlines["first_deadline"],
                "breaches": breaches,
                "breaches_escalated": deadlines["breaches_escalated"],
            },
            source="activity",
        ),
    ]
    reviewed = [a for a in ev["applications"] if a["scenarios"] and not a["scenarios_overdue"]]
    return criteria, len(reviewed), len(ev["applications"])


# --- stream B: incident response ----------------------------------------------------------------


def _o_im_1_b(inputs: Inputs, ev: dict[str, Any]) -> tuple[list[dict[str, Any]], float, float]:
    process = inputs.config.process
    paths = ev["severe_paths"]
    audit = ev["escalation"]["audit"]
    incidents = [i for i in ev["escalation"]["incidents"] if i["kind"] == "finding"]
    responded = [i for i in incidents if i["acknowledged_at"] or i["resolved_at"]]
    someone = bool(paths.get("policies")) and not paths.get("unmatched")
    criteria = [
        criterion(
            "You have a defined person or role for incident handling",
            _status(bool(process.point_of_contact) and someone),
            (f"point of contact {process.point_of_contact}; severe incidents go to "
             + ", ".join(paths["policies"])) if process.point_of_contact and someone
            else "no process.point_of_contact" if not process.point_of_contact
            else "no escalation policy routes severe incidents to anyone",
            {"point_of_contact": process.point_of_contact},
        ),
        criterion(
            "You document security incidents",
            UNKNOWN if audit is None else PASS if audit["ok"] else FAIL,
            "the audit trail could not be read" if audit is None
            else f"hash-chained audit trail intact ({audit['entries']} entries)" if audit["ok"]
            else "audit trail verification failed: " + "; ".join(audit["problems"][:3]),
            {"audit": audit},
        ),
    ]
    return criteria, len(responded), len(incidents)


def _o_im_2_b(inputs: Inputs, ev: dict[str, Any]) -> tuple[list[dict[str, Any]], float, float]:
    classes = ev["classification"]
    incidents = [i for i in ev["escalation"]["incidents"] if i["kind"] == "finding"]
    severe_resolved = [i for i in incidents if i["resolved_at"] and severity_rank(i["severity"]) >= severity_rank(SEVERE)]
    no_rca = [i["id"] for i in severe_resolved if not i["root_cause"]]
    exercises = ev["exercises_recent"]
    unclassified = [s for s, p in classes.items() if p is None and severity_rank(s) >= severity_rank("medium")]
    criteria = [
        criterion(
            "You have an agreed upon incident classification",
            FAIL if not classes or unclassified else PASS,
            "no escalation policy loaded" if not classes
            else f"no policy for severity {', '.join(unclassified)}" if unclassified
            else "severity decides the policy: " + ", ".join(f"{s} -> {p}" for s, p in classes.items() if p),
            {"severity_policy": classes},
        ),
        criterion(
            "The process considers Root Cause Analysis for high severity incidents",
            UNKNOWN if not severe_resolved else FAIL if no_rca else PASS,
            "no high or critical incident was resolved in the period" if not severe_resolved
            else f"resolved without a root cause: {', '.join(no_rca)}" if no_rca
            else f"all {len(severe_resolved)} resolved high/critical incident(s) have a root cause",
            {"resolved_severe": len(severe_resolved), "without_root_cause": no_rca},
        ),
        criterion(
            "Employees responsible for incident response are trained in this process",
            PASS if exercises else UNKNOWN,
            f"{len(exercises)} exercise(s) in the last year" if exercises
            else "no exercise recorded in the last year (run `logwarden exercise`)",
            {"exercises": [e["id"] for e in exercises]},
        ),
        criterion(
            "Forensic analysis tooling is available",
            UNKNOWN,
            "logwarden keeps every finding's evidence lines with file and byte offset, and a hash-chained audit "
            "trail; other forensic tooling is not visible to it",
            {},
        ),
    ]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for incident in incidents:
        by_type.setdefault(incident["scenario_id"], []).append(incident)
    handled = [t for t, items in by_type.items() if all(i["acknowledged_at"] or i["resolved_at"] for i in items)]
    return criteria, len(handled), len(by_type)


def _o_im_3_b(inputs: Inputs, ev: dict[str, Any]) -> tuple[list[dict[str, Any]], float, float]:
    incidents = [i for i in ev["escalation"]["incidents"] if i["kind"] == "finding"]
    resolved = [i for i in incidents if i["resolved_at"]]
    no_rca = [i["id"] for i in resolved if not i["root_cause"]]
    interval = inputs.config.process.review_interval
    exercises = ev["exercises_recent"]
    last = exercises[-1] if exercises else None
    paths = ev["severe_paths"]
    if last is None:
        exercise_status, exercise_reason = FAIL, "no incident or emergency exercise in the last year; run `logwarden exercise`"
    elif last["missed"]:
        exercise_status, exercise_reason = FAIL, (
            f"exercise {last['id']} ({last['started_at']}) missed: {', '.join(last['missed'])}"
        )
    else:
        exercise_status, exercise_reason = PASS, (
            f"exercise {last['id']} ({last['started_at']}): {last['detected']}/{last['samples']} detected, "
            f"{last['notified']} notified, {last['acknowledged']} acknowledged"
            + (f" (slowest after {_dur(last['max_acknowledge_seconds'])})" if last["max_acknowledge_seconds"] is not None else "")
        )
    criteria = [
        criterion(
            "The team performs Root Cause Analysis for all security incidents unless there is a specific reason not to do so",
            UNKNOWN if not resolved else FAIL if no_rca else PASS,
            "no incident was resolved in the period" if not resolved
            else f"resolved without a root cause (record the reason as the root cause): {', '.join(no_rca)}" if no_rca
            else f"all {len(resolved)} resolved incident(s) have a root cause",
            {"resolved": len(resolved), "without_root_cause": no_rca},
        ),
        criterion(
            "You review and update the response process at least annually",
            FAIL if interval is None or interval > ANNUAL else UNKNOWN,
            "no process.review_interval in logwarden.yaml" if interval is None
            else f"process.review_interval {interval.days}d is longer than a year" if interval > ANNUAL
            else f"process.review_interval {interval.days}d; the dates of response-process reviews are not in the state",
            {"review_interval_days": interval.days if interval else None},
        ),
        criterion(
            "Incident and emergency exercises are carried out regularly",
            exercise_status,
            exercise_reason,
            {"exercises": ev["exercises_recent"]},
            source="activity",
        ),
    ]
    weekly = paths.get("weakest_share")
    numerator = round((weekly or 0.0) * 168, 2)
    return criteria, numerator, 168


EVALUATORS = {
    "O-IM-1-A": _o_im_1_a,
    "O-IM-2-A": _o_im_2_a,
    "O-IM-3-A": _o_im_3_a,
    "O-IM-1-B": _o_im_1_b,
    "O-IM-2-B": _o_im_2_b,
    "O-IM-3-B": _o_im_3_b,
}


def _dur(seconds: float) -> str:
    seconds = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0s"


def _exercise_summary(exercise: Exercise) -> dict[str, Any]:
    data = exercise.to_dict()
    notify = [r.notify_seconds for r in exercise.results if r.notify_seconds is not None]
    acknowledge = [r.acknowledge_seconds for r in exercise.results if r.acknowledge_seconds is not None]
    return {
        "id": data["id"],
        "started_at": data["started_at"],
        "mode": data["mode"],
        "checklist_version": data["checklist_version"],
        "samples": data["samples"],
        "detected": data["detected"],
        "notified": data["notified"],
        "detection_share": share(data["detected"], data["samples"]),
        "missed": data["missed"],
        "max_notify_seconds": max(notify, default=None),
        "acknowledged": len(acknowledge),
        "max_acknowledge_seconds": max(acknowledge, default=None),
        "levels": sorted({r.level for r in exercise.results if r.level is not None}),
        "results": [
            {k: r[k] for k in ("scenario_id", "detected", "incident_id", "policy", "detect_seconds",
                               "notify_seconds", "acknowledge_seconds", "level", "problems")}
            | {"channels": sorted({f"{n.get('channel')}:{n.get('status')}" for n in r["notifications"]})}
            for r in data["results"]
        ],
    }


def gather(inputs: Inputs) -> dict[str, Any]:
    apps = applications(inputs)
    escalation = build_escalation_report(inputs.store, inputs.period, inputs.now, inputs.policy_set, inputs.audit)
    exercises = [_exercise_summary(e) for e in load_exercises(inputs.store, inputs.now - ANNUAL, inputs.now + timedelta(seconds=1))]
    return {
        "applications": apps,
        "new_applications": new_applications(inputs, apps),
        "cadence": analysis_cadence(inputs),
        "lost_data": lost_data(inputs),
        "source_defects": source_defects(inputs),
        "checklist": checklist_evidence(inputs),
        "severe_paths": severe_paths(inputs),
        "classification": severity_classification(inputs),
        "documentation": documentation(inputs),
        "escalation": escalation,
        "exercises_recent": exercises,
    }


def build_maturity_report(inputs: Inputs) -> dict[str, Any]:
    """The maturity evidence as one JSON-able document, keyed by SAMM activity id."""
    ev = gather(inputs)
    most = inputs.config.most_threshold
    activities: dict[str, Any] = {}
    for activity in ACTIVITIES:
        criteria, numerator, denominator = EVALUATORS[activity.id](inputs, ev)
        activities[activity.id] = {
            "stream": activity.stream,
            "level": activity.level,
            "title": activity.title,
            "question": activity.question,
            "criteria": criteria,
            "coverage": {
                "numerator": numerator,
                "denominator": denominator,
                "unit": activity.unit,
                "ratio": round(numerator / denominator, 4) if denominator else None,
            },
            **answer(activity, criteria, numerator, denominator, most),
        }
    streams = {
        stream: {
            "name": name,
            "score": round(sum(a["value"] for a in activities.values() if a["stream"] == stream), 2),
            "max": 3.0,
        }
        for stream, name in STREAMS.items()
    }
    incidents = ev["escalation"]
    return {
        "report": "maturity",
        "schema": REPORT_SCHEMA,
        "model": "OWASP SAMM 2.0",
        "practice": "Operations / Incident Management",
        "generated_at": iso(inputs.now),
        "period": inputs.period.to_dict(),
        "most_threshold": most,
        "activities": activities,
        "streams": streams,
        "practice_score": round(sum(s["score"] for s in streams.values()) / len(streams), 3),
        "evidence": {
            "applications": ev["applications"],
            "new_applications": ev["new_applications"],
            "analysis_cadence": ev["cadence"],
            "lost_data": ev["lost_data"],
            "source_defects": ev["source_defects"],
            "checklist": ev["checklist"],
            "escalation_paths": ev["severe_paths"],
            "severity_policy": ev["classification"],
            "documentation": ev["documentation"],
            "incidents": {
                "count": incidents["summary"]["incidents"],
                "time_to_detect": incidents["metrics"]["time_to_detect"],
                "time_to_acknowledge": incidents["metrics"]["time_to_acknowledge"],
                "first_deadline": incidents["deadlines"]["first_deadline"],
                "breaches": incidents["deadlines"]["breach_count"],
                "breaches_escalated": incidents["deadlines"]["breaches_escalated"],
                "escalation_depth": incidents["escalation_depth"],
            },
            "audit": incidents["audit"],
            "exercises": ev["exercises_recent"],
        },
    }
