"""The event catalog as values: services, their message templates, compiled to RE2 at load time.

A template is written the way the service documents its message, with placeholders where the
variable parts sit (`%{ip}`, `%{port}`, `%{user}`, `%{word:user.target.name}`, ...). Each
placeholder becomes a named RE2 group bound to an ECS field, so the address comes from the
template's own position in the message, never from text further on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from detector.errors import ProblemsError
from detector.schema import ECS_FIELDS, LOG_KINDS, OUTCOMES
from detector.yamlsafe import LineDict, LineList, YamlProblem, load_yaml_file

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = _OCTET + r"(?:\." + _OCTET + r"){3}"
IPV6 = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%[0-9A-Za-z]+)?"
IP = r"(?:::ffff:" + IPV4 + "|" + IPV4 + "|" + IPV6 + ")"
#: What an address placeholder matches inside a template: the characters of an address. The
#: full address grammar above is checked afterwards on the captured text (a DFA pass): inside a
#: long template its alternatives would push RE2's capture engine from BitState to the NFA,
#: ten times slower on 200-byte firewall lines.
LOOSE_IP = r"[0-9A-Fa-f:.]*[0-9A-Fa-f](?:%[0-9A-Za-z]+)?"
STRICT_IP = "^" + IP + "$"

#: Placeholder type -> (RE2 text, the field it fills when the template names none).
PLACEHOLDERS: dict[str, tuple[str, str | None]] = {
    "ip": (LOOSE_IP, "source.ip"),
    "port": (r"[0-9]{1,5}", "source.port"),
    "user": (r".*?", "user.name"),
    "int": (r"[0-9]+", None),
    "word": (r"[^ ]+", None),
    "host": (r"[^ ]+", None),
    "data": (r".*?", None),
    "rest": (r".*", None),
    "token": (r"[^ ]*", None),  # possibly empty
    "ident": (r"[^ ()\[\]<>:;,'\"]+", None),  # a name inside punctuation: `root(uid=0)`, `<bob>`
    "csv": (r"[^,]*", None),  # one field of a comma-separated record
}
_PLACEHOLDER = re.compile(r"%\{([a-z0-9]+)(?::([A-Za-z0-9_.@+-]+))?\}")
#: Keys a template may carry besides its ECS constants (`set`).
TEMPLATE_KEYS = {"match", "action", "outcome", "category", "kind", "set", "where", "sample", "expect", "note"}
SERVICE_KEYS = {"service", "description", "programs", "formats", "kind", "category", "documentation", "templates"}
CATEGORIES = ("authentication", "network", "web", "iam", "process", "configuration", "intrusion_detection")
_REGEX_META = set("\\.[]()*+?{}|^$")


class CatalogError(ProblemsError):
    """A catalog file that cannot be used: says file, line and what to fix (exit code 2)."""


@dataclass(frozen=True)
class Template:
    """One message shape of a service and what it means."""

    service: str
    action: str
    outcome: str
    category: str | None
    kind: str | None
    pattern: str  # RE2, anchored at the start of the message
    groups: tuple[tuple[str, str], ...]  # (RE2 group name, ECS field); a group may fill several
    constants: tuple[tuple[str, str], ...]
    conditions: tuple[tuple[str, str], ...]  # (ECS field, RE2 the captured value must match)
    addresses: tuple[str, ...]  # fields filled by %{ip}: checked against STRICT_IP
    prefixes: tuple[str, ...]  # literal texts one of which every match starts with (() when unknown)
    sample: str
    expect: tuple[tuple[str, Any], ...]
    where: str  # file:line, for messages


@dataclass(frozen=True)
class Service:
    """A program (or log format) and the templates its messages are read with, in order."""

    name: str
    programs: tuple[str, ...]  # process names; "*" for every program (PAM modules log in any)
    formats: tuple[str, ...]  # log formats whose lines are this service's (web error logs)
    kind: str | None  # log.kind of every line of the service
    templates: tuple[Template, ...] = field(default=())

    @property
    def any_program(self) -> bool:
        return "*" in self.programs

    @property
    def fields(self) -> frozenset[str]:
        """Every ECS field a template of this service can set."""
        names = {"event.action", "event.outcome"}
        for template in self.templates:
            names.update(target for _, target in template.groups)
            names.update(target for target, _ in template.constants)
            if template.category:
                names.add("event.category")
        return frozenset(names)


def literal_prefix(pattern: str) -> str:
    """The literal text a regex must start with (`Failed ` of `Failed (?:password|...)`)."""
    return literal_run(pattern)[0]


def literal_run(pattern: str, quantifiers: tuple[str, ...] = ("?", "*", "{")) -> tuple[str, int]:
    """(the literal text a regex starts with, how many pattern characters spell it). A character
    one of `quantifiers` follows is not part of it (it may occur other than once)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            char, step = pattern[i + 1], 2
        elif char in _REGEX_META:
            break
        else:
            step = 1
        following = pattern[i + step : i + step + 1]
        if following in quantifiers:
            break
        out.append(char)
        i += step
    return "".join(out), i


def _top_level_alternatives(group: str) -> list[str] | None:
    """The patterns a leading `(?:a|b|c)` group expands to (`ax`, `bx`, `cx`, plus `x` when the
    group is optional), or None when the pattern has no such group or it repeats."""
    if not group.startswith("(?:"):
        return None
    depth, start, parts = 0, 3, []
    i = 3
    while i < len(group):
        char = group[i]
        if char == "\\":
            i += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                following = group[i + 1 : i + 2]
                parts.append(group[start:i])
                if following == "?":  # an optional group: the text after it may come first
                    return [part + group[i + 2 :] for part in parts] + [group[i + 2 :]]
                if following in ("*", "{", "+"):
                    return None
                return [part + group[i + 1 :] for part in parts]
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(group[start:i])
            start = i + 1
        i += 1
    return None


def literal_prefixes(pattern: str, depth: int = 0) -> tuple[str, ...]:
    """Literal texts one of which every match must start with: the literal prefix, or one per
    alternative of a leading `(?:a|b)` group; () when some match could start with anything.

    A pattern that starts with a literal has it extended by the literal start of each
    alternative of a `(?:a|b)` group right after it (`Accepted password for `, `Accepted
    keyboard-interactive` rather than `Accepted `): the evaluator screens on 16 bytes."""
    single, used = literal_run(pattern)
    if single:
        following = _group_alternatives(pattern[used:]) if depth == 0 else None
        if not following or not all(literal_run(alternative)[0] for alternative in following):
            return (single,)
        return tuple(dict.fromkeys(single + literal_run(alternative)[0] for alternative in following))
    alternatives = _top_level_alternatives(pattern)
    if not alternatives or depth > 3:
        return ()
    found: list[str] = []
    for alternative in alternatives:
        prefixes = literal_prefixes(alternative, depth + 1)
        if not prefixes:
            return ()
        found.extend(prefixes)
    return tuple(dict.fromkeys(found))


def class_end(pattern: str, start: int) -> int:
    """Index of the `]` closing the character class opening at `start` (a `]` right after `[`
    or `[^` is a member; escapes are read), or the pattern's length."""
    i = start + (2 if pattern.startswith("[^", start) else 1)
    i += 1 if pattern[i : i + 1] == "]" else 0
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i


def group_scan(pattern: str, opening: int) -> tuple[list[int], int | None]:
    """Of the group whose `(` is at `opening`: where its top-level `|` are, and the index of the
    `)` closing it (None: unclosed). Escapes and character classes are read, nested groups
    skipped."""
    bars: list[int] = []
    depth, i = 0, opening + 1
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = class_end(pattern, i)
        elif char == "(":
            depth += 1
        elif char == "|" and depth == 0:
            bars.append(i)
        elif char == ")":
            if depth == 0:
                return bars, i
            depth -= 1
        i += 1
    return bars, None


def _group_alternatives(pattern: str) -> list[str] | None:
    """The patterns a leading `(?:a|b)` group expands to (`a` + rest, `b` + rest, and rest when
    the group is optional), reading escapes and character classes; None when the pattern has
    no such group or it repeats."""
    if not pattern.startswith("(?:"):
        return None
    bars, close = group_scan(pattern, 0)
    if close is None:
        return None
    parts = [pattern[lo:hi] for lo, hi in zip([3, *(bar + 1 for bar in bars)], [*bars, close])]
    following = pattern[close + 1 : close + 2]
    if following in ("*", "+", "{"):
        return None
    if following == "?":
        rest = pattern[close + 2 :]
        return [part + rest for part in parts] + [rest] if not rest.startswith("?") else None
    return [part + pattern[close + 1 :] for part in parts]


def compile_template(text: str, where: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """RE2 pattern and (group, field) bindings for a template's `match` text."""
    pattern, groups, _ = _compile(text, where)
    return pattern, groups


def _compile(text: str, where: str) -> tuple[str, tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(RE2 pattern, (group, field) bindings, fields filled by address placeholders)."""
    groups: list[tuple[str, str]] = []
    addresses: list[str] = []

    def replace(found: re.Match[str]) -> str:
        kind, target = found.group(1), found.group(2)
        if kind not in PLACEHOLDERS:
            raise CatalogError(f"{where}: unknown placeholder %{{{kind}}}; use one of {', '.join(PLACEHOLDERS)}")
        body, default = PLACEHOLDERS[kind]
        target = target or default
        if target is None:
            return "(?:" + body + ")"
        name = f"g{len({group for group, _ in groups})}"
        for field_name in target.split("+"):
            if field_name not in ECS_FIELDS:
                raise CatalogError(f"{where}: %{{{kind}:{field_name}}} names no ECS field of detector/schema.py")
            groups.append((name, field_name))
            if kind == "ip" and field_name not in addresses:
                addresses.append(field_name)
        return f"(?P<{name}>{body})"

    pattern = "^" + _PLACEHOLDER.sub(replace, text)
    try:
        pc.match_substring_regex(pa.array([""]), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise CatalogError(f"{where}: RE2 cannot compile the template: {exc}") from None
    return pattern, tuple(groups), tuple(addresses)


def _template(node: LineDict, service: LineDict, path: Path) -> Template:
    where = f"{path}:{node.line}"
    unknown = set(node) - TEMPLATE_KEYS
    if unknown:
        raise CatalogError(f"{where}: unknown template key(s) {', '.join(sorted(unknown))}")
    for key in ("match", "action", "outcome", "sample"):
        if not isinstance(node.get(key), str) or not node[key]:
            raise CatalogError(f"{path}:{node.line_of(key)}: every template needs a text `{key}`")
    if node["outcome"] not in OUTCOMES:
        raise CatalogError(f"{path}:{node.line_of('outcome')}: outcome must be one of {', '.join(OUTCOMES)}")
    kind = node.get("kind", None)
    category = node.get("category", service.get("category"))
    if kind is not None and kind not in LOG_KINDS:
        raise CatalogError(f"{path}:{node.line_of('kind')}: kind must be one of {', '.join(LOG_KINDS)}")
    if category is not None and category not in CATEGORIES:
        raise CatalogError(f"{path}:{node.line_of('category')}: category must be one of {', '.join(CATEGORIES)}")
    constants = node.get("set") or {}
    expect = node.get("expect") or {}
    conditions = node.get("where") or {}
    for name, condition in conditions.items():
        try:
            pc.match_substring_regex(pa.array([""]), str(condition))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise CatalogError(f"{path}:{node.line_of('where')}: RE2 cannot compile {condition!r}: {exc}") from None
    captured = {target for _, target in compile_template(node["match"], where)[1]}
    if set(conditions) - captured:
        raise CatalogError(f"{path}:{node.line_of('where')}: `where` may only test fields the template captures")
    for name in [*constants, *expect, *conditions]:
        if name not in ECS_FIELDS:
            raise CatalogError(f"{path}:{node.line}: {name!r} is no ECS field of detector/schema.py")
    pattern, groups, addresses = _compile(node["match"], where)
    return Template(
        service=str(service["service"]),
        action=node["action"],
        outcome=node["outcome"],
        category=category,
        kind=kind,
        pattern=pattern,
        groups=groups,
        constants=tuple((k, str(v)) for k, v in constants.items()),
        conditions=tuple((k, str(v)) for k, v in conditions.items()),
        addresses=addresses,
        prefixes=literal_prefixes(pattern[1:]),
        sample=node["sample"],
        expect=tuple(expect.items()),
        where=where,
    )


def load_service(path: Path) -> Service:
    """One catalog file; raises CatalogError naming file and line."""
    try:
        data = load_yaml_file(path)
    except YamlProblem as exc:
        raise CatalogError(str(exc)) from None
    if not isinstance(data, LineDict) or not isinstance(data.get("service"), str):
        raise CatalogError(f"{path}:1: a catalog file is a mapping with a `service` name")
    unknown = set(data) - SERVICE_KEYS
    if unknown:
        raise CatalogError(f"{path}:{data.line}: unknown key(s) {', '.join(sorted(unknown))}")
    programs = data.get("programs") or []
    formats = data.get("formats") or []
    templates = data.get("templates")
    if not isinstance(templates, LineList) or not programs and not formats:
        raise CatalogError(f"{path}:{data.line}: a service needs `programs` or `formats`, and `templates`")
    kind = data.get("kind")
    if kind is not None and kind not in LOG_KINDS:
        raise CatalogError(f"{path}:{data.line_of('kind')}: kind must be one of {', '.join(LOG_KINDS)}")
    return Service(
        name=data["service"],
        programs=tuple(str(p) for p in programs),
        formats=tuple(str(f) for f in formats),
        kind=kind,
        templates=tuple(_template(node, data, path) for node in templates),
    )
