"""POST /v1/triage: the Email Gatekeeper's own route, with its original request and reply shape."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request

from llmops.api.routes.runs import RUN_ERRORS, run_options, run_or_http_error
from llmops.assistant.schema import Triage, TriageReply, TriageRequest
from llmops.service import GATEKEEPER, services_of

router = APIRouter(tags=["triage"])
ROUTE = "/v1/triage"


@router.post(ROUTE, response_model=TriageReply, summary="Triage one email", responses=RUN_ERRORS)
async def triage(body: TriageRequest, request: Request) -> TriageReply:
    services = services_of(request)
    options = await run_options(request, services, ROUTE, user_id=body.user_id)
    run = await run_or_http_error(request, services, GATEKEEPER, body.email, options)
    return TriageReply(triage=cast(Triage, run.output), **run.meta().model_dump())
