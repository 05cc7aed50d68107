"""One CRS rule chain (msc-pyparser items) -> `Condition`s, or the reason it cannot run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from detector.checklist.crs.model import Condition, Variable
from detector.checklist.crs.support import (
    CASELESS_KEYS,
    CHAIN_ONLY,
    COLLECTIONS,
    HEADERS,
    OPERATORS,
    ROW_OPERATORS,
    SCALARS,
    TRANSFORMS,
    UNFED,
    UNSUPPORTED_OPERATORS,
)
from detector.checklist.patterns import re2_problem

_MACRO = re.compile(r"%\{([^}]*)\}")
_NUMERIC = ("eq", "ge", "gt", "le", "lt")
_TARGET_LIST = re.compile(r"(?:[^|/]|/[^/]*/?)+")  # targets split at `|`, not inside a /regex/ key
_TARGET_TEXT = re.compile(r"^(?P<neg>!)?(?P<count>&)?(?P<name>[A-Za-z_]+)(?::(?P<key>.*))?$", re.S)


class ChainProblem(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _variable(name: str, part: str, counter: bool) -> Variable:
    name = name.upper()
    key: str | None = part or None
    regex = bool(key and len(key) > 1 and key.startswith("/") and key.endswith("/"))
    if regex:
        key = key[1:-1]  # type: ignore[index]
        problem = re2_problem(key)
        if problem:
            raise ChainProblem("regex", f"target key /{key}/: {problem}")
    elif key is not None and (name in CASELESS_KEYS or name == "TX"):
        key = key.lower()
    return Variable(name=name, key=key, key_regex=regex, count=counter)


def _unfed_reason(var: Variable, position: int, captures: bool) -> str | None:
    """None when an access log feeds `var`; else why not."""
    if var.name in SCALARS:
        return None
    if var.name in COLLECTIONS:
        if var.name == "REQUEST_HEADERS" and var.key is not None and not var.key_regex and var.key not in HEADERS:
            return f"header {var.key} is not in access logs"
        return None
    if var.name in CHAIN_ONLY:
        return None if position > 0 else "matched values exist only inside a chain"
    if var.name == "TX":
        if var.key is not None and var.key.isdigit() and captures:
            return None
        return "reads a transaction variable set by setup or another rule"
    return UNFED.get(var.name, "not in access logs")


def _targets(item: dict[str, Any], position: int, captures: bool, extra: list[str]) -> tuple[list[Variable], list[Variable], list[str]]:
    """(variables fed, exclusions, texts of the targets that cannot be fed)."""
    raw = [(v["variable"], v["variable_part"], v["negated"], v["counter"]) for v in item["variables"]]
    for text in (part for texts in extra for part in _TARGET_LIST.findall(texts)):  # "!ARGS:a|!ARGS:/^b|c$/"
        match = _TARGET_TEXT.match(text.strip())
        if match:
            raw.append((match["name"], match["key"] or "", bool(match["neg"]), bool(match["count"])))
    fed, exclusions, unfed, reasons = [], [], [], []
    for name, part, negated, counter in raw:
        var = _variable(name, part, counter)
        if negated:
            exclusions.append(var)
            continue
        reason = _unfed_reason(var, position, captures)
        if reason is None:
            fed.append(var)
        else:
            unfed.append(var.text())
            reasons.append(f"{var.text()}: {reason}")
    if not fed:
        kind = "setup" if any(v.startswith(("TX", "&TX")) for v in unfed) else "target"
        raise ChainProblem(kind, "; ".join(dict.fromkeys(reasons)))
    return fed, exclusions, unfed


_CAPTURE_MACRO = re.compile(r"tx\.([0-9])", re.I)


def _expand(argument: str, defaults: dict[str, str], captured: bool) -> tuple[str, tuple[str | int, ...]]:
    """The argument with setup defaults expanded, and its template when it reads a capture
    (`%{TX.0}`..`%{TX.9}`) of an earlier rule of the chain: literal text and group numbers."""
    parts: list[str | int] = []
    position = 0
    for match in _MACRO.finditer(argument):
        name = match.group(1).lower()
        parts.append(argument[position : match.start()])
        position = match.end()
        capture = _CAPTURE_MACRO.fullmatch(name)
        if capture and captured:
            parts.append(int(capture.group(1)))
        elif capture:
            raise ChainProblem(
                "macro",
                f"operator argument uses %{{{match.group(1)}}} but no earlier rule of the chain captures with @rx "
                "(it would read another rule's capture)",
            )
        elif name.startswith("tx.") and name[3:] in defaults:
            parts.append(defaults[name[3:]])
        else:
            raise ChainProblem("macro", f"operator argument uses %{{{match.group(1)}}}, known only while serving the request")
    parts.append(argument[position:])
    if not any(isinstance(p, int) for p in parts):
        return "".join(parts), ()  # type: ignore[arg-type]
    template: list[str | int] = []
    for part in parts:  # adjacent literals joined, empty ones dropped
        if isinstance(part, str) and template and isinstance(template[-1], str):
            template[-1] += part
        elif part != "":
            template.append(part)
    return argument, tuple(template)


def _phrases(operator: str, argument: str, data_dir: Path) -> tuple[str, ...]:
    if operator == "pm":
        return tuple(p for p in argument.split() if p)
    phrases: list[str] = []
    for name in argument.split():
        file = data_dir / name
        if not file.is_file():
            raise ChainProblem("operator", f"phrase file {name} not found beside the rules")
        for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                phrases.append(line)
    return tuple(phrases)


def _transforms(item: dict[str, Any]) -> tuple[str, ...]:
    chain: list[str] = []
    for name in (a["act_arg"] for a in item["actions"] if a["act_name"] == "t"):
        if name == "none":
            chain = []
        elif name not in TRANSFORMS:
            raise ChainProblem("transformation", f"t:{name} is not supported")
        else:
            chain.append({"normalisePath": "normalizePath", "normalisePathWin": "normalizePathWin"}.get(name, name))
    return tuple(chain)


def _operator(item: dict[str, Any], defaults: dict[str, str], data_dir: Path,
              captured: bool) -> tuple[str, str, tuple[str, ...], tuple[str | int, ...]]:  # fmt: skip
    operator = (item.get("operator") or "@rx").lstrip("@")
    if operator not in OPERATORS:
        raise ChainProblem("operator", f"@{operator}: " + UNSUPPORTED_OPERATORS.get(operator, "not supported"))
    operator = {"pmf": "pmFromFile"}.get(operator, operator)
    argument, template = _expand(item.get("operator_argument", ""), defaults, captured)
    if template:
        if operator not in ROW_OPERATORS:
            raise ChainProblem("macro", f"@{operator} {argument[:40]}: a pattern built per request from a capture is not supported")
        return operator, argument, (), template
    if operator == "rx":
        problem = re2_problem(argument)
        if problem:
            raise ChainProblem("regex", f"RE2 rejects the pattern: {problem}")
    if operator in _NUMERIC and not re.fullmatch(r"-?\d+", argument.strip()):
        raise ChainProblem("macro", f"@{operator} needs a number, got {argument[:40]!r}")
    phrases = _phrases(operator, argument, data_dir) if operator in ("pm", "pmFromFile") else ()
    return operator, argument, phrases, ()


def build_conditions(
    chain: list[dict[str, Any]], defaults: dict[str, str], data_dir: Path, extra_targets: list[str]
) -> tuple[tuple[Condition, ...], tuple[str, ...]]:
    """The chain's conditions (all must hold) and the targets of it no access log can feed."""
    conditions: list[Condition] = []
    unfed_all: list[str] = []
    captures = False  # an earlier rule of the chain has the capture action
    captured = False  # ... and sets TX:0..9 here (an @rx: the engine captures pattern groups)
    for position, item in enumerate(chain):
        fed, exclusions, unfed = _targets(item, position, captures, extra_targets if position == 0 else [])
        unfed_all.extend(unfed)
        operator, argument, phrases, template = _operator(item, defaults, data_dir, captured)
        names = {a["act_name"] for a in item["actions"]}
        conditions.append(
            Condition(
                variables=tuple(fed),
                exclusions=tuple(exclusions),
                operator=operator,
                negated=bool(item.get("operator_negated")),
                argument=argument,
                transforms=_transforms(item),
                multi_match="multiMatch" in names,
                capture="capture" in names,
                phrases=phrases,
                line=int(item.get("lineno", 0)),
                template=template,
            )
        )
        captures = captures or "capture" in names
        captured = captured or ("capture" in names and operator == "rx")
    return tuple(conditions), tuple(dict.fromkeys(unfed_all))
