"""CLI: `logwarden report escalation|maturity` and `logwarden exercise` (DESIGN §9).

Thin: resolve the config, state, period and policy, call the report builders or the exercise,
print or write the result. A report file holds log lines and audit data, so it is created 0600.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from detector.cli.common import emit_json, format_option, now_option, say, state_options
from detector.config import Config
from detector.errors import PolicyError
from detector.state.existing import open_existing
from detector.state.private import private_dirs
from detector.state.store import Store
from detector.textsafe import terminal_safe
from escalation.reports.periods import (
    DEFAULT_ESCALATION_DAYS,
    DEFAULT_MATURITY_DAYS,
    resolve_period,
)

period_options = [
    click.option("--since", default=None, help="start of the period (ISO-8601; default: 30 days, maturity: 365 days before --until)"),
    click.option("--until", default=None, help="end of the period (ISO-8601; default: now)"),
]
output_option = click.option(
    "-o", "--output", "output", type=click.Path(path_type=Path), default=None,
    help="write the report to FILE (created 0600) instead of stdout",
)


def _with(options: list[Any]):  # type: ignore[no-untyped-def]
    def wrap(func):  # type: ignore[no-untyped-def]
        for option in reversed(options):
            func = option(func)
        return func

    return wrap


def write_report(text: str, output: Path | None) -> None:
    """stdout, or a new 0600 file (replaced atomically so a reader never sees half a report)."""
    if output is None:
        click.echo(text, nl=False)
        return
    private_dirs(output.parent)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    say(f"logwarden: wrote {terminal_safe(str(output))}", to_stderr=True)


def _open_state(config: Config) -> Store:
    return open_existing(config.state)


def _policy(config: Config) -> tuple[Any, str | None]:
    from escalation.engine.policyfile import load_policy

    try:
        return load_policy(config.escalation, config.state.parent), None
    except PolicyError as exc:
        return None, "; ".join(exc.problems)


def _audit(store: Store, config: Config) -> Any:
    from escalation.audit import AuditTrail, default_audit_path

    return AuditTrail(store, default_audit_path(config.state)).verify()


def register(cli: click.Group) -> None:
    """Add `report escalation|maturity` and `exercise` to the root command."""
    cli.add_command(report)
    cli.add_command(exercise)


@click.group()
def report() -> None:
    """Reports for a security lead: escalation timelines and SAMM maturity evidence."""


@report.command("escalation")
@state_options
@format_option("html", "md", "json", default="md")
@_with(period_options)
@output_option
@now_option
def escalation_report(config: Config, fmt: str, since: str | None, until: str | None, output: Path | None,
                      now: datetime) -> None:
    """Per incident: first evidence to resolution; across incidents: response times by class of
    day, deadline breaches and escalations, channel health, the policy, the audit trail."""
    from escalation.reports.escalation_report import build_escalation_report
    from escalation.reports.render import render

    period = resolve_period(since, until, now, DEFAULT_ESCALATION_DAYS)
    policy_set, policy_error = _policy(config)
    with _open_state(config) as store:
        doc = build_escalation_report(store, period, now, policy_set, _audit(store, config), policy_error=policy_error)
    write_report(render(doc, fmt), output)


@report.command("maturity")
@state_options
@click.option("--checklist", "checklist_dir", type=click.Path(path_type=Path), default=None,
              help="checklist directory (default: the config's, else the bundled one)")
@format_option("html", "md", "json", default="md")
@_with(period_options)
@output_option
@now_option
def maturity_report(config: Config, checklist_dir: Path | None, fmt: str, since: str | None, until: str | None,
                    output: Path | None, now: datetime) -> None:
    """OWASP SAMM Incident Management (O-IM-1-A .. O-IM-3-B): answers computed from the state,
    the checklist, the policy and the application inventory, with the evidence behind them."""
    from detector.checklist import load_checklist
    from escalation.reports.evidence import Inputs
    from escalation.reports.maturity import build_maturity_report
    from escalation.reports.render import render

    period = resolve_period(since, until, now, DEFAULT_MATURITY_DAYS)
    checklist = load_checklist(checklist_dir or config.checklist)
    policy_set, policy_error = _policy(config)
    with _open_state(config) as store:
        inputs = Inputs(store, config, checklist, policy_set, now, period, _audit(store, config), policy_error)
        doc = build_maturity_report(inputs)
    write_report(render(doc, fmt), output)


@click.command()
@click.argument("scenarios", nargs=-1)
@state_options
@click.option("--checklist", "checklist_dir", type=click.Path(path_type=Path), default=None,
              help="checklist directory (default: the config's, else the bundled one)")
@click.option("--live", is_flag=True,
              help="replay into the live state (every finding, incident and notification marked EXERCISE) "
                   "instead of an isolated one")
@format_option("text", "json")
@now_option
def exercise(scenarios: tuple[str, ...], config: Config, checklist_dir: Path | None, live: bool, fmt: str,
             now: datetime) -> int:
    """Incident and emergency exercise: replay scenarios' positive samples with fresh timestamps
    through detection and escalation; record what was detected and how fast it was notified."""
    from detector.checklist import load_checklist
    from escalation.exercise import run_exercise

    checklist = load_checklist(checklist_dir or config.checklist)
    json_out = fmt == "json"
    result = run_exercise(config, checklist, list(scenarios) or None, now, live=live, stdout_is_data=json_out,
                          log=lambda m: say(terminal_safe(m), to_stderr=True))
    if json_out:
        emit_json(result.to_dict())
    else:
        for r in result.results:
            mark = "ok  " if r.detected else "MISS"
            notified = (f"notified after {r.notify_seconds:g}s at level {r.level}" if r.notify_seconds is not None
                        else "not notified")
            say(terminal_safe(f"{mark} {r.scenario_id:<36} {notified}"))
            for problem in r.problems:
                say("       " + terminal_safe(problem))
            if r.incident_id:
                say("       " + terminal_safe(f"practise: logwarden incidents ack {r.incident_id} --by <your name>"))
        say(f"exercise {result.id}: {result.detected}/{len(result.results)} detected, {result.notified} notified; "
            "recorded for `logwarden report maturity`")
        if any(r.incident_id for r in result.results):
            say("acknowledge each drill incident as you would a real one (same -c/--state as this exercise): "
                "the time to acknowledge is recorded with the exercise")
    return 0 if result.detected == len(result.results) and result.results else 1
