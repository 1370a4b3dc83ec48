"""Chart geometry for server-rendered SVG: numbers in, coordinates out; the templates draw them.

No client-side library and nothing fetched: a chart is a handful of `<rect>`/`<path>` elements whose
coordinates come from here (numbers only, so nothing user-supplied reaches an attribute unescaped).
Every chart has a Y axis with three ticks in the series' unit and X ticks in the bucket's unit (minutes,
hours or days); every label is placed inside the viewBox (the browser tests check it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

WIDTH = 640.0
HEIGHT = 170.0
PAD_LEFT = 64.0
PAD_RIGHT = 8.0
PAD_TOP = 16.0
PAD_BOTTOM = 22.0
X_TICKS = 6


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    path: str
    points: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    anchor: str = "middle"


@dataclass
class Chart:
    title: str
    testid: str
    unit: str
    bars: list[Bar] = field(default_factory=list)
    lines: list[Series] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    width: float = WIDTH
    height: float = HEIGHT
    pad_left: float = PAD_LEFT
    plot_right: float = WIDTH - PAD_RIGHT
    plot_top: float = PAD_TOP
    plot_bottom: float = HEIGHT - PAD_BOTTOM
    has_data: bool = False

    @property
    def empty(self) -> bool:
        """No bucket in the range has a value at all (a range of zeros is data: it draws a flat chart)."""
        return not self.has_data


Values = dict[datetime, float | None]
Format = Callable[[float], str]


def _tick_label(moment: datetime, bucket: timedelta, span: timedelta) -> str:
    if bucket >= timedelta(days=1):
        return f"{moment:%b} {moment.day}"
    if span > timedelta(days=1):
        return f"{moment:%b} {moment.day} {moment:%H:%M}"
    return f"{moment:%H:%M}"


def _x_ticks(starts: Sequence[datetime], bucket: timedelta, slot: float) -> list[Tick]:
    if not starts:
        return []
    step = max(1, -(-len(starts) // X_TICKS))
    span = starts[-1] - starts[0] + bucket
    ticks = []
    for i in range(0, len(starts), step):
        x = PAD_LEFT + i * slot + slot / 2
        anchor = "start" if i == 0 and slot < 40 else "middle"
        if x + 40 > WIDTH - PAD_RIGHT:
            anchor = "end"
        ticks.append(Tick(round(x, 1), _tick_label(starts[i], bucket, span), anchor))
    return ticks


def _y_ticks(top: float, fmt: Format) -> list[Tick]:
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    return [
        Tick(round(HEIGHT - PAD_BOTTOM - share * plot_h, 1), fmt(top * share) if share else "0", "end")
        for share in (0.0, 0.5, 1.0)
    ]


def _frame(
    title: str, testid: str, unit: str, starts: Sequence[datetime], bucket: timedelta
) -> tuple[Chart, float]:
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(starts), 1)
    chart = Chart(title=title, testid=testid, unit=unit)
    chart.x_ticks = _x_ticks(starts, bucket, slot)
    return chart, slot


def bar_chart(
    title: str,
    testid: str,
    unit: str,
    starts: Sequence[datetime],
    bucket: timedelta,
    series: Sequence[tuple[str, str, Values]],
    fmt: Format,
) -> Chart:
    """Grouped bars per bucket, one per series (name, css class, values by bucket start); missing is zero."""
    chart, slot = _frame(title, testid, unit, starts, bucket)
    chart.legend = [(name, css) for name, css, _ in series] if len(series) > 1 else []
    values = [v for _, _, by_start in series for v in by_start.values() if v is not None]
    chart.has_data = any(start in by_start for _, _, by_start in series for start in starts)
    top = max(values, default=0.0)
    chart.y_ticks = _y_ticks(top if top > 0 else 1.0, fmt) if chart.has_data else []
    if top <= 0:
        return chart
    plot_h = chart.plot_bottom - PAD_TOP
    group = slot * 0.8
    width = group / len(series)
    for i, start in enumerate(starts):
        for j, (name, css, by_start) in enumerate(series):
            value = by_start.get(start) or 0.0
            if value <= 0:
                continue
            height = max(value / top * plot_h, 1.0)
            chart.bars.append(
                Bar(
                    x=round(PAD_LEFT + i * slot + slot * 0.1 + j * width, 2),
                    y=round(chart.plot_bottom - height, 2),
                    width=round(max(width, 0.5), 2),
                    height=round(height, 2),
                    css=css,
                    title=f"{_when(start, bucket)}: {name} {fmt(value)}",
                )
            )
    return chart


def line_chart(
    title: str,
    testid: str,
    unit: str,
    starts: Sequence[datetime],
    bucket: timedelta,
    series: Sequence[tuple[str, str, Values]],
    fmt: Format,
) -> Chart:
    """One polyline per series through the buckets that have a value (a bucket without requests has no
    latency: the line joins its neighbours, and every measured bucket also gets a dot)."""
    chart, slot = _frame(title, testid, unit, starts, bucket)
    chart.legend = [(name, css) for name, css, _ in series]
    top = max((v for _, _, values in series for v in values.values() if v is not None), default=0.0)
    chart.has_data = any(values.get(start) is not None for _, _, values in series for start in starts)
    chart.y_ticks = _y_ticks(top, fmt) if chart.has_data else []
    plot_h = chart.plot_bottom - PAD_TOP
    for name, css, values in series:
        commands: list[str] = []
        points: list[tuple[float, float]] = []
        for i, start in enumerate(starts):
            value = values.get(start)
            if value is None:
                continue
            x = round(PAD_LEFT + i * slot + slot / 2, 1)
            y = round(chart.plot_bottom - (value / top * plot_h if top > 0 else 0.0), 1)
            commands.append(f"{'L' if commands else 'M'}{x},{y}")
            points.append((x, y))
        chart.lines.append(Series(name=name, css=css, path=" ".join(commands), points=tuple(points)))
    return chart


def _when(start: datetime, bucket: timedelta) -> str:
    if bucket >= timedelta(days=1):
        return f"{start:%Y-%m-%d} UTC"
    return f"{start:%Y-%m-%d %H:%M} UTC, {int(bucket.total_seconds() // 60)} min"
