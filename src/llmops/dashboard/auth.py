"""Dashboard sign-in: an API key buys a signed session cookie; every form carries a CSRF token.

The cookie is `payload.signature`, HMAC-SHA256 over the payload with a key generated once per install
(stored in `service_state`, shared by every replica). The payload holds the expiry and the session's
CSRF token and the fingerprint of the API key it was opened with, never the key. Before sign-in, the
login form's token is double-submitted: a short-lived cookie and a hidden field must match. Sessions
are stateless: signing out clears the cookie; a session ends when it expires (`SESSION_TTL_S`) or when
its key is revoked (`llmops keys revoke`), which is how a stolen cookie is cut off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import HTTPException, Request
from starlette.responses import Response

from llmops.service import services_of
from llmops.storage.api_keys import fingerprint
from llmops.storage.service_state import get_or_create

SESSION_COOKIE = "llmops_session"
LOGIN_CSRF_COOKIE = "llmops_login_csrf"
CSRF_FIELD = "csrf_token"
SESSION_TTL_S = 12 * 3600
SIGNING_KEY_NAME = "dashboard_session_key"


class LoginRequired(Exception):
    """Raised by page dependencies without a valid session; answered with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign-in required")
        self.next_path = next_path


@dataclass(frozen=True)
class Session:
    expires: int
    csrf: str
    key_fingerprint: str


class Signer:
    """Signs and checks session payloads with the per-install key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def dump(self, session: Session) -> str:
        raw = json.dumps(
            {"exp": session.expires, "csrf": session.csrf, "kid": session.key_fingerprint},
            separators=(",", ":"),
        )
        payload = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        return f"{payload}.{self._mac(payload)}"

    def load(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session in a cookie, or None when it is missing, tampered with or expired."""
        if not cookie or "." not in cookie:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._mac(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(
                expires=int(data["exp"]), csrf=str(data["csrf"]), key_fingerprint=str(data["kid"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > (now or time.time()) else None


def signer(request: Request) -> Signer:
    """The app's signer, created on first use from the per-install key."""
    cached: Signer | None = getattr(request.app.state, "dashboard_signer", None)
    if cached is None:
        services = services_of(request)
        key = get_or_create(services.engine, SIGNING_KEY_NAME, lambda: secrets.token_hex(32))
        cached = Signer(bytes.fromhex(key))
        request.app.state.dashboard_signer = cached
    return cached


def new_session(key: str) -> Session:
    return Session(
        expires=int(time.time()) + SESSION_TTL_S,
        csrf=secrets.token_urlsafe(32),
        key_fingerprint=fingerprint(key),
    )


def current_session(request: Request) -> Session | None:
    """The request's session while it is signed, unexpired and its key not revoked."""
    session = signer(request).load(request.cookies.get(SESSION_COOKIE))
    services = services_of(request)
    if session is None or not services.keys.fingerprint_active(session.key_fingerprint):
        return None
    return session


def require_session(request: Request) -> Session:
    """Page dependency: the signed-in session, or a redirect to the login page."""
    session = current_session(request)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return session


def require_api_access(request: Request) -> None:
    """JSON API dependency: a bearer key (as for /v1) or a signed-in session cookie."""
    services = services_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        if services.keys.verify(token.strip()):
            return
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    if current_session(request) is None:
        raise HTTPException(401, "missing bearer API key or session", headers={"WWW-Authenticate": "Bearer"})


async def form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form body as a dict (first value per name), without python-multipart."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}


def check_csrf(expected: str | None, submitted: str | None) -> None:
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise HTTPException(403, "missing or invalid CSRF token")


def set_cookie(response: Response, name: str, value: str, max_age: int, secure: bool) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/"
    )
