"""`logwarden doctor [-c FILE] [--state FILE]`: config, checklist, policy and channels, state,
sources, last run, open defects and the audit trail in one view; exit 1 on any problem
(2 when a config, checklist or policy file is bad), 0 when everything works."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from detector.checklist import load_checklist
from detector.cli.common import emit_json, format_option, now_option, say
from detector.cli.root import cli
from detector.config import Config, load_config
from detector.durations import parse_duration
from detector.errors import UsageError
from detector.runs.doctor import FAIL, OK, WARN, Check, config_check, guarded, run_checks, source_checks, state_check
from detector.textsafe import terminal_safe

_LABELS = {OK: "ok", WARN: "warn", FAIL: "FAIL"}
_BAD_FILES = ("config", "checklist", "policy")


def _checklist(config: Config) -> list[Check]:
    checklist = load_checklist(config.checklist)
    where = "bundled" if checklist.bundled else str(checklist.directory)
    return [Check("checklist", OK, f"{checklist.version}: {len(checklist.scenarios)} scenarios ({where})")]


def _policy_and_channels(config: Config) -> list[Check]:
    from escalation.engine.policyfile import load_policy

    policy = load_policy(config.escalation, config.state.parent)
    channels = ", ".join(f"{name} ({channel.kind})" for name, channel in sorted(policy.channels.items()))
    return [
        Check("policy", OK, f"{policy.source}: {len(policy.policies)} policies, {len(policy.contacts)} contacts"),
        Check("channels", OK, channels or "none",
              "`logwarden escalation test-channels` sends a test message on each"),
    ]


def _delivery_and_audit(config: Config) -> list[Check]:
    """Messages that could not be delivered, and the audit trail's hash chain."""
    from detector.state.store import Store
    from escalation.audit import AuditTrail, default_audit_path

    if not config.state.exists():
        return []
    with Store(config.state) as store:
        tables = {r[0] for r in store.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        failed = store.execute("SELECT channel, COUNT(*) FROM outbox WHERE status = 'failed' GROUP BY channel"
                               ).fetchall() if "outbox" in tables else []
        verified = AuditTrail(store, default_audit_path(config.state)).verify() if "audit" in tables else None
    checks = []
    if failed:
        checks.append(Check("delivery", FAIL, "undelivered messages: " + ", ".join(f"{c} {n}" for c, n in failed),
                            "`logwarden report escalation` names the errors"))
    if verified is not None:
        checks.append(Check("audit", OK if verified.ok else FAIL,
                            f"{verified.entries} hash-chained entries, "
                            + ("intact" if verified.ok else f"{len(verified.problems)} problem(s): {verified.problems[0]}")))
    return checks


@cli.command()
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="logwarden.yaml (default: $LOGWARDEN_CONFIG, ./logwarden.yaml, /etc/logwarden/)")
@click.option("--state", "state_path", type=click.Path(path_type=Path), default=None,
              help="SQLite state file (overrides the config)")
@click.option("--stale-after", default="1h", show_default=True,
              help="a last run older than this is a problem (cron interval plus a margin)")
@format_option("text", "json")
@now_option
def doctor(config_path: Path | None, state_path: Path | None, stale_after: str, fmt: str, now: datetime) -> None:
    """Check that this installation can do its job; exit non-zero on a problem."""
    try:
        stale = parse_duration(stale_after)
    except ValueError as exc:
        raise UsageError(f"--stale-after: {exc}") from None
    holder: list[Config] = []
    checks = guarded("config", lambda: _loaded(holder, config_path, state_path))
    if holder:
        config = holder[0]
        for area, run in (("checklist", lambda: _checklist(config)), ("policy", lambda: _policy_and_channels(config)),
                          ("state", lambda: state_check(config.state)), ("source", lambda: source_checks(config, now)),
                          ("last run", lambda: run_checks(config.state, now, stale)),
                          ("audit", lambda: _delivery_and_audit(config))):
            checks += guarded(area, run)
    _print(checks, fmt)
    failed = [c for c in checks if c.status == FAIL]
    if failed:
        click.get_current_context().exit(2 if any(c.area in _BAD_FILES for c in failed) else 1)


def _loaded(holder: list[Config], config_path: Path | None, state_path: Path | None) -> list[Check]:
    config = load_config(config_path, state_path)
    holder.append(config)
    return config_check(config)


def _print(checks: list[Check], fmt: str) -> None:
    problems = sum(c.status == FAIL for c in checks)
    warnings = sum(c.status == WARN for c in checks)
    if fmt == "json":
        emit_json({"ok": problems == 0, "problems": problems, "warnings": warnings,
                   "checks": [c.to_dict() for c in checks]})
        return
    for check in checks:
        say(terminal_safe(f"{_LABELS[check.status]:<5} {check.area:<10} {check.detail}", 1000))
        if check.hint and check.status != OK:
            say(terminal_safe(f"{'':<16}-> {check.hint}", 1000))
    say(f"{problems} problem(s), {warnings} warning(s)" if problems or warnings else "everything looks fine")
