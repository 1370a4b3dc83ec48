"""Providers and the chain built from Settings: order, models, and resilience parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.config import Settings
from llmops.providers.base import ChatRequest, Message
from llmops.providers.errors import AllProvidersFailed
from llmops.providers.local import LocalProvider
from llmops.providers.openai_compat import OpenAIProvider
from llmops.providers.registry import build_chain, build_provider
from llmops.providers.scripted import ScriptedProvider

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def settings(**values: object) -> Settings:
    """Settings from explicit values only, so the developer's environment and .env cannot leak in."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_chain_is_primary_then_fallbacks_without_duplicates() -> None:
    chain = build_chain(
        settings(provider="scripted", fallback_providers="openai,scripted,local", openai_model="gpt-4o-mini")
    )

    assert [provider.name for provider in chain.providers] == ["scripted", "openai", "local"]
    assert list(chain.breakers) == ["scripted", "openai", "local"]


def test_models_and_resilience_come_from_settings() -> None:
    chain = build_chain(
        settings(
            provider="openai",
            model="gpt-4.1-nano",
            fallback_providers="local",
            openai_base_url="http://127.0.0.1:9/v1",
            request_timeout_s=7,
            max_retries=4,
            retry_initial_s=0.5,
            retry_max_s=3,
            breaker_failure_threshold=2,
            breaker_reset_s=11,
        )
    )

    openai, local = chain.providers
    assert isinstance(openai, OpenAIProvider) and isinstance(local, LocalProvider)
    assert (openai.model, openai.base_url, openai.timeout_s) == ("gpt-4.1-nano", "http://127.0.0.1:9/v1", 7)
    assert local.model == "SmolLM2-135M-Instruct"
    assert (chain.policy.timeout_s, chain.policy.max_retries, chain.policy.initial_s, chain.policy.max_s) == (
        7,
        4,
        0.5,
        3,
    )
    assert (chain.breakers["openai"].failure_threshold, chain.breakers["openai"].reset_s) == (2, 11)


def test_local_provider_settings(tmp_path: Path) -> None:
    provider = build_provider(
        "local",
        settings(
            local_model_path=tmp_path / "m.gguf",
            local_context_tokens=1024,
            local_threads=1,
            local_max_concurrency=2,
        ),
    )

    assert isinstance(provider, LocalProvider)
    assert (provider.model_path, provider.n_ctx, provider.n_threads, provider.max_concurrency) == (
        tmp_path / "m.gguf",
        1024,
        1,
        2,
    )
    assert not provider.ready()


def test_bad_fault_script_fails_when_building() -> None:
    with pytest.raises(ValueError, match="invalid fault script item"):
        build_provider("scripted", settings(scripted_faults="418"))


async def test_scripted_chain_from_settings_runs_its_faults_and_degrades() -> None:
    chain = build_chain(
        settings(
            provider="scripted",
            scripted_reply="fine",
            scripted_faults="500*3",
            scripted_latency_ms=1,
            max_retries=1,
            retry_initial_s=0,
        )
    )
    scripted = chain.primary
    assert isinstance(scripted, ScriptedProvider)
    request = ChatRequest(messages=[Message(role="user", content="hi")])

    with pytest.raises(AllProvidersFailed) as caught:
        await chain.chat(request)
    result = await chain.chat(request)

    assert caught.value.retries == 1
    assert (result.response.text, result.retries) == ("fine", 1)
    assert scripted.model == "scripted-1"
