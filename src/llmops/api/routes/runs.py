"""What every assistant route shares: the run options from the HTTP request, and the errors a run
may raise as HTTP statuses (429 over budget, 422 unknown prompt version, 503 no model and no fallback)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel

from llmops.budgets.models import BudgetExceededError
from llmops.prompts.registry import PromptNotFound
from llmops.sdk import ModelUnavailable
from llmops.service import (
    AssistantNotFound,
    AssistantRun,
    RequestNotRecorded,
    RunOptions,
    Services,
    run_assistant,
)
from llmops.telemetry import conventions as c

_propagator = TraceContextTextMapPropagator()
NOT_RECORDED = "the request could not be recorded (database unavailable); it was not acknowledged, retry"
# The statuses a run adds to a route's documented ones (the error shape is added to every status).
RUN_ERRORS: dict[int | str, dict[str, Any]] = {
    429: {"description": "A budget has no room; `Retry-After` says when it will."},
    503: {
        "description": "The request could not be recorded, so it was not acknowledged (retry), or every "
        "provider failed and the assistant has no fallback."
    },
}


async def run_options(
    request: Request,
    services: Services,
    route: str,
    *,
    user_id: str | None = None,
    prompt_version: str | None = None,
) -> RunOptions:
    """The caller's ids, trace context and eval marker; a client's `X-Request-ID` is claimed here."""
    client_id: str | None = getattr(request.state, "client_request_id", None)
    if client_id is not None:
        request.state.request_id = await services.request_ids.claim(client_id)
    return RunOptions(
        request_id=request.state.request_id,
        user_id=user_id,
        api_key_fingerprint=getattr(request.state, "api_key_fingerprint", None),
        client_request_id=client_id,
        prompt_version=prompt_version,
        route=route,
        parent=_propagator.extract(carrier=dict(request.headers)),
        eval=request.headers.get(c.EVAL_HEADER) == "1",
    )


async def run_or_http_error(
    request: Request, services: Services, name: str, input: BaseModel, options: RunOptions
) -> AssistantRun:
    """The run, its request row stored before the reply; the reply's `X-Request-ID` names the id the
    row is stored under (a fresh one when another request already holds the client's)."""
    try:
        assistant: Any = services.assistant(name)
    except AssistantNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    try:
        run = await run_assistant(services, assistant, input, options)
    except RequestNotRecorded:
        raise HTTPException(503, NOT_RECORDED, headers={"Retry-After": "1"}) from None
    except BudgetExceededError as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
    except PromptNotFound:
        raise HTTPException(
            422, f"prompt_version: not a known version of prompt {assistant.prompt_name!r}"
        ) from None
    except ModelUnavailable:
        raise HTTPException(
            503, f"every model provider failed and assistant {name!r} has no fallback"
        ) from None
    request.state.request_id = run.request_id
    return run
