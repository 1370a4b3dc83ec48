"""Hourly series for charts, read from the request rollups: a few hundred rows for 30 days, whatever
the traffic; and the versions, models and providers a window has seen (the filters' choices)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Engine, func, select

from llmops.reporting.filters import Filters, filtered
from llmops.reporting.window import Window
from llmops.storage import histogram
from llmops.storage.tables import request_rollups
from llmops.storage.timeutil import hour_floor, utc


class Point(BaseModel):
    """One hour of requests, from the rollups."""

    hour: datetime
    requests: int
    errors: int
    error_rate: float
    input_tokens: int
    output_tokens: int
    cost_usd: float
    avg_latency_ms: float | None
    p95_latency_ms: float | None


class FilterChoices(BaseModel):
    prompt_versions: list[str]
    models: list[str]
    providers: list[str]
    assistants: list[str] = []


def timeseries(engine: Engine, window: Window, filters: Filters) -> list[Point]:
    """Hourly points over the window, including its first and current (partial) hours' rollups."""
    table = request_rollups
    counters = ("requests", "errors", "input_tokens", "output_tokens", "cost_usd", "latency_sum_ms")
    query = (
        select(
            table.c.hour,
            *(func.sum(table.c[name]) for name in counters),
            *(func.sum(table.c[name]) for name in histogram.COLUMNS),
        )
        .where(table.c.hour < window.end)
        .group_by(table.c.hour)
        .order_by(table.c.hour)
    )
    if window.start is not None:
        query = query.where(table.c.hour >= hour_floor(window.start))
    with engine.connect() as connection:
        rows = connection.execute(filtered(query, table, filters)).all()
    points = []
    for hour, count, errors, tokens_in, tokens_out, cost, latency_sum, *buckets in rows:
        count = int(count or 0)
        points.append(
            Point(
                hour=utc(hour),
                requests=count,
                errors=int(errors or 0),
                error_rate=(errors or 0) / count if count else 0.0,
                input_tokens=int(tokens_in or 0),
                output_tokens=int(tokens_out or 0),
                cost_usd=float(cost or 0.0),
                avg_latency_ms=(latency_sum or 0.0) / count if count else None,
                p95_latency_ms=histogram.quantile([int(b or 0) for b in buckets], 0.95),
            )
        )
    return points


def filter_choices(engine: Engine, window: Window) -> FilterChoices:
    """Distinct versions, models, providers and assistants seen in the window (from the rollups: small)."""
    table = request_rollups
    query = select(table.c.prompt_version, table.c.model, table.c.provider, table.c.assistant).distinct()
    if window.start is not None:
        query = query.where(table.c.hour >= hour_floor(window.start))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return FilterChoices(
        prompt_versions=sorted({r[0] for r in rows}),
        models=sorted({r[1] for r in rows}),
        providers=sorted({r[2] for r in rows}),
        assistants=sorted({r[3] for r in rows}),
    )
