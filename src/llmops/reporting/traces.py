"""Stored requests and their traces: the request list (keyset pages, newest first) and one trace."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, and_, or_, select

from llmops.storage.cursor import decode_cursor, encode_cursor
from llmops.storage.tables import LIVE_TRAFFIC, feedback, requests, spans
from llmops.storage.timeutil import utc
from llmops.telemetry import conventions as c

PAGE_SIZE = 50
MAX_PAGE = 200
SESSION_LIMIT = 500
PREVIEW_CHARS = 120


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
    retries: int = 0
    degraded_reason: str | None = None
    error_type: str | None = None


class RequestSummary(RequestRow):
    """A request list row: the stored row plus what a person scans for (from span attributes that
    already passed the redactor at export, and the feedback table)."""

    preview: str | None = None
    sender: str | None = None
    canary: bool = False
    rating: int | None = None


class RequestPage(BaseModel):
    items: list[RequestSummary]
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
    trace_id: str | None = None
    live: bool = False  # only live traffic (every source but `eval`)


def list_requests(
    engine: Engine, search: RequestSearch, cursor: str | None = None, limit: int = PAGE_SIZE
) -> RequestPage:
    """One page, newest first, walked by the `(created_at, id)` keyset over `ix_requests_created_at`."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    query = select(requests).order_by(requests.c.created_at.desc(), requests.c.id.desc()).limit(limit + 1)
    for name, value in search.model_dump(exclude_none=True, exclude={"live"}).items():
        query = query.where(requests.c[name] == value)
    if search.live:
        query = query.where(LIVE_TRAFFIC)
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
        items = _summaries(connection, page)
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"])
    return RequestPage(items=items, next_cursor=next_cursor)


def find_request(engine: Engine, text: str) -> RequestPage:
    """Requests whose request id or trace id is `text` (either is what a person pastes from a log); an id
    names its request, so no other filter applies."""
    query = (
        select(requests)
        .where(or_(requests.c.request_id == text, requests.c.trace_id == text.lower()))
        .order_by(requests.c.created_at.desc(), requests.c.id.desc())
        .limit(MAX_PAGE)
    )
    with engine.connect() as connection:
        return RequestPage(
            items=_summaries(connection, connection.execute(query).mappings().all()), next_cursor=None
        )


def session_requests(engine: Engine, session_id: str) -> list[RequestSummary]:
    """A session's requests in the order they happened (the first `SESSION_LIMIT`)."""
    query = (
        select(requests)
        .where(requests.c.session_id == session_id)
        .order_by(requests.c.created_at, requests.c.id)
        .limit(SESSION_LIMIT)
    )
    with engine.connect() as connection:
        return _summaries(connection, connection.execute(query).mappings().all())


def _summaries(connection: Any, rows: Sequence[Any]) -> list[RequestSummary]:
    """Rows with their preview, sender, canary flag and rating: two small queries for the whole page."""
    if not rows:
        return []
    traces = {row["trace_id"] for row in rows}
    ids = [row["request_id"] for row in rows]
    span_query = select(spans.c.trace_id, spans.c.parent_span_id, spans.c.attributes).where(
        spans.c.trace_id.in_(traces),
        or_(spans.c.parent_span_id.is_(None), spans.c.name == "parse_email", spans.c.name.like("chat %")),
    )
    found: dict[str, dict[str, Any]] = {}
    for trace_id, parent, raw in connection.execute(span_query.order_by(spans.c.start_time)):
        attributes = json.loads(raw or "{}")
        into = found.setdefault(trace_id, {})
        if parent is None:
            into["canary"] = attributes.get(c.CANARY) is True
        for key in (c.EMAIL_SUBJECT, c.EMAIL_SENDER):
            if isinstance(attributes.get(key), str):
                into.setdefault(key, attributes[key])
        message = _first_message(attributes.get(c.GEN_AI_INPUT_MESSAGES))
        if message:
            into.setdefault("message", message)
    ratings = dict(
        connection.execute(
            select(feedback.c.request_id, feedback.c.rating).where(feedback.c.request_id.in_(ids))
        ).all()
    )
    summaries = []
    for row in rows:
        seen = found.get(row["trace_id"], {})
        preview = seen.get(c.EMAIL_SUBJECT) or seen.get("message")
        summaries.append(
            RequestSummary.model_validate(
                {
                    **row,
                    "created_at": utc(row["created_at"]),
                    "preview": _clip(preview),
                    "sender": _clip(seen.get(c.EMAIL_SENDER)),
                    "canary": seen.get("canary", False),
                    "rating": ratings.get(row["request_id"]),
                }
            )
        )
    return summaries


def _first_message(raw: Any) -> str | None:
    """The first user message's text of captured input messages (a JSON list of `{role, content}`)."""
    try:
        messages = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    if not isinstance(messages, list):
        return None
    for message in messages:
        if (
            isinstance(message, dict)
            and message.get("role") == "user"
            and isinstance(message.get("content"), str)
        ):
            return str(message["content"])
    return None


def _clip(text: str | None) -> str | None:
    if not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


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
