"""Chart geometry for the HTML reports: plain numbers the templates turn into inline SVG.

No chart library and no script: the report must be one self-contained file that opens offline
on a phone. Every label passes through the template's autoescape like any other text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from escalation.engine.calendar import WEEKDAYS
from escalation.reports.coverage import WEEK_MINUTES

ROW_HEIGHT = 22
LABEL_WIDTH = 140
BAR_AREA = 180
VALUE_WIDTH = 150


@dataclass(frozen=True)
class BarRow:
    label: str
    y: int
    width: float  # bar length in SVG units
    marker: float | None  # x of a secondary marker (p90), if any
    text: str  # the value as shown
    css: str
    text_x: float  # where the value is written: after the bar and its marker


@dataclass(frozen=True)
class BarChart:
    title: str
    width: int
    height: int
    label_width: int
    rows: tuple[BarRow, ...]


def bar_chart(title: str, rows: list[tuple[str, float | None, str, str]], markers: list[float | None] | None = None) -> BarChart:
    """Horizontal bars: (label, value, shown text, css class); optional marker per row (p90)."""
    values = [v for _, v, _, _ in rows if v is not None] + [m for m in (markers or []) if m is not None]
    top = max(values, default=0) or 1
    built = []
    for index, (label, value, text, css) in enumerate(rows):
        marker = markers[index] if markers else None
        width = round((value or 0) / top * BAR_AREA, 2)
        marker_x = round(LABEL_WIDTH + marker / top * BAR_AREA, 2) if marker is not None else None
        built.append(
            BarRow(
                label=label,
                y=index * ROW_HEIGHT + 4,
                width=width,
                marker=marker_x,
                text=text,
                css=css,
                text_x=max(LABEL_WIDTH + width, marker_x or 0) + 5,
            )
        )
    return BarChart(title, LABEL_WIDTH + BAR_AREA + VALUE_WIDTH, len(rows) * ROW_HEIGHT + 8, LABEL_WIDTH, tuple(built))


@dataclass(frozen=True)
class WeekCell:
    x: int
    y: int
    css: str  # business | covered | uncovered
    title: str


@dataclass(frozen=True)
class WeekGrid:
    title: str
    cells: tuple[WeekCell, ...]
    days: tuple[str, ...]


CELL = 14
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def business_minute_set(hours: dict[str, list[str]]) -> set[int]:
    """Minutes of the week (Monday 00:00 = 0) inside business hours, from a described calendar."""
    out: set[int] = set()
    for day, name in enumerate(WEEKDAYS):
        for text in hours.get(name, []):
            start_text, end_text = text.split("-")
            start = int(start_text[:-3]) * 60 + int(start_text[-2:])
            end = int(end_text[:-3]) * 60 + int(end_text[-2:])
            out.update((day * 1440 + m) % WEEK_MINUTES for m in range(start, end))
    return out


def week_grid(policy: dict[str, Any]) -> WeekGrid:
    """7 x 24 hours of one policy's week: business hours, after hours paged at once, or held."""
    business_minutes = business_minute_set(policy["calendar"]["hours"])
    cells = []
    notify = policy["coverage"]["after_hours"] == "notify" and policy["levels"]
    for day in range(7):
        for hour in range(24):
            start = day * 1440 + hour * 60
            inside = sum(1 for m in range(start, start + 60) if m % WEEK_MINUTES in business_minutes)
            if inside >= 30:
                css, what = "business", "business hours: paged"
            elif notify:
                css, what = "covered", "after hours: paged"
            else:
                css, what = "uncovered", "after hours: held until business hours"
            cells.append(WeekCell(x=36 + hour * CELL, y=day * CELL + 14, css=css, title=f"{DAYS[day]} {hour:02d}:00 {what}"))
    return WeekGrid(title=f"Week of policy {policy['name']}", cells=tuple(cells), days=DAYS)


@dataclass(frozen=True)
class TrendBar:
    x: float
    y: float
    width: float
    height: float
    css: str  # sev-<severity>
    title: str


@dataclass(frozen=True)
class TrendChart:
    title: str
    width: int
    height: int
    bars: tuple[TrendBar, ...]
    labels: tuple[tuple[float, str], ...]  # (x, day) under the axis
    ticks: tuple[tuple[float, int], ...]  # (y, count) on the left axis
    legend: tuple[tuple[float, str], ...]  # (x, severity)
    baseline: float


TREND_AREA = 120  # height of the bars' area
TREND_LEFT = 30


def trend_chart(trend: dict[str, Any]) -> TrendChart:
    """Incidents per day, stacked by severity (least severe at the bottom), one bar per day."""
    days = trend["days"]
    count = max(len(days), 1)
    step = max(4.0, min(24.0, 640 / count))
    top = max((d["total"] for d in days), default=0) or 1
    scale = TREND_AREA / top
    baseline = 22 + TREND_AREA
    bars: list[TrendBar] = []
    for index, day in enumerate(days):
        y = baseline
        for severity in reversed(trend["severities"]):  # low first, critical on top
            n = day.get(severity, 0)
            if not n:
                continue
            height = round(n * scale, 2)
            y = round(y - height, 2)
            bars.append(TrendBar(round(TREND_LEFT + index * step + 1, 2), y, round(step - 2, 2), height,
                                 f"sev-{severity}", f"{day['day']}: {n} {severity}"))
    every = max(1, round(count / 8))
    labels = tuple((round(TREND_LEFT + i * step, 2), d["day"][5:]) for i, d in enumerate(days) if i % every == 0)
    ticks = tuple((round(baseline - v * scale, 2), v) for v in sorted({0, top // 2, top}))
    legend = tuple((TREND_LEFT + 80 * i, s) for i, s in enumerate(trend["severities"]))
    width = int(TREND_LEFT + count * step + 10)
    return TrendChart("Incidents per day of detection, by severity", max(width, 360), baseline + 20,
                      tuple(bars), labels, ticks, legend, baseline)
