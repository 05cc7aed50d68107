"""The bundled starter pack of attack scenarios (rules/scenarios/*.yaml) and its sample logs.

What a user of the bundled checklist relies on: it loads, it covers the attack topics it
claims, every scenario fires on its positive samples and stays quiet on its negative ones
(`logwarden rules test`), and scanning every sample at once into one state (as a cron job
over a log directory would) raises every expected finding and nothing on benign traffic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from detector.checklist import Checklist, load_checklist
from detector.checklist.model import Sample, Scenario
from detector.config import Config
from detector.detection.engine import DetectionEngine
from detector.model import Finding
from detector.runs.sampletest import (
    SampleResult,
    check_sample,
    run_checklist_tests,
)
from detector.runs.scan import run_scan
from detector.sources.discovery import discover_paths
from detector.sources.reader import open_log
from detector.state.store import Store

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
SCENARIO_IDS = sorted(path.stem for path in (RULES_DIR / "scenarios").glob("*.yaml"))
# Addresses samples use: the documentation ranges (RFC 5737, RFC 3849) and internal 10/8.
SAMPLE_ADDRESS = re.compile(
    r"(?<![\w.:])(?:(?:203\.0\.113|198\.51\.100|192\.0\.2|10\.\d{1,3}\.\d{1,3})\.\d{1,3}"
    r"|2001:db8:[0-9a-f:]*[0-9a-f])(?![\w.])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Topic:
    """An attack topic the starter pack must cover, and the shape of the scenario covering it."""

    scenario: str
    kinds: frozenset[str]  # log kinds the scenario must read
    correlation: str | None = None  # None: a single-event scenario
    field: str | None = None  # value_count: the counted field


TOPICS: dict[str, Topic] = {
    "SQL injection": Topic("web-sqli", frozenset({"access"})),
    "cross-site scripting": Topic("web-xss", frozenset({"access"})),
    "path traversal / local file inclusion": Topic("web-path-traversal", frozenset({"access"})),
    "remote file inclusion": Topic("web-remote-file-inclusion", frozenset({"access"})),
    "command injection": Topic("web-command-injection", frozenset({"access"})),
    "Log4Shell / JNDI lookups": Topic("web-log4shell-jndi", frozenset({"access"})),
    "Shellshock": Topic("web-shellshock", frozenset({"access"})),
    "web shell access": Topic("web-webshell-access", frozenset({"access"})),
    "sensitive file probing": Topic("web-sensitive-file-probe", frozenset({"access"}), "value_count", "url.path"),
    "scanner user agents": Topic("web-scanner-user-agent", frozenset({"access"})),
    "404 bursts (forced browsing)": Topic("web-forced-browsing", frozenset({"access"}), "value_count", "url.path"),
    "admin panel probing": Topic("web-admin-panel-probe", frozenset({"access"}), "value_count", "url.path"),
    "HTTP basic-auth brute force (401 burst)": Topic(
        "web-basic-auth-bruteforce", frozenset({"access"}), "event_count"
    ),
    "5xx bursts": Topic("web-5xx-burst", frozenset({"access"}), "event_count"),
    "SQL error spike (web error log)": Topic("web-sql-error-spike", frozenset({"web-error"}), "event_count"),
    "SQL error spike (application log)": Topic("app-sql-error-spike", frozenset({"application"}), "event_count"),
    "SSH brute force": Topic("ssh-bruteforce", frozenset({"auth"}), "event_count"),
    "SSH invalid-user enumeration": Topic(
        "ssh-invalid-user-enumeration", frozenset({"auth"}), "value_count", "user.name"
    ),
    "SSH password spraying": Topic("ssh-password-spraying", frozenset({"auth"}), "value_count", "user.name"),
    "application password spraying": Topic(
        "app-password-spraying", frozenset({"application"}), "value_count", "user.name"
    ),
    "brute force followed by success": Topic("recon-then-login", frozenset({"auth"}), "temporal_ordered"),
    "login from a source that scanned the web server": Topic(
        "recon-then-login", frozenset({"access", "auth"}), "temporal_ordered"
    ),
    "sudo failures": Topic("sudo-auth-failures", frozenset({"auth"}), "event_count"),
    "sudo/su to a root shell": Topic("sudo-root-shell", frozenset({"auth"})),
    "user or group creation": Topic("local-account-created", frozenset({"auth"})),
    "user added to a privileged group": Topic("privileged-group-membership", frozenset({"auth"})),
    "application login-failure burst": Topic("app-login-failure-burst", frozenset({"application"}), "event_count"),
    "account lockouts": Topic("app-account-lockouts", frozenset({"application"}), "value_count", "user.name"),
    "privilege change in application logs": Topic("app-privilege-grant", frozenset({"application"})),
    "firewall port scan": Topic("firewall-port-scan", frozenset({"firewall"}), "value_count", "destination.port"),
    "port scan then SSH brute force": Topic(
        "portscan-then-ssh-bruteforce", frozenset({"firewall", "auth"}), "temporal_ordered"
    ),
    "firewall-blocked source later logs in": Topic(
        "firewall-blocked-then-login", frozenset({"firewall", "auth"}), "temporal_ordered"
    ),
    "SQL injection then SQL error from the same client": Topic(
        "web-sqli-with-sql-error", frozenset({"access", "web-error"}), "temporal"
    ),
    "web scanner then application login": Topic(
        "recon-then-login", frozenset({"access", "application"}), "temporal_ordered"
    ),
    "intruder's login then privilege escalation by that user on that host": Topic(
        "intrusion-then-privilege-escalation", frozenset({"auth"}), "temporal_ordered"
    ),
    "injection then application privilege change": Topic(
        "web-attack-then-app-privilege-change", frozenset({"access", "application"}), "temporal_ordered"
    ),
    "SSH brute force, login, sudo to root for one user": Topic(
        "ssh-takeover-to-root", frozenset({"auth"}), "temporal_ordered"
    ),
}


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checklist() -> Checklist:
    return load_checklist()


@pytest.fixture(scope="module")
def sample_results(checklist: Checklist) -> dict[str, list[SampleResult]]:
    """Every sample of every scenario through the real pipeline (what `logwarden rules test` runs)."""
    by_scenario: dict[str, list[SampleResult]] = {}
    for result in run_checklist_tests(checklist):
        by_scenario.setdefault(result.scenario_id, []).append(result)
    return by_scenario


@pytest.fixture(scope="module")
def whole_scan(checklist: Checklist, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[Finding]]:
    """All of sample_logs/ scanned once into one fresh state, like a cron run over a log tree."""
    state = tmp_path_factory.mktemp("starter-pack") / "state.db"
    config = Config(path=None, state=state, checklist=checklist.directory, escalation=None, timezone="UTC")
    with Store(state) as store:
        result = run_scan(
            store, config, [checklist.root / "sample_logs"], datetime.now(timezone.utc),
            sink=DetectionEngine(checklist), log=lambda _message: None,
        )
        return result.stats, store.findings(include_exercise=True)


def _reads(checklist: Checklist, scenario: Scenario) -> set[str]:
    """Log kinds a scenario reads: its own, and those of the scenarios its chain steps take."""
    kinds = set(scenario.requires)
    for member in scenario.referenced_scenarios():
        other = checklist.scenario(member)
        kinds |= _reads(checklist, other) if other is not None else set()
    return kinds


def _active(checklist: Checklist) -> list[Scenario]:
    return [s for s in checklist.scenarios if s.status != "deprecated"]


def _files(checklist: Checklist, sample: Sample) -> list[Path]:
    path = (checklist.root / sample.log).resolve()
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _samples(checklist: Checklist, positive: bool, retired: bool = False) -> Iterator[tuple[Scenario, Sample]]:
    for scenario in checklist.scenarios if retired else _active(checklist):
        for sample in scenario.samples:
            if sample.positive == positive:
                yield scenario, sample


# -- the checklist itself ----------------------------------------------------------------------


def test_bundled_checklist_is_the_starter_pack_and_large_enough(checklist: Checklist) -> None:
    assert checklist.directory == RULES_DIR.resolve()
    assert sorted(s.id for s in checklist.scenarios) == SCENARIO_IDS
    assert len(checklist.scenarios) >= 35


@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_scenario_is_documented_and_has_both_kinds_of_sample(checklist: Checklist, scenario_id: str) -> None:
    scenario = checklist.scenario(scenario_id)
    assert scenario is not None
    assert scenario.attack, "needs ATT&CK technique ids"
    assert scenario.provenance, "needs provenance"
    assert scenario.requires, "needs the log kinds it reads"
    assert scenario.description.strip(), "needs a description"
    assert any(s.positive for s in scenario.samples), "needs a positive sample"
    assert any(not s.positive for s in scenario.samples), "needs a negative sample"
    for sample in scenario.samples:
        assert sample.log.startswith(f"sample_logs/scenarios/{scenario_id}/"), "samples live in the scenario's folder"


def test_provenance_mixes_external_threat_model_and_incident_sources(checklist: Checklist) -> None:
    kinds = [p.kind for s in checklist.scenarios for p in s.provenance]
    assert {"external", "threat-model", "past-incident"} <= set(kinds)
    assert kinds.count("past-incident") >= 3
    for scenario in checklist.scenarios:
        assert any(p.kind == "external" and p.ref.startswith("https://") for p in scenario.provenance), scenario.id


def test_at_least_six_scenarios_correlate_two_log_kinds(checklist: Checklist) -> None:
    cross = [
        s.id for s in _active(checklist)
        if len(_reads(checklist, s)) >= 2 and s.correlation is not None and s.correlation.type in ("temporal", "temporal_ordered")
    ]
    assert len(cross) >= 6, cross


def test_chaining_by_class_covers_what_the_retired_pairs_named(checklist: Checklist) -> None:
    """Brute force, credential stuffing, web scans then a login: one chain over a class of
    findings, not a scenario per pair; the pairs are retired, not deleted (their history stays)."""
    scenario = checklist.scenario("recon-then-login")
    assert scenario is not None and scenario.correlation is not None
    assert scenario.correlation.classes[0] is not None
    first = set(scenario.correlation.step_members(0))
    assert {"ssh-bruteforce", "app-login-failure-burst", "web-scanner-user-agent", "web-sensitive-file-probe", "web-sqli"} <= first
    for retired in ("ssh-bruteforce-then-success", "web-scan-then-ssh-login", "credential-stuffing-then-ssh-login",
                    "web-scanner-then-app-login", "app-bruteforce-then-success"):
        old = checklist.scenario(retired)
        assert old is not None and old.status == "deprecated"
        assert retired not in first


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_required_topic_is_covered(checklist: Checklist, topic: str) -> None:
    expected = TOPICS[topic]
    scenario = checklist.scenario(expected.scenario)
    assert scenario is not None, f"{topic}: scenario {expected.scenario} missing"
    assert scenario.status != "deprecated", f"{topic}: {scenario.id} is retired"
    assert expected.kinds <= _reads(checklist, scenario), f"{topic}: {scenario.id} must read {sorted(expected.kinds)}"
    if expected.correlation is None:
        assert scenario.correlation is None, f"{topic}: {scenario.id} is a single-event scenario"
    else:
        assert scenario.correlation is not None and scenario.correlation.type == expected.correlation
        assert scenario.correlation.value_field == expected.field


# -- samples through the real pipeline ---------------------------------------------------------


@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_rules_test_passes(checklist: Checklist, sample_results: dict[str, list[SampleResult]], scenario_id: str) -> None:
    results = sample_results.get(scenario_id, [])
    scenario = checklist.scenario(scenario_id)
    if scenario is not None and scenario.status == "deprecated":
        assert not results, "a retired scenario is not run, so its samples are not tested"
        return
    assert results, f"no sample of {scenario_id} was run"
    problems = [f"{r.sample.log}: {p}" for r in results for p in r.problems]
    assert not problems, "\n".join(problems)


def test_every_scenario_sample_line_parses(checklist: Checklist, whole_scan: tuple[dict, list[Finding]]) -> None:
    """Samples are written the way real software writes them, so the parsers read every line
    (a sample line that silently fails to parse would make its scenario's test meaningless)."""
    stats, _ = whole_scan
    root = str((checklist.root / "sample_logs" / "scenarios").resolve()) + "/"
    sources = [s for s in stats["sources"] if s["path"].startswith(root)]
    assert len(sources) >= 2 * len(checklist.scenarios)
    assert sum(s["lines"] for s in sources) > 1000
    unreadable = {
        s["path"]: s["reasons"] for s in sources if s["format"] is None or s["unparsed"] or s["parsed"] != s["lines"]
    }
    assert not unreadable, unreadable


def test_whole_sample_tree_in_one_state_raises_every_expected_finding(
    checklist: Checklist, whole_scan: tuple[dict, list[Finding]]
) -> None:
    _, findings = whole_scan
    missing = []
    for scenario, sample in _samples(checklist, positive=True):
        problems = [p for p in check_sample(scenario, sample, findings) if p.startswith("expected")]
        missing.extend(f"{scenario.id} ({sample.log}): {p}" for p in problems)
    assert not missing, "\n".join(missing)


def test_no_finding_rests_on_a_negative_sample(checklist: Checklist, whole_scan: tuple[dict, list[Finding]]) -> None:
    _, findings = whole_scan
    negative = {str(path) for _, sample in _samples(checklist, positive=False) for path in _files(checklist, sample)}
    assert len(negative) >= len(checklist.scenarios)
    offending = [
        f"{f.scenario_id} {f.entity}: {e.path}"
        for f in findings
        for e in f.evidence
        if str(Path(e.path).resolve()) in negative
    ]
    assert not offending, "\n".join(offending)


def test_cross_source_findings_carry_evidence_from_every_required_kind(
    checklist: Checklist, sample_results: dict[str, list[SampleResult]]
) -> None:
    cross = [s for s in _active(checklist) if len(s.requires) >= 2]
    assert cross
    for scenario in cross:
        for result in sample_results[scenario.id]:
            for finding in result.findings:
                assert set(scenario.requires) <= set(finding.log_kinds), (scenario.id, finding.log_kinds)


def test_one_log_kind_alone_does_not_raise_a_cross_source_scenario(
    checklist: Checklist, tmp_path: Path
) -> None:
    """The correlation really needs both sources: each file of a positive sample, scanned on its own, stays quiet."""
    engine = DetectionEngine(checklist)
    checked = 0
    for scenario, sample in _samples(checklist, positive=True):
        if len(scenario.requires) < 2:
            continue
        files = _files(checklist, sample)
        assert len(files) >= 2, f"{scenario.id}: a cross-source sample needs one file per log kind"
        for path in files:
            state = tmp_path / f"{scenario.id}-{path.name}.db"
            config = Config(path=None, state=state, checklist=checklist.directory, escalation=None, timezone="UTC")
            with Store(state) as store:
                run_scan(store, config, [path], datetime.now(timezone.utc), sink=engine, log=lambda _m: None)
                own = [f for f in store.findings(include_exercise=True) if f.scenario_id == scenario.id]
            assert not own, f"{scenario.id} fired on {path.name} alone"
            checked += 1
    assert checked >= 8


def _addresses(path: Path, compression: str | None) -> set[str]:
    with open_log(path, compression) as handle:
        return set(SAMPLE_ADDRESS.findall(handle.read().decode("utf-8", "replace")))


def test_negative_sample_addresses_appear_in_no_other_log(checklist: Checklist) -> None:
    """IP hygiene: `logwarden scan sample_logs/` puts every log into one state, so benign traffic
    of a negative sample must not share an address with any other sample or log there, or it
    could correlate with another sample's attack."""
    sample_of = {
        path: f"{scenario.id}:{sample.log}"
        for scenario, sample in [*_samples(checklist, positive=True, retired=True), *_samples(checklist, positive=False, retired=True)]
        for path in _files(checklist, sample)
    }
    negative = {f"{scenario.id}:{sample.log}" for scenario, sample in _samples(checklist, positive=False)}
    owners: dict[str, set[str]] = {}
    for log in discover_paths([checklist.root / "sample_logs"]):
        unit = sample_of.get(log.path.resolve(), str(log.path))  # a sample directory is one unit
        for address in _addresses(log.path, log.compression):
            owners.setdefault(address, set()).add(unit)
    assert any(unit in negative for units in owners.values() for unit in units)
    shared = {
        address: sorted(units) for address, units in owners.items() if len(units) > 1 and units & negative
    }
    assert not shared, shared


def test_every_sample_file_belongs_to_a_scenario(checklist: Checklist) -> None:
    samples = [*_samples(checklist, positive=True, retired=True), *_samples(checklist, positive=False, retired=True)]
    referenced = {path for _, sample in samples for path in _files(checklist, sample)}
    on_disk = {p.resolve() for p in (checklist.root / "sample_logs" / "scenarios").rglob("*") if p.is_file()}
    assert on_disk - referenced == set()
