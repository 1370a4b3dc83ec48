"""The OpenAI-compatible routes, HTTP only: authenticate, read the body, call the gateway, shape the reply.

Errors here take OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`), not the rest of
the API's, because the clients are OpenAI SDKs. Bodies are read raw and replies sent as the upstream's
bytes, so nothing is parsed or serialised twice. The routes check the bearer key themselves (instead
of `require_api_key`) to answer a missing or wrong key in OpenAI's shape.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import Receive, Scope, Send

from llmops.gateway import Caller, GatewayError, Reply, StreamReply
from llmops.gateway.errors import unauthorized
from llmops.service import Services, services_of
from llmops.storage.api_keys import fingerprint
from llmops.storage.request_rows import new_request_id
from llmops.telemetry import conventions as c

router = APIRouter(tags=["gateway"])
CHAT_ROUTE = "/v1/chat/completions"
EMBEDDINGS_ROUTE = "/v1/embeddings"
MODELS_ROUTE = "/v1/models"
USER_HEADER = "x-llmops-user"
SESSION_HEADER = "x-llmops-session"
PROMPT_VERSION_HEADER = "x-llmops-prompt-version"
_MAX_HEADER_VALUE = 128
_propagator = TraceContextTextMapPropagator()
_OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    }
}


def _error(error: GatewayError) -> Response:
    return Response(
        error.body(), status_code=error.status, headers=error.headers, media_type="application/json"
    )


def _authenticate(request: Request, services: Services) -> str:
    """The caller's key fingerprint, or a 401 in OpenAI's shape."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("You didn't provide an API key: send it as 'Authorization: Bearer <key>'.")
    if not services.keys.verify(token):
        raise unauthorized("Incorrect API key provided.")
    return fingerprint(token)


def _header(request: Request, name: str) -> str | None:
    value = request.headers.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > _MAX_HEADER_VALUE or not value.isprintable():
        raise GatewayError(400, f"The {name} header must be 1-{_MAX_HEADER_VALUE} printable characters.")
    return value.strip()


async def _caller(request: Request, services: Services, route: str) -> Caller:
    key_fingerprint = _authenticate(request, services)
    client_id: str | None = getattr(request.state, "client_request_id", None)
    if client_id is not None:
        claimed = await services.request_ids.claim(client_id)
        # An id the redactor would mask is stored under a fresh one: take it now, so a stream's
        # headers (sent before its row is stored) name the id the row gets.
        request.state.request_id = (
            claimed if services.redactor.redact(claimed) == claimed else new_request_id()
        )
    return Caller(
        key_fingerprint=key_fingerprint,
        request_id=request.state.request_id,
        route=route,
        user_id=_header(request, USER_HEADER),
        session_id=_header(request, SESSION_HEADER),
        prompt_version=_header(request, PROMPT_VERSION_HEADER),
        client_request_id=client_id,
        parent=_propagator.extract(carrier=request.headers),
        eval=request.headers.get(c.EVAL_HEADER) == "1",
    )


class _EventStream(StreamingResponse):
    """Server-sent events that tell the gateway when they stop, finished or cut short by the client."""

    def __init__(self, reply: StreamReply) -> None:
        headers = {"Cache-Control": "no-cache", **reply.headers}
        super().__init__(reply.chunks, media_type="text/event-stream", headers=headers)
        self._reply = reply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._reply.close()


def _reply(request: Request, result: Reply | StreamReply) -> Response:
    """The reply; its `x-request-id` names the id the request row is stored under (a stream's row is
    stored after its headers went out, under the id they name unless another replica took it since)."""
    if isinstance(result, StreamReply):
        return _EventStream(result)
    if result.request_id is not None:
        request.state.request_id = result.request_id
    return Response(result.body, headers=result.headers, media_type="application/json")


@router.post(CHAT_ROUTE, summary="Create a chat completion (OpenAI-compatible)", openapi_extra=_OPENAPI_BODY)
async def chat_completions(request: Request) -> Response:
    services = services_of(request)
    try:
        caller = await _caller(request, services, CHAT_ROUTE)
        return _reply(request, await services.gateway.chat(caller, await request.body()))
    except GatewayError as error:
        return _error(error)


@router.post(EMBEDDINGS_ROUTE, summary="Create embeddings (OpenAI-compatible)", openapi_extra=_OPENAPI_BODY)
async def embeddings(request: Request) -> Response:
    services = services_of(request)
    try:
        caller = await _caller(request, services, EMBEDDINGS_ROUTE)
        return _reply(request, await services.gateway.embeddings(caller, await request.body()))
    except GatewayError as error:
        return _error(error)


@router.get(MODELS_ROUTE, summary="List the model aliases (OpenAI-compatible)")
async def list_models(request: Request) -> Response:
    services = services_of(request)
    try:
        _authenticate(request, services)
    except GatewayError as error:
        return _error(error)
    return Response(_json(services.gateway.models()), media_type="application/json")


@router.get(MODELS_ROUTE + "/{model:path}", summary="Describe one model alias (OpenAI-compatible)")
async def retrieve_model(model: str, request: Request) -> Response:
    services = services_of(request)
    try:
        _authenticate(request, services)
        return Response(_json(services.gateway.model(model)), media_type="application/json")
    except GatewayError as error:
        return _error(error)


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def direct_routes() -> list[APIRoute]:
    """The routes the app serves straight from their endpoint (`api.middleware.DirectRoutes`)."""
    paths = {CHAT_ROUTE, EMBEDDINGS_ROUTE}
    return [route for route in router.routes if isinstance(route, APIRoute) and route.path in paths]
