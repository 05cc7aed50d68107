"""What `logwarden scan` prints for people: the summary first, then findings grouped by the
entity behind them (an attacker's address, an account), worst first; colour on a terminal.

Why its own module: a first scan over existing logs raises hundreds of findings, and a reader
must see in the first lines how bad it is and who is behind it, not scroll to the end.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

import click

from detector.model import SEVERITIES, Defect, Finding, severity_rank
from detector.textsafe import terminal_safe

# the entity keys that name who is behind a finding, most telling first
_ACTOR_KEYS = ("source.ip", "user.name", "user.target.name", "host.name")
_STYLES: dict[str, dict[str, Any]] = {
    "critical": {"fg": "red", "bold": True},
    "high": {"fg": "red"},
    "medium": {"fg": "yellow"},
    "low": {"fg": "cyan"},
    "informational": {"dim": True},
}
COLOR_CHOICES = ("auto", "always", "never")


def use_color(choice: str, stream: IO[str] | None = None) -> bool:
    """`--color`: auto = a terminal, unless NO_COLOR is set to anything (no-color.org) or
    TERM is `dumb`; always/never as said."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def severity_label(severity: str, color: bool, width: int = 8) -> str:
    text = f"{severity:<{width}}"
    return click.style(text, **_STYLES.get(severity, {})) if color else text


def by_urgency(findings: Iterable[Finding]) -> list[Finding]:
    """Worst severity first, then earliest evidence, then id (stable output)."""
    return sorted(findings, key=lambda f: (-severity_rank(f.severity), f.first_seen, f.id))


def actor_of(entity: dict[str, str]) -> str:
    """The `key=value` that names who is behind a finding (its address before its account)."""
    for key in _ACTOR_KEYS:
        if entity.get(key):
            return f"{key}={entity[key]}"
    return ", ".join(f"{k}={v}" for k, v in sorted(entity.items())) or "(no entity)"


@dataclass(frozen=True)
class ActorGroup:
    actor: str
    findings: tuple[Finding, ...]  # by urgency

    @property
    def worst(self) -> str:
        return self.findings[0].severity


def group_by_actor(findings: Iterable[Finding]) -> list[ActorGroup]:
    """Findings per actor; groups ordered by their worst finding (severity, then time)."""
    groups: dict[str, list[Finding]] = {}
    for finding in by_urgency(findings):
        groups.setdefault(actor_of(finding.entity), []).append(finding)
    return [ActorGroup(actor, tuple(members)) for actor, members in groups.items()]


def severity_counts(findings: Iterable[Finding], color: bool = False) -> str:
    """`13 critical, 60 high, 4 low` (worst first, zero counts left out)."""
    counts = {s: 0 for s in SEVERITIES}
    for finding in findings:
        counts[finding.severity] += 1
    parts = [
        (click.style(f"{n} {s}", **_STYLES[s]) if color else f"{n} {s}")
        for s, n in reversed(counts.items()) if n
    ]
    return ", ".join(parts)


def headline(stats: dict[str, Any], findings: list[Finding], defects: list[Defect], color: bool) -> list[str]:
    """The first lines of the output: what was read, how bad it is, how many are behind it."""
    lines = [
        f"logwarden scan: {stats['files']} file(s), {stats['bytes_read']:,} bytes, "
        f"{stats['lines_read']:,} lines: {stats['lines_parsed']:,} parsed, "
        f"{stats['lines_unparsed']:,} unparsed, {stats['lines_blank']:,} blank; "
        f"{stats['gaps']} gap(s)"
    ]
    if findings:
        actors = len({actor_of(f.entity) for f in findings})
        lines.append(
            f"findings raised or extended: {len(findings)} ({severity_counts(findings, color)}) "
            f"from {actors} actor(s)"
        )
    else:
        lines.append("no findings")
    if defects:
        lines.append(f"defects: {len(defects)} ({severity_counts(defects, color)})")  # type: ignore[arg-type]
    return lines


def detail_lines(stats: dict[str, Any]) -> list[str]:
    """Per-format counts, unparsed reasons, repaired lines."""
    lines: list[str] = []
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


def finding_line(finding: Finding, color: bool = False, with_entity: bool = True) -> str:
    """One finding on one line, log-derived text escaped."""
    entity = ", ".join(f"{k}={v}" for k, v in finding.entity.items())
    rest = terminal_safe(
        f"{finding.confidence:.2f} {finding.scenario_id}{f' ({entity})' if with_entity else ''} "
        f"x{finding.count} {finding.first_seen:%Y-%m-%d %H:%M:%S}Z..{finding.last_seen:%H:%M:%S}Z "
        f"id={finding.id}"
    )
    return f"[{severity_label(terminal_safe(finding.severity, 20), color)}] {rest}"


def grouped_lines(findings: list[Finding], color: bool) -> list[str]:
    """Findings under the actor behind them, worst actor first; an actor with one finding
    gets one line."""
    if not findings:
        return []
    lines: list[str] = ["", "by actor, worst first:"]
    for group in group_by_actor(findings):
        if len(group.findings) == 1:
            lines.append("  " + finding_line(group.findings[0], color))
            continue
        lines.append(f"  {terminal_safe(group.actor, 300)}: {len(group.findings)} findings")
        for finding in group.findings:
            lines.append("    " + finding_line(finding, color, with_entity=_entity_adds(finding, group.actor)))
    return lines


def _entity_adds(finding: Finding, actor: str) -> bool:
    """Show the entity on the finding's line only when it says more than the group's heading."""
    return ", ".join(f"{k}={v}" for k, v in finding.entity.items()) != actor


def defect_lines(defects: list[Defect]) -> list[str]:
    return [terminal_safe(f"DEFECT [{d.severity}] {d.kind}: {d.detail}") for d in defects]


def escalation_line(summary: dict[str, Any] | None) -> str | None:
    """The closing line: what the escalation engine did with this run's findings."""
    if summary is None:
        return "escalation not run (--no-escalate): `logwarden escalation tick` hands the findings on"
    d = summary["delivery"]
    failed = f", {d['failed']} FAILED" if d["failed"] else ""
    retry = f", {d['retried']} to retry" if d["retried"] else ""
    return (
        f"escalation: {d['sent']} notification(s) sent{retry}{failed}; "
        f"{summary['active_incidents']} active incident(s): `logwarden incidents list` to triage"
    )


class Progress:
    """A one-line progress report on stderr for scans that take more than `after` seconds,
    redrawn at most every `every` seconds and erased at the end."""

    def __init__(self, stream: IO[str] | None = None, after: float = 3.0, every: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.after = after
        self.every = every
        self.clock = clock
        self.started = clock()
        self.drawn_at: float | None = None
        self.width = 0

    def update(self, done: int, planned: int | None) -> None:
        now = self.clock()
        if now - self.started < self.after or (self.drawn_at is not None and now - self.drawn_at < self.every):
            return
        self.drawn_at = now
        elapsed = now - self.started
        if planned and done <= planned:
            text = f"logwarden scan: {done / planned:4.0%} of {_size(planned)} read, {elapsed:.0f}s"
        else:
            text = f"logwarden scan: {_size(done)} read, {elapsed:.0f}s"
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def finish(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover - the loop returns
