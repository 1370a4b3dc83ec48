"""Liveness and readiness, unauthenticated so orchestrators can probe them."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from llmops.service import Services
from llmops.storage.db import ping

router = APIRouter(tags=["health"])
WARNINGS_TIMEOUT_S = 6.0


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The model is loaded and the database is reachable (plus warnings)",
    responses={
        503: {
            "description": "Starting, or the database or every provider is unavailable (same body as 200).",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def readyz(request: Request) -> JSONResponse:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    database = await asyncio.to_thread(ping, services.engine)
    providers = {provider.name: provider.ready() for provider in services.chain.providers}
    ready = database and any(providers.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "database": database,
        "providers": providers,
        "warnings": await _warnings(services),
    }
    return JSONResponse(body, status_code=200 if ready else 503)


async def _warnings(services: Services) -> list[str]:
    """Provider warnings (e.g. the configured model is not served upstream): reported, never failing."""
    try:
        found = await asyncio.wait_for(
            asyncio.gather(*(provider.warnings() for provider in services.chain.providers)),
            WARNINGS_TIMEOUT_S,
        )
    except TimeoutError:
        return ["provider checks did not finish in time"]
    return [warning for warnings in found for warning in warnings]
