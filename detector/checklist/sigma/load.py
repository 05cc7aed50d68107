"""Load Sigma rule files and folders as scenarios: each rule loaded, or skipped with a reason.

Order of work, as pySigma's own collection does it: every file read first; filter rules
applied to the rules they name; each rule's log source chooses its feed, whose processing
pipeline maps fields and adds the log-kind condition; correlation rules then take the
prepared rules they reference as their own rules. A referenced rule only fires on its own
when its correlation says `generate: true` (the Sigma v2 default is false).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.filters import SigmaFilter
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from detector.checklist.model import Scenario
from detector.checklist.sigma.correlations import correlation_scenario
from detector.checklist.sigma.documents import Parsed, read_file, rule_set_of, sigma_files
from detector.checklist.sigma.feeds import FED_SOURCES, FEEDS, build_pipeline, describe, feed_of
from detector.checklist.sigma.prepared import Prepared
from detector.checklist.sigma.scenarios import Defaults, Origin, detection_rule, digest, scenario, scenario_id
from detector.checklist.sigma.support import Unsupported, custom_fields, detection_items, unsupported
from detector.yamlsafe import to_plain

LOADED, SKIPPED, OUT_OF_SCOPE = "loaded", "skipped", "out-of-scope"


@dataclass(frozen=True)
class Outcome:
    """What became of one rule: `reason` groups the totals, `detail` says what to do."""

    path: Path
    line: int
    rule_id: str
    title: str
    kind: str  # rule | correlation | filter
    status: str  # loaded | skipped | out-of-scope
    reason: str = ""
    detail: str = ""
    logsource: str = ""  # as written: `webserver`, `linux/sshd`, `application/jvm`

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "line": self.line, "id": self.rule_id, "title": self.title, "kind": self.kind,
                "status": self.status, "reason": self.reason, "detail": self.detail, "logsource": self.logsource}

    @classmethod
    def of(cls, origin: Origin, rule_id: str, title: str, kind: str, status: str, reason: str = "",
           detail: str = "") -> Outcome:
        return cls(origin.path, origin.line, rule_id, title, kind, status, reason, detail, logsource_label(origin.data))


def logsource_label(data: Any) -> str:
    node = data.get("logsource") if isinstance(data, dict) else None
    if not isinstance(node, dict):
        return "correlation" if isinstance(data, dict) and "correlation" in data else ""
    return "/".join(str(node[k]) for k in ("category", "product", "service") if node.get(k))


@dataclass(frozen=True)
class SigmaLoad:
    scenarios: tuple[Scenario, ...]
    outcomes: tuple[Outcome, ...]
    problems: tuple[str, ...]  # files that are not valid Sigma: `file:line: message`

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status and o.kind != "filter")

    @property
    def in_scope(self) -> int:
        return self.count(LOADED) + self.count(SKIPPED)


def load_sigma(
    paths: list[Path], defaults: Defaults, placeholders: Mapping[str, list[Any]] | None = None
) -> SigmaLoad:
    files, problems = sigma_files(paths)
    parsed: list[Parsed] = []
    outcomes: list[Outcome] = []
    for path in files:
        content = read_file(path, rule_set_of(path))
        problems.extend(content.problems)
        parsed.extend(content.parsed)
        outcomes.extend(
            Outcome.of(r.origin, r.rule_id, r.title, "rule", SKIPPED, r.why.reason, r.why.detail)
            for r in content.rejected
        )
    if problems:
        return SigmaLoad((), tuple(outcomes), tuple(problems))
    parsed = _unique(parsed, outcomes)
    filters = [p for p in parsed if isinstance(p.obj, SigmaFilter)]
    rules = [p for p in parsed if isinstance(p.obj, SigmaRule)]
    applied = _apply_filters(filters, rules, outcomes)
    pipelines = {feed.name: build_pipeline(feed, placeholders) for feed in FEEDS}
    prepared: dict[str, Prepared] = {}
    for item in rules:
        ready = _prepare(item, pipelines, applied.get(id(item.obj), []), outcomes)
        if ready is not None:
            prepared[scenario_id(item.obj)] = ready
    scenarios: list[Scenario] = []
    for item in parsed:
        if isinstance(item.obj, SigmaCorrelationRule):
            built = correlation_scenario(item, prepared, defaults, parsed)
            outcomes.append(_outcome(item, "correlation", built.why))
            if built.scenario is not None:
                scenarios.append(built.scenario)
    for ready in prepared.values():
        if ready.standalone:
            scenarios.append(_rule_scenario(ready, defaults))
        outcomes.append(_outcome(ready.parsed, "rule", _inert(ready), ready.used_by))
    outcomes.sort(key=lambda o: (str(o.path), o.line))
    return SigmaLoad(tuple(scenarios), tuple(outcomes), ())


def _unique(parsed: list[Parsed], outcomes: list[Outcome]) -> list[Parsed]:
    """One rule per id (and per name): a second file with the same id is skipped."""
    seen: dict[str, Parsed] = {}
    kept = []
    for item in parsed:
        keys = [k for k in (str(item.obj.id) if item.obj.id else None, item.obj.name) if k]
        first = next((seen[k] for k in keys if k in seen), None)
        if first is not None:
            outcomes.append(Outcome.of(
                item.origin, keys[0], item.obj.title or "", _kind(item), SKIPPED,
                "duplicate id", f"id or name {keys[0]} is also used by {first.origin.path}:{first.origin.line}; "
                "keep one copy of the rule",
            ))
            continue
        seen.update((k, item) for k in keys)
        kept.append(item)
    return kept


def _kind(item: Parsed) -> str:
    if isinstance(item.obj, SigmaCorrelationRule):
        return "correlation"
    return "filter" if isinstance(item.obj, SigmaFilter) else "rule"


def _apply_filters(filters: list[Parsed], rules: list[Parsed], outcomes: list[Outcome]) -> dict[int, list[str]]:
    """Sigma v2 meta-filters: each filter ANDs `not <its condition>` into the rules it names
    (pySigma rewrites the rule). Returns rule object id -> digests of the filters applied."""
    applied: dict[int, list[str]] = {}
    for item in filters:
        sigma_filter = item.obj
        assert isinstance(sigma_filter, SigmaFilter)
        targets = [r for r in rules if sigma_filter._should_apply_on_rule(r.obj)]  # noqa: SLF001 - pySigma's own test
        for target in targets:
            sigma_filter.apply_on_rule(target.obj)
            applied.setdefault(id(target.obj), []).append(digest(to_plain(item.origin.data)))
        if targets:
            names = ", ".join(scenario_id(t.obj) for t in targets[:3]) + (" ..." if len(targets) > 3 else "")
            outcomes.append(Outcome.of(item.origin, scenario_id(sigma_filter), sigma_filter.title or "",
                                       "filter", LOADED, detail=f"applies to {len(targets)} rule(s): {names}"))
        else:
            outcomes.append(Outcome.of(
                item.origin, scenario_id(sigma_filter), sigma_filter.title or "", "filter", SKIPPED, "filter names no loaded rule",
                f"its rules {_refs(sigma_filter)} and log source {describe(sigma_filter.logsource)} match no rule read",
            ))
    return applied


def _refs(sigma_filter: SigmaFilter) -> str:
    rules = sigma_filter.filter.rules
    return str(rules) if isinstance(rules, str) else "[" + ", ".join(r.reference for r in rules) + "]"


def _prepare(
    item: Parsed, pipelines: dict[str, ProcessingPipeline], filters: list[str], outcomes: list[Outcome]
) -> Prepared | None:
    rule = item.obj
    assert isinstance(rule, SigmaRule)
    status = str(rule.status) if rule.status is not None else None

    def skip(state: str, reason: str, detail: str) -> None:
        outcomes.append(Outcome.of(item.origin, scenario_id(rule), rule.title or "", "rule", state, reason, detail))

    feed = feed_of(rule.logsource)
    if feed is None:
        skip(OUT_OF_SCOPE, "log source not read by logwarden",
             f"log source {describe(rule.logsource)}: logwarden reads {FED_SOURCES}")
        return None
    if status in ("deprecated", "unsupported"):
        skip(SKIPPED, f"status {status}", f"the rule's authors mark it {status}; use its replacement "
             "(see `related`) or set a supported status if you maintain a copy")
        return None
    try:
        pipelines[feed.name].apply(rule)
    except SigmaError as exc:
        skip(SKIPPED, "field mapping failed", f"{exc}")
        return None
    why = unsupported(rule.detection, feed)
    if why is not None:
        skip(SKIPPED, why.reason, why.detail)
        return None
    fields = frozenset(i.field for i in detection_items(rule.detection) if i.field is not None)
    name = rule.name or "detection"
    return Prepared(
        parsed=item,
        feed=feed,
        rule=detection_rule(rule, name, item.origin, fields),
        custom=tuple(sorted(custom_fields(rule.detection))),
        content=digest(to_plain(item.origin.data), filters),
    )


def _rule_scenario(ready: Prepared, defaults: Defaults) -> Scenario:
    rule = ready.parsed.obj
    assert isinstance(rule, SigmaRule)
    return scenario(
        rule, ready.parsed.origin, defaults, (ready.rule,), None, ready.feed.kinds, ready.feed.entity,
        ready.custom, ready.content,
    )


def _inert(ready: Prepared) -> Unsupported | None:
    """A building block whose every correlation was skipped runs nowhere."""
    if ready.standalone or ready.used_by:
        return None
    return Unsupported("building block of a skipped correlation",
                       "only referenced by correlation rules that were skipped (`generate: false`); see their reasons")


def _outcome(item: Parsed, kind: str, why: Unsupported | None, used_by: list[str] | None = None) -> Outcome:
    origin: Origin = item.origin
    rule_id, title = scenario_id(item.obj), item.obj.title or ""
    if why is not None:
        return Outcome.of(origin, rule_id, title, kind, SKIPPED, why.reason, why.detail)
    detail = f"used by correlation {', '.join(used_by)}" if used_by else ""
    return Outcome.of(origin, rule_id, title, kind, LOADED, detail=detail)
