"""`logwarden findings show ID` and the evidence lines every command shows: `path:line_no: line`
(what grep users and editors take; JSON keeps the byte offset too), and what to do next: the
scenario's description and the false positives its authors know of."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detector.checklist import load_checklist
from detector.checklist.model import Scenario
from detector.errors import LogwardenError, NotFoundError, UsageError
from detector.model import Evidence, Finding
from detector.sources.lineno import locate
from detector.state.store import Store
from detector.textsafe import terminal_safe


def find_finding(store: Store, wanted: str) -> Finding:
    """The finding named by its id or a unique prefix of it; NotFoundError/UsageError (exit 2)."""
    wanted = wanted.strip()
    exact = store.get_finding(wanted)
    if exact is not None:
        return exact
    escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = store.execute("SELECT id FROM findings WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 6",
                         (escaped + "%",)).fetchall() if wanted else []
    if not rows:
        raise NotFoundError(f"no finding {wanted!r}; `logwarden findings` lists their ids")
    if len(rows) > 1:
        raise UsageError(f"{wanted!r} matches several findings ({', '.join(r[0] for r in rows[:5])}, ...); give more of the id")
    found = store.get_finding(rows[0][0])
    assert found is not None
    return found


def located(store: Store | None, evidence: tuple[Evidence, ...] | list[Evidence]) -> list[dict[str, Any]]:
    """Each evidence as JSON with `line_no` (None when the file no longer holds it) and
    `current_path` (where the content is now: a rotated file's new name)."""
    where = locate(store, evidence)
    out = []
    for ev in evidence:
        spot = where[(ev.path, ev.offset)]
        out.append({**ev.to_dict(), "line_no": spot.line_no, "current_path": spot.path})
    return out


def evidence_lines(items: list[dict[str, Any]], line_limit: int = 1000) -> list[str]:
    """`path:line_no: line` (or `path (byte offset N): line`), every part escaped."""
    lines = []
    for item in items:
        where = f"{item['current_path']}:{item['line_no']}" if item["line_no"] is not None else (
            f"{item['path']} (byte offset {item['offset']})")
        lines.append(f"{terminal_safe(where, 600)}: {terminal_safe(item['line'], line_limit)}")
    return lines


def scenario_notes(checklist_dir: Path | None, scenario_id: str) -> tuple[Scenario | None, str | None]:
    """The scenario behind a finding (for its description and false positives), or why not."""
    try:
        scenario = load_checklist(checklist_dir).scenario(scenario_id)
    except LogwardenError as exc:
        return None, f"the checklist cannot be read ({str(exc).splitlines()[0]})"
    if scenario is None:
        return None, f"scenario {scenario_id} is no longer in the checklist"
    return scenario, None


def finding_document(store: Store, finding: Finding, checklist_dir: Path | None,
                     incident_id: str | None) -> dict[str, Any]:
    """`findings show --format json`: the finding, located evidence, scenario notes, incident."""
    scenario, problem = scenario_notes(checklist_dir, finding.scenario_id)
    data = finding.to_dict()
    data["evidence"] = located(store, finding.evidence)
    return {
        "finding": data,
        "incident_id": incident_id,
        "scenario": None if scenario is None else {
            "id": scenario.id, "version": scenario.version, "title": scenario.title,
            "description": scenario.description, "falsepositives": list(scenario.falsepositives),
            "references": list(scenario.references), "path": str(scenario.path),
        },
        "scenario_problem": problem,
    }


def finding_text(doc: dict[str, Any]) -> list[str]:
    """The text form of `finding_document`, log-derived text escaped."""
    f, scenario = doc["finding"], doc["scenario"]
    entity = ", ".join(f"{k}={v}" for k, v in sorted(f["entity"].items())) or "-"
    rows = [
        ("Finding", f["id"]), ("Scenario", f"{f['scenario_id']} v{f['scenario_version']} - {f['title']}"),
        ("Entity", entity), ("Severity", f["severity"]), ("Confidence", f"{f['confidence']:.2f}"),
        ("Seen", f"{f['first_seen']} .. {f['last_seen']} ({f['count']} event(s))"),
        ("Detected", f["detected_at"]), ("Log kinds", ", ".join(f["log_kinds"]) or "-"),
        ("ATT&CK", ", ".join(f["attack"]) or "-"), ("Status", f["status"] + (" (exercise)" if f["exercise"] else "")),
        ("Incident", doc["incident_id"] or "-"),
    ]
    out = [f"{label + ':':<12} {terminal_safe(str(value), 1000)}" for label, value in rows]
    out += ["", "Why this confidence:"] + [f"  {terminal_safe(r, 500)}" for r in f["confidence_reasons"]]
    shown = f"{len(f['evidence'])} of {f['count']}" if len(f["evidence"]) < f["count"] else str(len(f["evidence"]))
    out += ["", f"Evidence ({shown}, path:line):"] + [f"  {line}" for line in evidence_lines(f["evidence"])]
    out += ["", "Next steps:"] + _next_steps(doc, scenario)
    return out


def _next_steps(doc: dict[str, Any], scenario: dict[str, Any] | None) -> list[str]:
    f = doc["finding"]
    steps = []
    if scenario is None:
        steps.append(f"  ({terminal_safe(doc['scenario_problem'] or '', 500)})")
    else:
        if scenario["description"]:
            steps.append(f"  What it means: {terminal_safe(' '.join(scenario['description'].split()), 2000)}")
        if scenario["falsepositives"]:
            steps.append("  Rule out the known false positives:")
            steps += [f"    - {terminal_safe(fp, 500)}" for fp in scenario["falsepositives"]]
        steps += [f"  Reference: {terminal_safe(ref, 500)}" for ref in scenario["references"]]
    if doc["incident_id"]:
        steps.append(f"  Take it: logwarden incidents ack {doc['incident_id']} --by <your name>")
    for key, value in sorted(f["entity"].items())[:1]:
        steps.append(f"  Everything else from it: logwarden incidents list --status all --entity {terminal_safe(f'{key}={value}', 300)}")
    return steps
