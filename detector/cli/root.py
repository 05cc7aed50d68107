"""The `logwarden` command: thin wiring of options to the library (DESIGN §9).

This is the one place where `detector` and `escalation` meet.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from detector.daemon.log import command_logging
from detector.errors import LogwardenError, ProblemsError
from detector.textsafe import terminal_safe

# Which module defines each command: a run imports only what its command needs (a cron
# `scan` does not load the report templates, the daemon or the channels' CLI).
_COMMAND_MODULES = {
    "scan": "detector.cli.commands",
    "findings": "detector.cli.commands",
    "match": "detector.cli.rules",
    "rules": "detector.cli.rules",
    "watch": "detector.cli.watch",
    "incidents": "escalation.cli.incidents",
    "escalation": "escalation.cli.incidents",
    "report": "escalation.cli.reports",
    "exercise": "escalation.cli.reports",
    "doctor": "detector.cli.doctor",
}
_loaded: set[str] = set()

# Arrow's buffers from the C library's allocator rather than Arrow's default (mimalloc), which
# keeps freed pages mapped: measured on 1M access lines, peak RSS 305 -> 250 MB for a scan
# and about 100 MB less with the OWASP CRS on, at the same CPU time. Read by Arrow when it
# first allocates, so set before any command imports pyarrow; a value in the environment wins.
_ARROW_POOL = ("ARROW_DEFAULT_MEMORY_POOL", "system")


def _load(module_name: str) -> None:
    """Import a command module once; the escalation ones add their groups through `register`."""
    if module_name in _loaded:
        return
    _loaded.add(module_name)
    module = importlib.import_module(module_name)
    register = getattr(module, "register", None)
    if register is not None:
        register(cli)


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMAND_MODULES)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _COMMAND_MODULES:
            _load(_COMMAND_MODULES[name])
        return super().get_command(ctx, name)


_debug = {"on": False}


def _set_debug(_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    _debug["on"] = value or os.environ.get("LOGWARDEN_DEBUG", "") not in ("", "0")


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="logwarden")
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug,
              help="on an error, print the Python traceback too (for a bug report)")
def cli() -> None:
    """logwarden: log-based security incident detection with a real escalation path."""


def _register_subcommands() -> None:
    for module_name in dict.fromkeys(_COMMAND_MODULES.values()):
        _load(module_name)


def build_cli() -> click.Group:
    """The fully wired command group (tests drive it with click's CliRunner)."""
    _register_subcommands()
    return cli


def _fail(exc: BaseException, line: str, code: int) -> None:
    """One line on stderr (the traceback before it only with --debug), then exit."""
    if _debug["on"]:
        traceback.print_exception(exc, file=sys.stderr)
    click.echo(line, err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turn typed errors into one clear line and an exit code."""
    _debug["on"] = os.environ.get("LOGWARDEN_DEBUG", "") not in ("", "0")
    os.environ.setdefault(*_ARROW_POOL)
    command_logging()
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
        _fail(exc, f"logwarden: error: {terminal_safe(str(exc), limit=None)}", exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback with --debug
        _fail(exc, terminal_safe(f"logwarden: internal error: {type(exc).__name__}: {exc} (run again with "
                                 "--debug for the traceback, and report it)", limit=None), 1)
    sys.exit(code if isinstance(code, int) else 0)
