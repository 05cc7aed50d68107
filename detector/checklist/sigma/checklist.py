"""Where a checklist names its Sigma rules: `sigma: [paths]` in checklist.yaml (relative to
it), plus the paths given on the command line (`--sigma PATH`), and the values of `expand`
placeholders (`sigma_placeholders: {name: [values]}`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from detector.checklist.sigma.load import SigmaLoad, load_sigma
from detector.checklist.sigma.scenarios import Defaults
from detector.yamlsafe import LineDict, to_plain


def checklist_sigma(
    meta_path: Path, meta: LineDict, extra: list[Path], defaults: Defaults, taken: set[str]
) -> SigmaLoad:
    """The Sigma rules of a checklist; problems name checklist.yaml or the rule file and line."""
    problems: list[str] = []
    paths = _paths(meta_path, meta, problems) + [Path(p) for p in extra]
    placeholders = _placeholders(meta_path, meta, problems)
    if problems:
        return SigmaLoad((), (), tuple(problems))
    if not paths:
        return SigmaLoad((), (), ())
    loaded = load_sigma(paths, defaults, placeholders)
    clashes = [
        f"{s.path}:1: Sigma rule id {s.id!r} is also the id of a scenario of the checklist; ids must be unique"
        for s in loaded.scenarios if s.id in taken
    ]
    return replace(loaded, problems=loaded.problems + tuple(clashes)) if clashes else loaded


def check_paths(paths: list[Path]) -> SigmaLoad:
    """`rules sigma-check`: the rules under `paths`, loaded as a checklist would load them."""
    return load_sigma(paths, Defaults(owner="", reopen_after=timedelta(hours=1)))


def _paths(meta_path: Path, meta: LineDict, problems: list[str]) -> list[Path]:
    node = meta.get("sigma")
    if node is None:
        return []
    if isinstance(node, str):
        node = [node]
    if not isinstance(node, list) or not all(isinstance(p, str) and p for p in node):
        problems.append(f"{meta_path}:{meta.line_of('sigma')}: sigma must be a list of paths (files or folders of "
                        "Sigma rules, relative to checklist.yaml), e.g. `sigma: [../sigma/rules/web]`")
        return []
    return [(meta_path.parent / p).resolve() for p in node]


def _placeholders(meta_path: Path, meta: LineDict, problems: list[str]) -> dict[str, list[Any]]:
    node = meta.get("sigma_placeholders")
    if node is None:
        return {}
    plain = to_plain(node)
    valid = isinstance(plain, dict) and all(
        isinstance(values, list) and values and all(isinstance(v, (str, int, float)) for v in values)
        for values in plain.values()
    )
    if not valid:
        problems.append(f"{meta_path}:{meta.line_of('sigma_placeholders')}: sigma_placeholders must map each "
                        "placeholder name to a non-empty list of values, e.g. `sigma_placeholders: {admins: [root]}`")
        return {}
    return {str(k): list(v) for k, v in plain.items()}
