"""Sigma correlation rules (specification v2) as scenarios of the existing correlation model.

`event_count` and `value_count` fire when the count reaches a `gte`/`gt` threshold within
the timespan; `temporal` and `temporal_ordered` when every referenced rule matched (in order
for the latter) for one group. The referenced rules become the scenario's own rules, named
as the correlation names them; group-by fields go through each rule's field mapping and must
land on the same column in every rule (aliases included).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
)

from detector.checklist.model import Correlation, Scenario
from detector.checklist.sigma.documents import Parsed
from detector.checklist.sigma.prepared import Prepared
from detector.checklist.sigma.scenarios import Defaults, digest, scenario, scenario_id
from detector.checklist.sigma.support import Unsupported
from detector.schema import ECS_FIELDS
from detector.yamlsafe import to_plain

SUPPORTED_TYPES = ("event_count", "value_count", "temporal", "temporal_ordered")
_THRESHOLD_OPS = {SigmaCorrelationConditionOperator.GTE: "gte", SigmaCorrelationConditionOperator.GT: "gt"}


@dataclass(frozen=True)
class Built:
    scenario: Scenario | None
    why: Unsupported | None


class _Skip(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.why = Unsupported(reason, detail)


def correlation_scenario(
    item: Parsed, prepared: dict[str, Prepared], defaults: Defaults, everything: list[Parsed]
) -> Built:
    corr = item.obj
    assert isinstance(corr, SigmaCorrelationRule)
    refs = [r.reference for r in corr.rules or []]
    members = _members(corr, refs, prepared, everything)
    try:
        ctype = _type(corr)
        op, value = _condition(corr, ctype, item, len(refs))
        group_by = tuple(_mapped(name, corr, refs, members, "group-by") for name in corr.group_by or [])
        value_field = None
        if ctype == "value_count":
            assert isinstance(corr.condition, SigmaCorrelationCondition)
            fieldref = corr.condition.fieldref
            if not isinstance(fieldref, str):
                raise _Skip("correlation condition", "value_count needs one `field` in its condition")
            value_field = _mapped(fieldref, corr, refs, members, "condition field")
        if any(m is None for m in members):
            raise _missing(refs, members, everything)
    except _Skip as skip:
        return Built(None, skip.why)
    ready = [m for m in members if m is not None]
    correlation = Correlation(
        type=ctype, rules=tuple(refs), group_by=group_by, timespan=timedelta(seconds=corr.timespan.seconds),
        condition_op=op, condition_value=value, value_field=value_field,
    )
    sid = scenario_id(corr)
    for member in ready:
        member.used_by.append(sid)
    kinds = tuple(dict.fromkeys(k for m in ready for k in m.feed.kinds))
    custom = tuple(sorted({f for m in ready for f in m.custom}))
    rules = tuple(replace(m.rule, name=ref) for ref, m in zip(refs, ready))
    content = digest(to_plain(item.origin.data), [m.content for m in ready])
    return Built(scenario(corr, item.origin, defaults, rules, correlation, kinds, group_by, custom, content), None)


def _members(
    corr: SigmaCorrelationRule, refs: list[str], prepared: dict[str, Prepared], everything: list[Parsed]
) -> list[Prepared | None]:
    """The prepared rule each reference names (by id or name); None when it is not loaded.
    A referenced rule stops firing on its own unless the correlation says `generate: true`."""
    by_name = {p.parsed.obj.name: p for p in prepared.values() if p.parsed.obj.name}
    members = [prepared.get(ref) or by_name.get(ref) for ref in refs]
    if not corr.generate:
        named = set(refs)
        for item in everything:
            sid = scenario_id(item.obj)
            if (sid in named or item.obj.name in named) and sid in prepared:
                prepared[sid].standalone = False
    return members


def _type(corr: SigmaCorrelationRule) -> str:
    ctype = corr.type.name.lower()
    if ctype not in SUPPORTED_TYPES:
        raise _Skip(f"correlation type {ctype}",
                    f"correlation type {ctype} is not supported; logwarden runs {', '.join(SUPPORTED_TYPES)}")
    return ctype


def _condition(corr: SigmaCorrelationRule, ctype: str, item: Parsed, rule_count: int) -> tuple[str, int]:
    condition = corr.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        raise _Skip("extended temporal condition",
                    "extended conditions (and/or/not over rules) are not supported; list the rules and omit the condition")
    if ctype in ("temporal", "temporal_ordered"):
        written = isinstance(item.origin.data.get("correlation"), dict) and "condition" in item.origin.data["correlation"]
        if written and not (condition.op in _THRESHOLD_OPS and _needed(condition) >= rule_count):
            raise _Skip("temporal with fewer than all rules",
                        f"a {ctype} correlation fires when all {rule_count} rules matched; drop the condition "
                        "or list only the rules that must all match")
        return "gte", rule_count
    op = _THRESHOLD_OPS.get(condition.op)
    if op is None or not float(condition.count).is_integer() or condition.count < 1:
        raise _Skip("correlation condition",
                    f"condition {condition.op.name.lower()}: {condition.count}: logwarden fires when a count reaches "
                    "a threshold; write `gte: N` or `gt: N` with N a positive integer")
    return op, int(condition.count)


def _needed(condition: SigmaCorrelationCondition) -> int:
    count = int(condition.count)
    return count + 1 if condition.op is SigmaCorrelationConditionOperator.GT else count


def _mapped(name: str, corr: SigmaCorrelationRule, refs: list[str], members: list[Prepared | None], what: str) -> str:
    """The ECS column a Sigma field (or alias) lands on in every referenced rule."""
    aliases = {a.alias: a.mapping for a in corr.aliases}
    landed: set[str] = set()
    for ref, member in zip(refs, members):
        if member is None:
            continue
        source = aliases[name].get(ref, name) if name in aliases else name
        target = member.feed.fields.get(source, source)
        if not isinstance(target, str):
            raise _Skip("group-by field with two readings",
                        f"{what} field {source!r} maps to {', '.join(target)} in {member.feed.name} rules; "
                        "group by a field with one reading (e.g. c-ip, cs-host)")
        if target not in ECS_FIELDS and not member.feed.free_fields:
            raise _Skip("field not in these logs", f"{what} field {source!r} is not extracted from {member.feed.name} logs")
        landed.add(target)
    if len(landed) > 1:
        raise _Skip("group-by differs between rules",
                    f"{what} {name!r} lands on different fields ({', '.join(sorted(landed))}) in the referenced rules; "
                    "use aliases that name the same value in every rule")
    return landed.pop() if landed else name


def _missing(refs: list[str], members: list[Prepared | None], everything: list[Parsed]) -> _Skip:
    ref = next(r for r, m in zip(refs, members) if m is None)
    known = next((p for p in everything if scenario_id(p.obj) == ref or p.obj.name == ref), None)
    if known is None:
        return _Skip("referenced rule not found",
                     f"rule {ref!r} is not in the Sigma paths given; add the file that defines it")
    if isinstance(known.obj, SigmaCorrelationRule):
        return _Skip("correlation of correlations",
                     f"rule {ref!r} is itself a correlation; logwarden correlates base rules only")
    return _Skip("referenced rule skipped", f"rule {ref!r} ({known.origin.path}:{known.origin.line}) is not loaded; see its own reason")
