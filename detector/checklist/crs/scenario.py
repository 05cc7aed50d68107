"""The CRS joins the checklist as one scenario, `web-crs-inbound`: a request whose inbound
anomaly score reaches the threshold is a line-level match, so correlation, confidence and
escalation treat it like any other rule. Its version is the CRS version and its content hash
covers the rule files and the settings, so the checklist history records a CRS upgrade (or
an edited rule file) like any scenario change."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import timedelta

from sigma.rule import SigmaDetections

from detector.checklist.crs.model import CrsRuleSet
from detector.checklist.model import Checklist, Provenance, Rule, Scenario
from detector.config import CrsSettings

SCENARIO_ID = "web-crs-inbound"
RULE_NAME = "crs-inbound"
SCORE_FIELD = "crs.anomaly_score"
CUSTOM_FIELDS = (SCORE_FIELD, "crs.rules", "crs.matched", "crs.categories")


def scenario_version(crs_version: str) -> str:
    """`4.9.0` stays; `4.29.0-dev` becomes `4.29.0-dev` (history compares versions as text)."""
    return crs_version if re.match(r"^\d+\.\d+\.\d+", crs_version) else "0.0.0+" + crs_version


def crs_scenario(ruleset: CrsRuleSet, settings: CrsSettings, checklist: Checklist) -> Scenario:
    detection = SigmaDetections.from_dict(
        {"selection": {f"{SCORE_FIELD}|gte": settings.threshold}, "condition": "selection"}
    )
    content = json.dumps(
        {"crs": ruleset.digest, "paranoia": settings.paranoia, "threshold": settings.threshold,
         "exclusions": list(settings.exclusions)},
        sort_keys=True,
    )
    return Scenario(
        id=SCENARIO_ID,
        version=scenario_version(ruleset.version),
        title=f"Web attack: OWASP CRS inbound anomaly score >= {settings.threshold} (paranoia level {settings.paranoia})",
        status="stable",
        owner=checklist.owner,
        severity="high",
        confidence=0.6,
        attack=("T1190",),
        provenance=(
            Provenance("external", f"OWASP CRS {ruleset.version} at {ruleset.path}"),
            Provenance("external", "https://coreruleset.org/"),
        ),
        requires=("access",),
        last_reviewed=checklist.last_review(),
        rules=(Rule(name=RULE_NAME, detection=detection, fields=frozenset({SCORE_FIELD}), line=0),),
        correlation=None,
        samples=(),
        entity=("source.ip",),
        reopen_after=timedelta(hours=1),
        custom_fields=CUSTOM_FIELDS,
        path=ruleset.path,
        content_hash=hashlib.sha256(content.encode()).hexdigest()[:16],
        description="Requests the OWASP Core Rule Set scores at or over the inbound threshold; "
        "the matched CRS rule ids, messages and data are in crs.rules and crs.matched.",
    )


def with_crs(checklist: Checklist, ruleset: CrsRuleSet, settings: CrsSettings) -> Checklist:
    """The checklist plus the CRS scenario (replacing a scenario of the same id)."""
    scenario = crs_scenario(ruleset, settings, checklist)
    scenarios = tuple(s for s in checklist.scenarios if s.id != SCENARIO_ID) + (scenario,)
    digest = hashlib.sha256(
        json.dumps(sorted((s.id, s.version, s.content_hash) for s in scenarios)).encode()
    ).hexdigest()[:16]
    return replace(checklist, scenarios=scenarios, content_hash=digest)
