from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from detector.config import load_config
from detector.durations import format_duration, parse_duration
from detector.errors import ConfigError


def test_config_with_inventory(tmp_path: Path) -> None:
    (tmp_path / "logwarden.yaml").write_text(
        """
state: state/lw.db
timezone: Europe/Berlin
process:
  owner: secops
  point_of_contact: secops-oncall@example.com
  review_interval: 90d
applications:
  - name: shop
    criticality: high
    owner: team-shop
    onboarded: 2026-10-01
    sources:
      - {path: "logs/nginx/access.log*", kind: access, max_silence: 30m}
      - {path: "logs/app/*.jsonl", format: json}
"""
    )
    config = load_config(tmp_path / "logwarden.yaml")
    assert config.state == tmp_path / "state" / "lw.db"
    assert config.timezone == "Europe/Berlin"
    assert config.process.owner == "secops"
    assert config.process.review_interval == timedelta(days=90)
    sources = config.sources()
    assert [s.path for s in sources] == [str(tmp_path / "logs/nginx/access.log*"), str(tmp_path / "logs/app/*.jsonl")]
    assert sources[0].max_silence == timedelta(minutes=30)
    assert sources[0].timezone == "Europe/Berlin" and sources[1].format == "json"
    assert {s.application for s in sources} == {"shop"}


def test_every_config_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "statee: x\n"
        "timezone: Mars/Olympus\n"
        "applications:\n"
        "  - name: shop\n"
        "    criticality: extreme\n"
        "    sources:\n"
        "      - {path: '/var/log/x', kind: weird, format: xml, max_silence: soon}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    assert f"{path}:1: unknown key 'statee' in the config; expected one of: applications, checklist, coverage_deadline, crs, engine, escalation, most_threshold, partial_line_grace, process, state, timezone" in problems
    assert f"{path}:2: unknown timezone 'Mars/Olympus'; use an IANA name such as Europe/Berlin" in problems
    assert f"{path}:5: criticality 'extreme' unknown; use one of low, medium, high, critical" in problems
    assert f"{path}:4: application 'shop' needs an owner" in problems
    assert any(p.startswith(f"{path}:7: kind 'weird' unknown") for p in problems)
    assert any(p.startswith(f"{path}:7: format 'xml' unknown") for p in problems)
    assert any(p.startswith(f"{path}:7: max_silence: expected a duration") for p in problems)
    assert len(problems) == 7


def test_missing_config_named_explicitly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_no_config_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOGWARDEN_CONFIG", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    config = load_config(None)
    assert config.path is None
    assert config.state == tmp_path / "xdg" / "logwarden" / "state.db"


@pytest.mark.parametrize(
    ("text", "seconds"), [("20m", 1200), ("1h30m", 5400), ("7d", 604800), ("90s", 90), ("1w", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "soon", "10", "5x", "m5", True, None])
def test_bad_durations(text) -> None:
    if text == "10":
        text = "10 minutes"
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_a_duration_without_a_unit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "logwarden.yaml"
    path.write_text(
        "applications:\n"
        "  - name: shop\n"
        "    owner: web\n"
        "    sources:\n"
        "      - {path: /var/log/nginx/access.log, max_silence: 30}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}:5: max_silence 30 has no unit; write e.g. max_silence: 30m (or 30s, 30h; units s, m, h, d, w)"
    ]


def test_engine_in_the_config(tmp_path: Path) -> None:
    path = tmp_path / "logwarden.yaml"
    path.write_text("engine: {kind: dask, scheduler: tcp://10.0.0.5:8786, partition_mb: 128}\n")
    engine = load_config(path).engine
    assert (engine.kind, engine.scheduler, engine.workers, engine.partition_mb) == ("dask", "tcp://10.0.0.5:8786", None, 128)
    path.write_text("engine: dask\n")
    assert load_config(path).engine.kind == "dask"
    path.write_text("state: x.db\n")
    assert load_config(path).engine.kind == "local"


def test_every_engine_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "engine:\n"
        "  kind: spark\n"
        "  scheduler: http://sched\n"
        "  workers: 0\n"
        "  partition_mb: big\n"
        "  nodes: 3\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    assert problems == [
        f"{path}:6: unknown key 'nodes' in engine; expected one of: kind, partition_mb, scheduler, workers",
        f"{path}:2: engine kind 'spark' unknown; use one of local, dask",
        f"{path}:3: scheduler 'http://sched' is not a Dask scheduler address; write e.g. scheduler: tcp://10.0.0.5:8786",
        f"{path}:4: workers must be a whole number of at least 1",
        f"{path}:5: partition_mb must be a whole number of at least 1",
    ]
    path.write_text("engine:\n  kind: dask\n  scheduler: tcp://sched:8786\n  workers: 2\n")
    with pytest.raises(ConfigError, match=r":4: workers sizes the local cluster"):
        load_config(path)
