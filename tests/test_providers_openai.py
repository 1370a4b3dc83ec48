"""The OpenAI-compatible provider against a real HTTP server: replies, usage and error mapping."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakes import FakeOpenAIServer, FakeReply
from llmops.providers.base import ChatRequest, Message
from llmops.providers.errors import (
    BadResponse,
    ProviderConnectError,
    ProviderError,
    ProviderServerError,
    ProviderTimeout,
    RateLimited,
)
from llmops.providers.openai_compat import OpenAIProvider, parse_retry_after

pytestmark = pytest.mark.anyio

API_KEY = "sk-test-DoNotLeak-0123456789abcdef"
PROMPT = "Quarterly numbers for ACME are attached"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def server(fake_server: FakeOpenAIServer) -> FakeOpenAIServer:
    fake_server.reset()
    return fake_server


@pytest.fixture
async def provider(server: FakeOpenAIServer) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(base_url=server.base_url, api_key=API_KEY, model="fake-model", timeout_s=5)
    await provider.start()
    yield provider
    await provider.aclose()


def request(json_output: bool = False) -> ChatRequest:
    return ChatRequest(
        messages=[Message(role="system", content="Triage emails."), Message(role="user", content=PROMPT)],
        max_tokens=64,
        stop=["\n\n"],
        json_output=json_output,
    )


async def test_reply_carries_text_usage_and_finish_reason(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.script(FakeReply.ok("A triage", prompt_tokens=31, completion_tokens=9))

    response = await provider.chat(request())

    assert response.text == "A triage"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (31, 9)
    assert response.usage.cached_tokens is None
    assert response.finish_reason == "stop"
    assert (response.model, response.provider) == ("fake-model", "openai")


async def test_sends_model_messages_limits_and_bearer_key(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    await provider.chat(request())

    [sent] = server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.body["model"] == "fake-model"
    assert sent.body["messages"][1] == {"role": "user", "content": PROMPT}
    assert (sent.body["max_tokens"], sent.body["temperature"], sent.body["stop"]) == (64, 0.0, ["\n\n"])
    assert "response_format" not in sent.body


async def test_json_output_asks_for_a_json_object(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    await provider.chat(request(json_output=True))

    assert server.requests[0].body["response_format"] == {"type": "json_object"}


async def test_reports_cached_prompt_tokens(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(FakeReply.ok(prompt_tokens=1200, completion_tokens=40, cached_tokens=1024))

    response = await provider.chat(request())

    assert response.usage.cached_tokens == 1024
    assert response.usage.input_tokens == 1200


async def test_reuses_one_connection_pool(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    for _ in range(3):
        await provider.chat(request())

    assert len({sent.headers.get("host") for sent in server.requests}) == 1
    assert provider._client is not None and not provider._client.is_closed


async def test_429_maps_to_rate_limited_with_retry_after_seconds(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.script(FakeReply.rate_limited(retry_after="7"))

    with pytest.raises(RateLimited) as caught:
        await provider.chat(request())

    assert caught.value.retry_after_s == 7
    assert caught.value.retryable
    assert caught.value.provider == "openai"


async def test_429_prefers_retry_after_ms(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(FakeReply.rate_limited(retry_after="7", retry_after_ms="250"))

    with pytest.raises(RateLimited) as caught:
        await provider.chat(request())

    assert caught.value.retry_after_s == pytest.approx(0.25)


async def test_429_with_an_http_date(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    server.script(FakeReply.rate_limited(retry_after=format_datetime(later, usegmt=True)))

    with pytest.raises(RateLimited) as caught:
        await provider.chat(request())

    assert caught.value.retry_after_s is not None
    assert 25 <= caught.value.retry_after_s <= 31


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_maps_to_server_error(
    server: FakeOpenAIServer, provider: OpenAIProvider, status: int
) -> None:
    server.script(FakeReply.server_error(status))

    with pytest.raises(ProviderServerError) as caught:
        await provider.chat(request())

    assert caught.value.status_code == status
    assert caught.value.retryable


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_other_4xx_maps_to_bad_response(
    server: FakeOpenAIServer, provider: OpenAIProvider, status: int
) -> None:
    server.script(FakeReply.server_error(status))

    with pytest.raises(BadResponse) as caught:
        await provider.chat(request())

    assert not caught.value.retryable
    assert str(caught.value) == f"openai returned HTTP {status}"


async def test_malformed_body_maps_to_bad_response(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.script(FakeReply.malformed())

    with pytest.raises(BadResponse):
        await provider.chat(request())


async def test_slow_reply_maps_to_provider_timeout(server: FakeOpenAIServer) -> None:
    server.script(FakeReply.slow(1.0))
    provider = OpenAIProvider(base_url=server.base_url, model="fake-model", timeout_s=0.2)
    try:
        with pytest.raises(ProviderTimeout):
            await provider.chat(request())
    finally:
        await provider.aclose()


async def test_unreachable_endpoint_maps_to_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = OpenAIProvider(base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout_s=2)
    try:
        with pytest.raises(ProviderConnectError) as caught:
            await provider.chat(request())
    finally:
        await provider.aclose()

    assert caught.value.retryable


async def test_error_that_echoes_key_and_prompt_does_not_leak(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.script(FakeReply.echo_auth(401))

    with pytest.raises(ProviderError) as caught:
        await provider.chat(request())

    error = caught.value
    rendered = " ".join([str(error), repr(error), *map(str, error.args)])
    assert API_KEY not in rendered
    assert PROMPT not in rendered
    assert error.__cause__ is None
    assert "401" in str(error)


async def test_without_key_sends_no_authorization(server: FakeOpenAIServer) -> None:
    provider = OpenAIProvider(base_url=server.base_url, model="fake-model")
    try:
        await provider.chat(request())
    finally:
        await provider.aclose()

    assert "authorization" not in server.requests[0].headers


def test_retry_after_forms() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "2"}) == 2
    assert parse_retry_after({"Retry-After": " 1.5 "}) == 1.5
    assert parse_retry_after({"retry-after-ms": "40"}) == pytest.approx(0.04)
    assert parse_retry_after({"Retry-After": "Wed, 01 Jan 2025 12:00:10 GMT"}, now=now) == 10
    assert parse_retry_after({"Retry-After": "Wed, 01 Jan 2025 11:00:00 GMT"}, now=now) == 0
    assert parse_retry_after({"Retry-After": "-3"}) is None
    assert parse_retry_after({"Retry-After": "nan"}) is None
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"retry-after-ms": "junk", "Retry-After": "3"}) == 3


@given(st.text(max_size=60), st.text(max_size=20))
def test_retry_after_never_raises_and_is_never_negative(value: str, milliseconds: str) -> None:
    result = parse_retry_after({"Retry-After": value, "retry-after-ms": milliseconds})
    assert result is None or result >= 0


@given(st.integers(min_value=0, max_value=10**9))
def test_retry_after_integer_seconds_round_trip(seconds: int) -> None:
    assert parse_retry_after({"Retry-After": str(seconds)}) == seconds
