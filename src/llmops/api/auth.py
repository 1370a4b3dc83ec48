"""Bearer-key authentication for every route except health checks."""

from __future__ import annotations

from fastapi import HTTPException, Request

from llmops.api.state import Services


def require_api_key(request: Request) -> None:
    services: Services = request.app.state.services
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer API key", headers={"WWW-Authenticate": "Bearer"})
    if not services.keys.verify(token.strip()):
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
