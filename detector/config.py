"""logwarden.yaml (DESIGN §8): where state lives, which checklist and policy, and the application
inventory that sources come from and that coverage is measured against."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from detector.durations import parse_duration
from detector.errors import ConfigError
from detector.schema import FORMATS, LOG_KINDS
from detector.yamlsafe import LineDict, LineList, YamlProblem, load_yaml_file

CONFIG_ENV = "LOGWARDEN_CONFIG"
SYSTEM_CONFIG = Path("/etc/logwarden/logwarden.yaml")
CRITICALITIES = ("low", "medium", "high", "critical")


def local_timezone() -> str:
    """The machine's IANA zone name (TZ, /etc/timezone, /etc/localtime), UTC when unknown."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                ZoneInfo(name)
                return name
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return "UTC"


def default_state_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "logwarden" / "state.db"


@dataclass(frozen=True)
class SourceSpec:
    """One glob of log files of an application."""

    path: str  # glob, absolute or relative to the config file
    kind: str | None = None
    format: str | None = None
    timezone: str | None = None
    max_silence: timedelta | None = None
    application: str = ""


@dataclass(frozen=True)
class Application:
    name: str
    criticality: str
    owner: str
    onboarded: date | None
    sources: tuple[SourceSpec, ...]


@dataclass(frozen=True)
class ProcessInfo:
    """The incident-detection process itself (SAMM: owner, point of contact, documentation)."""

    owner: str | None = None
    point_of_contact: str | None = None
    documentation: str | None = None
    review_interval: timedelta | None = None


ENGINE_KINDS = ("local", "dask")
SCHEDULER_ADDRESS = re.compile(r"^(tcp|tls)://[^\s/:]+(:\d{1,5})?$|^[^\s/:]+:\d{1,5}$")


@dataclass(frozen=True)
class EngineSpec:
    """Which engine runs `scan`: this process, or a Dask cluster (docs/distributed.md)."""

    kind: str = "local"  # local | dask
    scheduler: str | None = None  # tcp://HOST:8786; None: a LocalCluster on this machine
    workers: int | None = None  # worker processes of that LocalCluster (None: one per core)
    partition_mb: int = 64  # plain files larger than this are split into byte ranges


@dataclass(frozen=True)
class CrsSettings:
    """`crs:` in logwarden.yaml: which OWASP CRS install to run over access logs, how strict."""

    path: Path  # a CRS checkout or package (the folder holding rules/), read, never copied
    paranoia: int = 1  # CRS paranoia level 1-4: rules tagged paranoia-level/N run when N <= this
    threshold: int = 5  # inbound anomaly score at which a request is a match (CRS default)
    exclusions: tuple[str, ...] = ()  # rule ids, id ranges (942100-942199) or tags (attack-sqli)


@dataclass(frozen=True)
class Config:
    path: Path | None
    state: Path
    checklist: Path | None  # None: the bundled checklist
    escalation: Path | None  # None: the bundled default policy
    timezone: str
    process: ProcessInfo = field(default_factory=ProcessInfo)
    applications: tuple[Application, ...] = ()
    coverage_deadline: timedelta = timedelta(days=30)
    most_threshold: float = 0.75
    # A last line without a newline is read once its file has been quiet this long.
    partial_line_grace: timedelta = timedelta(seconds=60)
    crs: CrsSettings | None = None
    engine: EngineSpec = field(default_factory=EngineSpec)

    def sources(self) -> list[SourceSpec]:
        return [s for app in self.applications for s in app.sources]


_TOP_KEYS = {
    "state", "checklist", "escalation", "timezone", "process", "applications",
    "coverage_deadline", "most_threshold", "partial_line_grace", "crs", "engine",
}
_CRS_KEYS = {"path", "paranoia", "threshold", "exclusions"}
_ENGINE_KEYS = {"kind", "scheduler", "workers", "partition_mb"}
_PROCESS_KEYS = {"owner", "point_of_contact", "documentation", "review_interval"}
_APP_KEYS = {"name", "criticality", "owner", "onboarded", "sources"}
_SOURCE_KEYS = {"path", "kind", "format", "timezone", "max_silence"}


class _Problems:
    """Collects `file:line: message` problems so that all of them are reported at once."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, line: int, message: str) -> None:
        self.items.append(f"{self.source}:{line}: {message}")

    def unknown_keys(self, node: LineDict, allowed: set[str], where: str) -> None:
        for key in node:
            if key not in allowed:
                self.add(
                    node.line_of(key),
                    f"unknown key {key!r} in {where}; expected one of: {', '.join(sorted(allowed))}",
                )


def find_config(explicit: Path | None) -> Path | None:
    """--config, then $LOGWARDEN_CONFIG, ./logwarden.yaml, /etc/logwarden/logwarden.yaml."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}:0: config file not found")
        return explicit
    env = os.environ.get(CONFIG_ENV)
    if env:
        if not Path(env).is_file():
            raise ConfigError(f"{env}:0: config file named by ${CONFIG_ENV} not found")
        return Path(env)
    for candidate in (Path("logwarden.yaml"), SYSTEM_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: Path | None = None, state_override: Path | None = None) -> Config:
    """Find and validate the configuration; without a file, defaults apply (DESIGN §8)."""
    path = find_config(explicit)
    if path is None:
        return Config(
            path=None,
            state=state_override or default_state_path(),
            checklist=None,
            escalation=None,
            timezone=local_timezone(),
        )
    try:
        data = load_yaml_file(path)
    except YamlProblem as exc:
        raise ConfigError(str(exc)) from None
    if data is None:
        data = LineDict()
        data.line, data.key_lines = 1, {}
    problems = _Problems(str(path))
    if not isinstance(data, LineDict):
        raise ConfigError(f"{path}:1: the config must be a mapping of keys (state, applications, ...)")
    # Resolved once, here: every path the config names (state, checklist, policy, source globs)
    # is relative to the file's own directory and made absolute, whatever the working directory
    # of the command and however the file was named (`-c logwarden.yaml`, `-c ../x.yaml`);
    # Config.path is absolute too, for what is resolved later (process documentation).
    config = _build_config(path.resolve(), data, problems)
    if problems.items:
        raise ConfigError(problems.items)
    if state_override is not None:
        config = Config(**{**config.__dict__, "state": state_override})
    return config


def _rel(base: Path, value: str) -> Path:
    candidate = Path(os.path.expanduser(value))
    return candidate if candidate.is_absolute() else (base.parent / candidate)


def _build_config(path: Path, data: LineDict, problems: _Problems) -> Config:
    problems.unknown_keys(data, _TOP_KEYS, "the config")
    tz = data.get("timezone") or local_timezone()
    if not _valid_zone(tz):
        problems.add(data.line_of("timezone"), f"unknown timezone {tz!r}; use an IANA name such as Europe/Berlin")
        tz = "UTC"
    state = data.get("state")
    checklist = data.get("checklist")
    escalation = data.get("escalation")
    for key, value in (("state", state), ("checklist", checklist), ("escalation", escalation)):
        if value is not None and not isinstance(value, str):
            problems.add(data.line_of(key), f"{key} must be a path string")
    process = _build_process(data.get("process"), data, problems)
    applications = _build_applications(path, data.get("applications"), data, tz, problems)
    coverage_deadline = timedelta(days=30)
    if "coverage_deadline" in data:
        coverage_deadline = _duration(data, "coverage_deadline", problems) or coverage_deadline
    partial_line_grace = timedelta(seconds=60)
    if "partial_line_grace" in data:
        partial_line_grace = _duration(data, "partial_line_grace", problems) or partial_line_grace
    most = data.get("most_threshold", 0.75)
    if not isinstance(most, (int, float)) or isinstance(most, bool) or not 0.5 <= most <= 1:
        problems.add(data.line_of("most_threshold"), "most_threshold must be a number between 0.5 and 1")
        most = 0.75
    return Config(
        path=path,
        state=_rel(path, state) if isinstance(state, str) else default_state_path(),
        checklist=_rel(path, checklist) if isinstance(checklist, str) else None,
        escalation=_rel(path, escalation) if isinstance(escalation, str) else None,
        timezone=tz,
        process=process,
        applications=applications,
        coverage_deadline=coverage_deadline,
        most_threshold=float(most),
        partial_line_grace=partial_line_grace,
        crs=_build_crs(path, data.get("crs"), data, problems),
        engine=_build_engine(data.get("engine"), data, problems),
    )


def _build_crs(path: Path, node: Any, parent: LineDict, problems: _Problems) -> CrsSettings | None:
    if node is None:
        return None
    if not isinstance(node, LineDict):
        problems.add(parent.line_of("crs"), "crs must be a mapping: {path: /usr/share/coreruleset, paranoia: 1, threshold: 5}")
        return None
    problems.unknown_keys(node, _CRS_KEYS, "crs")
    where = node.get("path")
    if not isinstance(where, str) or not where:
        problems.add(node.line_of("path") if "path" in node else node.line, "crs.path must name the CRS install (the folder holding rules/)")
        return None
    numbers = {}
    for key, low, high, default in (("paranoia", 1, 4, 1), ("threshold", 1, 10_000, 5)):
        value = node.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            problems.add(node.line_of(key), f"crs.{key} must be an integer from {low} to {high}")
            value = default
        numbers[key] = value
    exclusions = node.get("exclusions", [])
    if not isinstance(exclusions, list) or not all(isinstance(e, (str, int)) and not isinstance(e, bool) for e in exclusions):
        problems.add(node.line_of("exclusions"), "crs.exclusions must be a list of rule ids (942100), id ranges (942100-942199) or tags (attack-sqli)")
        exclusions = []
    return CrsSettings(
        path=_rel(path, where),
        paranoia=numbers["paranoia"],
        threshold=numbers["threshold"],
        exclusions=tuple(str(e).strip() for e in exclusions),
    )


def _valid_zone(name: Any) -> bool:
    if not isinstance(name, str):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _duration(node: LineDict, key: str, problems: _Problems) -> timedelta | None:
    value = node[key]
    if isinstance(value, int) and not isinstance(value, bool):  # `max_silence: 30`: 30 what?
        problems.add(node.line_of(key), f"{key} {value} has no unit; write e.g. {key}: {value}m "
                                        f"(or {value}s, {value}h; units s, m, h, d, w)")
        return None
    try:
        return parse_duration(node[key])
    except ValueError as exc:
        problems.add(node.line_of(key), f"{key}: {exc}")
        return None


def _build_engine(node: Any, parent: LineDict, problems: _Problems) -> EngineSpec:
    """`engine: dask` or `engine: {kind: dask, scheduler: tcp://HOST:8786, workers: 2}`."""
    if node is None:
        return EngineSpec()
    if isinstance(node, str):
        node = LineDict({"kind": node})
        node.line, node.key_lines = parent.line_of("engine"), {"kind": parent.line_of("engine")}
    if not isinstance(node, LineDict):
        problems.add(parent.line_of("engine"), "engine must be a mapping (kind: local|dask, scheduler, workers)")
        return EngineSpec()
    problems.unknown_keys(node, _ENGINE_KEYS, "engine")
    kind = node.get("kind", "local")
    if kind not in ENGINE_KINDS:
        problems.add(node.line_of("kind"), f"engine kind {kind!r} unknown; use one of {', '.join(ENGINE_KINDS)}")
        kind = "local"
    scheduler = node.get("scheduler")
    if scheduler is not None and (not isinstance(scheduler, str) or not SCHEDULER_ADDRESS.match(scheduler)):
        problems.add(node.line_of("scheduler"), f"scheduler {scheduler!r} is not a Dask scheduler address; "
                                                "write e.g. scheduler: tcp://10.0.0.5:8786")
        scheduler = None
    numbers = {}
    for key in ("workers", "partition_mb"):
        value = node.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            problems.add(node.line_of(key), f"{key} must be a whole number of at least 1")
            value = None
        numbers[key] = value
    if scheduler is not None and numbers["workers"] is not None:
        problems.add(node.line_of("workers"), "workers sizes the local cluster started when no scheduler is "
                                              "given; a scheduler's workers are started with `dask worker`")
    return EngineSpec(kind=kind, scheduler=scheduler, workers=numbers["workers"],
                      partition_mb=numbers["partition_mb"] or EngineSpec.partition_mb)


def _build_process(node: Any, parent: LineDict, problems: _Problems) -> ProcessInfo:
    if node is None:
        return ProcessInfo()
    if not isinstance(node, LineDict):
        problems.add(parent.line_of("process"), "process must be a mapping (owner, point_of_contact, ...)")
        return ProcessInfo()
    problems.unknown_keys(node, _PROCESS_KEYS, "process")
    return ProcessInfo(
        owner=_opt_str(node, "owner", problems),
        point_of_contact=_opt_str(node, "point_of_contact", problems),
        documentation=_opt_str(node, "documentation", problems),
        review_interval=_duration(node, "review_interval", problems) if "review_interval" in node else None,
    )


def _opt_str(node: LineDict, key: str, problems: _Problems) -> str | None:
    value = node.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(node.line_of(key), f"{key} must be a non-empty string")
        return None
    return value


def _build_applications(
    path: Path, node: Any, parent: LineDict, tz: str, problems: _Problems
) -> tuple[Application, ...]:
    if node is None:
        return ()
    if not isinstance(node, LineList):
        problems.add(parent.line_of("applications"), "applications must be a list of applications")
        return ()
    apps: list[Application] = []
    seen: set[str] = set()
    for index, item in enumerate(node):
        line = node.line_of(index)
        if not isinstance(item, LineDict):
            problems.add(line, "each application must be a mapping with name, owner, sources")
            continue
        problems.unknown_keys(item, _APP_KEYS, "an application")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            problems.add(line, "application without a name; add `name: <application>`")
            continue
        if name in seen:
            problems.add(item.line_of("name"), f"duplicate application name {name!r}")
        seen.add(name)
        criticality = item.get("criticality", "medium")
        if criticality not in CRITICALITIES:
            problems.add(
                item.line_of("criticality"),
                f"criticality {criticality!r} unknown; use one of {', '.join(CRITICALITIES)}",
            )
        owner = item.get("owner")
        if not isinstance(owner, str) or not owner:
            problems.add(item.line_of("owner") if "owner" in item else line, f"application {name!r} needs an owner")
            owner = ""
        onboarded = item.get("onboarded")
        if onboarded is not None and not isinstance(onboarded, date):
            problems.add(item.line_of("onboarded"), "onboarded must be a date such as 2026-11-01")
            onboarded = None
        sources = _build_sources(path, item.get("sources"), item, name, tz, problems)
        apps.append(Application(name, str(criticality), owner, onboarded, tuple(sources)))
    return tuple(apps)


def _build_sources(
    path: Path, node: Any, parent: LineDict, app: str, tz: str, problems: _Problems
) -> list[SourceSpec]:
    if not isinstance(node, LineList) or not node:
        problems.add(parent.line_of("sources"), f"application {app!r} needs a list of sources (path globs)")
        return []
    sources = []
    for index, item in enumerate(node):
        if not isinstance(item, LineDict) or not isinstance(item.get("path"), str):
            problems.add(node.line_of(index), "each source needs `path: <glob>`")
            continue
        problems.unknown_keys(item, _SOURCE_KEYS, "a source")
        kind = item.get("kind")
        if kind is not None and kind not in LOG_KINDS:
            problems.add(item.line_of("kind"), f"kind {kind!r} unknown; use one of {', '.join(LOG_KINDS)}")
        fmt = item.get("format")
        if fmt is not None and fmt not in FORMATS:
            problems.add(item.line_of("format"), f"format {fmt!r} unknown; use one of {', '.join(FORMATS)}")
        src_tz = item.get("timezone", tz)
        if not _valid_zone(src_tz):
            problems.add(item.line_of("timezone"), f"unknown timezone {src_tz!r}")
            src_tz = tz
        silence = _duration(item, "max_silence", problems) if "max_silence" in item else None
        sources.append(
            SourceSpec(
                path=str(_rel(path, item["path"])),
                kind=kind,
                format=fmt,
                timezone=src_tz,
                max_silence=silence,
                application=app,
            )
        )
    return sources
