"""GET /metrics: Prometheus text for this worker's instruments (authenticated like every data route)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request, Response

from llmops.service import services_of

router = APIRouter(tags=["observability"])


@router.get(
    "/metrics",
    summary="Prometheus metrics of this worker process",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition (OpenMetrics when the `Accept` header asks for it).",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/openmetrics-text": {"schema": {"type": "string"}},
            },
        },
        404: {"description": "Metrics are disabled (`LLMOPS_TELEMETRY=false`)."},
    },
)
async def metrics(request: Request) -> Response:
    services = services_of(request)
    exposition = services.telemetry_setup.exposition
    if exposition is None:
        raise HTTPException(404, "metrics are disabled (LLMOPS_TELEMETRY=false)")
    body, content_type = await asyncio.to_thread(exposition.render, request.headers.get("accept"))
    return Response(content=body, media_type=content_type)
