"""The Sigma load report as text: one line per rule, totals per reason, and the load table
per log source (used by `logwarden rules sigma-check` and bench/bench_sigma.py)."""

from __future__ import annotations

from collections import Counter

from detector.checklist.sigma.load import LOADED, OUT_OF_SCOPE, SKIPPED, SigmaLoad


def rule_lines(load: SigmaLoad) -> list[str]:
    """`status  file:line  id  title` and, for a rule that did not load, its reason."""
    lines = []
    for o in load.outcomes:
        kind = "" if o.kind == "rule" else f"[{o.kind}] "
        head = f"{o.status:<12} {o.path}:{o.line}  {kind}{o.rule_id}  {o.title}"
        if o.status == LOADED:
            lines.append(f"{head}  ({o.detail})" if o.detail else head)
        else:
            lines.extend((head, f"{'':<13}{o.reason}: {o.detail}"))
    return lines


def totals_lines(load: SigmaLoad) -> list[str]:
    in_scope = load.in_scope
    loaded = load.count(LOADED)
    share = 100.0 * loaded / in_scope if in_scope else 100.0
    lines = [
        f"sigma: {loaded} of {in_scope} in-scope rules loaded ({share:.1f} %), "
        f"{load.count(SKIPPED)} skipped, {load.count(OUT_OF_SCOPE)} out of scope"
    ]
    reasons = Counter((o.status, o.reason) for o in load.outcomes if o.status != LOADED)
    for (status, reason), count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {count:>5}  {status}: {reason}")
    return lines


def logsource_table(load: SigmaLoad) -> list[str]:
    """Rules per log source: read, loaded, skipped, out of scope."""
    rows: dict[str, Counter[str]] = {}
    for o in load.outcomes:
        if o.kind != "filter":
            rows.setdefault(o.logsource or "-", Counter())[o.status] += 1
    width = max([len("log source"), *(len(k) for k in rows)])
    lines = [f"  {'log source':<{width}} {'rules':>6} {'loaded':>7} {'skipped':>8} {'out of scope':>13}"]
    total: Counter[str] = Counter()
    for source in sorted(rows):
        counts = rows[source]
        total.update(counts)
        lines.append(_row(source, counts, width))
    lines.append(_row("total", total, width))
    return lines


def _row(label: str, counts: Counter[str], width: int) -> str:
    return (
        f"  {label:<{width}} {sum(counts.values()):>6} {counts[LOADED]:>7} {counts[SKIPPED]:>8} "
        f"{counts[OUT_OF_SCOPE]:>13}"
    )
