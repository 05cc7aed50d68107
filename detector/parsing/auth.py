"""Recognizers: what a syslog message says, as ECS fields (`event.action` from SYSLOG_ACTIONS).

Each recognizer first narrows the rows by process name and a cheap prefix test, then extracts
fields only from that subset. sshd lines (the bulk of a busy auth.log) are taken apart by
splitting on their fixed words, anchored on the last ` from ` / ` port `, because the user name
in front may be empty or hostile (`Failed password for invalid user admin from x from 1.2.3.4
port 22 ssh2`). The other daemons are rare enough for one regex each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detector.parsing.arrowtext import (
    assemble,
    constant,
    group,
    list_get,
    mask_of,
    split_once,
    to_int,
    when,
)

SSHD = ("sshd", "sshd-session", "sshd-auth")
SHADOW = (
    "useradd",
    "usermod",
    "userdel",
    "groupadd",
    "groupmod",
    "groupdel",
    "gpasswd",
    "passwd",
    "chpasswd",
    "chage",
    "chsh",
    "chfn",
    "newusers",
)
AUTH_PROCESSES = (*SSHD, "sudo", "su", "su-l", "login", "systemd-logind", *SHADOW)

IP_PATTERN = r"^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%[0-9A-Za-z]+)?)$"

_KINDS = pa.array(["system", "auth", "firewall"], pa.string())
OUTPUT_FIELDS = (
    "event.action",
    "event.outcome",
    "user.name",
    "user.target.name",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "network.transport",
    "group.name",
    "process.command_line",
)
_INTEGER = ("source.port", "destination.port")


@dataclass(frozen=True)
class Recognized:
    """ECS columns set by the recognizers (full length) and the per-line `log.kind`."""

    columns: dict[str, pa.Array]
    kind: pa.Array


class _Findings:
    """Field values per row, gathered from several recognizers; each row is claimed once."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.claimed = np.zeros(length, dtype=bool)
        self.pieces: dict[str, list[tuple[np.ndarray, pa.Array]]] = {name: [] for name in OUTPUT_FIELDS}

    def add(self, rows: np.ndarray, keep: np.ndarray, values: dict[str, pa.Array | str | None]) -> None:
        """Record `values` (arrays aligned with `rows`, or constants) for the rows where `keep`."""
        keep = keep & ~self.claimed[rows]
        if not keep.any():
            return
        chosen = rows[keep]
        selector = pa.array(keep)
        self.claimed[chosen] = True
        for name, value in values.items():
            if value is None:
                continue
            array = constant(value, len(chosen)) if isinstance(value, str) else value.filter(selector)
            self.pieces[name].append((chosen, array))

    def columns(self) -> dict[str, pa.Array]:
        return {
            name: assemble(pieces, self.length, pa.int64() if name in _INTEGER else pa.string())
            for name, pieces in self.pieces.items()
        }


def _is_ip(values: pa.Array) -> np.ndarray:
    return mask_of(pc.match_substring_regex(values, IP_PATTERN))


def _strip_prefixes(text: pa.Array, prefixes: list[str]) -> tuple[np.ndarray, pa.Array]:
    """Which prefix (index, -1 for none) each row starts with, and the text after it."""
    which = np.full(len(text), -1, dtype=np.int64)
    pieces = []
    for index, prefix in enumerate(prefixes):
        hit = mask_of(pc.starts_with(text, prefix)) & (which < 0)
        if hit.any():
            which[hit] = index
            pieces.append((np.flatnonzero(hit), pc.utf8_slice_codeunits(text.filter(pa.array(hit)), len(prefix))))
    return which, assemble(pieces, len(text))


def _address_and_port(after: pa.Array) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """`1.2.3.4 port 22 ssh2...` -> (ip, port, ok); the port part is optional (old OpenSSH)."""
    tokens = pc.split_pattern(after, " ", max_splits=3)
    address = list_get(tokens, 0)
    has_port = mask_of(pc.equal(list_get(tokens, 1), "port"))
    port_text = pc.utf8_rtrim(list_get(tokens, 2), characters=":")
    port = when(pa.array(has_port), to_int(port_text, max_digits=5))
    single = mask_of(pc.equal(pc.list_value_length(tokens), 1))
    ok = _is_ip(address) & (has_port & mask_of(pc.is_valid(port)) | single)
    return address, port, ok


# sshd: `<prefix><user> from <ip> port <port> ssh2`, anchored on the last " from ".
_SSH_FROM = [
    ("Failed password for invalid user ", "ssh-failed-password", "failure"),
    ("Failed password for ", "ssh-failed-password", "failure"),
    ("Failed publickey for invalid user ", "ssh-failed-publickey", "failure"),
    ("Failed publickey for ", "ssh-failed-publickey", "failure"),
    ("Failed keyboard-interactive/pam for invalid user ", "ssh-failed-password", "failure"),
    ("Failed keyboard-interactive/pam for ", "ssh-failed-password", "failure"),
    ("Accepted password for ", "ssh-accepted-password", "success"),
    ("Accepted keyboard-interactive/pam for ", "ssh-accepted-password", "success"),
    ("Accepted publickey for ", "ssh-accepted-publickey", "success"),
    ("Invalid user ", "ssh-invalid-user", "failure"),
    ("error: maximum authentication attempts exceeded for invalid user ", "ssh-max-auth-attempts", "failure"),
    ("error: maximum authentication attempts exceeded for ", "ssh-max-auth-attempts", "failure"),
]
_SSH_FROM_ACTIONS = pa.array([action for _, action, _ in _SSH_FROM], pa.string())
_SSH_FROM_OUTCOMES = pa.array([outcome for _, _, outcome in _SSH_FROM], pa.string())
_SSH_FROM_FIRST_WORDS = ["Failed ", "Accepted ", "Invalid user ", "error: maximum authentication attempts exceeded "]
# sshd connection ends: `<prefix>[authenticating |invalid ]user <user> <ip> port <port>[ [preauth]]`.
_SSH_END = ["Disconnected from ", "Connection closed by ", "Connection reset by "]
_SSH_END_USER = ["authenticating user ", "invalid user ", "user "]
_SSH_RECEIVED = "Received disconnect from "


def _narrow(rows: np.ndarray, text: pa.Array, mask: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    return rows[mask], text.filter(pa.array(mask))


def _starts_with_any(text: pa.Array, prefixes: list[str]) -> np.ndarray:
    hit = np.zeros(len(text), dtype=bool)
    for prefix in prefixes:
        hit |= mask_of(pc.starts_with(text, prefix))
    return hit


def _ssh_from(rows: np.ndarray, text: pa.Array, found: _Findings) -> None:
    """`<prefix><user> from <ip> port <port> ssh2...`, anchored on the last " from "."""
    before, after = split_once(text, " from ", reverse=True)
    which, user = _strip_prefixes(before, [prefix for prefix, _, _ in _SSH_FROM])
    address, port, ok = _address_and_port(after)
    hit = (which >= 0) & ok
    safe = np.where(hit, which, 0)
    found.add(
        rows,
        hit,
        {
            "event.action": _SSH_FROM_ACTIONS.take(pa.array(safe)),
            "event.outcome": _SSH_FROM_OUTCOMES.take(pa.array(safe)),
            "user.name": user,
            "source.ip": address,
            "source.port": port,
        },
    )


def _preauth(text: pa.Array) -> dict[str, pa.Array]:
    """Connection ends before authentication (`... [preauth]`) are ssh-preauth-disconnect."""
    preauth = pc.ends_with(text, "[preauth]")
    return {
        "event.action": pc.if_else(preauth, "ssh-preauth-disconnect", pa.scalar(None, pa.string())),
        "event.outcome": pc.if_else(preauth, "unknown", pa.scalar(None, pa.string())),
    }


def _ssh_end(rows: np.ndarray, text: pa.Array, found: _Findings) -> None:
    """`Disconnected from|Connection closed by [authenticating |invalid ]user <user> <ip> port <port>`."""
    _, rest = _strip_prefixes(text, _SSH_END)
    who, port_part = split_once(rest, " port ", reverse=True)
    named, named_rest = _strip_prefixes(who, _SSH_END_USER)
    user, address = split_once(named_rest, " ", reverse=True)
    address = pc.if_else(pa.array(named >= 0), address, who)
    port = to_int(list_get(pc.split_pattern(port_part, " ", max_splits=1), 0), max_digits=5)
    ok = _is_ip(address) & mask_of(pc.is_valid(port))
    found.add(rows, ok, {**_preauth(text), "user.name": user, "source.ip": address, "source.port": port})


def _ssh_received(rows: np.ndarray, text: pa.Array, found: _Findings) -> None:
    """`Received disconnect from <ip> port <port>:11: Bye Bye [preauth]`."""
    address, port_part = split_once(pc.utf8_slice_codeunits(text, len(_SSH_RECEIVED)), " port ")
    port = to_int(list_get(pc.split_pattern(port_part, ":", max_splits=1), 0), max_digits=5)
    ok = _is_ip(address) & mask_of(pc.is_valid(port))
    found.add(rows, ok, {**_preauth(text), "source.ip": address, "source.port": port})


def _sshd(message: pa.Array, rows: np.ndarray, found: _Findings) -> None:
    text = message.take(pa.array(rows))
    families = (
        (_ssh_from, _SSH_FROM_FIRST_WORDS),
        (_ssh_end, _SSH_END),
        (_ssh_received, [_SSH_RECEIVED]),
    )
    for recognizer, prefixes in families:
        hit = _starts_with_any(text, prefixes)
        if hit.any():
            recognizer(*_narrow(rows, text, hit), found)


PAM_FAILURE = r"^pam_[A-Za-z0-9_]+\([^:()]*:auth\): authentication failure;"
PAM_FIELDS = r" rhost=(?P<rhost>[^ ]*)(?: +user=(?P<user>.*))?$"
PAM_SU_SESSION = (
    r"^pam_[A-Za-z0-9_]+\(su(?:-l)?:session\): session opened for user (?P<target>[^ (]+)(?:\(uid=[0-9]+\))?"
    r" by (?P<user>[^ (]*)(?:\(uid=[0-9]+\))?"
)
PAM_PASSWORD_CHANGED = r"^pam_[A-Za-z0-9_]+\([^:()]*:chauthtok\): password changed for (?P<target>.+)$"


def _pam(message: pa.Array, rows: np.ndarray, found: _Findings) -> None:
    text = message.take(pa.array(rows))
    failure = mask_of(pc.match_substring_regex(text, PAM_FAILURE))
    if failure.any():
        failed_rows, failed = _narrow(rows, text, failure)
        fields = pc.extract_regex(failed, PAM_FIELDS)
        rhost = group(fields, "rhost")
        found.add(
            failed_rows,
            np.ones(len(failed_rows), dtype=bool),
            {
                "event.action": "pam-auth-failure",
                "event.outcome": "failure",
                "user.name": group(fields, "user"),
                "source.ip": when(pa.array(_is_ip(rhost)), rhost),
            },
        )
    for pattern, action, mapping in (
        (PAM_SU_SESSION, "su-session", {"user.name": "user", "user.target.name": "target"}),
        (PAM_PASSWORD_CHANGED, "user-modified", {"user.target.name": "target"}),
    ):
        candidate = mask_of(pc.match_substring_regex(text, pattern))
        if candidate.any():
            hit_rows, hits = _narrow(rows, text, candidate)
            match = pc.extract_regex(hits, pattern)
            values = {field: group(match, name) for field, name in mapping.items()}
            found.add(
                hit_rows,
                np.ones(len(hit_rows), dtype=bool),
                {"event.action": action, "event.outcome": "success", **values},
            )


SUDO_PATTERN = r"^ *(?P<user>[^ :]+) : (?:(?P<reason>[^;=]*[^;= ]) ; )?(?P<fields>[A-Z]+=.*)$"
SUDO_TARGET = r"(?:^| ; )USER=(?P<target>[^ ;]*)"
SUDO_COMMAND = r"(?:^| ; )COMMAND=(?P<command>.*)$"
_SUDO_REASONS = [
    (r"incorrect password attempt|a password is required|authentication failure", "sudo-auth-failure"),
    (r"NOT in sudoers|NOT authorized|command not allowed", "sudo-not-in-sudoers"),
]


def _sudo(message: pa.Array, rows: np.ndarray, found: _Findings) -> None:
    text = message.take(pa.array(rows))
    match = pc.extract_regex(text, SUDO_PATTERN)
    fields = group(match, "fields")
    reason = group(match, "reason")
    target = group(pc.extract_regex(fields, SUDO_TARGET), "target")
    command = group(pc.extract_regex(fields, SUDO_COMMAND), "command")
    common = {"user.name": group(match, "user"), "user.target.name": target, "process.command_line": command}
    ran = mask_of(match.is_valid()) & ~mask_of(pc.is_valid(reason)) & mask_of(pc.is_valid(command))
    found.add(rows, ran, {"event.action": "sudo-command", "event.outcome": "success", **common})
    for pattern, action in _SUDO_REASONS:
        hit = mask_of(pc.match_substring_regex(reason, pattern))
        found.add(rows, hit, {"event.action": action, "event.outcome": "failure", **common})


SU_TO = r"^(?P<failed>FAILED SU )?\(to (?P<target>[^)]*)\) (?P<user>.*) on [^ ]*$"
SU_FOR = r"^(?P<verdict>Successful|FAILED) su for (?P<target>.*) by (?P<user>.*)$"


def _su(message: pa.Array, rows: np.ndarray, found: _Findings) -> None:
    text = message.take(pa.array(rows))
    for pattern, flag, failed_value in ((SU_TO, "failed", "FAILED SU "), (SU_FOR, "verdict", "FAILED")):
        match = pc.extract_regex(text, pattern)
        failed = pc.equal(pc.struct_field(match, flag), failed_value)
        found.add(
            rows,
            mask_of(match.is_valid()),
            {
                "event.action": pc.if_else(failed, "su-failure", "su-session"),
                "event.outcome": pc.if_else(failed, "failure", "success"),
                "user.name": group(match, "user", empty_is_null=False),
                "user.target.name": group(match, "target"),
            },
        )


# shadow-utils (useradd, groupadd, usermod, userdel, gpasswd): (pattern, action, {field: group}).
_SHADOW = [
    (r"^new user: name=(?P<user>[^,]*),", "user-created", {"user.name": "user", "user.target.name": "user"}),
    (r"^(?:new group|group added to /etc/group): name=(?P<group>[^,]*)", "group-created", {"group.name": "group"}),
    (
        r"^add '(?P<user>[^']*)' to (?:shadow )?group '(?P<group>[^']*)'",
        "user-added-to-group",
        {"user.target.name": "user", "group.name": "group"},
    ),
    (
        r"^user (?P<user>[^ ]+) added by (?P<actor>[^ ]+) to group (?P<group>[^ ]+)$",
        "user-added-to-group",
        {"user.target.name": "user", "user.name": "actor", "group.name": "group"},
    ),
    (r"^delete user '(?P<user>[^']*)'", "user-deleted", {"user.name": "user", "user.target.name": "user"}),
    (r"^(?:change|lock|unlock) user (?:name )?'(?P<user>[^']*)'", "user-modified", {"user.target.name": "user"}),
]


def _shadow(message: pa.Array, rows: np.ndarray, found: _Findings) -> None:
    text = message.take(pa.array(rows))
    for pattern, action, mapping in _SHADOW:
        match = pc.extract_regex(text, pattern)
        hit = mask_of(match.is_valid())
        if hit.any():
            values = {field: group(match, name) for field, name in mapping.items()}
            found.add(rows, hit, {"event.action": action, "event.outcome": "success", **values})


FIREWALL_PATTERN = (
    r"^(?:\[ *[0-9]+\.[0-9]+\] ?)?(?P<prefix>.*?) ?IN=[^ ]* OUT=[^ ]* .*?SRC=(?P<src>[^ ]+) DST=(?P<dst>[^ ]+) "
    r".*?PROTO=(?P<proto>[^ ]+)(?: SPT=(?P<spt>[0-9]+) DPT=(?P<dpt>[0-9]+))?"
)


def _firewall(message: pa.Array, rows: np.ndarray, found: _Findings) -> np.ndarray:
    text = message.take(pa.array(rows))
    match = pc.extract_regex(text, FIREWALL_PATTERN)
    hit = mask_of(match.is_valid())
    allowed = pc.match_substring_regex(group(match, "prefix", empty_is_null=False), r"(?i)allow|accept")
    found.add(
        rows,
        hit,
        {
            "event.action": pc.if_else(allowed, "firewall-allow", "firewall-drop"),
            "event.outcome": pc.if_else(allowed, "success", "failure"),
            "source.ip": group(match, "src"),
            "destination.ip": group(match, "dst"),
            "source.port": to_int(group(match, "spt"), max_digits=5),
            "destination.port": to_int(group(match, "dpt"), max_digits=5),
            "network.transport": pc.utf8_lower(group(match, "proto")),
        },
    )
    return rows[hit]


def recognize(message: pa.Array, process: pa.Array) -> Recognized:
    """Run every recognizer over the rows whose process (or message prefix) fits it.

    Rows no recognizer claims keep null fields (an sshd line saying something else is still a
    parsed line); `log.kind` is `firewall` for kernel firewall lines, `auth` for the programs in
    AUTH_PROCESSES and PAM lines of any program, `system` otherwise."""
    length = len(message)
    found = _Findings(length)
    has_message = mask_of(pc.is_valid(message))

    def rows_of(*names: str) -> np.ndarray:
        hit = mask_of(pc.is_in(process, value_set=pa.array(names, pa.string()))) & has_message
        return np.flatnonzero(hit)

    firewall = np.zeros(length, dtype=bool)
    kernel = rows_of("kernel")
    if len(kernel):
        candidates = kernel[mask_of(pc.match_substring_regex(message.take(pa.array(kernel)), " SRC="))]
        if len(candidates):
            firewall[_firewall(message, candidates, found)] = True

    pam_lines = mask_of(pc.starts_with(message, "pam_"))
    if pam_lines.any():
        _pam(message, np.flatnonzero(pam_lines), found)
    for names, recognizer in ((SSHD, _sshd), (("sudo",), _sudo), (("su", "su-l"), _su), (SHADOW, _shadow)):
        rows = rows_of(*names)
        if len(rows):
            recognizer(message, rows, found)

    auth = mask_of(pc.is_in(process, value_set=pa.array(AUTH_PROCESSES, pa.string()))) | pam_lines
    kind = np.where(firewall, 2, np.where(auth, 1, 0))
    return Recognized(columns=found.columns(), kind=_KINDS.take(pa.array(kind)))
