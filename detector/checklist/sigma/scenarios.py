"""A loaded Sigma rule as a logwarden scenario: its metadata kept, a confidence prior from its
level and status, provenance naming the rule set it came from.

Confidence prior (a firing's chance of being a true incident, before corroboration):

| level         | prior | | status       | factor |
| ------------- | ----- | | ------------ | ------ |
| informational | 0.10  | | stable       | 1.00   |
| low           | 0.25  | | test         | 0.90   |
| medium        | 0.40  | | experimental | 0.75   |
| high          | 0.60  | |              |        |
| critical      | 0.75  | |              |        |

A rule without a level counts as medium, without a status as experimental.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sigma.rule import SigmaRule, SigmaRuleBase

from detector.checklist.model import Correlation, Provenance, Rule, Scenario

LEVEL_PRIOR = {"informational": 0.10, "low": 0.25, "medium": 0.40, "high": 0.60, "critical": 0.75}
STATUS_FACTOR = {"stable": 1.00, "test": 0.90, "experimental": 0.75}
_TECHNIQUE = re.compile(r"^t\d{4}(\.\d{3})?$")


@dataclass(frozen=True)
class Origin:
    """Where a rule was read: file, line of its document, the document as plain data."""

    path: Path
    line: int
    data: dict[str, Any]
    rule_set: str  # "SigmaHQ" inside a SigmaHQ checkout, else "Sigma"

    def line_of(self, key: str) -> int:
        key_lines = getattr(self.data, "key_lines", {})
        return int(key_lines.get(key, self.line))


def confidence_prior(level: str | None, status: str | None) -> float:
    prior = LEVEL_PRIOR.get(level or "medium", LEVEL_PRIOR["medium"])
    return round(prior * STATUS_FACTOR.get(status or "experimental", STATUS_FACTOR["experimental"]), 3)


def tags_of(rule: SigmaRuleBase) -> tuple[str, ...]:
    return tuple(f"{t.namespace}.{t.name}".lower() for t in rule.tags or ())


def techniques(tags: tuple[str, ...]) -> tuple[str, ...]:
    """ATT&CK technique ids from `attack.t1190`-style tags, as `T1190`."""
    return tuple(
        dict.fromkeys(t.split(".", 1)[1].upper() for t in tags if t.startswith("attack.") and _TECHNIQUE.match(t.split(".", 1)[1]))
    )


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.replace("/", "-"))
        except ValueError:
            return None
    return None


def version_of(rule: SigmaRuleBase) -> str:
    """Sigma rules carry no version: their last change date stands for it (`2025.11.22`)."""
    day = _date(rule.modified) or _date(rule.date)
    return f"{day.year}.{day.month}.{day.day}" if day else "0.0.0"


def digest(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def scenario_id(rule: SigmaRuleBase) -> str:
    return str(rule.id) if rule.id is not None else f"sigma-{rule.name}"


@dataclass(frozen=True)
class Defaults:
    """What the checklist decides for every scenario it loads."""

    owner: str
    reopen_after: timedelta


def scenario(
    rule: SigmaRuleBase,
    origin: Origin,
    defaults: Defaults,
    rules: tuple[Rule, ...],
    correlation: Correlation | None,
    requires: tuple[str, ...],
    entity: tuple[str, ...],
    custom_fields: tuple[str, ...],
    content: str,
) -> Scenario:
    """The scenario of a Sigma rule (or correlation rule) whose detection is already prepared."""
    sid = scenario_id(rule)
    level = str(rule.level) if rule.level is not None else None
    status = str(rule.status) if rule.status is not None else None
    tags = tags_of(rule)
    modified, created = _date(rule.modified), _date(rule.date)
    return Scenario(
        id=sid,
        version=version_of(rule),
        title=rule.title or sid,
        status=status or "experimental",
        owner=defaults.owner,
        severity=level or "medium",
        confidence=confidence_prior(level, status),
        attack=techniques(tags),
        provenance=(Provenance(kind="external", ref=f"{origin.rule_set} {sid}"),),
        requires=requires,
        last_reviewed=modified or created,
        rules=rules,
        correlation=correlation,
        samples=(),
        entity=entity,
        reopen_after=defaults.reopen_after,
        custom_fields=custom_fields,
        path=origin.path,
        content_hash=content,
        description=(rule.description or "").strip(),
        tags=tags,
        author=rule.author or "",
        created=created,
        modified=modified,
        references=tuple(str(r) for r in rule.references or ()),
        falsepositives=tuple(str(f) for f in rule.falsepositives or ()),
    )


def detection_rule(rule: SigmaRule, name: str, origin: Origin, fields: frozenset[str]) -> Rule:
    return Rule(name=name, detection=rule.detection, fields=fields, line=origin.line_of("detection"))
