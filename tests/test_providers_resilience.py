"""Timeouts, retries, circuit breakers and fallback around real providers (scripted and HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fakes import FakeOpenAIServer, FakeReply
from llmops.providers.base import ChatRequest, ChatResponse, Message, Provider
from llmops.providers.errors import AllProvidersFailed, CircuitOpen, ProviderError
from llmops.providers.openai_compat import OpenAIProvider
from llmops.providers.resilience import BreakerState, CircuitBreaker, ProviderChain, RetryPolicy
from llmops.providers.scripted import ScriptedProvider
from llmops.telemetry.runtime import Telemetry

pytestmark = pytest.mark.anyio

REQUEST = ChatRequest(messages=[Message(role="user", content="hello there")])
NO_BACKOFF = RetryPolicy(timeout_s=5, max_retries=2, initial_s=0, max_s=1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Exploding(Provider):
    """A provider with a bug: it raises something that is not a ProviderError."""

    name = "exploding"
    model = "bug-1"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        raise KeyError("oops")


def chain(*providers: Provider, policy: RetryPolicy = NO_BACKOFF, threshold: int = 5) -> ProviderChain:
    breakers = [CircuitBreaker(p.name, failure_threshold=threshold, reset_s=30) for p in providers]
    return ProviderChain(providers, policy=policy, breakers=breakers)


async def test_success_needs_no_retry() -> None:
    result = await chain(ScriptedProvider()).chat(REQUEST)

    assert result.retries == 0
    assert [(a.provider, a.outcome) for a in result.attempts] == [("scripted", "ok")]


async def test_retries_until_success_and_counts_them() -> None:
    provider = ScriptedProvider(faults="500,429", retry_after_s=0)

    result = await chain(provider).chat(REQUEST)

    assert result.response.provider == "scripted"
    assert result.retries == 2
    assert [a.error_type for a in result.attempts] == ["server_error", "rate_limited", None]
    assert provider.calls == 3


async def test_honours_retry_after() -> None:
    provider = ScriptedProvider(faults="429", retry_after_s=0.2)

    result = await chain(provider).chat(REQUEST)

    assert result.retries == 1
    assert result.attempts[1].waited_s >= 0.2
    assert result.attempts[1].waited_s < 1.0


async def test_retry_after_is_capped_by_max_backoff() -> None:
    provider = ScriptedProvider(faults="429", retry_after_s=30)
    policy = RetryPolicy(timeout_s=5, max_retries=1, initial_s=0, max_s=0.1)

    result = await chain(provider, policy=policy).chat(REQUEST)

    assert 0.1 <= result.attempts[1].waited_s < 1.0


async def test_backoff_is_full_jitter_exponential() -> None:
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    policy = RetryPolicy(timeout_s=5, max_retries=4, initial_s=0.1, max_s=0.25)
    provider = ScriptedProvider(faults="500*4")
    resilient = ProviderChain([provider], policy=policy, sleep=record)

    result = await resilient.chat(REQUEST)

    assert result.retries == 4
    windows = [0.1, 0.2, 0.25, 0.25]
    assert all(0 <= slept <= window for slept, window in zip(sleeps, windows, strict=True))


async def test_each_retry_is_an_event_on_the_model_call_span() -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider = ScriptedProvider(faults="429,500", retry_after_s=0)
    telemetry = Telemetry(tracer=tracer_provider.get_tracer("test"))

    result = await ProviderChain([provider], policy=NO_BACKOFF, telemetry=telemetry).chat(REQUEST)

    [span] = exporter.get_finished_spans()
    assert span.name == "chat scripted-1"
    assert span.attributes["llmops.retry.count"] == result.retries == 2
    assert span.attributes["gen_ai.usage.input_tokens"] == result.response.usage.input_tokens
    events = [(event.name, dict(event.attributes or {})) for event in span.events]
    assert [attributes["error.type"] for _, attributes in events] == ["rate_limited", "server_error"]
    assert [attributes["llmops.retry.attempt"] for _, attributes in events] == [1, 2]
    assert {name for name, _ in events} == {"retry"}
    assert events[0][1]["gen_ai.provider.name"] == "scripted"


async def test_stops_after_max_retries() -> None:
    provider = ScriptedProvider(faults="500*")

    with pytest.raises(AllProvidersFailed) as caught:
        await chain(provider).chat(REQUEST)

    assert provider.calls == 3
    assert caught.value.retries == 2


async def test_non_retryable_errors_are_not_retried(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(FakeReply.server_error(400))
    provider = OpenAIProvider(base_url=fake_server.base_url, model="fake-model")
    try:
        with pytest.raises(AllProvidersFailed) as caught:
            await chain(provider).chat(REQUEST)
    finally:
        await provider.aclose()

    assert len(fake_server.requests) == 1
    assert caught.value.retries == 0
    assert [a.error_type for a in caught.value.attempts] == ["bad_response"]


async def test_http_rate_limit_is_retried_after_its_retry_after(fake_server: FakeOpenAIServer) -> None:
    fake_server.script(FakeReply.rate_limited(retry_after_ms="300"), FakeReply.ok("finally"))
    provider = OpenAIProvider(base_url=fake_server.base_url, model="fake-model")
    try:
        result = await chain(provider).chat(REQUEST)
    finally:
        await provider.aclose()

    assert result.response.text == "finally"
    assert result.retries == 1
    assert result.attempts[1].waited_s >= 0.3
    assert len(fake_server.requests) == 2


async def test_attempt_timeout_fires_on_a_hanging_provider() -> None:
    provider = ScriptedProvider(faults="timeout*2")
    policy = RetryPolicy(timeout_s=0.1, max_retries=2, initial_s=0, max_s=0)
    loop = asyncio.get_running_loop()

    started = loop.time()
    result = await chain(provider, policy=policy).chat(REQUEST)

    assert loop.time() - started < 3.0  # the scripted hang is an hour: only the timeout ends it
    assert result.retries == 2
    assert [a.error_type for a in result.attempts] == ["timeout", "timeout", None]
    assert all(0.1 <= a.duration_s < 1.0 for a in result.attempts[:2])


async def test_unexpected_exceptions_become_provider_errors_and_fall_back() -> None:
    result = await chain(Exploding(), ScriptedProvider()).chat(REQUEST)

    assert result.response.provider == "scripted"
    assert [(a.provider, a.error_type) for a in result.attempts] == [
        ("exploding", "provider_error"),
        ("scripted", None),
    ]


async def test_falls_back_to_the_next_provider_and_reports_attempts() -> None:
    primary = ScriptedProvider(faults="500*", name="primary", model="big-1")
    secondary = ScriptedProvider(name="secondary", model="small-1")

    result = await chain(primary, secondary).chat(REQUEST)

    assert result.response.provider == "secondary"
    assert result.retries == 2
    assert [(a.provider, a.model, a.outcome) for a in result.attempts] == [
        ("primary", "big-1", "error"),
        ("primary", "big-1", "error"),
        ("primary", "big-1", "error"),
        ("secondary", "small-1", "ok"),
    ]


async def test_all_failing_raises_with_retries_and_attempts() -> None:
    primary = ScriptedProvider(faults="500*", name="primary")
    secondary = ScriptedProvider(faults="429*", name="secondary", retry_after_s=0)

    with pytest.raises(AllProvidersFailed) as caught:
        await chain(primary, secondary).chat(REQUEST)

    error = caught.value
    assert error.retries == 4
    assert len(error.attempts) == 6
    assert [(f.provider, f.error_type) for f in error.failures] == [
        ("primary", "server_error"),
        ("secondary", "rate_limited"),
    ]
    assert str(error) == "every provider failed (primary: server_error; secondary: rate_limited)"


async def test_retries_are_counted_per_call_under_concurrency() -> None:
    provider = ScriptedProvider(faults="500*3", latency_s=0.01)
    resilient = chain(provider, policy=RetryPolicy(timeout_s=5, max_retries=3, initial_s=0, max_s=0))

    results = await asyncio.gather(*(resilient.chat(REQUEST) for _ in range(4)))

    assert sum(result.retries for result in results) == 3
    assert all(result.retries == len(result.attempts) - 1 for result in results)


def test_breaker_opens_after_consecutive_failures() -> None:
    breaker = CircuitBreaker("p", failure_threshold=3, reset_s=10, clock=FakeClock())

    for _ in range(2):
        breaker.acquire()
        breaker.record_failure()
    breaker.acquire()
    breaker.record_success()
    for _ in range(2):
        breaker.acquire()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED

    breaker.acquire()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        breaker.acquire()


def test_breaker_half_opens_after_reset_and_recovers() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("p", failure_threshold=1, reset_s=10, clock=clock)
    breaker.acquire()
    breaker.record_failure()

    clock.advance(9.9)
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    clock.advance(0.1)
    breaker.acquire()
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.acquire()  # only one trial at a time
    breaker.record_success()

    assert breaker.state is BreakerState.CLOSED
    breaker.acquire()


def test_breaker_reopens_on_a_failed_trial() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("p", failure_threshold=2, reset_s=10, clock=clock)
    for _ in range(2):
        breaker.acquire()
        breaker.record_failure()

    clock.advance(10)
    breaker.acquire()
    breaker.record_failure()

    assert breaker.state is BreakerState.OPEN
    clock.advance(5)
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    clock.advance(5)
    breaker.acquire()
    assert breaker.state is BreakerState.HALF_OPEN


def test_breaker_released_trial_lets_the_next_call_try() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("p", failure_threshold=1, reset_s=1, clock=clock)
    breaker.acquire()
    breaker.record_failure()
    clock.advance(1)

    breaker.acquire()
    breaker.release()

    breaker.acquire()
    assert breaker.state is BreakerState.HALF_OPEN


async def test_open_breaker_rejects_without_calling_then_recovers() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(faults="500*2", name="primary")  # two failed attempts open it
    fallback = ScriptedProvider(name="fallback")
    breakers = [
        CircuitBreaker("primary", failure_threshold=2, reset_s=30, clock=clock),
        CircuitBreaker("fallback", failure_threshold=2, reset_s=30, clock=clock),
    ]
    resilient = ProviderChain([provider, fallback], policy=NO_BACKOFF, breakers=breakers)

    for _ in range(2):
        assert (await resilient.chat(REQUEST)).response.provider == "fallback"
    assert resilient.breakers["primary"].state is BreakerState.OPEN
    calls_when_opened = provider.calls

    rejected = await resilient.chat(REQUEST)
    assert provider.calls == calls_when_opened
    assert [(a.provider, a.outcome, a.error_type) for a in rejected.attempts] == [
        ("primary", "rejected", "circuit_open"),
        ("fallback", "ok", None),
    ]

    clock.advance(30)
    recovered = await resilient.chat(REQUEST)
    assert recovered.response.provider == "primary"
    assert resilient.breakers["primary"].state is BreakerState.CLOSED


async def test_failed_trial_reopens_the_breaker_in_the_chain() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(faults="500*")
    breaker = CircuitBreaker("scripted", failure_threshold=1, reset_s=30, clock=clock)
    resilient = ProviderChain([provider], policy=RetryPolicy(max_retries=0), breakers=[breaker])

    with pytest.raises(AllProvidersFailed):
        await resilient.chat(REQUEST)
    clock.advance(30)
    with pytest.raises(AllProvidersFailed) as trial:
        await resilient.chat(REQUEST)
    assert trial.value.attempts[0].outcome == "error"
    assert breaker.state is BreakerState.OPEN

    with pytest.raises(AllProvidersFailed) as rejected:
        await resilient.chat(REQUEST)
    assert [f.error_type for f in rejected.value.failures] == ["circuit_open"]
    assert provider.calls == 2


async def test_cancelled_trial_does_not_wedge_the_breaker() -> None:
    clock = FakeClock()
    provider = ScriptedProvider(faults="500,timeout")
    breaker = CircuitBreaker("scripted", failure_threshold=1, reset_s=30, clock=clock)
    resilient = ProviderChain([provider], policy=RetryPolicy(max_retries=0), breakers=[breaker])
    with pytest.raises(AllProvidersFailed):
        await resilient.chat(REQUEST)
    clock.advance(30)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await resilient.chat(REQUEST)

    assert (await resilient.chat(REQUEST)).response.provider == "scripted"
    assert breaker.state is BreakerState.CLOSED


def test_chain_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ProviderChain([])
    with pytest.raises(ValueError, match="unique"):
        ProviderChain([ScriptedProvider(), ScriptedProvider()])
    with pytest.raises(ValueError):
        RetryPolicy(timeout_s=0)


async def test_error_messages_carry_no_request_content() -> None:
    secret_prompt = ChatRequest(messages=[Message(role="user", content="my password is hunter2")])
    provider = ScriptedProvider(faults="500*")

    with pytest.raises(ProviderError) as caught:
        await chain(provider).chat(secret_prompt)

    assert "hunter2" not in str(caught.value)
    assert all("hunter2" not in str(failure) for failure in caught.value.failures)


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def fake_server(_server: FakeOpenAIServer) -> FakeOpenAIServer:
    _server.reset()
    return _server
