"""Bearer-key authentication for every route except health checks."""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from llmops.service import services_of
from llmops.storage.api_keys import fingerprint

CHECKED = "credentials_checked"  # request state: the guard `AuthFirstMiddleware` passed this request with


async def require_api_key(request: Request) -> None:
    """Route dependency: nothing left to do when `AuthFirstMiddleware` checked the key (the usual
    case, saving a thread hop per request); otherwise `check_api_key` off the event loop."""
    if getattr(request.state, CHECKED, None) is not check_api_key:
        await run_in_threadpool(check_api_key, request)


def check_api_key(request: Request) -> None:
    """A valid bearer key, or 401. May read the stored keys (blocking): run it off the event loop."""
    token = _bearer_token(request)
    _accept(request, token, services_of(request).keys.verify(token))


def check_api_key_now(request: Request) -> bool:
    """`check_api_key` on the event loop when the stored keys are cached (nearly always): True once
    the key passed (a bad one raises 401 the same way), False when only `check_api_key` can tell."""
    token = _bearer_token(request)
    valid = services_of(request).keys.verify_cached(token)
    if valid is None:
        return False
    _accept(request, token, valid)
    return True


def _bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer API key", headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


def _accept(request: Request, token: str, valid: bool) -> None:
    if not valid:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    # Identifies the caller's key for per-key budgets without holding the key itself.
    request.state.api_key_fingerprint = fingerprint(token)
