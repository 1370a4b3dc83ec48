"""The gateway: an OpenAI-compatible request in, an upstream's reply out, traced, costed and guarded.

One call, in order: the alias resolves to its targets (a sticky canary share of users may get another
alias: by the stored state of its model canary, `model_canaries`, else by the configured share); the key's rate limits admit it; the response cache may answer it;
the budget enforcer holds an estimate (`BudgetEnforcer.hold`); a root span opens, and under it each
target tried gets a `chat {model}` CLIENT span. A target is tried under the same retry loop as the
assistant's providers (`providers.resilience.retrying`) behind its upstream's `CircuitBreaker`; when
its tries are spent the next target (fallback) is tried. The upstream's reply is returned as it came;
its usage prices the call and settles the budget and the token rate limit. Every call, JSON, stream
or embeddings, goes through the same two steps, `_begin` (hold, root span, upstream call) and
`_finish` (model span, root span, budget, request row stored before the hold is released), so its
request row is written from the root span whatever the telemetry setting, and reports, alerts and
feedback cover gateway traffic too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anyio
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from llmops.budgets.enforce import BudgetEnforcer, Hold
from llmops.budgets.models import BudgetExceededError
from llmops.budgets.store import Subjects
from llmops.gateway.bodies import Caller, ChatBody, EmbeddingsBody, estimated_tokens, parse
from llmops.gateway.cache import ResponseCache, identity
from llmops.gateway.calls import TargetCaller
from llmops.gateway.client import StreamError, UpstreamClient, UpstreamStream
from llmops.gateway.errors import (
    API_ERROR,
    GatewayError,
    decisive,
    from_provider_error,
    model_not_found,
    retry_after,
)
from llmops.gateway.messages import StreamAccumulator, Usage, finish_reasons, output_messages
from llmops.gateway.model_canaries import ModelCanaries
from llmops.gateway.ratelimit import Admission, RateLimiter
from llmops.gateway.recording import (
    HTTP_STATUS,
    Root,
    Success,
    fail_root,
    finish_root,
    record_model_call,
    root_attributes,
)
from llmops.gateway.streaming import StreamReply, relay
from llmops.gateway.upstreams import ModelRoute, Routes, Target
from llmops.prompts.router import in_canary
from llmops.providers.errors import ProviderError
from llmops.providers.resilience import RetryPolicy
from llmops.storage import jsoncodec
from llmops.telemetry import conventions as c
from llmops.telemetry.runtime import Telemetry, mark_error

T = TypeVar("T")
STREAM_INTERRUPTED = (
    b'data: {"error": {"message": "The upstream model provider interrupted the stream.", '
    b'"type": "api_error", "param": null, "code": "stream_interrupted"}}\n\n'
)
logger = logging.getLogger("llmops.gateway")
_NO_STATUS = {"record_exception": False, "set_status_on_exception": False}
# Writes an ended root span's request row before the reply (`service.persist_request`) and returns
# the id it is stored under; raises when the row cannot be stored, so the call is not acknowledged.
Persist = Callable[[ReadableSpan], Awaitable[str | None]]
NOT_RECORDED = "the request could not be recorded (database unavailable); it was not acknowledged, retry"


class Reply:
    """A JSON reply: the upstream's bytes, the headers to add, and the id its request row is stored
    under (a fresh one when the client's id was taken; None when nothing stores rows)."""

    __slots__ = ("body", "headers", "request_id")

    def __init__(self, body: bytes, headers: dict[str, str], request_id: str | None = None) -> None:
        self.body = body
        self.headers = headers
        self.request_id = request_id


@dataclass(slots=True)
class _Call(Generic[T]):
    """A call under way: its root span, the target's success, the budget hold and what releases it."""

    root: Root
    success: Success[T]
    hold: Hold
    stack: AsyncExitStack


def _post(path: str) -> Callable[[UpstreamClient, bytes], Awaitable[bytes]]:
    return lambda client, payload: client.post(path, payload)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = jsoncodec.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _answered(reply: dict[str, Any], success: Success[Any]) -> tuple[Usage, str]:
    """The usage an upstream reported and the model it answered as (else the model asked of it)."""
    model = reply.get("model")
    return Usage.of(reply.get("usage")) or Usage(), model if isinstance(model, str) else success.target.model


class Gateway:
    """Long-lived: the upstream callers (`calls.TargetCaller`), the rate limiter and the cache."""

    def __init__(
        self,
        routes: Routes,
        telemetry: Telemetry,
        budgets: BudgetEnforcer,
        *,
        policy: RetryPolicy,
        breaker_failure_threshold: int = 5,
        breaker_reset_s: float = 30.0,
        limiter: RateLimiter | None = None,
        cache: ResponseCache | None = None,
        persist: Persist | None = None,
        canaries: ModelCanaries | None = None,
    ) -> None:
        self.routes = routes
        self.canaries = canaries
        self._persist = persist
        self.telemetry = telemetry
        self.budgets = budgets
        self.breaker_reset_s = breaker_reset_s
        self.limiter = limiter or RateLimiter(0, 0)
        self.cache = cache
        self.calls = TargetCaller(
            routes,
            telemetry,
            policy=policy,
            breaker_failure_threshold=breaker_failure_threshold,
            breaker_reset_s=breaker_reset_s,
        )

    async def aclose(self) -> None:
        await self.calls.aclose()

    def models(self) -> dict[str, Any]:
        """`GET /v1/models`: the aliases clients may ask for."""
        return {"object": "list", "data": [self.model(alias) for alias in self.routes.models]}

    def model(self, alias: str) -> dict[str, Any]:
        route = self.routes.models.get(alias)
        if route is None:
            raise model_not_found()
        return {"id": alias, "object": "model", "created": 0, "owned_by": route.target.upstream.name}

    # Chat completions

    async def chat(self, caller: Caller, raw: bytes) -> Reply | StreamReply:
        """A `Reply`, or a `StreamReply` when the body asks to stream; `GatewayError` for an error reply."""
        data, body = parse(raw, ChatBody)
        user = self.telemetry.pseudonymise(caller.user_id or body.user)
        route, canary = await self._route(body.model, user or caller.request_id)
        admission = self.limiter.admit(caller.key_fingerprint, estimated_tokens(len(raw), body))
        try:
            if body.stream:
                return await self._stream(caller, user, data, body, route, canary, admission, len(raw))
            return await self._complete(caller, user, data, body, route, canary, admission, len(raw))
        except BaseException:
            self.limiter.settle(admission, None)
            raise

    async def _complete(
        self,
        caller: Caller,
        user: str | None,
        data: dict[str, Any],
        body: ChatBody,
        route: ModelRoute,
        canary: bool,
        admission: Admission,
        raw_length: int,
    ) -> Reply:
        headers = dict(admission.headers)
        attributes = root_attributes(caller, user, body.model, route.alias, canary, "chat")
        ident = identity(caller.key_fingerprint, body.model, data) if self.cache is not None else None
        if self.cache is not None and ident is not None:
            cached = self.cache.get(ident)
            headers["x-llmops-cache"] = "miss" if cached is None else "hit"
            if cached is not None:
                request_id = await self._cache_hit(caller, attributes, cached)
                self.limiter.settle(admission, 0)
                return Reply(cached, headers, request_id)
        call = await self._begin(
            caller, user, raw_length, attributes, "chat", route, data, _post("/chat/completions")
        )
        reply = _json_object(call.success.result)
        choices = reply.get("choices")
        usage, model = _answered(reply, call.success)
        request_id = await self._finish(
            call, model, usage, finish_reasons(choices), lambda: output_messages(choices), acknowledged=True
        )
        self.limiter.settle(admission, usage.input_tokens + usage.output_tokens)
        if self.cache is not None and ident is not None:
            self.cache.put(ident, call.success.result)
        return Reply(call.success.result, headers, request_id)

    async def _cache_hit(self, caller: Caller, attributes: dict[str, Any], cached: bytes) -> str | None:
        model = _json_object(cached).get("model")
        attributes.update(
            {
                c.CACHE_HIT: True,
                c.STATUS: "ok",
                HTTP_STATUS: 200,
                c.COST_USD: 0.0,
                c.MODEL_CALLS: 0,
                c.GEN_AI_RESPONSE_MODEL: model
                if isinstance(model, str)
                else attributes[c.GEN_AI_REQUEST_MODEL],
            }
        )
        root = Root(self.telemetry.tracer, caller, attributes, time.perf_counter())
        return await self._store(root.end(), acknowledged=True)

    async def _stream(
        self,
        caller: Caller,
        user: str | None,
        data: dict[str, Any],
        body: ChatBody,
        route: ModelRoute,
        canary: bool,
        admission: Admission,
        raw_length: int,
    ) -> StreamReply:
        """Open the upstream stream (retries and fallback apply until its first byte), then relay it."""
        attributes = root_attributes(caller, user, body.model, route.alias, canary, "chat")
        call = await self._begin(
            caller,
            user,
            raw_length,
            attributes,
            "chat",
            route,
            data,
            lambda client, payload: client.open_stream("/chat/completions", payload),
            stream=True,
        )
        wants_usage = body.stream_options is not None and body.stream_options.include_usage
        accumulator = StreamAccumulator(self.telemetry.capture_content)
        end = self._stream_end(call, accumulator, admission)
        chunks = self._relay(call.success.result, accumulator, not wants_usage, end)

        async def close() -> None:
            await chunks.aclose()  # a relay cut short runs its `finally` (and so `end`) here
            await end("client_disconnected")  # a relay never started has no `finally` to run

        return StreamReply(chunks, dict(admission.headers), close)

    @staticmethod
    async def _relay(
        response: UpstreamStream,
        accumulator: StreamAccumulator,
        strip_usage: bool,
        end: Callable[[str | None], Awaitable[None]],
    ) -> AsyncGenerator[bytes, None]:
        error_type: str | None = None
        try:
            async for chunk in relay(response.chunks(), accumulator, strip_usage):
                yield chunk
        except StreamError:
            # The status line is sent: an error event is how OpenAI's SDKs learn of it (they raise APIError).
            error_type = "stream_interrupted"
            yield STREAM_INTERRUPTED
        except BaseException:
            error_type = "client_disconnected"
            raise
        finally:
            await end(error_type)

    def _stream_end(
        self, call: _Call[UpstreamStream], accumulator: StreamAccumulator, admission: Admission
    ) -> Callable[[str | None], Awaitable[None]]:
        """What must happen once a stream ends, however it ends, exactly once: close the upstream reply,
        then the call's one end (`_finish`) and the token rate limit's settlement."""
        ended = False

        async def end(error_type: str | None) -> None:
            nonlocal ended
            if ended:
                return
            ended = True
            with anyio.CancelScope(shield=True):
                await call.success.result.aclose()
                usage = accumulator.usage or Usage()
                model = accumulator.model or call.success.target.model
                await self._finish(
                    call,
                    model,
                    usage,
                    accumulator.finish_reasons(),
                    accumulator.output_messages,
                    acknowledged=False,  # the status line went out with the first chunk
                    error_type=error_type,
                )
                self.limiter.settle(admission, usage.input_tokens + usage.output_tokens)

        return end

    # Embeddings

    async def embeddings(self, caller: Caller, raw: bytes) -> Reply:
        data, body = parse(raw, EmbeddingsBody)
        user = self.telemetry.pseudonymise(caller.user_id or body.user)
        route, canary = await self._route(body.model, user or caller.request_id)
        admission = self.limiter.admit(caller.key_fingerprint, len(raw) // 4)
        tokens: int | None = None
        try:
            attributes = root_attributes(caller, user, body.model, route.alias, canary, "embeddings")
            call = await self._begin(
                caller, user, len(raw), attributes, "embeddings", route, data, _post("/embeddings")
            )
            usage, model = _answered(_json_object(call.success.result), call.success)
            request_id = await self._finish(call, model, usage, [], None, acknowledged=True)
            tokens = usage.input_tokens
        finally:
            self.limiter.settle(admission, tokens)
        return Reply(call.success.result, dict(admission.headers), request_id)

    # The one sequence of every call: hold → root span → upstream call … record → row → release

    async def _begin(
        self,
        caller: Caller,
        user: str | None,
        raw_length: int,
        attributes: dict[str, Any],
        operation: str,
        route: ModelRoute,
        data: dict[str, Any],
        request: Callable[[UpstreamClient, bytes], Awaitable[T]],
        *,
        stream: bool = False,
    ) -> _Call[T]:
        """Hold the budget, open the root span, get the first target's success (retries, fallback).

        A failed call's row is stored before its error reply; a successful one must reach `_finish`."""
        started = time.perf_counter()
        stack = AsyncExitStack()
        hold = await stack.enter_async_context(self._hold(caller, user, raw_length))
        root = Root(self.telemetry.tracer, caller, attributes, started)
        try:
            with trace.use_span(root.span, end_on_exit=False, **_NO_STATUS):
                success = await self._call_or_fail(
                    root, operation, self._targets(route), data, request, stream=stream
                )
        except GatewayError:
            await self._store(root.end(), acknowledged=False)
            await stack.aclose()
            raise
        except BaseException:
            root.end()
            await stack.aclose()
            raise
        return _Call(root, success, hold, stack)

    async def _finish(
        self,
        call: _Call[Any],
        model: str,
        usage: Usage,
        finish: list[str],
        output: Callable[[], list[dict[str, Any]]] | None,
        *,
        acknowledged: bool,
        error_type: str | None = None,
    ) -> str | None:
        """Record the model span and the root span, the budget's actual use, then store the request
        row before the budget hold is released; the id the row is stored under."""
        success = call.success
        try:
            if output is not None and self.telemetry.capture_content:
                self.telemetry.content(success.span, c.GEN_AI_OUTPUT_MESSAGES, output())
            if error_type:
                mark_error(success.span, error_type)
            cost = record_model_call(self.telemetry, success, model, usage, finish)
            finish_root(call.root, success, model, usage, cost, error_type)
            call.hold.record(usage.input_tokens + usage.output_tokens, cost.usd)
            return await self._store(call.root.end(), acknowledged=acknowledged)
        finally:
            await call.stack.aclose()

    async def _store(self, root: ReadableSpan, *, acknowledged: bool) -> str | None:
        """The ended root span's request row, stored; the id it is stored under. A reply that would
        acknowledge the call becomes a 503 when the row cannot be stored; any other is only logged."""
        if self._persist is None:
            return None
        try:
            return await self._persist(root)
        except Exception as exc:
            if acknowledged:
                raise GatewayError(503, NOT_RECORDED, type=API_ERROR, headers={"Retry-After": "1"}) from None
            logger.error("storing a request row failed", extra={"error_type": type(exc).__name__})
            return None

    # Routing and guards

    async def _route(self, model: str, routing_key: str) -> tuple[ModelRoute, bool]:
        """The alias's route, or its canary's for the canary arm, and whether this is the canary arm."""
        route = self.routes.resolve(model)
        if route is None:
            raise model_not_found()
        if route.canary is None:
            return route, False
        if self.canaries is not None:
            served, canary = await self.canaries.route(route.alias, routing_key)
            return (route if served == route.alias else self.routes.models[served]), canary
        if in_canary(routing_key, route.canary[1]):
            return self.routes.models[route.canary[0]], True
        return route, False

    @staticmethod
    def _targets(route: ModelRoute) -> list[Target]:
        return [route.target, *route.fallbacks]

    @asynccontextmanager
    async def _hold(self, caller: Caller, user: str | None, input_chars: int) -> AsyncIterator[Hold]:
        subjects = Subjects(user=user, api_key=caller.key_fingerprint)
        try:
            async with self.budgets.hold(subjects, lambda: (input_chars, None)) as hold:
                yield hold
        except BudgetExceededError as exc:  # raised only by the reservation: the body never raises it
            raise GatewayError(
                429,
                str(exc),
                type="insufficient_quota",
                code="budget_exceeded",
                headers={"Retry-After": retry_after(exc.retry_after_s)},
            ) from None

    # Calling upstreams

    async def _call_or_fail(
        self,
        root: Root,
        operation: str,
        targets: Sequence[Target],
        data: dict[str, Any],
        call: Callable[[UpstreamClient, bytes], Awaitable[T]],
        *,
        stream: bool = False,
    ) -> Success[T]:
        """The first target's success, or a `GatewayError` once the root span records the failure."""
        try:
            return await self.calls.first_success(operation, targets, data, call, stream=stream)
        except ProviderError as error:
            reply = from_provider_error(error, breaker_reset_s=self.breaker_reset_s)
            error_type = decisive(error).error_type
            fail_root(root, error_type, reply.status, getattr(error, "retries", 0))
            self.telemetry.instruments.record_error(error_type=error_type)
            raise reply from None
