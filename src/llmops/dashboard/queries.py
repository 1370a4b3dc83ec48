"""Dashboard queries. Time series read the hourly rollups (a few hundred rows for 30 days, whatever the
traffic); lists page with keysets over indexed columns; the headline numbers come from `build_report`
so the overview always agrees with `llmops report`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel
from sqlalchemy import Engine, and_, case, func, or_, select

from llmops.reporting.models import Filters
from llmops.storage import histogram
from llmops.storage.cursor import decode_cursor, encode_cursor
from llmops.storage.tables import (
    alert_events,
    alert_rules,
    alert_states,
    budget_usage,
    budgets,
    eval_runs,
    feedback,
    request_rollups,
    requests,
    spans,
)
from llmops.storage.timeutil import utc

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_RANGE = "24h"
PAGE_SIZE = 50
MAX_PAGE = 200


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


class RequestRow(BaseModel):
    request_id: str
    trace_id: str
    created_at: datetime
    prompt_version: str
    model: str
    provider: str
    status: str
    latency_ms: float
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    category: str | None
    degraded: bool
    source: str


class RequestPage(BaseModel):
    items: list[RequestRow]
    next_cursor: str | None


class SpanRow(BaseModel):
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_time: datetime
    duration_ms: float
    status_code: str
    status_message: str | None
    attributes: dict[str, Any]
    events: list[Any]


class FilterChoices(BaseModel):
    prompt_versions: list[str]
    models: list[str]
    providers: list[str]


def query_filters(
    prompt_version: str | None = None, model: str | None = None, provider: str | None = None
) -> Filters:
    """Dependency: the prompt version, model and provider query parameters, matched exactly."""
    return Filters(prompt_version=prompt_version, model=model, provider=provider)


def form_filters(filters: Annotated[Filters, Depends(query_filters)]) -> Filters:
    """Dependency for pages: a form field left at "all" arrives empty and filters nothing."""
    return Filters(**{name: value or None for name, value in filters.model_dump().items()})


def range_delta(name: str | None) -> tuple[str, timedelta]:
    """The picked range's name and length, falling back to the default for anything unknown."""
    key = name if name in RANGES else DEFAULT_RANGE
    return key, RANGES[key]


def timeseries(engine: Engine, since: timedelta, until: datetime, filters: Filters) -> list[Point]:
    """Hourly points over `[until - since, until)`, including the current (partial) hour's rollup."""
    table = request_rollups
    first = (utc(until) - since).replace(minute=0, second=0, microsecond=0)
    counters = ("requests", "errors", "input_tokens", "output_tokens", "cost_usd", "latency_sum_ms")
    query = (
        select(
            table.c.hour,
            *(func.sum(table.c[name]) for name in counters),
            *(func.sum(table.c[name]) for name in histogram.COLUMNS),
        )
        .where(table.c.hour >= first, table.c.hour < utc(until))
        .group_by(table.c.hour)
        .order_by(table.c.hour)
    )
    for name, value in filters.model_dump(exclude_none=True).items():
        query = query.where(table.c[name] == value)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
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


def filter_choices(engine: Engine, since: timedelta, until: datetime) -> FilterChoices:
    """Distinct versions, models and providers seen in the window (from the rollups: small)."""
    table = request_rollups
    first = (utc(until) - since).replace(minute=0, second=0, microsecond=0)
    query = (
        select(table.c.prompt_version, table.c.model, table.c.provider)
        .where(table.c.hour >= first)
        .distinct()
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return FilterChoices(
        prompt_versions=sorted({r[0] for r in rows}),
        models=sorted({r[1] for r in rows}),
        providers=sorted({r[2] for r in rows}),
    )


class RequestSearch(BaseModel):
    """Exact-match filters for the request list (each one narrows it)."""

    request_id: str | None = None
    prompt_version: str | None = None
    status: str | None = None
    category: str | None = None
    source: str | None = None  # `api` for live traffic, `eval` for eval cases run in-process


def list_requests(
    engine: Engine, search: RequestSearch, cursor: str | None = None, limit: int = PAGE_SIZE
) -> RequestPage:
    """One page, newest first, walked by the `(created_at, id)` keyset over `ix_requests_created_at`."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    query = select(requests).order_by(requests.c.created_at.desc(), requests.c.id.desc()).limit(limit + 1)
    for name, value in search.model_dump(exclude_none=True).items():
        query = query.where(requests.c[name] == value)
    if cursor is not None:
        created, row_id = decode_cursor(cursor)
        query = query.where(
            or_(
                requests.c.created_at < created,
                and_(requests.c.created_at == created, requests.c.id < row_id),
            )
        )
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"])
    return RequestPage(items=[_request_row(row) for row in page], next_cursor=next_cursor)


def _request_row(row: Any) -> RequestRow:
    return RequestRow.model_validate({**row, "created_at": utc(row["created_at"])})


@dataclass
class Trace:
    request: RequestRow
    spans: list[SpanRow]


def get_trace(engine: Engine, request_id: str) -> Trace | None:
    """A request and every span of its trace (by the unique request id, then the spans' primary key)."""
    with engine.connect() as connection:
        row = (
            connection.execute(select(requests).where(requests.c.request_id == request_id)).mappings().first()
        )
        if row is None:
            return None
        span_rows = (
            connection.execute(
                select(spans).where(spans.c.trace_id == row["trace_id"]).order_by(spans.c.start_time)
            )
            .mappings()
            .all()
        )
    return Trace(request=_request_row(row), spans=[_span_row(span) for span in span_rows])


def _span_row(row: Any) -> SpanRow:
    return SpanRow(
        span_id=row["span_id"],
        parent_span_id=row["parent_span_id"],
        name=row["name"],
        kind=row["kind"],
        start_time=utc(row["start_time"]),
        duration_ms=row["duration_ms"],
        status_code=row["status_code"],
        status_message=row["status_message"],
        attributes=json.loads(row["attributes"] or "{}"),
        events=json.loads(row["events"] or "[]"),
    )


class VersionFeedback(BaseModel):
    prompt_version: str
    ratings: int
    positive: int
    negative: int
    mean_rating: float | None


def feedback_by_version(engine: Engine, since: datetime) -> dict[str, VersionFeedback]:
    """Feedback counts per prompt version for requests rated since `since` (feedback is small)."""
    query = (
        select(
            requests.c.prompt_version,
            func.count(),
            func.sum(case((feedback.c.rating > 0, 1), else_=0)),
            func.sum(case((feedback.c.rating < 0, 1), else_=0)),
            func.avg(feedback.c.rating),
        )
        .select_from(feedback.join(requests, requests.c.request_id == feedback.c.request_id))
        .where(feedback.c.created_at >= since)
        .group_by(requests.c.prompt_version)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {
        version: VersionFeedback(
            prompt_version=version,
            ratings=int(count),
            positive=int(positive or 0),
            negative=int(negative or 0),
            mean_rating=None if mean is None else float(mean),
        )
        for version, count, positive, negative, mean in rows
    }


class EvalRunRow(BaseModel):
    id: str
    dataset: str
    prompt_version: str
    provider: str | None
    model: str | None
    started_at: datetime
    status: str
    cases: int
    passed: int
    pass_rate: float | None


def list_eval_runs(engine: Engine, limit: int = 100) -> list[EvalRunRow]:
    query = select(eval_runs).order_by(eval_runs.c.started_at.desc()).limit(limit)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [
        EvalRunRow(
            id=row["id"],
            dataset=row["dataset"],
            prompt_version=row["prompt_version"],
            provider=row["provider"],
            model=row["model"],
            started_at=utc(row["started_at"]),
            status=row["status"],
            cases=row["cases"],
            passed=row["passed"],
            pass_rate=row["passed"] / row["cases"] if row["cases"] else None,
        )
        for row in rows
    ]


class AlertsView(BaseModel):
    rules: list[dict[str, Any]]
    states: list[dict[str, Any]]
    events: list[dict[str, Any]]
    budgets: list[dict[str, Any]]
    budget_usage: list[dict[str, Any]]


def alerts_view(engine: Engine, limit: int = 100) -> AlertsView:
    """Alert rules, current states, recent events and budgets, as stored (none of them hold content)."""
    with engine.connect() as connection:

        def rows(query: Any) -> list[dict[str, Any]]:
            return [_jsonable(dict(row)) for row in connection.execute(query).mappings()]

        return AlertsView(
            rules=rows(select(alert_rules).order_by(alert_rules.c.name)),
            states=rows(select(alert_states).order_by(alert_states.c.rule_name)),
            events=rows(select(alert_events).order_by(alert_events.c.created_at.desc()).limit(limit)),
            budgets=rows(select(budgets).order_by(budgets.c.scope, budgets.c.subject)),
            budget_usage=rows(select(budget_usage).order_by(budget_usage.c.bucket_start.desc()).limit(limit)),
        )


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: utc(value).isoformat() if isinstance(value, datetime) else value for key, value in row.items()
    }


def now() -> datetime:
    return datetime.now(UTC)
