"""Log-source health: a source that is missing or has gone quiet is a blind spot, so it becomes
a *log-source gap* defect, stored and escalated like a finding of its severity.

- **silent**: no file of a source was written for longer than its `max_silence` (from the
  files' modification times, the one clock the writing application controls);
- **missing**: a source matches no file (`scan.missing_source_defects`); the daemon waits a
  short grace period first, because a rename-then-create rotation has an instant with no file.

Unreadable files are reported by the pipeline's plan (`source-unreadable`); the daemon resolves
such a defect once the file is read again or is gone. A condition that clears resolves its
defect, so a recurrence is a new event for escalation.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from detector.config import Config, SourceSpec
from detector.durations import format_duration
from detector.model import Defect, iso, stable_hash
from detector.sources.discovery import LogFile
from detector.sources.scope import Sources, missing_source_defects
from detector.state.store import Store

SILENT_KIND = "source-silent"
MISSING_KIND = "source-missing"
UNREADABLE_KIND = "source-unreadable"


def silent_id(spec: SourceSpec) -> str:
    return "silent-" + stable_hash(spec.path)


def missing_id(path: str) -> str:
    """Same id as `scan.missing_source_defects` gives, so either driver resolves the other's."""
    return "missing-" + stable_hash(path)


def newest_write(files: Iterable[LogFile]) -> datetime | None:
    """Latest modification time among `files` (None when none can be stat'ed)."""
    newest: float | None = None
    for file in files:
        try:
            mtime = os.stat(file.path).st_mtime
        except OSError:
            continue
        newest = mtime if newest is None else max(newest, mtime)
    return None if newest is None else datetime.fromtimestamp(newest, timezone.utc)


def _severity(config: Config, spec: SourceSpec) -> str:
    criticality = next((a.criticality for a in config.applications if a.name == spec.application), "medium")
    return "high" if criticality in ("high", "critical") else "medium"


@dataclass(frozen=True)
class SilenceReport:
    silent: list[Defect]  # sources quiet for longer than their max_silence
    cleared: list[str]  # ids of silent-source defects whose source wrote in time
    next_due: datetime | None  # when the next source would turn silent if nothing is written


def silence_check(config: Config, files: list[LogFile], now: datetime) -> SilenceReport:
    """Judge every source with a `max_silence` and at least one file (one without files is
    *missing*, not silent)."""
    by_spec: dict[str, list[LogFile]] = {}
    for file in files:
        if file.source is not None:
            by_spec.setdefault(file.source.path, []).append(file)
    silent: list[Defect] = []
    cleared: list[str] = []
    next_due: datetime | None = None
    for spec in config.sources():
        if spec.max_silence is None or spec.path not in by_spec:
            continue
        last = newest_write(by_spec[spec.path])
        if last is None:
            continue
        quiet = now - last
        if quiet <= spec.max_silence:
            cleared.append(silent_id(spec))
            due = last + spec.max_silence
            next_due = due if next_due is None else min(next_due, due)
            continue
        silent.append(
            Defect(
                id=silent_id(spec),
                kind=SILENT_KIND,
                severity=_severity(config, spec),
                subject=spec.path,
                detail=(
                    f"log source {spec.path} (application {spec.application or '?'}) wrote nothing for "
                    f"{format_duration(quiet)}, longer than its max_silence of "
                    f"{format_duration(spec.max_silence)} (last write {iso(last)}): events may not be logged"
                ),
                first_seen=now,
                last_seen=now,
            )
        )
    return SilenceReport(silent, cleared, next_due)


def record_silent_sources(store: Store, config: Config, files: list[LogFile], now: datetime) -> list[Defect]:
    """Store silent-source defects, resolve those whose source wrote again; return the silent ones."""
    report = silence_check(config, files, now)
    with store.transaction():
        for defect in report.silent:
            store.put_defect(defect, now)
        for defect_id in report.cleared:
            store.resolve_defect(defect_id, now)
    return report.silent


class SourceHealth:
    """The daemon's view of source health across passes (remembers since when a source is
    missing, and when the next check is due so the loop can wake for it)."""

    def __init__(self, missing_grace: timedelta = timedelta(seconds=2)) -> None:
        self.missing_grace = missing_grace
        self._missing_since: dict[str, datetime] = {}
        self.next_due: datetime | None = None

    def check(
        self,
        store: Store,
        config: Config,
        sources: Sources,
        expected: Iterable[str],
        now: datetime,
        unreadable: Iterable[str] = (),
    ) -> list[Defect]:
        """Record this pass's defects (silent, and missing for longer than the grace) and resolve
        the ones that cleared. `expected` names every source (config glob or command-line path);
        `unreadable` the files this pass's plan could not read (their defects stay open; those of
        files that were read, or are gone, are resolved). Returns the defects currently observed."""
        missing_now = set(sources.missing)
        for path in list(self._missing_since):
            if path not in missing_now:
                del self._missing_since[path]
        confirmed: list[str] = []
        pending: list[datetime] = []  # when a source missing now has been missing long enough
        for path in sources.missing:
            due = self._missing_since.setdefault(path, now) + self.missing_grace
            if now >= due:
                confirmed.append(path)
            else:
                pending.append(due)
        missing = missing_source_defects(
            Sources(files=sources.files, in_scope=sources.in_scope, missing=confirmed), config, now
        )
        report = silence_check(config, sources.files, now)
        cleared = report.cleared + [missing_id(path) for path in expected if path not in missing_now]
        cleared += readable_again(store, sources, set(unreadable))
        with store.transaction():
            for defect in [*missing, *report.silent]:
                store.put_defect(defect, now)
            for defect_id in cleared:
                store.resolve_defect(defect_id, now)
        dues = [d for d in (*pending, report.next_due) if d is not None]
        self.next_due = min(dues) if dues else None
        return [*missing, *report.silent]


def readable_again(store: Store, sources: Sources, unreadable: set[str]) -> list[str]:
    """Ids of open `source-unreadable` defects whose file this pass discovered and could read,
    or that no longer exists."""
    discovered = {str(file.path) for file in sources.files}
    rows = store.execute("SELECT id, subject FROM defects WHERE kind = ? AND status = 'open'", (UNREADABLE_KIND,))
    return [
        str(defect_id)
        for defect_id, subject in rows.fetchall()
        if subject not in unreadable and (subject in discovered or not os.path.lexists(subject))
    ]
