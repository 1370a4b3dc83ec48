"""One JSON error shape for every error path.

    {"error": {"type": "...", "message": "...", "fields": [{"field": "email.sender", "message": "..."}]},
     "request_id": "..."}

Messages name what was wrong but never echo the submitted values (they may hold personal data).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

logger = logging.getLogger("llmops.api")

_STATUS_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def error_body(
    status: int, message: str, request_id: str | None, fields: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": _STATUS_TYPES.get(status, "error"), "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error, "request_id": request_id}


def error_response(
    status: int,
    message: str,
    request_id: str | None,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, message, request_id, fields), status_code=status, headers=headers)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part != "body"]
    return ".".join(parts) or "body"


def _validation_fields(exc: RequestValidationError) -> list[dict[str, str]]:
    fields = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            fields.append({"field": "body", "message": "body is not valid JSON"})
            continue
        message = str(error.get("msg", "invalid value"))
        fields.append({"field": _field_path(tuple(error.get("loc", ()))), "message": message})
    return fields


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = _validation_fields(exc)
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return error_response(422, f"invalid request: {summary}", _request_id(request), fields)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else _STATUS_TYPES.get(exc.status_code, "error")
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request, (headers or {}).get("Allow", ""))}
    return error_response(exc.status_code, message, _request_id(request), headers=headers)


def _allowed_methods(request: Request, matched: str) -> str:
    """Every method this path takes: Starlette names only the route it matched first (`/v1/feedback`
    is served by a GET and a POST route and would answer `Allow: POST`), so add the methods the
    OpenAPI document lists for every path template that matches."""
    methods = {method.strip().upper() for method in matched.split(",") if method.strip()}
    for template, operations in request.app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(request.url.path):
            methods.update(method.upper() for method in operations)
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The traceback is logged without messages (`telemetry.logging.ContentFreeExceptions`): a database
    # error's message quotes the statement's parameters, which are request content.
    logger.error("unhandled error", exc_info=exc, extra={"error_type": type(exc).__name__})
    return error_response(500, "internal error", _request_id(request))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)
