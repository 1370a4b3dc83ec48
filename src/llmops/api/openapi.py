"""The OpenAPI document, made to tell the truth about what the service answers.

FastAPI describes what routes declare; the service adds behaviour around them (credentials checked
before the body, body limits, one error shape). This fills those in, from one table, so the document
matches the wire: a bearer security scheme (and the dashboard's session cookie for /api), the one
error shape as a component on every error status, 401 on every protected operation, 413 and 422 on
every operation with a body or parameters. Routes declare the statuses only they return (404, 429,
503) with a description; the error shape is filled in here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

BEARER = "bearerAuth"
SESSION = "sessionCookie"
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
NO_NUL = "^[^\\u0000]*$"


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. `email.sender`.")
    message: str


class ErrorDetail(BaseModel):
    type: str = Field(description="`unauthorized`, `not_found`, `validation_error`, `rate_limited`, …")
    message: str = Field(description="What was wrong; never echoes submitted values.")
    fields: list[FieldError] | None = None


class ErrorBody(BaseModel):
    """The one error shape of every error status."""

    error: ErrorDetail
    request_id: str | None


def install_openapi(app: FastAPI, protected: dict[str, list[str]], session_cookie: str) -> None:
    """Replace `app.openapi` with the corrected document. `protected` maps a path prefix to the
    security schemes that may authenticate it (any one of them suffices)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            _correct(schema, protected, session_cookie)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _correct(schema: dict[str, Any], protected: dict[str, list[str]], session_cookie: str) -> None:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorBody"] = error_schema
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer <key>`.",
        },
        SESSION: {
            "type": "apiKey",
            "in": "cookie",
            "name": session_cookie,
            "description": "Dashboard sign-in.",
        },
    }
    for path, operations in schema.get("paths", {}).items():
        schemes = next(
            (s for prefix, s in protected.items() if path == prefix.rstrip("/") or path.startswith(prefix)),
            None,
        )
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if schemes:
                operation["security"] = [{scheme: []} for scheme in schemes]
                responses.setdefault("401", {"description": "Missing or invalid credentials."})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "The body could not be decoded (not UTF-8)."})
                responses.setdefault(
                    "413", {"description": "The body is larger than `LLMOPS_MAX_BODY_BYTES`."}
                )
            for parameter in operation.get("parameters", []):
                _refuse_nul(parameter.get("schema", {}))
            if "requestBody" in operation or operation.get("parameters"):
                responses["422"] = {"description": "A field, parameter or body that is not valid."}
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400 and "content" not in response:
                    response["content"] = {"application/json": {"schema": ERROR_REF}}


def _refuse_nul(schema: dict[str, Any]) -> None:
    """String parameters take no NUL character (refused with 422 before any route runs: no database
    text type stores it); say so where the parameter has no pattern of its own."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string" and "pattern" not in branch and "enum" not in branch:
            branch["pattern"] = NO_NUL
