"""`logwarden rules test`: every scenario's samples through the real pipeline, fresh state
each time, findings compared with `expect`."""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from detector.checklist.model import Checklist, Sample, Scenario
from detector.config import Config
from detector.detection.engine import DetectionEngine
from detector.errors import UsageError
from detector.model import Finding
from detector.runs.scan import run_scan
from detector.state.store import Store


@dataclass(frozen=True)
class SampleResult:
    scenario_id: str
    sample: Sample
    passed: bool
    problems: tuple[str, ...]
    findings: tuple[Finding, ...]


def _matches(finding: Finding, entity: dict[str, str]) -> bool:
    return all(finding.entity.get(k) == v for k, v in entity.items())


def check_sample(scenario: Scenario, sample: Sample, findings: list[Finding]) -> list[str]:
    """Problems with the scenario's findings on a sample (empty list: the sample passes)."""
    own = [f for f in findings if f.scenario_id == scenario.id]
    problems = []
    unexplained = list(own)
    for expected in sample.expect:
        hit = [f for f in own if _matches(f, expected.entity)]
        if not hit:
            problems.append(f"expected a finding for {expected.entity}, got none")
            continue
        if expected.min_count is not None and max(f.count for f in hit) < expected.min_count:
            problems.append(f"finding for {expected.entity} has count {max(f.count for f in hit)} < {expected.min_count}")
        unexplained = [f for f in unexplained if f not in hit]
    for finding in unexplained:
        problems.append(f"unexpected finding {finding.entity} (count {finding.count}, first {finding.first_seen:%Y-%m-%dT%H:%M:%SZ})")
    return problems


def run_sample(engine: DetectionEngine, sample: Sample, workdir: Path, timezone_name: str = "UTC") -> list[Finding]:
    """Scan one sample log (file or directory) into a fresh state; return all findings."""
    checklist = engine.checklist
    state = workdir / f"state-{abs(hash((sample.log, sample.line)))}.db"
    config = Config(path=None, state=state, checklist=checklist.directory, escalation=None, timezone=timezone_name)
    now = datetime.now(timezone.utc)
    with Store(state) as store:
        run_scan(store, config, [checklist.root / sample.log], now, sink=engine, log=lambda _m: None)
        return store.findings(include_exercise=True)


def check_scenario_names(checklist: Checklist, names: list[str]) -> None:
    """Raise UsageError (exit 2) for names that are no scenario of the checklist: testing
    nothing must not read as "0 passed, 0 failed"."""
    known = [s.id for s in checklist.scenarios]
    unknown = [n for n in names if n not in known]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise UsageError(
        f"unknown scenario(s) {', '.join(hints)} in checklist {checklist.directory}; see `logwarden rules list`"
    )


def run_checklist_tests(checklist: Checklist, only: list[str] | None = None) -> list[SampleResult]:
    check_scenario_names(checklist, only or [])
    engine = DetectionEngine(checklist)
    results = []
    with tempfile.TemporaryDirectory(prefix="logwarden-rules-test-") as tmp:
        for scenario in checklist.scenarios:
            if only and scenario.id not in only:
                continue
            for sample in scenario.samples:
                findings = run_sample(engine, sample, Path(tmp))
                problems = check_sample(scenario, sample, findings)
                results.append(
                    SampleResult(
                        scenario_id=scenario.id,
                        sample=sample,
                        passed=not problems,
                        problems=tuple(problems),
                        findings=tuple(f for f in findings if f.scenario_id == scenario.id),
                    )
                )
    return results
