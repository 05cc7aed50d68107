"""Load a CRS checkout: parse every `*.conf` with msc-pyparser, turn each request rule (chain
included) into a `CrsRule`, or into a `Skipped` with the reason it cannot run. One bad rule
never fails the load; a path that is not a CRS install does (RuleError, exit 2)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
from pathlib import Path
from typing import Any

import msc_pyparser

from detector.checklist.crs.chain import ChainProblem, build_conditions
from detector.checklist.crs.model import SEVERITY_SCORES, CrsRule, CrsRuleSet, Skipped
from detector.errors import RuleError

_SCORE = re.compile(r"^tx\.inbound_anomaly_score_pl([1-4])=\+%\{tx\.(critical|error|warning|notice)_anomaly_score\}$", re.I)
_DEFAULT = re.compile(r"^tx\.([a-z0-9_]+)=(.*)$", re.I | re.S)
_VERSION = re.compile(r"OWASP_CRS/(\S+)")


def _parse_file(path: Path) -> list[dict[str, Any]]:
    parser = None
    with contextlib.redirect_stderr(io.StringIO()):  # ply announces its table generation on stderr
        parser = msc_pyparser.MSCParser()
        try:
            parser.parser.parse(path.read_text(encoding="utf-8", errors="replace"))
        except Exception as exc:  # msc-pyparser raises bare Exceptions on syntax errors
            where = exc.args[1].get("line", 0) if len(exc.args) > 1 and isinstance(exc.args[1], dict) else 0
            first = str(exc.args[0]).splitlines()[0] if exc.args else str(exc)
            raise RuleError(f"{path}:{where}: not SecRule syntax msc-pyparser can read ({first})") from None
    return [item for item in parser.configlines if item["type"] != "Comment"]


def _actions(item: dict[str, Any], name: str) -> list[str]:
    return [a["act_arg"] for a in item.get("actions", []) if a["act_name"] == name]


def _first(item: dict[str, Any], name: str, default: str = "") -> str:
    found = _actions(item, name)
    return found[0] if found else default


def _chains(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """SecRule/SecAction items grouped into chains (a rule and the rules it chains)."""
    chains: list[list[dict[str, Any]]] = []
    open_chain = False
    for item in items:
        if item["type"] not in ("SecRule", "SecAction"):
            continue
        if open_chain:
            chains[-1].append(item)
        else:
            chains.append([item])
        open_chain = bool(item.get("chained"))
    return chains


def _setup_defaults(chains: list[list[dict[str, Any]]]) -> dict[str, str]:
    """`tx.*` defaults that the initialization rules (901) set with literal values."""
    defaults: dict[str, str] = {}
    for chain in chains:
        for item in chain:
            for setvar in _actions(item, "setvar"):
                match = _DEFAULT.match(setvar)
                if match and "%{" not in match.group(2) and not match.group(2).startswith(("+", "-")):
                    defaults.setdefault(match.group(1).lower(), match.group(2))
    return defaults


def _score(chain: list[dict[str, Any]]) -> tuple[int, int] | None:
    """(paranoia level, score) that the chain adds to the inbound anomaly score; None: nothing."""
    for item in chain:
        for setvar in _actions(item, "setvar"):
            match = _SCORE.match(setvar)
            if match:
                return int(match.group(1)), SEVERITY_SCORES[match.group(2).upper()]
    return None


def _rule(chain: list[dict[str, Any]], file: str, defaults: dict[str, str], data_dir: Path,
          updates: dict[int, list[str]]) -> CrsRule | Skipped:
    head = chain[0]
    rule_id = int(_first(head, "id", "0") or 0) or None
    line = int(head.get("lineno", 0))
    request = file.startswith("REQUEST-")

    def skip(reason: str, detail: str) -> Skipped:
        return Skipped(rule_id, file, line, reason, detail, request)

    phase = _first(head, "phase", "2")
    if not request or phase in ("3", "4", "5", "response", "logging"):
        return skip("response", "inspects responses (phase 3/4): access logs carry no response content")
    scored = _score(chain)
    if scored is None:
        return skip("control", "adds no inbound anomaly score (initialization, paranoia gate, evaluation or exception rule)")
    level, score = scored
    tags = tuple(_actions(head, "tag"))
    paranoia = next((int(t.rsplit("/", 1)[1]) for t in tags if re.fullmatch(r"paranoia-level/[1-4]", t)), level)
    try:
        conditions, unfed = build_conditions(chain, defaults, data_dir, updates.get(rule_id or 0, []))
    except ChainProblem as problem:
        return skip(problem.reason, problem.detail)
    return CrsRule(
        id=rule_id or 0,
        file=file,
        line=line,
        msg=_first(head, "msg"),
        severity=_first(head, "severity", "").upper(),
        score=score,
        paranoia=paranoia,
        tags=tags,
        conditions=conditions,
        unfed=unfed,
    )


def _rule_files(path: Path) -> tuple[Path, list[Path]]:
    path = path.expanduser()
    rules_dir = path / "rules" if (path / "rules").is_dir() else path
    if not rules_dir.is_dir():
        raise RuleError(f"{path}:0: CRS directory not found; set crs.path to a CRS checkout (the folder holding rules/)")
    files = sorted(rules_dir.glob("*.conf"))
    if not files:
        raise RuleError(f"{rules_dir}:0: no CRS rule files (*.conf) here; set crs.path to a CRS checkout")
    return rules_dir, files


def load_crs(path: Path) -> CrsRuleSet:
    """Every rule of the CRS at `path` (a checkout, or its `rules/` folder), as runnable rules
    and skipped ones with reasons."""
    rules_dir, files = _rule_files(path)
    digest = hashlib.sha256()
    parsed: list[tuple[str, list[dict[str, Any]]]] = []
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
        parsed.append((file.name, _parse_file(file)))
    for data in sorted(rules_dir.glob("*.data")):
        digest.update(data.name.encode() + b"\0" + data.read_bytes())
    all_chains = [(name, chain) for name, items in parsed for chain in _chains(items)]
    defaults = _setup_defaults([c for name, c in all_chains if "901" in name])
    updates: dict[int, list[str]] = {}
    version = ""
    for _, items in parsed:
        for item in items:
            if item["type"] == "SecRuleUpdateTargetById":
                args = [a["argument"] for a in item["arguments"]]
                if args and args[0].isdigit():
                    updates.setdefault(int(args[0]), []).extend(args[1:])
            elif item["type"] == "SecComponentSignature" and not version:
                found = _VERSION.search(item["arguments"][0]["argument"])
                version = found.group(1) if found else ""
    rules: list[CrsRule] = []
    skipped: list[Skipped] = []
    for name, chain in all_chains:
        if chain[0]["type"] == "SecAction":
            if name.startswith("REQUEST-"):
                skipped.append(Skipped(int(_first(chain[0], "id", "0") or 0) or None, name, int(chain[0].get("lineno", 0)),
                                       "control", "SecAction (initialization)", True))
            continue
        result = _rule(chain, name, defaults, rules_dir, updates)
        (rules if isinstance(result, CrsRule) else skipped).append(result)
        if not version:
            found = _VERSION.search(_first(chain[0], "ver"))
            version = found.group(1) if found else ""
    return CrsRuleSet(
        path=rules_dir.parent if rules_dir.name == "rules" else rules_dir,
        version=version or "unknown",
        rules=tuple(rules),
        skipped=tuple(skipped),
        digest=digest.hexdigest()[:16],
        files=tuple(f.name for f in files),
    )
