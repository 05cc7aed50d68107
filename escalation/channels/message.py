"""Rendering one Notification for people (plain text, Slack mrkdwn) and machines (JSON).

Every string that can come from a log line (evidence, entity values, paths) is hostile: it is
passed through `terminal_safe` (no control characters, no newlines, bounded length) before it
reaches any medium, and additionally escaped for the medium where that medium has markup.
All channels render through these helpers so that a message says the same thing everywhere.
"""

from __future__ import annotations

import json
from typing import Any

from detector.model import iso
from detector.textsafe import terminal_safe
from escalation.channels import digest
from escalation.channels.notification import Notification

PAYLOAD_SCHEMA = 1
SUBJECT_LIMIT = 200
EXERCISE_BANNER = "EXERCISE - this is a drill, not a real incident. Respond as you would for real."

_EVENT_LABELS = {
    "trigger": "",
    "escalate": "ESCALATED (level {level}): ",
    "repeat": "REPEATED (level {level}): ",
    "reminder": "REMINDER: ",
    "digest": "DIGEST: ",
    "acknowledge": "ACKNOWLEDGED: ",
    "resolve": "RESOLVED: ",
    "test": "TEST: ",
}


def safe(text: object, limit: int | None = 2000) -> str:
    """Any value shown to a person: control characters made visible, length bounded."""
    return terminal_safe(str(text), limit)


def entity_text(note: Notification) -> str:
    """`source.ip=203.0.113.7, user.name=root` (escaped), or `(none)`."""
    pairs = [f"{safe(key, 100)}={safe(value, 300)}" for key, value in sorted(note.entity.items())]
    return ", ".join(pairs) or "(none)"


def event_label(note: Notification) -> str:
    template = _EVENT_LABELS.get(note.event)
    if template is None:
        return f"{safe(note.event, 40).upper()}: "
    return template.format(level=note.level)


def subject(note: Notification) -> str:
    """One line naming what happened, to what, how bad; `[EXERCISE]` first for drills."""
    about = "" if digest.is_digest(note) else f": {entity_text(note)} ({safe(note.incident_id, 80)})"
    text = (
        f"{'[EXERCISE] ' if note.exercise else ''}{event_label(note)}"
        f"[{safe(note.severity, 20).upper()}] {safe(note.title, 200)}{about}"
    )
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def _seen(note: Notification) -> str:
    first, last = iso(note.first_seen) or "unknown", iso(note.last_seen) or "unknown"
    return first if first == last else f"{first} .. {last}"


def evidence_age_seconds(note: Notification) -> int | None:
    """How old the newest evidence is when the message is written (None: no evidence time)."""
    if note.last_seen is None:
        return None
    return max(0, int((note.created_at - note.last_seen).total_seconds()))


def age_text(seconds: int) -> str:
    """`45s`, `12m`, `3h 5m`, `14d 3h`: the two largest units, for a person deciding how urgent."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def _age(note: Notification) -> str | None:
    seconds = evidence_age_seconds(note)
    if seconds is None:
        return None
    stale = " - old evidence, not a live attack" if seconds >= 86400 else ""
    return f"newest event {age_text(seconds)} before this message{stale}"


def facts(note: Notification) -> list[tuple[str, str]]:
    """The labelled facts a responder needs, in reading order, already terminal-safe."""
    reasons = "; ".join(safe(r, 300) for r in note.confidence_reasons)
    rows = [
        ("Incident", safe(note.incident_id, 80)),
        ("Scenario", f"{safe(note.scenario_id, 120)} - {safe(note.title, 300)}"),
        ("Entity", entity_text(note)),
        ("Severity", safe(note.severity, 20)),
        ("Confidence", f"{note.confidence:.2f}" + (f" ({reasons})" if reasons else "")),
        ("Seen", _seen(note)),
        *([("Age", age)] if (age := _age(note)) else []),
        ("Findings", str(note.finding_count)),
        ("ATT&CK", ", ".join(safe(a, 40) for a in note.attack) or "-"),
    ]
    if note.level:
        rows.append(("Level", f"{note.level} (for {safe(note.target, 120)})"))
    elif note.target:
        rows.append(("For", safe(note.target, 120)))
    return rows


def evidence_lines(note: Notification, line_limit: int | None = 2000) -> list[str]:
    """`path:offset: line`, every part escaped."""
    return [
        f"{safe(ev.path, 500)}:{int(ev.offset)}: {safe(ev.line, line_limit)}" for ev in note.evidence
    ]


def _asks_for_ack(note: Notification) -> bool:
    """Messages about an incident already acknowledged or resolved do not ask for an ack."""
    return note.event not in ("acknowledge", "resolve") and bool(note.ack_command)


def _item_entity(item: dict[str, Any]) -> str:
    return ", ".join(f"{safe(k, 100)}={safe(v, 300)}" for k, v in sorted(item["entity"].items())) or "(none)"


def _digest_plain(note: Notification) -> list[str]:
    """One block per incident of a digest: what, about whom, when, how to take it."""
    out = []
    for number, item in enumerate(digest.items(note), 1):
        out += [
            f"{number}. [{safe(item['severity'], 20).upper()}] {safe(item['title'], 300)}: {_item_entity(item)}"
            f" ({safe(item['incident_id'], 80)})",
            f"   Seen: {safe(digest.seen_text(item), 100)}; findings: {int(item['count'])};"
            f" confidence {float(item['confidence']):.2f}",
            f"   Acknowledge: {safe(item['ack_command'], 300)}",
            "",
        ]
    return out


def plain_text(note: Notification) -> str:
    """Subject line plus the body a responder acts on; safe to print on a terminal."""
    out = [subject(note), ""]
    if digest.is_digest(note):
        out += ([EXERCISE_BANNER, ""] if note.exercise else []) + [safe(note.summary, 1000), ""]
        return "\n".join(out + _digest_plain(note))
    if note.exercise:
        out += [EXERCISE_BANNER, ""]
    if note.summary:
        out += [safe(note.summary, 1000), ""]
    rows = facts(note)
    width = max(len(label) for label, _ in rows)
    out += [f"{label + ':':<{width + 1}} {value}" for label, value in rows]
    if note.evidence:
        out += ["", "Evidence (path:offset: line):"]
        out += [f"  {line}" for line in evidence_lines(note)]
    if _asks_for_ack(note):
        out += ["", f"Acknowledge: {safe(note.ack_command, 300)}"]
    return "\n".join(out) + "\n"


# --- Slack mrkdwn -------------------------------------------------------------------------------


def mrkdwn_escape(text: object, limit: int | None = 2000) -> str:
    """Slack's three control characters as entities, so `<!channel>` or `<http://x|y>` stay text."""
    return safe(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn_code(text: object, limit: int | None = 2000) -> str:
    """Escaped text for a code span/block; Slack has no backtick escape, so backticks become `ˋ`."""
    return mrkdwn_escape(text, limit).replace("`", "\u02cb")


def markdown_sections(note: Notification, evidence_budget: int = 2800) -> list[str]:
    """The Slack message as separate mrkdwn sections (one Block Kit section each, each section
    under Slack's 3000-character limit: evidence lines are cut to 300 characters and only as
    many as fit in `evidence_budget` are shown)."""
    head = []
    if note.exercise:
        head.append(f"*{mrkdwn_escape(EXERCISE_BANNER)}*")
    head.append(f"*{mrkdwn_escape(subject(note))}*")
    if note.summary:
        head.append(mrkdwn_escape(note.summary, 1000))
    if digest.is_digest(note):
        return ["\n".join(head), *_digest_sections(note, evidence_budget)]
    for label, value in facts(note):
        shown = f"`{mrkdwn_code(value)}`" if label == "Entity" else mrkdwn_escape(value)
        head.append(f"*{mrkdwn_escape(label)}:* {shown}")
    sections = ["\n".join(head)]
    if note.evidence:
        lines: list[str] = []
        for line in evidence_lines(note, 300):
            shown = mrkdwn_code(line, None)
            if sum(len(x) + 1 for x in lines) + len(shown) > evidence_budget:
                break
            lines.append(shown)
        hidden = len(note.evidence) - len(lines)
        more = f"\n_{hidden} more evidence lines in the incident_" if hidden > 0 else ""
        sections.append("*Evidence:*\n```\n" + "\n".join(lines) + "\n```" + more)
    if _asks_for_ack(note):
        sections.append(f"*Acknowledge:* `{mrkdwn_code(note.ack_command, 300)}`")
    return sections


def _digest_sections(note: Notification, budget: int) -> list[str]:
    """A digest's incidents in mrkdwn, as many as fit in a section, then how many more."""
    lines: list[str] = []
    entries = digest.items(note)
    for item in entries:
        line = (f"*[{mrkdwn_escape(item['severity'], 20).upper()}]* {mrkdwn_escape(item['title'], 300)}: "
                f"`{mrkdwn_code(_item_entity(item))}` ({mrkdwn_escape(item['incident_id'], 80)}) "
                f"`{mrkdwn_code(item['ack_command'], 300)}`")
        if sum(len(x) + 1 for x in lines) + len(line) > budget:
            break
        lines.append(line)
    hidden = len(entries) - len(lines)
    return ["\n".join(lines) + (f"\n_{hidden} more in `logwarden incidents list`_" if hidden > 0 else "")]


def markdown(note: Notification) -> str:
    """The whole message in Slack mrkdwn, log content escaped."""
    return "\n".join(markdown_sections(note))


# --- JSON -----------------------------------------------------------------------------------------


def payload(note: Notification) -> dict[str, Any]:
    """The stable machine-readable form (webhook body, journal line, PagerDuty custom_details).

    Log-derived strings are terminal-safe: a consumer that prints them cannot be attacked;
    the raw line stays in the log file at `path`/`offset`.
    """
    return {
        "schema": PAYLOAD_SCHEMA,
        "id": note.id,
        "dedup_key": note.dedup_key,
        "incident_id": note.incident_id,
        "event": note.event,
        "level": note.level,
        "target": note.target,
        "severity": note.severity,
        "confidence": note.confidence,
        "reasons": [safe(r, 500) for r in note.confidence_reasons],
        "title": safe(note.title, 500),
        "summary": safe(note.summary, 1000),
        "scenario_id": note.scenario_id,
        "entity": {safe(k, 100): safe(v, 500) for k, v in sorted(note.entity.items())},
        "first_seen": iso(note.first_seen),
        "last_seen": iso(note.last_seen),
        "evidence_age_seconds": evidence_age_seconds(note),
        "count": note.finding_count,
        "attack": list(note.attack),
        "evidence": [
            {"path": safe(ev.path, 1000), "offset": int(ev.offset), "line": safe(ev.line)}
            for ev in note.evidence
        ],
        "ack_command": note.ack_command,
        "exercise": note.exercise,
        "created_at": iso(note.created_at),
        **({"digest": [
            {**item, "title": safe(item["title"], 500),
             "entity": {safe(k, 100): safe(v, 500) for k, v in sorted(item["entity"].items())}}
            for item in digest.items(note)
        ]} if digest.is_digest(note) else {}),
    }


def dumps(document: Any) -> str:
    """Canonical JSON (sorted keys, ASCII) with `<`, `>`, `&` as \\u escapes, like Go's encoder,
    so a receiver that pastes a value into HTML cannot be handed markup. Decodes unchanged."""
    text = json.dumps(document, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def to_json(note: Notification) -> str:
    """`payload(note)` serialized by `dumps`: one line, stable for identical notes."""
    return dumps(payload(note))
