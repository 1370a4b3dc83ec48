"""Fallback chain and circuit breaker seen through the HTTP API, with a real fake OpenAI server."""

from __future__ import annotations

import time
from collections.abc import Callable

from fakes import FakeOpenAIServer, FakeReply
from live import LiveServer
from test_api import EMAIL

VALID_TRIAGE = (
    '{"category": "urgent", "priority": 1, "summary": "The checkout database is down.", '
    '"action_items": ["Join the incident bridge"], "draft_reply": "Joining now."}'
)


def test_fallback_chain_moves_to_the_next_provider(live_server: Callable[..., LiveServer]) -> None:
    with FakeOpenAIServer(default_reply=FakeReply.server_error(503)) as upstream:
        server = live_server(
            provider="openai",
            model="gpt-4o-mini",
            openai_base_url=upstream.base_url,
            openai_api_key="sk-test-fallback",
            fallback_providers="scripted",
            max_retries=1,
        )
        with server.client() as client:
            reply = client.post("/v1/triage", json=EMAIL).json()
        assert len(upstream.requests) == 2  # first attempt and one retry, then the next provider
    assert reply["provider"] == "scripted" and reply["model"] == "scripted-1"
    assert reply["degraded"] is False
    assert reply["retries"] == 1


def test_openai_compatible_provider_answers_through_the_api(live_server: Callable[..., LiveServer]) -> None:
    answer = FakeReply.ok(VALID_TRIAGE, prompt_tokens=321, completion_tokens=45)
    with FakeOpenAIServer(default_reply=answer) as up:
        server = live_server(
            provider="openai",
            model="gpt-4o-mini",
            openai_base_url=up.base_url,
            openai_api_key="sk-test-openai",
        )
        with server.client() as client:
            reply = client.post("/v1/triage", json=EMAIL).json()
        [request] = up.requests
    assert request.headers["authorization"] == "Bearer sk-test-openai"
    assert reply["provider"] == "openai" and reply["model"] == "gpt-4o-mini"
    assert reply["usage"] == {"input_tokens": 321, "output_tokens": 45}
    assert reply["triage"]["category"] == "urgent" and reply["triage"]["priority"] == 1


def test_circuit_opens_then_recovers(live_server: Callable[..., LiveServer]) -> None:
    with FakeOpenAIServer(default_reply=FakeReply.ok(VALID_TRIAGE)) as upstream:
        upstream.script(FakeReply.server_error(500), FakeReply.server_error(500))
        server = live_server(
            provider="openai",
            model="gpt-4o-mini",
            openai_base_url=upstream.base_url,
            openai_api_key="sk-test-breaker",
            fallback_providers="scripted",
            max_retries=0,
            breaker_failure_threshold=2,
            breaker_reset_s=0.5,
        )
        with server.client() as client:
            first = [client.post("/v1/triage", json=EMAIL).json() for _ in range(2)]
            assert len(upstream.requests) == 2
            assert [r["provider"] for r in first] == ["scripted", "scripted"]

            while_open = client.post("/v1/triage", json=EMAIL).json()
            assert while_open["provider"] == "scripted"
            assert len(upstream.requests) == 2  # the open breaker did not call the provider

            time.sleep(0.6)
            recovered = client.post("/v1/triage", json=EMAIL).json()
            assert recovered["provider"] == "openai"
            assert len(upstream.requests) == 3
            again = client.post("/v1/triage", json=EMAIL).json()
            assert again["provider"] == "openai"
