"""CLI commands of the detector side: scan, findings, match, rules. Thin: parse options,
call the library, print. Part of the CLI root (the one place that may call escalation)."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from detector.cli.common import emit_json, format_option, now_option, say, state_options
from detector.cli.root import cli
from detector.config import SCHEDULER_ADDRESS, Config, EngineSpec
from detector.errors import EngineError, UsageError
from detector.model import SEVERITIES, Finding, severity_rank
from detector.pipeline import RunResult
from detector.runs.scan import run_scan
from detector.sources.discovery import local_path, require_paths
from detector.state.existing import open_existing
from detector.state.lock import StateLock
from detector.state.store import Store
from detector.textsafe import terminal_safe


def _escalate(store: Store, config: Config, now: Any, stdout_is_data: bool) -> dict[str, Any] | None:
    """Hand new findings and defects to the escalation engine (the CLI root wires the two).
    `stdout_is_data`: stdout carries the JSON document, so the stdout channel writes to stderr."""
    from escalation.engine.service import escalate

    return escalate(store, config, now, stdout_is_data=stdout_is_data)


def _baseline(store: Store, config: Config, now: Any) -> int:
    """Pass this run's findings over for escalation (scan --baseline)."""
    from escalation.engine.service import baseline

    return baseline(store, config, now)


def _check_policy(config: Config) -> None:
    """Load the escalation policy once up front: PolicyError (exit 2) names file and line."""
    from escalation.engine.policyfile import load_policy

    load_policy(config.escalation, config.state.parent)


def _findings_of_run(store: Store, result: RunResult) -> list[Finding]:
    ids: dict[str, None] = {}
    for _, finding_id, _ in store.finding_changes_since(result.finding_seq_before, limit=1_000_000):
        ids.setdefault(finding_id, None)
    found = [store.get_finding(i) for i in ids]
    return sorted((f for f in found if f is not None), key=lambda f: (f.first_seen, f.id))


def _summary_lines(stats: dict[str, Any]) -> list[str]:
    lines = [
        f"logwarden scan: {stats['files']} file(s), {stats['bytes_read']:,} bytes, "
        f"{stats['lines_read']:,} lines: {stats['lines_parsed']:,} parsed, "
        f"{stats['lines_unparsed']:,} unparsed, {stats['lines_blank']:,} blank; "
        f"{stats['gaps']} gap(s)"
    ]
    if stats["formats"]:
        lines.append(f"  {'format':<14}{'files':>7}{'lines':>11}{'parsed':>11}{'unparsed':>10}")
        for fmt, entry in sorted(stats["formats"].items()):
            lines.append(
                f"  {fmt:<14}{entry['files']:>7}{entry['lines']:>11,}{entry['parsed']:>11,}{entry['unparsed']:>10,}"
            )
    if stats["unparsed_reasons"]:
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(stats["unparsed_reasons"].items()))
        lines.append(f"  unparsed by reason: {reasons}")
    if stats["lines_repaired"]:
        repaired = ", ".join(f"{k} {v:,}" for k, v in sorted(stats["lines_repaired"].items()))
        lines.append(f"  repaired lines: {repaired}")
    return lines


def _since(text: str | None, now: Any) -> Any:
    from detector.durations import parse_since

    if text is None:
        return None
    try:
        return parse_since(text, now)
    except ValueError as exc:
        raise UsageError(f"--since {exc}") from None


def _engine_spec(configured: EngineSpec, kind: str | None, scheduler: str | None, workers: int | None) -> EngineSpec:
    """The config's `engine:` with the command line's options over it; --scheduler or --workers
    alone mean --engine dask."""
    if kind == "local" and (scheduler or workers):
        raise UsageError("--scheduler and --workers apply to --engine dask")
    if scheduler is not None and not SCHEDULER_ADDRESS.match(scheduler):
        raise UsageError(f"--scheduler {scheduler!r} is not a Dask scheduler address (tcp://HOST:8786)")
    if scheduler and workers:
        raise UsageError("--workers sizes the local cluster started without --scheduler; "
                         "a scheduler's workers are started with `dask worker`")
    spec = replace(configured, kind=kind or ("dask" if scheduler or workers else configured.kind))
    if scheduler or workers:
        spec = replace(spec, scheduler=scheduler, workers=workers)
    return spec


def _run_scan(spec: EngineSpec, store: Store, config: Config, paths: list[Path], now: Any, engine: Any,
              chunk_size: int | None, since: Any) -> RunResult:
    log = lambda m: say(m, to_stderr=True)  # noqa: E731
    if spec.kind == "dask":
        try:
            from detector.runs.dask_engine import run_dask_scan
        except ImportError as exc:
            raise EngineError(f"--engine dask needs the dask extra: pip install 'logwarden[dask]' ({exc})") from None

        return run_dask_scan(store, config, paths, now, sink=engine, log=log, chunk_size=chunk_size, since=since,
                             spec=spec)
    return run_scan(store, config, paths, now, sink=engine, log=log, chunk_size=chunk_size, since=since)


def finding_line(finding: Finding) -> str:
    entity = ", ".join(f"{k}={v}" for k, v in finding.entity.items())
    return terminal_safe(
        f"[{finding.severity:<8}] {finding.confidence:.2f} {finding.scenario_id} ({entity}) "
        f"x{finding.count} {finding.first_seen:%Y-%m-%d %H:%M:%S}Z..{finding.last_seen:%H:%M:%S}Z "
        f"id={finding.id}"
    )


@cli.command()
@click.argument("path_args", metavar="[PATHS]...", nargs=-1)
@state_options
@click.option("--checklist", "checklist_dir", type=click.Path(path_type=Path), default=None,
              help="checklist directory (default: the config's, else the bundled one)")
@format_option("text", "json")
@click.option("--no-escalate", is_flag=True, help="record findings but do not run the escalation engine")
@click.option("--since", "since_text", default=None, metavar="DURATION|ISO8601",
              help="evaluate only events at or after this (7d, 2h, or an instant); older lines are read and skipped")
@click.option("--baseline", is_flag=True,
              help="first run over existing logs: record offsets and findings, escalate none of this run's findings")
@now_option
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help="exit 3 when a finding at or above this severity was raised or extended")
@click.option("--engine", "engine_kind", type=click.Choice(["local", "dask"]), default=None,
              help="local: this process (default); dask: a Dask cluster (docs/distributed.md)")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="the Dask scheduler to use (default: a local cluster started for this run)")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="worker processes of that local cluster (default: one per core)")
@click.option("--chunk-size", type=click.IntRange(min=4096), default=None, hidden=True)
def scan(
    path_args: tuple[str, ...],
    config: Config,
    checklist_dir: Path | None,
    fmt: str,
    no_escalate: bool,
    since_text: str | None,
    baseline: bool,
    now: Any,
    fail_on: str | None,
    engine_kind: str | None,
    scheduler: str | None,
    workers: int | None,
    chunk_size: int | None,
) -> int:
    """Read what is new in log files or directories (or the configured sources) and detect."""
    from detector.detection.engine import load_engine

    paths = [local_path(text) for text in path_args]  # file:// URLs too (docs/distributed.md)
    require_paths(paths)  # a mistyped path leaves no state or lock behind (exit 2)
    since = _since(since_text, now)
    spec = _engine_spec(config.engine, engine_kind, scheduler, workers)
    engine = load_engine(checklist_dir or config.checklist, now=now)
    if not no_escalate or baseline:
        _check_policy(config)  # a bad policy stops the run before anything is read (exit 2)
    json_out = fmt == "json"
    with StateLock(config.state, "scan"):
        with Store(config.state) as store:
            # a Dask run is one transaction, its run record included: a client that dies leaves
            # the state as it was (docs/distributed.md)
            with store.transaction() if spec.kind == "dask" else contextlib.nullcontext():
                engine.record_checklist(store, now)
                run_id = store.start_run("scan", now, engine.checklist.version)
                result = _run_scan(spec, store, config, paths, now, engine, chunk_size, since)
                store.finish_run(run_id, now, result.stats)
            if baseline:
                passed = _baseline(store, config, now)
                say(f"baseline: {passed} finding(s) recorded, none escalated (`logwarden findings` lists them); "
                    "later runs escalate what is new", to_stderr=True)
            escalation = None if no_escalate else _escalate(store, config, now, json_out)
            findings = _findings_of_run(store, result)
    if json_out:
        emit_json(
            {
                "stats": result.stats,
                "findings": [f.to_dict() for f in findings],
                "defects": [d.to_dict() for d in result.defects],
                "escalation": escalation,
            }
        )
    else:
        for line in _summary_lines(result.stats):
            say(line)
        for defect in result.defects:
            say(terminal_safe(f"DEFECT [{defect.severity}] {defect.kind}: {defect.detail}"))
        if findings:
            say(f"findings raised or extended: {len(findings)}")
            for finding in findings:
                say("  " + finding_line(finding))
        else:
            say("no findings")
    if fail_on is not None and any(severity_rank(f.severity) >= severity_rank(fail_on) for f in findings):
        return 3
    return 0


@cli.command()
@state_options
@format_option("text", "json")
@click.option("--since", default=None, help="only findings seen at or after this ISO-8601 instant")
@click.option("--exercise", is_flag=True, help="include findings raised by exercises")
def findings(config: Config, fmt: str, since: str | None, exercise: bool) -> None:
    """List stored findings (newest activity last)."""
    from detector.cli.common import parse_now

    since_at = parse_now(since) if since else None
    with open_existing(config.state) as store:
        found = store.findings(since=since_at, include_exercise=exercise)
    if fmt == "json":
        emit_json({"findings": [f.to_dict() for f in found]})
        return
    if not found:
        say("no findings")
    for finding in found:
        say(finding_line(finding))
        for reason in finding.confidence_reasons:
            say("    " + terminal_safe(reason))
