"""CLI commands of the detector side: scan, findings, match, rules. Thin: parse options,
call the library, print. Part of the CLI root (the one place that may call escalation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from detector.cli.common import emit_json, format_option, now_option, say, state_options
from detector.cli.root import cli
from detector.config import Config
from detector.model import SEVERITIES, Finding, severity_rank
from detector.pipeline import RunResult
from detector.runs.scan import run_scan
from detector.state.lock import StateLock
from detector.state.store import Store
from detector.textsafe import terminal_safe


def _escalate(store: Store, config: Config, now: Any, stdout_is_data: bool) -> dict[str, Any] | None:
    """Hand new findings and defects to the escalation engine (the CLI root wires the two).
    `stdout_is_data`: stdout carries the JSON document, so the stdout channel writes to stderr."""
    from escalation.engine.service import escalate

    return escalate(store, config, now, stdout_is_data=stdout_is_data)


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


def finding_line(finding: Finding) -> str:
    entity = ", ".join(f"{k}={v}" for k, v in finding.entity.items())
    return terminal_safe(
        f"[{finding.severity:<8}] {finding.confidence:.2f} {finding.scenario_id} ({entity}) "
        f"x{finding.count} {finding.first_seen:%Y-%m-%d %H:%M:%S}Z..{finding.last_seen:%H:%M:%S}Z "
        f"id={finding.id}"
    )


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@state_options
@click.option("--checklist", "checklist_dir", type=click.Path(path_type=Path), default=None,
              help="checklist directory (default: the config's, else the bundled one)")
@format_option("text", "json")
@click.option("--no-escalate", is_flag=True, help="record findings but do not run the escalation engine")
@now_option
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help="exit 3 when a finding at or above this severity was raised or extended")
@click.option("--chunk-size", type=click.IntRange(min=4096), default=None, hidden=True)
def scan(
    paths: tuple[Path, ...],
    config: Config,
    checklist_dir: Path | None,
    fmt: str,
    no_escalate: bool,
    now: Any,
    fail_on: str | None,
    chunk_size: int | None,
) -> int:
    """Read what is new in log files or directories (or the configured sources) and detect."""
    from detector.detection.engine import load_engine

    engine = load_engine(checklist_dir or config.checklist, now=now, crs=config.crs)
    if not no_escalate:
        _check_policy(config)  # a bad policy stops the run before anything is read (exit 2)
    json_out = fmt == "json"
    with StateLock(config.state, "scan"):
        with Store(config.state) as store:
            engine.record_checklist(store, now)
            for notice in engine.notices:
                say(terminal_safe(notice), to_stderr=True)
            run_id = store.start_run("scan", now, engine.checklist.version)
            result = run_scan(
                store,
                config,
                list(paths),
                now,
                sink=engine,
                log=lambda m: say(m, to_stderr=True),
                chunk_size=chunk_size,
            )
            store.finish_run(run_id, now, result.stats)
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
    with Store(config.state) as store:
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
