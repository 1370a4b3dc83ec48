"""Liveness and readiness, unauthenticated so orchestrators can probe them."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from llmops.service import Services
from llmops.storage.db import ping

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The model is loaded and the database is reachable",
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
    body = {"status": "ready" if ready else "not_ready", "database": database, "providers": providers}
    return JSONResponse(body, status_code=200 if ready else 503)
