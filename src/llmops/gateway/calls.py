"""Calling upstream targets in order: each behind its upstream's breaker, under the one retry loop.

Each target tried gets a `{operation} {model}` CLIENT span, current while it is tried, so retries
become its events (`providers.resilience.retry_recorder`); the winner's span is returned open for the
caller to record and end. When every target failed, `AllProvidersFailed` holds each failure and the
retries spent, as the assistant's provider chain reports them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from tenacity import AsyncRetrying

from llmops.gateway.client import UpstreamClient
from llmops.gateway.messages import input_messages
from llmops.gateway.recording import Success
from llmops.gateway.upstreams import Routes, Target
from llmops.providers.errors import AllProvidersFailed, CircuitOpen, ProviderError, ProviderTimeout
from llmops.providers.resilience import (
    CircuitBreaker,
    RetryPolicy,
    first_try_then,
    retry_recorder,
    retrying,
)
from llmops.storage import jsoncodec
from llmops.telemetry import conventions as c
from llmops.telemetry.runtime import Telemetry, mark_error

T = TypeVar("T")
_NO_STATUS = {"record_exception": False, "set_status_on_exception": False}


class TargetCaller:
    """One pooled HTTP client and one circuit breaker per upstream, shared by every request."""

    def __init__(
        self,
        routes: Routes,
        telemetry: Telemetry,
        *,
        policy: RetryPolicy,
        breaker_failure_threshold: int = 5,
        breaker_reset_s: float = 30.0,
    ) -> None:
        self.telemetry = telemetry
        self.policy = policy
        self.clients = {name: UpstreamClient(upstream) for name, upstream in routes.upstreams.items()}
        self.breakers = {
            name: CircuitBreaker(name, failure_threshold=breaker_failure_threshold, reset_s=breaker_reset_s)
            for name in routes.upstreams
        }

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    @staticmethod
    def payload(data: dict[str, Any], target: Target, stream: bool) -> bytes:
        body = dict(data, model=target.model)
        if stream:
            options = data.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        return jsoncodec.dumps(body)

    async def first_success(
        self,
        operation: str,
        targets: Sequence[Target],
        data: dict[str, Any],
        call: Callable[[UpstreamClient, bytes], Awaitable[T]],
        *,
        stream: bool = False,
    ) -> Success[T]:
        """Try each target in order under the retry policy and its upstream's breaker.

        Each target tried gets a `{operation} {model}` CLIENT span, current while it is tried (retries
        become its events); the winner's span is returned open, for the caller to record and end."""
        failures: list[ProviderError] = []
        retries = 0
        for target in targets:
            span = self._model_span(operation, target, data)
            started = time.perf_counter()
            breaker = self.breakers[target.upstream.name]
            try:
                breaker.acquire()
            except CircuitOpen as error:
                failures.append(error)
                mark_error(span, error.error_type)
                span.end()
                continue
            attempt, tries = self._attempt(
                call, self.clients[target.upstream.name], self.payload(data, target, stream)
            )
            try:
                with trace.use_span(span, end_on_exit=False, **_NO_STATUS):
                    result: T = await first_try_then(partial(self._loop, target), attempt)
            except ProviderError as error:
                breaker.record_failure()
                failures.append(error)
                retries += tries[0] - 1
                span.set_attribute(c.RETRY_COUNT, tries[0] - 1)
                mark_error(span, error.error_type)
                self.telemetry.instruments.record_operation_duration(
                    provider=target.upstream.name,
                    model=target.model,
                    seconds=time.perf_counter() - started,
                    error_type=error.error_type,
                )
                span.end()
                continue
            except BaseException:
                breaker.release()
                span.end()
                raise
            breaker.record_success()
            retries += tries[0] - 1
            span.set_attribute(c.RETRY_COUNT, tries[0] - 1)
            return Success(target, result, span, retries, started)
        raise AllProvidersFailed(failures, retries=retries)

    def _loop(self, target: Target) -> AsyncRetrying:
        return retrying(
            self.policy, before_sleep=retry_recorder(target.upstream.name, target.model, self.telemetry)
        )

    def _model_span(self, operation: str, target: Target, data: dict[str, Any]) -> Span:
        span = self.telemetry.tracer.start_span(
            f"{operation} {target.model}",
            kind=SpanKind.CLIENT,
            attributes={
                c.GEN_AI_OPERATION_NAME: operation,
                c.GEN_AI_PROVIDER_NAME: target.upstream.name,
                c.GEN_AI_REQUEST_MODEL: target.model,
            },
        )
        if self.telemetry.capture_content and operation == "chat":
            messages = data.get("messages")
            self.telemetry.content(
                span, c.GEN_AI_INPUT_MESSAGES, input_messages(messages if isinstance(messages, list) else [])
            )
        return span

    def _attempt(
        self, call: Callable[[UpstreamClient, bytes], Awaitable[T]], client: UpstreamClient, payload: bytes
    ) -> tuple[Callable[[], Awaitable[T]], list[int]]:
        """One try under the attempt timeout, and a counter of the tries made."""
        tries = [0]
        timeout_s = self.policy.timeout_s

        async def attempt() -> T:
            tries[0] += 1
            try:
                async with asyncio.timeout(timeout_s):
                    return await call(client, payload)
            except TimeoutError:
                name = client.upstream.name
                raise ProviderTimeout(f"{name} did not answer within {timeout_s:g}s", provider=name) from None

        return attempt, tries
