"""POST /v1/triage: validate, run the Email Gatekeeper through the service, shape the reply."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from llmops.assistant.schema import TriageReply, TriageRequest
from llmops.budgets.models import BudgetExceededError
from llmops.service import RequestNotRecorded, RunOptions, run_triage, services_of
from llmops.telemetry import conventions as c

router = APIRouter(tags=["triage"])
ROUTE = "/v1/triage"
_propagator = TraceContextTextMapPropagator()
NOT_RECORDED = "the request could not be recorded (database unavailable); it was not acknowledged, retry"


@router.post(
    ROUTE,
    response_model=TriageReply,
    summary="Triage one email",
    responses={
        429: {"description": "A budget has no room; `Retry-After` says when it will."},
        503: {"description": "The request could not be recorded, so it was not acknowledged; retry."},
    },
)
async def triage(body: TriageRequest, request: Request) -> TriageReply:
    services = services_of(request)
    client_id: str | None = getattr(request.state, "client_request_id", None)
    if client_id is not None:
        request.state.request_id = await services.request_ids.claim(client_id)
    options = RunOptions(
        request_id=request.state.request_id,
        user_id=body.user_id,
        api_key_fingerprint=getattr(request.state, "api_key_fingerprint", None),
        client_request_id=client_id,
        route=ROUTE,
        parent=_propagator.extract(carrier=dict(request.headers)),
        eval=request.headers.get(c.EVAL_HEADER) == "1",
    )
    try:
        run = await run_triage(services, body.email, options)
    except BudgetExceededError as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
    except RequestNotRecorded:
        raise HTTPException(503, NOT_RECORDED, headers={"Retry-After": "1"}) from None
    request.state.request_id = run.request_id  # the id the row is stored under (fresh if taken)
    return run.reply()
