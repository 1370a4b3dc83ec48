"""Resilience around providers, applied from the outside: attempt timeout, retries, breaker, fallback.

For one call, `ProviderChain.chat` walks its providers in order. Each provider sits behind its own
`CircuitBreaker`; an open breaker rejects without calling it. An admitted provider gets attempts bounded
by `RetryPolicy.timeout_s`; retryable failures (`ProviderError.retryable`) are retried by tenacity with
exponential backoff and full jitter, waiting at least a rate limit's Retry-After (capped by `max_s`).
When a provider's attempts are spent the chain moves to the next one.

One deadline bounds it all: attempts, backoff and fallback of every call a request makes share the
request's deadline (`ProviderChain.deadline(seconds)` around the request, else `RetryPolicy.deadline_s`
per call). An attempt's timeout is cut to the time left, a retry is made only if its backoff ends
before the deadline, and a provider is not tried when no time is left (`DeadlineExceeded`). The
breaker counts every failed attempt, and an attempt in flight when it opens makes no further retries.
Timeouts, retries, breaker changes and exhausted deadlines are logged as warnings (names, never content). Every attempt is recorded, and
retries are counted per call (never in shared state), so the caller can report them even when every
provider failed (`AllProvidersFailed.retries` and `.attempts`).

The breaker lives in `providers.breaker` (re-exported here with the chain that uses it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_any
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from llmops.providers.base import ChatRequest, ChatResponse, Provider
from llmops.providers.breaker import BreakerState, CircuitBreaker
from llmops.providers.errors import (
    ERROR_TYPES,
    RETRYABLE_ERROR_TYPES,
    AllProvidersFailed,
    Attempt,
    CircuitOpen,
    DeadlineExceeded,
    ProviderError,
    ProviderTimeout,
    RateLimited,
)
from llmops.telemetry import conventions as c
from llmops.telemetry.cost import Cost
from llmops.telemetry.messages import text_message
from llmops.telemetry.runtime import Telemetry, mark_error

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
logger = logging.getLogger("llmops.providers")
T = TypeVar("T")
# The running request's deadline, on the owning chain's clock (set by `ProviderChain.deadline`).
_DEADLINE: ContextVar[tuple[int, float] | None] = ContextVar("llmops_provider_deadline", default=None)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one provider: per-attempt timeout, retries after the first attempt, backoff."""

    timeout_s: float = 60.0
    max_retries: int = 2
    initial_s: float = 0.2
    max_s: float = 10.0
    deadline_s: float = 30.0

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.deadline_s <= 0:
            raise ValueError("timeout_s and deadline_s must be > 0")
        if self.max_retries < 0 or self.initial_s < 0 or self.max_s < 0:
            raise ValueError("max_retries, initial_s and max_s must be >= 0")


@dataclass(frozen=True, slots=True)
class ChainResult:
    response: ChatResponse
    retries: int
    attempts: list[Attempt] = field(default_factory=list)
    cost_usd: float | None = None
    price_source: str = "unknown"


class _Backoff:
    """Full-jitter exponential backoff that waits at least a rate limit's Retry-After (capped by max_s)."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._jitter = wait_random_exponential(multiplier=policy.initial_s, max=policy.max_s)
        self._max_s = policy.max_s

    def __call__(self, state: RetryCallState) -> float:
        wait = float(self._jitter(state))
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, RateLimited) and error.retry_after_s is not None:
            wait = max(wait, min(error.retry_after_s, self._max_s))
        return wait


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, ProviderError) and error.retryable


def _request_attributes(provider: Provider, request: ChatRequest) -> dict[str, AttributeValue]:
    return {
        c.GEN_AI_OPERATION_NAME: "chat",
        c.GEN_AI_PROVIDER_NAME: provider.name,
        c.GEN_AI_REQUEST_MODEL: provider.model,
        c.GEN_AI_REQUEST_MAX_TOKENS: request.max_tokens,
        c.GEN_AI_REQUEST_TEMPERATURE: request.temperature,
    }


def _captured_input(request: ChatRequest) -> list[dict[str, object]]:
    return [text_message(m.role, m.content) for m in request.messages[request.varying_from :]]


def retry_recorder(provider: str, model: str, telemetry: Telemetry) -> Callable[[RetryCallState], None]:
    """Before each backoff sleep: count the retry and add a `retry` event to the current (model) span."""

    def record(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        error_type = error.error_type if isinstance(error, ProviderError) else "unknown"
        telemetry.instruments.record_retry(provider=provider, error_type=error_type)
        logger.warning(
            "retrying a provider call",
            extra={
                "provider": provider,
                "attempt": state.attempt_number,
                "wait_s": round(state.upcoming_sleep, 3),
                "error_type": error_type,
            },
        )
        trace.get_current_span().add_event(
            "retry",
            {
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": model,
                "llmops.retry.attempt": state.attempt_number,
                "llmops.retry.wait_s": state.upcoming_sleep,
                "error.type": error_type,
            },
        )

    return record


class stop_when(stop_base):
    """A tenacity stop condition from a predicate (tenacity types them as `stop_base` instances)."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.predicate(retry_state)


def retrying(
    policy: RetryPolicy,
    *,
    before_sleep: Callable[[RetryCallState], None],
    sleep: Sleep = asyncio.sleep,
    give_up: Callable[[RetryCallState], bool] | None = None,
    may_retry: Callable[[], bool] | None = None,
) -> AsyncRetrying:
    """The one retry loop (the chain's and the gateway's): retryable `ProviderError`s only, full-jitter
    exponential backoff that honours Retry-After, at most `policy.max_retries` retries, then re-raise.
    `give_up` stops earlier (a request deadline); `may_retry` vetoes a retry (an open breaker)."""
    attempts = stop_after_attempt(policy.max_retries + 1)
    stop = attempts if give_up is None else stop_any(attempts, stop_when(give_up))

    def retryable(error: BaseException) -> bool:
        return _is_retryable(error) and (may_retry is None or may_retry())

    return AsyncRetrying(
        stop=stop,
        wait=_Backoff(policy),
        retry=retry_if_exception(retryable),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )


async def first_try_then(loop: Callable[[], AsyncRetrying], attempt: Callable[[], Awaitable[T]]) -> T:
    """`await loop()(attempt)`, with the first try made outside tenacity.

    Tenacity inspects every hook on each turn of its loop (0.1-0.4 ms a call even when nothing
    fails), and nearly every call succeeds at once; the loop is built only when the first try fails
    (building it is ~0.7 % of a gateway call's instructions). A first try that fails enters the loop
    replayed as its first attempt, so the policy (retry predicate, backoff, Retry-After,
    `before_sleep`, `give_up`) sees exactly the sequence of outcomes it would have seen."""
    try:
        return await attempt()
    except Exception as error:
        first: Exception | None = error

    async def replay_then_attempt() -> T:
        nonlocal first
        if first is not None:
            error, first = first, None
            raise error
        return await attempt()

    return await loop()(replay_then_attempt)


class ProviderChain:
    """Ordered providers, each behind its own breaker; the first one that answers wins.

    `clock` measures attempt durations and waits; `sleep` is the backoff sleep (both injectable for tests).
    """

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        policy: RetryPolicy | None = None,
        breakers: Sequence[CircuitBreaker] | None = None,
        clock: Clock = time.perf_counter,
        sleep: Sleep = asyncio.sleep,
        telemetry: Telemetry | None = None,
    ) -> None:
        if not providers:
            raise ValueError("a provider chain needs at least one provider")
        names = [provider.name for provider in providers]
        if len(set(names)) != len(names):
            raise ValueError("provider names in a chain must be unique")
        if breakers is None:
            breakers = [CircuitBreaker(name) for name in names]
        if len(breakers) != len(providers):
            raise ValueError("give one breaker per provider")
        self.providers: tuple[Provider, ...] = tuple(providers)
        self.breakers: dict[str, CircuitBreaker] = dict(zip(names, breakers, strict=True))
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self.telemetry = telemetry or Telemetry.noop()

    @property
    def primary(self) -> Provider:
        return self.providers[0]

    @contextmanager
    def deadline(self, seconds: float | None = None) -> Iterator[None]:
        """Every call made inside shares one deadline `seconds` (default `policy.deadline_s`) from now:
        a request's retries, fallbacks and repeated calls (repair, tools) together."""
        token = _DEADLINE.set((id(self), self._clock() + (seconds or self.policy.deadline_s)))
        try:
            yield
        finally:
            _DEADLINE.reset(token)

    def _deadline(self) -> float:
        current = _DEADLINE.get()
        if current is not None and current[0] == id(self):
            return current[1]
        return self._clock() + self.policy.deadline_s

    async def start(self) -> None:
        for provider in self.providers:
            await provider.start()
        self.telemetry.instruments.prime(
            retries=[(p.name, error_type) for p in self.providers for error_type in RETRYABLE_ERROR_TYPES],
            errors=ERROR_TYPES,
        )

    def ready(self) -> bool:
        """True when at least one provider can take requests."""
        return any(provider.ready() for provider in self.providers)

    async def aclose(self) -> None:
        for provider in self.providers:
            await provider.aclose()

    async def chat(self, request: ChatRequest) -> ChainResult:
        """The first successful reply, or AllProvidersFailed with every failure, the attempts and retries.

        Each provider tried gets its own `chat {model}` span (GenAI conventions) with retries as events.
        """
        attempts: list[Attempt] = []
        failures: list[ProviderError] = []
        retries = 0
        deadline = self._deadline()
        for provider in self.providers:
            if deadline - self._clock() <= 0:
                logger.warning(
                    "request deadline reached; provider skipped", extra={"provider": provider.name}
                )
                attempts.append(Attempt(provider.name, provider.model, "rejected", "deadline_exceeded", 0.0))
                failures.append(DeadlineExceeded("no time left", provider=provider.name))
                continue
            with self.telemetry.tracer.start_as_current_span(
                f"chat {provider.model}",
                kind=SpanKind.CLIENT,
                attributes=_request_attributes(provider, request),
            ) as span:
                self.telemetry.content(span, c.GEN_AI_INPUT_MESSAGES, _captured_input(request))
                started = self._clock()
                tried_before = len(attempts)
                outcome = await self._try_provider(provider, request, attempts, failures, span, deadline)
                provider_retries = max(len(attempts) - tried_before - 1, 0)
                retries += provider_retries
                span.set_attribute(c.RETRY_COUNT, provider_retries)
                seconds = self._clock() - started
                if outcome is None:
                    error_type = failures[-1].error_type
                    mark_error(span, error_type)
                    self.telemetry.instruments.record_operation_duration(
                        provider=provider.name, model=provider.model, seconds=seconds, error_type=error_type
                    )
                    self.telemetry.instruments.record_error(error_type=error_type)
                    continue
                result = self._record_success(provider, outcome, span, seconds)
            return ChainResult(
                response=outcome,
                retries=retries,
                attempts=attempts,
                cost_usd=result.usd,
                price_source=result.source,
            )
        raise AllProvidersFailed(failures, retries=retries, attempts=attempts)

    async def _try_provider(
        self,
        provider: Provider,
        request: ChatRequest,
        attempts: list[Attempt],
        failures: list[ProviderError],
        span: Span,
        deadline: float,
    ) -> ChatResponse | None:
        breaker = self.breakers[provider.name]
        try:
            breaker.acquire()
        except CircuitOpen as error:
            attempts.append(Attempt(provider.name, provider.model, "rejected", error.error_type, 0.0))
            failures.append(error)
            return None
        try:
            response = await self._call_with_retries(provider, request, attempts, breaker, deadline)
        except ProviderError as error:
            failures.append(error)
            return None
        except BaseException:
            breaker.release()
            raise
        breaker.record_success()
        return response

    def _record_success(self, provider: Provider, response: ChatResponse, span: Span, seconds: float) -> Cost:
        usage = response.usage
        cost = self.telemetry.price(
            provider.name, response.model, usage.input_tokens, usage.output_tokens, usage.cached_tokens
        )
        span.set_attributes(
            {
                c.GEN_AI_RESPONSE_MODEL: response.model,
                c.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
                c.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
                c.GEN_AI_RESPONSE_FINISH_REASONS: [response.finish_reason or "unknown"],
                c.PRICE_SOURCE: cost.source,
            }
        )
        if usage.cached_tokens is not None:
            span.set_attribute(c.GEN_AI_USAGE_CACHED_INPUT_TOKENS, usage.cached_tokens)
        if response.timings is not None:
            span.set_attributes(
                {
                    c.MODEL_PREFILL_MS: response.timings.prefill_ms,
                    c.MODEL_DECODE_MS: response.timings.decode_ms,
                    c.MODEL_PREFILL_TOKENS: response.timings.prefill_tokens,
                }
            )
        if cost.usd is not None:
            span.set_attribute(c.COST_USD, cost.usd)
        self.telemetry.content(
            span,
            c.GEN_AI_OUTPUT_MESSAGES,
            [text_message("assistant", response.text, response.finish_reason or "unknown")],
        )
        instruments = self.telemetry.instruments
        instruments.record_token_usage(
            provider=provider.name,
            model=response.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )
        instruments.record_operation_duration(provider=provider.name, model=response.model, seconds=seconds)
        instruments.record_cost(provider=provider.name, model=response.model, usd=cost.usd)
        return cost

    async def _call_with_retries(
        self,
        provider: Provider,
        request: ChatRequest,
        attempts: list[Attempt],
        breaker: CircuitBreaker,
        deadline: float,
    ) -> ChatResponse:
        """Attempts of one provider: each failed attempt counts against its breaker; a retry is made
        only while the breaker stays closed and its backoff ends before the deadline."""
        policy = self.policy
        last_end: float | None = None

        async def attempt() -> ChatResponse:
            nonlocal last_end
            started = self._clock()
            waited = 0.0 if last_end is None else started - last_end
            if last_end is not None and breaker.state is BreakerState.OPEN:
                raise CircuitOpen(f"{provider.name} circuit opened during retries", provider=provider.name)
            try:
                response = await self._attempt(provider, request, deadline)
            except ProviderError as error:
                if not isinstance(error, DeadlineExceeded):
                    breaker.record_failure()
                last_end = self._clock()
                attempts.append(
                    Attempt(
                        provider.name, provider.model, "error", error.error_type, last_end - started, waited
                    )
                )
                raise
            attempts.append(
                Attempt(provider.name, provider.model, "ok", None, self._clock() - started, waited)
            )
            return response

        def out_of_time(state: RetryCallState) -> bool:
            if self._clock() + (state.upcoming_sleep or 0.0) < deadline:
                return False
            logger.warning("request deadline reached; no more retries", extra={"provider": provider.name})
            return True

        def loop() -> AsyncRetrying:
            return retrying(
                policy,
                before_sleep=retry_recorder(provider.name, provider.model, self.telemetry),
                give_up=out_of_time,
                may_retry=lambda: breaker.state is not BreakerState.OPEN,
                sleep=self._sleep,
            )

        return await first_try_then(loop, attempt)

    async def _attempt(self, provider: Provider, request: ChatRequest, deadline: float) -> ChatResponse:
        """One call under the attempt timeout, cut to the time the deadline leaves; anything that is not
        a ProviderError becomes one."""
        left = deadline - self._clock()
        if left <= 0:
            raise DeadlineExceeded(f"no time left for {provider.name}", provider=provider.name)
        timeout_s = min(self.policy.timeout_s, left)
        try:
            async with asyncio.timeout(timeout_s):
                return await provider.chat(request)
        except TimeoutError:
            logger.warning(
                "provider attempt timed out",
                extra={"provider": provider.name, "timeout_s": round(timeout_s, 3)},
            )
            raise ProviderTimeout(
                f"{provider.name} did not answer within {timeout_s:g}s", provider=provider.name
            ) from None
        except ProviderError as error:
            error.provider = error.provider or provider.name
            raise
        except Exception as error:
            raise ProviderError(
                f"{provider.name} failed unexpectedly ({type(error).__name__})", provider=provider.name
            ) from error


__all__ = ["BreakerState", "ChainResult", "CircuitBreaker", "ProviderChain", "RetryPolicy"]
