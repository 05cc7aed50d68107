"""CLI commands of the detector side: scan, findings, match, rules. Thin: parse options,
call the library, print. Part of the CLI root (the one place that may call escalation)."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from detector.cli import scanview
from detector.cli.common import emit_json, format_option, now_option, say, sigma_option, state_options, wait_option
from detector.cli.root import cli
from detector.cli.scanview import finding_line
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


def _print_summary(result: RunResult, findings: list[Finding], quiet: bool, color: bool) -> None:
    """Summary first, then (unless quiet) the details and the findings grouped by actor."""
    if quiet and not findings and not result.defects:
        return
    lines = scanview.headline(result.stats, findings, result.defects, color)
    if not quiet:
        lines += scanview.detail_lines(result.stats) + scanview.defect_lines(result.defects)
        lines += scanview.grouped_lines(findings, color)
    for line in lines:
        click.echo(line, color=color)


def _write_metrics(path: Path, result: RunResult, findings: list[Finding], store: Store, seconds: float) -> None:
    """`--metrics-file`: the run's figures for node_exporter (imported only when asked for)."""
    from detector.daemon.metrics import read_snapshot
    from detector.runs.metricsfile import write_metrics_file

    write_metrics_file(path, result.stats, findings, read_snapshot(store), datetime.now(timezone.utc), seconds)


def _findings_of_run(store: Store, result: RunResult) -> list[Finding]:
    ids: dict[str, None] = {}
    for _, finding_id, _ in store.finding_changes_since(result.finding_seq_before, limit=1_000_000):
        ids.setdefault(finding_id, None)
    found = [store.get_finding(i) for i in ids]
    return sorted((f for f in found if f is not None), key=lambda f: (f.first_seen, f.id))


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
              chunk_size: int | None, since: Any, on_progress: Any) -> RunResult:
    log = lambda m: say(m, to_stderr=True)  # noqa: E731
    if spec.kind == "dask":
        try:
            from detector.runs.dask_engine import run_dask_scan
        except ImportError as exc:
            raise EngineError(f"--engine dask needs the dask extra: pip install 'logwarden[dask]' ({exc})") from None

        return run_dask_scan(store, config, paths, now, sink=engine, log=log, chunk_size=chunk_size, since=since,
                             spec=spec, on_progress=on_progress)
    return run_scan(store, config, paths, now, sink=engine, log=log, chunk_size=chunk_size, since=since,
                    on_progress=on_progress)


def _note_skipped_sigma(sigma: Any) -> None:
    if sigma is not None and sigma.count("skipped"):
        say(f"{sigma.count('loaded')} Sigma rules loaded, {sigma.count('skipped')} skipped "
            "(`logwarden rules sigma-check PATH` says why)", to_stderr=True)


@cli.command()
@click.argument("path_args", metavar="[PATHS]...", nargs=-1)
@state_options
@click.option("--checklist", "checklist_dir", type=click.Path(path_type=Path), default=None,
              help="checklist directory (default: the config's, else the bundled one)")
@sigma_option
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
@click.option("-q", "--quiet", is_flag=True,
              help="print only the summary, and nothing at all when the run found nothing new")
@click.option("--color", "color_choice", type=click.Choice(scanview.COLOR_CHOICES), default="auto",
              show_default=True, help="colour severities (auto: on a terminal, unless NO_COLOR is set)")
@click.option("--progress/--no-progress", default=None,
              help="progress line on stderr for long scans (default: when stderr is a terminal)")
@click.option("--metrics-file", type=click.Path(path_type=Path), default=None,
              help="write this run's figures for node_exporter's textfile collector (a *.prom file, 0644)")
@wait_option
@click.option("--chunk-size", type=click.IntRange(min=4096), default=None, hidden=True)
def scan(
    path_args: tuple[str, ...],
    config: Config,
    checklist_dir: Path | None,
    sigma_paths: tuple[Path, ...],
    fmt: str,
    no_escalate: bool,
    since_text: str | None,
    baseline: bool,
    now: Any,
    fail_on: str | None,
    engine_kind: str | None,
    scheduler: str | None,
    workers: int | None,
    quiet: bool,
    color_choice: str,
    progress: bool | None,
    metrics_file: Path | None,
    wait: float,
    chunk_size: int | None,
) -> int:
    """Read what is new in log files or directories (or the configured sources) and detect."""
    from detector.detection.engine import load_engine

    paths = [local_path(text) for text in path_args]  # file:// URLs too (docs/distributed.md)
    require_paths(paths)  # a mistyped path leaves no state or lock behind (exit 2)
    since = _since(since_text, now)
    spec = _engine_spec(config.engine, engine_kind, scheduler, workers)
    started = time.monotonic()
    if metrics_file is not None:
        from detector.runs.metricsfile import check_metrics_path

        check_metrics_path(metrics_file)
    engine = load_engine(checklist_dir or config.checklist, now=now, sigma=sigma_paths, crs=config.crs)
    _note_skipped_sigma(engine.checklist.extra.get("sigma"))
    if not no_escalate or baseline:
        _check_policy(config)  # a bad policy stops the run before anything is read (exit 2)
    json_out = fmt == "json"
    show_progress = sys.stderr.isatty() and not quiet if progress is None else progress
    meter = scanview.Progress() if show_progress else None
    with StateLock(config.state, "scan", wait=wait):
        with Store(config.state) as store:
            # a Dask run is one transaction, its run record included: a client that dies leaves
            # the state as it was (docs/distributed.md)
            with store.transaction() if spec.kind == "dask" else contextlib.nullcontext():
                _record_checklist(engine, store, now)
                run_id = store.start_run("scan", now, engine.checklist.version)
                result = _run_scan(spec, store, config, paths, now, engine, chunk_size, since,
                                   meter.update if meter else None)
                if meter:
                    meter.finish()
                store.finish_run(run_id, now, result.stats)
            if baseline:
                passed = _baseline(store, config, now)
                say(f"baseline: {passed} finding(s) recorded, none escalated (`logwarden findings` lists them); "
                    "later runs escalate what is new", to_stderr=True)
            findings = _findings_of_run(store, result)
            if not json_out:  # the summary comes before the notifications the stdout channel prints
                _print_summary(result, findings, quiet, scanview.use_color(color_choice))
            escalation = None if no_escalate else _escalate(store, config, now, json_out)
            if metrics_file is not None:
                _write_metrics(metrics_file, result, findings, store, time.monotonic() - started)
    if json_out:
        emit_json(
            {
                "stats": result.stats,
                "findings": (f.to_dict() for f in findings),  # written one by one
                "defects": [d.to_dict() for d in result.defects],
                "escalation": escalation,
            }
        )
    elif not quiet or findings or result.defects:
        closing = scanview.escalation_line(escalation)
        if closing:
            say(closing)
    if fail_on is not None and any(severity_rank(f.severity) >= severity_rank(fail_on) for f in findings):
        return 3
    return 0


def _record_checklist(engine: Any, store: Store, now: datetime) -> None:
    """Record the checklist's version; tell on stderr what changed under it (e.g. another CRS version)."""
    engine.record_checklist(store, now)
    for notice in engine.notices:
        say(terminal_safe(notice), to_stderr=True)


@cli.group(invoke_without_command=True)
@state_options
@format_option("text", "json")
@click.option("--since", default=None, help="only findings seen at or after this ISO-8601 instant")
@click.option("--exercise", is_flag=True, help="include findings raised by exercises")
@click.pass_context
def findings(ctx: click.Context, config: Config, fmt: str, since: str | None, exercise: bool) -> None:
    """List stored findings (newest activity last); `findings show ID` shows one in full."""
    from detector.cli.common import parse_now
    from detector.cli.findingview import evidence_lines, located

    if ctx.invoked_subcommand is not None:
        return
    since_at = parse_now(since) if since else None
    with open_existing(config.state) as store:
        found = store.findings(since=since_at, include_exercise=exercise)
        firsts = located(store, [f.evidence[0] for f in found if f.evidence]) if fmt == "text" else []
    if fmt == "json":
        emit_json({"findings": (f.to_dict() for f in found)})
        return
    if not found:
        say("no findings")
    first_of = {(item["path"], item["offset"]): item for item in firsts}
    for finding in found:
        say(finding_line(finding))
        for reason in finding.confidence_reasons:
            say("    " + terminal_safe(reason))
        if finding.evidence:
            first = first_of[(finding.evidence[0].path, finding.evidence[0].offset)]
            more = len(finding.evidence) - 1
            say("    evidence: " + evidence_lines([first], 300)[0])
            if more:
                say(f"    ... {more} more: logwarden findings show {finding.id}")


@findings.command("show")
@click.argument("finding_id")
@state_options
@click.option("--checklist", "checklist_dir", type=click.Path(path_type=Path), default=None,
              help="checklist directory for the scenario's notes (default: the config's, else the bundled one)")
@format_option("text", "json")
def show_finding(finding_id: str, config: Config, checklist_dir: Path | None, fmt: str) -> None:
    """One finding: facts, every stored evidence line as path:line, and what to do next."""
    from detector.cli.findingview import find_finding, finding_document, finding_text

    with open_existing(config.state) as store:
        finding = find_finding(store, finding_id)
        doc = finding_document(store, finding, checklist_dir or config.checklist, _incident_of(store, finding.id))
    if fmt == "json":
        emit_json(doc)
        return
    for line in finding_text(doc):
        say(line)


def _incident_of(store: Store, finding_id: str) -> str | None:
    """The incident a finding belongs to (the newest, if it was reopened), if escalation ran."""
    has_table = store.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'incident_members'").fetchone()
    if not has_table:
        return None
    row = store.execute(
        "SELECT incident_id FROM incident_members WHERE member_kind = 'finding' AND member_id = ?"
        " ORDER BY attached_at DESC LIMIT 1", (finding_id,)).fetchone()
    return row[0] if row else None
