"""Stored requests and their traces: the request list (keyset pages, newest first) and one trace."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, and_, or_, select

from llmops.storage.cursor import decode_cursor, encode_cursor
from llmops.storage.tables import requests, spans
from llmops.storage.timeutil import utc

PAGE_SIZE = 50
MAX_PAGE = 200


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
    assistant: str
    session_id: str | None


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


class RequestSearch(BaseModel):
    """Exact-match filters for the request list (each one narrows it)."""

    request_id: str | None = None
    prompt_version: str | None = None
    status: str | None = None
    category: str | None = None
    source: str | None = None  # `api`, `gateway`, `ingest` (live traffic) or `eval` (eval cases)
    assistant: str | None = None
    session_id: str | None = None


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
