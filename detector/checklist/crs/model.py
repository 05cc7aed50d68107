"""CRS rules as typed, frozen values: what the loader keeps and what the detection stage runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from detector.config import CrsSettings

#: CRS severity -> the anomaly score it adds (crs-setup.conf defaults: tx.*_anomaly_score).
SEVERITY_SCORES = {"CRITICAL": 5, "ERROR": 4, "WARNING": 3, "NOTICE": 2}


@dataclass(frozen=True)
class Variable:
    """One SecRule target: `ARGS`, `ARGS:id`, `REQUEST_HEADERS:User-Agent`, `&ARGS`, `ARGS:/^utm_/`."""

    name: str  # collection, upper case
    key: str | None = None  # selector (lower case for case-insensitive collections); regex text when key_regex
    key_regex: bool = False
    count: bool = False

    def text(self) -> str:
        key = "" if self.key is None else f":/{self.key}/" if self.key_regex else f":{self.key}"
        return ("&" if self.count else "") + self.name + key


@dataclass(frozen=True)
class Condition:
    """One SecRule of a chain: targets, operator, transformations."""

    variables: tuple[Variable, ...]
    exclusions: tuple[Variable, ...]  # `!ARGS:password`: values of these keys are not inspected
    operator: str  # rx, pm, contains, beginsWith, endsWith, streq, within, eq, gt, ge, lt, le, ...
    negated: bool
    argument: str  # macros expanded (setup defaults); TX:0..9 macros kept as written, see `template`
    transforms: tuple[str, ...]  # after the last t:none
    multi_match: bool = False
    capture: bool = False  # keeps TX:0 (whole match) and TX:1.. (groups) for later rules of the chain
    phrases: tuple[str, ...] = ()  # @pm / @pmFromFile
    line: int = 0
    #: the argument when it expands a capture of an earlier rule of the chain (`%{TX.2}`):
    #: literal text and capture group numbers in order, expanded per request; () when it does not
    template: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class CrsRule:
    """A request rule that runs: its chain of conditions and what a match adds to the score."""

    id: int
    file: str
    line: int
    msg: str
    severity: str
    score: int
    paranoia: int
    tags: tuple[str, ...]
    conditions: tuple[Condition, ...]
    unfed: tuple[str, ...] = ()  # targets of the rule an access log cannot feed (ignored)

    @property
    def category(self) -> str:
        """`sqli`, `xss`, `rce`, ... from the `attack-*` tag (`protocol` when there is none)."""
        for tag in self.tags:
            if tag.startswith("attack-"):
                return tag[len("attack-"):]
        return "protocol"


@dataclass(frozen=True)
class Skipped:
    """A CRS rule that does not run, with why (`reason` is the short key counted per reason)."""

    id: int | None
    file: str
    line: int
    reason: str
    detail: str
    request: bool  # a request-phase rule (REQUEST-*.conf); response rules are out of reach anyway


@dataclass(frozen=True)
class CrsRuleSet:
    """The CRS loaded from a path, before paranoia and exclusions are applied."""

    path: Path
    version: str
    rules: tuple[CrsRule, ...]
    skipped: tuple[Skipped, ...]
    digest: str  # hash of the rule files' content
    files: tuple[str, ...] = field(default=())

    def select(self, settings: CrsSettings) -> tuple[CrsRule, ...]:
        """The rules that run at the settings' paranoia level, less the exclusions."""
        return tuple(
            r for r in self.rules if r.paranoia <= settings.paranoia and not excluded(r, settings.exclusions)
        )

    def reasons(self, request_only: bool = True) -> Counter[str]:
        return Counter(s.reason for s in self.skipped if s.request or not request_only)

    def request_total(self) -> int:
        return len(self.rules) + sum(1 for s in self.skipped if s.request)


def excluded(rule: CrsRule, exclusions: tuple[str, ...]) -> bool:
    """An exclusion is a rule id, an id range `942100-942199`, or a tag (`attack-sqli`,
    `OWASP_CRS/ATTACK-SQLI`, `paranoia-level/2`)."""
    for item in exclusions:
        if item.isdigit():
            if int(item) == rule.id:
                return True
        elif "-" in item and all(part.isdigit() for part in item.split("-", 1)):
            low, high = (int(part) for part in item.split("-", 1))
            if low <= rule.id <= high:
                return True
        elif item.lower() in (t.lower() for t in rule.tags):
            return True
    return False
