"""Load and validate a checklist directory. Every problem is reported at once, each as
`file:line: what is wrong, what to write instead`; nothing is half-loaded (RuleError)."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from sigma.exceptions import SigmaError
from sigma.rule import SigmaDetections

from detector.checklist.attack import TACTICS, normalize_tactic, tactics_of
from detector.checklist.model import (
    CONDITION_OPS,
    CORRELATION_TYPES,
    PROVENANCE_KINDS,
    STATUSES,
    Checklist,
    Correlation,
    ExpectedFinding,
    FindingClass,
    Provenance,
    Review,
    Rule,
    Sample,
    Scenario,
)
from detector.checklist.patterns import re2_problem
from detector.durations import parse_duration
from detector.errors import RuleError
from detector.model import SEVERITIES
from detector.schema import ECS_FIELDS, LOG_KINDS
from detector.yamlsafe import LineDict, LineList, YamlProblem, load_yaml_file

SUPPORTED_MODIFIERS = frozenset(
    {"contains", "startswith", "endswith", "re", "i", "m", "s", "cidr", "all", "exists",
     "gt", "gte", "lt", "lte", "cased", "base64", "base64offset", "utf16le", "utf16be", "utf16",
     "wide", "windash", "fieldref"}
)
_CHECKLIST_KEYS = {
    "schema", "version", "title", "owner", "review_interval", "reviews", "scenarios",
    "lateness", "evidence_cap", "reopen_after", "sigma", "sigma_placeholders",
}
_SCENARIO_KEYS = {
    "id", "version", "title", "description", "status", "owner", "severity", "confidence",
    "attack", "provenance", "requires", "last_reviewed", "rules", "correlation", "samples",
    "entity", "reopen_after", "custom_fields", "falsepositives", "references", "tags",
    "suppressed_by",
}
_REQUIRED_SCENARIO_KEYS = (
    "id", "version", "title", "status", "owner", "severity", "confidence", "attack",
    "provenance", "requires", "last_reviewed", "rules", "samples",
)
_CORRELATION_KEYS = {"type", "rules", "group-by", "timespan", "condition", "field"}
_CLASS_KEYS = {"tactics", "techniques", "tags", "min_severity", "log_kinds", "exclude"}
_CLASS_HINT = (
    "a correlation step is a rule name, a scenario id, or a class of findings such as "
    "`{findings: {tactics: [credential-access]}, name: credential-attack}` "
    f"(class keys: {', '.join(sorted(_CLASS_KEYS))})"
)
_ATTACK_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
_SCENARIO_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_HASH_EXCLUDED = ("version", "last_reviewed")


def bundled_checklist_dir() -> Path:
    """The checklist shipped inside the wheel (package `logwarden_rules`)."""
    return Path(str(resources.files("logwarden_rules")))


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, source: Path | str, line: int, message: str) -> None:
        self.items.append(f"{source}:{line}: {message}")


def _plain(node: Any) -> Any:
    """LineDict/LineList -> plain JSON-able data (dates as ISO strings) for hashing."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, date):
        return node.isoformat()
    return node


def as_date(value: Any) -> date | None:
    """A YAML date, written bare (`2026-12-07`) or quoted (`'2026-12-07'`, as yaml.safe_dump
    writes it); None for anything else."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def content_hash(data: LineDict) -> str:
    """Hash of a scenario's content; version and review date are not content."""
    plain = {k: v for k, v in _plain(data).items() if k not in _HASH_EXCLUDED}
    blob = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_checklist(
    directory: Path | None = None, sigma: Sequence[Path] = (), *, require_samples: bool = False
) -> Checklist:
    """Load `directory` (default: the bundled checklist) and the Sigma rules it names, plus
    `sigma` paths; raise RuleError listing every problem.

    Sample logs matter only to `rules test` (`require_samples`): a checklist copied out of the
    repository (`cp -r rules /etc/logwarden/`) or installed from a wheel has none next to it,
    which is no reason to refuse to detect."""
    bundled = directory is None
    directory = (directory or bundled_checklist_dir()).resolve()
    problems = _Problems()
    meta_path = directory / "checklist.yaml"
    if not directory.is_dir():
        raise RuleError(f"{directory}:0: checklist directory not found; pass --checklist DIR")
    if not meta_path.is_file():
        raise RuleError(f"{meta_path}:0: missing checklist.yaml (schema, version, owner, review_interval, reviews)")
    try:
        meta = load_yaml_file(meta_path)
    except YamlProblem as exc:
        raise RuleError(str(exc)) from None
    if not isinstance(meta, LineDict):
        raise RuleError(f"{meta_path}:1: checklist.yaml must be a mapping")
    settings = _checklist_settings(meta_path, meta, problems)
    settings["check_sample_files"] = require_samples
    scenario_dir = directory / str(meta.get("scenarios", "scenarios"))
    files = sorted(scenario_dir.glob("*.yaml")) if scenario_dir.is_dir() else []
    if not files:
        problems.add(meta_path, meta.line_of("scenarios"), f"no scenario files (*.yaml) in {scenario_dir}")
    scenarios: list[Scenario] = []
    raw_by_id: dict[str, tuple[Path, LineDict]] = {}
    declared: dict[str, list[tuple[Path, int]]] = {}  # id -> where it is written, valid or not
    for path in files:
        try:
            data = load_yaml_file(path)
        except YamlProblem as exc:
            problems.items.append(str(exc))
            continue
        if not isinstance(data, LineDict):
            problems.add(path, 1, "a scenario file must be a mapping (id, version, title, rules, ...)")
            continue
        if isinstance(data.get("id"), str):
            declared.setdefault(data["id"], []).append((path, data.line_of("id")))
        scenario = _scenario(path, data, directory.parent, settings, problems)
        if scenario is None or scenario.id in raw_by_id:
            continue
        raw_by_id[scenario.id] = (path, data)
        scenarios.append(scenario)
    _check_duplicate_ids(declared, problems)
    scenarios = _resolve_classes(scenarios)
    _check_references(scenarios, raw_by_id, problems)
    sigma_load = None
    if sigma or "sigma" in meta or "sigma_placeholders" in meta:  # pySigma's loader only then
        from detector.checklist.sigma.checklist import checklist_sigma
        from detector.checklist.sigma.scenarios import Defaults

        defaults = Defaults(owner=settings["owner"], reopen_after=settings["reopen_after"])
        sigma_load = checklist_sigma(meta_path, meta, list(sigma), defaults, {s.id for s in scenarios})
        problems.items.extend(sigma_load.problems)
    if problems.items:
        raise RuleError(problems.items)
    if sigma_load is not None and sigma_load.scenarios:  # a class of findings takes in Sigma rules' findings as well
        scenarios = _resolve_classes([*scenarios, *sigma_load.scenarios])
    digest = hashlib.sha256(
        json.dumps(sorted((s.id, s.version, s.content_hash) for s in scenarios)).encode()
    ).hexdigest()[:16]
    return Checklist(
        schema=settings["schema"],
        version=settings["version"],
        owner=settings["owner"],
        review_interval=settings["review_interval"],
        reviews=settings["reviews"],
        scenarios=tuple(scenarios),
        directory=directory,
        lateness=settings["lateness"],
        evidence_cap=settings["evidence_cap"],
        content_hash=digest,
        bundled=bundled,
        extra={"sigma": sigma_load} if sigma_load is not None and sigma_load.outcomes else {},
    )


def _duration(source: Path, node: LineDict, key: str, default: timedelta, problems: _Problems) -> timedelta:
    if key not in node:
        return default
    value = node[key]
    if isinstance(value, int) and not isinstance(value, bool):
        # `timespan: 5` would silently mean 5 seconds where 5 minutes was likely meant (the
        # policy file refuses bare numbers for the same reason): ask for the unit
        problems.add(source, node.line_of(key), f"{key} {value} has no unit; write e.g. {key}: {value}m "
                                                f"(or {value}s, {value}h; units s, m, h, d, w)")
        return default
    try:
        value = parse_duration(node[key])
    except ValueError as exc:
        problems.add(source, node.line_of(key), f"{key}: {exc}")
        return default
    return value


def _checklist_settings(path: Path, meta: LineDict, problems: _Problems) -> dict[str, Any]:
    for key in meta:
        if key not in _CHECKLIST_KEYS:
            problems.add(path, meta.line_of(key), f"unknown key {key!r}; expected one of {', '.join(sorted(_CHECKLIST_KEYS))}")
    if meta.get("schema") != 1:
        problems.add(path, meta.line_of("schema"), "schema must be 1 (write `schema: 1`)")
    version = meta.get("version")
    if not isinstance(version, str) or not _VERSION.match(version):
        problems.add(path, meta.line_of("version"), f"version {version!r} must be a quoted semantic version such as \"2026.11.0\" or \"1.4.0\"")
    owner = meta.get("owner")
    if not isinstance(owner, str) or not owner:
        problems.add(path, meta.line_of("owner"), "owner is required (the team accountable for the checklist)")
    if "review_interval" not in meta:
        problems.add(path, meta.line, "review_interval is required (e.g. `review_interval: 90d`)")
    reviews: list[Review] = []
    node = meta.get("reviews", LineList())
    if not isinstance(node, LineList):
        problems.add(path, meta.line_of("reviews"), "reviews must be a list of {date, by, note}")
        node = LineList()
    for index, item in enumerate(node):
        if not isinstance(item, LineDict) or not isinstance(as_date(item.get("date")), date) or not item.get("by"):
            problems.add(path, node.line_of(index), "each review needs `date: YYYY-MM-DD`, `by: <name>` and `note`")
            continue
        reviews.append(Review(date=as_date(item["date"]), by=str(item["by"]), note=str(item.get("note", ""))))
    evidence_cap = meta.get("evidence_cap", 20)
    if not isinstance(evidence_cap, int) or isinstance(evidence_cap, bool) or not 1 <= evidence_cap <= 1000:
        problems.add(path, meta.line_of("evidence_cap"), "evidence_cap must be an integer between 1 and 1000")
        evidence_cap = 20
    return {
        "schema": 1,
        "version": version if isinstance(version, str) else "0.0.0",
        "owner": owner if isinstance(owner, str) else "",
        "review_interval": _duration(path, meta, "review_interval", timedelta(days=90), problems),
        "reviews": tuple(sorted(reviews, key=lambda r: r.date)),
        "lateness": _duration(path, meta, "lateness", timedelta(minutes=5), problems),
        "reopen_after": _duration(path, meta, "reopen_after", timedelta(hours=1), problems),
        "evidence_cap": evidence_cap,
    }


def _str_list(path: Path, node: LineDict, key: str, problems: _Problems, hint: str) -> list[str]:
    value = node.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(path, node.line_of(key), f"{key} must be a list of strings, e.g. {hint}")
        return []
    return list(value)


def _notes(value: Any) -> tuple[str, ...]:
    """Free-text notes for people (false positives, references). Lenient on purpose: an
    unquoted `A job: ...` is a one-key mapping in YAML, and is shown as the text it was."""
    items = value if isinstance(value, list) else [] if value is None else [value]
    out = []
    for item in items:
        if isinstance(item, dict):
            out.extend(f"{k}: {v}" for k, v in item.items())
        elif item is not None:
            out.append(str(item))
    return tuple(out)


def _scenario(
    path: Path, data: LineDict, root: Path, settings: dict[str, Any], problems: _Problems
) -> Scenario | None:
    before = len(problems.items)
    _check_keys(path, data, problems)
    sid = _scenario_id(path, data, problems)
    version, status, severity, confidence = _grading(path, data, problems)
    attack = _attack(path, data, problems)
    provenance = _provenance(path, data, problems)
    requires = _requires(path, data, problems)
    last_reviewed = as_date(data.get("last_reviewed"))
    if "last_reviewed" in data and not isinstance(last_reviewed, date):
        problems.add(path, data.line_of("last_reviewed"), "last_reviewed must be a date such as 2026-11-01")
        last_reviewed = None
    custom_fields = tuple(_str_list(path, data, "custom_fields", problems, "[new_role]"))
    declared_tags = _str_list(path, data, "tags", problems, "[attack.credential_access]")
    suppressed_by = tuple(_str_list(path, data, "suppressed_by", problems, "[ssh-bruteforce]"))
    falsepositives = _notes(data.get("falsepositives"))
    references = _notes(data.get("references"))
    known_fields = set(ECS_FIELDS) | set(custom_fields)
    rules = _rules(path, data, known_fields, problems)
    correlation = _correlation(path, data, known_fields, problems)
    entity = _entity(path, data, correlation, known_fields, problems)
    # an empty mapping only: a rule dropped for its own problems is already reported
    if isinstance(data.get("rules"), LineDict) and not data["rules"] and correlation is None:
        problems.add(path, data.line_of("rules"), "a scenario needs at least one rule (or a correlation chaining other scenarios)")
    samples = _samples(path, data, root, problems, settings["check_sample_files"])
    reopen_after = _duration(path, data, "reopen_after", settings["reopen_after"], problems)
    if len(problems.items) > before:
        return None
    return Scenario(
        id=sid,
        version=str(version),
        title=str(data.get("title", "")),
        status=str(status),
        owner=str(data.get("owner", "")),
        severity=str(severity),
        confidence=float(confidence),
        attack=tuple(attack),
        provenance=provenance,
        requires=tuple(requires),
        last_reviewed=last_reviewed,
        rules=rules,
        correlation=correlation,
        samples=samples,
        entity=tuple(entity),
        reopen_after=reopen_after,
        custom_fields=custom_fields,
        path=path,
        content_hash=content_hash(data),
        description=str(data.get("description", "")),
        tags=tuple(dict.fromkeys([*declared_tags, *(f"attack.{t.lower()}" for t in attack)])),
        falsepositives=falsepositives,
        references=references,
        suppressed_by=suppressed_by,
    )


def _check_keys(path: Path, data: LineDict, problems: _Problems) -> None:
    for key in data:
        if key not in _SCENARIO_KEYS:
            problems.add(path, data.line_of(key), f"unknown key {key!r}; expected one of {', '.join(sorted(_SCENARIO_KEYS))}")
    for key in _REQUIRED_SCENARIO_KEYS:
        if key not in data:
            problems.add(path, data.line, f"missing required key {key!r}")


def _scenario_id(path: Path, data: LineDict, problems: _Problems) -> str:
    sid = data.get("id")
    if not isinstance(sid, str) or not _SCENARIO_ID.match(sid):
        problems.add(path, data.line_of("id"), f"id {sid!r} must be lower-case letters, digits and dashes (e.g. ssh-bruteforce)")
        return path.stem
    if sid != path.stem:
        problems.add(path, data.line_of("id"), f"id {sid!r} does not match the file name; rename the file to {sid}.yaml")
    return sid


def _grading(path: Path, data: LineDict, problems: _Problems) -> tuple[Any, Any, Any, float]:
    """version, status, severity and confidence prior, each checked against its vocabulary."""
    version = data.get("version")
    if not isinstance(version, str) or not _VERSION.match(version):
        problems.add(path, data.line_of("version"), f"version {version!r} must be a quoted semantic version such as \"1.0.0\"")
    status = data.get("status")
    if status not in STATUSES:
        problems.add(path, data.line_of("status"), f"status {status!r} unknown; use one of {', '.join(STATUSES)}")
    severity = data.get("severity")
    if severity not in SEVERITIES:
        problems.add(path, data.line_of("severity"), f"severity {severity!r} unknown; use one of {', '.join(SEVERITIES)}")
    confidence = data.get("confidence")
    if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) or not 0 < confidence < 1:
        problems.add(path, data.line_of("confidence"), f"confidence {confidence!r} must be a number between 0 and 1 (exclusive), e.g. 0.7")
        confidence = 0.5
    return version, status, severity, confidence


def _attack(path: Path, data: LineDict, problems: _Problems) -> list[str]:
    attack = _str_list(path, data, "attack", problems, "[T1110.001]")
    for technique in attack:
        if not _ATTACK_ID.match(technique):
            problems.add(path, data.line_of("attack"), f"ATT&CK id {technique!r} is not of the form T1234 or T1234.001")
    if "attack" in data and not attack:
        problems.add(path, data.line_of("attack"), "attack needs at least one ATT&CK technique id")
    return attack


def _requires(path: Path, data: LineDict, problems: _Problems) -> list[str]:
    requires = _str_list(path, data, "requires", problems, "[auth]")
    for kind in requires:
        if kind not in LOG_KINDS:
            problems.add(path, data.line_of("requires"), f"log kind {kind!r} unknown; use one of {', '.join(LOG_KINDS)}")
    if "requires" in data and not requires:
        problems.add(path, data.line_of("requires"), "requires needs at least one log kind")
    return requires


def _entity(
    path: Path, data: LineDict, correlation: Correlation | None, known_fields: set[str], problems: _Problems
) -> list[str]:
    """The fields a finding is about: declared, or the correlation's group-by, or the source address."""
    entity_default = list(correlation.group_by) if correlation else ["source.ip"]
    entity = _str_list(path, data, "entity", problems, "[source.ip]") or entity_default
    for name in entity:
        if name not in known_fields:
            problems.add(path, data.line_of("entity"), f"entity field {name!r} is not an ECS field of the event frame nor in custom_fields")
    if correlation and correlation.group_by and not set(correlation.group_by) <= set(entity):
        problems.add(path, data.line_of("entity"), "entity must include every group-by field of the correlation")
    return entity


def _provenance(path: Path, data: LineDict, problems: _Problems) -> tuple[Provenance, ...]:
    node = data.get("provenance")
    if node is None:
        return ()
    if not isinstance(node, LineList) or not node:
        problems.add(path, data.line_of("provenance"), "provenance must be a non-empty list of {kind, ref}")
        return ()
    items = []
    for index, item in enumerate(node):
        if not isinstance(item, LineDict) or item.get("kind") not in PROVENANCE_KINDS or not item.get("ref"):
            problems.add(
                path,
                node.line_of(index),
                f"each provenance entry needs `kind` (one of {', '.join(PROVENANCE_KINDS)}) and `ref`",
            )
            continue
        items.append(Provenance(kind=item["kind"], ref=str(item["ref"])))
    return tuple(items)


def _rules(path: Path, data: LineDict, known_fields: set[str], problems: _Problems) -> tuple[Rule, ...]:
    node = data.get("rules")
    if node is None:
        return ()
    if not isinstance(node, LineDict):
        problems.add(path, data.line_of("rules"), "rules must be a mapping of rule name -> {detection: ...}")
        return ()
    rules = []
    for name, body in node.items():
        line = node.line_of(name)
        if not isinstance(body, LineDict) or not isinstance(body.get("detection"), LineDict):
            problems.add(path, line, f"rule {name!r} needs a `detection:` mapping with selections and a condition")
            continue
        for key in body:
            if key not in ("detection", "description"):
                problems.add(path, body.line_of(key), f"unknown key {key!r} in rule {name!r}; expected detection, description")
        rule = _rule(path, str(name), body["detection"], known_fields, problems)
        if rule is not None:
            rules.append(rule)
    return tuple(rules)


def _rule(path: Path, name: str, detection: LineDict, known_fields: set[str], problems: _Problems) -> Rule | None:
    before = len(problems.items)
    if "condition" not in detection:
        problems.add(path, detection.line, f"rule {name!r}: detection needs a `condition:` (e.g. `condition: selection`)")
    fields: set[str] = set()
    for sel_name, selection in detection.items():
        if sel_name == "condition":
            continue
        items = selection if isinstance(selection, LineList) else [selection]
        for item in items:
            if isinstance(item, LineDict):
                for key, value in item.items():
                    _check_item(path, name, item.line_of(key), str(key), value, known_fields, problems)
                    fields.add(str(key).split("|", 1)[0])
            elif not isinstance(item, (str, int, float)):
                problems.add(path, detection.line_of(sel_name), f"rule {name!r}: selection {sel_name!r} must map fields to values or list keywords")
    if len(problems.items) > before:
        return None
    try:
        parsed = SigmaDetections.from_dict(_plain(detection))
        for condition in parsed.parsed_condition:
            condition.parsed  # noqa: B018 - parse now, so bad conditions fail at load time
    except SigmaError as exc:
        problems.add(path, detection.line_of("condition"), f"rule {name!r}: {exc}; see the Sigma condition syntax (and, or, not, 1 of sel*, all of them)")
        return None
    except Exception as exc:  # pySigma raises plain exceptions for some malformed input
        problems.add(path, detection.line_of("condition"), f"rule {name!r}: cannot parse the detection ({exc})")
        return None
    return Rule(name=name, detection=parsed, fields=frozenset(fields), line=detection.line)


def _check_item(
    path: Path, rule: str, line: int, key: str, value: Any, known_fields: set[str], problems: _Problems
) -> None:
    field, *modifiers = key.split("|")
    if field not in known_fields:
        close = difflib.get_close_matches(field, sorted(known_fields), n=1, cutoff=0.75)
        if not close:  # e.g. `ip` for source.ip: only a unique last component is a useful hint
            same_last = [f for f in sorted(known_fields) if f.split(".")[-1] == field.split(".")[-1]]
            close = same_last if len(same_last) == 1 else []
        hint = f" (did you mean {close[0]}?)" if close else "; declare application keys in custom_fields"
        problems.add(path, line, f"rule {rule!r}: unknown field {field!r}{hint}")
    for modifier in modifiers:
        if modifier not in SUPPORTED_MODIFIERS:
            problems.add(
                path,
                line,
                f"rule {rule!r}: unknown modifier {modifier!r}; use one of {', '.join(sorted(SUPPORTED_MODIFIERS))}",
            )
    if "fieldref" in modifiers:
        for other in value if isinstance(value, list) else [value]:
            if other not in known_fields:
                problems.add(path, line, f"rule {rule!r}: fieldref names {other!r}, which is not a field of the event frame")
    if "re" in modifiers:
        for pattern in value if isinstance(value, list) else [value]:
            if not isinstance(pattern, str):
                problems.add(path, line, f"rule {rule!r}: a regular expression must be a string")
                continue
            complaint = re2_problem(pattern)
            if complaint:
                problems.add(
                    path,
                    line,
                    f"rule {rule!r}: regular expression {pattern!r} is not valid RE2 ({complaint}); "
                    "RE2 has no lookarounds or backreferences",
                )


def _correlation(path: Path, data: LineDict, known_fields: set[str], problems: _Problems) -> Correlation | None:
    node = data.get("correlation")
    if node is None:
        return None
    if not isinstance(node, LineDict):
        problems.add(path, data.line_of("correlation"), "correlation must be a mapping (type, rules, group-by, timespan, condition)")
        return None
    before = len(problems.items)
    for key in node:
        if key not in _CORRELATION_KEYS:
            problems.add(path, node.line_of(key), f"unknown key {key!r} in correlation; expected one of {', '.join(sorted(_CORRELATION_KEYS))}")
    ctype = node.get("type")
    if ctype not in CORRELATION_TYPES:
        problems.add(path, node.line_of("type"), f"correlation type {ctype!r} unknown; use one of {', '.join(CORRELATION_TYPES)}")
    rules, classes = _steps(path, node, problems)
    if not rules:
        problems.add(path, node.line_of("rules"), "correlation needs `rules:` naming the rules it counts")
    if ctype in ("temporal", "temporal_ordered") and len(rules) < 2:
        problems.add(path, node.line_of("rules"), f"a {ctype} correlation needs at least two rules")
    repeated = sorted({r for r in rules if rules.count(r) > 1})
    if repeated:
        problems.add(path, node.line_of("rules"), f"rule(s) {', '.join(repeated)} listed twice in correlation rules; name each rule once")
    group_by = _str_list(path, node, "group-by", problems, "[source.ip]")
    for name in group_by:
        if name not in known_fields:
            problems.add(path, node.line_of("group-by"), f"group-by field {name!r} is not an ECS field of the event frame")
    if "timespan" not in node:
        problems.add(path, node.line, "correlation needs a timespan (e.g. `timespan: 10m`)")
    timespan = _duration(path, node, "timespan", timedelta(minutes=10), problems)
    op, value = "gte", 1
    condition = node.get("condition")
    if ctype in ("event_count", "value_count"):
        if not isinstance(condition, LineDict) or len(condition) != 1 or not set(condition) <= set(CONDITION_OPS):
            problems.add(
                path,
                node.line_of("condition"),
                "condition must be one threshold such as `{gte: 6}` or `{gt: 5}` "
                "(a finding fires when the count reaches it)",
            )
        else:
            op, value = next(iter(condition.items()))
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.add(path, condition.line_of(op), "the condition value must be a positive integer")
                value = 1
    elif condition is not None:
        problems.add(path, node.line_of("condition"), f"a {ctype} correlation takes no condition (all rules must match in order/within the timespan)")
    value_field = node.get("field")
    if ctype == "value_count":
        if not isinstance(value_field, str) or value_field not in known_fields:
            problems.add(path, node.line_of("field") if "field" in node else node.line, "value_count needs `field:` naming the ECS field whose distinct values are counted")
    elif value_field is not None:
        problems.add(path, node.line_of("field"), "`field` is only used by value_count correlations")
    if len(problems.items) > before:
        return None
    return Correlation(
        type=str(ctype),
        rules=tuple(rules),
        group_by=tuple(group_by),
        timespan=timespan,
        condition_op=op,
        condition_value=int(value),
        value_field=value_field if ctype == "value_count" else None,
        classes=tuple(classes) if any(classes) else (),
    )


def _samples(path: Path, data: LineDict, root: Path, problems: _Problems, check_files: bool) -> tuple[Sample, ...]:
    node = data.get("samples")
    if node is None:
        return ()
    if not isinstance(node, LineList):
        problems.add(path, data.line_of("samples"), "samples must be a list of {log, expect}")
        return ()
    samples = []
    for index, item in enumerate(node):
        line = node.line_of(index)
        if not isinstance(item, LineDict) or not isinstance(item.get("log"), str) or not isinstance(item.get("expect"), list):
            problems.add(path, line, "each sample needs `log: sample_logs/...` and `expect: [...]` (an empty list for a negative sample)")
            continue
        if check_files and not (root / item["log"]).exists():
            problems.add(path, item.line_of("log"), f"sample log {item['log']!r} not found (a file or directory, relative to {root}); "
                         "`rules test` needs the samples next to the checklist")
        expected = []
        for position, entry in enumerate(item["expect"]):
            if not isinstance(entry, LineDict) or not isinstance(entry.get("entity"), dict):
                problems.add(path, item["expect"].line_of(position), "each expected finding needs `entity: {field: value}`")
                continue
            min_count = entry.get("min_count")
            expected.append(
                ExpectedFinding(entity={str(k): str(v) for k, v in entry["entity"].items()}, min_count=min_count)
            )
        samples.append(Sample(log=item["log"], expect=tuple(expected), line=line))
    if not any(s.positive for s in samples):
        problems.add(path, data.line_of("samples"), "no positive sample: add one whose `expect` lists the finding it must raise")
    if not any(not s.positive for s in samples):
        problems.add(path, data.line_of("samples"), "no negative sample: add one with `expect: []` (benign traffic that must stay quiet)")
    return tuple(samples)


def _check_duplicate_ids(declared: dict[str, list[tuple[Path, int]]], problems: _Problems) -> None:
    """Every file but one declaring the same id is reported. Checked on the raw ids: a copy of
    a scenario file also fails the id-matches-file-name check, which must not hide this one."""
    for sid, places in declared.items():
        if len(places) < 2:
            continue
        places = sorted(places, key=lambda place: place[0].stem != sid)  # <id>.yaml owns the id
        owner = places[0][0]
        for path, line in places[1:]:
            problems.add(path, line, f"duplicate scenario id {sid!r} (also in {owner}); ids must be unique")


def _check_references(
    scenarios: list[Scenario], raw: dict[str, tuple[Path, LineDict]], problems: _Problems
) -> None:
    """Correlation rules must name a rule of the scenario or another scenario (chaining),
    without cycles, and a chained scenario must carry the group-by fields in its entity."""
    by_id = {s.id: s for s in scenarios}
    for scenario in scenarios:
        if scenario.correlation is None:
            continue
        path, data = raw[scenario.id]
        line = data["correlation"].line_of("rules")
        rule_names = {r.name for r in scenario.rules}
        classes = scenario.correlation.classes or (None,) * len(scenario.correlation.rules)
        for ref, finding_class in zip(scenario.correlation.rules, classes):
            if ref in rule_names or finding_class is not None:
                continue
            other = by_id.get(ref)
            if other is None:
                problems.add(
                    path,
                    line,
                    f"correlation refers to {ref!r}, which is neither a rule of this scenario "
                    f"({', '.join(sorted(rule_names)) or 'none'}) nor a scenario id",
                )
            # a chained scenario lacking a group-by field in its entity passes on the value of
            # its lines (an entity link: the address that logged in links the user it logged in as)
        if scenario.rules and not any(r in rule_names for r in scenario.correlation.rules) and not scenario.referenced_scenarios():
            problems.add(path, line, "the correlation uses none of the scenario's rules")
    for scenario in scenarios:
        if scenario.suppressed_by:
            _check_suppressors(scenario, by_id, raw, problems)
    # cycles among chained scenarios
    state: dict[str, int] = {}

    def visit(sid: str, trail: list[str]) -> None:
        if state.get(sid) == 2:
            return
        if state.get(sid) == 1:
            path, data = raw[sid]
            problems.add(path, data.line_of("correlation"), f"chained correlations form a cycle: {' -> '.join(trail + [sid])}")
            return
        state[sid] = 1
        for ref in by_id[sid].referenced_scenarios():
            if ref in by_id:
                visit(ref, trail + [sid])
        state[sid] = 2

    for scenario in scenarios:
        visit(scenario.id, [])
    unused = [
        (s, r) for s in scenarios for r in s.rules
        if s.correlation is not None and r.name not in s.correlation.rules
    ]
    for scenario, rule in unused:
        path, _ = raw[scenario.id]
        problems.add(path, rule.line, f"rule {rule.name!r} is not used by the correlation; remove it or add it to correlation.rules")


def _check_suppressors(
    scenario: Scenario, by_id: dict[str, Scenario], raw: dict[str, tuple[Path, LineDict]], problems: _Problems
) -> None:
    """`suppressed_by` names other scenarios with the same entity fields, none of which is in
    turn suppressed by this one."""
    path, data = raw[scenario.id]
    line = data.line_of("suppressed_by")
    for ref in scenario.suppressed_by:
        other = by_id.get(ref)
        if other is None or ref == scenario.id:
            problems.add(path, line, f"suppressed_by names {ref!r}, which is not another scenario id of the checklist")
        elif other.entity != scenario.entity:
            problems.add(
                path, line,
                f"suppressed_by: {ref!r} names findings by {', '.join(other.entity)}, this scenario by "
                f"{', '.join(scenario.entity)}; a suppressing scenario must have the same entity fields",
            )
        elif scenario.id in other.suppressed_by:
            problems.add(path, line, f"{scenario.id!r} and {ref!r} suppress each other; keep one direction")


def _steps(path: Path, node: LineDict, problems: _Problems) -> tuple[list[str], list[FindingClass | None]]:
    """Correlation steps: names (rules, scenario ids) or classes of findings, with their names."""
    raw = node.get("rules")
    if raw is None:
        return [], []
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        problems.add(path, node.line_of("rules"), _CLASS_HINT)
        return [], []
    names: list[str] = []
    classes: list[FindingClass | None] = []
    for index, item in enumerate(items):
        line = items.line_of(index) if isinstance(items, LineList) else node.line_of("rules")
        if isinstance(item, str):
            names.append(item)
            classes.append(None)
        elif isinstance(item, LineDict) and isinstance(item.get("findings"), LineDict) and set(item) <= {"findings", "name"}:
            finding_class = _finding_class(path, item["findings"], problems)
            names.append(str(item.get("name") or finding_class.label()))
            classes.append(finding_class)
        else:
            problems.add(path, line, _CLASS_HINT)
    return names, classes


def _finding_class(path: Path, node: LineDict, problems: _Problems) -> FindingClass:
    for key in node:
        if key not in _CLASS_KEYS:
            problems.add(path, node.line_of(key), f"unknown key {key!r} in a class of findings; {_CLASS_HINT}")
    lists = {key: tuple(_str_list(path, node, key, problems, "[...]")) for key in ("tactics", "techniques", "tags", "log_kinds", "exclude")}
    tactics = tuple(normalize_tactic(t) for t in lists["tactics"])
    for tactic in tactics:
        if tactic not in TACTICS:
            problems.add(path, node.line_of("tactics"), f"ATT&CK tactic {tactic!r} unknown; use one of {', '.join(TACTICS)}")
    for technique in lists["techniques"]:
        if not _ATTACK_ID.match(technique):
            problems.add(path, node.line_of("techniques"), f"ATT&CK id {technique!r} is not of the form T1234 or T1234.001")
    for kind in lists["log_kinds"]:
        if kind not in LOG_KINDS:
            problems.add(path, node.line_of("log_kinds"), f"log kind {kind!r} unknown; use one of {', '.join(LOG_KINDS)}")
    severity = node.get("min_severity")
    if severity is not None and severity not in SEVERITIES:
        problems.add(path, node.line_of("min_severity"), f"min_severity {severity!r} unknown; use one of {', '.join(SEVERITIES)}")
        severity = None
    found = FindingClass(tactics, lists["techniques"], lists["tags"], severity, lists["log_kinds"], lists["exclude"])
    if found == FindingClass(exclude=found.exclude):
        problems.add(path, node.line, f"a class of findings needs at least one condition; {_CLASS_HINT}")
    return found


def class_matches(finding_class: FindingClass, scenario: Scenario) -> bool:
    """Whether `scenario`'s findings belong to the class (every given condition holds)."""
    if scenario.status == "deprecated" or scenario.id in finding_class.exclude:
        return False
    if finding_class.tactics and not set(finding_class.tactics) & tactics_of(scenario.attack, scenario.tags):
        return False
    if finding_class.techniques and not any(
        a == t or a.startswith(t + ".") for a in scenario.attack for t in finding_class.techniques
    ):
        return False
    if finding_class.tags and not set(finding_class.tags) & set(scenario.tags):
        return False
    if finding_class.min_severity and SEVERITIES.index(scenario.severity) < SEVERITIES.index(finding_class.min_severity):
        return False
    return not finding_class.log_kinds or bool(set(finding_class.log_kinds) & set(scenario.requires))


def _resolve_classes(scenarios: list[Scenario]) -> list[Scenario]:
    """Fill each class step with the ids of the scenarios in it. A scenario joins a class only if
    that makes no cycle (never the chain itself, nor a chain built on it); scenarios are taken in
    id order, so the result does not depend on file order."""
    by_id = {s.id: s for s in scenarios}
    edges: dict[str, set[str]] = {s.id: set(s.referenced_scenarios()) & set(by_id) for s in scenarios}

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(edges.get(node, ()))
        return False

    resolved = dict(by_id)
    for sid in sorted(by_id):
        scenario = by_id[sid]
        corr = scenario.correlation
        if corr is None or not corr.classes:
            continue
        members: list[tuple[str, ...]] = []
        for name, finding_class in zip(corr.rules, corr.classes):
            if finding_class is None:
                members.append((name,))
                continue
            chosen = []
            for other in sorted(by_id):
                if other != sid and class_matches(finding_class, by_id[other]) and not reaches(other, sid):
                    chosen.append(other)
                    edges[sid].add(other)
            members.append(tuple(chosen))
        resolved[sid] = replace(scenario, correlation=replace(corr, members=tuple(members)))
    return [resolved[s.id] for s in scenarios]
