"""Series for charts, in buckets that follow the range: minutes for short ranges (from raw request rows,
cheap for an hour or a few), hours from the hourly rollups and days from the daily ones (a few dozen
rows per key for 30 days, whatever the traffic); and the versions, models, providers and assistants a
window has seen."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, Table, select

from llmops.reporting.filters import Filters, filtered
from llmops.reporting.queries import exact_quantile, rollup_sums
from llmops.reporting.window import Range, Window
from llmops.storage import histogram
from llmops.storage.rollups import DAY as DAY_COLUMN
from llmops.storage.rollups import HOUR as HOUR_COLUMN
from llmops.storage.rollups import REQUESTS
from llmops.storage.tables import LIVE_TRAFFIC, requests
from llmops.storage.timeutil import day_ceil, hour_ceil, hour_floor, utc

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
RAW_LIMIT = timedelta(hours=6)  # up to this long a window is bucketed by minutes from raw rows
MAX_MINUTE_BUCKETS = 72


class Point(BaseModel):
    """One bucket of live requests starting at `start` and `bucket_s` seconds long."""

    start: datetime
    bucket_s: int
    requests: int
    errors: int
    error_rate: float
    degraded: int
    degraded_rate: float
    retries: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    avg_latency_ms: float | None
    p95_latency_ms: float | None


class FilterChoices(BaseModel):
    prompt_versions: list[str]
    models: list[str]
    providers: list[str]
    assistants: list[str]


def bucket_for(window: Window) -> timedelta:
    """Minutes (1, 2, 5 … so at most 72 bars) up to 6 h, hours up to 7 days, days beyond."""
    span = None if window.start is None else window.end - window.start
    if span is None or span > timedelta(days=7):
        return DAY
    if span > RAW_LIMIT:
        return HOUR
    for minutes in (1, 2, 5, 10):
        if span / (minutes * MINUTE) <= MAX_MINUTE_BUCKETS:
            return minutes * MINUTE
    return 10 * MINUTE


def floor_to(moment: datetime, bucket: timedelta) -> datetime:
    """The start of `moment`'s bucket (buckets are aligned on the UTC epoch)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((utc(moment) - epoch) // bucket) * bucket


def bucket_starts(start: datetime, end: datetime, bucket: timedelta) -> list[datetime]:
    """Every bucket from `start`'s up to (not including) `end`."""
    moment, starts = floor_to(start, bucket), []
    while moment < end:
        starts.append(moment)
        try:
            moment += bucket
        except OverflowError:  # a window ending near year 9999
            break
    return starts


def timeseries(
    engine: Engine, window: Window, filters: Filters, bucket: timedelta | None = None
) -> list[Point]:
    """Points over the window, in `bucket` (default `bucket_for(window)`), only buckets with requests."""
    bucket = bucket or bucket_for(window)
    if bucket < HOUR:
        return _from_raw(engine, window, filters, bucket)
    return _merge(_from_rollups(engine, window, filters, bucket), bucket)


class _Sums:
    """Counters of one bucket, added up from rollup hours or raw rows."""

    def __init__(self) -> None:
        self.requests = self.errors = self.degraded = self.retries = 0
        self.input_tokens = self.output_tokens = 0
        self.cost_usd = self.latency_sum_ms = 0.0
        self.buckets = [0] * histogram.BUCKETS
        self.latencies: list[float] | None = None

    def point(self, start: datetime, bucket: timedelta) -> Point:
        count = self.requests
        if self.latencies is not None:
            p95 = exact_quantile(sorted(self.latencies), 0.95)
        else:
            p95 = histogram.quantile(self.buckets, 0.95)
        return Point(
            start=start,
            bucket_s=int(bucket.total_seconds()),
            requests=count,
            errors=self.errors,
            error_rate=self.errors / count if count else 0.0,
            degraded=self.degraded,
            degraded_rate=self.degraded / count if count else 0.0,
            retries=self.retries,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=self.cost_usd,
            avg_latency_ms=self.latency_sum_ms / count if count else None,
            p95_latency_ms=p95,
        )


_COUNTERS = ("requests", "errors", "degraded", "retries", "input_tokens", "output_tokens", "cost_usd")
_SUMMED = (*_COUNTERS, "latency_sum_ms", *histogram.COLUMNS)


def _from_rollups(
    engine: Engine, window: Window, filters: Filters, bucket: timedelta
) -> list[tuple[datetime, _Sums]]:
    """Rollup rows from the hour of the window's start up to its end: whole days from the daily rollups
    when the buckets are whole days, everything else from the hourly ones."""
    rows: list[tuple[Any, ...]] = []
    with engine.connect() as connection:
        for table, period, (first, last) in _rollup_reads(window, bucket):
            query = rollup_sums(table, (period,), _SUMMED).where(table.c[period] < last)
            if first is not None:
                query = query.where(table.c[period] >= first)
            rows += [tuple(row) for row in connection.execute(filtered(query, table, filters))]
    periods = []
    for moment, *values in rows:
        sums = _Sums()
        counters, latency_sum, buckets = (
            values[: len(_COUNTERS)],
            values[len(_COUNTERS)],
            values[len(_COUNTERS) + 1 :],
        )
        for name, value in zip(_COUNTERS, counters, strict=True):
            setattr(sums, name, float(value or 0) if name == "cost_usd" else int(value or 0))
        sums.latency_sum_ms = float(latency_sum or 0.0)
        sums.buckets = [int(b or 0) for b in buckets]
        periods.append((utc(moment), sums))
    return periods


def _rollup_reads(window: Window, bucket: timedelta) -> list[tuple[Table, str, Range]]:
    """The rollup tables and ranges covering the window's hours (its first and last ones whole): whole
    days from the daily table when the buckets are whole days, the other hours from the hourly one."""
    hours = Window(None if window.start is None else hour_floor(window.start), hour_ceil(window.end))
    days = hours.rollup_days
    if bucket % DAY or days is None:
        return [(REQUESTS.hourly, HOUR_COLUMN, (hours.start, hours.end))]
    return [
        (REQUESTS.daily, DAY_COLUMN, days),
        *((REQUESTS.hourly, HOUR_COLUMN, piece) for piece in hours.hour_ranges),
    ]


def _merge(hours: Iterable[tuple[datetime, _Sums]], bucket: timedelta) -> list[Point]:
    merged: dict[datetime, _Sums] = {}
    for hour, sums in hours:
        into = merged.setdefault(floor_to(hour, bucket), _Sums())
        for name in (*_COUNTERS, "latency_sum_ms"):
            setattr(into, name, getattr(into, name) + getattr(sums, name))
        into.buckets = [a + b for a, b in zip(into.buckets, sums.buckets, strict=True)]
    return [merged[start].point(start, bucket) for start in sorted(merged)]


def _from_raw(engine: Engine, window: Window, filters: Filters, bucket: timedelta) -> list[Point]:
    """Minute buckets from the request rows themselves (exact p95); a short window holds few rows."""
    table = requests
    query = select(
        table.c.created_at,
        table.c.status,
        table.c.degraded,
        table.c.retries,
        table.c.input_tokens,
        table.c.output_tokens,
        table.c.cost_usd,
        table.c.latency_ms,
    ).where(LIVE_TRAFFIC, table.c.created_at < window.end)
    if window.start is not None:
        query = query.where(table.c.created_at >= window.start)
    with engine.connect() as connection:
        rows = connection.execute(filtered(query, table, filters)).all()
    sums: dict[datetime, _Sums] = {}
    for created, status, degraded, retries, tokens_in, tokens_out, cost, latency in rows:
        into = sums.setdefault(floor_to(created, bucket), _Sums())
        if into.latencies is None:
            into.latencies = []
        into.requests += 1
        into.errors += int(status == "error")
        into.degraded += int(bool(degraded))
        into.retries += int(retries or 0)
        into.input_tokens += int(tokens_in or 0)
        into.output_tokens += int(tokens_out or 0)
        into.cost_usd += float(cost or 0.0)
        into.latency_sum_ms += float(latency)
        into.latencies.append(float(latency))
    return [sums[start].point(start, bucket) for start in sorted(sums)]


def filter_choices(engine: Engine, window: Window) -> FilterChoices:
    """Distinct versions, models, providers and assistants seen from the window's first hour on (from
    the rollups: the daily ones for whole days, the hourly ones before the first midnight)."""
    columns = ("prompt_version", "model", "provider", "assistant")
    start = None if window.start is None else hour_floor(window.start)
    first = None if start is None else day_ceil(start)
    queries = [select(*(REQUESTS.daily.c[name] for name in columns)).distinct()]
    if first is not None:
        queries[0] = queries[0].where(REQUESTS.daily.c[DAY_COLUMN] >= first)
    if start is not None and first is not None and start < first:
        hourly = REQUESTS.hourly.c
        queries.append(
            select(*(hourly[name] for name in columns))
            .distinct()
            .where(hourly[HOUR_COLUMN] >= start, hourly[HOUR_COLUMN] < first)
        )
    rows: set[tuple[str, ...]] = set()
    with engine.connect() as connection:
        for query in queries:
            rows.update(tuple(row) for row in connection.execute(query))
    return FilterChoices(
        prompt_versions=sorted({r[0] for r in rows}),
        models=sorted({r[1] for r in rows}),
        providers=sorted({r[2] for r in rows}),
        assistants=sorted({r[3] for r in rows}),
    )
