"""The `logwarden` command: thin wiring of options to the library (DESIGN §9).

This is the one place where `detector` and `escalation` meet.
"""

from __future__ import annotations

import sys

import click

from .errors import LogwardenError, ProblemsError
from .textsafe import terminal_safe


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="logwarden")
def cli() -> None:
    """logwarden: log-based security incident detection with a real escalation path."""


def _register_subcommands() -> None:
    global _registered
    if _registered:
        return
    _registered = True
    from . import cli_commands, cli_rules, cli_watch  # noqa: F401  (register scan, findings, match, rules, watch)
    from escalation.cli import register as register_escalation

    register_escalation(cli)
    from escalation.cli_reports import register as register_reports

    register_reports(cli)


_registered = False


def build_cli() -> click.Group:
    """The fully wired command group (tests drive it with click's CliRunner)."""
    _register_subcommands()
    return cli


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turn typed errors into one clear line and an exit code."""
    _register_subcommands()
    try:
        code = cli.main(args=argv, prog_name="logwarden", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("logwarden: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code in (1, 2) else exc.exit_code)
    except ProblemsError as exc:
        for problem in exc.problems:
            click.echo(terminal_safe(problem, limit=None), err=True)
        click.echo(f"logwarden: {len(exc.problems)} problem(s); nothing was applied", err=True)
        sys.exit(exc.exit_code)
    except LogwardenError as exc:
        click.echo(f"logwarden: error: {terminal_safe(str(exc), limit=None)}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
