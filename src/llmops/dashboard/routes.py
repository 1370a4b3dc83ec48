"""Server-rendered pages. Every page needs a session; sign-in takes an API key and sets the cookie."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from llmops.dashboard import eval_view, params, trace_view, views
from llmops.dashboard.alerts_view import alerts_page as alerts_view_of
from llmops.dashboard.auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_TTL_S,
    Session,
    check_csrf,
    current_session,
    form_fields,
    new_session,
    require_session,
    set_cookie,
    signer,
)
from llmops.dashboard.format import FILTERS
from llmops.evals.store import RunNotFound
from llmops.prompts.registry import PromptNotFound
from llmops.reporting import alerts, traces
from llmops.reporting.filters import Filters
from llmops.reporting.queries import build_report
from llmops.reporting.timeseries import filter_choices
from llmops.service import services_of
from llmops.storage.cursor import CursorError
from llmops.storage.tables import SOURCES

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters.update(FILTERS)
FILTER_FIELDS = ("prompt_version", "model", "provider", "assistant")
SignedIn = Annotated[Session, Depends(require_session)]
FormFilters = Annotated[Filters, Depends(params.form_filters)]

router = APIRouter(include_in_schema=False)


def render(
    request: Request, template: str, session: Session | None, status: int = 200, **context: Any
) -> HTMLResponse:
    context |= {"csrf_token": session.csrf if session else "", "signed_in": session is not None}
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
    )
    return response


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect off the service after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    if await asyncio.to_thread(current_session, request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", None, login_csrf=token, next=_safe_next(next), error=None)
    set_cookie(response, LOGIN_CSRF_COOKIE, token, 600, request.url.scheme == "https")
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    fields = await form_fields(request)
    check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE), fields.get(CSRF_FIELD))
    services = services_of(request)
    key = fields.get("api_key", "").strip()
    target = _safe_next(fields.get("next"))
    response: Response
    if not key or not await asyncio.to_thread(services.keys.verify, key):
        token = secrets.token_urlsafe(32)
        response = render(
            request,
            "login.html",
            None,
            401,
            login_csrf=token,
            next=target,
            error="That API key is not valid.",
        )
        set_cookie(response, LOGIN_CSRF_COOKIE, token, 600, request.url.scheme == "https")
        return response
    response = RedirectResponse(target, status_code=303)
    cookie = (await asyncio.to_thread(signer, request)).dump(new_session(key))
    set_cookie(response, SESSION_COOKIE, cookie, SESSION_TTL_S, request.url.scheme == "https")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request, session: SignedIn) -> Response:
    fields = await form_fields(request)
    check_csrf(session.csrf, fields.get(CSRF_FIELD))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/")
async def overview_page(
    request: Request,
    session: SignedIn,
    filters: FormFilters,
    range: str | None = None,
    until: params.Until = None,
) -> Response:
    engine = services_of(request).engine
    name, window = params.pick_window(range, until)
    view = await asyncio.to_thread(views.overview, engine, name, window, filters)
    choices = await asyncio.to_thread(filter_choices, engine, window)
    return render(
        request,
        "overview.html",
        session,
        view=view,
        choices=choices,
        filter_fields=FILTER_FIELDS,
        ranges=list(params.RANGE_CHOICES),
        page="overview",
    )


@router.get("/latency")
async def latency_page(
    request: Request,
    session: SignedIn,
    filters: FormFilters,
    range: str | None = None,
) -> Response:
    engine = services_of(request).engine
    name, window = params.pick_window(range)
    report = await asyncio.to_thread(build_report, engine, window, filters)
    choices = await asyncio.to_thread(filter_choices, engine, window)
    chosen = filters.model_dump(exclude_none=True)
    return render(
        request,
        "latency.html",
        session,
        report=report,
        shares=views.step_shares(report),
        range_name=name,
        ranges=list(params.RANGE_CHOICES),
        filters=filters,
        choices=choices,
        filter_fields=FILTER_FIELDS,
        filter_query=("&" + urlencode(chosen)) if chosen else "",
        page="latency",
    )


LIVE = "live"
ALL_SOURCES = "all"


@router.get("/requests")
async def requests_page(
    request: Request,
    session: SignedIn,
    q: str | None = None,
    request_id: str | None = None,
    trace_id: str | None = None,
    prompt_version: str | None = None,
    status: str | None = None,
    category: str | None = None,
    source: str | None = None,
    assistant: str | None = None,
    session_id: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Live traffic by default (eval cases behind the source filter); `q` finds a request or trace id."""
    source = source or LIVE
    if source not in (LIVE, ALL_SOURCES, *SOURCES):
        return render(request, "error.html", session, 400, message="Unknown source: pick one from the list.")
    q = (q or "").strip() or None
    search = traces.RequestSearch(
        request_id=request_id or None,
        trace_id=trace_id or None,
        prompt_version=prompt_version or None,
        status=status or None,
        category=category or None,
        source=source if source in SOURCES else None,
        assistant=assistant or None,
        session_id=session_id or None,
        live=source == LIVE and not q,
    )
    engine = services_of(request).engine
    try:
        if q:
            page = await asyncio.to_thread(traces.find_request, engine, q)
        else:
            page = await asyncio.to_thread(traces.list_requests, engine, search, cursor or None)
    except CursorError:
        return render(request, "error.html", session, 400, message="That page link is no longer valid.")
    query = search.model_dump(exclude_none=True, exclude={"live"}) | {"source": source}
    next_url = None
    if page.next_cursor:
        next_url = "/requests?" + urlencode(query | {"cursor": page.next_cursor})
    assistants = sorted(services_of(request).assistants)
    return render(
        request,
        "requests.html",
        session,
        page_data=page,
        search=search,
        q=q or "",
        source=source,
        sources=[LIVE, *SOURCES, ALL_SOURCES],
        assistants=assistants,
        next_url=next_url,
        page="requests",
    )


@router.get("/requests/{request_id}")
async def request_page(request: Request, request_id: str, session: SignedIn) -> Response:
    services = services_of(request)
    trace = await asyncio.to_thread(traces.get_trace, services.engine, request_id)
    if trace is None:
        return render(request, "error.html", session, 404, message="No stored request has that id.")
    feedback = await asyncio.to_thread(views.request_feedback, services.engine, request_id)
    if feedback and feedback.get("notes"):
        feedback["notes"] = services.redactor.redact(feedback["notes"])
    return render(
        request,
        "request.html",
        session,
        trace=trace,
        rows=trace_view.waterfall(trace.spans, services.redactor),
        outcome=trace_view.outcome(trace.request, trace.spans, services.redactor),
        feedback=feedback,
        page="requests",
    )


@router.get("/sessions/{session_id}")
async def session_page(request: Request, session_id: str, session: SignedIn) -> Response:
    rows = await asyncio.to_thread(traces.session_requests, services_of(request).engine, session_id)
    if not rows:
        return render(
            request, "error.html", session, 404, message="No stored request belongs to that session."
        )
    return render(request, "session.html", session, session_id=session_id, rows=rows, page="requests")


@router.get("/prompts")
async def prompts_page(request: Request, session: SignedIn, range: str | None = None) -> Response:
    engine = services_of(request).engine
    name, window = params.pick_window(range, default="30d")
    registry = services_of(request).prompts
    rows = await asyncio.to_thread(views.prompt_rows, engine, registry, window)
    return render(
        request,
        "prompts.html",
        session,
        rows=rows,
        versions=[v.id for v in registry.versions()],
        range_name=name,
        ranges=list(params.RANGE_CHOICES),
        page="prompts",
    )


@router.get("/prompts/diff")
async def prompt_diff_page(
    request: Request, session: SignedIn, a: str = Query(...), b: str = Query(...)
) -> Response:
    try:
        diff = views.prompt_diff(services_of(request).prompts, a, b)
    except PromptNotFound:
        return render(request, "error.html", session, 404, message="Unknown prompt version.")
    return render(request, "prompt_diff.html", session, diff=diff, page="prompts")


@router.get("/evals")
async def evals_page(
    request: Request, session: SignedIn, baseline: str | None = None, candidate: str | None = None
) -> Response:
    engine = services_of(request).engine
    problem = None
    try:
        data = await asyncio.to_thread(eval_view.evals_page, engine, baseline, candidate)
    except RunNotFound:
        problem = "One of those runs does not exist."
        data = await asyncio.to_thread(eval_view.evals_page, engine, None, None)
    return render(request, "evals.html", session, data=data, problem=problem, page="evals")


@router.get("/evals/{run_id}")
async def eval_run_page(request: Request, run_id: str, session: SignedIn) -> Response:
    try:
        run = await asyncio.to_thread(eval_view.run_page, services_of(request).engine, run_id)
    except RunNotFound:
        return render(request, "error.html", session, 404, message="No stored eval run has that id.")
    return render(request, "eval_run.html", session, run=run, page="evals")


@router.get("/alerts")
async def alerts_page(request: Request, session: SignedIn) -> Response:
    services = services_of(request)
    data = await asyncio.to_thread(alerts.alerts_view, services.engine)
    budgets = await asyncio.to_thread(services.budgets.store.status)
    return render(request, "alerts.html", session, data=alerts_view_of(data, budgets), page="alerts")
