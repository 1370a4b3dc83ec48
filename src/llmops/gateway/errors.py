"""Gateway errors in OpenAI's shape, so the official SDKs' exceptions and retries work unchanged.

    {"error": {"message": "...", "type": "...", "param": null, "code": "..."}}

The SDKs pick the exception from the status (401 → AuthenticationError, 404 → NotFoundError,
429 → RateLimitError, ≥ 500 → InternalServerError, and retry 408/409/429/5xx honouring Retry-After),
so the status is what matters most. Upstream failures are mapped from the provider error tree
(`llmops.providers.errors`) by type: an upstream's body is never read, so neither its key (some servers
echo the Authorization header) nor the prompt can leak through an error message.
"""

from __future__ import annotations

import json
import math

from llmops.providers.errors import (
    AllProvidersFailed,
    BadResponse,
    CircuitOpen,
    ProviderConnectError,
    ProviderError,
    ProviderServerError,
    ProviderTimeout,
    RateLimited,
)

INVALID_REQUEST = "invalid_request_error"
API_ERROR = "api_error"


class GatewayError(Exception):
    """An error reply: status, OpenAI error fields and extra headers (Retry-After, rate limits)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,  # OpenAI's field name
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> bytes:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return json.dumps({"error": error}).encode()


class UpstreamRejected(BadResponse):
    """The upstream answered 4xx (not 408/429): the request, the model or our key was refused."""

    def __init__(self, message: str, *, provider: str = "", status_code: int = 400) -> None:
        super().__init__(message, provider=provider)
        self.status_code = status_code


def unauthorized(message: str) -> GatewayError:
    return GatewayError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


def bad_request(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param)


def model_not_found() -> GatewayError:
    # Unlike OpenAI, the name sent is not repeated: submitted values never come back in errors.
    return GatewayError(
        404,
        "The model requested does not exist or you do not have access to it: GET /v1/models lists them.",
        code="model_not_found",
        param="model",
    )


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def decisive(error: ProviderError) -> ProviderError:
    """The failure a reply reports when every target failed: the first that was really tried (an open
    breaker says less about the upstream than the error that opened it)."""
    if isinstance(error, AllProvidersFailed) and error.failures:
        return next((f for f in error.failures if not isinstance(f, CircuitOpen)), error.failures[-1])
    return error


def from_provider_error(error: ProviderError, *, breaker_reset_s: float) -> GatewayError:
    """The reply for an upstream failure, after retries and fallbacks were spent."""
    error = decisive(error)
    if isinstance(error, RateLimited):
        wait = retry_after(error.retry_after_s or 1.0)
        return GatewayError(
            429,
            "The upstream model provider is rate limiting requests.",
            type="rate_limit_error",
            code="rate_limit_exceeded",
            headers={"Retry-After": wait},
        )
    if isinstance(error, ProviderTimeout):
        return GatewayError(
            504,
            "The upstream model provider did not answer in time.",
            type=API_ERROR,
            code="upstream_timeout",
        )
    if isinstance(error, CircuitOpen):
        return GatewayError(
            503,
            "The upstream model provider is failing; calls are paused briefly.",
            type=API_ERROR,
            code="upstream_unavailable",
            headers={"Retry-After": retry_after(breaker_reset_s)},
        )
    if isinstance(error, ProviderConnectError):
        return GatewayError(
            502,
            "The upstream model provider could not be reached.",
            type=API_ERROR,
            code="upstream_unreachable",
        )
    if isinstance(error, ProviderServerError):
        return GatewayError(
            502,
            f"The upstream model provider failed (HTTP {error.status_code}).",
            type=API_ERROR,
            code="upstream_error",
        )
    if isinstance(error, UpstreamRejected):
        status = error.status_code
        if status in (401, 403):
            return GatewayError(
                502,
                "The gateway's credentials were refused by the upstream model provider.",
                type=API_ERROR,
                code="upstream_auth_failed",
            )
        if status == 404:
            return GatewayError(
                404,
                "The upstream model provider does not know this model or endpoint.",
                code="model_not_found",
                param="model",
            )
        if status == 413:
            return GatewayError(413, "The request is too large for the upstream model provider.")
        return GatewayError(
            400,
            f"The upstream model provider rejected the request (HTTP {status}).",
            code="upstream_rejected",
        )
    return GatewayError(
        502,
        "The upstream model provider returned an unreadable reply.",
        type=API_ERROR,
        code="upstream_bad_response",
    )
