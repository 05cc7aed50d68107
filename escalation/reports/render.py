"""Report documents as JSON, Markdown or one self-contained HTML file.

Log content is hostile (DESIGN §7): HTML goes through Jinja2 autoescape (and the page carries a
Content-Security-Policy that allows no script at all, as a second wall) after control characters
were made visible (`_html_finalize`: a terminal showing the file runs none); Markdown output passes
every expression through `markdown_safe` unless a filter produced it from known-safe parts.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from detector.textsafe import controls_escaped, markdown_code, markdown_safe
from escalation.reports.charts import BarChart, bar_chart, trend_chart, week_grid
from escalation.reports.stats import DAY_CLASSES

FORMATS = ("html", "md", "json")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?Z)?$")
DAY_LABELS = {"all": "all", "business": "business hours", "after_hours": "after hours", "holiday": "holidays"}
METRICS = (
    ("time_to_detect", "Time to detect"),
    ("time_to_notify", "Time to notify"),
    ("time_to_acknowledge", "Time to acknowledge"),
    ("time_to_resolve", "Time to resolve"),
)


class Md(str):
    """Markdown that is already safe (built by a filter from escaped parts)."""


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    value = abs(float(seconds))
    sign = "-" if seconds < 0 else ""
    if value < 60:
        return f"{sign}{value:.0f}s" if value == int(value) else f"{sign}{value:.1f}s"
    parts = []
    whole = int(round(value))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
        if len(parts) == 2:
            break
    return sign + " ".join(parts)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %".replace(".0 %", " %")


def _ts(value: str | None) -> str:
    """Timestamps as the reports write them; anything else is treated as text."""
    if value is None:
        return "—"
    return value.replace("T", " ").replace("Z", "Z") if _TIMESTAMP.match(value) else value


def _md_finalize(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Md):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    return markdown_safe(str(value), limit=None)


def _html_finalize(value: Any) -> Any:
    """Every text a template prints, control characters escaped before autoescape runs
    (markup the templates built themselves, such as the SVG charts, is left as it is)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return controls_escaped(value)
    return value


def _md_ts(value: str | None) -> Md:
    text = _ts(value)
    return Md(text) if value is None or _TIMESTAMP.match(value) else Md(markdown_safe(text, limit=None))


def _common_filters(env: Environment) -> None:
    env.filters["dur"] = human_duration
    env.filters["pct"] = percent
    env.filters["ts"] = _ts
    env.globals.update(DAY_LABELS=DAY_LABELS, DAY_CLASSES=DAY_CLASSES, METRICS=METRICS)


@lru_cache(maxsize=1)
def html_env() -> Environment:
    env = Environment(
        loader=PackageLoader("escalation.reports", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=_html_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    _common_filters(env)
    env.filters["kv"] = lambda d: [(k, v) for k, v in d.items() if v not in (None, "", [], {})]
    env.filters["tojson_text"] = lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False)
    return env


@lru_cache(maxsize=1)
def markdown_env() -> Environment:
    env = Environment(
        loader=PackageLoader("escalation.reports", "templates"),
        autoescape=False,
        finalize=_md_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    _common_filters(env)
    env.filters["dur"] = lambda s: Md(human_duration(s))
    env.filters["pct"] = lambda v: Md(percent(v))
    env.filters["ts"] = _md_ts
    env.filters["code"] = lambda v: Md(markdown_code(str(v), limit=None)) if v is not None else Md("—")
    # in a table cell a `|` ends the cell even inside a code span (GFM); `\|` keeps it in the code
    env.filters["cellcode"] = lambda v: (
        Md(markdown_code(str(v), limit=None).replace("|", "\\|")) if v is not None else Md("—")
    )
    env.filters["kv"] = lambda d: Md(
        "; ".join(f"{markdown_safe(str(k), None)}: {markdown_safe(_scalar(v), None)}"
                  for k, v in d.items() if v not in (None, "", [], {}))
    )
    return env


def _scalar(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


# --- charts from a document ---------------------------------------------------------------------


def escalation_charts(doc: dict[str, Any]) -> dict[str, Any]:
    metrics: list[BarChart] = []
    for key, title in METRICS:
        splits = doc["metrics"][key]
        rows = [
            (f"{DAY_LABELS[d]} (n={splits[d]['n']})", splits[d]["median"], human_duration(splits[d]["median"])
             + (f" · p90 {human_duration(splits[d]['p90'])}" if splits[d]["p90"] is not None else ""), d)
            for d in DAY_CLASSES
        ]
        metrics.append(bar_chart(f"{title}: median by class of day (tick: p90)", rows,
                                 [splits[d]["p90"] for d in DAY_CLASSES]))
    summary = doc["summary"]
    by_day = bar_chart(
        "Incidents by class of day at detection",
        [(DAY_LABELS[d], summary["by_day_class"][d], str(summary["by_day_class"][d]), d) for d in DAY_CLASSES],
    )
    channels = bar_chart(
        "Delivery rate per channel",
        [(c["channel"], c["delivery_rate"] or 0, f"{percent(c['delivery_rate'])} of {c['messages']}",
          "ok" if (c["delivery_rate"] or 0) >= 0.999 else "bad") for c in doc["channels"]],
    ) if doc["channels"] else None
    weeks = [week_grid(p) for p in (doc["policy"] or {}).get("policies", [])]
    return {"metrics": metrics, "by_day": by_day, "channels": channels, "weeks": weeks,
            "trend": trend_chart(doc["trend"])}


def maturity_charts(doc: dict[str, Any]) -> dict[str, Any]:
    rows = [
        (activity_id, a["value"], f"{a['value']:g}", "ok" if a["value"] >= 1 else "mid" if a["value"] else "bad")
        for activity_id, a in doc["activities"].items()
    ]
    chart = bar_chart("Answer value per activity (0 .. 1)", rows)
    return {"activities": BarChart(chart.title, chart.width, chart.height, chart.label_width, chart.rows)}


# --- entry points -------------------------------------------------------------------------------


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"


def render_markdown(doc: dict[str, Any]) -> str:
    return markdown_env().get_template(f"{doc['report']}.md.j2").render(doc=doc)


def render_html(doc: dict[str, Any]) -> str:
    charts = escalation_charts(doc) if doc["report"] == "escalation" else maturity_charts(doc)
    return html_env().get_template(f"{doc['report']}.html.j2").render(doc=doc, charts=charts)


def render(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return render_json(doc)
    if fmt == "md":
        return render_markdown(doc)
    if fmt == "html":
        return render_html(doc)
    raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
