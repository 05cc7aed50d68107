"""What `logwarden rules crs --check PATH` reports: which CRS rules run, which cannot and why."""

from __future__ import annotations

from collections import Counter
from typing import Any

from detector.checklist.crs.model import CrsRuleSet, excluded
from detector.config import CrsSettings

REASONS = {
    "control": "adds no anomaly score (initialization, paranoia gates, blocking evaluation, exceptions)",
    "response": "inspects responses; access logs carry no response content",
    "target": "reads only what access logs do not carry (bodies, uploads, other headers)",
    "setup": "depends on a variable crs-setup.conf or another rule sets while serving the request",
    "operator": "operator not available (libinjection, ...)",
    "transformation": "transformation not available",
    "regex": "pattern RE2 rejects",
    "macro": "operator argument known only while serving the request",
}


def check_report(ruleset: CrsRuleSet, settings: CrsSettings) -> dict[str, Any]:
    """Every rule that cannot run once, with its reason; totals per reason; the share of the
    scored request rules that load, and what the settings select among them."""
    scored_skips = [s for s in ruleset.skipped if s.request and s.reason != "control"]
    scored = len(ruleset.rules) + len(scored_skips)
    per_level = Counter(r.paranoia for r in ruleset.rules)
    selected = ruleset.select(settings)
    return {
        "path": str(ruleset.path),
        "version": ruleset.version,
        "digest": ruleset.digest,
        "files": len(ruleset.files),
        "request_rules": ruleset.request_total(),
        "scored_request_rules": scored,
        "loaded": len(ruleset.rules),
        "loaded_share": round(len(ruleset.rules) / scored, 4) if scored else 0.0,
        "loaded_per_paranoia": {str(k): per_level[k] for k in sorted(per_level)},
        "selected": len(selected),
        "paranoia": settings.paranoia,
        "threshold": settings.threshold,
        "excluded": [r.id for r in ruleset.rules if excluded(r, settings.exclusions)],
        "partial_targets": sum(1 for r in ruleset.rules if r.unfed),
        "reasons": {k: {"rules": v, "meaning": REASONS.get(k, "")} for k, v in sorted(ruleset.reasons(False).items())},
        "skipped": [
            {"id": s.id, "file": s.file, "line": s.line, "reason": s.reason, "detail": s.detail, "request": s.request}
            for s in ruleset.skipped
        ],
    }


def check_lines(report: dict[str, Any], verbose: bool) -> list[str]:
    """The report as text: totals first, then every rule that cannot run (control and
    response rules only with `verbose`: they are not attack rules an access log could feed)."""
    lines = [
        f"OWASP CRS {report['version']} at {report['path']} ({report['files']} rule files)",
        f"request rules that add an anomaly score: {report['scored_request_rules']}, "
        f"loaded {report['loaded']} ({report['loaded_share']:.1%}); per paranoia level "
        + ", ".join(f"PL{k} {v}" for k, v in report["loaded_per_paranoia"].items()),
        f"running at paranoia level {report['paranoia']}: {report['selected']} rules, threshold "
        f"{report['threshold']}, {len(report['excluded'])} excluded; {report['partial_targets']} rules "
        "also name targets access logs lack (those targets are ignored)",
        "rules that cannot run, per reason:",
    ]
    for reason, entry in report["reasons"].items():
        lines.append(f"  {reason:<15}{entry['rules']:>5}  {entry['meaning']}")
    lines.append("rules that cannot run:")
    for item in report["skipped"]:
        if not verbose and (item["reason"] in ("control", "response")):
            continue
        lines.append(f"  {item['id'] or '-':>7} {item['reason']:<15}{item['file']}:{item['line']}  {item['detail']}")
    return lines
