"""POST /v1/triage: validate, run the Email Gatekeeper, shape the reply."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from llmops.api.state import Services
from llmops.assistant.schema import TriageReply, TriageRequest

router = APIRouter(tags=["triage"])


@router.post("/v1/triage", response_model=TriageReply, summary="Triage one email")
async def triage(body: TriageRequest, request: Request) -> TriageReply:
    services: Services = request.app.state.services
    started = time.perf_counter()
    outcome = await services.gatekeeper.triage(body.email)
    return outcome.reply(request.state.request_id, (time.perf_counter() - started) * 1000)
