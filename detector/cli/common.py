"""Options and output helpers shared by every CLI command (detector's and escalation's)."""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from detector.config import Config, load_config
from detector.errors import UsageError
from detector.state.failures import state_failure

F = TypeVar("F", bound=Callable[..., Any])


def parse_now(value: str | None) -> datetime:
    """`--now` (ISO-8601, naive = UTC) or the wall clock."""
    if value is None:
        return datetime.now(timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--now {value!r} is not ISO-8601 (e.g. 2026-11-23T10:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def state_options(func: F) -> F:
    """-c/--config and --state, resolved into a Config passed as `config`."""

    @click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), default=None,
                  help="logwarden.yaml (default: $LOGWARDEN_CONFIG, ./logwarden.yaml, /etc/logwarden/)")
    @click.option("--state", "state_path", type=click.Path(path_type=Path), default=None,
                  help="SQLite state file (overrides the config)")
    @functools.wraps(func)
    def wrapper(*args: Any, config_path: Path | None, state_path: Path | None, **kwargs: Any) -> Any:
        config = kwargs["config"] = load_config(config_path, state_path)
        try:
            return func(*args, **kwargs)
        except (sqlite3.Error, OSError) as exc:  # one line naming the state and what to do
            failure = state_failure(exc, config.state)
            if failure is None:
                raise
            raise failure from exc

    return wrapper  # type: ignore[return-value]


def now_option(func: F) -> F:
    """--now ISO8601 for reproducible time, passed as `now` (aware UTC datetime)."""

    @click.option("--now", "now_text", default=None, help="pretend the current time is this ISO-8601 instant")
    @functools.wraps(func)
    def wrapper(*args: Any, now_text: str | None, **kwargs: Any) -> Any:
        kwargs["now"] = parse_now(now_text)
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def wait_option(func: F) -> F:
    """--wait SECONDS: wait for another run holding the state instead of exiting 75 at once."""
    return click.option(
        "--wait", "wait", type=click.FloatRange(min=0), default=0.0, metavar="SECONDS",
        help="if another logwarden run holds the state, wait up to this long for it (default: exit 75 at once)",
    )(func)


def format_option(*choices: str, default: str = "text") -> Callable[[F], F]:
    return click.option(
        "--format", "fmt", type=click.Choice(list(choices)), default=default, show_default=True,
        help="output format; json prints one document on stdout",
    )


def sigma_option(func: F) -> F:
    """--sigma PATH (repeatable): Sigma rule files or folders loaded next to the checklist."""
    return click.option(
        "--sigma", "sigma_paths", multiple=True, type=click.Path(path_type=Path),
        help="Sigma rule file or folder, loaded next to the checklist's scenarios (repeatable)",
    )(func)


def emit_json(document: Any) -> None:
    """One JSON document on stdout (the machine-readable contract, DESIGN §9)."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str))
    sys.stdout.write("\n")
    sys.stdout.flush()


def say(message: str, to_stderr: bool = False) -> None:
    """Human text; goes to stderr when stdout carries JSON."""
    click.echo(message, err=to_stderr)


@dataclass(frozen=True)
class Invocation:
    """What a command needs besides its own arguments."""

    config: Config
    now: datetime
