"""What a run tells about parsing: lines parsed and classified per format and per service, and
a few unparsed lines with the reason each was not read (`logwarden scan --format json` stats)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from detector.textsafe import terminal_safe

MAX_SAMPLES_PER_FILE_REASON = 3
MAX_RUN_SAMPLES = 20
SAMPLE_CHARS = 200


def _value_counts(values: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    return {entry["values"]: entry["counts"] for entry in pc.value_counts(values).to_pylist() if entry["values"]}


def parse_counts(table: pa.Table) -> dict[str, dict[str, list[int]]]:
    """{"format": {name: [parsed, classified]}, "service": {...}} for one parsed batch.

    A line is classified when it got an `event.action`; its service is `event.dataset`
    (a catalog service) or, for a syslog line no service owns, its program."""
    action = table.column("event.action") if "event.action" in table.column_names else None
    classified = pc.is_valid(action) if action is not None else pa.repeat(pa.scalar(False), len(table))
    service = table.column("event.dataset") if "event.dataset" in table.column_names else None
    if service is not None and "process.name" in table.column_names:
        service = pc.coalesce(service, table.column("process.name"))
    counts: dict[str, dict[str, list[int]]] = {}
    for key, values in (("format", table.column("log.format")), ("service", service)):
        if values is None:
            continue
        parsed = _value_counts(values)
        hits = _value_counts(pc.filter(values, classified))
        counts[key] = {name: [count, hits.get(name, 0)] for name, count in parsed.items()}
    return counts


def add_counts(total: dict[str, dict[str, list[int]]], more: dict[str, dict[str, list[int]]]) -> None:
    for key, entries in more.items():
        bucket = total.setdefault(key, {})
        for name, (parsed, classified) in entries.items():
            entry = bucket.setdefault(name, [0, 0])
            entry[0] += parsed
            entry[1] += classified


def counts_report(total: dict[str, dict[str, list[int]]]) -> dict[str, dict[str, dict[str, int]]]:
    """The counts as JSON-friendly objects, largest first."""
    return {
        key: {
            terminal_safe(name): {"parsed": parsed, "classified": classified}
            for name, (parsed, classified) in sorted(entries.items(), key=lambda item: -item[1][0])
        }
        for key, entries in total.items()
    }


def keep_samples(samples: list[dict[str, Any]], path: str, rows: list[tuple[int, str, str]]) -> None:
    """Keep the first few unparsed lines of each reason (escaped, shortened) for the report."""
    seen: dict[str, int] = {}
    for sample in samples:
        seen[sample["reason"]] = seen.get(sample["reason"], 0) + 1
    for offset, reason, text in rows:
        if seen.get(reason, 0) >= MAX_SAMPLES_PER_FILE_REASON:
            continue
        seen[reason] = seen.get(reason, 0) + 1
        samples.append({"path": path, "offset": offset, "reason": reason, "line": terminal_safe(text[:SAMPLE_CHARS])})
