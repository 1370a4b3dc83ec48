"""POST /v1/triage: validate, run the Email Gatekeeper inside the request's root span, shape the reply."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Request
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from llmops.api.state import Services
from llmops.assistant.pipeline import TriageOutcome
from llmops.assistant.schema import EVAL_HEADER, Triage, TriageReply, TriageRequest
from llmops.budgets.models import BudgetExceededError
from llmops.budgets.store import Subjects
from llmops.redaction import Redactor
from llmops.telemetry import conventions as c

router = APIRouter(tags=["triage"])
ROUTE = "/v1/triage"
_propagator = TraceContextTextMapPropagator()


@router.post(ROUTE, response_model=TriageReply, summary="Triage one email")
async def triage(body: TriageRequest, request: Request) -> TriageReply:
    services: Services = request.app.state.services
    telemetry = services.telemetry
    started = time.perf_counter()
    client_id: str | None = getattr(request.state, "client_request_id", None)
    if client_id is not None:
        request.state.request_id = await services.request_ids.claim(client_id)
    request_id: str = request.state.request_id
    parent = _propagator.extract(carrier=dict(request.headers))
    attributes = {
        c.ROOT_SPAN_MARKER: True,
        c.REQUEST_ID: request_id,
        "http.request.method": "POST",
        "http.route": ROUTE,
        c.PROMPT_NAME: "email_triage",
    }
    if client_id is not None and client_id != request_id:
        attributes[c.CLIENT_REQUEST_ID] = client_id
    if request.headers.get(EVAL_HEADER) == "1":
        attributes[c.EVAL] = True
    user = telemetry.pseudonymise(body.user_id)
    if user:
        attributes[c.USER_ID] = user
    subjects = Subjects(user=user, api_key=getattr(request.state, "api_key_fingerprint", None))
    try:
        async with services.budgets.hold(subjects, body.email) as hold:
            outcome, latency_ms = await _run(services, body, parent, attributes, started, user or request_id)
            hold.record(outcome.usage.input_tokens + outcome.usage.output_tokens, outcome.cost_usd)
    except BudgetExceededError as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
    reply = outcome.reply(request_id, latency_ms)
    if services.settings.redact_replies:
        reply.triage = redact_triage(services.redactor, reply.triage)
    return reply


async def _run(
    services: Services,
    body: TriageRequest,
    parent: Context,
    attributes: dict[str, object],
    started: float,
    routing_key: str,
) -> tuple[TriageOutcome, float]:
    """The pipeline inside the request's root span, on the canary version when `routing_key` (the
    pseudonymous user, else the request id) falls in the canary's share; returns the outcome and the
    latency so far."""
    telemetry = services.telemetry
    with telemetry.tracer.start_as_current_span(
        c.ROOT_SPAN, context=parent, kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        try:
            route = await services.canary_router.route(routing_key)
            span.set_attribute(c.CANARY, route.canary)
            outcome = await services.gatekeeper.triage(body.email, prompt_version=route.version)
        except Exception as exc:
            span.set_attributes(
                {c.STATUS: "error", c.ERROR_TYPE: type(exc).__name__, "http.response.status_code": 500}
            )
            span.set_status(Status(StatusCode.ERROR))
            telemetry.instruments.record_error(error_type="internal_error")
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        span.set_attributes(outcome_attributes(outcome, latency_ms))
    return outcome, latency_ms


def outcome_attributes(outcome: TriageOutcome, latency_ms: float) -> dict[str, object]:
    attributes: dict[str, object] = {
        c.PROMPT_VERSION: outcome.prompt_version,
        c.GEN_AI_REQUEST_MODEL: outcome.model,
        c.GEN_AI_RESPONSE_MODEL: outcome.model,
        c.GEN_AI_PROVIDER_NAME: outcome.provider,
        c.STATUS: "degraded" if outcome.degraded else "ok",
        "http.response.status_code": 200,
        c.TOTAL_INPUT_TOKENS: outcome.usage.input_tokens,
        c.TOTAL_OUTPUT_TOKENS: outcome.usage.output_tokens,
        c.RETRY_COUNT: outcome.retries,
        c.DEGRADED: outcome.degraded,
        c.CATEGORY: outcome.triage.category.value,
        c.LATENCY_MS: latency_ms,
        "llmops.model_calls": outcome.model_calls,
    }
    if outcome.degraded_reason:
        attributes[c.DEGRADED_REASON] = outcome.degraded_reason
    if outcome.cost_usd is not None:
        attributes[c.COST_USD] = outcome.cost_usd
    if outcome.price_source is not None:
        attributes[c.PRICE_SOURCE] = outcome.price_source
    return attributes


def redact_triage(redactor: Redactor, triage: Triage) -> Triage:
    """Mask secrets and personal data the model may have copied from the email into its reply."""
    return triage.model_copy(
        update={
            "summary": redactor.redact(triage.summary),
            "action_items": [redactor.redact(item) for item in triage.action_items],
            "draft_reply": redactor.redact(triage.draft_reply),
        }
    )
