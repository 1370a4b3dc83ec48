"""Bearer-key authentication for every route except health checks."""

from __future__ import annotations

from fastapi import HTTPException, Request

from llmops.service import services_of
from llmops.storage.api_keys import fingerprint


def require_api_key(request: Request) -> None:
    services = services_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer API key", headers={"WWW-Authenticate": "Bearer"})
    if not services.keys.verify(token.strip()):
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    # Identifies the caller's key for per-key budgets without holding the key itself.
    request.state.api_key_fingerprint = fingerprint(token.strip())
