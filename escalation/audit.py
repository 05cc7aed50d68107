"""Hash-chained audit trail of every escalation action, in SQLite and in an append-only mirror.

Why two copies: the `audit` table is written in the same transaction as the state change an
entry describes (an action is never without its entry, nor an entry without its action); the
JSON-lines mirror is a second copy outside the database, appended after commit and never
rewritten, so that editing or truncating one copy shows up against the other. Each entry's
`hash` is sha256(prev_hash + canonical JSON of the entry), so an edited, removed or reordered
entry breaks the chain from that point on. After every mirror catch-up the mirrored head
(seq, hash) is recorded in the state database (`meta`), so cutting the mirror's tail is told
apart from "not yet mirrored" (a crash between commit and `sync_mirror`).

This detects tampering with part of the data (or corruption). Someone who can rewrite both
copies and the anchor consistently (cutting the newest entries from all three) is out of reach
of a local check; two things reach them. The chain head (seq, hash of the newest entry) is
printed in every escalation report and digest: `verify-audit --since-head H` proves an exported
head is still in the chain (`--expect-head H`: that it is still the newest). And with a key in
`$LOGWARDEN_AUDIT_KEY`, every append signs the new head (HMAC-SHA256, in the same transaction):
without the key, a cut tail cannot be given a valid signature.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import zip_longest
from pathlib import Path
from typing import Any

from detector.errors import StateError
from detector.model import iso, parse_iso
from detector.state.private import private_dirs, tighten_fd
from detector.state.store import Store
from escalation.schema import migrate_escalation

ACTIONS: tuple[str, ...] = (
    "opened",
    "finding_attached",
    "defect_attached",
    "notified",
    "notify_failed",
    "gave_up",
    "fallback",
    "suppressed",
    "held",
    "digest",
    "escalated",
    "repeated",
    "exhausted",
    "acknowledged",
    "ack_timeout",
    "snoozed",
    "unsnoozed",
    "resolved",
    "reopened",
    "note",
)
GENESIS_HASH = "0" * 64
MIRROR_ANCHOR_KEY = "escalation.audit_mirrored"  # meta key: {"seq": N, "hash": H} last mirrored
SIGNED_HEAD_KEY = "escalation.audit_signed_head"  # meta key: {"seq", "hash", "hmac"} of the newest entry
AUDIT_KEY_ENV = "LOGWARDEN_AUDIT_KEY"
MAX_PROBLEMS = 50

log = logging.getLogger(__name__)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, incident_id: str | None,
               details: dict[str, Any]) -> str:
    """sha256 over the previous hash and the canonical JSON of everything the entry says."""
    body = canonical_json(
        {"seq": seq, "at": at, "actor": actor, "action": action, "incident_id": incident_id, "details": details}
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    incident_id: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """The mirror line (and the JSON shown by `verify-audit`/reports)."""
        return {
            "seq": self.seq,
            "at": iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "incident_id": self.incident_id,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    def expected_hash(self) -> str:
        return entry_hash(
            self.prev_hash, self.seq, iso(self.at) or "", self.actor, self.action, self.incident_id, self.details
        )


def audit_key() -> bytes | None:
    """The head-signing key from the environment (None: heads are not signed)."""
    value = os.environ.get(AUDIT_KEY_ENV, "")
    return value.encode("utf-8") if value else None


def sign_head(key: bytes, seq: int, head_hash: str) -> str:
    return hmac.new(key, f"logwarden-audit-head:{seq}:{head_hash}".encode("ascii"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuditHead:
    """The newest entry of the chain: what a report exports so that a cut tail shows later."""

    seq: int
    hash: str
    signature: str | None = None  # HMAC-SHA256 of this head with $LOGWARDEN_AUDIT_KEY, if signed

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "hmac": self.signature}

    def line(self) -> str:
        signed = f", HMAC-SHA256 {self.signature}" if self.signature else ""
        return f"audit chain head: seq {self.seq} sha256 {self.hash}{signed}"


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    entries: int  # entries in the table
    problems: tuple[str, ...]  # one line each, naming the seq (and mirror line) concerned
    unmirrored: int = 0  # table entries not yet in the mirror (crash before sync_mirror): not a problem
    head: AuditHead | None = None  # the table's newest entry (None: empty)


def _entry_from_row(row: Any) -> AuditEntry:
    return AuditEntry(
        seq=int(row["seq"]),
        at=parse_iso(row["at"]),  # type: ignore[arg-type]
        actor=row["actor"],
        action=row["action"],
        incident_id=row["incident_id"],
        details=json.loads(row["details"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def _entry_from_line(data: Any) -> AuditEntry:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    details = data["details"]
    if not isinstance(details, dict):
        raise ValueError("details is not an object")
    return AuditEntry(
        seq=int(data["seq"]),
        at=parse_iso(data["at"]),  # type: ignore[arg-type]
        actor=str(data["actor"]),
        action=str(data["action"]),
        incident_id=data["incident_id"],
        details=details,
        prev_hash=str(data["prev_hash"]),
        hash=str(data["hash"]),
    )


class AuditTrail:
    """The audit table plus its JSON-lines mirror (created 0600, only ever appended to)."""

    def __init__(self, store: Store, mirror_path: Path, key: bytes | None | str = "env") -> None:
        self.store = store
        self.mirror_path = Path(mirror_path)
        self.key = audit_key() if key == "env" else key  # type: ignore[assignment]
        migrate_escalation(store)
        self._open_mirror().close()  # create it now (0600), so its permissions never depend on luck

    # -- writing --------------------------------------------------------------------------------

    def append(
        self, *, at: datetime, actor: str, action: str, incident_id: str | None, details: dict[str, Any]
    ) -> AuditEntry:
        """Add one entry to the table, inside the caller's transaction (atomic with the change)."""
        if not self.store.conn.in_transaction:
            raise StateError("audit entries must be appended inside the store transaction that makes the change")
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}; use one of {', '.join(ACTIONS)}")
        if not actor:
            raise ValueError("an audit entry needs an actor")
        details = json.loads(canonical_json(details))  # JSON-able now, not at verify time; a private copy
        head = self.store.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev_hash = (int(head[0]) + 1, head[1]) if head else (1, GENESIS_HASH)
        at_text = iso(at) or ""
        digest = entry_hash(prev_hash, seq, at_text, actor, action, incident_id, details)
        self.store.execute(
            "INSERT INTO audit(seq, at, actor, action, incident_id, details, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at_text, actor, action, incident_id, canonical_json(details), prev_hash, digest),
        )
        if self.key:  # the signed head moves with the chain, in the same transaction
            signature = sign_head(self.key, seq, digest)
            self.store.set_meta(SIGNED_HEAD_KEY, json.dumps({"seq": seq, "hash": digest, "hmac": signature}))
        return AuditEntry(seq, parse_iso(at_text), actor, action, incident_id, details, prev_hash, digest)  # type: ignore[arg-type]

    def sync_mirror(self) -> int:
        """After commit: append the committed entries the mirror lacks; returns how many.

        Holds an exclusive lock on the mirror meanwhile (a CLI `incidents ack` may run next to
        the daemon). Refuses (logs an error, appends nothing) when the mirror's last line does not
        match the table or was cut back: appending would bury the evidence `verify` reports.
        """
        if self.store.conn.in_transaction:
            raise StateError("sync_mirror reads committed entries only; call it after the transaction commits")
        with self._open_mirror() as mirror:
            fcntl.flock(mirror.fileno(), fcntl.LOCK_EX)
            after = self._mirrored_up_to()
            if after is None:
                return 0
            if self.store.execute("SELECT 1 FROM audit WHERE seq > ? LIMIT 1", (after,)).fetchone() is None:
                return 0
            self.store.make_durable()  # a power cut must not leave the mirror ahead of the table
            written = 0
            newest: AuditEntry | None = None
            cursor = self.store.execute("SELECT * FROM audit WHERE seq > ? ORDER BY seq", (after,))
            while rows := cursor.fetchmany(500):
                entries = [_entry_from_row(row) for row in rows]
                mirror.write("".join(canonical_json(e.to_dict()) + "\n" for e in entries).encode("utf-8"))
                written += len(entries)
                newest = entries[-1]
            if newest is None:
                return 0
            mirror.flush()
            os.fsync(mirror.fileno())
            with self.store.transaction():
                self.store.set_meta(MIRROR_ANCHOR_KEY, json.dumps({"seq": newest.seq, "hash": newest.hash}))
            return written

    def _mirrored_up_to(self) -> int | None:
        """The seq the mirror ends at, or None (logged) when it must not be appended to."""
        last = self._mirror_last()
        if last is not None:
            row = self.store.execute("SELECT hash FROM audit WHERE seq = ?", (last[0],)).fetchone()
            if row is None or row[0] != last[1]:
                log.error("%s: the last line is unreadable or does not match the audit table; not appending. "
                          "Run `logwarden escalation verify-audit`.", self.mirror_path)
                return None
        after = last[0] if last else 0
        anchor = self._anchor()
        if anchor is not None and after < anchor[0]:
            log.error("%s: ends at seq %d but seq %d was already mirrored (lines removed); not appending. "
                      "Run `logwarden escalation verify-audit`.", self.mirror_path, after, anchor[0])
            return None
        return after

    # -- reading --------------------------------------------------------------------------------

    def entries(self, incident_id: str | None = None) -> list[AuditEntry]:
        """Entries in order, all or one incident's."""
        if incident_id is None:
            rows = self.store.execute("SELECT * FROM audit ORDER BY seq")
        else:
            rows = self.store.execute("SELECT * FROM audit WHERE incident_id = ? ORDER BY seq", (incident_id,))
        return [_entry_from_row(row) for row in rows]

    def head(self) -> AuditHead | None:
        """The newest entry, with its signature when the stored signed head is this one."""
        row = self.store.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            return None
        signed = self._signed_head()
        same = signed is not None and (signed.seq, signed.hash) == (int(row[0]), row[1])
        return AuditHead(int(row[0]), row[1], signed.signature if same and signed else None)

    def _signed_head(self) -> AuditHead | None:
        text = self.store.get_meta(SIGNED_HEAD_KEY)
        if text is None:
            return None
        try:
            data = json.loads(text)
            return AuditHead(int(data["seq"]), str(data["hash"]), str(data["hmac"]))
        except (ValueError, TypeError, KeyError):
            return AuditHead(-1, "", "")

    def _seq_of(self, hash_prefix: str) -> int | None:
        row = self.store.execute(
            "SELECT seq FROM audit WHERE substr(hash, 1, ?) = ? ORDER BY seq LIMIT 1",
            (len(hash_prefix), hash_prefix.lower()),
        ).fetchone()
        return int(row[0]) if row else None

    def head_problems(self, head: AuditHead | None, expect: str | None = None, since: str | None = None) -> list[str]:
        """Checks of the chain's end against heads exported earlier and against the signed head."""
        problems: list[str] = []
        newest = head.seq if head else 0
        if expect is not None and (head is None or not head.hash.startswith(expect.lower())):
            found = self._seq_of(expect)
            problems.append(
                f"audit head is seq {newest}, not the expected {expect}: "
                + (f"{newest - found} entries were added after it (seq {found})" if found is not None
                   else "that head is no longer in the chain (entries removed from the end, or rewritten)")
            )
        if since is not None and self._seq_of(since) is None:
            problems.append(f"audit head {since} exported earlier is no longer in the chain: entries were removed "
                            f"from the end or rewritten (the chain now ends at seq {newest})")
        if self.key:
            problems.extend(self._signature_problems(head))
        return problems

    def _signature_problems(self, head: AuditHead | None) -> list[str]:
        signed = self._signed_head()
        if signed is None:
            return [] if head is None else [
                f"the audit head (seq {head.seq}) is not signed although ${AUDIT_KEY_ENV} is set: entries were "
                f"written by a process without the key, or the signed head was removed"]
        assert self.key is not None
        if not hmac.compare_digest(signed.signature or "", sign_head(self.key, signed.seq, signed.hash)):
            return [f"the signed audit head (seq {signed.seq}) does not verify with ${AUDIT_KEY_ENV}: forged, "
                    "or signed with another key"]
        if head is not None and (signed.seq, signed.hash) == (head.seq, head.hash):
            return []
        if self._seq_of(signed.hash) != signed.seq:
            newest = head.seq if head else 0
            return [f"the signed audit head seq {signed.seq} is no longer in the chain (which ends at seq {newest}): "
                    f"entries were removed from the end or rewritten"]
        return [f"entries after the signed audit head (seq {signed.seq + 1}..{head.seq if head else 0}) were written "
                f"without ${AUDIT_KEY_ENV} (set it for every logwarden process), or by someone without the key"]

    def verify(self, expect_head: str | None = None, since_head: str | None = None) -> AuditVerification:
        """Check the table's chain, the mirror's chain, and that the mirror is a prefix of the table;
        then the chain's end against exported heads and the signed head (`head_problems`)."""
        problems: list[str] = []
        table = _ChainCheck("audit table", problems)
        mirror = _ChainCheck(f"audit mirror {self.mirror_path}", problems)
        anchor = self._anchor()
        if not self.mirror_path.exists():
            problems.append(f"audit mirror {self.mirror_path} is missing")
        else:
            mode = stat.S_IMODE(self.mirror_path.stat().st_mode)
            if mode & 0o077:
                problems.append(f"audit mirror {self.mirror_path} is readable by others (mode {mode:o}); chmod 600 it")
        table_heads = table.run(self._table_entries())
        mirror_heads = mirror.run(self._mirror_entries())
        compared = True
        unmirrored = 0
        last_mirrored = 0
        for in_table, in_mirror in zip_longest(table_heads, mirror_heads):
            if in_mirror is not None:
                last_mirrored = in_mirror[0]
                if anchor is not None and in_mirror[0] == anchor[0] and in_mirror[1] != anchor[1]:
                    problems.append(f"audit mirror seq {anchor[0]}: hash differs from the one recorded when it was mirrored")
            if not compared:
                continue
            if in_mirror is None:  # the table goes on: not yet mirrored, unless the anchor says otherwise
                unmirrored += 1
                continue
            if in_table is None:
                problems.append(
                    f"audit seq {in_mirror[0]} is in the mirror but the table ends before it "
                    f"(entries removed from the end of the table)"
                )
                compared = False
            elif in_table[0] != in_mirror[0]:
                lower = min(in_table[0], in_mirror[0])
                lacking = "table" if in_mirror[0] < in_table[0] else "mirror"
                problems.append(f"audit seq {lower} is missing from the {lacking} but present in the other copy")
                compared = False
            elif in_table[1] != in_mirror[1]:
                problems.append(f"audit seq {in_table[0]}: the table and the mirror differ (one copy was edited or reordered)")
                compared = False
        if anchor is not None and last_mirrored < anchor[0]:
            problems.append(
                f"audit mirror ends at seq {last_mirrored} but seq {anchor[0]} was already mirrored "
                f"(lines removed from the end of the mirror)"
            )
        head = self.head()
        problems.extend(self.head_problems(head, expect_head, since_head))
        if len(problems) > MAX_PROBLEMS:
            problems[MAX_PROBLEMS:] = [f"... and {len(problems) - MAX_PROBLEMS} more problems"]
        return AuditVerification(not problems, table.count, tuple(problems), unmirrored if compared else 0, head)

    # -- plumbing -------------------------------------------------------------------------------

    def _table_entries(self) -> Iterator[tuple[str, AuditEntry | str]]:
        cursor = self.store.execute("SELECT * FROM audit ORDER BY seq")
        while rows := cursor.fetchmany(500):
            for row in rows:
                where = f"seq {row['seq']}"
                try:
                    yield where, _entry_from_row(row)
                except (ValueError, TypeError, KeyError) as exc:
                    yield where, f"unreadable ({exc})"

    def _mirror_entries(self) -> Iterator[tuple[str, AuditEntry | str]]:
        try:
            handle = open(self.mirror_path, "rb")
        except FileNotFoundError:
            return
        with handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    entry = _entry_from_line(json.loads(raw))
                except (ValueError, TypeError, KeyError) as exc:
                    yield f"line {number}", f"unreadable ({type(exc).__name__}: {str(exc)[:100]})"
                    continue
                yield f"line {number} (seq {entry.seq})", entry

    def _open_mirror(self) -> Any:
        """Append-only handle; the file is created 0600 whatever the process umask."""
        private_dirs(self.mirror_path.parent)
        old_umask = os.umask(0o077)
        try:
            fd = os.open(
                self.mirror_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
            )
        finally:
            os.umask(old_umask)
        try:
            tighten_fd(fd, self.mirror_path)
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "ab")

    def _mirror_last(self) -> tuple[int, str] | None:
        """(seq, hash) of the mirror's last line, read backwards from the end; (-1, "") if unreadable."""
        try:
            handle = open(self.mirror_path, "rb")
        except FileNotFoundError:
            return None
        with handle:
            position = handle.seek(0, os.SEEK_END)
            tail = b""
            while position > 0 and tail.rstrip(b"\n").count(b"\n") == 0:
                step = min(65536, position)
                position -= step
                handle.seek(position)
                tail = handle.read(step) + tail
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        if not last.strip():
            return None
        try:
            entry = _entry_from_line(json.loads(last))
        except (ValueError, TypeError, KeyError):
            return -1, ""
        return entry.seq, entry.hash

    def _anchor(self) -> tuple[int, str] | None:
        text = self.store.get_meta(MIRROR_ANCHOR_KEY)
        if text is None:
            return None
        data = json.loads(text)
        return int(data["seq"]), str(data["hash"])


class _ChainCheck:
    """Walks one copy in order, records its problems, yields (seq, hash) of each readable entry."""

    def __init__(self, label: str, problems: list[str]) -> None:
        self.label = label
        self.problems = problems
        self.count = 0

    def run(self, items: Iterator[tuple[str, AuditEntry | str]]) -> Iterator[tuple[int, str]]:
        expected_seq, prev_hash = 1, GENESIS_HASH
        for where, entry in items:
            self.count += 1
            if isinstance(entry, str):
                self.problems.append(f"{self.label} {where}: {entry}")
                expected_seq += 1
                prev_hash = ""
                continue
            if entry.seq > expected_seq:
                missing = f"seq {expected_seq}" if entry.seq == expected_seq + 1 else f"seq {expected_seq}..{entry.seq - 1}"
                self.problems.append(f"{self.label} {where}: {missing} missing before it (entries removed or moved)")
            elif entry.seq < expected_seq:
                self.problems.append(
                    f"{self.label} {where}: out of order, expected seq {expected_seq} (entries reordered or duplicated)"
                )
            elif prev_hash and entry.prev_hash != prev_hash:
                self.problems.append(
                    f"{self.label} {where}: prev_hash does not match the entry before it "
                    f"(an entry before it was changed, removed or reordered)"
                )
            if entry.expected_hash() != entry.hash:
                self.problems.append(f"{self.label} {where}: content does not match its hash (entry edited or moved)")
            if entry.seq >= expected_seq:  # a stray earlier entry does not reset the chain
                expected_seq, prev_hash = entry.seq + 1, entry.hash
            yield entry.seq, entry.hash


def default_audit_path(state_path: Path) -> Path:
    """The mirror next to the state file: state.db -> state.audit.jsonl."""
    state_path = Path(state_path)
    return state_path.with_name(state_path.stem + ".audit.jsonl")
