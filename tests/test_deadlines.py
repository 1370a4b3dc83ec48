"""One deadline bounds a request's attempts, retries and fallbacks; the breaker counts failed attempts;
every timeout, retry, breaker change and degraded reply is a warning log line without content."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from live import LiveServer
from llmops.providers.base import ChatRequest, Message
from llmops.providers.errors import AllProvidersFailed
from llmops.providers.resilience import BreakerState, CircuitBreaker, ProviderChain, RetryPolicy
from llmops.providers.scripted import ScriptedProvider

pytestmark = pytest.mark.anyio
REQUEST = ChatRequest(messages=[Message(role="user", content="hello there")])
HANGING_DEFAULTS = RetryPolicy(timeout_s=60, max_retries=2, initial_s=0.01, max_s=0.05, deadline_s=0.5)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _chain(*providers: ScriptedProvider, policy: RetryPolicy, threshold: int = 5) -> ProviderChain:
    breakers = [CircuitBreaker(p.name, failure_threshold=threshold, reset_s=30) for p in providers]
    return ProviderChain(providers, policy=policy, breakers=breakers)


async def test_the_deadline_bounds_a_hanging_primary_and_its_fallback_together(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chain = _chain(
        ScriptedProvider(faults="timeout*", name="primary"),
        ScriptedProvider(faults="timeout*", name="fallback"),
        policy=HANGING_DEFAULTS,
    )
    started = time.monotonic()
    with pytest.raises(AllProvidersFailed) as failed:
        await chain.chat(REQUEST)
    elapsed = time.monotonic() - started
    assert elapsed < 5  # 60 s per attempt and 2 retries per provider would be six minutes
    outcomes = [(a.provider, a.error_type) for a in failed.value.attempts]
    assert outcomes[0] == ("primary", "timeout")
    assert outcomes[-1] == ("fallback", "deadline_exceeded")
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "provider attempt timed out" in messages
    assert "request deadline reached; provider skipped" in messages


async def test_one_deadline_spans_every_call_of_a_request() -> None:
    provider = ScriptedProvider(faults="timeout*", name="primary")
    chain = _chain(provider, policy=RetryPolicy(timeout_s=0.2, max_retries=0, deadline_s=60))
    started = time.monotonic()
    with chain.deadline(0.3):
        for _ in range(4):
            with pytest.raises(AllProvidersFailed):
                await chain.chat(REQUEST)
    assert time.monotonic() - started < 2  # without the shared deadline: 4 x 0.2 s and more
    assert provider.calls == 2


async def test_five_failed_attempts_open_the_breaker_and_stop_the_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = ScriptedProvider(faults="500*", name="primary")
    chain = _chain(provider, policy=RetryPolicy(timeout_s=5, max_retries=2, initial_s=0, max_s=0))
    for _ in range(4):
        with pytest.raises(AllProvidersFailed):
            await chain.chat(REQUEST)
    assert provider.calls == 5
    assert chain.breakers["primary"].state is BreakerState.OPEN
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    changes = [r for r in warnings if r.getMessage() == "circuit breaker changed state"]
    assert [(r.from_state, r.to_state) for r in changes] == [("closed", "open")]  # type: ignore[attr-defined]
    assert sum(r.getMessage() == "retrying a provider call" for r in warnings) == 3


async def test_concurrent_failures_do_not_keep_retrying_once_open() -> None:
    provider = ScriptedProvider(faults="500*", name="primary", latency_s=0.05)
    chain = _chain(provider, policy=RetryPolicy(timeout_s=5, max_retries=2, initial_s=0.01, max_s=0.01))
    results = await asyncio.gather(*(chain.chat(REQUEST) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(result, AllProvidersFailed) for result in results)
    assert provider.calls == 10  # the ten first attempts were in flight; none of them retried


def test_a_hanging_provider_degrades_within_the_request_deadline(
    live_server: Callable[..., LiveServer], capfd: pytest.CaptureFixture[str]
) -> None:
    server = live_server(scripted_faults="timeout*", request_deadline_s=1.0, request_timeout_s=60)
    email = {"sender": "a@b.example", "recipients": ["c@d.example"], "subject": "hi", "body": "hello"}
    started = time.monotonic()
    with server.client() as client:
        reply = client.post("/v1/triage", json={"email": email})
    assert reply.status_code == 200 and reply.json()["degraded"] is True
    assert time.monotonic() - started < 10
    logs = capfd.readouterr().err
    assert '"degraded reply"' in logs and '"provider attempt timed out"' in logs
    assert "hello" not in logs
