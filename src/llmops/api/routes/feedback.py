"""`/v1/feedback`: rate a triage reply by its request id, and list ratings joined to their requests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from llmops.feedback.models import Feedback, FeedbackIn, FeedbackPage
from llmops.feedback.store import MAX_PAGE, FeedbackStore, window_start
from llmops.reporting.window import WINDOW_PATTERN, parse_since
from llmops.service import services_of
from llmops.storage.cursor import CursorError
from llmops.storage.request_rows import request_exists, root_span_stored

router = APIRouter(tags=["feedback"])
ROUTE = "/v1/feedback"
SINCE_HELP = "a positive number with a unit m, h, d or w (e.g. 30m, 24h, 7d), or `all`"
UNKNOWN_REQUEST = "no request with this request_id: it is unknown, or retention has already deleted it"


@router.post(
    ROUTE,
    response_model=Feedback,
    status_code=201,
    summary="Rate a triage reply",
    responses={
        200: {"model": Feedback, "description": "Replaced earlier feedback on the same request."},
        404: {"description": "No request with this request_id."},
    },
)
async def post_feedback(body: FeedbackIn, request: Request, response: Response) -> Feedback:
    """201 for the first feedback on a request; 200 when the latest rating and notes replace it.

    Either means the rated request's trace is stored, when this replica served it: its spans leave
    through the export queue up to `OTEL_BSP_SCHEDULE_DELAY` after the reply, so while its root span
    is not stored the queue is flushed first (in a worker thread, off the event loop). `llmops eval
    mine` reads the email off those spans at once."""
    services = services_of(request)
    store = FeedbackStore(services.engine)
    engine = services.engine
    traced = await asyncio.to_thread(root_span_stored, engine, body.request_id)
    if not traced:
        await asyncio.to_thread(services.telemetry_setup.force_flush)
        if traced is None and not await asyncio.to_thread(request_exists, engine, body.request_id):
            raise HTTPException(404, UNKNOWN_REQUEST)
    notes = None if body.notes is None else services.redactor.redact(body.notes)
    stored, created = await asyncio.to_thread(
        store.upsert, body.request_id, body.rating, notes, datetime.now(UTC)
    )
    response.status_code = 201 if created else 200
    return stored


@router.get(ROUTE, response_model=FeedbackPage, summary="List feedback, newest first")
async def list_feedback(
    request: Request,
    rating: Annotated[int | None, Query(ge=-1, le=1, description="Only this rating.")] = None,
    prompt_version: Annotated[
        str | None, Query(max_length=128, description="Only replies served by this prompt version.")
    ] = None,
    since: Annotated[
        str, Query(pattern=WINDOW_PATTERN, description=f"Window ending now: {SINCE_HELP}.")
    ] = "all",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
) -> FeedbackPage:
    services = services_of(request)
    try:
        window = parse_since(since)
    except ValueError:
        raise HTTPException(422, f"invalid request: since: use {SINCE_HELP}") from None
    start = window_start(window)
    store = FeedbackStore(services.engine)
    try:
        return await asyncio.to_thread(
            store.list,
            rating=rating,
            prompt_version=prompt_version,
            since=start,
            limit=limit,
            cursor=cursor or None,  # empty: the first page
        )
    except CursorError as exc:
        raise HTTPException(422, f"invalid request: cursor: {exc}") from None
