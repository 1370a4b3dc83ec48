"""Pure ASGI middleware: request ids and body size limits, cheap enough for every request."""

from __future__ import annotations

import inspect
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import unquote_to_bytes

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmops.api.auth import CHECKED
from llmops.api.errors import error_body
from llmops.storage.request_rows import new_request_id

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Honour a well-formed incoming `X-Request-ID` (else generate one) and return it on the reply.

    A client's id is also kept as `client_request_id`, so routes that store requests can check it is
    not taken (`storage.request_rows.RequestIds`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        state = scope.setdefault("state", {})
        if incoming and _VALID_REQUEST_ID.match(incoming):
            state["request_id"] = state["client_request_id"] = incoming
        else:
            state["request_id"] = new_request_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Read at reply time: a route may replace an id another request already has.
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", state["request_id"].encode("ascii")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class DirectRoutes:
    """Serve the busiest routes by calling their endpoint straight away, inside every other middleware.

    FastAPI's own path to an endpoint (exception middleware, an exit stack per request, route
    matching, dependency solving) cost more than the gateway's proxying itself on a JSON call
    (callgrind, concurrency 1: ~0.28 M of ~4 M instructions per call). Only routes whose endpoint
    takes the request alone and returns a `Response` qualify: they declare no dependencies, so FastAPI
    would do nothing for them but call them. They stay declared on their router, which still answers
    every other method and path and describes them in the OpenAPI document; an exception an endpoint
    does not handle reaches the app's error handling as it would through FastAPI (a body over the
    limit is answered by `BodyLimitMiddleware`, outside this one, in the same shape)."""

    def __init__(self, app: ASGIApp, routes: Iterable[APIRoute]) -> None:
        self.app = app
        self.routes: dict[tuple[str, str], APIRoute] = {}
        for route in routes:
            # a dependency (a key check declared on the router, say) would be skipped: refuse it
            if route.dependencies or list(inspect.signature(route.endpoint).parameters) != ["request"]:
                raise ValueError(
                    f"{route.path}: only an endpoint taking the request alone, with no dependencies, can be"
                    " served directly"
                )
            self.routes.update({(route.path, method): route for method in route.methods or ()})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get((scope["path"], scope["method"])) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # the template `RequestMetricsMiddleware` labels the request with
        response = await route.endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


class BodyTooLarge(HTTPException):
    """Raised from `receive` so FastAPI's body parsing re-raises it as-is and the 413 handler runs."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {max_bytes} bytes")


class BodyLimitMiddleware:
    """Reject bodies over `max_bytes` with 413, by Content-Length or while streaming chunked bodies.

    `per_path` gives some paths their own limit (OTLP exports are far larger than a triage request)."""

    def __init__(self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.per_path.get(scope.get("path", ""), self.max_bytes)
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await self._reject(scope, send, max_bytes)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, send, max_bytes)

    async def _reject(self, scope: Scope, send: Send, max_bytes: int) -> None:
        await send_error(scope, send, 413, f"request body exceeds the limit of {max_bytes} bytes")


class AuthFirstMiddleware:
    """Check credentials before anything reads the body: a request without a valid key gets 401 whatever
    its body is (FastAPI parses the body before it runs route dependencies, so a malformed body would
    otherwise answer 400/422 to a caller who is not allowed to ask at all).

    `guards` maps a path prefix to the check for it (the same functions the routes depend on); the
    longest matching prefix wins, and None marks routes that check credentials themselves before they
    read the body (the gateway's, which answer in OpenAI's error shape). Paths under no prefix (health
    checks, sign-in, the dashboard's pages) pass through.

    A guard may block (it reads stored keys), so it runs off the event loop, unless `nonblocking` has
    a form of it that can decide on the loop: that returns False when it cannot (then the guard runs
    in a thread as usual), which saves a thread hop per request."""

    def __init__(
        self,
        app: ASGIApp,
        guards: dict[str, Callable[[Request], None] | None],
        nonblocking: Mapping[Callable[[Request], None], Callable[[Request], bool]] | None = None,
    ) -> None:
        self.app = app
        self.guards = guards
        self.nonblocking = dict(nonblocking or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and getattr(scope["app"].state, "services", None) is not None:
            guard = self._guard(scope["path"])
            if guard is not None:
                request = Request(scope)
                now = self.nonblocking.get(guard)
                try:
                    if now is None or not now(request):
                        await run_in_threadpool(guard, request)
                except HTTPException as exc:
                    headers = dict(exc.headers or {})
                    await send_error(scope, send, exc.status_code, str(exc.detail), headers)
                    return
                scope.setdefault("state", {})[CHECKED] = guard  # the route's own check can skip it
        await self.app(scope, receive, send)

    def _guard(self, path: str) -> Callable[[Request], None] | None:
        matches = [prefix for prefix in self.guards if path == prefix.rstrip("/") or path.startswith(prefix)]
        return self.guards[max(matches, key=len)] if matches else None


class InputCharactersMiddleware:
    """Refuse a NUL character in the path or query string with 422: Postgres cannot store it in text,
    so a filter or id holding one would otherwise fail in the database (500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b""))
        ):
            message = "invalid request: the path or query string contains a NUL character"
            await send_error(scope, send, 422, message)
            return
        await self.app(scope, receive, send)


async def send_error(
    scope: Scope, send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    """Answer with the one error shape straight from middleware (before any route runs)."""
    request_id = scope.get("state", {}).get("request_id")
    body = json.dumps(error_body(status, message, request_id)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class RequestMetricsMiddleware:
    """Count every HTTP request by route template and status, 4xx included, into `llmops.requests`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture_status)
        finally:
            services = getattr(scope["app"].state, "services", None)
            if services is not None:
                route = scope.get("route")
                services.telemetry.instruments.record_request(
                    route=getattr(route, "path", "other"),
                    status_code=status,
                    seconds=time.perf_counter() - started,
                )
