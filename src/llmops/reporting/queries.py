"""Summary queries: whole days from the daily rollups, the other whole hours from the hourly rollups,
the partial hours at the window's edges from raw rows.

Counts and sums are exact either way (rollups and raw rows hold the same requests, split by hour).
p95 is exact, from raw latencies, when the window holds at most `exact_limit` requests (and all of
them still have raw rows); otherwise it is interpolated from the histogram buckets. The limit is a
few thousand, not more: reading every latency of a 50,000-request window made small stores slower
to report on than a million-request one (~300 ms against ~200 ms), while the histogram's p95 lands
within one 26 % bucket and, interpolated, usually within a few percent (`bench/bench_report.py`
prints the error). Rollups outlive retention, so windows older than the retention period still
count, with histogram percentiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Select, Table, and_, case, func, or_, select, true

from llmops.reporting.filters import Filters, filtered
from llmops.reporting.models import QuantileMethod, Report, StepSummary, ToolLatency, VersionSummary
from llmops.reporting.window import Range, Window
from llmops.storage import histogram
from llmops.storage.rollups import DAY, HOUR, REQUESTS, STEPS, RollupSpec
from llmops.storage.tables import LIVE_TRAFFIC, requests, spans
from llmops.telemetry import conventions as c

EXACT_LIMIT = 5_000


@dataclass
class _Totals:
    """Summed counters (names as in the rollup tables) plus histogram buckets."""

    sums: dict[str, float] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * histogram.BUCKETS)

    def add(self, sums: dict[str, Any], buckets: Sequence[Any] = ()) -> None:
        for name, value in sums.items():
            self.sums[name] = self.sums.get(name, 0) + float(value or 0)
        for index, count in enumerate(buckets):
            self.buckets[index] += int(count or 0)

    def get(self, name: str) -> float:
        return self.sums.get(name, 0.0)


@dataclass
class _Quantiles:
    method: QuantileMethod
    p50: float | None = None
    p95: float | None = None
    by_key: dict[str, float | None] = field(default_factory=dict)


def build_report(
    engine: Engine, window: Window, filters: Filters | None = None, *, exact_limit: int = EXACT_LIMIT
) -> Report:
    """Summarise the live requests that started in the window, narrowed by `filters`."""
    filters = filters or Filters()
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        versions = _request_totals(connection, window, filters)
        steps = _step_totals(connection, window, filters)
        overall = _Totals()
        for totals in versions.values():
            overall.add(totals.sums, totals.buckets)
        count = int(overall.get("requests"))
        latency = _request_quantiles(connection, window, filters, versions, count, exact_limit)
        calls = int(sum(totals.get("calls") for totals in steps.values()))
        step_latency = _step_quantiles(connection, window, filters, steps, calls, exact_limit)
    return _assemble(window, filters, overall, versions, latency, steps, step_latency)


def _request_totals(connection: Connection, window: Window, filters: Filters) -> dict[str, _Totals]:
    totals = _rollup_totals(connection, REQUESTS, "prompt_version", window, filters)
    if window.raw_ranges:
        bucket = histogram.bucket_expression(requests.c.latency_ms).label("bucket")
        query = (
            select(
                requests.c.prompt_version,
                bucket,
                func.count(),
                func.sum(case((requests.c.status == "error", 1), else_=0)),
                func.sum(case((requests.c.degraded, 1), else_=0)),
                func.sum(requests.c.retries),
                func.sum(requests.c.input_tokens),
                func.sum(requests.c.output_tokens),
                func.count(requests.c.cost_usd),
                func.sum(requests.c.cost_usd),
                func.sum(requests.c.latency_ms),
            )
            .where(_in_ranges(requests.c.created_at, window.raw_ranges), LIVE_TRAFFIC)
            .group_by(requests.c.prompt_version, bucket)
        )
        query = filtered(query, requests, filters)
        for key, index, *values in connection.execute(query):
            buckets = [0] * histogram.BUCKETS
            buckets[index] = values[0]
            totals.setdefault(key, _Totals()).add(dict(zip(REQUESTS.sums, values, strict=True)), buckets)
    return totals


def _step_totals(connection: Connection, window: Window, filters: Filters) -> dict[str, _Totals]:
    totals = _rollup_totals(connection, STEPS, "name", window, filters)
    if window.raw_ranges:
        bucket = histogram.bucket_expression(spans.c.duration_ms).label("bucket")
        query = _steps_of_requests(
            select(
                spans.c.name,
                bucket,
                func.count(),
                func.sum(case((spans.c.status_code == "ERROR", 1), else_=0)),
                func.sum(spans.c.duration_ms),
            ),
            window.raw_ranges,
            filters,
        ).group_by(spans.c.name, bucket)
        for name, index, *values in connection.execute(query):
            buckets = [0] * histogram.BUCKETS
            buckets[index] = values[0]
            totals.setdefault(name, _Totals()).add(dict(zip(STEPS.sums, values, strict=True)), buckets)
    return totals


def _rollup_totals(
    connection: Connection, spec: RollupSpec, group: str, window: Window, filters: Filters
) -> dict[str, _Totals]:
    """Counters and histograms per `group` over the window's whole days (daily rollups) and its other
    whole hours (hourly rollups): one query per table."""
    reads: list[tuple[Table, str, list[Range]]] = []
    days = window.rollup_days
    if days is not None:
        reads.append((spec.daily, DAY, [days]))
    if window.hour_ranges:
        reads.append((spec.hourly, HOUR, window.hour_ranges))
    totals: dict[str, _Totals] = {}
    for table, period, ranges in reads:
        query = rollup_sums(table, (group,), spec.counters).where(_in_ranges(table.c[period], ranges))
        for key, *values in connection.execute(filtered(query, table, filters)):
            sums = dict(zip(spec.sums, values[: len(spec.sums)], strict=True))
            totals.setdefault(key, _Totals()).add(sums, values[len(spec.sums) :])
    return totals


@lru_cache(maxsize=32)
def rollup_sums(table: Table, groups: tuple[str, ...], counters: tuple[str, ...]) -> Select[Any]:
    """`SELECT groups, SUM(counter)… GROUP BY groups` over a rollup table, built once per shape: building
    its ~70 sums cost more client CPU than running it on a small store (callers add the WHERE)."""
    return select(
        *(table.c[name] for name in groups), *(func.sum(table.c[name]) for name in counters)
    ).group_by(*(table.c[name] for name in groups))


def _request_quantiles(
    connection: Connection,
    window: Window,
    filters: Filters,
    versions: dict[str, _Totals],
    count: int,
    exact_limit: int,
) -> _Quantiles:
    if count == 0:
        return _Quantiles("none")
    if count <= exact_limit:
        query = select(requests.c.prompt_version, requests.c.latency_ms).where(
            _in_ranges(requests.c.created_at, [(window.start, window.end)]), LIVE_TRAFFIC
        )
        rows = connection.execute(filtered(query, requests, filters)).all()
        if len(rows) == count:
            return _exact(rows)
    return _from_histograms(versions)


def _step_quantiles(
    connection: Connection,
    window: Window,
    filters: Filters,
    steps: dict[str, _Totals],
    calls: int,
    exact_limit: int,
) -> _Quantiles:
    if calls == 0:
        return _Quantiles("none")
    if calls <= exact_limit:
        query = _steps_of_requests(
            select(spans.c.name, spans.c.duration_ms), [(window.start, window.end)], filters
        )
        rows = connection.execute(query).all()
        if len(rows) == calls:
            return _exact(rows)
    return _from_histograms(steps)


def _steps_of_requests(query: Select[Any], ranges: list[Range], filters: Filters) -> Select[Any]:
    """Restrict to spans below the root of live requests that started in `ranges` (the root excluded)."""
    query = query.select_from(spans.join(requests, spans.c.request_id == requests.c.request_id)).where(
        _in_ranges(requests.c.created_at, ranges), spans.c.span_id != requests.c.span_id, LIVE_TRAFFIC
    )
    return filtered(query, requests, filters)


def _exact(rows: Iterable[Sequence[Any]]) -> _Quantiles:
    grouped: dict[str, list[float]] = {}
    everything: list[float] = []
    for key, value in rows:
        grouped.setdefault(key, []).append(value)
        everything.append(value)
    everything.sort()
    return _Quantiles(
        "exact",
        p50=exact_quantile(everything, 0.5),
        p95=exact_quantile(everything, 0.95),
        by_key={key: exact_quantile(sorted(values), 0.95) for key, values in grouped.items()},
    )


def _from_histograms(groups: dict[str, _Totals]) -> _Quantiles:
    merged = [sum(column) for column in zip(*(t.buckets for t in groups.values()), strict=True)]
    return _Quantiles(
        "histogram",
        p50=histogram.quantile(merged, 0.5),
        p95=histogram.quantile(merged, 0.95),
        by_key={key: histogram.quantile(totals.buckets, 0.95) for key, totals in groups.items()},
    )


def exact_quantile(ordered: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); `ordered` must be sorted."""
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _assemble(
    window: Window,
    filters: Filters,
    overall: _Totals,
    versions: dict[str, _Totals],
    latency: _Quantiles,
    steps: dict[str, _Totals],
    step_latency: _Quantiles,
) -> Report:
    count = int(overall.get("requests"))
    version_rows = sorted(
        (_version_summary(key, totals, latency.by_key.get(key)) for key, totals in versions.items()),
        key=lambda row: (-row.requests, row.prompt_version),
    )
    step_rows = sorted(
        (_step_summary(name, totals, step_latency.by_key.get(name)) for name, totals in steps.items()),
        key=lambda row: (-(row.avg_ms or 0) * row.calls, row.name),
    )
    tools = [
        ToolLatency(tool=row.name.removeprefix(c.TOOL_SPAN_PREFIX), calls=row.calls, avg_ms=row.avg_ms)
        for row in step_rows
        if row.name.startswith(c.TOOL_SPAN_PREFIX) and row.avg_ms is not None
    ]
    return Report(
        window_start=window.start,
        window_end=window.end,
        prompt_version_filter=filters.prompt_version,
        model_filter=filters.model,
        provider_filter=filters.provider,
        assistant_filter=filters.assistant,
        requests=count,
        errors=int(overall.get("errors")),
        error_rate=_rate(overall.get("errors"), count),
        degraded=int(overall.get("degraded")),
        degraded_rate=_rate(overall.get("degraded"), count),
        retries=int(overall.get("retries")),
        input_tokens=int(overall.get("input_tokens")),
        output_tokens=int(overall.get("output_tokens")),
        cost_usd=overall.get("cost_usd"),
        unpriced_requests=count - int(overall.get("priced")),
        avg_latency_ms=overall.get("latency_sum_ms") / count if count else None,
        p50_latency_ms=latency.p50,
        p95_latency_ms=latency.p95,
        p95_method=latency.method,
        step_p95_method=step_latency.method,
        top_tool=max(tools, key=lambda tool: tool.avg_ms, default=None),
        prompt_version=_headline_version(filters.prompt_version, version_rows),
        versions=version_rows,
        steps=step_rows,
    )


def _headline_version(version: str | None, rows: list[VersionSummary]) -> str | None:
    """The filtered version, else the most used one in the window (rows are sorted by use)."""
    if version is not None:
        return version
    return rows[0].prompt_version if rows else None


def _version_summary(key: str, totals: _Totals, p95: float | None) -> VersionSummary:
    count = int(totals.get("requests"))
    return VersionSummary(
        prompt_version=key,
        requests=count,
        errors=int(totals.get("errors")),
        error_rate=_rate(totals.get("errors"), count),
        degraded=int(totals.get("degraded")),
        avg_latency_ms=totals.get("latency_sum_ms") / count if count else None,
        p95_latency_ms=p95,
        cost_usd=totals.get("cost_usd"),
        input_tokens=int(totals.get("input_tokens")),
        output_tokens=int(totals.get("output_tokens")),
    )


def _step_summary(name: str, totals: _Totals, p95: float | None) -> StepSummary:
    calls = int(totals.get("calls"))
    return StepSummary(
        name=name,
        calls=calls,
        errors=int(totals.get("errors")),
        error_rate=_rate(totals.get("errors"), calls),
        avg_ms=totals.get("duration_sum_ms") / calls if calls else None,
        p95_ms=p95,
    )


def _rate(part: float, whole: int) -> float:
    return part / whole if whole else 0.0


def _in_ranges(column: ColumnElement[datetime], ranges: list[Range]) -> ColumnElement[bool]:
    return or_(*(and_(true() if lo is None else column >= lo, column < hi) for lo, hi in ranges))
