"""Read Sigma files into pySigma's rule objects (rules, correlation rules, filters).

YAML goes through the project's safe, line-aware loader, so every problem can name its file
and line; pySigma then builds its own objects from the plain data. A file that is not valid
Sigma is a problem (the load fails, exit 2); a valid rule using a modifier or regular
expression logwarden cannot run is skipped with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import (
    SigmaError,
    SigmaModifierError,
    SigmaRegularExpressionError,
)
from sigma.filters import SigmaFilter
from sigma.modifiers import SigmaWideModifier, modifier_mapping
from sigma.policy import SigmaPolicy
from sigma.policy.regex_engine import PythonRegexEngine
from sigma.rule import SigmaRule

from detector.checklist.sigma.scenarios import Origin
from detector.checklist.sigma.support import Unsupported
from detector.yamlsafe import LineDict, LineList, YamlProblem, load_yaml_documents, to_plain

# The Sigma specification names `utf16le` as the explicit spelling of `wide`; pySigma 2.0 has
# only `wide`, so the alias is registered in pySigma's own modifier table.
modifier_mapping.setdefault("utf16le", SigmaWideModifier)

# Patterns are only compiled here, to validate the rule (RE2 is checked separately, with a
# reason); Python's `re` keeps RE2's C++ logging off the terminal.
_POLICY = SigmaPolicy(regex_engine=PythonRegexEngine())

SigmaObject = SigmaRule | SigmaCorrelationRule | SigmaFilter

# pySigma error class -> the key of the rule whose line locates it
_ERROR_KEYS = {
    "SigmaIdentifierError": "id", "SigmaTitleError": "title", "SigmaStatusError": "status",
    "SigmaLevelError": "level", "SigmaDateError": "date", "SigmaModifiedError": "modified",
    "SigmaTagError": "tags", "SigmaLogsourceError": "logsource", "SigmaAuthorError": "author",
    "SigmaReferencesError": "references", "SigmaFalsePositivesError": "falsepositives",
    "SigmaRelatedError": "related", "SigmaDescriptionError": "description",
    "SigmaConditionError": "detection", "SigmaDetectionError": "detection",
    "SigmaTimespanError": "correlation", "SigmaCorrelationRuleError": "correlation",
    "SigmaCorrelationConditionError": "correlation", "SigmaCorrelationTypeError": "correlation",
    "SigmaFilterError": "filter", "SigmaFilterConditionError": "filter",
}


@dataclass(frozen=True)
class Parsed:
    origin: Origin
    obj: SigmaObject


@dataclass(frozen=True)
class Rejected:
    """A valid Sigma rule that cannot run as written."""

    origin: Origin
    rule_id: str
    title: str
    why: Unsupported


@dataclass
class FileContent:
    parsed: list[Parsed]
    rejected: list[Rejected]
    problems: list[str]


def sigma_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Rule files under each path (a file, or a folder searched recursively), sorted."""
    files: list[Path] = []
    problems: list[str] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml")))
        else:
            problems.append(f"{path}:0: Sigma rule path not found (a .yml file or a folder of them)")
    return list(dict.fromkeys(p.resolve() for p in files)), problems


def rule_set_of(path: Path) -> str:
    """"SigmaHQ" for a file inside a checkout of the SigmaHQ rule set (it ships its Detection
    Rule License next to the rule folders), else "Sigma"."""
    for parent in path.parents:
        if (parent / "LICENSE.Detection.Rules.md").is_file():
            return "SigmaHQ"
    return "Sigma"


def read_file(path: Path, rule_set: str) -> FileContent:
    content = FileContent([], [], [])
    try:
        documents = load_yaml_documents(path)
    except YamlProblem as exc:
        content.problems.append(str(exc))
        return content
    documents = [d for d in documents if d is not None]
    if any(isinstance(d, LineDict) and "action" in d for d in documents):
        _read_collection(path, rule_set, documents, content)
        return content
    for document in documents:
        if not isinstance(document, LineDict):
            content.problems.append(f"{path}:{getattr(document, 'line', 1)}: a Sigma document must be a mapping")
            continue
        origin = Origin(path, document.line, document, rule_set)
        kind = _kind(document)
        if kind is None:
            content.problems.append(
                f"{path}:{document.line}: not a Sigma rule: a rule needs `detection`, a correlation rule "
                "`correlation`, a filter `filter` (with `logsource`)"
            )
            continue
        _parse(origin, lambda: kind.from_dict(to_plain(document), collect_errors=True, policy=_POLICY), content)
    return content


def _kind(document: LineDict) -> type[SigmaRule] | type[SigmaCorrelationRule] | type[SigmaFilter] | None:
    if "correlation" in document:
        return SigmaCorrelationRule
    if "filter" in document:
        return SigmaFilter
    if "detection" in document:
        return SigmaRule
    return None


def _read_collection(path: Path, rule_set: str, documents: list[Any], content: FileContent) -> None:
    """A Sigma v1 collection (`action: global|reset|repeat`): pySigma merges the documents."""
    first = documents[0] if isinstance(documents[0], LineDict) else LineDict()
    origin = Origin(path, getattr(first, "line", 1), first, rule_set)
    try:
        collection = SigmaCollection.from_dicts(
            [to_plain(d) for d in documents], collect_errors=True, resolve_references=False, collect_filters=True,
            policy=_POLICY,
        )
    except SigmaError as exc:
        content.problems.append(f"{path}:{origin.line}: {exc}")
        return
    for obj in [*collection.rules, *collection.filters]:
        _parse(origin, lambda obj=obj: obj, content)


def _parse(origin: Origin, build: Callable[[], SigmaObject], content: FileContent) -> None:
    try:
        obj = build()
    except SigmaError as exc:
        content.problems.append(_problem(origin, exc))
        return
    errors = list(getattr(obj, "errors", []) or [])
    fatal = [e for e in errors if not isinstance(e, (SigmaModifierError, SigmaRegularExpressionError))]
    if fatal:
        content.problems.extend(_problem(origin, e) for e in fatal)
        return
    if not errors:
        errors = _condition_errors(obj)
        if errors:
            content.problems.extend(_problem(origin, e) for e in errors)
            return
    if errors:
        content.rejected.append(
            Rejected(origin, str(obj.id or origin.data.get("id", "")), str(obj.title or ""), _why(origin, errors[0]))
        )
        return
    content.parsed.append(Parsed(origin, obj))


def _condition_errors(obj: SigmaObject) -> list[SigmaError]:
    """Parse the conditions now (pySigma parses lazily), so a bad one fails at load time."""
    detections = obj.detection if isinstance(obj, SigmaRule) else getattr(obj, "filter", None)
    if detections is None:
        return []
    try:
        for condition in detections.parsed_condition:
            condition.parsed  # noqa: B018 - parsing is the check
    except SigmaError as exc:
        return [exc]
    return []


def _problem(origin: Origin, error: SigmaError) -> str:
    key = _ERROR_KEYS.get(type(error).__name__, "")
    message = str(error).split(" in rule ", 1)[0] if " in rule " in str(error) else str(error)
    return f"{origin.path}:{origin.line_of(key) if key else origin.line}: not valid Sigma: {message}"


def _why(origin: Origin, error: SigmaError) -> Unsupported:
    text = str(error)
    if isinstance(error, SigmaRegularExpressionError):
        return Unsupported("regex invalid", f"line {_key_line(origin, '|re')}: {text}; fix the pattern")
    name = text.split("'")[1] if text.count("'") >= 2 else ""
    line = _key_line(origin, f"|{name}") if name else origin.line_of("detection")
    if text.startswith("Unknown modifier"):
        return Unsupported(
            "unknown modifier",
            f"line {line}: unknown modifier {name!r}: not in the Sigma specification as pySigma knows it; "
            "use contains, startswith, endswith, re, cidr, base64, base64offset, utf16le/utf16be/wide, "
            "windash, expand, fieldref, exists, gt/gte/lt/lte, all, cased",
        )
    return Unsupported("modifier not applicable", f"line {line}: {text}")


def _key_line(origin: Origin, needle: str) -> int:
    """Line of the first detection key containing `needle` (e.g. `|base64`)."""
    detection = origin.data.get("detection")
    for node in _mappings(detection):
        for key in node:
            if needle in str(key):
                return node.line_of(str(key))
    return origin.line_of("detection")


def _mappings(node: Any) -> Iterator[LineDict]:
    if isinstance(node, LineDict):
        yield node
        for value in node.values():
            yield from _mappings(value)
    elif isinstance(node, LineList):
        for value in node:
            yield from _mappings(value)
