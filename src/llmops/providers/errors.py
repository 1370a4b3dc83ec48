"""Provider failures, one class per kind, so the retry policy reads the type, not a string.

    ProviderError
    ├── ProviderTimeout        the call took longer than the attempt timeout          (retryable)
    ├── ProviderConnectError   the endpoint could not be reached                      (retryable)
    ├── RateLimited            429; carries the server's Retry-After in seconds       (retryable)
    ├── ProviderServerError    5xx from the provider                                  (retryable)
    ├── BadResponse            4xx other than 429, or a reply we cannot read          (not retryable)
    ├── CircuitOpen            the provider's breaker is open; it was not called      (not retryable)
    ├── DeadlineExceeded       the request's deadline has no time left for a call     (not retryable)
    └── AllProvidersFailed     every provider in the chain failed; holds each failure, and the
                               call's retries and attempts (the degraded reply still reports them)

`Attempt` records one try of one provider, so a failure can report what was tried.
Messages never include request content or credentials; `error_type` is the low-cardinality value
used for the `error.type` span attribute and metric label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["ok", "error", "rejected"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one provider. `waited_s` is the backoff slept before it; `error_type` is set on failure."""

    provider: str
    model: str
    outcome: Outcome
    error_type: str | None
    duration_s: float
    waited_s: float = 0.0


class ProviderError(Exception):
    retryable: bool = False
    error_type: str = "provider_error"

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message)
        self.provider = provider


class ProviderTimeout(ProviderError):
    retryable = True
    error_type = "timeout"


class ProviderConnectError(ProviderError):
    retryable = True
    error_type = "connect_error"


class RateLimited(ProviderError):
    retryable = True
    error_type = "rate_limited"

    def __init__(self, message: str, *, provider: str = "", retry_after_s: float | None = None) -> None:
        super().__init__(message, provider=provider)
        self.retry_after_s = retry_after_s


class ProviderServerError(ProviderError):
    retryable = True
    error_type = "server_error"

    def __init__(self, message: str, *, provider: str = "", status_code: int = 500) -> None:
        super().__init__(message, provider=provider)
        self.status_code = status_code


class BadResponse(ProviderError):
    error_type = "bad_response"


class CircuitOpen(ProviderError):
    error_type = "circuit_open"


class DeadlineExceeded(ProviderError):
    """The request's overall deadline left no time for this call (not retryable: time does not return)."""

    error_type = "deadline_exceeded"


class AllProvidersFailed(ProviderError):
    error_type = "all_providers_failed"

    def __init__(
        self, failures: list[ProviderError], *, retries: int = 0, attempts: Sequence[Attempt] = ()
    ) -> None:
        summary = "; ".join(f"{f.provider}: {f.error_type}" for f in failures) or "no provider configured"
        super().__init__(f"every provider failed ({summary})")
        self.failures = failures
        self.retries = retries
        self.attempts = list(attempts)


# Every error type a provider call can fail with, and those it retries: the label sets of the error and
# retry counters, created at zero when the chain starts (see `Instruments.prime`).
CALL_ERRORS: tuple[type[ProviderError], ...] = (
    ProviderTimeout,
    ProviderConnectError,
    RateLimited,
    ProviderServerError,
    BadResponse,
    CircuitOpen,
)
ERROR_TYPES = tuple(error.error_type for error in CALL_ERRORS)
RETRYABLE_ERROR_TYPES = tuple(error.error_type for error in CALL_ERRORS if error.retryable)
