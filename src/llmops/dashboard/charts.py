"""Chart geometry for server-rendered SVG: numbers in, coordinates out; the templates draw them.

No client-side library and nothing fetched: a chart is a handful of `<rect>`/`<path>` elements whose
coordinates come from here (numbers only, so nothing user-supplied reaches an attribute unescaped).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

WIDTH = 640.0
HEIGHT = 150.0
PAD_LEFT = 56.0
PAD_BOTTOM = 18.0
MAX_CHART_HOURS = 92 * 24  # charts show at most the last 92 days of a window


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    path: str
    points: tuple[tuple[float, float], ...] = ()


@dataclass
class Chart:
    title: str
    testid: str
    y_label: str
    bars: list[Bar] = field(default_factory=list)
    lines: list[Series] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    width: float = WIDTH
    height: float = HEIGHT
    pad_left: float = PAD_LEFT
    plot_bottom: float = HEIGHT - PAD_BOTTOM
    has_data: bool = False

    @property
    def empty(self) -> bool:
        """No hour in the range has a value at all (a range of zeros is data: it draws a flat chart)."""
        return not self.has_data


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Every whole hour from `start`'s hour up to (not including) `end`, at most the last
    `MAX_CHART_HOURS` (a chart of a years-long window would be millions of bars)."""
    start = max(start, end - timedelta(hours=MAX_CHART_HOURS))
    hour = start.replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def _x_labels(hours: Sequence[datetime], slot: float) -> list[tuple[float, str]]:
    if not hours:
        return []
    step = max(1, len(hours) // 6)
    fmt = "%H:%M" if len(hours) <= 48 else "%m-%d"
    return [(PAD_LEFT + i * slot, hours[i].strftime(fmt)) for i in range(0, len(hours), step)]


def bar_chart(
    title: str,
    testid: str,
    hours: Sequence[datetime],
    values: dict[datetime, float],
    fmt: Callable[[float], str],
) -> Chart:
    """One bar per hour; missing hours are zero."""
    plot_w = WIDTH - PAD_LEFT
    plot_h = HEIGHT - PAD_BOTTOM - 8
    top = max(values.values(), default=0.0)
    chart = Chart(title=title, testid=testid, y_label=fmt(top), has_data=any(h in values for h in hours))
    slot = plot_w / max(len(hours), 1)
    chart.x_labels = _x_labels(hours, slot)
    if top <= 0:
        return chart
    for i, hour in enumerate(hours):
        value = values.get(hour, 0.0)
        if value <= 0:
            continue
        height = max(value / top * plot_h, 1.0)
        chart.bars.append(
            Bar(
                x=round(PAD_LEFT + i * slot + slot * 0.1, 2),
                y=round(chart.plot_bottom - height, 2),
                width=round(max(slot * 0.8, 0.5), 2),
                height=round(height, 2),
                title=f"{hour:%Y-%m-%d %H:00} UTC: {fmt(value)}",
            )
        )
    return chart


def line_chart(
    title: str,
    testid: str,
    hours: Sequence[datetime],
    series: Sequence[tuple[str, str, dict[datetime, float | None]]],
    fmt: Callable[[float], str],
) -> Chart:
    """One polyline per series (name, css class, values by hour); a gap where an hour has no value."""
    plot_w = WIDTH - PAD_LEFT
    plot_h = HEIGHT - PAD_BOTTOM - 8
    top = max((v for _, _, values in series for v in values.values() if v is not None), default=0.0)
    has_data = any(values.get(hour) is not None for _, _, values in series for hour in hours)
    chart = Chart(title=title, testid=testid, y_label=fmt(top), has_data=has_data)
    slot = plot_w / max(len(hours), 1)
    chart.x_labels = _x_labels(hours, slot)
    for name, css, values in series:
        commands: list[str] = []
        points: list[tuple[float, float]] = []
        pen_up = True
        for i, hour in enumerate(hours):
            value = values.get(hour)
            if value is None:
                pen_up = True
                continue
            x = round(PAD_LEFT + i * slot + slot / 2, 1)
            y = round(chart.plot_bottom - (value / top * plot_h if top > 0 else 0.0), 1)
            commands.append(f"{'M' if pen_up else 'L'}{x},{y}")
            points.append((x, y))
            pen_up = False
        chart.lines.append(Series(name=name, css=css, path=" ".join(commands), points=tuple(points)))
    return chart
