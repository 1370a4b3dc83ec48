"""The dashboard's JSON query API under /api: the same queries the pages use, for scripts and charts.

Authenticated with a bearer key (as /v1) or the dashboard's session cookie. Errors use the service's
one error shape.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from llmops.assistant.schema import Category
from llmops.dashboard import eval_view, params, trace_view, views
from llmops.dashboard.auth import require_api_access
from llmops.evals.store import RunNotFound
from llmops.reporting import alerts, quality, traces
from llmops.reporting.filters import Filters
from llmops.reporting.queries import build_report
from llmops.reporting.timeseries import timeseries
from llmops.service import services_of
from llmops.storage.cursor import CursorError

router = APIRouter(prefix="/api", tags=["dashboard"], dependencies=[Depends(require_api_access)])
RangeParam = Query(None, description=params.RANGE_HELP, pattern=params.RANGE_PATTERN)
QueryFilters = Annotated[Filters, Depends(params.query_filters)]


@router.get("/overview")
async def api_overview(
    request: Request,
    filters: QueryFilters,
    range: str | None = RangeParam,
    until: params.Until = None,
) -> dict[str, Any]:
    """The report for the window (as `llmops report --json`), its formatted headline and hourly points."""
    name, window = params.pick_window(range, until)
    view = await asyncio.to_thread(views.overview, services_of(request).engine, name, window, filters)
    return {
        "range": view.range_name,
        "filters": filters.model_dump(),
        "report": view.report.model_dump(mode="json"),
        "headline": view.headline.model_dump(),
        "timeseries": [point.model_dump(mode="json") for point in view.points],
    }


@router.get("/timeseries")
async def api_timeseries(
    request: Request, filters: QueryFilters, range: str | None = RangeParam
) -> dict[str, Any]:
    """Requests, errors, degraded, retries, tokens, cost and latency per bucket: minutes (from raw rows)
    for ranges up to 6 h, hours up to 7 days, days beyond (from the hourly rollups)."""
    name, window = params.pick_window(range)
    points = await asyncio.to_thread(timeseries, services_of(request).engine, window, filters)
    return {
        "range": name,
        "filters": filters.model_dump(),
        "points": [p.model_dump(mode="json") for p in points],
    }


@router.get("/steps")
async def api_steps(
    request: Request, filters: QueryFilters, range: str | None = RangeParam
) -> dict[str, Any]:
    """Time per pipeline step and tool: calls, errors, avg and p95, and each step's share of the time."""
    name, window = params.pick_window(range)
    report = await asyncio.to_thread(build_report, services_of(request).engine, window, filters)
    return {
        "range": name,
        "filters": filters.model_dump(),
        "prompt_version": filters.prompt_version,
        "steps": [share.model_dump(mode="json") for share in views.step_shares(report)],
    }


@router.get("/requests")
async def api_requests(
    request: Request,
    request_id: str | None = None,
    prompt_version: str | None = None,
    status: Literal["ok", "degraded", "error"] | None = None,
    category: Category | None = None,
    source: Literal["api", "gateway", "ingest", "eval"] | None = None,
    assistant: str | None = None,
    session_id: str | None = None,
    trace_id: str | None = None,
    cursor: str | None = None,
    limit: int = Query(traces.PAGE_SIZE, ge=1, le=traces.MAX_PAGE),
) -> dict[str, Any]:
    """Requests newest first; pass `next_cursor` back as `cursor` for the next page."""
    search = traces.RequestSearch(
        request_id=request_id,
        prompt_version=prompt_version,
        status=status,
        category=category,
        source=source,
        assistant=assistant,
        session_id=session_id,
        trace_id=trace_id,
    )
    try:
        page = await asyncio.to_thread(
            traces.list_requests,
            services_of(request).engine,
            search,
            cursor or None,
            limit,  # empty: the first page
        )
    except CursorError:
        raise HTTPException(422, "invalid request: cursor: not a cursor this API returned") from None
    return page.model_dump(mode="json")


@router.get("/requests/{request_id}", responses={404: {"description": "No request with this id."}})
async def api_request(request: Request, request_id: str) -> dict[str, Any]:
    """One request with its spans (attributes as stored: already redacted, redacted again here)."""
    services = services_of(request)
    trace = await asyncio.to_thread(traces.get_trace, services.engine, request_id)
    if trace is None:
        raise HTTPException(404, "unknown request id")
    feedback = await asyncio.to_thread(views.request_feedback, services.engine, request_id)
    return services.redactor.redact_value(  # type: ignore[return-value]
        {
            "request": trace.request.model_dump(mode="json"),
            "spans": [span.model_dump(mode="json") for span in trace.spans],
            "triage": trace_view.triage_of(trace.spans, services.redactor),
            "feedback": feedback,
        }
    )


@router.get("/prompts")
async def api_prompts(
    request: Request,
    range: str | None = Query(None, description="Default `30d`.", pattern=params.RANGE_PATTERN),
) -> dict[str, Any]:
    """Per prompt version: traffic, latency, cost, feedback, the latest eval run and labels."""
    name, window = params.pick_window(range, default="30d")
    rows = await asyncio.to_thread(
        views.prompt_rows, services_of(request).engine, services_of(request).prompts, window
    )
    return {"range": name, "versions": [row.model_dump(mode="json") for row in rows]}


@router.get("/evals", responses={404: {"description": "No eval run with this id."}})
async def api_evals(
    request: Request, baseline: str | None = None, candidate: str | None = None
) -> dict[str, Any]:
    """Stored eval runs, newest first, and with `baseline` and `candidate` their comparison."""
    engine = services_of(request).engine
    runs = await asyncio.to_thread(quality.list_eval_runs, engine)
    body: dict[str, Any] = {"runs": [run.model_dump(mode="json") for run in runs], "comparison": None}
    if baseline and candidate:
        try:
            compared = await asyncio.to_thread(eval_view.comparison, engine, baseline, candidate)
        except RunNotFound as exc:
            raise HTTPException(404, "unknown eval run") from exc
        body["comparison"] = compared.model_dump(mode="json")
    return body


@router.get("/alerts")
async def api_alerts(request: Request) -> dict[str, Any]:
    """Alert rules, states, recent events, budgets and budget usage."""
    data = await asyncio.to_thread(alerts.alerts_view, services_of(request).engine)
    return data.model_dump(mode="json")
