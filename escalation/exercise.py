"""`logwarden exercise`: an incident and emergency exercise (SAMM O-IM-3-B).

Each selected scenario's positive samples are replayed with fresh timestamps (shifted so the
sample's last event lies just before `now`) through the full pipeline — scan, detection,
incidents, the escalation policy and its channels — in an isolated state per sample, with every
finding, incident and notification marked EXERCISE. Whether each was detected, how fast it was
notified and through which level is stored in the live state (`exercises`,
`exercise_results`), where the maturity report reads it as evidence.

The isolated states are kept next to the live one (`<state>.exercises/<exercise id>/`), so the
acknowledge command a drill notification prints works: `logwarden incidents ack` looks there for
an incident the live state does not hold, and every acknowledgement of an exercise incident is
recorded with its exercise result (time to acknowledge, measured from the first notification).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from detector.model import iso, parse_iso, stable_hash
from detector.state.store import Store

COMPONENT = "exercise"
STEPS: tuple[str, ...] = (
    """
    CREATE TABLE exercises (
        id TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        mode TEXT NOT NULL,
        checklist_version TEXT NOT NULL,
        policy_source TEXT,
        samples INTEGER NOT NULL,
        detected INTEGER NOT NULL,
        notified INTEGER NOT NULL
    );
    CREATE TABLE exercise_results (
        exercise_id TEXT NOT NULL,
        scenario_id TEXT NOT NULL,
        sample TEXT NOT NULL,
        severity TEXT NOT NULL,
        detected INTEGER NOT NULL,
        finding_ids TEXT NOT NULL,
        incident_id TEXT,
        policy_name TEXT,
        day_class TEXT,
        first_evidence_at TEXT,
        detected_at TEXT,
        notified_at TEXT,
        detect_seconds REAL,
        notify_seconds REAL,
        level INTEGER,
        notifications TEXT NOT NULL,
        problems TEXT NOT NULL,
        PRIMARY KEY (exercise_id, scenario_id, sample)
    );
    CREATE INDEX exercises_started ON exercises(started_at)
    """,
    # version 2: where each result's incident lives, and when a person acknowledged it
    """
    ALTER TABLE exercise_results ADD COLUMN state_path TEXT;
    ALTER TABLE exercise_results ADD COLUMN acknowledged_at TEXT;
    ALTER TABLE exercise_results ADD COLUMN acknowledged_by TEXT
    """,
)
LAST_EVENT_MARGIN = timedelta(minutes=1)  # the replayed sample's last event, before `now`


def migrate_exercise(store: Store) -> None:
    store.migrate(COMPONENT, STEPS)


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleOutcome:
    """One positive sample of one scenario, replayed."""

    scenario_id: str
    sample: str
    severity: str
    detected: bool
    finding_ids: tuple[str, ...] = ()
    incident_id: str | None = None
    policy_name: str | None = None
    day_class: str | None = None
    first_evidence_at: datetime | None = None
    detected_at: datetime | None = None
    notified_at: datetime | None = None
    level: int | None = None
    notifications: tuple[dict[str, Any], ...] = ()  # {channel, target, via, level, status, error}
    problems: tuple[str, ...] = ()
    state_path: str | None = None  # the state holding the incident (an isolated one, or the live one)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None

    @property
    def detect_seconds(self) -> float | None:
        if self.detected_at is None or self.first_evidence_at is None:
            return None
        return round((self.detected_at - self.first_evidence_at).total_seconds(), 3)

    @property
    def notify_seconds(self) -> float | None:
        if self.notified_at is None or self.detected_at is None:
            return None
        return round((self.notified_at - self.detected_at).total_seconds(), 3)

    @property
    def acknowledge_seconds(self) -> float | None:
        """From the first notification to the drill's acknowledgement."""
        if self.acknowledged_at is None or self.notified_at is None:
            return None
        return round((self.acknowledged_at - self.notified_at).total_seconds(), 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario_id": self.scenario_id,
            "sample": self.sample,
            "severity": self.severity,
            "detected": self.detected,
            "finding_ids": list(self.finding_ids),
            "incident_id": self.incident_id,
            "policy": self.policy_name,
            "day_class": self.day_class,
            "first_evidence_at": iso(self.first_evidence_at),
            "detected_at": iso(self.detected_at),
            "notified_at": iso(self.notified_at),
            "detect_seconds": self.detect_seconds,
            "notify_seconds": self.notify_seconds,
            "level": self.level,
            "notifications": [dict(n) for n in self.notifications],
            "problems": list(self.problems),
            "state": self.state_path,
            "ack_command": f"logwarden incidents ack {self.incident_id} --by <your name>" if self.incident_id else None,
            "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "acknowledge_seconds": self.acknowledge_seconds,
        }


@dataclass(frozen=True)
class Exercise:
    id: str
    started_at: datetime
    finished_at: datetime
    mode: str  # isolated | live
    checklist_version: str
    policy_source: str | None
    results: tuple[SampleOutcome, ...] = field(default_factory=tuple)

    @property
    def detected(self) -> int:
        return sum(1 for r in self.results if r.detected)

    @property
    def notified(self) -> int:
        return sum(1 for r in self.results if r.notified_at is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "mode": self.mode,
            "checklist_version": self.checklist_version,
            "policy_source": self.policy_source,
            "samples": len(self.results),
            "detected": self.detected,
            "notified": self.notified,
            "missed": [r.scenario_id for r in self.results if not r.detected],
            "results": [r.to_dict() for r in self.results],
        }


# --- storage ------------------------------------------------------------------------------------


def record_exercise(store: Store, exercise: Exercise) -> None:
    """Store the exercise and its results in one transaction."""
    migrate_exercise(store)
    with store.transaction():
        store.execute(
            "INSERT INTO exercises(id, started_at, finished_at, mode, checklist_version, policy_source, samples,"
            " detected, notified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (exercise.id, iso(exercise.started_at), iso(exercise.finished_at), exercise.mode,
             exercise.checklist_version, exercise.policy_source, len(exercise.results), exercise.detected,
             exercise.notified),
        )
        store.conn.executemany(
            "INSERT INTO exercise_results(exercise_id, scenario_id, sample, severity, detected, finding_ids,"
            " incident_id, policy_name, day_class, first_evidence_at, detected_at, notified_at, detect_seconds,"
            " notify_seconds, level, notifications, problems, state_path)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (exercise.id, r.scenario_id, r.sample, r.severity, int(r.detected), json.dumps(list(r.finding_ids)),
                 r.incident_id, r.policy_name, r.day_class, iso(r.first_evidence_at), iso(r.detected_at),
                 iso(r.notified_at), r.detect_seconds, r.notify_seconds, r.level,
                 json.dumps([dict(n) for n in r.notifications], sort_keys=True), json.dumps(list(r.problems)),
                 r.state_path)
                for r in exercise.results
            ],
        )


def load_exercises(store: Store, since: datetime | None = None, until: datetime | None = None) -> list[Exercise]:
    """Stored exercises started in [since, until), oldest first, with their results."""
    migrate_exercise(store)
    sql, params = "SELECT * FROM exercises WHERE 1 = 1", []
    if since is not None:
        sql, params = sql + " AND started_at >= ?", [*params, iso(since)]
    if until is not None:
        sql, params = sql + " AND started_at < ?", [*params, iso(until)]
    out = []
    for row in store.execute(sql + " ORDER BY started_at, id", params).fetchall():
        results = tuple(
            SampleOutcome(
                scenario_id=r["scenario_id"],
                sample=r["sample"],
                severity=r["severity"],
                detected=bool(r["detected"]),
                finding_ids=tuple(json.loads(r["finding_ids"])),
                incident_id=r["incident_id"],
                policy_name=r["policy_name"],
                day_class=r["day_class"],
                first_evidence_at=parse_iso(r["first_evidence_at"]),
                detected_at=parse_iso(r["detected_at"]),
                notified_at=parse_iso(r["notified_at"]),
                level=r["level"],
                notifications=tuple(json.loads(r["notifications"])),
                problems=tuple(json.loads(r["problems"])),
                state_path=r["state_path"],
                acknowledged_at=parse_iso(r["acknowledged_at"]),
                acknowledged_by=r["acknowledged_by"],
            )
            for r in store.execute(
                "SELECT * FROM exercise_results WHERE exercise_id = ? ORDER BY scenario_id, sample", (row["id"],)
            )
        )
        out.append(
            Exercise(
                id=row["id"],
                started_at=parse_iso(row["started_at"]),  # type: ignore[arg-type]
                finished_at=parse_iso(row["finished_at"]),  # type: ignore[arg-type]
                mode=row["mode"],
                checklist_version=row["checklist_version"],
                policy_source=row["policy_source"],
                results=results,
            )
        )
    return out


# --- replaying samples with fresh timestamps ----------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MON = "(?P<{n}>" + "|".join(_MONTHS) + ")"
# Every timestamp shape the parsers read (DESIGN §4): ISO-8601 (JSON, logfmt, RFC 5424, ISO
# syslog), combined/common log [dd/Mon/yyyy:HH:MM:SS +zzzz], BSD syslog at line start, Apache
# error [Www Mon dd HH:MM:SS.ffffff yyyy], nginx error yyyy/mm/dd HH:MM:SS at line start.
_STAMP = re.compile(
    r"(?P<iso>\b(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})(?P<isep>[T ])(?P<iH>\d{2}):(?P<iM>\d{2}):(?P<iS>\d{2})"
    r"(?P<ifrac>\.\d{1,9})?(?P<izone>Z|[+-]\d{2}:?\d{2})?)"
    r"|(?P<clf>\[(?P<cd>\d{2})/" + _MON.format(n="cm") + r"/(?P<cy>\d{4}):(?P<cH>\d{2}):(?P<cM>\d{2}):(?P<cS>\d{2})"
    r" (?P<czone>[+-]\d{4})\])"
    r"|(?P<apache>\[(?P<aw>Mon|Tue|Wed|Thu|Fri|Sat|Sun) " + _MON.format(n="am") + r" (?P<ad>\d{2}) (?P<aH>\d{2}):"
    r"(?P<aM>\d{2}):(?P<aS>\d{2})(?P<afrac>\.\d+)? (?P<ay>\d{4})\])"
    r"|(?P<ngx>^(?P<ny>\d{4})/(?P<nm>\d{2})/(?P<nd>\d{2}) (?P<nH>\d{2}):(?P<nM>\d{2}):(?P<nS>\d{2}))"
    r"|(?P<bsd>^" + _MON.format(n="bm") + r" (?P<bd>[ \d]\d) (?P<bH>\d{2}):(?P<bM>\d{2}):(?P<bS>\d{2}))",
    re.MULTILINE,
)


def _zone(text: str | None) -> timezone | None:
    if not text:
        return None
    if text == "Z":
        return timezone.utc
    digits = text.replace(":", "")
    sign = -1 if digits[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5])))


def _read_stamp(m: re.Match[str], bsd_year: int) -> datetime | None:
    """The instant a match names; zone-less stamps are taken as UTC (the exercise's zone)."""
    g = m.groupdict()
    try:
        if g["iso"]:
            base = datetime(int(g["iy"]), int(g["im"]), int(g["id"]), int(g["iH"]), int(g["iM"]), int(g["iS"]))
            return base.replace(tzinfo=_zone(g["izone"]) or timezone.utc)
        if g["clf"]:
            base = datetime(int(g["cy"]), _MONTHS.index(g["cm"]) + 1, int(g["cd"]), int(g["cH"]), int(g["cM"]), int(g["cS"]))
            return base.replace(tzinfo=_zone(g["czone"]))
        if g["apache"]:
            return datetime(int(g["ay"]), _MONTHS.index(g["am"]) + 1, int(g["ad"]), int(g["aH"]), int(g["aM"]),
                            int(g["aS"]), tzinfo=timezone.utc)
        if g["ngx"]:
            return datetime(int(g["ny"]), int(g["nm"]), int(g["nd"]), int(g["nH"]), int(g["nM"]), int(g["nS"]),
                            tzinfo=timezone.utc)
        return datetime(bsd_year, _MONTHS.index(g["bm"]) + 1, int(g["bd"]), int(g["bH"]), int(g["bM"]), int(g["bS"]),
                        tzinfo=timezone.utc)
    except ValueError:
        return None  # "2026-13-45": not a timestamp after all; left as it is


def _write_stamp(m: re.Match[str], at: datetime) -> str:
    """`at` in the shape (and zone, and sub-second digits) of the original match."""
    g = m.groupdict()
    if g["iso"]:
        local = at.astimezone(_zone(g["izone"]) or timezone.utc)
        return local.strftime(f"%Y-%m-%d{g['isep']}%H:%M:%S") + (g["ifrac"] or "") + (g["izone"] or "")
    if g["clf"]:
        local = at.astimezone(_zone(g["czone"]))
        return f"[{local:%d}/{_MONTHS[local.month - 1]}/{local:%Y:%H:%M:%S} {g['czone']}]"
    if g["apache"]:
        return f"[{at:%a} {_MONTHS[at.month - 1]} {at:%d %H:%M:%S}{g['afrac'] or ''} {at:%Y}]"
    if g["ngx"]:
        return f"{at:%Y/%m/%d %H:%M:%S}"
    return f"{_MONTHS[at.month - 1]} {at.day:>2} {at:%H:%M:%S}"


def _sample_files(source: Path) -> list[Path]:
    return sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]


def _bsd_year(texts: list[str], now: datetime) -> int:
    """Year for stamps without one: that of the sample's other stamps, else the current one."""
    for text in texts:
        for m in _STAMP.finditer(text):
            if not m.group("bsd"):
                stamp = _read_stamp(m, now.year)
                if stamp is not None:
                    return stamp.year
    return now.year


def replay_sample(source: Path, target: Path, now: datetime) -> timedelta:
    """Copy a sample (file or directory) to `target` with every timestamp moved by one whole
    number of seconds, so the last event lies `LAST_EVENT_MARGIN` before `now`; files get
    `now` as their modification time (syslog years are read from it). Returns the shift."""
    files = _sample_files(source)
    texts = [path.read_text(encoding="utf-8", errors="surrogateescape") for path in files]
    year = _bsd_year(texts, now)
    stamps = [s for text in texts for m in _STAMP.finditer(text) if (s := _read_stamp(m, year)) is not None]
    if not stamps:
        raise ValueError(f"{source}: no timestamp found to move")
    shift = timedelta(seconds=int((now - LAST_EVENT_MARGIN - max(stamps)).total_seconds() // 1))

    def moved(m: re.Match[str]) -> str:
        stamp = _read_stamp(m, year)
        return m.group(0) if stamp is None else _write_stamp(m, stamp + shift)

    for path, text in zip(files, texts):
        out = target / path.relative_to(source) if source.is_dir() else target / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(_STAMP.sub(moved, text), encoding="utf-8", errors="surrogateescape")
        os.utime(out, (now.timestamp(), now.timestamp()))
    return shift


# --- running an exercise ------------------------------------------------------------------------


def _mark_exercise(store: Store, finding_ids: list[str]) -> None:
    """Findings raised by the replay become exercise findings before escalation sees them, so
    their incidents and every notification say EXERCISE."""
    if not finding_ids:
        return
    with store.transaction():
        store.conn.executemany(
            "UPDATE findings SET exercise = 1, data = json_set(data, '$.exercise', json('true')) WHERE id = ?",
            [(fid,) for fid in finding_ids],
        )


def _new_findings(store: Store, seq_before: int) -> list[str]:
    rows = store.execute(
        "SELECT DISTINCT finding_id FROM finding_log WHERE seq > ? AND change = 'new' ORDER BY finding_id", (seq_before,)
    )
    return [r[0] for r in rows]


def _outcome(store: Store, scenario: Any, sample: Any, finding_ids: list[str], problems: list[str]) -> SampleOutcome:
    from detector.runs.sampletest import check_sample

    findings = [f for f in (store.get_finding(i) for i in finding_ids) if f is not None]
    own = [f for f in findings if f.scenario_id == scenario.id]
    misses = [p for p in check_sample(scenario, sample, own) if p.startswith("expected")]
    detected = bool(own) and not misses
    problems = problems + misses
    incident = None
    if own:
        marks = ",".join("?" * len(own))
        incident = store.execute(
            f"SELECT i.* FROM incidents i JOIN incident_members m ON m.incident_id = i.id"
            f" WHERE m.member_kind = 'finding' AND m.member_id IN ({marks}) ORDER BY i.opened_at LIMIT 1",
            [f.id for f in own],
        ).fetchone()
    if incident is None:
        if own:
            problems.append("detected, but no incident was opened (escalation did not run or matched nothing)")
        return SampleOutcome(scenario.id, sample.log, scenario.severity, detected, tuple(f.id for f in own),
                             problems=tuple(problems))
    messages = store.execute(
        "SELECT channel, target, via, level, status, sent_at, last_error FROM outbox WHERE incident_id = ?"
        " ORDER BY created_at, id",
        (incident["id"],),
    ).fetchall()
    sent = [m for m in messages if m["status"] == "sent" and m["sent_at"]]
    first = min(sent, key=lambda m: m["sent_at"], default=None)
    if first is None:
        hold = store.execute(
            "SELECT detail FROM escalation_steps WHERE incident_id = ? AND action = 'hold' ORDER BY id LIMIT 1",
            (incident["id"],),
        ).fetchone()
        if hold is not None:
            problems.append(f"held after hours: the digest goes out at {json.loads(hold[0]).get('digest_at')}")
        elif incident["policy_name"] is None:
            problems.append("no escalation policy matched: nobody was notified")
        else:
            problems.append("no notification was delivered: " + "; ".join(
                f"{m['channel']} to {m['target']}: {m['status']} {m['last_error'] or ''}".strip() for m in messages))
    return SampleOutcome(
        state_path=str(store.path),
        scenario_id=scenario.id,
        sample=sample.log,
        severity=scenario.severity,
        detected=detected,
        finding_ids=tuple(f.id for f in own),
        incident_id=incident["id"],
        policy_name=incident["policy_name"],
        day_class=incident["day_class"],
        first_evidence_at=parse_iso(incident["first_evidence_at"]),
        detected_at=parse_iso(incident["opened_at"]),
        notified_at=parse_iso(first["sent_at"]) if first else None,
        level=int(first["level"]) if first else (int(incident["level"]) or None),
        notifications=tuple(
            {"channel": m["channel"], "target": m["target"], "via": m["via"], "level": int(m["level"]),
             "status": m["status"], "error": m["last_error"]}
            for m in messages
        ),
        problems=tuple(problems),
    )


def _replay_one(store: Store, config: Any, engine: Any, scenario: Any, sample: Any, workdir: Path, now: datetime,
                stdout_is_data: bool) -> SampleOutcome:
    from detector.runs.scan import run_scan
    from escalation.engine.service import escalate

    source = engine.checklist.root / sample.log
    if not source.exists():
        return SampleOutcome(scenario.id, sample.log, scenario.severity, False,
                             problems=(f"sample {source} not found (an installed logwarden ships no samples; "
                                       "use --checklist with the repository's rules/)",))
    replay_dir = workdir / "replay"
    try:
        replay_sample(source, replay_dir, now)
    except ValueError as exc:
        return SampleOutcome(scenario.id, sample.log, scenario.severity, False, problems=(str(exc),))
    seq_row = store.execute("SELECT COALESCE(MAX(seq), 0) FROM finding_log").fetchone()
    run_scan(store, config, [replay_dir], now, sink=engine, log=lambda _m: None)
    new = _new_findings(store, int(seq_row[0]))
    _mark_exercise(store, new)
    escalate(store, config, now, stdout_is_data=stdout_is_data)
    return _outcome(store, scenario, sample, new, [])


def exercise_root(live_state: Path) -> Path:
    """Where isolated exercise states are kept: `<state>.exercises/` next to the live state."""
    return live_state.expanduser().resolve().parent / f"{live_state.stem}.exercises"


def _isolated_config(config: Any, checklist: Any, exercise_id: str, index: int, scenario_id: str) -> Any:
    """A fresh state for one replayed sample, kept under the exercise's directory (0700); its
    meta names the exercise and the live state that records it."""
    from detector.config import Config

    directory = exercise_root(config.state) / exercise_id
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.parent.chmod(0o700)
    state = directory / f"{index:03d}-{scenario_id}.db"
    with Store(state) as store, store.transaction():
        store.set_meta("exercise.id", exercise_id)
        store.set_meta("exercise.record", str(config.state.expanduser().resolve()))
    return Config(path=None, state=state, checklist=checklist.directory, escalation=config.escalation,
                  timezone="UTC", process=config.process)


def run_exercise(
    config: Any,
    checklist: Any,
    only: list[str] | None,
    now: datetime,
    live: bool = False,
    stdout_is_data: bool = False,
    log: Callable[[str], None] | None = None,
) -> Exercise:
    """Replay every positive sample of the selected scenarios (default: all active ones), record
    the exercise in the live state and return it."""
    from detector.detection.engine import DetectionEngine
    from detector.errors import UsageError
    from detector.state.lock import StateLock

    say = log or (lambda _m: None)
    active = [s for s in checklist.scenarios if s.status != "deprecated"]
    unknown = sorted(set(only or ()) - {s.id for s in active})
    if unknown:
        raise UsageError(f"unknown or deprecated scenario(s): {', '.join(unknown)}; see `logwarden rules list`")
    selected = [s for s in active if not only or s.id in only]
    engine = DetectionEngine(checklist)
    started = datetime.now(timezone.utc)
    exercise_id = "EX-" + stable_hash(iso(now), started.timestamp(), [s.id for s in selected], length=10)
    results: list[SampleOutcome] = []
    with tempfile.TemporaryDirectory(prefix="logwarden-exercise-") as tmp:
        for index, (scenario, sample) in enumerate((s, x) for s in selected for x in s.samples if x.positive):
            workdir = Path(tmp) / f"{index:04d}"
            workdir.mkdir()
            say(f"exercise: replaying {scenario.id} ({sample.log})")
            if live:
                with StateLock(config.state, "exercise"), Store(config.state) as store:
                    results.append(_replay_one(store, config, engine, scenario, sample, workdir, now, stdout_is_data))
            else:
                isolated = _isolated_config(config, checklist, exercise_id, index, scenario.id)
                with Store(isolated.state) as store:
                    results.append(_replay_one(store, isolated, engine, scenario, sample, workdir, now, stdout_is_data))
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = datetime.now(timezone.utc) - started
    exercise = Exercise(
        id=exercise_id,
        started_at=now,
        finished_at=now + elapsed,
        mode="live" if live else "isolated",
        checklist_version=checklist.version,
        policy_source=str(config.escalation) if config.escalation else "bundled",
        results=tuple(sorted(results, key=lambda r: (r.scenario_id, r.sample))),
    )
    with Store(config.state) as store:
        record_exercise(store, exercise)
    return exercise


# --- practising the acknowledgement -------------------------------------------------------------


def find_drill_state(live_state: Path, incident_id: str) -> Path | None:
    """The kept isolated exercise state holding `incident_id` (an id or a unique prefix of one),
    newest exercise first; None when no exercise state has it."""
    root = exercise_root(live_state)
    if not root.is_dir():
        return None
    candidates = sorted(root.glob("EX-*/*.db"), key=lambda p: (p.stat().st_mtime, str(p)), reverse=True)
    from escalation.engine.incidents import IncidentTable

    for path in candidates:
        with Store(path) as store:
            has_incidents = store.execute("SELECT 1 FROM sqlite_master WHERE name = 'incidents'").fetchone()
            if has_incidents and IncidentTable(store).find(incident_id.strip()):
                return path
    return None


def record_drill_ack(store: Store, incident_id: str, at: datetime, by: str) -> bool:
    """Record that a person acknowledged the exercise incident `incident_id` held by `store`,
    in the exercise result that raised it (in the live state the exercise was recorded in).
    Returns whether a result was updated (the first acknowledgement counts)."""
    record = store.get_meta("exercise.record")
    exercise_id = store.get_meta("exercise.id")
    if record is not None and Path(record) != store.path.resolve():
        if not Path(record).exists():
            return False
        with Store(Path(record)) as live:
            return _update_ack(live, incident_id, exercise_id, str(store.path.resolve()), at, by)
    return _update_ack(store, incident_id, None, None, at, by)


def _update_ack(store: Store, incident_id: str, exercise_id: str | None, state_path: str | None,
                at: datetime, by: str) -> bool:
    migrate_exercise(store)
    sql = ("UPDATE exercise_results SET acknowledged_at = ?, acknowledged_by = ?"
           " WHERE incident_id = ? AND acknowledged_at IS NULL")
    params: list[Any] = [iso(at), by, incident_id]
    if exercise_id is not None:
        sql += " AND exercise_id = ? AND state_path = ?"
        params += [exercise_id, state_path]
    with store.transaction():
        return store.execute(sql, params).rowcount > 0
