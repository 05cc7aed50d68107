"""Typed errors. The CLI edge turns each into one clear line and an exit code."""

from __future__ import annotations


class LogwardenError(Exception):
    """Base class; `exit_code` is what the CLI exits with."""

    exit_code = 1


class UsageError(LogwardenError):
    """Bad command-line usage or an unusable path."""

    exit_code = 2


class ProblemsError(LogwardenError):
    """A bad input file; carries every problem found, each as `file:line: what to fix`."""

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ConfigError(ProblemsError):
    """A bad logwarden.yaml."""


class RuleError(ProblemsError):
    """A bad checklist (rules/)."""


class PolicyError(ProblemsError):
    """A bad escalation policy."""


class StateError(LogwardenError):
    """The state database cannot be used (corrupt, newer schema, unwritable)."""


class LockError(LogwardenError):
    """Another logwarden process holds the state lock (or keeps the database busy): exit 75,
    EX_TEMPFAIL of sysexits.h, so cron and systemd tell "try later" from a failure."""

    exit_code = 75


class NotFoundError(LogwardenError):
    """A named object (incident, finding) does not exist."""

    exit_code = 2
