"""CLI: `logwarden rules validate|list|test|history` and `logwarden match`."""

from __future__ import annotations

from pathlib import Path

import click

from detector.checklist import load_checklist
from detector.cli.common import emit_json, format_option, now_option, say, sigma_option, state_options
from detector.cli.matchview import MatchSummary, match_files
from detector.cli.root import cli
from detector.config import Config
from detector.errors import ProblemsError
from detector.textsafe import terminal_safe

checklist_option = click.option(
    "--checklist", "checklist_dir", type=click.Path(path_type=Path), default=None,
    help="checklist directory (default: the bundled checklist)",
)


@cli.group()
def rules() -> None:
    """Validate, list, test and trace the checklist of attack scenarios."""


@rules.command()
@checklist_option
@sigma_option
@format_option("text", "json")
def validate(checklist_dir: Path | None, sigma_paths: tuple[Path, ...], fmt: str) -> None:
    """Check every scenario; print every problem as file:line, exit 2 if any."""
    if fmt == "text":
        checklist = load_checklist(checklist_dir, sigma_paths)
        say(f"checklist {checklist.version}: {len(checklist.scenarios)} scenarios, no problems")
        sigma = checklist.extra.get("sigma")
        if sigma is not None:
            from detector.checklist.sigma.report import totals_lines

            for line in totals_lines(sigma):
                say(terminal_safe(line))
        return
    try:
        checklist = load_checklist(checklist_dir, sigma_paths)
    except ProblemsError as exc:
        emit_json({"ok": False, "problems": exc.problems})
        click.get_current_context().exit(exc.exit_code)
    emit_json({"ok": True, "problems": [], "checklist": {
        "version": checklist.version, "directory": str(checklist.directory), "scenarios": len(checklist.scenarios)}})


@rules.command(name="list")
@checklist_option
@sigma_option
@format_option("text", "json")
def list_rules(checklist_dir: Path | None, sigma_paths: tuple[Path, ...], fmt: str) -> None:
    """List the scenarios of the checklist."""
    checklist = load_checklist(checklist_dir, sigma_paths)
    rows = [
        {
            "id": s.id,
            "version": s.version,
            "title": s.title,
            "status": s.status,
            "severity": s.severity,
            "confidence": s.confidence,
            "attack": list(s.attack),
            "requires": list(s.requires),
            "correlation": s.correlation.type if s.correlation else None,
            "provenance": [{"kind": p.kind, "ref": p.ref} for p in s.provenance],
            "last_reviewed": s.last_reviewed.isoformat() if s.last_reviewed else None,
            "owner": s.owner,
            "tags": list(s.tags),
            "author": s.author,
        }
        for s in checklist.scenarios
    ]
    if fmt == "json":
        emit_json({"checklist": {"version": checklist.version, "owner": checklist.owner}, "scenarios": rows})
        return
    say(f"checklist {checklist.version} ({len(rows)} scenarios, owner {checklist.owner})")
    for row in rows:
        corr = row["correlation"] or "single"
        say(f"  {row['id']:<36} {row['version']:<8} {row['severity']:<9} {corr:<17} {','.join(row['requires'])}")


@rules.command(name="test")
@checklist_option
@click.argument("scenarios", nargs=-1)
@format_option("text", "json")
def run_samples(checklist_dir: Path | None, scenarios: tuple[str, ...], fmt: str) -> int:
    """Run every scenario's positive and negative samples through the real pipeline."""
    from detector.runs.sampletest import run_checklist_tests

    checklist = load_checklist(checklist_dir, require_samples=True)
    results = run_checklist_tests(checklist, list(scenarios) or None)
    failed = [r for r in results if not r.passed]
    if fmt == "json":
        emit_json(
            {
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "results": [
                    {
                        "scenario": r.scenario_id,
                        "log": r.sample.log,
                        "positive": r.sample.positive,
                        "passed": r.passed,
                        "problems": list(r.problems),
                        "findings": [f.to_dict() for f in r.findings],
                    }
                    for r in results
                ],
            }
        )
    else:
        for r in results:
            mark = "ok  " if r.passed else "FAIL"
            kind = "positive" if r.sample.positive else "negative"
            say(f"{mark} {r.scenario_id:<36} {kind:<8} {r.sample.log}")
            for problem in r.problems:
                say("       " + terminal_safe(problem))
        say(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


@rules.command()
@state_options
@checklist_option
@format_option("text", "json")
@now_option
def history(config: Config, checklist_dir: Path | None, fmt: str, now) -> None:  # type: ignore[no-untyped-def]
    """Checklist versions seen by this state, with what changed between them."""
    from detector.state.history import history as load_history
    from detector.state.history import overdue_reviews
    from detector.state.existing import open_existing

    with open_existing(config.state) as store:
        entries = load_history(store)
    overdue = overdue_reviews(load_checklist(checklist_dir or config.checklist), now)
    if fmt == "json":
        emit_json(
            {
                "versions": [
                    {
                        "version": e.load.version,
                        "content_hash": e.load.content_hash,
                        "loaded_at": e.load.loaded_at.isoformat(),
                        "source": e.load.source,
                        "added": e.added,
                        "removed": e.removed,
                        "changed": [{"id": i, "from": a, "to": b} for i, a, b in e.changed],
                        "unversioned_changes": e.unversioned,
                    }
                    for e in entries
                ],
                "overdue_reviews": [{"subject": s, "detail": m} for s, m in overdue],
            }
        )
        return
    if not entries:
        say("no checklist recorded yet (run a scan first)")
    for e in entries:
        say(f"{e.load.loaded_at:%Y-%m-%d %H:%M}Z  checklist {e.load.version}  ({e.load.source})")
        for sid in e.added:
            say(f"    + {sid} {e.load.scenarios[sid]['version']}")
        for sid in e.removed:
            say(f"    - {sid}")
        for sid, old, new in e.changed:
            say(f"    ~ {sid} {old} -> {new}")
        for sid in e.unversioned:
            say(f"    ! {sid} changed without a version bump")
    for _, message in overdue:
        say(f"overdue: {message}")


@rules.command(name="crs")
@click.option("--check", "crs_path", type=click.Path(path_type=Path), required=True,
              help="a CRS install: the folder holding rules/ (or rules/ itself)")
@click.option("--paranoia", type=click.IntRange(1, 4), default=1, show_default=True)
@click.option("--threshold", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--exclude", "exclusions", multiple=True, help="rule id, id range or tag (repeatable)")
@click.option("--verbose", is_flag=True, help="also list control and response rules")
@format_option("text", "json")
def crs_check(crs_path: Path, paranoia: int, threshold: int, exclusions: tuple[str, ...], verbose: bool, fmt: str) -> None:
    """Load an OWASP CRS install: which rules run over access logs, which cannot and why."""
    from detector.checklist.crs import load_crs
    from detector.checklist.crs.report import check_lines, check_report
    from detector.config import CrsSettings

    settings = CrsSettings(path=crs_path, paranoia=paranoia, threshold=threshold, exclusions=exclusions)
    report = check_report(load_crs(crs_path), settings)
    if fmt == "json":
        emit_json(report)
        return
    for line in check_lines(report, verbose):
        say(terminal_safe(line))


@rules.command(name="sigma-check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@format_option("text", "json")
def sigma_check(paths: tuple[Path, ...], fmt: str) -> int:
    """Load Sigma rule files or folders: per rule, loaded or skipped with its reason.

    Exit 0 when every in-scope rule loads, 1 when some are skipped, 2 when a file is not
    valid Sigma (each such problem names its file and line)."""
    from detector.checklist.sigma.checklist import check_paths
    from detector.checklist.sigma.report import logsource_table, rule_lines, totals_lines

    load = check_paths(list(paths))
    if fmt == "json":
        emit_json({"problems": list(load.problems), "rules": [o.to_dict() for o in load.outcomes],
                   "in_scope": load.in_scope, "loaded": load.count("loaded")})
    elif load.problems:
        for line in load.problems:
            say(terminal_safe(line, limit=None))
    else:
        for line in [*rule_lines(load), *totals_lines(load), *logsource_table(load)]:
            say(terminal_safe(line, limit=None))
    if load.problems:
        say(f"logwarden: {len(load.problems)} problem(s) (file:line above); nothing was loaded", to_stderr=True)
        return 2
    return 1 if load.count("skipped") else 0


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@checklist_option
@sigma_option
@format_option("text", "json")
@click.option("--all", "show_all", is_flag=True, help="also list parsed lines that match no rule")
@click.option("--timezone", "timezone_name", default=None, help="zone for timestamps without one")
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="logwarden.yaml whose `crs:` section runs the OWASP CRS too")
def match(
    files: tuple[Path, ...], checklist_dir: Path | None, sigma_paths: tuple[Path, ...], fmt: str, show_all: bool,
    timezone_name: str | None, config_path: Path | None,
) -> None:
    """Per-line rule hits and extracted fields (stateless, for debugging rules)."""
    from detector.config import load_config

    crs_settings = load_config(config_path).crs
    checklist = load_checklist(checklist_dir, sigma_paths)
    crs = None
    if crs_settings is not None:
        from detector.checklist.crs.scenario import with_crs
        from detector.detection.crs.stage import load_crs_stage

        crs = load_crs_stage(crs_settings)
        checklist = with_crs(checklist, crs.ruleset, crs_settings)
    summary = MatchSummary()
    rows = match_files(list(files), checklist, summary, timezone_name, show_all, crs=crs)
    if fmt == "json":
        emit_json({"matches": [r.to_dict() for r in rows], "summary": summary.__dict__})
        return
    for row in rows:
        rules_text = ", ".join(row.rules) or "-"
        say(terminal_safe(f"{row.path}:{row.line_no} [{row.kind}] {rules_text}"))
        for key in ("source.ip", "user.name", "event.action", "event.outcome", "url.original", "http.response.status_code", "user_agent.original"):
            if key in row.fields:
                say("    " + terminal_safe(f"{key}: {row.fields[key]}"))
        if row.fields.get("crs.matched"):
            say("    " + terminal_safe(f"crs.anomaly_score: {row.fields['crs.anomaly_score']}"))
            for detail in str(row.fields["crs.matched"]).split(" | "):
                say("      " + terminal_safe(detail))
    say(f"{summary.files} file(s), {summary.lines} lines, {summary.parsed} parsed, {summary.matched} matching a rule")
