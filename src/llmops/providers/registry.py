"""Build providers and the resilient chain from `Settings`: the one place provider names meet classes."""

from __future__ import annotations

from llmops.config import ProviderName, Settings
from llmops.providers.base import Provider
from llmops.providers.local import LocalProvider
from llmops.providers.openai_compat import OpenAIProvider
from llmops.providers.resilience import CircuitBreaker, ProviderChain, RetryPolicy
from llmops.providers.scripted import ScriptedProvider
from llmops.telemetry.runtime import Telemetry


def build_provider(name: ProviderName, settings: Settings) -> Provider:
    """One provider configured from settings; nothing is loaded or connected until `start()`."""
    model = settings.model_for(name)
    if name == "local":
        return LocalProvider(
            settings.local_model_path,
            model=model,
            n_ctx=settings.local_context_tokens,
            n_threads=settings.local_threads,
            max_concurrency=settings.local_max_concurrency,
            cache_dir=settings.data_dir / "models",
        )
    if name == "openai":
        return OpenAIProvider(
            model=model,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,
            timeout_s=settings.request_timeout_s,
        )
    if name == "scripted":
        return ScriptedProvider(
            settings.scripted_reply,
            latency_s=settings.scripted_latency_ms / 1000,
            faults=settings.scripted_faults,
            retry_after_s=settings.scripted_retry_after_s,
            model=model,
        )
    raise ValueError(f"unknown provider {name!r}: expected local, openai or scripted")


def provider_names(settings: Settings) -> list[ProviderName]:
    """The primary provider, then the fallbacks in order, each once."""
    names: list[ProviderName] = []
    for name in [settings.provider, *settings.fallback_providers]:
        if name not in names:
            names.append(name)
    return names


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        timeout_s=settings.request_timeout_s,
        max_retries=settings.max_retries,
        initial_s=settings.retry_initial_s,
        max_s=settings.retry_max_s,
        deadline_s=settings.request_deadline_s,
    )


def build_chain(settings: Settings, telemetry: Telemetry | None = None) -> ProviderChain:
    """The primary and fallback providers, each behind its own breaker, under the configured retry policy."""
    names = provider_names(settings)
    return ProviderChain(
        [build_provider(name, settings) for name in names],
        policy=retry_policy(settings),
        breakers=[
            CircuitBreaker(
                name,
                failure_threshold=settings.breaker_failure_threshold,
                reset_s=settings.breaker_reset_s,
            )
            for name in names
        ],
        telemetry=telemetry,
    )
